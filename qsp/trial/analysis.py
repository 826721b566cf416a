"""Trial statistics beyond means: ANCOVA-adjusted differences with 95% intervals, and the enrolled composition.

- :func:`ancova_difference`: change from baseline ~ arm + baseline value (ordinary least squares,
  statsmodels), the usual primary analysis of AD trials (CLARITY AD, TRAILBLAZER-ALZ 2 used MMRM, of
  which ANCOVA at one visit is the single-time-point case), among the patients observed at that week.
- :func:`baseline_distribution`: who was enrolled, as percentages per group and quantiles of baseline
  measures, to set beside a published trial's table 1.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS  # not statsmodels.api: half a second less start-up

from qsp import constants as C

QUANTILES = (10, 33, 50, 67, 90)  # percentiles of the enrolled population reported in RESULT.json
DISTRIBUTION_MEASURES = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE, C.AGE, "years_since_amyloid_positive")
GROUP_LEVELS = {"tau_group": tuple(C.TAU_GROUPS), "stage": tuple(C.STAGES), C.APOE4: ("0", "1", "2")}
MIN_PER_ARM = 3  # fewer observed patients in an arm: no difference is estimated


def ancova_difference(change_ref: np.ndarray, base_ref: np.ndarray, change_arm: np.ndarray, base_arm: np.ndarray
                      ) -> tuple[float | None, list[float] | None]:
    """Adjusted difference in change (arm minus reference) and its 95% confidence interval.

    Rows with a missing change or baseline are left out. Returns ``(None, None)`` when either arm has
    fewer than :data:`MIN_PER_ARM` patients or the baseline does not vary.

    >>> rng = np.random.default_rng(0)
    >>> base = rng.normal(100, 10, 400)
    >>> change = -5 + 0.1 * (base - 100) + rng.normal(0, 1, 400)
    >>> diff, (lo, hi) = ancova_difference(change[:200], base[:200], change[200:] + 2.0, base[200:])
    >>> round(diff, 1), lo < 2.0 < hi
    (2.0, True)
    """
    y = np.concatenate([change_ref, change_arm]).astype(float)
    base = np.concatenate([base_ref, base_arm]).astype(float)
    arm = np.concatenate([np.zeros(len(change_ref)), np.ones(len(change_arm))])
    keep = np.isfinite(y) & np.isfinite(base)
    if (keep & (arm == 0)).sum() < MIN_PER_ARM or (keep & (arm == 1)).sum() < MIN_PER_ARM or np.ptp(base[keep]) == 0:
        return None, None
    design = np.column_stack([np.ones(keep.sum()), arm[keep], base[keep] - base[keep].mean()])
    fit = OLS(y[keep], design).fit()
    lo, hi = fit.conf_int(alpha=0.05)[1]
    return float(fit.params[1]), [float(lo), float(hi)]


def baseline_distribution(patients: pd.DataFrame) -> dict:
    """Composition of enrolled patients: % per level of tau group, stage, APOE4 copies and women; quantiles of baseline measures.

    Every key is present (0 for an empty group, None for a quantile with no value).

    >>> frame = pd.DataFrame({"tau_group": ["high", "low_medium"], "stage": ["mci", "mci"], "apoe4_copies": [1, 0],
    ...                       "sex": ["F", "M"], "amyloid_cl": [60.0, 100.0]})
    >>> d = baseline_distribution(frame)
    >>> d["pct"]["tau_group"]["high"], d["pct"]["female"], d["quantiles"]["amyloid_cl"]["p50"], d["quantiles"]["mmse"]["p50"]
    (50.0, 50.0, 80.0, None)
    """
    n = len(patients)
    pct: dict = {}
    for group, levels in GROUP_LEVELS.items():
        values = _levels(patients[group], numeric=group == C.APOE4) if n and group in patients else pd.Series([], dtype=str)
        pct[group] = {level: (100.0 * float((values == level).mean()) if n else 0.0) for level in levels}
    pct["female"] = 100.0 * float((patients[C.SEX] == "F").mean()) if n and C.SEX in patients else 0.0
    quantiles = {}
    for name in DISTRIBUTION_MEASURES:
        x = patients[name].to_numpy(dtype=float) if n and name in patients else np.array([])
        x = x[np.isfinite(x)]
        quantiles[name] = {f"p{q}": (round(float(np.percentile(x, q)), 6) if x.size else None) for q in QUANTILES}
    return {"pct": {g: ({k: round(v, 6) for k, v in levels.items()} if isinstance(levels, dict) else round(levels, 6))
                    for g, levels in pct.items()}, "quantiles": quantiles}


def _levels(values: pd.Series, numeric: bool) -> pd.Series:
    """Group levels as text; counts such as APOE4 copies read "1" whether they arrive as 1, 1.0 or "1"."""
    if numeric:
        return pd.to_numeric(values, errors="coerce").round().astype("Int64").astype(str)
    return values.astype(str)


def finite_or_none(x: float) -> float | None:
    """A JSON-safe number: None for NaN or infinity."""
    return None if x is None or not math.isfinite(x) else round(float(x), 6)
