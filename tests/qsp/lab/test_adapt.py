"""Observable mapping: an uploaded model runs in the dashboard's engine like the built-in one."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import yaml

from qsp import constants as C
from qsp import paths
from qsp.engine.model import Model, antimony_to_sbml, load_builtin_model
from qsp.engine.observables import BUILTIN_MAPPING, capabilities, parse_mapping
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput
from qsp.lab.adapt import adapt_model, check_mapping, load_mapping_file, provides_dashboard_ids
from qsp.lab.issues import Issue, messages

EXAMPLES = paths.ROOT / "models_sbml" / "examples"
PATIENT = {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}

# A one-compartment antibody model with an amyloid species, in the given time unit.
PK = """
model pk
  compartment c = 1;
  species A in c = 50; species T in c = 1.2; species S in c = 1; species D in c = 0;
  substanceOnly species D;
  J_el: D -> ; kel * D;
  J_a: -> A; ka;
  kel = {kel}; ka = {ka}; BW = 70; k_unused = 3;
end
"""


def pk_model(unit_days: float = 1.0) -> Model:
    """kel = 0.05/day and amyloid growing 0.1 CL/day, written in a time unit of ``unit_days`` days."""
    return Model(antimony_to_sbml(PK.format(kel=0.05 * unit_days, ka=0.1 * unit_days)), name="pk")


PK_MAPPING = {"observables": {"amyloid_cl": {"id": "A", "scale": 2.0, "offset": 5.0}, "tau_suvr": "T", "severity": "S"},
              "dose_target": {"id": "D", "scale": 0.5}}


def test_mapping_file_errors_name_each_field(tmp_path):
    with pytest.raises(InvalidInput) as err:
        parse_mapping({"observables": {"amyloid_cl": {"id": "A", "scale": 0}, "nonsense": "x"}, "time_unit": "fortnight"})
    text = "\n".join(err.value.problems)
    assert "observables.amyloid_cl.scale" in text and "nonsense" in text and "time_unit" in text
    with pytest.raises(InvalidInput, match="not both"):
        parse_mapping({"observables": {"aria_e_risk": "r"}, "aria_e_hazard_per_day": "h"})
    bad = tmp_path / "m.yaml"
    bad.write_text("observables: [unclosed", encoding="utf-8")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_mapping_file(bad)


def test_check_mapping_reports_ids_the_model_lacks_or_misuses():
    sbml = antimony_to_sbml("model m\n species A = 1; species n_doses = 0; B := 2*A; k = 1; J: A -> ; k*A\nend")
    problems = check_mapping(sbml, parse_mapping({
        "observables": {"amyloid_cl": "missing", "tau_suvr": "B"}, "dose_target": "k", "covariates": {"weight_kg": "B"}}))
    text = "\n".join(messages(problems))
    assert all(isinstance(p, Issue) and p.severity == "error" for p in problems)
    assert {"mapping.unknown_id", "mapping.state_not_integrated", "mapping.dose_target", "mapping.covariate",
            "mapping.reserved_ids"} <= {p.code for p in problems}
    assert "observables.amyloid_cl: 'missing'" in text
    assert "observables.tau_suvr: a state observable must map to a species" in text
    assert "dose_target: 'k' must be a species" in text
    assert "covariates.weight_kg" in text
    assert "rename them in the model: n_doses" in text


def test_state_is_set_through_the_inverse_of_the_link_and_unmapped_observables_are_nan():
    engine = Engine(adapt_model(pk_model(), parse_mapping(PK_MAPPING)))
    run = engine.run(PATIENT, None, np.array([0.0, 10.0]), state=(85.0, 1.4, 2.5))
    amyloid = run.values[:, C.OBSERVABLES.index(C.AMYLOID_CL)]
    # amyloid_cl = 5 + 2 A: set A = 40 at day 0, then A grows 0.1/day -> +0.2 CL/day
    assert amyloid == pytest.approx([85.0, 87.0], abs=1e-6)
    assert run.values[0, C.OBSERVABLES.index(C.TAU_SUVR)] == pytest.approx(1.4)
    assert run.values[0, C.OBSERVABLES.index(C.SEVERITY)] == pytest.approx(2.5)
    for missing in (C.IADRS, C.CDRSB, C.MMSE, C.CONC_UG_PER_ML, C.ARIA_E_RISK):
        assert missing not in engine.available
        assert np.isnan(run.values[:, C.OBSERVABLES.index(missing)]).all()


@pytest.mark.parametrize("unit", ["day", "week", "hour"])
def test_doses_follow_the_regimen_schedule_in_any_model_time_unit(unit):
    from qsp.engine.observables import TIME_UNITS_DAYS

    model = adapt_model(pk_model(TIME_UNITS_DAYS[unit]), parse_mapping({**PK_MAPPING, "time_unit": unit}))
    engine = Engine(model)
    regimen = parse_regimen("donanemab_modified_titration")
    days = np.arange(0.0, 200.0, 7.0) + 0.5
    run = engine.run(PATIENT, regimen, days, state=(85.0, 1.4, 2.5))
    schedule = regimen.schedule(PATIENT[C.WEIGHT_KG], days[-1])
    n_doses = run.values[:, C.OBSERVABLES.index(C.N_DOSES)]
    total = run.values[:, C.OBSERVABLES.index(C.DOSE_TOTAL_MG)]
    for k, day in enumerate(days):
        given = [mg for d, mg, _ in schedule if d <= day]
        assert n_doses[k] == len(given)
        assert total[k] == pytest.approx(sum(given))
    # the dose target holds the superposition of first-order decays of 0.5 x each dose
    rr = engine.rr
    drug = 0.5 * sum(mg * math.exp(-0.05 * (days[-1] - d)) for d, mg, _ in schedule)
    assert rr["D"] == pytest.approx(drug, rel=1e-4)


def test_stop_rule_stops_dosing_at_the_first_check_below_the_threshold():
    model = adapt_model(pk_model(), parse_mapping(PK_MAPPING))
    regimen = parse_regimen("donanemab_standard")
    days = np.arange(0.0, 600.0, 7.0)
    engine = Engine(model, {"ka": 0.0})  # amyloid stays where it starts
    low = engine.run(PATIENT, regimen, days, state=(6.0, 1.4, 2.5))
    first_check = regimen.stop_rule.check_days()[0]
    assert low.stopped_day == pytest.approx(first_check, abs=1e-6)
    assert low.values[-1, C.OBSERVABLES.index(C.N_DOSES)] == len(regimen.schedule(70.0, first_check))
    high = engine.run(PATIENT, regimen, days, state=(85.0, 1.4, 2.5))
    assert high.stopped_day is None


def test_regimens_the_mapping_cannot_give_are_refused_clearly():
    mapping = {"observables": {"tau_suvr": "T", "severity": "S"}}
    engine = Engine(adapt_model(pk_model(), parse_mapping(mapping)))
    with pytest.raises(InvalidInput, match="no dose target"):
        engine.run(PATIENT, parse_regimen("lecanemab_q2w"), np.array([0.0, 7.0]))
    with pytest.raises(InvalidInput, match="no species for amyloid_cl"):
        engine.run(PATIENT, None, np.array([0.0, 7.0]), state=(80.0, 1.3, 2.0))
    caps = capabilities(parse_mapping(mapping))
    assert "amyloid_cl" in caps["untreated projections (explorer, twin, trial placebo arms)"]


def test_covariates_reach_the_mapped_parameter():
    sbml = antimony_to_sbml("model m\n species A = 1; J: -> A; BW/70\n BW = 70\nend")
    mapping = parse_mapping({"observables": {"amyloid_cl": "A", "tau_suvr": "A", "severity": "A"}, "covariates": {"weight_kg": "BW"}})
    engine = Engine(adapt_model(Model(sbml), mapping))
    light = engine.run({**PATIENT, C.WEIGHT_KG: 35.0}, None, np.array([0.0, 10.0]), state=(1.0, 1.0, 1.0))
    heavy = engine.run({**PATIENT, C.WEIGHT_KG: 140.0}, None, np.array([0.0, 10.0]), state=(1.0, 1.0, 1.0))
    assert light.values[-1, 0] == pytest.approx(1.0 + 10 * 0.5)
    assert heavy.values[-1, 0] == pytest.approx(1.0 + 10 * 2.0)
    # a model that already names its weight parameter like the dashboard maps it to itself
    sbml = antimony_to_sbml("model m\n species A = 1; J: -> A; weight_kg/70\n weight_kg = 70\nend")
    own = parse_mapping({"observables": {"amyloid_cl": "A", "tau_suvr": "A", "severity": "A"}, "covariates": {"weight_kg": "weight_kg"}})
    run = Engine(adapt_model(Model(sbml), own)).run({**PATIENT, C.WEIGHT_KG: 140.0}, None, np.array([0.0, 10.0]), state=(1.0, 1.0, 1.0))
    assert run.values[-1, 0] == pytest.approx(1.0 + 10 * 2.0)


def test_builtin_model_is_described_by_the_same_mapping():
    builtin = load_builtin_model()
    assert builtin.mapping is None and provides_dashboard_ids(builtin)
    assert set(BUILTIN_MAPPING.available()) == set(C.OBSERVABLES)
    ids = set(builtin.parameter_ids) | set(builtin.species_ids) | set(builtin.rule_ids)
    assert {link.id for link in BUILTIN_MAPPING.observables.values()} <= ids
    assert BUILTIN_MAPPING.dose_target.id in builtin.species_ids
    assert set(BUILTIN_MAPPING.covariates.values()) <= set(builtin.parameter_ids)
    assert not provides_dashboard_ids(pk_model())


@pytest.fixture(scope="module")
def mini_ad() -> Model:
    from qsp.lab.adapt import load_user_model

    return load_user_model(EXAMPLES / "mini_ad.xml", EXAMPLES / "mini_ad_mapping.yaml")


def test_example_model_file_matches_its_antimony_source():
    sbml = antimony_to_sbml((EXAMPLES / "mini_ad.ant").read_text(encoding="utf-8"))
    assert Model(sbml).sha256 == Model((EXAMPLES / "mini_ad.xml").read_text(encoding="utf-8")).sha256


def test_trial_on_a_mapped_model_treats_and_reports_unavailable_endpoints(mini_ad):
    from qsp.trial.run import run_trial

    scenario = {"name": "mini", "n_per_arm": 12, "duration_weeks": 52, "assess_weeks": [26, 52], "seed": 4,
                "population": {"amyloid_cl": [30, None], "stage": ["mci"]},
                "arms": [{"name": "placebo"}, {"name": "lecanemab", "regimen": "lecanemab_q2w"}]}
    result = run_trial(scenario, model=mini_ad)
    summary = result.summary.set_index(["arm", "week"])
    assert summary.loc[("lecanemab", 52.0), "amyloid_cl_change"] < summary.loc[("placebo", 52.0), "amyloid_cl_change"] - 20
    assert summary.loc[("lecanemab", 52.0), "aria_e_pct"] > summary.loc[("placebo", 52.0), "aria_e_pct"]
    assert summary["iadrs_change"].isna().all() and summary["mmse_change"].isna().all()
    assert result.patients["stage"].eq("mci").all()
    with pytest.raises(InvalidInput, match="population.mmse: the model's mapping does not provide mmse"):
        run_trial({**scenario, "population": {"mmse": [20, 28]}}, model=mini_ad)


def test_trial_on_a_mapped_model_reruns_from_its_result_alone(mini_ad, tmp_path):
    from qsp.provenance.rerun import rerun
    from qsp.trial.run import run_trial

    scenario = {"name": "mini", "n_per_arm": 6, "duration_weeks": 26, "assess_weeks": [26], "seed": 9,
                "arms": [{"name": "placebo"}, {"name": "donanemab", "regimen": "donanemab_standard"}]}
    data = json.loads(json.dumps(run_trial(scenario, model=mini_ad).to_json()))
    assert data["provenance"]["mapping"]["time_unit"] == "week"
    _, diffs = rerun(data)
    assert diffs == []


def test_explorer_and_twin_run_on_a_mapped_model(mini_ad):
    from qsp.population.profile import project_profile
    from qsp.twin.fit import fit_twin
    from qsp.twin.forecast import forecast_twin
    from qsp.twin.result import synthetic_patient

    profile = {"age": 72, "sex": "F", "apoe4_copies": 1, "amyloid_cl": 90, "tau_suvr": 1.3, "cdrsb": 2.0}
    projection = project_profile(profile, {"lec": "lecanemab_q2w"}, years=2, n_draws=3, model=mini_ad)
    assert C.MMSE not in set(projection.trajectories["observable"])
    treated = projection.trajectories.query("regimen == 'lec' and observable == 'amyloid_cl'")["median"].iloc[-1]
    untreated = projection.trajectories.query("regimen == 'untreated' and observable == 'amyloid_cl'")["median"].iloc[-1]
    assert treated < untreated - 20
    with pytest.raises(InvalidInput, match="give CDR-SB"):
        project_profile({**profile, "cdrsb": None, "mmse": 25}, model=mini_ad)

    # a patient simulated from the model itself at a known time since onset: the twin finds that time
    patient, _ = synthetic_patient(PATIENT, {}, t0_years=22.0, weeks=[0, 26, 52], noise_seed=1, model=mini_ad)
    twin = fit_twin(patient, n_draws=100, model=mini_ad)
    t0 = twin.summary().set_index("parameter").loc["t0_years"]
    assert t0["p2_5"] <= 22.0 <= t0["p97_5"] and t0["p97_5"] - t0["p2_5"] < 10
    forecast = forecast_twin(twin, {"lec": parse_regimen("lecanemab_q2w")}, horizon_weeks=52)
    assert set(forecast.bands["observable"]) == {C.AMYLOID_CL, C.TAU_SUVR, C.CDRSB, C.ARIA_E_RISK}


def test_cli_runs_a_trial_on_an_uploaded_model_and_rejects_bad_mappings(tmp_path, capsys):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: s\nn_per_arm: 4\nduration_weeks: 26\nassess_weeks: [26]\narms: [{name: placebo}, "
                        "{name: lec, regimen: lecanemab_q2w}]\n", encoding="utf-8")
    out = tmp_path / "r.json"
    base = [sys.executable, "-m", "qsp", "trial", str(scenario), "--out", str(out), "--quiet"]
    model = ["--model", str(EXAMPLES / "mini_ad.xml")]
    ok = subprocess.run([*base, *model, "--mapping", str(EXAMPLES / "mini_ad_mapping.yaml")], capture_output=True, text=True, cwd=paths.ROOT)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(out.read_text())["provenance"]["model_name"] == "mini_ad (mapped)"
    bad = tmp_path / "bad.yaml"
    bad.write_text("observables: {amyloid_cl: nope}\n", encoding="utf-8")
    from qsp.cli.main import main

    for extra, message in (([*model, "--mapping", str(bad)], "'nope' is not a species"),
                           (model, "give a mapping file"),
                           (["--mapping", str(bad)], "give --model too")):
        # in this process (the run above went through `python -m qsp`): the same main(), without a start-up each
        assert main([*base[3:], *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_reserved_ids_initial_assignments_and_time_units_are_refused_before_any_compile():
    # a model with its own `severity` parameter would get a duplicate id (roadrunner can crash on those)
    sbml = antimony_to_sbml("model m\n species A = 1, T = 1, S = 1; severity = 3; J: -> A; 1\nend")
    mapping = parse_mapping({"observables": {"amyloid_cl": "A", "tau_suvr": "T", "cdrsb": "S"}})
    assert any("reserved" in p and "severity" in p for p in messages(check_mapping(sbml, mapping)))
    with pytest.raises(InvalidInput, match="severity"):
        adapt_model(Model(sbml), mapping)
    # an initial assignment reading a state species would not see the patient's state
    sbml = antimony_to_sbml("model m\n species A = 1, T = 1, S = 1, B; B = 2*A; J: -> A; 1\nend")
    assert any("initial assignment" in p for p in messages(check_mapping(sbml, mapping)))
    # a declared time unit wins over a wrong mapping
    sbml = antimony_to_sbml("model m\n species A = 1, T = 1, S = 1; J: -> A; 1\n unit minute = 60 second\n time_unit = minute\nend")
    assert check_mapping(sbml, mapping) == [
        Issue("error", "mapping.time_unit", "time_unit: the model declares its time in minutes; set time_unit: minute")]
    assert check_mapping(sbml, parse_mapping({**mapping.model_dump(), "time_unit": "minute"})) == []


def test_ode_style_models_map_parameters_with_rate_rules():
    sbml = antimony_to_sbml("model m\n A' = 0.1; T' = 0; S' = 0; D' = -0.05 * D; A = 1; T = 1; S = 1; D = 0\nend")
    mapping = parse_mapping({"observables": {"amyloid_cl": "A", "tau_suvr": "T", "cdrsb": "S"}, "dose_target": "D"})
    engine = Engine(adapt_model(Model(sbml), mapping))
    run = engine.run(PATIENT, parse_regimen("lecanemab_q2w"), np.array([0.0, 10.0]), state=(50.0, 1.3, 2.0))
    assert run.values[:, C.OBSERVABLES.index(C.AMYLOID_CL)] == pytest.approx([50.0, 51.0])
    assert engine.rr["D"] == pytest.approx(700.0 * math.exp(-0.5), rel=1e-4)  # 10 mg/kg x 70 kg at day 0


def test_results_of_an_unmapped_uploaded_model_rerun(tmp_path):
    from qsp.engine.simulate import simulate_patient
    from qsp.provenance.rerun import rerun

    text = (paths.BUILTIN_SBML.read_text(encoding="utf-8")
            .replace('id="tau_rate_per_yr" value="', 'id="tau_rate_per_yr" value="1', 1))
    edited = tmp_path / "edited.xml"
    edited.write_text(text, encoding="utf-8")
    out = tmp_path / "sim.json"
    res = subprocess.run([sys.executable, "-m", "qsp", "simulate", "--model", str(edited), "--weeks", "8", "--step-weeks", "4",
                          "--out", str(out)], capture_output=True, text=True, cwd=paths.ROOT)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert "model_sbml" in data["provenance"] and "mapping" not in data["provenance"]
    builtin = simulate_patient(data["provenance"]["patient"], None, weeks=8, step_weeks=4, state=(90, 1.3, 3.5))
    assert data["trajectory"]["tau_suvr"][-1] != pytest.approx(builtin["tau_suvr"].iloc[-1], rel=1e-9)  # the edit mattered
    _, diffs = rerun(data)
    assert diffs == []


def test_parameters_computed_from_a_covariate_follow_the_patient():
    sbml = antimony_to_sbml("model m\n species A = 1; J: -> A; V/3\n BW = 70; V = 3 * BW / 70; W = V * 2\nend")
    mapping = parse_mapping({"observables": {"amyloid_cl": "A", "tau_suvr": "A", "severity": "A"}, "covariates": {"weight_kg": "BW"}})
    engine = Engine(adapt_model(Model(sbml), mapping))
    for weight in (35.0, 140.0, 70.0):
        engine.run({**PATIENT, C.WEIGHT_KG: weight}, None, np.array([0.0, 10.0]), state=(1.0, 1.0, 1.0))
        assert engine.rr["V"] == pytest.approx(3 * weight / 70) and engine.rr["W"] == pytest.approx(6 * weight / 70)
    species = antimony_to_sbml("model m\n species A, B = 1; A = BW; J: -> B; 1\n BW = 70\nend")
    assert any("initial assignment of 'A' reads a covariate" in p for p in messages(check_mapping(species, parse_mapping(
        {"observables": {"amyloid_cl": "B", "tau_suvr": "B", "severity": "B"}, "covariates": {"weight_kg": "BW"}}))))


def test_mapped_observables_outside_their_scales_are_warned_about():
    from qsp.lab.adapt import PLAUSIBLE_RANGES, observable_range_issues

    sbml = antimony_to_sbml((paths.MODELS_DIR / "examples" / "mini_ad.ant").read_text(encoding="utf-8"))
    data = yaml.safe_load((paths.MODELS_DIR / "examples" / "mini_ad_mapping.yaml").read_text(encoding="utf-8"))
    assert observable_range_issues(adapt_model(Model(sbml), parse_mapping(data))) == []  # the shipped mapping is plausible
    data["observables"]["cdrsb"] = {"id": "Sev", "offset": 96106}
    data["observables"]["tau_suvr"] = {"id": "Tau", "scale": 10}
    issues = observable_range_issues(adapt_model(Model(sbml), parse_mapping(data)))
    assert [i.code for i in issues] == ["mapping.implausible_range"] * 2 and all(i.severity == "warning" for i in issues)
    assert "CDR-SB (points) is 96,106 at day 0" in issues[0].message and "outside its scale 0 to 18" in issues[0].message
    assert "outside its scale 0.8 to 4.5" in issues[1].message
    assert PLAUSIBLE_RANGES[C.MMSE] == (0, 30) and PLAUSIBLE_RANGES[C.IADRS] == (0, 144)
    assert PLAUSIBLE_RANGES[C.AMYLOID_CL] == (-30, 250)


def test_related_parameters_follow_reactions_rules_and_events():
    from qsp.lab.model_lab import default_outputs, related_parameters

    model = Model(antimony_to_sbml("model lab\n A -> B; k*A\n C -> ; m*C\n D := 2*q*B\n at (time > 1): A = A + u\n"
                                   " A = 10; B = 0; C = 5; k = 0.5; m = 0.1; q = 1; u = 2\nend"))
    assert related_parameters(model, "A") == ["k", "u"]
    assert related_parameters(model, "D") == ["q", "k", "u"]  # nearest first
    assert related_parameters(model, "C") == ["m"]
    assert default_outputs(model, 2) == ("A", "B")
