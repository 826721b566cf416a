"""Trial endpoints: change from baseline, responder and safety rates per arm and week, and the RESULT.json contract."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.trial.analysis import ancova_difference, baseline_distribution
from qsp.trial.scenario import Scenario, scenario_to_dict

CHANGE_ENDPOINTS = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE)  # reported as change from baseline

SUMMARY_OBSERVABLES = (C.AMYLOID_CL, C.ARIA_E_RISK, C.CONC_UG_PER_ML)  # true values the summary needs for every patient
SD_ENDPOINTS = (C.IADRS, C.CDRSB, C.AMYLOID_CL)  # RESULT.json reports the SD of change of these per arm
ANALYSED_ENDPOINTS = (C.IADRS, C.CDRSB)  # compared between arms by ANCOVA (change ~ arm + baseline)

@dataclass
class TrialResult:
    """Endpoints per arm (tidy tables) plus the JSON contract of ``python -m qsp trial``."""

    scenario: Scenario
    summary: pd.DataFrame  # one row per arm x week: means of changes, % cleared, ARIA-E
    patients: pd.DataFrame  # one row per patient: arm, baseline, covariates, failure
    records: pd.DataFrame  # one row per patient x week: true and measured observables
    provenance: dict
    screening: dict = field(default_factory=dict)
    # per arm: "observed" (patients x weeks) and the measured values of ANALYSED_ENDPOINTS (patients x weeks),
    # for every patient (also when ``records`` keeps only a few): the ANCOVA of the comparisons reads them
    analysis: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """RESULT.json as documented in the README."""
        return trial_json(self)

def records_frame(arm, arm_pool, weeks, values, measured, observed) -> pd.DataFrame:
    """One arm's records: one row per patient x week with true and measured observables."""
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

def change_from_baseline(measured: np.ndarray, seen: np.ndarray, j: int) -> np.ndarray:
    """Measured values at assessment ``j`` minus baseline (assessment 0), among the ``seen`` patients.

    ``measured``: one endpoint, patients x assessments; ``seen``: the patients observed at ``j``
    (simulated and not dropped out). One change per seen patient, in patient order.

    >>> change_from_baseline(np.array([[1.0, 3.0], [2.0, 7.0]]), np.array([True, False]), 1)
    array([2.])
    """
    return measured[seen, j] - measured[seen, 0]

def arm_arrays(records: pd.DataFrame, weeks) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One arm's records as the arrays a run makes, patients (in record order) x ``weeks``.

    Returns (true SUMMARY_OBSERVABLES, measured CHANGE_ENDPOINTS, observed flags, APOE4 copies per patient);
    a missing patient x week row reads as not simulated (NaN) and not observed.
    """
    ids = records[C.PATIENT_ID].unique()
    grid = records.set_index([C.PATIENT_ID, "week"]).reindex(pd.MultiIndex.from_product([ids, weeks]))
    shape = (len(ids), len(weeks))

    def stack(columns) -> np.ndarray:
        return np.stack([grid[c].to_numpy(dtype=float).reshape(shape) for c in columns], axis=-1)

    endpoints = stack(SUMMARY_OBSERVABLES)
    measured = stack([f"{name}_measured" for name in CHANGE_ENDPOINTS])
    observed = grid["observed"].eq(True).to_numpy(dtype=bool).reshape(shape)
    return endpoints, measured, observed, grid[C.APOE4].to_numpy().reshape(shape)[:, 0]

def summarise_arm(arm, scenario, endpoints, measured, observed, apoe4, n_failed) -> list[dict]:
    """The summary rows of one arm (one per assessment week) from its per-patient arrays.

    ``endpoints``: true SUMMARY_OBSERVABLES, ``measured``: measured CHANGE_ENDPOINTS, ``observed``:
    flags, all patients x weeks (week 0 first); a patient whose amyloid is NaN was not simulated.
    """
    amyloid, aria, conc = (endpoints[:, :, k] for k in range(len(SUMMARY_OBSERVABLES)))
    ok = ~np.isnan(amyloid)
    cleared_col = CHANGE_ENDPOINTS.index(C.AMYLOID_CL)
    rows = []
    for j, week in enumerate(scenario.assess_weeks, start=1):
        at = ok[:, j]
        seen = at & observed[:, j]
        row = {"arm": arm, "week": week, "n": int(ok[:, 0].sum()), "n_observed": int(seen.sum()), "n_failed": int(n_failed)}
        for e, name in enumerate(CHANGE_ENDPOINTS):
            change = pd.Series(change_from_baseline(measured[:, :, e], seen, j))
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
    weeks = [0.0, *scenario.assess_weeks]
    rows = []
    for arm in scenario.arms:
        n_failed = int(patients.loc[patients["arm"] == arm.name, "failed"].sum())
        arrays = arm_arrays(records[records["arm"] == arm.name], weeks)
        rows.extend(summarise_arm(arm.name, scenario, *arrays, n_failed))
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
            **{f"{name}_change_sd": [_num(x) for x in s[f"{name}_change_sd"]] for name in SD_ENDPOINTS},
            "baseline_distribution": baseline_distribution(p),
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
            **adjusted_differences(result.analysis.get(first), result.analysis.get(arm.name), len(scenario.assess_weeks)),
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

def adjusted_differences(reference: dict | None, treated: dict | None, n_weeks: int) -> dict:
    """``iadrs_difference``, ``cdrsb_difference`` and their ``_ci95`` by assessment week: ANCOVA, arm minus reference.

    Among the patients observed at that week; None where either arm has too few (or no analysis arrays).
    """
    out = {}
    for name in ANALYSED_ENDPOINTS:
        diffs, intervals = [], []
        for j in range(1, n_weeks + 1):
            diff, ci = None, None
            if reference is not None and treated is not None:
                ref_seen, arm_seen = reference["observed"][:, j], treated["observed"][:, j]
                ref, arm = reference[name], treated[name]
                diff, ci = ancova_difference(ref[ref_seen, j] - ref[ref_seen, 0], ref[ref_seen, 0],
                                             arm[arm_seen, j] - arm[arm_seen, 0], arm[arm_seen, 0])
            diffs.append(_num(diff) if diff is not None else None)
            intervals.append([_num(ci[0]), _num(ci[1])] if ci is not None else None)
        out[f"{name}_difference"], out[f"{name}_difference_ci95"] = diffs, intervals
    return out


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
    weeks = [0.0, *result.scenario.assess_weeks]
    rows = []
    for arm in result.scenario.arms:
        endpoints, measured, observed, _ = arm_arrays(result.records[result.records["arm"] == arm.name], weeks)
        for j, week in enumerate(weeks):
            rows.extend(_trajectory_rows(arm.name, week, j, endpoints, measured, observed))
    return pd.DataFrame(rows)

def _trajectory_rows(arm: str, week: float, j: int, endpoints, measured, observed) -> list[dict]:
    """The :func:`arm_trajectories` rows of one arm at assessment ``j`` (arrays as :func:`arm_arrays` gives them)."""
    amyloid, aria, conc = (endpoints[:, j, k] for k in range(len(SUMMARY_OBSERVABLES)))
    at = ~np.isnan(amyloid)
    seen = at & observed[:, j]
    rows = []
    for e, name in enumerate(CHANGE_ENDPOINTS):
        change = change_from_baseline(measured[:, :, e], seen, j)
        mean = float(change.mean()) if change.size else math.nan
        half = 1.96 * float(change.std(ddof=1)) / math.sqrt(change.size) if change.size > 1 else 0.0
        rows.append({"arm": arm, "week": week, "measure": f"{name}_change", "mean": mean, "lo": mean - half, "hi": mean + half})
    k = int((measured[seen, j, CHANGE_ENDPOINTS.index(C.AMYLOID_CL)] < C.AMYLOID_POSITIVE_CL).sum())
    n = int(seen.sum())
    lo, hi = _wilson(k, n)
    rows.append({"arm": arm, "week": week, "measure": "amyloid_cleared_pct", "mean": 100 * k / n if n else math.nan, "lo": lo, "hi": hi})
    conc = conc[at]
    if conc.size:
        rows.append({"arm": arm, "week": week, "measure": C.CONC_UG_PER_ML, "mean": float(conc.mean()),
                     "lo": float(np.percentile(conc, 2.5)), "hi": float(np.percentile(conc, 97.5))})
    risk = aria[at]
    if risk.size:
        mean = 100 * float(risk.mean())
        half = 196 * float(risk.std(ddof=1)) / math.sqrt(risk.size) if risk.size > 1 else 0.0
        rows.append({"arm": arm, "week": week, "measure": "aria_e_pct", "mean": mean, "lo": mean - half, "hi": mean + half})
    return rows

def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return 100 * (centre - half), 100 * (centre + half)
