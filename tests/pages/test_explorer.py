"""Continuum explorer page: numbers shown equal the core's."""

import base64
import json

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.population.outcomes import BENEFIT_COLUMN, DELAY_COLUMN
from qsp.population.profile import project_profile
from tests.pages import table_with_column


def last_value(values) -> float:
    """The last number of a Plotly JSON array (a list, or a typed array: base64 of little-endian float64)."""
    if isinstance(values, dict):
        return float(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])[-1])
    return float(values[-1])


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
    # benefit at 18 months with its interval and months of delay, the core's numbers
    benefit = table_with_column(at.dataframe, DELAY_COLUMN).iloc[0]
    b = core.benefit["lecanemab_q2w"]
    assert any(h.value == "Benefit over untreated at 18 months" for h in at.subheader)
    assert benefit[BENEFIT_COLUMN] == f"{b['benefit_median']:.2f} ({b['benefit_p10']:.2f} to {b['benefit_p90']:.2f})"
    assert benefit[DELAY_COLUMN].startswith(f"{b['delay_months_median']:.1f} (")
    # ARIA-E by the horizon, in %, named like the chart
    aria = table_with_column(at.dataframe, "median %").set_index("regimen")
    last = core.trajectories.query("observable == 'aria_e_risk' and regimen == 'lecanemab_q2w'")["median"].iloc[-1]
    assert aria.loc["Lecanemab 10 mg/kg IV every 2 weeks", "median %"] == round(100 * last, 1)
    note = next(e for e in at.expander if "explorer and the twin" in e.label).markdown[0].value
    assert "same computation" in note and "random effects" in note and "conditions on the patient's visits" in note
    assert any(b.proto.label == "Download patient summary (HTML)" for b in at.get("download_button"))


def test_aria_chart_in_percent_and_band_legend():
    at = AppTest.from_file(str(paths.ROOT / "pages/explorer.py"), default_timeout=240).run()
    at.slider(key="explorer_draws").set_value(10)
    at.button[0].click().run()
    at.selectbox(key="explorer_observable").set_value("aria_e_risk").run()
    assert not at.exception
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["layout"]["yaxis"]["title"]["text"] == "Cumulative ARIA-E risk (%)"
    legend = {t["name"] for t in chart["data"] if t.get("showlegend", True)}
    assert "80% band (shaded or hatched)" in legend
    line = next(t for t in chart["data"] if t.get("name") == "Lecanemab 10 mg/kg IV every 2 weeks")
    aria = table_with_column(at.dataframe, "median %").set_index("regimen")
    assert round(last_value(line["y"]), 1) == aria.loc["Lecanemab 10 mg/kg IV every 2 weeks", "median %"]


def test_bad_profile_is_reported_next_to_the_form():
    at = AppTest.from_file(str(paths.ROOT / "pages/explorer.py"), default_timeout=240).run()
    at.selectbox(key="explorer_score_kind").set_value("MMSE")
    at.number_input(key="explorer_score").set_value(45.0)  # MMSE is 0-30
    at.button[0].click().run()
    assert not at.exception
    assert any("profile.mmse" in e.value for e in at.error)
    assert isinstance(pd.DataFrame(), pd.DataFrame)
