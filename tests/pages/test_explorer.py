"""Continuum explorer page: numbers shown equal the core's."""

import pandas as pd
from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.population.profile import project_profile
from tests.pages import table_with_column


def test_stage_and_next_stage_match_the_core():
    at = AppTest.from_file(str(paths.ROOT / "pages/explorer.py"), default_timeout=240).run()
    at.number_input(key="explorer_age").set_value(75.0)
    at.selectbox(key="explorer_score_kind").set_value("CDR-SB")
    at.number_input(key="explorer_score").set_value(5.0)
    at.multiselect(key="explorer_regimens").set_value(["lecanemab_q2w"])
    at.slider(key="explorer_draws").set_value(10)
    at.slider(key="explorer_years").set_value(3)
    at.button[0].click().run()
    assert not at.exception
    assert at.metric[0].value == "Mild dementia"
    core = project_profile(
        {"age": 75.0, "sex": "F", "weight_kg": 70.0, "apoe4_copies": 1, "amyloid_cl": 90.0, "tau_suvr": 1.3, "cdrsb": 5.0},
        {"lecanemab_q2w": "lecanemab_q2w"}, years=3.0, n_draws=10,
    )
    table = table_with_column(at.dataframe, "next stage")
    assert list(table["regimen"]) == ["Untreated", "Lecanemab 10 mg/kg IV every 2 weeks"]  # labels, not ids
    expected = core.next_stage["untreated"]["median_years"]
    shown = table.loc[table["regimen"] == "Untreated", "median time"].iloc[0]
    assert shown == (f"{expected:.1f} y" if expected != float("inf") else "> 3 y")


def test_bad_profile_is_reported_next_to_the_form():
    at = AppTest.from_file(str(paths.ROOT / "pages/explorer.py"), default_timeout=240).run()
    at.selectbox(key="explorer_score_kind").set_value("MMSE")
    at.number_input(key="explorer_score").set_value(45.0)  # MMSE is 0-30
    at.button[0].click().run()
    assert not at.exception
    assert any("profile.mmse" in e.value for e in at.error)
    assert isinstance(pd.DataFrame(), pd.DataFrame)
