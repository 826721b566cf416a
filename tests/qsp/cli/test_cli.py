"""The command-line contract: names, outputs and exit codes."""

import json
import subprocess
import sys

import pytest

from qsp.cli.main import main

SCENARIO = """
name: cli
seed: 3
n_per_arm: 12
duration_weeks: 52
assess_weeks: [24, 52]
population: {amyloid_cl: [37, null], mmse: [20, 28]}
arms:
  - name: placebo
  - name: donanemab
    regimen:
      drug: donanemab
      route: iv
      phases:
        - {dose: 700, unit: mg, every_weeks: 4, count: 3}
        - {dose: 1400, unit: mg, every_weeks: 4}
      stop_rule: {below_cl: 24.1, at_weeks: [24, 52]}
"""


def test_trial_writes_result_json(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "result.json"
    assert main(["trial", str(scenario), "--out", str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["arms"]["donanemab"]["n"] == 12
    assert "donanemab vs placebo" in result["comparisons"]
    assert result["provenance"]["scenario"]["seed"] == 3


def test_trial_accepts_json_scenarios(tmp_path):
    import yaml

    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps(yaml.safe_load(SCENARIO)))
    assert main(["trial", str(scenario), "--out", str(tmp_path / "r.json"), "--quiet", "--n-per-arm", "3"]) == 0


def test_invalid_scenario_exits_2_with_one_line_per_problem(tmp_path, capsys):
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: x\nn_per_arm: 0\nduration_weeks: 10\nassess_weeks: [20]\narms: [{name: a, regimen: nope}]\n")
    assert main(["trial", str(scenario), "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("error: n_per_arm:") for line in err)
    assert any("unknown regimen name 'nope'" in line for line in err)
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trial", "missing.yaml", "--out", "r.json"], "scenario: file not found"),
        (["trial", "{scenario}", "--out", "/no/such/dir/r.json"], "--out: directory does not exist"),
        (["simulate", "--sex", "X"], "--sex: must be F or M"),
        (["simulate", "--apoe4", "5", "--age", "10"], "--apoe4: must be 0, 1 or 2"),
        (["simulate", "--regimen", "unknown_regimen"], "unknown regimen name"),
        (["simulate", "--regimen", "missing.yaml"], "--regimen: file not found"),
        (["population", "--n", "0", "--out", "p.csv"], "--n: must be >= 1"),
        (["population", "--n", "10000000", "--out", "p.csv"], "--n: at most 100,000 patients"),  # issue 14
    ],
)
def test_bad_arguments_exit_2(args, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(SCENARIO)
    args = [a.replace("{scenario}", str(tmp_path / "s.yaml")) for a in args]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_garbage_scenario_file(tmp_path, capsys):
    bad = tmp_path / "garbage.yaml"
    bad.write_bytes(b"\x00\x01: [unclosed\n")
    assert main(["trial", str(bad), "--out", str(tmp_path / "r.json")]) == 2
    assert "error: scenario:" in capsys.readouterr().err


def test_simulate_prints_csv_with_units_in_columns(capsys):
    assert main(["simulate", "--regimen", "lecanemab_q2w", "--weeks", "4", "--step-weeks", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = lines[0].split(",")
    assert header[:3] == ["week", "day", "amyloid_cl"] and "conc_ug_per_ml" in header
    assert len(lines) == 4  # weeks 0, 2, 4


def test_simulate_regimen_from_file_and_json_with_provenance(tmp_path):
    regimen = tmp_path / "r.yaml"
    regimen.write_text("drug: gantenerumab\nroute: sc\nphases:\n  - {dose: 255, every_weeks: 4}\n")
    out = tmp_path / "sim.json"
    assert main(["simulate", "--regimen", str(regimen), "--weeks", "8", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["provenance"]["regimen"]["drug"] == "gantenerumab"
    assert data["trajectory"]["n_doses"][-1] == 3


def test_module_entry_point_runs():
    proc = subprocess.run([sys.executable, "-m", "qsp", "regimens"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "donanemab_standard" in proc.stdout


def test_no_command_is_a_usage_error():
    proc = subprocess.run([sys.executable, "-m", "qsp"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_empty_scenario_file_says_so(tmp_path, capsys):
    """Issue 14: an empty scenario said `expected a mapping, got NoneType`."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert main(["trial", str(empty), "--out", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == ["error: scenario: the file is empty"]


def test_negative_dose_is_one_clear_line(tmp_path, capsys):
    """Issue 14: dose -5 added a misleading second line ("phases: Tuple should have at least 1 item")."""
    regimen = tmp_path / "r.yaml"
    regimen.write_text("drug: donanemab\nphases:\n  - {dose: -5, every_weeks: 4}\n")
    assert main(["simulate", "--regimen", str(regimen), "--weeks", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "phases.0.dose: Input should be greater than 0 (got -5)" in err[0]
