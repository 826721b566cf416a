"""The built-in model files agree with each other and every parameter is documented."""

import ast
from pathlib import Path

import numpy as np
import pytest

from qsp import constants as C
from qsp import paths
from qsp.engine.model import antimony_to_sbml, load_builtin_model
from qsp.engine.parameters import markdown_table, parameter_table
from qsp.engine.regimen import regimen_library
from qsp.engine.simulate import simulate_patient


def test_sbml_file_is_the_compiled_antimony_source():
    compiled = antimony_to_sbml(paths.BUILTIN_ANTIMONY.read_text(encoding="utf-8"))
    assert compiled == paths.BUILTIN_SBML.read_text(encoding="utf-8"), "run: python -m qsp compile-model"


def test_sbml_is_level3_version2_without_errors():
    import libsbml

    doc = libsbml.readSBMLFromString(paths.BUILTIN_SBML.read_text(encoding="utf-8"))
    assert (doc.getLevel(), doc.getVersion()) == (3, 2)
    doc.checkConsistency()
    errors = [doc.getError(i).getMessage() for i in range(doc.getNumErrors()) if doc.getError(i).isError()]
    assert errors == []


def test_parameter_table_documents_every_parameter_with_the_sbml_value():
    model = load_builtin_model()
    table = parameter_table()
    assert sorted(table.index) == sorted(model.parameter_ids)
    for pid in model.parameter_ids:
        assert table.loc[pid, "value"] == pytest.approx(model.defaults[pid]), pid
        assert isinstance(table.loc[pid, "source"], str) and table.loc[pid, "source"].strip(), pid
        assert isinstance(table.loc[pid, "unit"], str), pid


def test_readme_holds_the_current_parameter_table():
    readme = (paths.MODELS_DIR / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "regenerate the table in models_sbml/README.md from parameters.csv"


@pytest.mark.parametrize("name", sorted(regimen_library()))
def test_every_library_regimen_simulates_to_finite_values(name):
    df = simulate_patient({C.AGE: 74, C.SEX: "M", C.WEIGHT_KG: 82, C.APOE4: 2}, name, weeks=78, state=(100, 1.4, 4.0))
    assert np.isfinite(df.drop(columns=["week", "day"]).to_numpy()).all()
    assert df[C.N_DOSES].iloc[-1] >= 1
    assert df[C.AMYLOID_CL].iloc[-1] < df[C.AMYLOID_CL].iloc[0]  # every antibody removes plaque


def test_untreated_patient_declines_and_accumulates():
    df = simulate_patient({C.AGE: 74, C.SEX: "M", C.WEIGHT_KG: 82, C.APOE4: 1}, None, weeks=104, state=(70, 1.3, 3.0))
    first, last = df.iloc[0], df.iloc[-1]
    assert last[C.AMYLOID_CL] > first[C.AMYLOID_CL]
    assert last[C.TAU_SUVR] > first[C.TAU_SUVR]
    assert last[C.CDRSB] > first[C.CDRSB]
    assert last[C.IADRS] < first[C.IADRS]
    assert last[C.MMSE] < first[C.MMSE]
    assert last[C.N_DOSES] == 0 and last[C.CONC_UG_PER_ML] == 0


def test_more_tau_means_faster_decline():
    patient = {C.AGE: 72, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 1}
    low = simulate_patient(patient, None, weeks=76, state=(90, 1.25, 3.0))
    high = simulate_patient(patient, None, weeks=76, state=(90, 1.7, 3.0))
    assert (high[C.IADRS].iloc[-1] - 104) < (low[C.IADRS].iloc[-1] - 104)


def test_removing_amyloid_slows_decline_through_the_mechanism():
    """Treatment slows decline only as much as amyloid falls: no amyloid effect, no slowing."""
    patient = {C.AGE: 72, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 1}
    placebo = simulate_patient(patient, None, weeks=76, state=(90, 1.3, 3.0))
    treated = simulate_patient(patient, "donanemab_standard", weeks=76, state=(90, 1.3, 3.0))
    assert treated[C.CDRSB].iloc[-1] < placebo[C.CDRSB].iloc[-1]
    from qsp.engine.simulate import Engine

    # the same regimen with the drug's plaque removal switched off gives the placebo course
    engine = Engine(parameter_overrides={"don_amy_kmax_per_yr": 0.0})
    days = placebo["day"].to_numpy()
    from qsp.engine.regimen import parse_regimen

    run = engine.run(patient, parse_regimen("donanemab_standard"), days, state=(90, 1.3, 3.0))
    np.testing.assert_allclose(run.values[:, C.OBSERVABLES.index(C.CDRSB)], placebo[C.CDRSB], rtol=1e-4)


def _cdrsb_at_end(regimen, overrides):
    from qsp.engine.regimen import parse_regimen
    from qsp.engine.simulate import Engine

    patient = {C.AGE: 72, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 1}
    days = np.arange(0.0, 78 * 7 + 1, 7.0)
    run = Engine(parameter_overrides=overrides).run(patient, regimen and parse_regimen(regimen), days, state=(90, 1.3, 3.0))
    return run.values[-1, C.OBSERVABLES.index(C.CDRSB)], run.values[-1, C.OBSERVABLES.index(C.AMYLOID_CL)]


NO_REMOVAL = {"lec_amy_emax": 0.0, "don_amy_kmax_per_yr": 0.0, "adu_amy_emax": 0.0, "gan_amy_kmax_per_yr": 0.0}


def test_lecanemab_neutralises_plaque_harm_before_the_plaque_is_gone():
    """The protofibril term: lecanemab slows decline even with its plaque removal switched off."""
    placebo, placebo_amyloid = _cdrsb_at_end(None, {})
    lec, lec_amyloid = _cdrsb_at_end("lecanemab_q2w", NO_REMOVAL)
    assert lec_amyloid == pytest.approx(placebo_amyloid, rel=1e-6)  # no plaque removed
    assert lec < placebo - 0.05  # yet slower decline
    lec_off, _ = _cdrsb_at_end("lecanemab_q2w", {**NO_REMOVAL, "lec_pf_block": 0.0})
    assert lec_off == pytest.approx(placebo, rel=1e-4)


@pytest.mark.parametrize("regimen", ["donanemab_standard", "aducanumab_high", "gantenerumab_graduate"])
def test_other_antibodies_slow_decline_only_by_removing_plaque(regimen):
    placebo, _ = _cdrsb_at_end(None, {})
    treated, _ = _cdrsb_at_end(regimen, NO_REMOVAL)
    assert treated == pytest.approx(placebo, rel=1e-4)


def test_aria_risk_rises_with_apoe4_copies():
    risks = []
    for copies in (0, 1, 2):
        df = simulate_patient({C.AGE: 72, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: copies}, "lecanemab_q2w", weeks=78, state=(90, 1.3, 3.0))
        risks.append(df[C.ARIA_E_RISK].iloc[-1])
    assert risks[0] < risks[1] < risks[2]


def test_core_never_imports_streamlit_or_ml():
    for package in ("qsp", "ml"):
        for path in Path(paths.ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert not name.startswith("streamlit"), f"{path} imports {name}"
                    if package == "qsp":
                        assert not name.startswith("ml"), f"{path} imports {name}: qsp must not depend on ml"


def test_each_thread_gets_its_own_runner_and_the_same_numbers():
    import threading

    model = load_builtin_model()
    runners, results = {}, {}

    def work(name):
        runners[name] = model.runner()
        df = simulate_patient({C.AGE: 70, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 1}, "lecanemab_q2w", weeks=26, state=(90, 1.3, 3.0))
        results[name] = df[C.AMYLOID_CL].to_numpy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(r) for r in runners.values()}) == 3
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
