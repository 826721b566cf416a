"""A twin's result (the JSON of ``python -m qsp twin``), synthetic patients, and twins for many patients at once."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.executor import map_chunks, settings_of
from qsp.engine.model import Model
from qsp.engine.simulate import Engine
from qsp.errors import SimulationFailed
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.provenance.record import data_sha256, provenance_record
from qsp.twin.fit import (
    TWIN_ETAS,
    Twin,
    _visit_days,
    fit_twin,
)
from qsp.twin.forecast import Forecast, forecast_twin
from qsp.twin.records import FIT_OBSERVABLES, RANGES, WEEK, PatientRecord, parse_patient_rows


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None

def twin_result(twin: Twin, forecast: Forecast, seed: int | None = None) -> dict:
    """The RESULT.json structure of ``python -m qsp twin`` (issue 5's schema), with provenance.

    The provenance holds a hash of the patient's data, not the data (saved twins stay pseudonymous).
    """

    forecasts = {}
    for name in forecast.regimens:
        part = forecast.bands[forecast.bands["regimen"] == name]
        entry: dict = {"weeks": [float(w) for w in sorted(part["week"].unique())]}
        for obs, rows in part.groupby("observable", sort=False):
            rows = rows.sort_values("week")
            entry[obs] = {k: [round(float(v), 6) for v in rows[k]] for k in ("median", "p10", "p90", "p2_5", "p97_5")}
        forecasts[name] = entry
    regimens = {n: (r.model_dump(mode="json", exclude_none=True) if r is not None else None) for n, r in forecast.regimens.items()}
    record = provenance_record(
        twin.model, twin.seed if seed is None else seed, None, twin.model.defaults, kind="twin",
        patient_sha256=data_sha256(twin.patient.to_rows()), n_visits=len(twin.patient.visits),
        method="MAP + Laplace, importance sampling (multivariate t proposal)", n_draws=len(twin.theta_),
        ess=round(twin.ess_, 1), horizon_weeks=forecast.horizon_weeks, regimens=regimens,
        measurement_sd=dict(C.MEASUREMENT_SD), model_error_sd_per_year=dict(forecast.model_error_sd_per_year), estimated=[*TWIN_ETAS, "t0_years"],
    )
    return {
        "patient_id": forecast.patient_id,
        "stage": forecast.stage,
        "years_since_amyloid_positive": _finite_or_none(round(forecast.years_since_amyloid_positive["median"], 3)),
        "forecasts": forecasts,
        "provenance": record,
    }

def synthetic_patient(
    covariates: dict,
    etas: dict[str, float],
    t0_years: float,
    weeks,
    noise_seed: int | None = None,
    patient_id: str = "SYN",
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
) -> tuple[PatientRecord, pd.DataFrame]:
    """A patient simulated from known truth (for tests and the benchmark): visits and the true values.

    Visits at ``weeks`` after a baseline ``t0_years`` from amyloid onset, with measurement error from
    ``MEASUREMENT_SD`` unless ``noise_seed`` is None (noise-free).
    ``parameter_overrides`` change the population model the truth comes from (departures from the model).
    """
    weeks = np.asarray(weeks, dtype=float)
    run = Engine(model, parameter_overrides).run({**covariates, **etas}, None, _visit_days(t0_years, weeks), state=NATURAL_HISTORY_START)
    if run.values is None:
        raise SimulationFailed(f"synthetic patient {patient_id}: {run.error}")
    truth = pd.DataFrame(run.values, columns=list(C.OBSERVABLES))
    truth.insert(0, WEEK, weeks)
    rng = np.random.default_rng(noise_seed) if noise_seed is not None else None
    rows = []
    for i, week in enumerate(weeks):
        row = {WEEK: float(week)}
        for obs in FIT_OBSERVABLES:
            value = float(truth[obs].iloc[i])
            if rng is not None:
                value += rng.normal(0.0, C.MEASUREMENT_SD[obs])
            lo, hi, _ = RANGES[obs]
            row[obs] = float(np.clip(value, lo, hi))
        rows.append(row)
    rows[0].update({C.PATIENT_ID: patient_id, **covariates})
    return parse_patient_rows(rows), truth

def _twin_chunk(job) -> list[dict]:
    rows_list, regimens, horizon_weeks, seed = job
    out = []
    for rows in rows_list:
        twin = fit_twin(parse_patient_rows(rows), seed=seed)
        out.append(twin_result(twin, forecast_twin(twin, regimens, horizon_weeks=horizon_weeks)))
    return out

def twins_for_many(patients: list[PatientRecord], regimens: dict | None = None, horizon_weeks: float = 104,
                   seed: int = 1, executor=None, progress=None) -> list[dict]:
    """Fit and forecast many patients' twins (RESULT.json each), in chunks through the executor.

    Serial by default; with a Dask ``executor`` (qsp.executor.ExecutorSettings) the fits run on the
    cluster with the same numbers, in the patients' order.
    """

    size = max(1, min(settings_of(executor).chunk_size, 10))  # a twin fit takes about a second: small chunks
    rows = [p.to_rows() for p in patients]
    jobs = [(rows[k:k + size], regimens or {}, horizon_weeks, seed) for k in range(0, len(rows), size)]
    return [r for part in map_chunks(_twin_chunk, jobs, executor, progress=progress) for r in part]
