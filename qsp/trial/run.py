"""Virtual trials: arms x population x duration -> per-arm endpoints at assessment weeks.

A scenario is a typed object (:class:`Scenario`) read from YAML or JSON. The
engine samples ``n_per_arm`` eligible patients per arm (different patients in
each arm, as in a randomised trial), simulates each under its arm's regimen
with one reset + simulate, adds measurement noise and dropout when asked, and
aggregates endpoints. Patients whose simulation fails are counted per arm.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qsp import constants as C
from qsp.errors import InvalidInput
from qsp.engine.executor import ChunkExecutor, ExecutorSettings, open_executor
from qsp.engine.model import Model, load_builtin_model
from qsp.population.sampling import Criteria, sample_population, stream_population
from qsp.provenance.record import provenance_record
from qsp.engine.regimen import Regimen, parse_regimen
from qsp.engine.simulate import Engine, model_job_fields, worker_engine
from qsp.validation import validate

MAX_PATIENTS_PER_ARM = 100_000  # a trial larger than this belongs on a cluster
MAX_SCENARIO_BYTES = 1_000_000  # scenario files are small
CHANGE_ENDPOINTS = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE)  # reported as change from baseline
SUMMARY_OBSERVABLES = (C.AMYLOID_CL, C.ARIA_E_RISK, C.CONC_UG_PER_ML)  # true values the summary needs for every patient
NOISE_STREAM = 1_000_003  # separates the noise/dropout streams from the population stream


class Arm(BaseModel):
    """One arm: a name and a regimen (None = placebo). A regimen may be a library name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    regimen: Regimen | None = None

    @field_validator("regimen", mode="before")
    @classmethod
    def _named(cls, value):
        if isinstance(value, str):
            return parse_regimen(value)
        return value


class Scenario(BaseModel):
    """A virtual trial design (the YAML/JSON file ``python -m qsp trial`` takes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("trial", min_length=1, max_length=120)
    seed: int = Field(1, ge=0, le=2**32 - 1)
    n_per_arm: int = Field(ge=1, le=MAX_PATIENTS_PER_ARM)
    duration_weeks: float = Field(gt=0, le=520)
    assess_weeks: tuple[float, ...] = Field(min_length=1, max_length=60)
    population: Criteria = Criteria()
    arms: tuple[Arm, ...] = Field(min_length=1, max_length=12)
    measurement_noise: bool = False
    dropout_pct_per_year: float = Field(0.0, ge=0, lt=100)
    paired_arms: bool = False  # every arm gets the same virtual patients (counterfactual design)

    @field_validator("assess_weeks")
    @classmethod
    def _weeks(cls, weeks):
        if any(w <= 0 for w in weeks):
            raise ValueError("assessment weeks must be > 0 (week 0 is the baseline)")
        if list(weeks) != sorted(set(weeks)):
            raise ValueError("assessment weeks must be strictly increasing")
        return weeks

    @model_validator(mode="after")
    def _consistent(self):
        if self.assess_weeks[-1] > self.duration_weeks:
            raise ValueError(
                f"assess_weeks: last assessment (week {self.assess_weeks[-1]:g}) is after "
                f"duration_weeks ({self.duration_weeks:g})"
            )
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: arm names must be unique (got {names})")
        return self


def parse_scenario(data) -> Scenario:
    """A Scenario from a mapping, or InvalidInput with one line per problem naming the field."""
    return validate(Scenario, data)


def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a YAML or JSON file (InvalidInput on any problem)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"scenario: file not found: {path}")
    if path.stat().st_size > MAX_SCENARIO_BYTES:
        raise InvalidInput(f"scenario: file larger than {MAX_SCENARIO_BYTES:,} bytes")
    return scenario_from_text(path.read_text(encoding="utf-8", errors="replace"))


def scenario_from_text(text: str) -> Scenario:
    """Parse YAML or JSON scenario text."""
    if len(text.encode("utf-8")) > MAX_SCENARIO_BYTES:
        raise InvalidInput(f"scenario: text larger than {MAX_SCENARIO_BYTES:,} bytes")
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise InvalidInput(f"scenario: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    return parse_scenario(data)


def scenario_to_dict(scenario: Scenario) -> dict:
    """The scenario as plain data (regimens expanded), suitable for YAML/JSON."""
    return scenario.model_dump(mode="json", exclude_none=True)


def scenario_to_yaml(scenario: Scenario) -> str:
    """The scenario as YAML text that :func:`scenario_from_text` reads back identically."""
    return yaml.safe_dump(scenario_to_dict(scenario), sort_keys=False)


@dataclass
class TrialResult:
    """Endpoints per arm (tidy tables) plus the JSON contract of ``python -m qsp trial``."""

    scenario: Scenario
    summary: pd.DataFrame  # one row per arm x week: means of changes, % cleared, ARIA-E
    patients: pd.DataFrame  # one row per patient: arm, baseline, covariates, failure
    records: pd.DataFrame  # one row per patient x week: true and measured observables
    provenance: dict
    screening: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """RESULT.json as documented in the README."""
        return trial_json(self)


def _dropout_weeks(rng: np.random.Generator, pct_per_year: float) -> float:
    if pct_per_year <= 0:
        return math.inf
    rate_per_week = -math.log(1 - pct_per_year / 100.0) / 52.1775
    return float(rng.exponential(1.0 / rate_per_week))


def _enrol(scenario: Scenario, engine: Engine, enrolment_filter, n_total: int, executor: ChunkExecutor | None = None) -> tuple[pd.DataFrame, dict]:
    """Sample the trial population; with a filter, screen until enough patients pass."""
    if enrolment_filter is None:
        pool = sample_population(n_total, scenario.population, seed=scenario.seed, engine=engine, executor=executor)
        return pool, {"screened": n_total, "enrolled": n_total, "screen_per_enrolled": 1.0}
    accepted: list[pd.DataFrame] = []
    screened = 0
    start = 0
    batch = max(50, n_total)
    while sum(len(a) for a in accepted) < n_total:
        candidates = sample_population(batch, scenario.population, seed=scenario.seed, engine=engine, start_index=start,
                                       executor=executor)
        start = int(candidates[C.PATIENT_ID].str.split("-").str[-1].astype(int).max()) + 1
        keep = np.asarray(enrolment_filter(candidates), dtype=bool)
        screened += len(candidates)
        accepted.append(candidates[keep])
        if screened > 50 * n_total:
            raise InvalidInput(
                f"enrichment: only {sum(len(a) for a in accepted)} of {screened} screened patients pass the filter"
            )
    pool = pd.concat(accepted, ignore_index=True)
    screened_needed = screened  # every screened candidate counts, as in a real trial
    pool = pool.iloc[:n_total].reset_index(drop=True)
    return pool, {"screened": screened_needed, "enrolled": n_total, "screen_per_enrolled": screened_needed / n_total}


def run_trial(
    scenario: Scenario | dict,
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
    progress: Callable[[float], None] | None = None,
    enrolment_filter: Callable[[pd.DataFrame], np.ndarray] | None = None,
    population: pd.DataFrame | None = None,
    executor: ExecutorSettings | ChunkExecutor | None = None,
    keep_records: int | None = None,
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
    """
    if keep_records is not None and (isinstance(keep_records, bool) or not isinstance(keep_records, int) or keep_records < 0):
        raise InvalidInput(f"keep_records: must be None (all patients) or an integer >= 0 (got {keep_records!r})")
    if isinstance(scenario, dict):
        scenario = parse_scenario(scenario)
    model = model or load_builtin_model()
    engine = Engine(model, parameter_overrides)
    for a, arm in enumerate(scenario.arms):
        if arm.regimen is not None:
            try:
                engine.check_regimen(arm.regimen)
            except InvalidInput as exc:
                raise InvalidInput([f"arms.{a}.{p}" for p in exc.problems]) from None
    n_arms = len(scenario.arms)
    n_total = (1 if scenario.paired_arms else n_arms) * scenario.n_per_arm
    ex, owned = open_executor(executor)
    try:
        chunk_size = ex.settings.chunk_size
        if ex.settings.backend != "serial":  # a simulated patient is cheap: fewer, larger tasks (4 per worker and arm)
            chunk_size = max(chunk_size, math.ceil(scenario.n_per_arm / (4 * ex.parallelism)))
        n = scenario.n_per_arm
        # (arm, pool rows) of every simulation chunk, arm by arm: the order the results are combined in
        slices = [(a, (0 if scenario.paired_arms else a) * n + start, (0 if scenario.paired_arms else a) * n + min(start + chunk_size, n))
                  for a in range(n_arms) for start in range(0, n, chunk_size)]
        template = dict(**model_job_fields(engine), scenario=scenario_to_dict(scenario), keep_records=keep_records)

        def job(a: int, lo: int, hi: int, patients: list) -> _ChunkJob:
            start = lo - (0 if scenario.paired_arms else a) * n
            return _ChunkJob(**template, arm_index=a, start=start, patients=patients)

        if population is None and enrolment_filter is None:
            # sample and simulate at once: a chunk is simulated as soon as its patients are accepted
            ready_order = sorted(range(len(slices)), key=lambda k: slices[k][2])  # by the last pool row they need
            extras, emitted = [], []  # emitted: slice numbers, in the order their simulations were appended

            def after_consume(rows):
                while len(emitted) < len(slices) and len(rows) >= slices[ready_order[len(emitted)]][2]:
                    k = ready_order[len(emitted)]
                    a, lo, hi = slices[k]
                    emitted.append(k)
                    extras.append((simulate_chunk, job(a, lo, hi, pd.DataFrame(rows[lo:hi]).to_dict("records"))))

            pool, streamed = stream_population(n_total, scenario.population, seed=scenario.seed, engine=engine, executor=ex,
                                               after_consume=after_consume, extras=extras,
                                               extra_done=(lambda k: progress(k / len(slices))) if progress else None)
            screening = {"screened": n_total, "enrolled": n_total, "screen_per_enrolled": 1.0}
            position = {k: i for i, k in enumerate(emitted)}
            results = [streamed[position[k]] for k in range(len(slices))]
            jobs = [extras[position[k]][1] for k in range(len(slices))]
        else:
            if population is None:
                pool, screening = _enrol(scenario, engine, enrolment_filter, n_total, ex)
            else:
                if len(population) < n_total:
                    raise InvalidInput(f"population: {len(population)} patients given, {n_total} needed")
                pool, screening = population.iloc[:n_total].reset_index(drop=True), {}
            jobs = [job(a, lo, hi, pool.iloc[lo:hi].to_dict("records")) for a, lo, hi in slices]
            results = ex.map(simulate_chunk, jobs, progress=progress)
    finally:
        if owned:
            ex.close()
    del pool
    weeks = np.array([0.0, *scenario.assess_weeks])
    record_frames, patient_rows, summary_rows = [], [], []
    for a, arm in enumerate(scenario.arms):
        parts = [r for job, r in zip(jobs, results) if job.arm_index == a]
        rows = [row for r in parts for row in r["patients"]]
        measured = np.concatenate([r["measured"] for r in parts])
        observed = np.concatenate([r["observed"] for r in parts])
        values = np.concatenate([r["values"] for r in parts])  # kept patients only
        kept = len(values)
        kept_pool = pd.DataFrame([{k: v for k, v in row.items() if k not in _RUN_FIELDS} for row in rows[:kept]])
        record_frames.append(_records(arm.name, kept_pool, weeks, values, measured[:kept], observed[:kept]))
        summary_rows.extend(_summarise_arm(
            arm.name, scenario, np.concatenate([r["endpoints"] for r in parts]), measured, observed,
            np.array([row[C.APOE4] for row in rows]), sum(bool(row["failed"]) for row in rows),
        ))
        patient_rows.extend(rows)
    records = pd.concat(record_frames, ignore_index=True)
    patients = pd.DataFrame(patient_rows)
    summary = pd.DataFrame(summary_rows)
    provenance = provenance_record(
        model,
        scenario.seed,
        scenario_to_dict(scenario),
        {**model.defaults, **(parameter_overrides or {})},
        kind="trial",
        parameter_overrides=parameter_overrides or {},
        enrichment=screening if enrolment_filter is not None else None,
    )
    return TrialResult(scenario, summary, patients, records, provenance, screening)


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
    rows = []
    for k, patient in enumerate(job.patients):
        rng = np.random.default_rng([scenario.seed, NOISE_STREAM, job.arm_index, job.start + k])
        noise = {
            name: rng.normal(0.0, C.MEASUREMENT_SD[name], len(weeks)) if scenario.measurement_noise else np.zeros(len(weeks))
            for name in CHANGE_ENDPOINTS
        }
        stop_noise = (
            rng.normal(0.0, C.MEASUREMENT_SD[C.AMYLOID_CL], len(stop_weeks)) if scenario.measurement_noise else np.zeros(len(stop_weeks))
        )
        dropout = _dropout_weeks(rng, scenario.dropout_pct_per_year)
        run = engine.run(patient, arm.regimen, days, state=baseline_state(patient), stop_noise_cl=stop_noise)
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
    return {"values": values[:kept].copy(), "endpoints": endpoints, "measured": measured, "observed": observed, "patients": rows}


def baseline_state(patient) -> tuple[float, float, float, float]:
    """The model state a patient row starts from (lagged amyloid = amyloid, severity from CDR-SB when absent)."""
    lagged = patient.get(C.AMYLOID_LAGGED_CL)
    amyloid = float(patient[C.AMYLOID_CL])
    lagged = amyloid if lagged is None or lagged != lagged else float(lagged)
    severity = patient.get(C.SEVERITY)
    if severity is None or severity != severity:  # not given: clinical status minus the patient's offset
        severity = max(float(patient[C.CDRSB]) - float(patient.get("clin_offset_cdrsb", 0.0) or 0.0), 0.0)
    return (amyloid, float(patient[C.TAU_SUVR]), float(severity), lagged)


def _records(arm, arm_pool, weeks, values, measured, observed) -> pd.DataFrame:
    n, t = observed.shape
    frame = {
        "arm": np.repeat(arm, n * t),
        C.PATIENT_ID: np.repeat(arm_pool[C.PATIENT_ID].to_numpy(), t),
        C.APOE4: np.repeat(arm_pool[C.APOE4].to_numpy(), t),
        "week": np.tile(weeks, n),
        "observed": observed.reshape(-1),
    }
    for k, name in enumerate(C.OBSERVABLES):
        frame[name] = values[:, :, k].reshape(-1)
    for k, name in enumerate(CHANGE_ENDPOINTS):
        frame[f"{name}_measured"] = measured[:, :, k].reshape(-1)
    return pd.DataFrame(frame)


def _summarise_arm(arm, scenario, endpoints, measured, observed, apoe4, n_failed) -> list[dict]:
    """The summary rows of one arm from per-patient arrays, number for number as :func:`summarise` on its records.

    The same pandas reductions run on the same values in the same patient order, so the result is
    identical to summarising full records, which need not be kept.
    """
    amyloid, aria, conc = (endpoints[:, :, k] for k in range(len(SUMMARY_OBSERVABLES)))
    ok = ~np.isnan(amyloid)  # records.dropna(subset=[amyloid])
    cleared_col = CHANGE_ENDPOINTS.index(C.AMYLOID_CL)
    rows = []
    for j, week in enumerate(scenario.assess_weeks, start=1):
        at = ok[:, j]
        seen = at & observed[:, j]
        row = {"arm": arm, "week": week, "n": int(ok[:, 0].sum()), "n_observed": int(seen.sum()), "n_failed": int(n_failed)}
        for e, name in enumerate(CHANGE_ENDPOINTS):
            change = pd.Series(measured[seen, j, e] - measured[seen, 0, e])
            row[f"{name}_change"] = float(change.mean()) if len(change) else math.nan
            row[f"{name}_change_sd"] = float(change.std()) if len(change) > 1 else math.nan
        row["amyloid_cleared_pct"] = (
            float(100.0 * pd.Series(measured[seen, j, cleared_col] < C.AMYLOID_POSITIVE_CL).mean()) if seen.any() else math.nan
        )
        row["aria_e_pct"] = float(100.0 * pd.Series(aria[at, j]).mean()) if at.any() else math.nan
        for g in C.APOE4_GENOTYPES:
            group = at & (apoe4 == g)
            row[f"aria_e_pct_apoe4_{g}"] = float(100.0 * pd.Series(aria[group, j]).mean()) if group.any() else math.nan
        row["conc_ug_per_ml_mean"] = float(pd.Series(conc[at, j]).mean()) if at.any() else math.nan
        rows.append(row)
    return rows


def summarise(records: pd.DataFrame, patients: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Per arm x assessment week: mean change from baseline (observed patients), % cleared, ARIA-E."""
    rows = []
    ok = records.dropna(subset=[C.AMYLOID_CL])
    for arm in scenario.arms:
        arm_records = ok[ok["arm"] == arm.name]
        base = arm_records[arm_records["week"] == 0].set_index(C.PATIENT_ID)
        n_failed = int(patients.loc[patients["arm"] == arm.name, "failed"].sum())
        for week in scenario.assess_weeks:
            at = arm_records[arm_records["week"] == week].set_index(C.PATIENT_ID)
            seen = at[at["observed"]]
            row = {"arm": arm.name, "week": week, "n": int(len(base)), "n_observed": int(len(seen)), "n_failed": n_failed}
            for name in CHANGE_ENDPOINTS:
                change = seen[f"{name}_measured"] - base.loc[seen.index, f"{name}_measured"]
                row[f"{name}_change"] = float(change.mean()) if len(change) else math.nan
                row[f"{name}_change_sd"] = float(change.std()) if len(change) > 1 else math.nan
            row["amyloid_cleared_pct"] = (
                float(100.0 * (seen[f"{C.AMYLOID_CL}_measured"] < C.AMYLOID_POSITIVE_CL).mean()) if len(seen) else math.nan
            )
            row["aria_e_pct"] = float(100.0 * at[C.ARIA_E_RISK].mean()) if len(at) else math.nan
            for g in C.APOE4_GENOTYPES:
                group = at[at[C.APOE4] == g]
                row[f"aria_e_pct_apoe4_{g}"] = float(100.0 * group[C.ARIA_E_RISK].mean()) if len(group) else math.nan
            row["conc_ug_per_ml_mean"] = float(at[C.CONC_UG_PER_ML].mean()) if len(at) else math.nan
            rows.append(row)
    return pd.DataFrame(rows)


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else round(float(x), 6)


def slowing_pct(change_arm: float, change_ref: float) -> float | None:
    """100 x (1 - change_arm / change_ref); None where undefined (no reference decline).

    >>> slowing_pct(-6.0, -9.0)
    33.333333
    """
    if change_ref is None or not math.isfinite(change_ref) or change_ref == 0 or not math.isfinite(change_arm):
        return None
    return _num(100.0 * (1.0 - change_arm / change_ref))


def trial_json(result: TrialResult) -> dict:
    """The RESULT.json structure of the CLI contract."""
    scenario = result.scenario
    summary = result.summary
    patients = result.patients
    arms = {}
    for arm in scenario.arms:
        s = summary[summary["arm"] == arm.name].sort_values("week")
        p = patients[(patients["arm"] == arm.name) & ~patients["failed"]]
        arms[arm.name] = {
            "n": int(len(patients[patients["arm"] == arm.name])),
            "n_failed": int(patients.loc[patients["arm"] == arm.name, "failed"].sum()),
            "regimen": arm.regimen.model_dump(mode="json", exclude_none=True) if arm.regimen else None,
            "weeks": [float(w) for w in s["week"]],
            "baseline": {
                name: _num(p[name].mean()) if len(p) else None
                for name in (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE, C.AGE)
            },
            "n_observed": [int(x) for x in s["n_observed"]],
            "amyloid_cl_change": [_num(x) for x in s["amyloid_cl_change"]],
            "amyloid_cleared_pct": [_num(x) for x in s["amyloid_cleared_pct"]],
            "tau_suvr_change": [_num(x) for x in s["tau_suvr_change"]],
            "iadrs_change": [_num(x) for x in s["iadrs_change"]],
            "cdrsb_change": [_num(x) for x in s["cdrsb_change"]],
            "mmse_change": [_num(x) for x in s["mmse_change"]],
            "aria_e_pct": [_num(x) for x in s["aria_e_pct"]],
            "aria_e_pct_by_apoe4": {str(g): [_num(x) for x in s[f"aria_e_pct_apoe4_{g}"]] for g in C.APOE4_GENOTYPES},
        }
    first = scenario.arms[0].name
    comparisons = {}
    for arm in scenario.arms[1:]:
        a, f = arms[arm.name], arms[first]
        comparisons[f"{arm.name} vs {first}"] = {
            "amyloid_cl_difference": [
                _num(x - y) if x is not None and y is not None else None
                for x, y in zip(a["amyloid_cl_change"], f["amyloid_cl_change"])
            ],
            "iadrs_slowing_pct": [
                slowing_pct(x, y) if x is not None and y is not None else None
                for x, y in zip(a["iadrs_change"], f["iadrs_change"])
            ],
            "cdrsb_slowing_pct": [
                slowing_pct(x, y) if x is not None and y is not None else None
                for x, y in zip(a["cdrsb_change"], f["cdrsb_change"])
            ],
        }
    out = {
        "scenario": scenario_to_dict(scenario),
        "provenance": result.provenance,
        "arms": arms,
        "comparisons": comparisons,
    }
    if result.provenance.get("enrichment"):
        out["enrichment"] = result.provenance["enrichment"]
    return json.loads(json.dumps(out, default=_json_default))


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return _num(float(obj))
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def arm_trajectories(result: TrialResult) -> pd.DataFrame:
    """Per arm x week x measure: mean with a 95% interval (tidy, for plots and downloads).

    Changes from baseline (measured values, observed patients): mean and 95% CI of the mean.
    ``amyloid_cleared_pct``: % below 24.1 CL with a Wilson 95% interval. ``conc_ug_per_ml``:
    mean with the 2.5-97.5 percentiles of patients.
    """
    rows = []
    rec = result.records.dropna(subset=[C.AMYLOID_CL])
    for arm in result.scenario.arms:
        r = rec[rec["arm"] == arm.name]
        base = r[r["week"] == 0].set_index(C.PATIENT_ID)
        for week in [0.0, *result.scenario.assess_weeks]:
            at = r[(r["week"] == week)].set_index(C.PATIENT_ID)
            seen = at[at["observed"]]
            for name in CHANGE_ENDPOINTS:
                change = (seen[f"{name}_measured"] - base.loc[seen.index, f"{name}_measured"]).to_numpy()
                mean = float(change.mean()) if change.size else math.nan
                half = 1.96 * float(change.std(ddof=1)) / math.sqrt(change.size) if change.size > 1 else 0.0
                rows.append({"arm": arm.name, "week": week, "measure": f"{name}_change", "mean": mean, "lo": mean - half, "hi": mean + half})
            k = int((seen[f"{C.AMYLOID_CL}_measured"] < C.AMYLOID_POSITIVE_CL).sum())
            n = int(len(seen))
            lo, hi = _wilson(k, n)
            rows.append({"arm": arm.name, "week": week, "measure": "amyloid_cleared_pct", "mean": 100 * k / n if n else math.nan, "lo": lo, "hi": hi})
            conc = at[C.CONC_UG_PER_ML].to_numpy()
            if conc.size:
                rows.append({"arm": arm.name, "week": week, "measure": C.CONC_UG_PER_ML, "mean": float(conc.mean()),
                             "lo": float(np.percentile(conc, 2.5)), "hi": float(np.percentile(conc, 97.5))})
            risk = at[C.ARIA_E_RISK].to_numpy()
            if risk.size:
                mean = 100 * float(risk.mean())
                half = 196 * float(risk.std(ddof=1)) / math.sqrt(risk.size) if risk.size > 1 else 0.0
                rows.append({"arm": arm.name, "week": week, "measure": "aria_e_pct", "mean": mean, "lo": mean - half, "hi": mean + half})
    return pd.DataFrame(rows)


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)
