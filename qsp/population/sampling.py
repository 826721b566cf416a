"""Virtual populations: realistic covariates, each patient placed on their own disease trajectory.

Each candidate gets covariates (age, sex, weight, APOE4 copies) drawn jointly
from early-AD trial baseline distributions and random effects (IIV) from the
parameter table. Their untreated natural history is simulated from amyloid
onset over 60 years; the baseline is a time point drawn among those
where the candidate meets the inclusion criteria, so amyloid, tau and the
clinical scores are those of one consistent trajectory, not independent draws. The time point is
drawn with a density between uniform in time and uniform in disease progress (see :func:`progress_weights`).
Every candidate has its own random stream (seed, index): results do not depend
on how candidates are chunked or distributed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, field_validator

from qsp import constants as C
from qsp.engine.executor import ChunkExecutor, ExecutorSettings, open_executor
from qsp.engine.parameters import iiv_sd
from qsp.engine.simulate import ETA_PARAMETERS, Engine, model_job_fields, worker_engine
from qsp.errors import InvalidInput
from qsp.population import pool
from qsp.population.stages import stage_of, tau_group_of
from qsp.validation import validate

# Covariate distributions of early symptomatic AD trial populations (see data/README.md).
AGE_MEAN_YR = 73.0  # CLARITY AD / TRAILBLAZER-ALZ 2 baseline mean age 71-75
AGE_SD_YR = 7.5  # baseline SD 7-8
AGE_SHIFT_PER_APOE4_YR = -2.0  # assumption: carriers are younger at trial entry
AGE_BOUNDS_YR = (50.0, 95.0)  # truncation of the age distribution
FEMALE_FRACTION = 0.55  # 52-58% women
APOE4_PROBS = (0.31, 0.53, 0.16)  # APOE4 copies 0/1/2 in early-AD trials
WEIGHT_MEAN_KG = {"F": 66.0, "M": 80.0}  # assumption, centred on the lecanemab popPK median 73.7 kg
WEIGHT_SD_KG = {"F": 12.0, "M": 13.0}  # assumption
WEIGHT_BOUNDS_KG = (40.0, 150.0)

HISTORY_YEARS = 60.0  # natural history simulated from amyloid onset
HISTORY_STEP_YEARS = 0.1  # resolution of the baseline time point
MAX_CANDIDATES_PER_PATIENT = 40  # give up when criteria are this hard to meet
PRECLINICAL_WEIGHT_PER_CL = 0.01  # 100 CL of amyloid count as much disease progress as 1 CDR-SB point
# Baseline density ~ (rate of progress)^exp: 0 is a random date (cross-sectional screening), 1 a random stage.
# Calibrated (issue 13): TRAILBLAZER-ALZ 2 baseline CDR-SB 3.89 / iADRS 103.8 and the placebo CDR-SB change of
# CLARITY AD and TRAILBLAZER-ALZ 2 need a mostly random-date draw; 1 enrolled them too severe and too fast.
PROGRESS_WEIGHT_EXP = 0.15
NATURAL_HISTORY_START = (0.0, 1.0, 0.0, 0.0)  # amyloid onset: 0 CL, tau-free cortex, CDR-SB 0

Range = tuple[float | None, float | None]


class Criteria(BaseModel):
    """Inclusion criteria; every field optional. Ranges are [min, max], None = unbounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    amyloid_cl: Range | None = None
    tau: tuple[Literal["very_low", "low_medium", "high"], ...] | None = None
    mmse: Range | None = None
    age: Range | None = None
    apoe4_copies: tuple[Literal[0, 1, 2], ...] | None = None
    stage: tuple[Literal["preclinical", "mci", "mild_dementia", "moderate_dementia", "severe_dementia"], ...] | None = None

    @field_validator("amyloid_cl", "mmse", "age")
    @classmethod
    def _ordered(cls, value):
        if value is not None and None not in value and value[0] > value[1]:
            raise ValueError(f"range minimum {value[0]} is above its maximum {value[1]}")
        return value

    @field_validator("tau", "apoe4_copies", "stage")
    @classmethod
    def _non_empty(cls, value):
        if value is not None and len(value) == 0:
            raise ValueError("an empty set admits nobody; leave the key out to admit all")
        return value


def parse_criteria(value, field: str = "population") -> Criteria:
    """Criteria from a mapping (scenario ``population:``) or None."""
    if value is None:
        return Criteria()
    if isinstance(value, Criteria):
        return value
    return validate(Criteria, value, prefix=field)


def _in_range(x: np.ndarray, bounds: Range | None) -> np.ndarray:
    ok = np.ones_like(x, dtype=bool)
    if bounds is not None:
        lo, hi = bounds
        if lo is not None:
            ok &= x >= lo
        if hi is not None:
            ok &= x <= hi
    return ok


def _in_groups(x: np.ndarray, groups: dict[str, tuple[float, float]], allowed) -> np.ndarray:
    ok = np.zeros_like(x, dtype=bool)
    for name in allowed:
        lo, hi = groups[name]
        ok |= (x >= lo) & (x < hi)
    return ok






def draw_covariates(rng: np.random.Generator) -> dict:
    """Age, sex, weight and APOE4 copies for one candidate, drawn jointly."""
    apoe4 = int(rng.choice(3, p=APOE4_PROBS))
    sex = "F" if rng.random() < FEMALE_FRACTION else "M"
    age = float(np.clip(rng.normal(AGE_MEAN_YR + AGE_SHIFT_PER_APOE4_YR * apoe4, AGE_SD_YR), *AGE_BOUNDS_YR))
    weight = float(np.clip(rng.normal(WEIGHT_MEAN_KG[sex], WEIGHT_SD_KG[sex]), *WEIGHT_BOUNDS_KG))
    return {C.AGE: round(age, 1), C.SEX: sex, C.WEIGHT_KG: round(weight, 1), C.APOE4: apoe4}


def draw_etas(rng: np.random.Generator, sd: dict[str, float] | None = None) -> dict[str, float]:
    """Random effects for one candidate from the parameter table's IIV SDs (log scale)."""
    sd = iiv_sd() if sd is None else sd
    return {eta: float(rng.normal(0.0, sd.get(eta, 0.0))) for eta in ETA_PARAMETERS}


def _eligible(history: np.ndarray, criteria: Criteria) -> np.ndarray:
    amyloid = history[:, C.OBSERVABLES.index(C.AMYLOID_CL)]
    tau = history[:, C.OBSERVABLES.index(C.TAU_SUVR)]
    mmse = history[:, C.OBSERVABLES.index(C.MMSE)]
    cdrsb = history[:, C.OBSERVABLES.index(C.CDRSB)]
    ok = _in_range(amyloid, criteria.amyloid_cl) & _in_range(mmse, criteria.mmse)
    if criteria.tau is not None:
        ok &= _in_groups(tau, C.TAU_GROUPS, criteria.tau)
    if criteria.stage is not None:
        ok &= _in_groups(cdrsb, C.STAGES, criteria.stage)
    return ok


def progress_weights(history: np.ndarray) -> np.ndarray:
    """Weight of each time point for drawing a baseline: the disease progress it spans, to the power ``PROGRESS_WEIGHT_EXP``.

    Progress is clinical severity (CDR-SB), and amyloid while severity barely moves (preclinical),
    over the time points where the patient is eligible. With exponent 0 the baseline is a random date
    of the eligible window (a cross-sectional screening visit: slowly progressing phases are enrolled
    more often); with 1 a random point of the disease course (uniform in severity). The calibrated
    0.15 is close to a random date: people are screened when they come, not at a chosen stage.
    """
    severity = history[:, C.OBSERVABLES.index(C.SEVERITY)]
    amyloid = history[:, C.OBSERVABLES.index(C.AMYLOID_CL)]
    step = np.abs(np.gradient(severity)) + PRECLINICAL_WEIGHT_PER_CL * np.abs(np.gradient(amyloid))
    return (step + 1e-12) ** PROGRESS_WEIGHT_EXP


def _pick(weights: np.ndarray, u: float) -> int:
    cumulative = np.cumsum(weights)
    return int(min(np.searchsorted(cumulative, u * cumulative[-1], side="right"), len(weights) - 1))


def history_years() -> np.ndarray:
    """The grid a natural history is simulated on: years from amyloid onset."""
    return np.arange(0.0, HISTORY_YEARS + 1e-9, HISTORY_STEP_YEARS)


def _draw_candidate(index: int, seed: int, engine: Engine) -> tuple[dict, dict, float]:
    """Covariates, random effects and the baseline draw ``u`` of candidate ``index`` of stream ``seed``."""
    rng = np.random.default_rng([seed, index])
    covariates = draw_covariates(rng)
    etas = draw_etas(rng, engine.eta_sd)
    return covariates, etas, rng.random()  # u drawn whatever happens, so the stream does not depend on the outcome


def untreated_history(seed: int, index: int, engine: Engine, years: np.ndarray) -> np.ndarray | None:
    """Candidate ``index`` of stream ``seed`` simulated untreated from amyloid onset (times x observables); None if it failed."""
    covariates, etas, _ = _draw_candidate(index, seed, engine)
    return engine.run({**covariates, **etas}, None, years * C.DAYS_PER_YEAR, state=NATURAL_HISTORY_START).values


def candidate_patient(index: int, seed: int, criteria: Criteria, engine: Engine, years: np.ndarray,
                      history: np.ndarray | None | bool = False) -> dict | None:
    """Candidate ``index`` of stream ``seed``: a patient dict, or None when never eligible.

    ``history``: the candidate's untreated history from the pool (None: it failed to simulate);
    simulated here when not given.
    """
    covariates, etas, u = _draw_candidate(index, seed, engine)
    if criteria.apoe4_copies is not None and covariates[C.APOE4] not in criteria.apoe4_copies:
        return None
    if not _in_range(np.array([covariates[C.AGE]]), criteria.age)[0]:
        return None
    patient = {**covariates, **etas}
    values = untreated_history(seed, index, engine, years) if history is False else history
    if values is None:
        return None
    ok = np.flatnonzero(_eligible(values, criteria))
    if ok.size == 0:
        return None
    k = int(ok[_pick(progress_weights(values)[ok], u)])
    row = values[k]
    amyloid = values[:, C.OBSERVABLES.index(C.AMYLOID_CL)]
    positive = np.flatnonzero(amyloid >= C.AMYLOID_POSITIVE_CL)
    since_positive = years[k] - years[positive[0]] if positive.size else float("nan")
    state = {
        name: float(row[C.OBSERVABLES.index(name)])
        for name in (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE, C.AMYLOID_LAGGED_CL, C.SEVERITY)
    }
    return {
        C.PATIENT_ID: f"S{seed}-{index:06d}",
        **patient,
        **state,
        "stage": stage_of(state[C.CDRSB]),
        "tau_group": tau_group_of(state[C.TAU_SUVR]),
        "disease_years": float(years[k]),
        "years_since_amyloid_positive": float(since_positive),
    }


@dataclass(frozen=True)
class _CandidateJob:
    """Candidates ``start`` .. ``stop - 1`` of stream ``seed``, self-contained so that a Dask worker can run it."""

    sbml: str
    model_name: str
    solver: dict
    overrides: dict
    mapping: dict | None
    criteria: dict
    seed: int
    start: int
    stop: int


def evaluate_candidates(job: _CandidateJob, engine: Engine | None = None) -> list[tuple[int, dict]]:
    """``(index, patient)`` for each eligible candidate of the job's index range, in index order."""
    engine = engine or worker_engine(job.sbml, job.model_name, job.solver, job.overrides, job.mapping)
    criteria = parse_criteria(job.criteria)
    years = history_years()
    stored = pool.histories(engine, job.seed, job.start, job.stop, years, untreated_history)
    out = []
    for index in range(job.start, job.stop):
        patient = candidate_patient(index, job.seed, criteria, engine, years, history=stored[index])
        if patient is not None:
            out.append((index, patient))
    return out


def sample_population(
    n: int,
    criteria=None,
    seed: int = 1,
    engine: Engine | None = None,
    start_index: int = 0,
    executor: ExecutorSettings | ChunkExecutor | None = None,
) -> pd.DataFrame:
    """``n`` eligible virtual patients (one row each), reproducible from ``seed``.

    Candidates are evaluated in chunks of consecutive indices on ``executor`` (serial by default,
    or Dask) and accepted in index order, so the patients are the same whatever the chunking,
    backend or number of workers.

    >>> pop = sample_population(3, {"mmse": [20, 28], "amyloid_cl": [37, None]}, seed=7)
    >>> len(pop), bool((pop["mmse"] >= 20).all())
    (3, True)
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidInput(f"n: number of patients must be a positive integer (got {n!r})")
    return stream_population(n, criteria, seed, engine, start_index, executor)[0]


def stream_population(n: int, criteria=None, seed: int = 1, engine: Engine | None = None, start_index: int = 0,
                      executor: ExecutorSettings | ChunkExecutor | None = None, after_consume=None,
                      extras: list | None = None, extra_done=None) -> tuple[pd.DataFrame, list]:
    """:func:`sample_population`, with work that can start on the patients accepted so far.

    ``after_consume(rows)`` is called with the accepted patient rows (in index order) each time more
    candidates are consumed; it may append ``(function, argument)`` tasks to ``extras``, which run on
    the executor beside the sampling (see :meth:`ChunkExecutor.stream`). Returns the population and
    the extras' results in the order they were appended.
    """
    criteria = parse_criteria(criteria)
    engine = engine or Engine()
    needs = {"amyloid_cl": C.AMYLOID_CL, "tau": C.TAU_SUVR, "mmse": C.MMSE, "stage": C.CDRSB}
    missing = [f"population.{key}: the model's mapping does not provide {obs}; drop this criterion or map {obs}"
               for key, obs in needs.items() if getattr(criteria, key) is not None and obs not in engine.available]
    if missing:
        raise InvalidInput(missing)
    ex, owned = open_executor(executor)
    try:
        rows, evaluated, extra_results = _accept_in_order(n, criteria, seed, engine, start_index, ex, after_consume,
                                                          extras, extra_done)
    finally:
        if owned:
            ex.close()
    if len(rows) < n:
        raise InvalidInput(
            f"population: only {len(rows)} of {n} patients met the inclusion criteria among "
            f"{evaluated} candidates; widen the criteria"
        )
    return pd.DataFrame(rows), extra_results


def _accept_in_order(n, criteria, seed, engine, start_index, ex: ChunkExecutor, after_consume=None, extras=None,
                     extra_done=None) -> tuple[list[dict], int, list]:
    """The first ``n`` eligible candidates from ``start_index`` on, in index order.

    Chunks of consecutive candidates stream through the executor, sized from the acceptance rate seen so
    far: serially just enough to fill the remaining places, on Dask enough to keep every worker busy
    while the chunks in flight are expected to fill them; it stops as soon as the candidates consumed in
    index order hold ``n`` eligible ones.
    """
    serial = ex.settings.backend == "serial"
    parallel = ex.parallelism
    # serial: the engine at hand; Dask: each worker builds the model once from its SBML
    fn = functools.partial(evaluate_candidates, engine=engine) if serial else evaluate_candidates
    template = dict(**model_job_fields(engine), criteria=criteria.model_dump(mode="json"), seed=seed)
    limit = start_index + max(200, MAX_CANDIDATES_PER_PATIENT * n)
    max_size = ex.settings.chunk_size
    min_size = 1 if serial else max(1, max_size // 10)
    rows: list[dict] = []
    cursor = {"next": start_index, "consumed": start_index, "ends": []}  # ends: stop index of each chunk in flight

    def next_chunk():
        index = cursor["next"]
        if index >= limit:
            return None
        seen = cursor["consumed"] - start_index
        rate = max(len(rows), 1) / seen if seen else 1.0  # acceptance so far
        expected = rate * (index - cursor["consumed"])  # eligible patients expected from the chunks in flight
        need = n - len(rows) - expected
        size = math.ceil(max(need, 0) / rate / (1 if serial else parallel))
        stop = min(index + max(min_size, min(max_size, size)), limit)
        cursor["next"] = stop
        cursor["ends"].append(stop)
        return _CandidateJob(**template, start=index, stop=stop)

    def consume(part) -> bool:
        cursor["consumed"] = cursor["ends"].pop(0)
        for _, patient in part:
            if len(rows) < n:
                rows.append(patient)
        if after_consume is not None:
            after_consume(rows)
        return len(rows) >= n

    extra_results = ex.stream(fn, next_chunk, consume, extras=extras, extra_done=extra_done)
    return rows, cursor["consumed"] - start_index, extra_results
