"""What the digital-twin view shows and saves: a fitted twin's overview, its tables, and the saved-twin summary.

The *overview* is plain data (hashable inputs in, picklable dict out) so a UI can cache it; the
*saved summary* is what :class:`qsp.store.twins.TwinStore` keeps beside the visits (its schema:
SAVED_SUMMARY_KEYS).
"""

from __future__ import annotations

import math

import pandas as pd

from qsp import constants as C
from qsp.twin.records import PatientRecord, replace_visits
from qsp.twin.result import twin_result

# Keys of a saved twin's summary: stage and CDR-SB at the last visit, years since amyloid positivity (median,
# p10, p90), effective sample size, fit time (s), forecast horizon (weeks), regimens compared, the estimated
# parameters (rows), and the model's name and SBML sha256.
SAVED_SUMMARY_KEYS = ("stage", "cdrsb_now", "since", "ess", "fit_seconds", "horizon_weeks", "regimens", "parameters",
                      "model", "model_sha256")
BAND_LOW, BAND_HIGH = "p10", "p90"  # the band the view reports (80%)


def twin_overview(twin, forecast) -> dict:
    """A fitted twin and its forecast as the view's data: stage, cdrsb_now, since, bands, events, fit, summary
    (estimated parameters), ess, fit_seconds and result (RESULT.json)."""
    return {"stage": forecast.stage, "cdrsb_now": forecast.cdrsb_now, "since": forecast.years_since_amyloid_positive,
            "bands": forecast.bands, "events": forecast.events, "fit": forecast.fit, "summary": twin.summary(),
            "ess": twin.ess_, "fit_seconds": twin.fit_seconds_, "result": twin_result(twin, forecast)}


def visit_rows(patient: PatientRecord, visits: pd.DataFrame) -> list[dict]:
    """PATIENT.csv rows of ``patient`` with (edited) ``visits``: demographics on the first row, blanks as None."""
    return replace_visits(patient, visits).to_rows()


def saved_summary(overview: dict, horizon_weeks: float, regimens) -> dict:
    """The summary a saved twin keeps (keys SAVED_SUMMARY_KEYS) from a :func:`twin_overview`."""
    provenance = overview["result"]["provenance"]
    return {"stage": overview["stage"], "cdrsb_now": overview["cdrsb_now"], "since": overview["since"],
            "ess": overview["ess"], "fit_seconds": overview["fit_seconds"], "horizon_weeks": float(horizon_weeks),
            "regimens": list(regimens), "parameters": overview["summary"], "model": provenance["model_name"],
            "model_sha256": provenance["sbml_sha256"]}


def horizon_band_width(bands: pd.DataFrame, observable: str = C.CDRSB, regimen: str = C.UNTREATED) -> float | None:
    """Width of the 80% band of ``observable`` at the last forecast week for ``regimen``; None when not forecast."""
    band = bands[(bands["regimen"] == regimen) & (bands["observable"] == observable)].sort_values("week")
    if band.empty:
        return None
    return float(band[BAND_HIGH].iloc[-1] - band[BAND_LOW].iloc[-1])


def aria_risk_table(bands: pd.DataFrame) -> pd.DataFrame:
    """Per regimen, the cumulative ARIA-E risk at the horizon in %: median (1 decimal) and the 10th-90th percentile."""
    last = bands[bands["observable"] == C.ARIA_E_RISK].sort_values("week").groupby("regimen").tail(1)
    return pd.DataFrame({"regimen": last["regimen"], "median %": (100 * last["median"]).round(1),
                         "10th-90th percentile %": [f"{100 * a:.1f}-{100 * b:.1f}" for a, b in zip(last[BAND_LOW], last[BAND_HIGH])]})


def estimated_parameters(summary: pd.DataFrame) -> pd.DataFrame:
    """The parameters the visits inform (prior SD > 0): an uploaded model's inert random effects are not estimates."""
    return summary[summary["prior_sd"] > 0]


def years_text(value: float, horizon_years: float) -> str:
    """A time in years for tables: ``2.3 y``, or ``> H y`` when it is beyond the horizon (infinite)."""
    return f"> {horizon_years:.1f} y" if math.isinf(value) else f"{value:.1f} y"
