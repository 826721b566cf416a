"""Trial engine: the RESULT.json contract, scenario validation, noise, dropout, failures."""

import math

import numpy as np
import pytest
import yaml

from qsp import constants as C
from qsp.engine.model import load_builtin_model
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput
from qsp.trial.endpoints import slowing_pct
from qsp.trial.run import candidate_index, run_trial
from qsp.trial.scenario import parse_scenario, scenario_from_text, scenario_to_yaml

BASE = {
    "name": "unit",
    "seed": 5,
    "n_per_arm": 30,
    "duration_weeks": 52,
    "assess_weeks": [24, 52],
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28], "tau": ["low_medium"]},
    "arms": [
        {"name": "placebo"},
        {"name": "donanemab", "regimen": "donanemab_standard"},
        {"name": "lecanemab", "regimen": {"drug": "lecanemab", "phases": [{"dose": 10, "unit": "mg/kg", "every_weeks": 2}]}},
    ],
}


@pytest.fixture(scope="module")
def result():
    return run_trial(BASE)


def test_result_json_has_the_contract_keys(result):
    out = result.to_json()
    assert set(out) >= {"scenario", "provenance", "arms", "comparisons"}
    prov = out["provenance"]
    assert prov["sbml_sha256"] == load_builtin_model().sha256
    assert prov["seed"] == 5 and prov["scenario"]["name"] == "unit"
    assert {"libroadrunner", "numpy", "python"} <= set(prov["versions"])
    assert prov["parameters"]["lec_cl"] == pytest.approx(0.4344)
    for name in ("placebo", "donanemab", "lecanemab"):
        arm = out["arms"][name]
        assert arm["n"] == 30 and arm["n_failed"] == 0
        assert arm["weeks"] == [24.0, 52.0]
        assert set(arm["baseline"]) == {"amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse", "age"}
        for key in ("amyloid_cl_change", "amyloid_cleared_pct", "tau_suvr_change", "iadrs_change", "cdrsb_change", "aria_e_pct"):
            assert len(arm[key]) == 2 and all(isinstance(v, float) for v in arm[key]), key
        assert set(arm["aria_e_pct_by_apoe4"]) == {"0", "1", "2"}
    assert set(out["comparisons"]) == {"donanemab vs placebo", "lecanemab vs placebo"}
    comp = out["comparisons"]["donanemab vs placebo"]
    assert set(comp) == {"amyloid_cl_difference", "iadrs_slowing_pct", "cdrsb_slowing_pct", "iadrs_difference",
                         "iadrs_difference_ci95", "cdrsb_difference", "cdrsb_difference_ci95"}


def test_endpoints_are_computed_from_the_records(result):
    """Arm means in the JSON equal means recomputed from the per-patient records."""
    out = result.to_json()
    rec = result.records
    for arm in ("placebo", "donanemab"):
        r = rec[rec["arm"] == arm]
        base = r[r["week"] == 0].set_index(C.PATIENT_ID)[C.IADRS]
        end = r[r["week"] == 52].set_index(C.PATIENT_ID)[C.IADRS]
        assert out["arms"][arm]["iadrs_change"][-1] == pytest.approx((end - base).mean(), abs=1e-5)
        cleared = 100 * (r[r["week"] == 52][C.AMYLOID_CL] < 24.1).mean()
        assert out["arms"][arm]["amyloid_cleared_pct"][-1] == pytest.approx(cleared)
    d, p = out["arms"]["donanemab"], out["arms"]["placebo"]
    comp = out["comparisons"]["donanemab vs placebo"]
    assert comp["amyloid_cl_difference"][-1] == pytest.approx(d["amyloid_cl_change"][-1] - p["amyloid_cl_change"][-1], abs=1e-5)
    assert comp["iadrs_slowing_pct"][-1] == pytest.approx(100 * (1 - d["iadrs_change"][-1] / p["iadrs_change"][-1]), abs=1e-4)


def test_treatment_beats_placebo(result):
    out = result.to_json()
    d, p = out["arms"]["donanemab"], out["arms"]["placebo"]
    assert d["amyloid_cl_change"][-1] < p["amyloid_cl_change"][-1] - 40
    assert d["aria_e_pct"][-1] > p["aria_e_pct"][-1]
    assert d["iadrs_change"][-1] > p["iadrs_change"][-1]  # less decline


def test_arms_get_different_patients_and_rerun_is_identical(result):
    ids = result.patients.groupby("arm")[C.PATIENT_ID].apply(set)
    assert not (ids["placebo"] & ids["donanemab"])
    again = run_trial(BASE).to_json()
    first = result.to_json()
    first["provenance"].pop("versions"), again["provenance"].pop("versions")
    assert first == again


def test_noise_and_dropout_change_what_is_observed():
    noisy = run_trial({**BASE, "arms": BASE["arms"][:1], "measurement_noise": True, "dropout_pct_per_year": 40})
    rec = noisy.records
    week52 = rec[rec["week"] == 52]
    assert week52["observed"].mean() < 0.9  # about 40%/yr drop out
    diff = week52[f"{C.AMYLOID_CL}_measured"] - week52[C.AMYLOID_CL]
    assert 2 < diff.std() < 6  # 4 CL measurement SD
    out = noisy.to_json()["arms"]["placebo"]
    assert out["n_observed"][-1] == int(week52["observed"].sum())


def test_measured_scores_drift_per_patient_so_their_error_grows_with_time():
    """Visit noise plus each patient's zero-mean drift (``SCORE_DRIFT_SD_PER_YEAR``): the error of a measured
    change grows with time, is shared between a patient's visits, and has no mean."""
    scenario = {**BASE, "n_per_arm": 400, "duration_weeks": 104, "assess_weeks": [12, 104],
                "arms": BASE["arms"][:1], "measurement_noise": True}
    rec = run_trial(scenario).records
    for name in (C.IADRS, C.CDRSB):
        error = (rec[f"{name}_measured"] - rec[name]).to_numpy().reshape(-1, 3)  # patients x (0, 12, 104 weeks)
        change_error = error[:, 1:] - error[:, :1]
        years = np.array([12, 104]) / C.WEEKS_PER_YEAR
        expected = np.sqrt(2 * C.MEASUREMENT_SD[name] ** 2 + (C.SCORE_DRIFT_SD_PER_YEAR[name] * years) ** 2)
        np.testing.assert_allclose(change_error.std(axis=0), expected, rtol=0.12)
        drift = error[:, 2] - error[:, 1]  # the part of the late error that grew since week 12
        assert np.corrcoef(drift, error[:, 2] - error[:, 0])[0, 1] > 0.6  # 0.5 with visit noise alone, ~0.7 with drift
        assert abs(change_error[:, 1].mean()) < 3 * expected[1] / np.sqrt(len(error))
        assert error[:, 0].std() == pytest.approx(C.MEASUREMENT_SD[name], rel=0.12)  # no drift yet at baseline


def test_a_patients_score_drift_is_theirs_whatever_the_arm_or_the_dropout(monkeypatch):
    """Paired arms hold the same patients: each keeps one drift (a trait, not a draw of the arm), and switching
    dropout on changes which visits are observed, not the measured values."""
    from qsp.trial.run import score_drift

    scenario = {**BASE, "n_per_arm": 20, "paired_arms": True, "measurement_noise": True, "arms": BASE["arms"][:2]}
    with_dropout = run_trial({**scenario, "dropout_pct_per_year": 40}).records
    for name in (C.IADRS, C.CDRSB):
        monkeypatch.setitem(C.MEASUREMENT_SD, name, 0.0)  # visit noise off: what is left of the error is the drift
    rec = run_trial(scenario).records
    week52 = rec[rec["week"] == 52].set_index(["arm", C.PATIENT_ID])
    error = week52[f"{C.IADRS}_measured"] - week52[C.IADRS]
    assert error.abs().max() > 0.1
    assert np.allclose(error.loc["placebo"], error.loc["donanemab"].reindex(error.loc["placebo"].index), atol=1e-9)
    for pid, value in error.loc["placebo"].items():
        assert value == pytest.approx(score_drift(BASE["seed"], pid)[C.IADRS] * 52 / C.WEEKS_PER_YEAR, abs=1e-9)
    monkeypatch.undo()
    again = run_trial(scenario).records
    assert with_dropout[f"{C.IADRS}_measured"].equals(again[f"{C.IADRS}_measured"])
    quiet = run_trial({**scenario, "measurement_noise": False}).records
    assert quiet[f"{C.IADRS}_measured"].equals(quiet[C.IADRS])  # no noise, no drift


def test_failed_patients_are_counted_not_dropped():
    """A fast-growing term (here a negative plateau: finite-time blow-up) makes CVODE fail."""
    from qsp.population.sampling import sample_population

    pop = sample_population(8, BASE["population"], seed=5)
    scenario = {**BASE, "n_per_arm": 4, "arms": BASE["arms"][:2]}
    res = run_trial(scenario, parameter_overrides={"amy_plateau_cl": -0.01, "amy_growth_per_yr": 100.0}, population=pop)
    out = res.to_json()
    assert out["arms"]["donanemab"]["n"] == 4
    assert out["arms"]["donanemab"]["n_failed"] == 4
    assert out["arms"]["donanemab"]["iadrs_change"] == [None, None]
    assert res.patients["error"].str.contains("CVODE").all()


def test_slowing_is_undefined_without_reference_decline():
    assert slowing_pct(-1.0, 0.0) is None
    assert slowing_pct(math.nan, -2.0) is None
    assert slowing_pct(-1.0, -2.0) == 50.0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_per_arm": 0}, r"n_per_arm: .*greater than or equal to 1 \(got 0\)"),
        ({"assess_weeks": [52, 24]}, "assess_weeks: assessment weeks must be strictly increasing"),
        ({"assess_weeks": [24, 80]}, r"last assessment \(week 80\) is after duration_weeks \(52\)"),
        ({"arms": [{"name": "a"}, {"name": "a"}]}, "arm names must be unique"),
        ({"arms": [{"name": "x", "regimen": "nonsense"}]}, "unknown regimen name 'nonsense'"),
        ({"arms": [{"name": "x", "regimen": {"drug": "donanemab", "phases": [{"dose": -1, "every_weeks": 4}]}}]}, r"arms.0.regimen.phases.0.dose"),
        ({"dropout_pct_per_year": 120}, "dropout_pct_per_year"),
        ({"population": {"mmse": [30, 20]}}, "population.mmse: range minimum"),
        ({"colour": "blue"}, "colour: Extra inputs are not permitted"),
    ],
)
def test_invalid_scenarios_name_the_field(change, message):
    with pytest.raises(InvalidInput, match=message):
        parse_scenario({**BASE, **change})


def test_scenario_yaml_round_trip():
    scenario = parse_scenario(BASE)
    assert scenario_from_text(scenario_to_yaml(scenario)) == scenario
    assert yaml.safe_load(scenario_to_yaml(scenario))["arms"][1]["regimen"]["drug"] == "donanemab"


def test_unparseable_scenario_text():
    with pytest.raises(InvalidInput, match="scenario: not valid YAML/JSON"):
        scenario_from_text("name: [unclosed")
    with pytest.raises(InvalidInput, match="expected a mapping"):
        scenario_from_text("- just a list")


def test_enrolment_filter_enrols_only_passing_patients_and_reports_screening():
    scenario = {**BASE, "n_per_arm": 10, "arms": BASE["arms"][:2]}
    res = run_trial(scenario, enrolment_filter=lambda df: (df[C.APOE4] == 0).to_numpy())
    assert (res.patients[C.APOE4] == 0).all()
    assert res.screening["enrolled"] == 20
    assert res.screening["screen_per_enrolled"] > 1.5
    assert np.isclose(res.screening["screened"] / 20, res.screening["screen_per_enrolled"])


def test_screening_counts_candidates_up_to_the_last_enrolled_not_whole_batches():
    """Issue 14: 2500 screened were reported where the 500th enrolled was candidate 2432."""
    scenario = {**BASE, "n_per_arm": 10, "arms": BASE["arms"][:2]}
    seen = []

    def keep(df):
        seen.extend(df[C.PATIENT_ID])
        return (df[C.APOE4] == 0).to_numpy()

    res = run_trial(scenario, enrolment_filter=keep)
    last = res.patients[C.PATIENT_ID].iloc[-1]
    assert res.screening["screened"] == seen.index(last) + 1 < len(seen)
    assert res.screening["enrolled_candidates"] == [candidate_index(p) for p in res.patients[C.PATIENT_ID]]


def test_a_recorded_enrolment_re_runs_the_enriched_trial_exactly_without_the_filter():
    scenario = {**BASE, "n_per_arm": 6, "arms": BASE["arms"][:2]}
    enriched = run_trial(scenario, enrolment_filter=lambda df: (df[C.APOE4] == 0).to_numpy())
    again = run_trial(scenario, enrolled_candidates=enriched.provenance["enrichment"]["enrolled_candidates"])
    assert again.to_json()["arms"] == enriched.to_json()["arms"]
    assert again.to_json()["comparisons"] == enriched.to_json()["comparisons"]
    with pytest.raises(InvalidInput, match="enrolled_candidates: 3 candidates recorded, 12 needed"):
        run_trial(scenario, enrolled_candidates=[1, 2, 3])


def test_overrides_do_not_leak_into_later_engines_on_the_same_thread():
    patient = {C.AGE: 70, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 0}
    days = np.array([0.0, 365.0])
    plain = Engine().run(patient, None, days, state=(60, 1.2, 2)).values
    overridden = Engine(parameter_overrides={"amy_growth_per_yr": 3.0}).run(patient, None, days, state=(60, 1.2, 2)).values
    amyloid = C.OBSERVABLES.index(C.AMYLOID_CL)
    assert overridden[-1, amyloid] > plain[-1, amyloid] + 0.5  # the override took effect
    np.testing.assert_array_equal(Engine().run(patient, None, days, state=(60, 1.2, 2)).values, plain)


def test_paired_arms_give_every_arm_the_same_patients():
    res = run_trial({**BASE, "n_per_arm": 8, "paired_arms": True})
    ids = res.patients.groupby("arm")[C.PATIENT_ID].apply(list)
    assert ids["placebo"] == ids["donanemab"] == ids["lecanemab"]
    base = res.records[res.records["week"] == 0].pivot(index=C.PATIENT_ID, columns="arm", values=C.IADRS)
    assert (base["placebo"] == base["donanemab"]).all()  # same baseline, different treatment


def test_a_model_lab_run_on_the_same_thread_does_not_leak_into_a_trial():
    """The lab sets parameters on the thread's shared runner; a trial afterwards must not see them."""
    from qsp.engine.model import load_builtin_model
    from qsp.lab.model_lab import simulate_lab

    scenario = {**BASE, "n_per_arm": 4}
    before = run_trial(scenario).to_json()["arms"]
    model = load_builtin_model()
    simulate_lab(model, 10.0, 2, (C.AMYLOID_CL,), {"amy_growth_per_yr": 5 * model.defaults["amy_growth_per_yr"]})
    assert run_trial(scenario).to_json()["arms"] == before
