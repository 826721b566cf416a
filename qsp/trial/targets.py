"""The model's value for any calibration or validation target row, read from a TrialResult.

Covers the measures of ``data/calibration_targets.csv`` and ``data/validation_targets.csv``:
per-arm means and SDs of change (``<endpoint>_change``, ``<endpoint>_change_sd``), % cleared,
ARIA-E (overall or by APOE4 copies), drug-vs-reference differences and slowing, ratios of two arms
(``<measure> ratio``), baseline means (``baseline.<observable>``) and the enrolled composition
(``baseline_distribution.pct.<group>.<level>``, ``baseline_distribution.quantiles.<obs>.p<q>``).
"""

from __future__ import annotations

import math

import pandas as pd

from qsp.trial.analysis import baseline_distribution


def _summary_value(summary: pd.DataFrame, arm: str, week: float, column: str) -> float:
    row = summary[(summary["arm"] == arm) & (summary["week"] == week)]
    return float(row[column].iloc[0]) if len(row) else math.nan


def _column(measure: str, apoe4) -> str:
    if measure == "aria_e_pct" and not pd.isna(apoe4) and str(apoe4) != "":
        return f"aria_e_pct_apoe4_{int(float(apoe4))}"
    return measure


def target_value(result, row) -> float:
    """The model's number for one target row (``trial, arm, week, measure, apoe4_copies``) of ``result``."""
    measure, arm, week = str(row["measure"]), str(row["arm"]), float(row["week"])
    apoe4 = row.get("apoe4_copies")
    summary, patients = result.summary, result.patients
    arm_names = [a.name for a in result.scenario.arms]
    ok = patients[~patients["failed"].astype(bool)]
    if " vs " in arm:
        drug, _, ref = arm.partition(" vs ")
        if measure.endswith(" ratio"):
            column = _column(measure.removesuffix(" ratio"), apoe4)
            return _summary_value(summary, drug, week, column) / _summary_value(summary, ref, week, column)
        if measure.endswith("_difference"):
            column = measure.removesuffix("_difference") + "_change"
            return _summary_value(summary, drug, week, column) - _summary_value(summary, ref, week, column)
        if measure.endswith("_slowing_pct"):
            column = measure.removesuffix("_slowing_pct") + "_change"
            ref_change = _summary_value(summary, ref, week, column)
            return 100.0 * (1.0 - _summary_value(summary, drug, week, column) / ref_change)
        raise KeyError(f"measure: no comparison measure {measure!r}")
    if measure.startswith("baseline_distribution."):
        # "enrolled": every enrolled patient (the first arm's when arms share patients)
        group = ok if arm not in arm_names else ok[ok["arm"] == arm]
        if arm not in arm_names and result.scenario.paired_arms:
            group = ok[ok["arm"] == arm_names[0]]
        parts = measure.split(".")
        dist = baseline_distribution(group)
        value = dist[parts[1]][parts[2]] if parts[1] == "pct" and parts[2] == "female" else dist[parts[1]][parts[2]][parts[3]]
        return math.nan if value is None else float(value)
    if measure.startswith("baseline."):
        name = measure.removeprefix("baseline.")
        group = ok[ok["arm"] == arm] if arm in arm_names else ok[ok["arm"] == arm_names[0]]
        return float(group[name].mean())
    return _summary_value(summary, arm, week, _column(measure, apoe4))
