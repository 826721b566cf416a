"""Model lab checks: hostile inputs, unsupported constructs, the corpus verdicts and the SBML Test Suite cases."""

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

import pytest

from qsp import paths
from qsp.cli.lab import add_commands
from qsp.errors import InvalidInput, QSPError
from qsp.lab.check import INVALID, REFUSED, SIMULATABLE, UNSUPPORTED, LabLimits, check_sbml
from qsp.lab.issues import Issue, SbmlReport, Unsupported
from qsp.lab.suite import compare_results, parse_settings, read_results, simulate_suite_case


def _corpus() -> Path:
    """The shared SBML corpus: $SBML_CORPUS, else ../shared/sbml-corpus beside the checkout, else /work/shared."""
    candidates = [os.environ.get("SBML_CORPUS"), paths.ROOT.parent / "shared" / "sbml-corpus", "/work/shared/sbml-corpus"]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return paths.ROOT.parent / "shared" / "sbml-corpus"


CORPUS = _corpus()
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"SBML corpus not found at {CORPUS}")
EXPECTED = list(csv.DictReader((CORPUS / "EXPECTED.tsv").open(), delimiter="\t")) if CORPUS.is_dir() else []

L3 = 'xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"'
DECAY = f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml {L3}>
 <model id="decay">
  <listOfCompartments><compartment id="c" size="1" constant="true"/></listOfCompartments>
  <listOfSpecies><species id="A" compartment="c" initialAmount="10" hasOnlySubstanceUnits="true"
   boundaryCondition="false" constant="false"/></listOfSpecies>
  <listOfParameters><parameter id="k" value="0.5" constant="true"/></listOfParameters>
  <listOfReactions><reaction id="R" reversible="false">
   <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
   <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci><ci>A</ci></apply></math></kineticLaw>
  </reaction></listOfReactions>
 </model>
</sbml>"""


def _with_rules(rules: str, header: str = L3) -> str:
    return DECAY.replace(L3, header).replace("</listOfReactions>", f"</listOfReactions><listOfRules>{rules}</listOfRules>")


MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'
DELAY = _with_rules(f'<assignmentRule variable="k"><math {MATH}><apply><csymbol encoding="text" '
                    'definitionURL="http://www.sbml.org/sbml/symbols/delay"> delay </csymbol><ci>A</ci><cn>1</cn>'
                    '</apply></math></assignmentRule>').replace('id="k" value="0.5" constant="true"', 'id="k" value="0.5" constant="false"')
ALGEBRAIC = _with_rules(f'<algebraicRule><math {MATH}><apply><minus/><ci>k</ci><cn>1</cn></apply></math></algebraicRule>'
                        ).replace('id="k" value="0.5" constant="true"', 'id="k" value="0.5" constant="false"')
FAST = (DECAY.replace(L3, 'xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1"')
        .replace('reversible="false"', 'reversible="false" fast="true"'))
QUAL_NS = 'xmlns:qual="http://www.sbml.org/sbml/level3/version1/qual/version1" qual:required="true"'
DISTRIB_NS = 'xmlns:distrib="http://www.sbml.org/sbml/level3/version1/distrib/version1" distrib:required="true"'
ARRAYS_NS = 'xmlns:arrays="http://www.sbml.org/sbml/level3/version1/arrays/version1" arrays:required="true"'

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="m" name="&lol2;"/></sbml>"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE sbml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"><model id="&xxe;"/></sbml>"""
COMP_NS = 'xmlns:comp="http://www.sbml.org/sbml/level3/version1/comp/version1" comp:required="true"'


def _external(source: str) -> str:
    return DECAY.replace(L3, f"{L3} {COMP_NS}").replace(
        "<model", f'<comp:listOfExternalModelDefinitions><comp:externalModelDefinition comp:id="e" '
                  f'comp:source="{source}" comp:modelRef="m"/></comp:listOfExternalModelDefinitions><model')


def _many_species(n: int) -> str:
    species = "".join(f'<species id="S{i}" compartment="c" initialAmount="1" hasOnlySubstanceUnits="true" '
                      'boundaryCondition="false" constant="false"/>' for i in range(n))
    return DECAY.replace("</listOfSpecies>", species + "</listOfSpecies>")


def _issue_text(report) -> str:
    return " | ".join(i.message for i in report.issues) + " | " + " | ".join(u.reason for u in report.unsupported)


def test_a_valid_model_is_simulatable_with_counts_and_level():
    report = check_sbml(DECAY)
    assert report.ok and report.verdict == SIMULATABLE, report
    assert (report.level, report.version) == (3, 2)
    assert report.counts["species"] == 1 and report.counts["reactions"] == 1 and report.counts["parameters"] == 1
    assert report.counts["total"] == 4
    assert not [i for i in report.issues if i.severity in ("error", "fatal")]
    assert any("components" in line for line in report.limits)
    json.dumps(report.to_json())  # the typed report gives JSON data


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "DTD or entity"),
        (EXTERNAL_ENTITY, "DTD or entity"),
        ("/etc/passwd", "a path or URL is not accepted"),
        ("https://example.org/model.xml", "a path or URL is not accepted"),
        ("file:///etc/passwd", "a path or URL is not accepted"),
        (DECAY.replace("http://www.sbml.org/sbml/level3/version2/core", "http://example.org/sbml"), "expected 'sbml'"),
        ("<html><body>not a model</body></html>", "root element is 'html'"),
        (DECAY[:-10], "not well-formed"),
        (b"\xff\xfe<\x00s\x00", "does not start with"),  # UTF-16 is not accepted
    ],
)
def test_hostile_or_foreign_text_is_refused_by_the_gate(text, message):
    report = check_sbml(text)
    assert report.verdict == REFUSED and not report.ok
    assert report.issues[0].code == "gate"
    assert re.search(message, report.issues[0].message), report.issues


def test_a_huge_model_is_refused_by_size_and_by_component_count():
    big = _many_species(300)
    assert check_sbml(big).verdict == SIMULATABLE  # within the defaults
    by_size = check_sbml(big, LabLimits(max_bytes=10_000))
    assert by_size.verdict == REFUSED and "model too large" in by_size.issues[0].message
    by_count = check_sbml(big, LabLimits(max_components=100))
    assert by_count.verdict == REFUSED and by_count.issues[0].code == "limit.components"
    assert "304 components, limit 100" in by_count.issues[0].message


def test_deeply_nested_xml_is_refused_before_libsbml_sees_it():
    nested = "<apply><minus/>" * 400 + "<cn>1</cn>" + "</apply>" * 400
    deep = DECAY.replace("<apply><times/><ci>k</ci><ci>A</ci></apply>", nested)
    report = check_sbml(deep)
    assert report.verdict == REFUSED and report.issues[0].code == "limit.depth"


def test_expensive_checks_are_skipped_above_the_component_threshold():
    report = check_sbml(DECAY, LabLimits(full_checks_max_components=2))
    assert report.verdict == SIMULATABLE
    assert any(i.code == "limit.checks" and "units" in i.message for i in report.issues)
    assert not any(i.code == "limit.checks" for i in check_sbml(DECAY).issues)


def test_invalid_mathml_is_reported_as_invalid_with_libsbml_messages():
    report = check_sbml(DECAY.replace("<times/>", "<frobnicate/>"))
    assert report.verdict == INVALID and not report.ok
    errors = [i for i in report.issues if i.severity in ("error", "fatal")]
    assert errors and all(isinstance(i.code, int) for i in errors)
    assert "frobnicate" in " ".join(i.message for i in errors)


def test_undefined_symbol_is_invalid():
    report = check_sbml(DECAY.replace("<ci>k</ci>", "<ci>nope</ci>"))
    assert report.verdict == INVALID
    assert "nope" in _issue_text(report)


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        (DELAY, "delay", "delay differential"),
        (ALGEBRAIC, "algebraic_rule", "algebraic"),
        (FAST, "fast_reaction", "fast reactions"),
        (DECAY.replace(L3, f"{L3} {QUAL_NS}"), "qual", "qualitative"),
        (DECAY.replace(L3, f"{L3} {DISTRIB_NS}"), "distrib", "distrib"),
        (DECAY.replace(L3, f"{L3} {ARRAYS_NS}"), "arrays", "arrays"),
    ],
)
def test_unsupported_constructs_are_found_before_compiling_with_what_to_do(text, code, words):
    report = check_sbml(text)
    assert report.verdict == UNSUPPORTED, report
    found = {u.code: u for u in report.unsupported}
    assert code in found, found
    assert words in found[code].reason and found[code].what_to_do


@pytest.mark.parametrize("source", ["/etc/passwd", "https://example.org/m.xml", "../../etc/passwd", "x.xml"])
def test_comp_external_files_are_not_read_from_an_upload(source, tmp_path):
    report = check_sbml(_external(source))
    assert report.verdict == UNSUPPORTED and report.unsupported[0].code == "external_model"
    # with a base directory: only relative files inside it, each through the gate
    inside = check_sbml(_external(source), base_dir=tmp_path)
    assert inside.verdict == REFUSED
    assert inside.issues[0].message.endswith(("URLs are not followed", "outside the model's directory", "file not found"))


def test_comp_external_file_inside_the_directory_passes_the_gate_too(tmp_path):
    (tmp_path / "x.xml").write_text(BOMB)
    report = check_sbml(_external("x.xml"), base_dir=tmp_path)
    assert report.verdict == REFUSED and "DTD or entity" in report.issues[0].message


def test_sandbox_time_limit_kills_the_check():
    report = check_sbml(_many_species(2000), LabLimits(timeout_s=0.05, timeout_per_component_s=0))
    assert report.verdict == REFUSED
    assert report.issues[0].code == "sandbox.timeout" and "time limit of 0.05 s" in report.issues[0].message
    assert "QSP_LAB_TIMEOUT_PER_COMPONENT_S" in report.issues[0].message and report.summary.startswith("refused: ")


def test_the_check_time_limit_grows_with_the_model_up_to_a_cap():
    limits = LabLimits(timeout_s=0.05, timeout_per_component_s=0.05, max_timeout_s=300)
    assert limits.check_time_limit(400) == pytest.approx(20.05)  # a larger model gets time to compile
    assert limits.check_time_limit(10**6) == 300  # never more than the cap
    assert check_sbml(_many_species(400), limits).verdict == SIMULATABLE  # the same model that 0.05 s alone kills
    assert any("per component" in line for line in limits.describe())


def test_absurd_models_are_refused_within_seconds_whatever_the_time_limit():
    import time

    start = time.monotonic()
    report = check_sbml(_many_species(25_000), LabLimits(max_timeout_s=3_600, timeout_per_component_s=1))
    assert report.verdict == REFUSED and report.issues[0].code == "limit.components"
    assert time.monotonic() - start < 10


def test_sandbox_memory_limit_stops_the_check():
    report = check_sbml(_many_species(3000), LabLimits(memory_mb=256))
    assert report.verdict == REFUSED
    assert any("memory" in i.message and i.severity == "fatal" for i in report.issues), report.issues


def test_limits_are_validated_and_name_the_field():
    with pytest.raises(ValueError, match="timeout_s"):
        LabLimits(timeout_s=-1)
    with pytest.raises(ValueError, match="max_components"):
        LabLimits(max_components=0)
    with pytest.raises(ValueError, match="Extra inputs"):
        LabLimits(max_sizes=3)


def test_limits_are_settable_from_the_environment(monkeypatch):
    monkeypatch.setenv("QSP_LAB_MAX_COMPONENTS", "7")
    assert LabLimits().max_components == 7


# ------------------------------------------------------------------ the corpus


def _expected_verdict(row) -> str:
    return SIMULATABLE if row["roadrunner_load"] == "OK" and row["roadrunner_simulate"] == "OK" else "not simulatable"


# Documented limits that refuse a model before roadrunner is asked: comp external files are not read
# from an upload (simulate-sbml reads them from the model's directory, see the suite test below).
DOCUMENTED_LIMITS = {"testsuite/01472/01472-sbml-l3v2.xml": "external_model"}


@needs_corpus
@pytest.mark.parametrize("row", EXPECTED, ids=[r["item"] for r in EXPECTED])
def test_corpus_verdict_matches_roadrunner(row):
    report = check_sbml((CORPUS / row["item"]).read_bytes())
    if row["item"] in DOCUMENTED_LIMITS:
        assert [u.code for u in report.unsupported] == [DOCUMENTED_LIMITS[row["item"]]]
        return
    got = SIMULATABLE if report.ok else "not simulatable"
    assert got == _expected_verdict(row), (report.verdict, _issue_text(report))
    if not report.ok:  # and it says why, in words
        assert report.unsupported or [i for i in report.issues if i.severity in ("error", "fatal")]
    codes = {u.code for u in report.unsupported}
    if "delay()" in row["features"]:
        assert "delay" in codes
    if "algebraicRules" in row["features"]:
        assert "algebraic_rule" in codes
    if "qual" in row["packages"]:
        assert "qual" in codes
    if "fbc" in row["packages"] and row["roadrunner_simulate"] == "FAIL":
        assert "fbc" in codes


# ------------------------------------------------------------------ the SBML Test Suite cases


def _cli(argv, capsys):
    """Run the model-lab commands as ``python -m qsp`` does (exit 2 and one line per problem on bad input)."""
    parser = argparse.ArgumentParser(prog="python -m qsp")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code = args.func(args)
    except InvalidInput as exc:
        print("\n".join(f"error: {p}" for p in exc.problems), file=sys.stderr)
        code = 2
    except QSPError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


SUITE = [r for r in EXPECTED if r["item"].startswith("testsuite/")]


@needs_corpus
@pytest.mark.parametrize("row", SUITE, ids=[r["item"].split("/")[1] for r in SUITE])
def test_suite_case_matches_results_or_is_refused_with_reason(row, tmp_path, capsys):
    model = CORPUS / row["item"]
    case = model.parent.name
    settings = model.parent / f"{case}-settings.txt"
    out = tmp_path / "result.csv"
    code, stdout, stderr = _cli(["simulate-sbml", str(model), "--settings", str(settings), "--out", str(out)], capsys)
    if row["testsuite_result"] == "PASS":
        assert code == 0, stderr
        problems = compare_results(read_results(out), read_results(model.parent / f"{case}-results.csv"),
                                   parse_settings(settings.read_text()))
        assert not problems, problems[:5]
    else:
        assert code == 2 and not out.exists()
        assert stderr.startswith("refused: unsupported: the model"), stderr
        assert "what to do:" in stderr


@needs_corpus
def test_suite_comparison_can_fail():
    case = CORPUS / "testsuite" / "00054"
    settings = parse_settings((case / "00054-settings.txt").read_text())
    expected = read_results(case / "00054-results.csv")
    got = simulate_suite_case(case / "00054-sbml-l3v2.xml", settings)
    assert compare_results(got, expected, settings) == []
    off = got.copy()
    off["S1"] = off["S1"] * 1.01
    problems = compare_results(off, expected, settings)
    assert problems and problems[0].startswith("S1 at t=")


def test_settings_problems_name_each_key():
    with pytest.raises(InvalidInput) as err:
        parse_settings("start: x\nduration: -1\nsteps: 0\nvariables:\nabsolute: 1e-3\nrelative: 1e-4")
    assert err.value.problems == [
        "--settings: start: expected a number, got 'x'",
        "--settings: variables: no variables listed",
        "--settings: duration: must be > 0, got -1.0",
        "--settings: steps: must be between 1 and 100000, got 0",
    ]


def test_simulate_sbml_refuses_unknown_variables_and_missing_files(tmp_path, capsys):
    model = tmp_path / "decay.xml"
    model.write_text(DECAY)
    settings = tmp_path / "s.txt"
    settings.write_text("start: 0\nduration: 2\nsteps: 4\nvariables: A, ghost\nabsolute: 1e-6\nrelative: 1e-6\namount: A\n")
    code, _, err = _cli(["simulate-sbml", str(model), "--settings", str(settings), "--out", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and "variables not in the model: ghost" in err
    code, _, err = _cli(["simulate-sbml", str(tmp_path / "none.xml"), "--settings", str(settings), "--out",
                         str(tmp_path / "r.csv")], capsys)
    assert code == 2 and "MODEL: file not found" in err


def test_simulate_sbml_matches_the_closed_form(tmp_path, capsys):
    import numpy as np

    model = tmp_path / "decay.xml"
    model.write_text(DECAY)
    settings = tmp_path / "s.txt"
    settings.write_text("start: 0\nduration: 4\nsteps: 8\nvariables: A\nabsolute: 1e-9\nrelative: 1e-9\namount: A\n")
    out = tmp_path / "r.csv"
    code, stdout, _ = _cli(["simulate-sbml", str(model), "--settings", str(settings), "--out", str(out)], capsys)
    assert code == 0 and "9 time points x 1 variables" in stdout
    result = read_results(out)
    assert list(result.columns) == ["time", "A"]
    np.testing.assert_allclose(result["A"], 10 * np.exp(-0.5 * result["time"]), rtol=1e-6)


@pytest.mark.parametrize(
    ("text", "exit_code", "verdict"),
    [(DECAY, 0, SIMULATABLE), (DECAY.replace("<times/>", "<frobnicate/>"), 1, INVALID), (DELAY, 2, UNSUPPORTED),
     (BOMB, 2, REFUSED)],
)
def test_check_sbml_cli_prints_the_report_and_exits_by_verdict(text, exit_code, verdict, tmp_path, capsys):
    file = tmp_path / "m.xml"
    file.write_text(text)
    code, stdout, _ = _cli(["check-sbml", str(file)], capsys)
    report = json.loads(stdout)
    assert code == exit_code and report["verdict"] == verdict
    assert list(report) == ["ok", "verdict", "level", "version", "counts", "issues", "unsupported", "limits", "summary"]
    assert all(list(i) == ["severity", "code", "message"] for i in report["issues"])
    assert all(list(u) == ["code", "reason", "what_to_do"] for u in report["unsupported"])
    assert report == check_sbml(text).to_json()  # the CLI prints the typed report's JSON, nothing else


def test_check_sbml_returns_a_typed_report_with_typed_issues():
    report = check_sbml(DECAY.replace("<times/>", "<frobnicate/>"))
    assert isinstance(report, SbmlReport) and all(isinstance(i, Issue) for i in report.issues)
    assert report.errors() and all(i.severity in ("error", "fatal") for i in report.errors())
    assert report.reasons() == [i.message for i in report.errors()]
    unsupported = check_sbml(DELAY)
    assert all(isinstance(u, Unsupported) for u in unsupported.unsupported) and unsupported.reasons()
    with pytest.raises(ValueError, match="severity: one of info, warning, error, fatal"):
        Issue("bad", "x", "message")


def test_check_sbml_cli_bad_arguments(tmp_path, capsys):
    code, _, err = _cli(["check-sbml", str(tmp_path / "missing.xml")], capsys)
    assert code == 2 and err.strip() == f"error: FILE: file not found: {tmp_path / 'missing.xml'}"
    (tmp_path / "m.xml").write_text(DECAY)
    code, _, err = _cli(["check-sbml", str(tmp_path / "m.xml"), "--timeout", "0"], capsys)
    assert code == 2 and "--timeout: Input should be greater than 0 (got 0.0)" in err
