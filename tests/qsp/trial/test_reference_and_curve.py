"""A design shows its power against arm size, and its enrolled population beside the published trial's."""

import pytest

from qsp.trial.calibration import load_targets, reference_comparison
from qsp.trial.design import run_design
from qsp.trial.power import PowerSettings
from qsp.trial.run import run_trial
from qsp.trial.scenario import load_scenario, parse_scenario
from qsp.trial.targets import target_value

SCENARIO = {
    "name": "curve", "seed": 4, "n_per_arm": 80, "duration_weeks": 76, "assess_weeks": [76], "measurement_noise": True,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28], "stage": ["mci", "mild_dementia"]},
    "arms": [{"name": "placebo"}, {"name": "donanemab", "regimen": "donanemab_standard"}],
}


def test_power_curve_rises_with_arm_size_and_holds_the_designs_own_size():
    run = run_design(parse_scenario(SCENARIO), PowerSettings(endpoint="amyloid_cl", replicates=100))
    curve = run.power_curve.sort_values("n_per_arm")
    assert set(curve["comparison"]) == {"donanemab vs placebo"} and len(curve) >= 2
    assert curve["power"].iloc[-1] >= curve["power"].iloc[0]  # more patients, more power (amyloid: a large effect)
    own = curve[curve["n_per_arm"] == 80]["power"]
    assert len(own) == 1 and own.iloc[0] == pytest.approx(run.power["power"].iloc[0])


def test_composition_is_shown_beside_the_published_trial_named_by_the_scenario():
    scenario = load_scenario("data/scenarios/clarity_ad.yaml")
    assert scenario.reference == "CLARITY AD"
    result = run_trial(scenario.model_copy(update={"n_per_arm": 60}))
    table = reference_comparison(result)
    published = load_targets()
    expected = published[(published["trial"] == "CLARITY AD") & published["measure"].str.startswith("baseline")]
    assert len(table) == len(expected) > 0
    row = expected.iloc[0]
    assert table.iloc[0]["published"] == row["value"]
    assert table.iloc[0]["model"] == pytest.approx(target_value(result, row.to_dict()))


def test_no_reference_no_comparison():
    result = run_trial({**SCENARIO, "n_per_arm": 10})
    assert reference_comparison(result).empty
