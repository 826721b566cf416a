"""target_value reads every kind of target row from a TrialResult."""

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from qsp.trial.analysis import baseline_distribution
from qsp.trial.targets import target_value


@pytest.fixture()
def result():
    summary = pd.DataFrame([
        {"arm": "placebo", "week": 76.0, "iadrs_change": -10.0, "iadrs_change_sd": 10.0, "aria_e_pct": 2.0,
         "aria_e_pct_apoe4_2": 4.0, "amyloid_cl_change": 2.0},
        {"arm": "drug", "week": 76.0, "iadrs_change": -6.0, "iadrs_change_sd": 9.0, "aria_e_pct": 20.0,
         "aria_e_pct_apoe4_2": 40.0, "amyloid_cl_change": -60.0},
    ])
    rows = []
    for arm in ("placebo", "drug"):
        for k, (tau, stage, cl) in enumerate([("high", "mci", 50.0), ("low_medium", "mild_dementia", 100.0),
                                              ("low_medium", "mci", 150.0), ("high", "mci", 200.0)]):
            rows.append({"arm": arm, "failed": False, "tau_group": tau, "stage": stage, "apoe4_copies": k % 3,
                         "sex": "F" if k % 2 else "M", "amyloid_cl": cl, "tau_suvr": 1.3, "iadrs": 100.0 + k,
                         "cdrsb": 3.0 + k, "mmse": 25.0, "age": 70.0, "years_since_amyloid_positive": 18.0})
    scenario = SimpleNamespace(arms=[SimpleNamespace(name="placebo"), SimpleNamespace(name="drug")], paired_arms=True)
    return SimpleNamespace(summary=summary, patients=pd.DataFrame(rows), scenario=scenario)


def row(arm, measure, week=76, apoe4=pd.NA):
    return {"arm": arm, "measure": measure, "week": week, "apoe4_copies": apoe4}


def test_arm_measures_subgroups_and_comparisons(result):
    assert target_value(result, row("placebo", "iadrs_change_sd")) == 10.0
    assert target_value(result, row("drug", "aria_e_pct", apoe4="2")) == 40.0
    assert target_value(result, row("drug vs placebo", "iadrs_slowing_pct")) == pytest.approx(40.0)
    assert target_value(result, row("drug vs placebo", "amyloid_cl_difference")) == -62.0
    assert target_value(result, row("drug vs placebo", "aria_e_pct ratio")) == 10.0


def test_baseline_and_composition(result):
    assert target_value(result, row("placebo", "baseline.cdrsb", 0)) == 4.5
    assert target_value(result, row("enrolled", "baseline_distribution.pct.tau_group.high", 0)) == 50.0
    assert target_value(result, row("enrolled", "baseline_distribution.pct.stage.mci", 0)) == 75.0
    p50 = target_value(result, row("enrolled", "baseline_distribution.quantiles.amyloid_cl.p50", 0))
    assert p50 == 125.0


def test_distribution_has_every_key_even_when_empty():
    dist = baseline_distribution(pd.DataFrame(columns=["tau_group", "stage", "apoe4_copies", "sex", "amyloid_cl"]))
    assert dist["pct"]["tau_group"] == {"very_low": 0.0, "low_medium": 0.0, "high": 0.0}
    assert set(dist["pct"]["stage"]) == {"preclinical", "mci", "mild_dementia", "moderate_dementia", "severe_dementia"}
    assert dist["quantiles"]["amyloid_cl"]["p33"] is None and not math.isnan(dist["pct"]["female"])
