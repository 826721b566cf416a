"""AppTest of the model lab: paste a model, read the report, simulate; numbers match the core."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.engine.model import Model, antimony_to_sbml
from qsp.lab.model_lab import simulate_lab
from tests.qsp.lab.test_check import DELAY

PAGE = str(paths.ROOT / "pages" / "model_lab.py")
DECAY = "model decay\n  A -> B; k*A\n  A = 10; B = 0; k = 0.5\nend\n"


def _result(at):
    return next(df.value for df in at.dataframe if "time" in df.value.columns)


@pytest.fixture
def at(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_pasted_antimony_is_checked_and_simulated_like_the_core(at):
    assert any("Research use only" in c.value for c in at.caption)
    assert any("simulatable" in m.value for m in at.markdown)
    at.text_area(key="lab_antimony").set_value(DECAY).run()
    at.number_input(key="lab_end").set_value(4.0).run()
    at.number_input(key="lab_points").set_value(9).run()
    at.multiselect(key="lab_outputs").set_value(["A", "B"]).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _result(at)
    core = simulate_lab(Model(antimony_to_sbml(DECAY)), 4.0, 9, ("A", "B"))
    assert list(shown.columns) == ["time", "A", "B"]
    np.testing.assert_allclose(shown.to_numpy(), core.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(shown["A"], 10 * np.exp(-0.5 * shown["time"]), rtol=1e-5)


def test_parameter_inputs_change_the_simulation(at):
    at.number_input(key="lab_end").set_value(2.0).run()
    at.multiselect(key="lab_outputs").set_value(["A"]).run()
    at.multiselect(key="lab_params").set_value(["k"]).run()
    at.number_input(key="lab_param_k").set_value(1.0).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _result(at)
    np.testing.assert_allclose(shown["A"], 10 * np.exp(-1.0 * shown["time"]), rtol=1e-5)


def test_model_tables_and_local_sensitivity(at):
    at.selectbox(key="lab_sens_output").set_value("A").run()
    at.number_input(key="lab_sens_end_10").set_value(2.0).run()
    at.button(key="lab_sens_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    reactions = next(df.value for df in at.dataframe if "rate law" in df.value.columns)
    assert reactions["rate law"].tolist() == ["k * A"]
    sens = next(df.value for df in at.dataframe if "scaled_sensitivity" in df.value.columns)
    # A(t) = A0 exp(-k t): d ln A / d ln k = -k t = -1 at k = 0.5, t = 2
    assert sens.set_index("parameter").loc["k", "scaled_sensitivity"] == pytest.approx(-1.0, rel=1e-4)


def test_unsupported_model_is_explained_and_not_simulated(at):
    at.radio(key="lab_source").set_value("Paste SBML").run()
    at.text_area(key="lab_sbml_text").set_value(DELAY).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("delay()" in e.value and "What you can do" in e.value for e in at.error)
    assert not any("time" in df.value.columns for df in at.dataframe)


def test_bad_antimony_names_the_problem(at):
    at.text_area(key="lab_antimony").set_value("model x\n  A -> ; k*\nend").run()
    assert not at.exception
    assert at.error and at.error[0].value.startswith("Antimony: Antimony error:")


def test_hostile_text_is_refused(at):
    at.radio(key="lab_source").set_value("Paste SBML").run()
    at.text_area(key="lab_sbml_text").set_value("/etc/passwd").run()
    assert not at.exception
    assert any("refused" in m.value for m in at.markdown)
    issues = next(df.value for df in at.dataframe if "severity" in df.value.columns)
    assert "a path or URL is not accepted" in issues["message"].iloc[0]


def test_global_sensitivity_sobol_and_morris(at):
    at.selectbox(key="lab_gsa_output").set_value("A").run()
    at.number_input(key="lab_gsa_time_10").set_value(2.0).run()
    assert next(m for m in at.multiselect if m.key.startswith("lab_gsa_params_")).value == ["k"]
    at.number_input(key="lab_gsa_budget").set_value(200).run()
    at.button(key="lab_gsa_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    sobol = next(df.value for df in at.dataframe if "ST" in df.value.columns)
    assert sobol["parameter"].tolist() == ["k"] and sobol["ST"].iloc[0] == pytest.approx(1.0, abs=0.05)
    assert any("evaluations in" in c.value for c in at.caption)
    at.radio(key="lab_gsa_method").set_value("morris").run()
    at.button(key="lab_gsa_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    morris = next(df.value for df in at.dataframe if "mu_star" in df.value.columns)
    assert morris["mu_star"].iloc[0] > 0


def test_global_sensitivity_errors_are_shown(at):
    at.number_input(key="lab_gsa_budget").set_value(10).run()
    at.button(key="lab_gsa_run").click().run()
    assert not at.exception
    assert any("budget: Sobol with 1 parameters needs at least 24 evaluations" in e.value for e in at.error)


def test_library_save_load_delete_and_diff(at):
    at.text_input(key="lab_save_name").set_value("decay")
    at.text_input(key="lab_save_who").set_value("ann")
    at.button(key="lab_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved as 'decay' by ann" in s.value for s in at.success)
    library = next(df.value for df in at.dataframe if "who" in df.value.columns)
    assert library["name"].tolist() == ["AD continuum (built-in)", "decay"]
    # change the pasted model: the diff against the saved version shows the new value of k
    at.text_area(key="lab_antimony").set_value(DECAY.replace("k = 0.5", "k = 0.9")).run()
    at.selectbox(key="lab_diff_old").set_value(next(o for o in at.selectbox(key="lab_diff_old").options if o.startswith("decay"))).run()
    diff = next(df.value for df in at.dataframe if "change" in df.value.columns)
    assert diff[["id", "change", "old", "new"]].values.tolist() == [["k", "changed", "0.5", "0.9"]]
    # load the saved version into the lab: it is pasted as SBML and simulates with k = 0.5
    decay = next(o for o in at.selectbox(key="lab_library_pick").options if o.startswith("decay"))
    at.selectbox(key="lab_library_pick").set_value(decay).run()
    at.button(key="lab_library_load").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.radio(key="lab_source").value == "Paste SBML"
    at.number_input(key="lab_end").set_value(2.0).run()
    np.testing.assert_allclose(_result(at)["A"], 10 * np.exp(-0.5 * _result(at)["time"]), rtol=1e-5)
    # the built-in model cannot be deleted; the saved one can
    builtin = at.selectbox(key="lab_library_pick").options[0]
    at.selectbox(key="lab_library_pick").set_value(builtin).run()
    assert at.button(key="lab_library_delete").disabled
    at.selectbox(key="lab_library_pick").set_value(decay).run()
    at.button(key="lab_library_delete").click().run()
    assert not at.exception
    library = next(df.value for df in at.dataframe if "who" in df.value.columns)
    assert library["name"].tolist() == ["AD continuum (built-in)"]


def test_repeated_dosing_on_the_page_matches_the_core(at):
    from qsp.lab.model_lab import with_repeated_dosing

    at.text_area(key="lab_antimony").set_value(DECAY).run()
    at.number_input(key="lab_end").set_value(4.0).run()
    at.number_input(key="lab_points").set_value(9).run()
    at.multiselect(key="lab_outputs").set_value(["A"]).run()
    at.checkbox(key="lab_dose_on").check()
    at.selectbox(key="lab_dose_species").set_value("A")
    at.number_input(key="lab_dose_amount").set_value(5.0)
    at.number_input(key="lab_dose_every").set_value(1.0)
    at.number_input(key="lab_dose_count").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = _result(at)
    dosed = with_repeated_dosing(Model(antimony_to_sbml(DECAY)), "A", 5.0, 1.0, 2, 0.0)
    np.testing.assert_allclose(shown.to_numpy(), simulate_lab(dosed, 4.0, 9, ("A",)).to_numpy(), rtol=1e-12)
    assert shown["A"].iloc[0] == pytest.approx(15.0)  # 10 initial + the first dose at time 0


def test_global_sensitivity_takes_per_parameter_ranges(at):
    from qsp.lab.sensitivity import global_sensitivity

    at.selectbox(key="lab_gsa_output").set_value("A").run()
    at.number_input(key="lab_gsa_time_10").set_value(2.0).run()
    at.radio(key="lab_gsa_method").set_value("morris").run()
    at.number_input(key="lab_gsa_budget").set_value(100).run()
    low = next(n for n in at.number_input if n.key.startswith("lab_gsa_lo_") and n.key.endswith("_k_50"))
    high = next(n for n in at.number_input if n.key.startswith("lab_gsa_hi_") and n.key.endswith("_k_50"))
    assert (low.value, high.value) == pytest.approx((0.25, 0.75))  # ±50% by default
    low.set_value(0.4)
    high.set_value(0.6).run()
    at.button(key="lab_gsa_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = next(df.value for df in at.dataframe if "mu_star" in df.value.columns)
    core = global_sensitivity(Model(antimony_to_sbml(DECAY)), "A", 2.0, {"k": (0.4, 0.6)}, "morris", 100, 60.0).table
    assert shown["mu_star"].iloc[0] == pytest.approx(core["mu_star"].iloc[0], rel=1e-9)
    low = next(n for n in at.number_input if n.key.startswith("lab_gsa_lo_") and n.key.endswith("_k_50"))
    low.set_value(0.9).run()
    at.button(key="lab_gsa_run").click().run()
    assert any("range of k must be finite with low < high" in e.value for e in at.error)
