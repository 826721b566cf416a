"""Trial designer form <-> scenario, executor choice, runs with their all-comers comparison, and tables."""

import math

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.engine.model import Model
from qsp.engine.observables import parse_mapping
from qsp.engine.regimen import parse_regimen, regimen_library
from qsp.errors import InvalidInput
from qsp.trial import design as D
from qsp.trial.power import PowerSettings
from qsp.trial.run import run_trial
from qsp.trial.scenario import parse_scenario


def _form(**changes) -> dict:
    return {**D.form_defaults(), **changes}


# ------------------------------------------------------------------ form -> scenario


def test_default_form_gives_the_default_design():
    scenario = D.scenario_from_form(_form())
    assert [a.name for a in scenario.arms] == [a[0] for a in D.DEFAULT_ARMS]
    assert scenario.arms[0].regimen is None
    assert scenario.arms[1].regimen == regimen_library()["donanemab_standard"]
    assert scenario.assess_weeks == (24.0, 52.0, 76.0)
    assert scenario.population.amyloid_cl == (37.0, None)  # 300 CL: no upper limit
    assert scenario.population.mmse == (20, 28)


@pytest.mark.parametrize(("high", "expected"), [(300.0, None), (350.0, None), (299.0, 299.0), (100.0, 100.0)])
def test_amyloid_upper_bound_sentinel(high, expected):
    assert D.amyloid_range(30.0, high) == [30.0, expected]
    assert D.scenario_from_form(_form(amyloid_max=high)).population.amyloid_cl[1] == expected


def test_without_mmse_in_the_model_no_mmse_criterion():
    assert D.scenario_from_form(_form(), mmse_available=False).population.mmse is None


def test_empty_choices_admit_everyone_and_only_n_arms_count():
    scenario = D.scenario_from_form(_form(tau=[], apoe4=[], stage=[], n_arms=2))
    assert scenario.population.tau is None and scenario.population.apoe4_copies is None and scenario.population.stage is None
    assert len(scenario.arms) == 2


def test_custom_arm_reads_its_edited_table_and_stop_rule():
    table = pd.DataFrame([{"dose": 10.0, "unit": "mg/kg", "every_weeks": 2.0, "count": None, "route": ""},
                          {"dose": None, "unit": None, "every_weeks": None, "count": None, "route": None}],  # a blank row
                         columns=D.PHASE_COLUMNS)
    form = _form(n_arms=2, arm1_source="custom", arm1_drug="lecanemab", arm1_route="iv", arm1_phases_value=table,
                 arm1_stop=True, arm1_stop_below=15.0, arm1_stop_twice=20.0, arm1_stop_weeks="24; 52")
    regimen = D.scenario_from_form(form).arms[1].regimen
    assert regimen.drug == "lecanemab" and len(regimen.phases) == 1
    assert regimen.phases[0].unit == "mg/kg" and regimen.phases[0].count is None
    assert regimen.stop_rule.below_cl == 15.0 and regimen.stop_rule.at_weeks == (24.0, 52.0)


def test_custom_arm_without_an_edited_table_uses_its_stored_one():
    regimen = D.scenario_from_form(_form(n_arms=1, arm0_source="custom")).arms[0].regimen
    assert [(p.dose, p.count) for p in regimen.phases] == [(700.0, 3), (1400.0, None)]


def test_phase_count_is_an_integer_and_route_override_kept():
    table = pd.DataFrame([{"dose": 5.0, "unit": "", "every_weeks": 4.0, "count": 3.0, "route": "sc"}], columns=D.PHASE_COLUMNS)
    assert D.phases_from_table(table) == [{"dose": 5.0, "unit": "mg", "every_weeks": 4.0, "count": 3, "route": "sc"}]


def test_bad_weeks_name_the_field():
    with pytest.raises(InvalidInput, match="assess_weeks: write weeks as numbers"):
        D.scenario_from_form(_form(weeks="soon"))
    with pytest.raises(InvalidInput, match=r"Arm 2: regimen\.stop_rule\.at_weeks: write weeks"):  # as the page names arms
        D.scenario_from_form(_form(arm1_source="custom", arm1_stop=True, arm1_stop_weeks="x"))


def test_scenario_problems_are_reported_by_field():
    with pytest.raises(InvalidInput, match="after duration_weeks"):
        D.scenario_from_form(_form(weeks="24, 80", duration=52))


# ------------------------------------------------------------------ scenario -> form


def test_form_round_trip_keeps_the_scenario():
    custom = {"drug": "lecanemab", "route": "sc", "phases": [{"dose": 720, "every_weeks": 1}],
              "stop_rule": {"below_cl": 10, "at_weeks": [26]}}
    scenario = parse_scenario({
        "name": "round trip", "seed": 7, "n_per_arm": 40, "duration_weeks": 60, "assess_weeks": [30, 60],
        "population": {"amyloid_cl": [20, 150], "age": [55, None], "stage": ["mci"]},
        "arms": [{"name": "pbo"}, {"name": "lib", "regimen": "lecanemab_q2w"}, {"name": "own", "regimen": custom}],
    })
    form = D.form_from_scenario(scenario)
    assert form["arm1_source"] == "library" and form["arm1_library"] == "lecanemab_q2w"
    assert form["arm2_source"] == "custom" and form["arm2_stop_twice"] == D.STOP_TWICE_OFF_CL  # no twice-below threshold
    assert form["age"] == (55, 100) and form["mmse"] == D.MMSE_RANGE
    assert "arm0_drug" not in form  # a placebo arm leaves the custom fields alone
    back = D.scenario_from_form({**D.form_defaults(), **form})
    assert back.arms == scenario.arms
    assert back.population.amyloid_cl == (20.0, 150.0) and back.population.stage == ("mci",)
    assert (back.name, back.seed, back.n_per_arm, back.assess_weeks) == ("round trip", 7, 40, (30.0, 60.0))


def test_no_upper_amyloid_limit_shows_the_sentinel():
    scenario = parse_scenario({"n_per_arm": 5, "duration_weeks": 10, "assess_weeks": [10], "arms": [{"name": "a"}]})
    form = D.form_from_scenario(scenario, library={})
    assert (form["amyloid_min"], form["amyloid_max"]) == (D.AMYLOID_MIN_CL, D.AMYLOID_NO_LIMIT_CL)


def test_more_arms_than_the_form_holds_are_cut():
    arms = [{"name": f"a{i}"} for i in range(D.MAX_ARMS + 2)]
    scenario = parse_scenario({"n_per_arm": 5, "duration_weeks": 10, "assess_weeks": [10], "arms": arms})
    form = D.form_from_scenario(scenario, library={})
    assert form["n_arms"] == D.MAX_ARMS and f"arm{D.MAX_ARMS}_name" not in form


def test_a_regimen_outside_the_given_library_is_custom():
    scenario = parse_scenario({"n_per_arm": 5, "duration_weeks": 10, "assess_weeks": [10],
                               "arms": [{"name": "a", "regimen": "donanemab_standard"}]})
    assert D.form_from_scenario(scenario, library={})["arm0_source"] == "custom"


# ------------------------------------------------------------------ executor, choices


def test_executor_settings_from_the_form():
    assert D.executor_settings("this machine").backend == "serial"
    local = D.executor_settings("local Dask cluster", "tcp://ignored:1")
    assert (local.backend, local.scheduler) == ("dask", None)
    remote = D.executor_settings("Dask scheduler", "  tcp://host:8786 ")
    assert (remote.backend, remote.scheduler) == ("dask", "tcp://host:8786")
    with pytest.raises(InvalidInput, match="scheduler: give the Dask scheduler's address"):
        D.executor_settings("Dask scheduler", "  ")
    with pytest.raises(InvalidInput, match="backend: one of"):
        D.executor_settings("the cloud")


def test_choices_follow_what_the_model_provides():
    assert D.endpoint_choices(C.OBSERVABLES) == [C.IADRS, C.CDRSB, C.AMYLOID_CL, C.MMSE]
    assert D.endpoint_choices({C.CDRSB, C.AMYLOID_CL}) == [C.CDRSB, C.AMYLOID_CL]
    assert D.chart_measures({C.AMYLOID_CL}) == ["amyloid_cl_change", "amyloid_cleared_pct"]
    assert len(D.chart_measures(C.OBSERVABLES)) == len(D.MEASURE_NEEDS)


# ------------------------------------------------------------------ runs and tables

SMALL = {
    "name": "design", "seed": 3, "n_per_arm": 20, "duration_weeks": 52, "assess_weeks": [24, 52],
    "population": {"amyloid_cl": [37, None], "tau": ["low_medium", "high"]},
    "arms": [{"name": "placebo"}, {"name": "donanemab", "regimen": "donanemab_standard"}],
}
SETTINGS = PowerSettings(replicates=60, max_n_per_arm=200)


@pytest.fixture(scope="module")
def plain():
    return D.run_design(parse_scenario(SMALL), SETTINGS)


def _only_apoe4_carriers(candidates: pd.DataFrame) -> np.ndarray:
    return (candidates[C.APOE4] > 0).to_numpy()


@pytest.fixture(scope="module")
def enriched_pair(plain):
    seen = []
    pair = D.run_enriched_comparison(parse_scenario(SMALL), SETTINGS, _only_apoe4_carriers, progress=seen.append)
    return pair, seen


def test_run_design_equals_the_core_trial(plain):
    core = run_trial(parse_scenario(SMALL)).to_json()
    assert plain.result.to_json()["arms"] == core["arms"]
    assert list(plain.power["comparison"]) == ["donanemab vs placebo"]
    assert plain.enrichment is None
    out = plain.to_json()
    assert out["power_settings"]["replicates"] == 60 and out["power"][0]["comparison"] == "donanemab vs placebo"


def test_enriched_run_uses_the_filter_and_runs_all_comers_too(enriched_pair, plain):
    (enriched, all_comers), seen = enriched_pair
    assert (enriched.result.patients[C.APOE4] > 0).all()  # the filter was applied
    assert not (plain.result.patients[C.APOE4] > 0).all()  # and matters for this population
    assert enriched.enrichment["screened"] > enriched.enrichment["enrolled"]
    assert all_comers.enrichment is None
    assert all_comers.result.to_json()["arms"] == plain.result.to_json()["arms"]
    assert seen and max(seen) <= 1.0 and seen[-1] == pytest.approx(1.0)
    assert max(f for f in seen if f <= 0.5 + 1e-12) == pytest.approx(0.5)  # the first run fills half the bar


def test_a_given_all_comers_run_is_reused(plain):
    enriched, all_comers = D.run_enriched_comparison(parse_scenario(SMALL), SETTINGS, _only_apoe4_carriers, all_comers=plain)
    assert all_comers is plain


def test_enrichment_table_puts_both_designs_side_by_side(enriched_pair):
    (enriched, all_comers), _ = enriched_pair
    table = D.enrichment_table(enriched, all_comers)
    assert list(table["comparison"]) == ["donanemab vs placebo"]
    assert table["power (enriched)"].iloc[0] == enriched.power["power"].iloc[0]
    assert table["power (all comers)"].iloc[0] == all_comers.power["power"].iloc[0]
    assert table["screened per enrolled"].iloc[0] == pytest.approx(enriched.enrichment["screen_per_enrolled"])
    one_arm = D.TrialRun(enriched.result, enriched.power.iloc[0:0], enriched.trajectories, SETTINGS)
    assert D.enrichment_table(one_arm, all_comers) is None


def test_summary_table_has_the_last_week_per_arm(plain):
    table = D.summary_table(plain.result)
    arms = plain.result.to_json()["arms"]
    assert list(table["arm"]) == ["placebo", "donanemab"]
    assert table["iADRS change"].tolist() == [arms["placebo"]["iadrs_change"][-1], arms["donanemab"]["iadrs_change"][-1]]
    assert table["ARIA-E % APOE4=2"].iloc[1] == arms["donanemab"]["aria_e_pct_by_apoe4"]["2"][-1]
    slowing = plain.result.to_json()["comparisons"]["donanemab vs placebo"]["iadrs_slowing_pct"][-1]
    assert table["iADRS slowing %"].iloc[1] == slowing and table["iADRS slowing %"].isna().iloc[0]


def test_summary_table_of_an_uploaded_model_drops_what_it_lacks(plain):
    result = plain.result
    frame = D.summary_table(result).assign(**{"cleared %": math.nan})
    to_json = result.to_json()
    for arm in to_json["arms"].values():
        arm["amyloid_cleared_pct"] = [math.nan] * len(arm["amyloid_cleared_pct"])

    class Uploaded:  # a result whose arms lack % cleared, from a model whose mapping sets no APOE4
        scenario = result.scenario

        def to_json(self):
            return to_json

    unmapped = Model.__new__(Model)
    object.__setattr__(unmapped, "mapping", parse_mapping({"observables": {"amyloid_cl": "A"}}))
    table = D.summary_table(Uploaded(), unmapped)
    assert "cleared %" in frame and "cleared %" not in table
    assert not any(c.startswith("ARIA-E % APOE4") for c in table)
    with_apoe4 = Model.__new__(Model)
    object.__setattr__(with_apoe4, "mapping", parse_mapping({"observables": {"amyloid_cl": "A"}, "covariates": {"apoe4_copies": "G"}}))
    assert "ARIA-E % APOE4=1" in D.summary_table(Uploaded(), with_apoe4)


def test_power_display_names_the_target():
    shown = D.power_display_table(pd.DataFrame({"effect": [1.0], "required_n_per_arm": [90]}), 0.9)
    assert list(shown.columns) == ["effect (difference in mean change)", "arm size for 90% power"]


def test_library_regimens_parse_as_in_the_form():
    assert D.scenario_from_form(_form(n_arms=2, arm1_library="lecanemab_q2w")).arms[1].regimen == parse_regimen("lecanemab_q2w")
