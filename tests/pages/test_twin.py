"""Digital twin page: renders an example, shows the core's stage, refits when a visit is added."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from tests.pages import table_with_column


def _run():
    at = AppTest.from_file(str(paths.ROOT / "pages/twin.py"), default_timeout=240)
    at.session_state["twin_regimens"] = ["donanemab_standard"]
    at.session_state["twin_horizon"] = 52
    return at.run()


def test_example_patient_shows_stage_forecasts_and_events():
    at = _run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Research use only" in c.value for c in at.caption)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Stage at the last visit"] in {"Preclinical", "MCI", "Mild dementia", "Moderate dementia", "Severe dementia"}
    events = table_with_column(at.dataframe, "90th percentile")
    assert set(events["regimen"]) == {"untreated", "donanemab_standard"}
    assert "regimen" in table_with_column(at.dataframe, "median %").columns


def test_choosing_another_example_and_an_observable():
    at = _run()
    at.selectbox(key="twin_example").set_value("ex-mild-003").run()
    assert not at.exception
    assert at.metric[0].value == "EX-MILD-003"
    at.selectbox(key="twin_observable").set_value("aria_e_risk").run()
    assert not at.exception
