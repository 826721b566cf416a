"""Power and required sample size by resampling a simulated trial pool.

The default analysis is stated in :class:`PowerSettings`: change from baseline in the
primary endpoint at the last assessment, ANCOVA on baseline (change ~ arm + baseline),
two-sided alpha 0.05, power target 80%. Each replicate trial draws ``n`` patients per
arm with replacement from the simulated completers of each arm and is analysed; power
is the share of significant replicates, and the required sample size the smallest ``n``
on a grid whose resampled power reaches the target (interpolated).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats

from qsp import constants as C
from qsp.errors import InvalidInput

ENDPOINTS = (C.IADRS, C.CDRSB, C.AMYLOID_CL, C.TAU_SUVR, C.MMSE)  # endpoints the analysis accepts


class PowerSettings(BaseModel):
    """The analysis, stated and editable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: Literal["iadrs", "cdrsb", "amyloid_cl", "tau_suvr", "mmse"] = C.IADRS
    alpha: float = Field(0.05, gt=0, lt=0.5, description="two-sided significance level")
    target_power: float = Field(0.8, gt=0.05, lt=0.999)
    replicates: int = Field(400, ge=50, le=5000)
    n_per_arm: int | None = Field(None, ge=5, le=100_000, description="arm size to report power for; default the scenario's")
    max_n_per_arm: int = Field(20_000, ge=10, le=1_000_000, description="largest arm size searched")
    seed: int = Field(1, ge=0)


def analysis_table(records: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    """Per patient: arm, baseline and change at the last assessment (measured values, completers only)."""
    col = f"{endpoint}_measured"
    last = records["week"].max()
    base = records[records["week"] == 0].set_index(["arm", C.PATIENT_ID])[col]
    end = records[(records["week"] == last) & records["observed"]].set_index(["arm", C.PATIENT_ID])[col]
    table = pd.DataFrame({"baseline": base.reindex(end.index), "change": end - base.reindex(end.index)}).dropna()
    return table.reset_index()


def ancova_p_values(change: np.ndarray, baseline: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Two-sided p-values of the treatment coefficient of change ~ 1 + treated + baseline, per replicate row.

    Arrays are (replicates, patients); fitted in closed form for all replicates at once.
    """
    r, n = change.shape
    x = np.stack([np.ones_like(change), treated, baseline], axis=2)  # r x n x 3
    xtx = np.einsum("rni,rnj->rij", x, x)
    xty = np.einsum("rni,rn->ri", x, change)
    xtx_inv = np.linalg.inv(xtx)
    beta = np.einsum("rij,rj->ri", xtx_inv, xty)
    resid = change - np.einsum("rni,ri->rn", x, beta)
    dof = n - 3
    sigma2 = np.sum(resid**2, axis=1) / dof
    se = np.sqrt(sigma2 * xtx_inv[:, 1, 1])
    t = beta[:, 1] / se
    return 2 * stats.t.sf(np.abs(t), dof)


def resampled_power(reference: pd.DataFrame, treatment: pd.DataFrame, n: int, settings: PowerSettings, rng) -> float:
    """Share of ``settings.replicates`` resampled two-arm trials of ``n`` per arm that are significant."""
    ref_change, ref_base = reference["change"].to_numpy(), reference["baseline"].to_numpy()
    trt_change, trt_base = treatment["change"].to_numpy(), treatment["baseline"].to_numpy()
    chunk = max(1, min(settings.replicates, 2_000_000 // (2 * n)))  # bounds memory at large n
    significant = 0
    done = 0
    while done < settings.replicates:
        reps = min(chunk, settings.replicates - done)
        ia = rng.integers(0, len(ref_change), size=(reps, n))
        ib = rng.integers(0, len(trt_change), size=(reps, n))
        change = np.concatenate([ref_change[ia], trt_change[ib]], axis=1)
        baseline = np.concatenate([ref_base[ia], trt_base[ib]], axis=1)
        treated = np.concatenate([np.zeros((reps, n)), np.ones((reps, n))], axis=1)
        significant += int(np.sum(ancova_p_values(change, baseline, treated) < settings.alpha))
        done += reps
    return significant / settings.replicates


def _required_n(reference, treatment, settings: PowerSettings, rng) -> tuple[float | None, list[tuple[int, float]]]:
    """Smallest n per arm reaching the target power (log-interpolated on a grid), and the grid."""
    grid = []
    n = 10
    while n <= settings.max_n_per_arm:
        power = resampled_power(reference, treatment, n, settings, rng)
        grid.append((n, power))
        if power >= settings.target_power:
            break
        n = int(math.ceil(n * 1.6))
    if not grid or grid[-1][1] < settings.target_power:
        return None, grid
    if len(grid) == 1:
        return float(grid[0][0]), grid
    (n0, p0), (n1, p1) = grid[-2], grid[-1]
    frac = (settings.target_power - p0) / (p1 - p0) if p1 > p0 else 1.0
    return float(math.ceil(math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0))))), grid


def power_analysis(result, settings: PowerSettings | None = None) -> pd.DataFrame:
    """Power at the chosen arm size and required size per arm, each arm against the first.

    ``result`` is a :class:`qsp.trial.TrialResult`; its simulated patients are the pool.
    Columns: comparison, endpoint, effect (mean difference in change), n_pool, n_per_arm,
    power, required_n_per_arm (None when not reached below max_n_per_arm).
    """
    return power_with_curve(result, settings)[0]


def power_with_curve(result, settings: PowerSettings | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`power_analysis` and the power-versus-arm-size curve it searched: (table, curve).

    The curve has one row per comparison and arm size (comparison, n_per_arm, power): the grid the
    required-size search resampled (10, 16, 26, ... per arm up to the first size reaching the target) and
    the design's own size.
    """
    settings = settings or PowerSettings()
    if result.records[f"{settings.endpoint}_measured"].isna().all():
        raise InvalidInput(f"endpoint: the model does not provide {settings.endpoint} (not in its mapping); choose another endpoint")
    table = analysis_table(result.records, settings.endpoint)
    arms = [a.name for a in result.scenario.arms]
    if len(arms) < 2:
        return pd.DataFrame()
    n_report = settings.n_per_arm or result.scenario.n_per_arm
    rows, curve = [], []
    reference = table[table["arm"] == arms[0]]
    for k, arm in enumerate(arms[1:], start=1):
        treatment = table[table["arm"] == arm]
        rng = np.random.default_rng([settings.seed, k])
        row = {
            "comparison": f"{arm} vs {arms[0]}",
            "endpoint": settings.endpoint,
            "effect": float(treatment["change"].mean() - reference["change"].mean()) if len(treatment) and len(reference) else math.nan,
            "n_pool": int(min(len(reference), len(treatment))),
            "n_per_arm": n_report,
            "power": math.nan,
            "required_n_per_arm": None,
        }
        if len(reference) >= 5 and len(treatment) >= 5:
            row["power"] = resampled_power(reference, treatment, n_report, settings, rng)
            row["required_n_per_arm"], grid = _required_n(reference, treatment, settings, rng)
            points = sorted({*grid, (n_report, row["power"])})
            curve.extend({"comparison": row["comparison"], "n_per_arm": n, "power": p} for n, p in points)
        rows.append(row)
    return pd.DataFrame(rows), pd.DataFrame(curve, columns=["comparison", "n_per_arm", "power"])
