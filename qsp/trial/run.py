"""Virtual trials: arms x population x duration -> per-arm endpoints at assessment weeks.

A scenario is a typed object (:class:`Scenario`) read from YAML or JSON. The
engine samples ``n_per_arm`` eligible patients per arm (different patients in
each arm, as in a randomised trial), simulates each under its arm's regimen
with one reset + simulate, adds measurement noise and dropout when asked, and
aggregates endpoints. Patients whose simulation fails are counted per arm.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.executor import ChunkExecutor, ExecutorSettings, open_executor
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.simulate import BATCH_MIN_PATIENTS, Engine, model_job_fields, worker_engine
from qsp.errors import InvalidInput
from qsp.population.pool import describe_pool
from qsp.population.sampling import candidate_patient, history_years, sample_population, stream_population
from qsp.provenance.record import provenance_record
from qsp.trial.endpoints import (
    ANALYSED_ENDPOINTS,
    CHANGE_ENDPOINTS,
    SUMMARY_OBSERVABLES,
    TrialResult,
    records_frame,
    summarise_arm,
)
from qsp.trial.scenario import Scenario, parse_scenario, scenario_to_dict

NOISE_STREAM = 1_000_003  # separates the noise/dropout streams from the population stream
DRIFT_STREAM = 1_000_033  # each patient's score drift: a stream of the patient, the same in every arm they are in


def score_drift(seed: int, patient_id) -> dict[str, float]:
    """A patient's drift of each measured score, points per year (see ``SCORE_DRIFT_SD_PER_YEAR``): a trait of the
    patient, so the same in every arm of a paired trial and whatever else the run draws (dropout, stop rules)."""
    key = int(hashlib.sha256(str(patient_id).encode()).hexdigest()[:15], 16)
    rng = np.random.default_rng([seed, DRIFT_STREAM, key])
    return {name: float(rng.normal(0.0, C.SCORE_DRIFT_SD_PER_YEAR.get(name, 0.0))) for name in CHANGE_ENDPOINTS}


def _dropout_weeks(rng: np.random.Generator, pct_per_year: float) -> float:
    if pct_per_year <= 0:
        return math.inf
    rate_per_week = -math.log(1 - pct_per_year / 100.0) / C.WEEKS_PER_YEAR
    return float(rng.exponential(1.0 / rate_per_week))


def candidate_index(patient_id: str) -> int:
    """The candidate index of a sampled patient's id (``S7-000123`` -> 123): where it lies in its seed's stream.

    >>> candidate_index("S7-000123")
    123
    """
    return int(str(patient_id).rsplit("-", 1)[-1])


def _enrol(scenario: Scenario, engine: Engine, enrolment_filter, n_total: int, executor: ChunkExecutor | None = None) -> tuple[pd.DataFrame, dict]:
    """Sample the trial population; with a filter, screen until enough patients pass.

    The screening record counts the candidates screened up to the last one enrolled (not whole batches)
    and lists the enrolled candidates' indices, so that the trial can be re-run without the filter.
    """
    if enrolment_filter is None:
        pool = sample_population(n_total, scenario.population, seed=scenario.seed, engine=engine, executor=executor)
        return pool, {"screened": n_total, "enrolled": n_total, "screen_per_enrolled": 1.0}
    accepted: list[pd.DataFrame] = []
    screened = 0  # candidates the filter has seen, all batches
    needed = 0  # candidates screened up to the n_total-th enrolled
    start = 0
    batch = max(50, n_total)
    while needed == 0:
        candidates = sample_population(batch, scenario.population, seed=scenario.seed, engine=engine, start_index=start,
                                       executor=executor)
        start = int(candidates[C.PATIENT_ID].map(candidate_index).max()) + 1
        keep = np.asarray(enrolment_filter(candidates), dtype=bool)
        missing = n_total - sum(len(a) for a in accepted)
        if keep.sum() >= missing:  # the last one needed is in this batch
            needed = screened + int(np.flatnonzero(keep)[missing - 1]) + 1
        screened += len(candidates)
        accepted.append(candidates[keep])
        if needed == 0 and screened > 50 * n_total:
            raise InvalidInput(
                f"enrichment: only {sum(len(a) for a in accepted)} of {screened} screened patients pass the filter"
            )
    pool = pd.concat(accepted, ignore_index=True).iloc[:n_total].reset_index(drop=True)
    return pool, {"screened": needed, "enrolled": n_total, "screen_per_enrolled": needed / n_total,
                  "enrolled_candidates": [candidate_index(p) for p in pool[C.PATIENT_ID]]}


def _enrolled_pool(scenario: Scenario, engine: Engine, enrolled: list[int], n_total: int) -> pd.DataFrame:
    """The patients of a recorded enrolment, rebuilt from their candidate indices (the filter is not needed again)."""
    if len(enrolled) < n_total:
        raise InvalidInput(f"enrolled_candidates: {len(enrolled)} candidates recorded, {n_total} needed")
    years = history_years()
    rows = []
    for index in enrolled[:n_total]:
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise InvalidInput(f"enrolled_candidates: candidate indices are integers >= 0 (got {index!r})")
        patient = candidate_patient(index, scenario.seed, scenario.population, engine, years)
        if patient is None:
            raise InvalidInput(f"enrolled_candidates: candidate {index} does not meet the scenario's inclusion criteria "
                               "(the record does not belong to this scenario)")
        rows.append(patient)
    return pd.DataFrame(rows)


def run_trial(
    scenario: Scenario | dict,
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
    progress: Callable[[float], None] | None = None,
    enrolment_filter: Callable[[pd.DataFrame], np.ndarray] | None = None,
    population: pd.DataFrame | None = None,
    executor: ExecutorSettings | ChunkExecutor | None = None,
    keep_records: int | None = None,
    enrolled_candidates: list[int] | None = None,
) -> TrialResult:
    """Run a virtual trial.

    ``parameter_overrides`` replaces population parameter values (for uncertainty
    propagation); ``enrolment_filter`` maps a candidate table to a boolean mask of
    patients to enrol (ML enrichment plugs in here); ``population`` supplies the
    patients (n_arms x n_per_arm rows; n_per_arm when ``paired_arms``) instead of sampling them;
    ``executor`` says where the population is sampled and the patients are simulated (serial by
    default, or Dask), in chunks, with identical numbers either way. ``keep_records`` keeps the
    per-week records of only the first N patients of each arm (None: all) to save memory; the
    summary, ``patients`` and ``to_json()`` still cover every patient and do not change.
    ``enrolled_candidates``: the candidate indices an enriched run enrolled (its provenance
    ``enrichment.enrolled_candidates``); the same patients are enrolled again without the filter.
    """
    _check_keep_records(keep_records)
    if isinstance(scenario, dict):
        scenario = parse_scenario(scenario)
    model = model or load_builtin_model()
    engine = Engine(model, parameter_overrides)
    _check_regimens(engine, scenario)
    ex, owned = open_executor(executor)
    try:
        chunks = _plan_chunks(scenario, engine, ex, keep_records)
        if enrolled_candidates is not None:
            population = _enrolled_pool(scenario, engine, list(enrolled_candidates), chunks.n_total)
        if population is None and enrolment_filter is None:
            jobs, results = _sample_and_simulate(chunks, engine, ex, progress)
            screening = {"screened": chunks.n_total, "enrolled": chunks.n_total, "screen_per_enrolled": 1.0}
        else:
            jobs, screening = _jobs_for_pool(chunks, engine, ex, population, enrolment_filter)
            results = ex.map(simulate_chunk, jobs, progress=progress)
    finally:
        if owned:
            ex.close()
    summary, patients, records, analysis = _collect_arms(scenario, jobs, results)
    provenance = provenance_record(
        model,
        scenario.seed,
        scenario_to_dict(scenario),
        {**model.defaults, **(parameter_overrides or {})},
        kind="trial",
        parameter_overrides=parameter_overrides or {},
        enrichment=screening if enrolment_filter is not None else None,
        **({"enrolled_candidates": list(enrolled_candidates)} if enrolled_candidates is not None else {}),
        **({"population_pool": describe_pool(engine, history_years())} if population is None else {}),
        # treated arms integrated together: which right-hand side did it (numbers agree within rounding)
        batch_right_hand_side=sorted({r["batch_rhs"] for r in results if r.get("batch_rhs")}),
    )
    return TrialResult(scenario, summary, patients, records, provenance, screening, analysis)


def _check_keep_records(keep_records) -> None:
    """InvalidInput unless ``keep_records`` is None or an integer >= 0."""
    if keep_records is not None and (isinstance(keep_records, bool) or not isinstance(keep_records, int) or keep_records < 0):
        raise InvalidInput(f"keep_records: must be None (all patients) or an integer >= 0 (got {keep_records!r})")


def _check_regimens(engine: Engine, scenario: Scenario) -> None:
    """InvalidInput naming each arm whose regimen the model cannot give."""
    for a, arm in enumerate(scenario.arms):
        if arm.regimen is not None:
            try:
                engine.check_regimen(arm.regimen)
            except InvalidInput as exc:
                raise InvalidInput([f"arms.{a}.{p}" for p in exc.problems]) from None


@dataclass(frozen=True)
class _Chunks:
    """A trial's simulation chunks, arm by arm (the order results are combined in), and the job fields they share."""

    scenario: Scenario
    slices: list[tuple[int, int, int]]  # (arm, first pool row, end pool row) of each chunk
    template: dict  # model, scenario and keep_records fields of every job

    @property
    def n_total(self) -> int:
        """Patients the trial needs (paired arms share theirs)."""
        return (1 if self.scenario.paired_arms else len(self.scenario.arms)) * self.scenario.n_per_arm

    def job(self, k: int, patients: list) -> _ChunkJob:
        """The job of chunk ``k`` with its patients (pool rows as dicts)."""
        a, lo, _ = self.slices[k]
        return _ChunkJob(**self.template, arm_index=a, start=lo - _arm_offset(self.scenario, a), patients=patients)


def _arm_offset(scenario: Scenario, a: int) -> int:
    """Pool row of arm ``a``'s first patient (paired arms share the same patients)."""
    return (0 if scenario.paired_arms else a) * scenario.n_per_arm


BATCH_MIN_PER_ARM = BATCH_MIN_PATIENTS  # treated arms of this many patients are integrated as one batch


def _batched(scenario: Scenario, arm, engine: Engine) -> bool:
    """Whether ``arm``'s patients are integrated together (see :data:`BATCH_MIN_PER_ARM`)."""
    return arm.regimen is not None and scenario.n_per_arm >= BATCH_MIN_PER_ARM and engine.batches


def _plan_chunks(scenario: Scenario, engine: Engine, ex: ChunkExecutor, keep_records: int | None) -> _Chunks:
    """Cut each arm's patients into chunks sized for the executor.

    A treated arm the engine integrates as a batch goes in as few chunks as the executor has workers
    (a batch's cost barely grows with its size); other arms in chunks of ``chunk_size`` patients.
    """
    chunk_size = ex.settings.chunk_size
    if ex.settings.backend != "serial":  # a simulated patient is cheap: fewer, larger tasks (4 per worker and arm)
        chunk_size = max(chunk_size, math.ceil(scenario.n_per_arm / (4 * ex.parallelism)))
    n = scenario.n_per_arm
    slices = []
    for a, arm in enumerate(scenario.arms):
        size = max(chunk_size, math.ceil(n / ex.parallelism)) if _batched(scenario, arm, engine) else chunk_size
        slices += [(a, _arm_offset(scenario, a) + start, _arm_offset(scenario, a) + min(start + size, n))
                   for start in range(0, n, size)]
    template = dict(**model_job_fields(engine), scenario=scenario_to_dict(scenario), keep_records=keep_records)
    return _Chunks(scenario, slices, template)


def _sample_and_simulate(chunks: _Chunks, engine: Engine, ex: ChunkExecutor, progress) -> tuple[list, list]:
    """Sample and simulate at once: a chunk is simulated as soon as its patients are accepted.

    Returns (jobs, results) in chunk order.
    """
    slices, scenario = chunks.slices, chunks.scenario
    ready_order = sorted(range(len(slices)), key=lambda k: slices[k][2])  # by the last pool row they need
    extras, emitted = [], []  # emitted: slice numbers, in the order their simulations were appended

    def after_consume(rows):
        while len(emitted) < len(slices) and len(rows) >= slices[ready_order[len(emitted)]][2]:
            k = ready_order[len(emitted)]
            _, lo, hi = slices[k]
            emitted.append(k)
            extras.append((simulate_chunk, chunks.job(k, pd.DataFrame(rows[lo:hi]).to_dict("records"))))

    _, streamed = stream_population(chunks.n_total, scenario.population, seed=scenario.seed, engine=engine, executor=ex,
                                    after_consume=after_consume, extras=extras,
                                    extra_done=(lambda k: progress(k / len(slices))) if progress else None)
    position = {k: i for i, k in enumerate(emitted)}
    results = [streamed[position[k]] for k in range(len(slices))]
    jobs = [extras[position[k]][1] for k in range(len(slices))]
    return jobs, results


def _jobs_for_pool(chunks: _Chunks, engine: Engine, ex: ChunkExecutor, population, enrolment_filter) -> tuple[list, dict]:
    """Jobs over the given population, or over patients screened through ``enrolment_filter``; and the screening."""
    n_total = chunks.n_total
    if population is None:
        pool, screening = _enrol(chunks.scenario, engine, enrolment_filter, n_total, ex)
    else:
        if len(population) < n_total:
            raise InvalidInput(f"population: {len(population)} patients given, {n_total} needed")
        pool, screening = population.iloc[:n_total].reset_index(drop=True), {}
    return [chunks.job(k, pool.iloc[lo:hi].to_dict("records")) for k, (_, lo, hi) in enumerate(chunks.slices)], screening


def _collect_arms(scenario: Scenario, jobs: list, results: list) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(summary, patients, records, analysis arrays) of a trial from its chunks' results, arm by arm."""
    weeks = np.array([0.0, *scenario.assess_weeks])
    record_frames, patient_rows, summary_rows, analysis = [], [], [], {}
    for a, arm in enumerate(scenario.arms):
        parts = [r for job, r in zip(jobs, results) if job.arm_index == a]
        rows = [row for r in parts for row in r["patients"]]
        measured = np.concatenate([r["measured"] for r in parts])
        observed = np.concatenate([r["observed"] for r in parts])
        values = np.concatenate([r["values"] for r in parts])  # kept patients only
        kept = len(values)
        kept_pool = pd.DataFrame([{k: v for k, v in row.items() if k not in _RUN_FIELDS} for row in rows[:kept]])
        record_frames.append(records_frame(arm.name, kept_pool, weeks, values, measured[:kept], observed[:kept]))
        summary_rows.extend(summarise_arm(
            arm.name, scenario, np.concatenate([r["endpoints"] for r in parts]), measured, observed,
            np.array([row[C.APOE4] for row in rows]), sum(bool(row["failed"]) for row in rows),
        ))
        patient_rows.extend(rows)
        analysis[arm.name] = {"observed": observed, **{name: measured[:, :, CHANGE_ENDPOINTS.index(name)] for name in ANALYSED_ENDPOINTS}}
    return pd.DataFrame(summary_rows), pd.DataFrame(patient_rows), pd.concat(record_frames, ignore_index=True), analysis


_RUN_FIELDS = ("arm", "failed", "error", "stopped_week", "dropout_week")  # added to patient rows by the run


@dataclass(frozen=True)
class _ChunkJob:
    """A chunk of one arm's patients, self-contained so that a Dask worker can run it."""

    sbml: str
    model_name: str
    solver: dict
    overrides: dict
    scenario: dict
    arm_index: int
    start: int  # index of the chunk's first patient in its arm (random streams are per patient)
    patients: list
    keep_records: int | None = None  # full observables only for the arm's first N patients (None: all)
    mapping: dict | None = None  # the model's observable mapping (None: the model speaks the dashboard's ids)


def simulate_chunk(job: _ChunkJob) -> dict:
    """Simulate one chunk: arrays of observables, measured values and observed flags, plus patient rows."""
    scenario = parse_scenario(job.scenario)
    arm = scenario.arms[job.arm_index]
    engine = worker_engine(job.sbml, job.model_name, job.solver, job.overrides, job.mapping)
    weeks = np.array([0.0, *scenario.assess_weeks])
    days = weeks * C.DAYS_PER_WEEK
    col = {name: C.OBSERVABLES.index(name) for name in C.OBSERVABLES}
    stop_weeks = arm.regimen.stop_rule.at_weeks if arm.regimen and arm.regimen.stop_rule else ()
    n = len(job.patients)
    values = np.full((n, len(weeks), len(C.OBSERVABLES)), np.nan)
    measured = np.full((n, len(weeks), len(CHANGE_ENDPOINTS)), np.nan)
    observed = np.zeros((n, len(weeks)), dtype=bool)
    draws = []  # per patient: (measurement noise, stop-rule noise, dropout week), each from its own stream
    for k in range(n):
        rng = np.random.default_rng([scenario.seed, NOISE_STREAM, job.arm_index, job.start + k])
        noise = {
            name: rng.normal(0.0, C.MEASUREMENT_SD[name], len(weeks)) if scenario.measurement_noise else np.zeros(len(weeks))
            for name in CHANGE_ENDPOINTS
        }
        stop_noise = (
            rng.normal(0.0, C.MEASUREMENT_SD[C.AMYLOID_CL], len(stop_weeks)) if scenario.measurement_noise else np.zeros(len(stop_weeks))
        )
        if scenario.measurement_noise:
            drift = score_drift(scenario.seed, job.patients[k][C.PATIENT_ID])
            noise = {name: noise[name] + drift[name] * weeks / C.WEEKS_PER_YEAR for name in CHANGE_ENDPOINTS}
        draws.append((noise, stop_noise, _dropout_weeks(rng, scenario.dropout_pct_per_year)))
    states = [baseline_state(p) for p in job.patients]
    batched = _batched(scenario, arm, engine)
    if batched:
        runs = engine.run_batch(job.patients, arm.regimen, days, states, [stop_noise for _, stop_noise, _ in draws])
    else:
        runs = [engine.run(p, arm.regimen, days, state=s, stop_noise_cl=z) for p, s, (_, z, _) in zip(job.patients, states, draws)]
    rows = []
    for k, (patient, run, (noise, _, dropout)) in enumerate(zip(job.patients, runs, draws)):
        ok = run.values is not None
        if ok:
            values[k] = run.values
            for j, name in enumerate(CHANGE_ENDPOINTS):
                measured[k, :, j] = run.values[:, col[name]] + noise[name]
            observed[k] = weeks <= dropout
        rows.append({
            "arm": arm.name,
            **patient,
            "failed": not ok,
            "error": run.error,
            "stopped_week": (run.stopped_day / C.DAYS_PER_WEEK) if run.stopped_day is not None else None,
            "dropout_week": dropout if math.isfinite(dropout) else None,
        })
    kept = n if job.keep_records is None else min(n, max(0, job.keep_records - job.start))
    endpoints = values[:, :, [col[name] for name in SUMMARY_OBSERVABLES]]
    return {"values": values[:kept].copy(), "endpoints": endpoints, "measured": measured, "observed": observed, "patients": rows,
            "batch_rhs": engine.batch_right_hand_side() if batched else None}


def baseline_state(patient) -> tuple[float, float, float, float]:
    """The model state a patient row starts from (lagged amyloid = amyloid, severity from CDR-SB when absent)."""
    lagged = patient.get(C.AMYLOID_LAGGED_CL)
    amyloid = float(patient[C.AMYLOID_CL])
    lagged = amyloid if lagged is None or lagged != lagged else float(lagged)
    severity = patient.get(C.SEVERITY)
    if severity is None or severity != severity:  # not given: clinical status minus the patient's offset
        severity = max(float(patient[C.CDRSB]) - float(patient.get("clin_offset_cdrsb", 0.0) or 0.0), 0.0)
    return (amyloid, float(patient[C.TAU_SUVR]), float(severity), lagged)
