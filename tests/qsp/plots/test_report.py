"""The one-page patient summary: inputs, forecasts, bands, figure, model sha256 and the research-use notice."""

from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
import pytest

from qsp import __version__, paths
from qsp import constants as C
from qsp.engine.model import load_builtin_model
from qsp.plots import report as R
from qsp.plots.trial import STAGE_LABELS, arm_colours, projection_figure
from qsp.plots.twin import twin_figure
from qsp.population.profile import project_profile
from qsp.twin.fit import fit_twin
from qsp.twin.forecast import forecast_twin
from qsp.twin.overview import twin_overview
from qsp.twin.records import read_patient_csv


def test_summary_page_has_every_part_and_escapes_text():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[1, 2], name="<b>arm</b>"))
    page = R.patient_summary_html("Patient <X>", {"Age": 72, "Note": "<script>alert(1)</script>"},
                                  {"Forecast": pd.DataFrame({"regimen": ["A"], "18 months": ["4.1 (80% band 2.8-6.8)"]}),
                                   "Empty": pd.DataFrame()},
                                  fig, {"model": "m", "SBML sha256": "abc123"}, notes=["read me"],
                                  created=datetime(2026, 1, 2, 3, 4, tzinfo=UTC), include_plotlyjs="cdn")
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert page.count(R.RESEARCH_NOTICE) == 2  # top and bottom
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page and "Patient &lt;X&gt;" in page
    assert "4.1 (80% band 2.8-6.8)" in page and "abc123" in page and __version__ in page and "2026-01-02 03:04 UTC" in page
    assert "plotly-graph-div" in page and "<h2>Empty</h2>" not in page and "read me" in page


@pytest.fixture(scope="module")
def twin_page():
    patient = read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv")
    twin = fit_twin(patient)
    overview = twin_overview(twin, forecast_twin(twin, {"lecanemab_q2w": "lecanemab_q2w"}, horizon_weeks=104))
    labels = {C.UNTREATED: "Untreated", "lecanemab_q2w": "Lecanemab 10 mg/kg IV every 2 weeks"}
    bands = overview["bands"].assign(regimen=lambda d: d["regimen"].map(labels))
    fig = twin_figure(overview["fit"], bands, C.CDRSB, arm_colours(labels.values()))
    return patient, overview, R.twin_summary_html(patient, overview, labels, fig, STAGE_LABELS, include_plotlyjs="cdn")


def test_twin_summary_holds_inputs_forecasts_benefit_and_model(twin_page):
    patient, overview, page = twin_page
    assert patient.patient_id in page and R.RESEARCH_NOTICE in page
    assert overview["result"]["provenance"]["sbml_sha256"] in page
    for heading in ("Visits", "Forecasts (weeks after the last visit)", "Time to events", "Benefit over untreated",
                    "ARIA-E risk by the horizon", "Figure", "Model"):
        assert f"<h2>{heading}" in page
    assert "18 months" in page and "2 years (horizon)" in page and "80% band" in page
    assert "Lecanemab 10 mg/kg IV every 2 weeks" in page and "lecanemab_q2w" not in page.split("<h2>Figure")[0]


def test_profile_summary_holds_the_profile_and_the_models_sha256():
    profile = {"age": 72.0, "sex": "F", "weight_kg": 70.0, "apoe4_copies": 1, "amyloid_cl": 90.0, "tau_suvr": 1.3, "mmse": 24.0}
    proj = project_profile(profile, {"don": "donanemab_standard"}, years=2, n_draws=5)
    data = {"stage": proj.stage, "trajectories": proj.trajectories, "benefit": proj.benefit}
    labels = {C.UNTREATED: "Untreated", "don": "Donanemab"}
    fig = projection_figure(proj.trajectories.assign(regimen=lambda d: d["regimen"].map(labels)), C.CDRSB,
                            arm_colours(labels.values()))
    page = R.profile_summary_html(profile, data, labels, 2, fig, stage_labels=STAGE_LABELS, include_plotlyjs="cdn")
    assert load_builtin_model().sha256 in page and R.RESEARCH_NOTICE in page
    assert "<th>amyloid cl</th><td>90.0</td>" in page and "Donanemab" in page and "delay, months" in page
