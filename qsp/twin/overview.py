"""What the digital-twin view shows and saves: a fitted twin's overview, its tables, and the saved-twin summary.

The *overview* is plain data (hashable inputs in, picklable dict out) so a UI can cache it; the
*saved summary* is what :class:`qsp.store.twins.TwinStore` keeps beside the visits (its schema:
SAVED_SUMMARY_KEYS).
"""

from __future__ import annotations

import math

import pandas as pd

from qsp import constants as C
from qsp.population import outcomes
from qsp.population.outcomes import band_at, when_text
from qsp.twin.records import PatientRecord, replace_visits
from qsp.twin.result import twin_result

# Keys of a saved twin's summary: stage and CDR-SB at the last visit, years since amyloid positivity (median,
# p10, p90), effective sample size, fit time (s), forecast horizon (weeks), regimens compared, the estimated
# parameters (rows), and the model's name and SBML sha256.
SAVED_SUMMARY_KEYS = ("stage", "cdrsb_now", "since", "ess", "fit_seconds", "horizon_weeks", "regimens", "parameters",
                      "model", "model_sha256")
BAND_LOW, BAND_HIGH = "p10", "p90"  # the band the view reports (80%)


def twin_overview(twin, forecast) -> dict:
    """A fitted twin and its forecast as the view's data: stage, cdrsb_now, since, bands, events, benefit (per regimen,
    at 18 months), fit, summary (estimated parameters), ess, fit_seconds, horizon_weeks and result (RESULT.json)."""
    return {"stage": forecast.stage, "cdrsb_now": forecast.cdrsb_now, "since": forecast.years_since_amyloid_positive,
            "bands": forecast.bands, "events": forecast.events, "benefit": forecast.benefit, "fit": forecast.fit,
            "summary": twin.summary(), "horizon_weeks": forecast.horizon_weeks,
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


def horizon_headline(bands: pd.DataFrame, horizon_weeks: float, observable: str = C.CDRSB,
                     regimen: str = C.UNTREATED) -> str | None:
    """The forecast of ``observable`` at the horizon as a sentence: ``CDR-SB at 2 years: 4.1 (80% band 2.8-6.8)``.

    Weeks count from the last visit; None when ``observable`` is not forecast (an uploaded model without it).
    """
    last = bands["week"].max() if len(bands) else 0.0
    band = band_at(bands, observable, regimen, last)
    if band is None:
        return None
    name = C.LABELS[observable].split(" (")[0]
    return (f"{name} at {when_text(horizon_weeks / C.WEEKS_PER_YEAR)}: {band['median']:.1f} "
            f"(80% band {band[BAND_LOW]:.1f}-{band[BAND_HIGH]:.1f})")


def band_change_text(previous_width: float | None, width: float) -> str:
    """How the 80% band at the horizon changed since the previous fit of the same patient, as a sentence ("" if not).

    >>> band_change_text(2.0, 2.5)
    'The band is 0.50 points wider than in the previous fit.'
    """
    if previous_width is None or abs(width - previous_width) < 0.005:
        return ""
    return f"The band is {abs(width - previous_width):.2f} points {'wider' if width > previous_width else 'narrower'} than in the previous fit."


def aria_risk_table(bands: pd.DataFrame, labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Per regimen, the cumulative ARIA-E risk at the horizon in %: median (1 decimal) and the 10th-90th percentile."""
    return outcomes.aria_risk_table(bands, labels)


EVENT_NAMES = {"iadrs_drop_9": "iADRS drop of 9", "cdrsb_rise_1": "CDR-SB rise of 1"}  # event id -> table text


def events_table(events: pd.DataFrame, horizon_weeks: float, labels: dict[str, str] | None = None,
                 stage_labels: dict[str, str] | None = None) -> pd.DataFrame:
    """The forecast's times to events for a table: readable regimen and event names, times as ``2.3 y`` or ``> 2.0 y``."""
    labels, stage_labels = labels or {}, stage_labels or {}
    horizon_years = horizon_weeks / C.WEEKS_PER_YEAR
    out = pd.DataFrame({
        "regimen": [labels.get(r, r) for r in events["regimen"]],
        "event": [f"next stage: {stage_labels.get(e.split(':')[1], e.split(':')[1])}" if e.startswith("stage:") else
                  EVENT_NAMES.get(e, e) for e in events["event"]],
    })
    for col, name in (("median_years", "median"), ("p10_years", "10th percentile"), ("p90_years", "90th percentile")):
        out[name] = [years_text(v, horizon_years) for v in events[col]]
    return out


def estimated_parameters(summary: pd.DataFrame) -> pd.DataFrame:
    """The parameters the visits inform (prior SD > 0): an uploaded model's inert random effects are not estimates."""
    return summary[summary["prior_sd"] > 0]


def years_text(value: float, horizon_years: float) -> str:
    """A time in years for tables: ``2.3 y``, or ``> H y`` when it is beyond the horizon (infinite)."""
    return f"> {horizon_years:.1f} y" if math.isinf(value) else f"{value:.1f} y"
