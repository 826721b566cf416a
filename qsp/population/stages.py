"""Where a patient is on the continuum: clinical stage, tau group, and the time to the next stage."""

from __future__ import annotations

import math

import numpy as np

from qsp import constants as C


def stage_of(cdrsb: float) -> str:
    """Clinical stage for a CDR-SB value (O'Bryant 2008 cut-points); "unavailable" for NaN (a model without CDR-SB)."""
    if cdrsb != cdrsb:
        return "unavailable"
    for name, (lo, hi) in C.STAGES.items():
        if lo <= cdrsb < hi:
            return name
    return "severe_dementia"

def tau_group_of(tau_suvr: float) -> str:
    """TRAILBLAZER-ALZ 2 tau group of a flortaucipir SUVr; "unavailable" for NaN."""
    if tau_suvr != tau_suvr:
        return "unavailable"
    for name, (lo, hi) in C.TAU_GROUPS.items():
        if lo <= tau_suvr < hi:
            return name
    return "high"


def crossing_years(years: np.ndarray, values: np.ndarray, threshold: float, rising: bool = True) -> np.ndarray:
    """First time each row of ``values`` (draws x times) crosses ``threshold``, linearly interpolated; inf if never."""
    hit = values >= threshold if rising else values <= threshold
    out = np.full(values.shape[0], math.inf)
    for i in range(values.shape[0]):
        k = np.flatnonzero(hit[i])
        if k.size == 0:
            continue
        k = k[0]
        if k == 0:
            out[i] = years[0]
            continue
        v0, v1 = values[i, k - 1], values[i, k]
        frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
        out[i] = years[k - 1] + frac * (years[k] - years[k - 1])
    return out


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Quantiles of weighted samples along axis 0 (values: n x m); infinities allowed."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, axis=0, kind="stable")
    sorted_v = np.take_along_axis(values, order, axis=0)
    w = np.asarray(weights, dtype=float)[order]
    cw = np.cumsum(w, axis=0)
    cw /= cw[-1]
    out = np.empty((len(qs), values.shape[1]))
    for j in range(values.shape[1]):
        idx = np.searchsorted(cw[:, j], np.asarray(qs), side="left").clip(0, len(cw) - 1)
        out[:, j] = sorted_v[idx, j]
    return out


def time_to_next_stage(years: np.ndarray, cdrsb: np.ndarray, stage: str, weights: np.ndarray | None = None) -> dict | None:
    """Years until CDR-SB reaches the next stage's lower cut-point: median and 10-90% over draws.

    ``years``: time points (years from now); ``cdrsb``: draws x time points of true CDR-SB; ``weights``:
    posterior weights of the draws (None: equal). The crossing is interpolated linearly between time
    points; ``inf`` when it does not happen within ``years``. None when there is no next stage or no
    CDR-SB (a model whose mapping leaves it out). The explorer and the digital twin both use this.

    >>> time_to_next_stage(np.array([0.0, 1.0, 2.0]), np.array([[2.0, 4.0, 6.0]]), "mci")["median_years"]
    1.25
    """
    stages = list(C.STAGES)
    cdrsb = np.atleast_2d(np.asarray(cdrsb, dtype=float))
    if stage not in stages or stages.index(stage) + 1 >= len(stages) or np.isnan(cdrsb).all():
        return None
    target = stages[stages.index(stage) + 1]
    times = crossing_years(np.asarray(years, dtype=float), cdrsb, C.STAGES[target][0])
    w = np.ones(len(times)) if weights is None else np.asarray(weights, dtype=float)
    median, p10, p90 = weighted_quantiles(times[:, None], w, [0.5, 0.1, 0.9])[:, 0]
    return {"stage": target, "median_years": float(median), "p10_years": float(p10), "p90_years": float(p90)}
