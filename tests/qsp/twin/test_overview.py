"""The twin view's data: overview of a fit, visit rows, the saved summary and the tables beside the chart."""

import math

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp import paths
from qsp.twin import overview as O
from qsp.twin.fit import fit_twin
from qsp.twin.forecast import forecast_twin
from qsp.twin.records import parse_patient_rows, read_patient_csv


@pytest.fixture(scope="module")
def patient():
    return read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv")


@pytest.fixture(scope="module")
def overview(patient):
    twin = fit_twin(patient)
    return O.twin_overview(twin, forecast_twin(twin, {"donanemab_standard": "donanemab_standard"}, horizon_weeks=52))


def test_overview_and_saved_summary(overview, patient):
    assert overview["stage"] in C.STAGES and overview["ess"] > 0
    assert set(overview["bands"]["regimen"]) == {C.UNTREATED, "donanemab_standard"}
    saved = O.saved_summary(overview, 52, ("donanemab_standard",))
    assert tuple(saved) == O.SAVED_SUMMARY_KEYS
    assert saved["horizon_weeks"] == 52.0 and saved["regimens"] == ["donanemab_standard"]
    assert saved["model_sha256"] == overview["result"]["provenance"]["sbml_sha256"]
    assert saved["parameters"] is overview["summary"]


def test_visit_rows_rebuild_the_patient_with_edited_visits(patient):
    visits = patient.visits.copy()
    visits.loc[len(visits)] = {"week": 78.0, C.CDRSB: 4.0}  # a new visit with one observation
    rows = O.visit_rows(patient, visits)
    assert rows[0][C.AGE] == patient.age and C.AGE not in rows[1]
    assert rows[-1][C.CDRSB] == 4.0 and rows[-1][C.MMSE] is None
    again = parse_patient_rows(rows)
    assert again.last_week == 78.0 and again.patient_id == patient.patient_id


BANDS = pd.DataFrame([
    {"regimen": C.UNTREATED, "observable": C.CDRSB, "week": 52, "median": 3.0, "p10": 2.0, "p90": 4.5},
    {"regimen": C.UNTREATED, "observable": C.CDRSB, "week": 0, "median": 2.0, "p10": 1.9, "p90": 2.1},
    {"regimen": "drug", "observable": C.CDRSB, "week": 52, "median": 2.5, "p10": 1.0, "p90": 9.0},
    {"regimen": "drug", "observable": C.ARIA_E_RISK, "week": 0, "median": 0.0, "p10": 0.0, "p90": 0.0},
    {"regimen": "drug", "observable": C.ARIA_E_RISK, "week": 52, "median": 0.2345, "p10": 0.1, "p90": 0.35},
])


def test_band_width_at_the_last_week_of_the_untreated_forecast():
    assert O.horizon_band_width(BANDS) == pytest.approx(2.5)
    assert O.horizon_band_width(BANDS, regimen="drug") == pytest.approx(8.0)
    assert O.horizon_band_width(BANDS, C.MMSE) is None


def test_aria_risk_at_the_horizon_in_percent():
    table = O.aria_risk_table(BANDS)
    assert table.to_dict("records") == [{"regimen": "drug", "median %": 23.4, "10th-90th percentile %": "10.0-35.0"}]


def test_only_informed_parameters_are_estimates():
    summary = pd.DataFrame({"parameter": ["a", "b"], "prior_sd": [0.3, 0.0]})
    assert list(O.estimated_parameters(summary)["parameter"]) == ["a"]


def test_years_beyond_the_horizon():
    assert O.years_text(math.inf, 2.0) == "> 2.0 y" and O.years_text(1.26, 2.0) == "1.3 y"
    assert O.years_text(float(np.float64(0.04)), 2.0) == "0.0 y"


def test_headline_reads_as_a_value_with_its_band_not_a_width():
    assert O.horizon_headline(BANDS, 52) == "CDR-SB at 1 year: 3.0 (80% band 2.0-4.5)"
    assert O.horizon_headline(BANDS, 52, C.MMSE) is None
    assert O.band_change_text(None, 2.5) == "" and O.band_change_text(2.5, 2.5) == ""
    assert O.band_change_text(3.0, 2.5) == "The band is 0.50 points narrower than in the previous fit."


def test_events_table_has_readable_names_and_the_horizon():
    events = pd.DataFrame([{"regimen": "drug", "event": "stage:mild_dementia", "median_years": 1.26, "p10_years": 0.5,
                            "p90_years": math.inf},
                           {"regimen": C.UNTREATED, "event": "cdrsb_rise_1", "median_years": 0.7, "p10_years": 0.4, "p90_years": 1.0}])
    table = O.events_table(events, 104, {"drug": "Drug 10 mg/kg", C.UNTREATED: "Untreated"}, {"mild_dementia": "Mild dementia"})
    assert table.to_dict("records")[0] == {"regimen": "Drug 10 mg/kg", "event": "next stage: Mild dementia", "median": "1.3 y",
                                           "10th percentile": "0.5 y", "90th percentile": "> 2.0 y"}
    assert table["event"].iloc[1] == "CDR-SB rise of 1"


def test_forecast_benefit_at_18_months_or_the_horizon(overview):
    b = overview["benefit"]["donanemab_standard"]
    assert b["at_years"] == pytest.approx(52 / C.WEEKS_PER_YEAR)  # the 52-week horizon comes before 18 months
    assert b["benefit_p10"] <= b["benefit_median"] <= b["benefit_p90"]
    assert 0 <= b["delay_months_p10"] <= b["delay_months_median"] <= b["delay_months_p90"] <= 12.0
    assert overview["horizon_weeks"] == 52.0
