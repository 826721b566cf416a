"""Exact re-runs from provenance records."""

import json

from qsp.cli.main import main

SCENARIO = {
    "name": "rerun", "seed": 9, "n_per_arm": 6, "duration_weeks": 24, "assess_weeks": [12, 24],
    "measurement_noise": True, "dropout_pct_per_year": 20,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
    "arms": [{"name": "placebo"}, {"name": "don", "regimen": "donanemab_standard"}],
}


def test_trial_rerun_is_identical_and_a_tampered_result_is_not(tmp_path, capsys):
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps(SCENARIO))
    first = tmp_path / "r.json"
    assert main(["trial", str(scenario), "--out", str(first), "--quiet"]) == 0
    assert main(["rerun", str(first), "--out", str(tmp_path / "again.json")]) == 0
    data = json.loads(first.read_text())
    data["arms"]["don"]["iadrs_change"][-1] += 0.5
    tampered = tmp_path / "t.json"
    tampered.write_text(json.dumps(data))
    assert main(["rerun", str(tampered), "--out", str(tmp_path / "again2.json")]) == 1
    assert "/arms/don/iadrs_change[1]" in capsys.readouterr().out


def test_simulation_rerun(tmp_path):
    out = tmp_path / "sim.json"
    assert main(["simulate", "--regimen", "lecanemab_q2w", "--weeks", "12", "--out", str(out)]) == 0
    assert main(["rerun", str(out), "--out", str(tmp_path / "again.json")]) == 0


def test_parameter_overrides_in_the_record_are_re_applied(tmp_path):
    from qsp.trial.run import run_trial

    res = run_trial(SCENARIO, parameter_overrides={"clin_rate_per_yr": 1.5}).to_json()
    path = tmp_path / "o.json"
    path.write_text(json.dumps(res))
    assert main(["rerun", str(path), "--out", str(tmp_path / "again.json")]) == 0


def test_not_a_result_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    assert main(["rerun", str(bad), "--out", str(tmp_path / "x.json")]) == 2
    bad.write_text("not json")
    assert main(["rerun", str(bad), "--out", str(tmp_path / "x.json")]) == 2
    assert "result: not JSON" in capsys.readouterr().err


def test_twin_rerun_needs_the_same_patient_data(tmp_path, capsys):
    from qsp import paths

    patient = paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv"
    out = tmp_path / "twin.json"
    assert main(["twin", str(patient), "--horizon-weeks", "26", "--out", str(out)]) == 0
    assert main(["rerun", str(out), "--out", str(tmp_path / "again.json"), "--patient", str(patient)]) == 0
    assert main(["rerun", str(out), "--out", str(tmp_path / "again.json")]) == 2
    other = paths.TWIN_EXAMPLES_DIR / "ex-pre-002.csv"
    assert main(["rerun", str(out), "--out", str(tmp_path / "again.json"), "--patient", str(other)]) == 2
    assert "hash differs" in capsys.readouterr().err


def test_an_enriched_trial_reruns_exactly_from_its_recorded_enrolment(tmp_path, capsys):
    """Issue 14: `qsp rerun` on an enriched result dropped the enrichment and reported "numbers differ"."""
    from qsp import constants as C
    from qsp.trial.run import run_trial

    enriched = run_trial(SCENARIO, enrolment_filter=lambda df: (df[C.APOE4] > 0).to_numpy()).to_json()
    assert len(enriched["provenance"]["enrichment"]["enrolled_candidates"]) == 12
    path = tmp_path / "enriched.json"
    path.write_text(json.dumps(enriched))
    assert main(["rerun", str(path), "--out", str(tmp_path / "again.json")]) == 0
    assert "identical" in capsys.readouterr().out
    del enriched["provenance"]["enrichment"]["enrolled_candidates"]  # a record from before they were kept
    path.write_text(json.dumps(enriched))
    assert main(["rerun", str(path), "--out", str(tmp_path / "again.json")]) == 2
    assert "lacks enrichment.enrolled_candidates" in capsys.readouterr().err
