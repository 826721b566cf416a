"""Benefit at 18 months, months of delay, ARIA-E and forecast tables: exact on small hand-made courses."""

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.population import outcomes as O

YEARS = np.array([0.0, 0.5, 1.0, 1.5, 2.0])


def test_benefit_and_delay_of_a_linear_course_are_exact():
    untreated = np.array([[2.0, 2.5, 3.0, 3.5, 4.0]])  # 1 point a year
    treated = np.array([[2.0, 2.3, 2.6, 2.9, 3.2]])  # 0.6 a year: at 18 months 2.9, reached untreated at 0.9 y
    b = O.treatment_benefit(YEARS, untreated, treated)
    assert b["at_years"] == 1.5
    assert b["benefit_median"] == pytest.approx(0.6) and b["treated_median"] == pytest.approx(2.9)
    assert b["delay_months_median"] == pytest.approx((1.5 - 0.9) * 12, abs=1e-5)


def test_no_benefit_and_no_delay_for_a_flat_course():
    flat = np.full((3, 5), 0.0)  # a preclinical patient who does not progress: no months of delay to gain
    b = O.treatment_benefit(YEARS, flat, flat)
    assert b["benefit_median"] == 0.0 and b["delay_months_median"] == 0.0 and b["delay_months_p90"] == 0.0


def test_benefit_interval_is_over_paired_draws_and_clipped_to_the_horizon():
    untreated = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]] * 10)
    treated = untreated * np.linspace(0.5, 1.0, 10)[:, None]  # from half the decline to none
    b = O.treatment_benefit(YEARS[:3], untreated[:, :3], treated[:, :3])  # horizon 1 year < 18 months
    assert b["at_years"] == 1.0
    assert b["benefit_p10"] < b["benefit_median"] < b["benefit_p90"] <= 1.0
    assert 0.0 <= b["delay_months_p10"] < b["delay_months_p90"] <= 6.0


def test_no_cdrsb_gives_no_benefit():
    assert O.treatment_benefit(YEARS, np.full((2, 5), np.nan), np.full((2, 5), np.nan)) is None


def test_benefit_table_names_regimens_and_shows_intervals():
    b = O.treatment_benefit(YEARS, np.array([[2.0, 2.5, 3.0, 3.5, 4.0]]), np.array([[2.0, 2.3, 2.6, 2.9, 3.2]]))
    table = O.benefit_table({"lec": b, "none": None}, {"lec": "Lecanemab"})
    assert O.benefit_when({"lec": b, "none": None}) == "18 months"
    assert table.to_dict("records") == [{"regimen": "Lecanemab", "CDR-SB treated": "2.90",
                                         O.BENEFIT_COLUMN: "0.60 (0.60 to 0.60)", O.DELAY_COLUMN: "7.2 (7.2 to 7.2)"}]


BANDS = pd.DataFrame([
    {"regimen": C.UNTREATED, "observable": C.CDRSB, "week": 0, "median": 2.0, "p10": 1.0, "p90": 3.0},
    {"regimen": C.UNTREATED, "observable": C.CDRSB, "week": 104, "median": 4.0, "p10": 3.0, "p90": 7.0},
    {"regimen": "drug", "observable": C.ARIA_E_RISK, "week": 0, "median": 0.0, "p10": 0.0, "p90": 0.0},
    {"regimen": "drug", "observable": C.ARIA_E_RISK, "week": 104, "median": 0.2345, "p10": 0.1, "p90": 0.35},
])


def test_aria_table_in_percent_with_readable_names():
    table = O.aria_risk_table(BANDS, {"drug": "Drug 10 mg/kg"})
    assert table.to_dict("records") == [{"regimen": "Drug 10 mg/kg", "median %": 23.4, "10th-90th percentile %": "10.0-35.0"}]
    assert O.aria_risk_table(BANDS, week=52)["median %"].tolist() == [0.0]


def test_forecast_table_interpolates_and_shows_aria_in_percent():
    table = O.forecast_table(BANDS, [C.CDRSB, C.ARIA_E_RISK], {"1 year": 52.0, "2 years": 104.0}, {"drug": "Drug"})
    rows = {(r["regimen"], r["measure"]): r for r in table.to_dict("records")}
    assert rows[(C.UNTREATED, "CDR-SB (points)")]["1 year"] == "3.0 (80% band 2.0 to 5.0)"
    assert rows[("Drug", "Cumulative ARIA-E risk (%)")]["2 years"] == "23.4 (80% band 10.0 to 35.0)"
    assert (C.UNTREATED, "Cumulative ARIA-E risk (%)") not in rows  # not forecast: no empty row


@pytest.mark.parametrize(("years", "text"), [(1.5, "18 months"), (1.0, "1 year"), (104 / C.WEEKS_PER_YEAR, "2 years"),
                                             (26 / C.WEEKS_PER_YEAR, "6 months")])
def test_when_text(years, text):
    assert O.when_text(years) == text
