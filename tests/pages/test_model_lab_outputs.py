"""AppTest of the model lab's defaults (issue 14, item 6): what is plotted, number format, sensitivity time, GSA parameters, mapped ranges."""

import json

import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.engine.model import Model, antimony_to_sbml
from qsp.lab.model_lab import default_outputs
from tests.pages.test_mapping_pages import MINI_ANT

PAGE = str(paths.ROOT / "pages" / "model_lab.py")
# A decays, B is produced from A; C is unrelated (its own parameter m); T is tiny
MODEL = "model lab\n A -> B; k*A\n C -> ; m*C\n T -> ; j*T\n A = 10; B = 0; C = 5; T = 3e-22; k = 0.5; m = 0.1; j = 0.2\nend\n"


@pytest.fixture
def at(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    app.text_area(key="lab_antimony").set_value(MODEL).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_after_a_new_model_the_outputs_box_shows_what_is_plotted(at):
    expected = list(default_outputs(Model(antimony_to_sbml(MODEL))))
    assert at.multiselect(key="lab_outputs").value == expected  # not an empty "Choose options"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert [trace["name"] for trace in chart["data"]] == expected
    assert any(c.value.startswith(f"Plotted: {', '.join(expected)}") for c in at.caption)
    at.multiselect(key="lab_outputs").set_value([]).run()
    assert any("choose at least one output" in e.value for e in at.error)
    assert not at.get("plotly_chart")  # nothing arbitrary is plotted


def test_tiny_values_are_shown_with_three_significant_digits(at):
    result = next(df for df in at.dataframe if "time" in df.value.columns)
    assert result.value["T"].iloc[0] == pytest.approx(3e-22)  # the value itself is untouched (downloads too)
    assert '"%.3g"' in result.proto.columns and "T" in result.proto.columns


def test_sensitivity_time_follows_the_end_time_and_is_bounded_by_it(at):
    assert at.number_input(key="lab_sens_end_10").value == 10
    at.number_input(key="lab_end").set_value(864000.0).run()
    for key in ("lab_sens_end_864000", "lab_gsa_time_864000"):
        box = at.number_input(key=key)
        assert box.value == 864000 and box.max == 864000


def test_global_sensitivity_defaults_to_the_parameters_of_the_chosen_output(at):
    at.selectbox(key="lab_gsa_output").set_value("B").run()
    sha = next(k for k in at.session_state if str(k).startswith("lab_gsa_params_")).split("_")[3]
    assert at.multiselect(key=f"lab_gsa_params_{sha}_B").value == ["k"]  # B <- A <- k; not m or j
    at.selectbox(key="lab_gsa_output").set_value("C").run()
    assert at.multiselect(key=f"lab_gsa_params_{sha}_C").value == ["m"]


def test_a_mapped_observable_outside_its_scale_is_flagged(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    app.text_area(key="lab_antimony").set_value(MINI_ANT).run()
    prefix = next(k for k in app.session_state if str(k).endswith("_amyloid_cl")).removesuffix("_amyloid_cl")
    app.selectbox(key=f"{prefix}_amyloid_cl").set_value("Abeta")
    app.selectbox(key=f"{prefix}_tau_suvr").set_value("Tau")
    app.selectbox(key=f"{prefix}_cdrsb").set_value("Sev")
    app.number_input(key=f"{prefix}_cdrsb_offset").set_value(96106.0)  # the "CDR-SB of 96,106" of the issue
    app.button(key="FormSubmitter:lab_mapping_form-Check mapping").click().run()
    assert not app.exception, [e.value for e in app.exception]
    warnings = [w.value for w in app.warning if "mapping.implausible_range" in w.value]
    assert warnings and "CDR-SB" in warnings[0] and "outside its scale 0 to 18" in warnings[0]
    assert not any("The mapping is consistent" in s.value for s in app.success)
