"""``python -m qsp run-omex``, ``simulate --omex`` and ``simulate-sbml --omex``: archives in, archives out."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.cli.main import main
from qsp.engine.model import Model, antimony_to_sbml
from qsp.errors import ModelRefused
from qsp.lab.export import lab_archive, profile_archive
from qsp.lab.model_lab import simulate_lab, with_repeated_dosing
from qsp.lab.omex import export_archive, run_archive
from tests.qsp.lab.test_omex import DECAY, archive, make_zip, roadrunner_run, sedml

SETTINGS = "start: 0\nduration: 4\nsteps: 8\nvariables: A\nabsolute: 1e-7\nrelative: 1e-5\namount: \nconcentration: A\n"


def _run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _tellurium_report(path, monkeypatch) -> dict:
    """Every data generator of an archive as tellurium computes it (as a modeller would run it)."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import tellurium

    (result,) = tellurium.executeCombineArchive(str(path), createOutputs=False).values()
    return {k: v[:, 0] for k, v in result["dataGenerators"].items()}


def test_run_omex_writes_one_csv_per_output_and_exits_0(tmp_path, capsys):
    path = tmp_path / "a.omex"
    results = roadrunner_run(DECAY, 4.0, 9, ["A", "[A]"])
    path.write_bytes(export_archive(DECAY.decode(), 0.0, 4.0, 9, ["A", "[A]"], results))
    code, out, err = _run(["run-omex", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert table.columns.tolist() == ["time", "A", "[A]"] and len(table) == 9
    np.testing.assert_allclose(table.to_numpy(), results.to_numpy(), rtol=1e-5, atol=1e-9)
    assert "results.csv (9 rows x 3 columns)" in out


def test_run_omex_refuses_hostile_archives_with_exit_2_naming_the_source(tmp_path, capsys):
    path = tmp_path / "bad.omex"
    path.write_bytes(archive(sedml(source="https://example.org/model.xml")))
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "refused" in err and "https://example.org/model.xml" in err and "nothing is fetched" in err
    assert not (tmp_path / "out").exists()
    path.write_bytes(make_zip({"../evil.sedml": b"x"}))
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "evil.sedml" in err


def test_run_omex_limits_are_flags_and_environment_variables(tmp_path, capsys, monkeypatch):
    path = tmp_path / "a.omex"
    path.write_bytes(archive())
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "o"), "--max-archive-entries", "2"], capsys)
    assert code == 2 and "limit 2" in err and "--max-archive-entries" in err
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "o"), "--max-archive-bytes", "100"], capsys)
    assert code == 2 and "limit 100" in err and "--max-archive-bytes" in err
    monkeypatch.setenv("QSP_LAB_ARCHIVE_MAX_POINTS", "3")  # the test archive's simulation has more points
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "limit 3" in err and "QSP_LAB_ARCHIVE_MAX_POINTS" in err
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "o"), "--max-points", "0"], capsys)
    assert code == 2 and "--max-points: Input should be greater than 1 (got 0)" in err


def test_run_omex_exits_1_when_a_task_fails(tmp_path, capsys):
    path = tmp_path / "a.omex"
    path.write_bytes(archive())
    code, _, err = _run(["run-omex", str(path), "--out", str(tmp_path / "o"), "--timeout", "0.01"], capsys)
    assert code == 1 and "error:" in err and "QSP_LAB_TIMEOUT_S" in err


def test_simulate_omex_is_the_exact_run_and_tellurium_reproduces_it(tmp_path, capsys, monkeypatch):
    omex, csv = tmp_path / "run.omex", tmp_path / "run.csv"
    code, _, err = _run(["simulate", "--regimen", "lecanemab_q2w", "--weeks", "26", "--amyloid", "95", "--tau", "1.4",
                         "--cdrsb", "3", "--out", str(csv), "--omex", str(omex)], capsys)
    assert code == 0, err
    ours = pd.read_csv(csv)
    with zipfile.ZipFile(omex) as zf:
        assert {"model.xml", "simulation.sedml", "results.csv", "README.md", "manifest.xml"} <= set(zf.namelist())
        assert "dosing included" in zf.read("README.md").decode()
    generators = _tellurium_report(omex, monkeypatch)
    np.testing.assert_allclose(generators["dg_0"], ours["day"], rtol=1e-12)
    for i, column in enumerate(C.OBSERVABLES, start=1):  # within the solver tolerances (CSV at 6 digits)
        np.testing.assert_allclose(generators[f"dg_{i}"], ours[column], rtol=2e-5, atol=1e-5, err_msg=column)
    assert ours["n_doses"].iloc[-1] == generators[f"dg_{C.OBSERVABLES.index('n_doses') + 1}"][-1] == 14  # dosed q2w for 26 weeks
    assert ours["amyloid_cl"].iloc[0] == 95  # the day-0 state is in the archive's model


def test_simulate_omex_to_stdout_keeps_stdout_a_csv_and_checks_the_path_first(tmp_path, capsys):
    code, out, err = _run(["simulate", "--weeks", "4", "--omex", str(tmp_path / "r.omex")], capsys)
    assert code == 0 and out.startswith("week,day,") and "wrote" in err and (tmp_path / "r.omex").is_file()
    code, _, err = _run(["simulate", "--weeks", "4", "--omex", str(tmp_path / "missing" / "r.omex")], capsys)
    assert code == 2 and "--omex: directory does not exist" in err


def test_simulate_sbml_omex_reproduces_with_the_case_tolerances(tmp_path, capsys, monkeypatch):
    (tmp_path / "m.xml").write_bytes(DECAY)
    (tmp_path / "s.txt").write_text(SETTINGS)
    omex = tmp_path / "case.omex"
    code, out, err = _run(["simulate-sbml", str(tmp_path / "m.xml"), "--settings", str(tmp_path / "s.txt"),
                           "--out", str(tmp_path / "r.csv"), "--omex", str(omex)], capsys)
    assert code == 0, err
    ours = pd.read_csv(tmp_path / "r.csv")
    report = run_archive(omex.read_bytes()).outputs["results"]
    assert report.columns.tolist() == ["time", "[A]"]  # the suite's A is a concentration
    np.testing.assert_allclose(report["[A]"], ours["A"], rtol=1e-6)
    np.testing.assert_allclose(_tellurium_report(omex, monkeypatch)["dg_1"], ours["A"], rtol=1e-6)


def test_lab_archive_carries_dosing_and_parameter_changes():
    model = with_repeated_dosing(Model(antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5")), "A", 5.0, 1.0, 3, 0.5)
    result = simulate_lab(model, 4.0, 41, ("A",), {"k": 0.7})
    data = lab_archive(model, result, {"k": 0.7})
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "k = 0.7" in zf.read("README.md").decode()
    report = run_archive(data).outputs["results"]
    np.testing.assert_allclose(report["A"], result["A"], rtol=1e-5, atol=1e-8)


def test_antimony_imports_are_refused_on_every_path():
    with pytest.raises(ModelRefused, match="'import' statements read files from the server's disk"):
        antimony_to_sbml('import "/etc/passwd"\nmodel m\n A = 1\nend')


def test_an_explorer_patient_archive_reruns_to_the_same_numbers():
    profile = {"age": 70, "sex": "M", "apoe4_copies": 0, "amyloid_cl": 80, "tau_suvr": 1.2, "mmse": 25}
    data = profile_archive(profile, "lecanemab_q2w", years=1.0)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        ours = pd.read_csv(zf.open("results.csv"))
    report = run_archive(data).outputs["results"]
    assert report.columns.tolist() == ours.columns.tolist() and len(report) == 14  # every 4 weeks over a year
    np.testing.assert_allclose(report.to_numpy(), ours.to_numpy(), rtol=1e-4, atol=1e-6)
    assert ours["amyloid_cl"].iloc[0] == 80 and ours["n_doses"].iloc[-1] > 20


def test_lab_limits_come_from_the_environment_unless_a_flag_is_given(tmp_path, capsys, monkeypatch):
    import json

    (tmp_path / "m.xml").write_bytes(DECAY)
    monkeypatch.setenv("QSP_LAB_TIMEOUT_S", "0.001")
    monkeypatch.setenv("QSP_LAB_TIMEOUT_PER_COMPONENT_S", "0")
    code, out, _ = _run(["check-sbml", str(tmp_path / "m.xml")], capsys)
    report = json.loads(out)
    assert code == 2 and report["issues"][0]["code"] == "sandbox.timeout" and "0.001 s" in report["summary"]
    code, out, _ = _run(["check-sbml", str(tmp_path / "m.xml"), "--timeout", "60"], capsys)
    assert code == 0 and json.loads(out)["summary"].startswith("simulatable")
