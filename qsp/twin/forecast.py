"""Forecasts of a fitted twin: posterior-predictive bands, times to the next stage, model error.

See :mod:`qsp.twin` for the method and the model-error term.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.regimen import Regimen, parse_regimen
from qsp.engine.simulate import BATCH_MIN_PATIENTS, Engine
from qsp.errors import InvalidInput, SimulationFailed
from qsp.population.outcomes import BENEFIT_AT_YEARS, treatment_benefit
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.population.stages import crossing_years, stage_of, time_to_next_stage
from qsp.twin.fit import (
    HISTORY_END_YR,
    HISTORY_STEP_YR,
    TREATMENT_ETAS,
    Twin,
    _visit_days,
    weighted_quantiles,
)
from qsp.twin.records import FIT_OBSERVABLES, WEEK

UNTREATED = C.UNTREATED  # name of the no-treatment forecast, always present
MAX_HORIZON_WEEKS = 520  # ten years
PREDICTIVE_REPLICATES = 20  # measurement-error draws per posterior draw for the predictive bands
# Model (structural) error: SD per year ahead of the last visit, in each observable's units, set from the
# benchmark's departing patients (0.5-2x the measurement SD per year; see the module docstring).
MODEL_ERROR_SD_PER_YEAR = {
    C.AMYLOID_CL: 2.0,  # CL per year ahead (0.5x measurement SD)
    C.TAU_SUVR: 0.06,  # SUVr per year ahead (2x): the tau lag is the least identified shape
    C.IADRS: 3.0,  # points per year ahead (0.75x)
    C.CDRSB: 1.05,  # points per year ahead (1.5x)
    C.MMSE: 1.9,  # points per year ahead (1.25x)
}
QUANTILES = {"p2_5": 0.025, "p10": 0.10, "median": 0.50, "p90": 0.90, "p97_5": 0.975}  # band columns

SCALE_LIMITS = {C.IADRS: (0.0, 144.0), C.CDRSB: (0.0, 18.0), C.MMSE: (0.0, 30.0)}  # predictive scores stay on their scale


@dataclass
class Forecast:
    """Forecasts of one twin from its last visit, untreated and under each regimen."""

    patient_id: str
    stage: str  # stage at the last visit (twin's CDR-SB, posterior median)
    cdrsb_now: float  # twin's CDR-SB at the last visit (posterior median, no measurement error)
    years_since_amyloid_positive: dict[str, float]  # median, p10, p90 (negative: positivity in the future)
    bands: pd.DataFrame  # regimen, week, observable, median, p10, p90, p2_5, p97_5 (predictive)
    events: pd.DataFrame  # regimen, event, median_years, p10_years, p90_years (inf: not within horizon)
    fit: pd.DataFrame  # week, observable, observed, median, p10, p90 (twin without measurement error, visits window)
    horizon_weeks: float
    regimens: dict[str, Regimen | None]
    n_draws: dict[str, int]  # posterior draws behind each forecast
    model_error_sd_per_year: dict[str, float] = field(default_factory=dict)  # structural error used in the bands
    # regimen -> CDR-SB benefit over untreated at 18 months (or the horizon if sooner) and months of delay, from the
    # same posterior draws untreated and treated (true values; see qsp.population.outcomes.treatment_benefit)
    benefit: dict[str, dict] = field(default_factory=dict)


def _predictive(values: np.ndarray, weights: np.ndarray, observable: str, rng: np.random.Generator,
                years_ahead: np.ndarray, model_error_sd_per_year: float = 0.0) -> np.ndarray:
    """Quantile rows (QUANTILES order) of true values plus model and measurement error, per time point.

    The SD at ``years_ahead`` is ``sqrt(measurement_sd**2 + (model_error_sd_per_year * years_ahead)**2)``.
    """
    meas = C.MEASUREMENT_SD.get(observable, 0.0)
    sd = np.sqrt(meas**2 + (model_error_sd_per_year * np.asarray(years_ahead, dtype=float)) ** 2)
    reps = np.repeat(values, PREDICTIVE_REPLICATES, axis=0)
    if np.any(sd > 0):
        reps = reps + rng.normal(0.0, 1.0, reps.shape) * sd[None, :]
    if observable in SCALE_LIMITS:
        reps = np.clip(reps, *SCALE_LIMITS[observable])
    return weighted_quantiles(reps, np.repeat(weights, PREDICTIVE_REPLICATES), list(QUANTILES.values()))


def _events(name: str, years: np.ndarray, cdrsb: np.ndarray, iadrs: np.ndarray, weights: np.ndarray, stage: str) -> list[dict]:
    rows = []
    nxt = time_to_next_stage(years, cdrsb, stage, weights)
    if nxt is not None:
        rows.append({"regimen": name, "event": f"stage:{nxt.pop('stage')}", **nxt})
    targets = []
    has_cdrsb, has_iadrs = not np.isnan(cdrsb).all(), not np.isnan(iadrs).all()  # all NaN: not in the model's mapping
    if has_iadrs:
        targets.append(("iadrs_drop_9", crossing_years(years, iadrs - iadrs[:, [0]], -C.MEANINGFUL_IADRS_DROP, rising=False)))
    if has_cdrsb:
        targets.append(("cdrsb_rise_1", crossing_years(years, cdrsb - cdrsb[:, [0]], C.MEANINGFUL_CDRSB_RISE)))
    for event, times in targets:
        q = weighted_quantiles(times[:, None], weights, [0.5, 0.1, 0.9])[:, 0]
        rows.append({"regimen": name, "event": event, "median_years": float(q[0]), "p10_years": float(q[1]), "p90_years": float(q[2])})
    return rows


def forecast_twin(
    twin: Twin,
    regimens: dict[str, Regimen | str | dict] | None = None,
    horizon_weeks: float = 104,
    step_weeks: float = 4,
    n_regimen_draws: int = 100,
    seed: int | None = None,
    model_error_sd_per_year: dict[str, float] | None = None,
) -> Forecast:
    """Forecast a twin from its last visit to ``horizon_weeks`` later, untreated and under each regimen.

    Regimens start at the last visit. Untreated forecasts use every importance draw with its
    weight; regimen forecasts use ``n_regimen_draws`` draws resampled by weight (a treated
    simulation costs 10-30x an untreated one), each with its own clearance and plaque-removal
    responsiveness drawn from the population. ``model_error_sd_per_year`` (observable -> SD per
    year ahead) replaces :data:`MODEL_ERROR_SD_PER_YEAR`; all zeros give measurement error only.
    """
    model_error, parsed = _check_forecast(horizon_weeks, step_weeks, n_regimen_draws, model_error_sd_per_year, regimens)
    rng = np.random.default_rng(twin.seed if seed is None else seed)
    patient = twin.patient
    engine = Engine(twin.model)
    rel_weeks = _relative_weeks(horizon_weeks, step_weeks)
    fit_weeks = np.unique(np.concatenate([np.linspace(0.0, patient.last_week, 27) if patient.last_week > 0 else [0.0],
                                          patient.visits[WEEK].to_numpy()]))
    draws = _simulate_untreated(twin, engine, patient.last_week + rel_weeks, fit_weeks)
    cdrsb_now = float(weighted_quantiles(draws.values[:, [0], _COL[C.CDRSB]], draws.weights, [0.5])[0, 0])
    stage = stage_of(cdrsb_now)
    q_since = weighted_quantiles(draws.since[:, None], draws.weights, [0.5, 0.1, 0.9])[:, 0]
    bands = _Bands(engine.available, patient.last_week + rel_weeks, rel_weeks / C.WEEKS_PER_YEAR, model_error, stage, rng)
    bands.add(UNTREATED, draws.values, draws.weights, with_aria=False)
    benefit = {}
    if len(parsed) > 1:  # the rng draws the resampling only after the untreated bands, as it always has
        for name, (values, picks) in _simulate_regimens(twin, engine, draws, parsed, rel_weeks, n_regimen_draws, rng).items():
            bands.add(name, values, np.full(len(values), 1.0 / len(values)), with_aria=True)
            benefit[name] = treatment_benefit(bands.years_ahead, draws.values[picks, :, _COL[C.CDRSB]], values[:, :, _COL[C.CDRSB]],
                                              at_years=BENEFIT_AT_YEARS)
    return Forecast(
        patient_id=patient.patient_id, stage=stage, cdrsb_now=cdrsb_now,
        years_since_amyloid_positive={"median": float(q_since[0]), "p10": float(q_since[1]), "p90": float(q_since[2])},
        bands=pd.concat(bands.frames, ignore_index=True), events=pd.DataFrame(bands.events),
        fit=_fit_table(patient, engine.available, draws, fit_weeks),
        horizon_weeks=float(horizon_weeks), regimens=parsed, n_draws=bands.n_draws, model_error_sd_per_year=model_error,
        benefit={name: b for name, b in benefit.items() if b is not None},
    )


_COL = {o: C.OBSERVABLES.index(o) for o in C.OBSERVABLES}  # observable -> column of a simulation's values


def _check_forecast(horizon_weeks, step_weeks, n_regimen_draws, model_error_sd_per_year, regimens) -> tuple[dict, dict]:
    """(model error SD per year by observable, parsed regimens with UNTREATED first); InvalidInput naming each bad field."""
    if not 0 < horizon_weeks <= MAX_HORIZON_WEEKS:
        raise InvalidInput(f"horizon_weeks: must be > 0 and at most {MAX_HORIZON_WEEKS} (got {horizon_weeks})")
    if not 0 < step_weeks <= horizon_weeks:
        raise InvalidInput(f"step_weeks: must be > 0 and at most horizon_weeks (got {step_weeks})")
    if not 10 <= n_regimen_draws <= 2000:
        raise InvalidInput(f"n_regimen_draws: must be 10-2000 (got {n_regimen_draws})")
    model_error = dict(MODEL_ERROR_SD_PER_YEAR)
    problems = []
    for obs, value in (model_error_sd_per_year or {}).items():
        if obs not in MODEL_ERROR_SD_PER_YEAR:
            problems.append(f"model_error_sd_per_year.{obs}: unknown observable; allowed: {', '.join(MODEL_ERROR_SD_PER_YEAR)}")
        elif not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            problems.append(f"model_error_sd_per_year.{obs}: must be a finite number >= 0 (got {value!r})")
        else:
            model_error[obs] = float(value)
    parsed: dict[str, Regimen | None] = {UNTREATED: None}
    for name, regimen in (regimens or {}).items():
        if name == UNTREATED:
            problems.append(f"regimens.{name}: the name {UNTREATED!r} is reserved for the forecast without treatment")
            continue
        try:
            parsed[name] = parse_regimen(regimen, field=f"regimens.{name}")
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    return model_error, parsed


def _relative_weeks(horizon_weeks: float, step_weeks: float) -> np.ndarray:
    """Weeks after the last visit: every ``step_weeks`` from 0, and the horizon itself."""
    rel_weeks = np.arange(0.0, horizon_weeks + 1e-9, step_weeks)
    if rel_weeks[-1] < horizon_weeks - 1e-9:
        rel_weeks = np.append(rel_weeks, horizon_weeks)
    return rel_weeks


@dataclass(frozen=True)
class _Untreated:
    """Untreated simulations of the posterior draws that simulated (from amyloid onset)."""

    values: np.ndarray  # draws x forecast weeks x observables
    fitted: np.ndarray  # draws x fit weeks x observables
    states: list  # model state at the last visit, per draw
    since: np.ndarray  # years since amyloid positivity at the last visit, per draw
    weights: np.ndarray  # importance weights, normalised
    etas: list  # random effects, per draw


def _simulate_untreated(twin: Twin, engine: Engine, weeks: np.ndarray, fit_weeks: np.ndarray) -> _Untreated:
    """Each weighted posterior draw simulated without treatment; SimulationFailed when none simulates.

    The years since positivity come from the amyloid on a grid (every ``HISTORY_STEP_YR`` years from
    amyloid onset to ``HISTORY_END_YR``). A draw is simulated on the grid up to its last output day only,
    and on the whole grid only when its amyloid has not crossed the threshold by then: a simulation's
    values up to a time do not depend on the output times after it, so these are the numbers of the
    whole grid (``tests/qsp/twin/test_forecast.py`` checks them number for number), at a third of the
    cost or less (the decades past the horizon were most of the simulated time).
    """
    patient = twin.patient
    covariates, last_years = patient.covariates(), patient.last_week / C.WEEKS_PER_YEAR
    grid_years = np.arange(0.0, HISTORY_END_YR + 1e-9, HISTORY_STEP_YR)
    g_days = np.round(grid_years * C.DAYS_PER_YEAR, 6)
    t0s = twin.theta_[:, -1]
    f_all = np.round(_visit_days(t0s[:, None], weeks[None, :]), 6)  # forecast days, one row per draw
    h_all = np.round(_visit_days(t0s[:, None], fit_weeks[None, :]), 6)  # days of the fit table
    n_end = np.searchsorted(g_days, np.maximum(f_all[:, -1], h_all[:, -1]), side="right")  # grid points up to the last output
    has_amyloid = C.AMYLOID_CL in engine.available  # without it there is no crossing to look for further on
    n_f, n_h = len(weeks), len(fit_weeks)
    untreated, fitted, states, since, weights, etas_list = [], [], [], [], [], []
    for k, (theta, w) in enumerate(zip(twin.theta_, twin.weights_)):
        etas = twin.etas(theta)
        n_grid = int(n_end[k])
        while True:  # at most twice: the grid up to the last output day, then (not yet positive) all of it
            days, inverse = np.unique(np.concatenate([f_all[k], h_all[k], g_days[:n_grid]]), return_inverse=True)
            run = engine.run({**covariates, **etas}, None, days, state=NATURAL_HISTORY_START)
            if run.values is None:
                break
            amyloid = run.values[inverse[n_f + n_h:], _COL[C.AMYLOID_CL]]
            crossing = crossing_years(grid_years[:n_grid], amyloid[None, :], C.AMYLOID_POSITIVE_CL)[0]
            if math.isfinite(crossing) or n_grid == len(g_days) or not has_amyloid:
                break
            n_grid = len(g_days)
        if run.values is None:
            continue
        v = run.values
        untreated.append(v[inverse[:n_f]])
        fitted.append(v[inverse[n_f: n_f + n_h]])
        since.append(float(t0s[k]) + last_years - crossing)
        now = v[inverse[0]]
        states.append((now[_COL[C.AMYLOID_CL]], now[_COL[C.TAU_SUVR]], now[_COL[C.SEVERITY]], now[_COL[C.AMYLOID_LAGGED_CL]]))
        weights.append(w)
        etas_list.append(etas)
    if not untreated:
        raise SimulationFailed(f"patient {patient.patient_id}: every posterior draw failed to simulate")
    return _Untreated(np.stack(untreated), np.stack(fitted), states, np.asarray(since),
                      np.asarray(weights) / np.sum(weights), etas_list)


def _simulate_regimens(twin: Twin, engine: Engine, draws: _Untreated, parsed: dict, rel_weeks: np.ndarray,
                       n_regimen_draws: int, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Values (draws x weeks x observables) of each regimen from the last visit, with the untreated draw of each row.

    The draws are resampled systematically by weight, then given treatment random effects from the population.
    """
    positions = (rng.random() + np.arange(n_regimen_draws)) / n_regimen_draws
    picks = np.searchsorted(np.cumsum(draws.weights), positions).clip(0, len(draws.weights) - 1)
    treatment_etas = [{e: float(rng.normal(0.0, twin.sd[e])) for e in TREATMENT_ETAS} for _ in picks]
    days = rel_weeks * C.DAYS_PER_WEEK
    out = {}
    for name, regimen in parsed.items():
        if regimen is None:
            continue
        runs, kept = [], []
        patients = [{**twin.patient.covariates(), **draws.etas[k], **extra} for k, extra in zip(picks, treatment_etas)]
        states = [draws.states[k] for k in picks]
        if len(patients) >= BATCH_MIN_PATIENTS and engine.batches:  # the draws' number decides, so reruns agree
            simulated = engine.run_batch(patients, regimen, days, states)
        else:
            simulated = [engine.run(p, regimen, days, state=s) for p, s in zip(patients, states)]
        for k, run in zip(picks, simulated):
            if run.values is not None:
                runs.append(run.values)
                kept.append(k)
        if not runs:
            raise SimulationFailed(f"regimens.{name}: every simulation failed for this patient")
        out[name] = (np.stack(runs), np.asarray(kept))
    return out


@dataclass
class _Bands:
    """Predictive bands and events of each forecast, collected in order (the bands draw from ``rng``)."""

    available: frozenset | set  # observables the model provides
    weeks: np.ndarray  # forecast weeks (since the first visit)
    years_ahead: np.ndarray  # the same weeks in years after the last visit
    model_error: dict[str, float]
    stage: str  # stage at the last visit
    rng: np.random.Generator
    frames: list = field(default_factory=list)
    events: list = field(default_factory=list)
    n_draws: dict = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, weights: np.ndarray, with_aria: bool) -> None:
        """Add the bands and events of forecast ``name`` (values: draws x weeks x observables)."""
        for obs in (*FIT_OBSERVABLES, *((C.ARIA_E_RISK,) if with_aria else ())):
            if obs not in self.available:
                continue  # not provided by the model's mapping: no band rather than a made-up one
            series = values[:, :, _COL[obs]]
            q = (_predictive(series, weights, obs, self.rng, self.years_ahead, self.model_error[obs]) if obs != C.ARIA_E_RISK
                 else weighted_quantiles(series, weights, list(QUANTILES.values())))
            self.frames.append(pd.DataFrame({"regimen": name, "week": self.weeks, "observable": obs,
                                             **{k: q[i] for i, k in enumerate(QUANTILES)}}))
        self.events.extend(_events(name, self.years_ahead, values[:, :, _COL[C.CDRSB]], values[:, :, _COL[C.IADRS]],
                                   weights, self.stage))
        self.n_draws[name] = int(values.shape[0])


def _fit_table(patient, available, draws: _Untreated, fit_weeks: np.ndarray) -> pd.DataFrame:
    """The twin over the visits window (no measurement error) beside the observed values."""
    fit_rows = []
    observed = patient.visits.set_index(WEEK)
    for obs in (o for o in FIT_OBSERVABLES if o in available):
        q = weighted_quantiles(draws.fitted[:, :, _COL[obs]], draws.weights, [0.5, 0.1, 0.9])
        seen = observed[obs].reindex(fit_weeks)
        fit_rows.append(pd.DataFrame({"week": fit_weeks, "observable": obs, "observed": seen.to_numpy(),
                                      "median": q[0], "p10": q[1], "p90": q[2]}))
    return pd.concat(fit_rows, ignore_index=True)
