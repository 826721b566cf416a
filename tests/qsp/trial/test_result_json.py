"""RESULT.json carries its uncertainty: SDs of change, the enrolled composition, ANCOVA differences with 95% intervals."""

import math

import numpy as np
import pytest

from qsp.trial.analysis import ancova_difference
from qsp.trial.run import run_trial

SCENARIO = {
    "name": "uncertainty", "seed": 9, "n_per_arm": 60, "duration_weeks": 52, "assess_weeks": [24, 52],
    "measurement_noise": True,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28], "stage": ["mci", "mild_dementia"]},
    "arms": [{"name": "placebo"}, {"name": "donanemab", "regimen": "donanemab_standard"}],
}


@pytest.fixture(scope="module")
def result():
    return run_trial(SCENARIO)


def test_sd_of_change_is_that_of_the_observed_patients(result):
    out = result.to_json()
    records = result.records[(result.records["arm"] == "placebo") & result.records["observed"]]
    wide = records.pivot(index="patient_id", columns="week", values="iadrs_measured")
    expected = (wide[52.0] - wide[0.0]).std()
    assert out["arms"]["placebo"]["iadrs_change_sd"][-1] == pytest.approx(expected, rel=1e-6)
    assert all(len(out["arms"][a][f"{m}_change_sd"]) == 2 for a in ("placebo", "donanemab") for m in ("iadrs", "cdrsb", "amyloid_cl"))


def test_baseline_distribution_describes_the_enrolled_patients(result):
    dist = result.to_json()["arms"]["donanemab"]["baseline_distribution"]
    patients = result.patients[result.patients["arm"] == "donanemab"]
    assert sum(dist["pct"]["stage"].values()) == pytest.approx(100.0)
    assert dist["pct"]["stage"]["preclinical"] == 0.0 and dist["pct"]["stage"]["moderate_dementia"] == 0.0  # the criteria
    assert dist["pct"]["female"] == pytest.approx(100 * (patients["sex"] == "F").mean())
    assert dist["quantiles"]["mmse"]["p10"] >= 20 and dist["quantiles"]["mmse"]["p90"] <= 28
    assert dist["quantiles"]["amyloid_cl"]["p50"] == pytest.approx(np.percentile(patients["amyloid_cl"], 50), rel=1e-6)


def test_comparisons_carry_the_ancova_difference_and_its_interval(result):
    comparison = result.to_json()["comparisons"]["donanemab vs placebo"]
    rec = result.records[result.records["observed"]]
    def arrays(arm):
        wide = rec[rec["arm"] == arm].pivot(index="patient_id", columns="week", values="cdrsb_measured")
        return (wide[52.0] - wide[0.0]).to_numpy(), wide[0.0].to_numpy()
    expected, (lo, hi) = ancova_difference(*arrays("placebo"), *arrays("donanemab"))
    assert comparison["cdrsb_difference"][-1] == pytest.approx(expected, abs=1e-6)
    assert comparison["cdrsb_difference_ci95"][-1] == pytest.approx([lo, hi], abs=1e-6)
    assert all(math.isfinite(x) for pair in comparison["iadrs_difference_ci95"] for x in pair)
    assert set(comparison) >= {"amyloid_cl_difference", "iadrs_slowing_pct", "cdrsb_slowing_pct"}  # the old keys stay


def test_provenance_names_the_natural_history_pool(result):
    pool = result.provenance["population_pool"]
    assert len(pool["key"]) == 64 and pool["block_size"] > 0
