"""A one-page patient summary as a self-contained HTML file (no Streamlit): inputs, forecast tables, figure, model.

The explorer and the digital twin offer it as a download; it opens in any browser and prints on one page
per section. The research-use notice is always on it.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go

from qsp import __version__
from qsp import constants as C
from qsp.engine.model import Model, load_builtin_model
from qsp.plots.notice import RESEARCH_NOTICE
from qsp.population.outcomes import BENEFIT_AT_YEARS, aria_risk_table, benefit_table, benefit_when, forecast_table, when_text
from qsp.twin.overview import events_table, horizon_headline

__all__ = ["RESEARCH_NOTICE", "patient_summary_html", "profile_summary_html", "twin_summary_html"]

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1000px; margin: 1.5em auto; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin: 1.2em 0 0.4em; }
.notice { border: 2px solid #b00020; padding: 0.5em 0.8em; color: #b00020; font-weight: 600; }
table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
th { background: #f3f3f3; } .small { color: #555; font-size: 0.85em; } code { font-size: 0.85em; word-break: break-all; }
@media print { .plotly-graph-div { page-break-inside: avoid; } }
"""


def _key_values(values: dict) -> str:
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def patient_summary_html(title: str, inputs: dict, tables: dict[str, pd.DataFrame], figure: go.Figure | None,
                         model: dict, notes=(), created: datetime | None = None, include_plotlyjs: bool | str = True) -> str:
    """The summary page: ``inputs`` (label -> value), ``tables`` (heading -> table), ``figure``, ``model`` and ``notes``.

    ``model``: name and sha256 of the model file (any other items are listed too); the qsp version is added.
    ``include_plotlyjs``: True embeds plotly.js (works offline, about 4 MB), "cdn" links it. Every text is escaped.

    >>> page = patient_summary_html("Patient X", {"Age": 72}, {}, None, {"name": "m", "sha256": "ab12"},
    ...                             created=datetime(2026, 1, 1, tzinfo=UTC))
    >>> "Research use only" in page and "ab12" in page and "<th>Age</th><td>72</td>" in page
    True
    """
    created = created or datetime.now(UTC)
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>",
             f"<p class='notice'>{html.escape(RESEARCH_NOTICE)}</p>",
             f"<p class='small'>Created {created.strftime('%Y-%m-%d %H:%M UTC')}</p>",
             "<h2>Inputs</h2>", _key_values(inputs)]
    for heading, table in tables.items():
        if table is None or table.empty:
            continue
        parts += [f"<h2>{html.escape(heading)}</h2>", table.to_html(index=False, border=0, escape=True, na_rep="")]
    if figure is not None:
        parts += ["<h2>Figure</h2>", figure.to_html(full_html=False, include_plotlyjs=include_plotlyjs)]
    if notes:
        parts += ["<h2>How to read this</h2><ul>", *(f"<li>{html.escape(n)}</li>" for n in notes), "</ul>"]
    parts += ["<h2>Model</h2>", _key_values({**model, "qsp version": __version__}),
              f"<p class='notice'>{html.escape(RESEARCH_NOTICE)}</p></body></html>"]
    return "\n".join(parts)


SUMMARY_OBSERVABLES = (C.CDRSB, C.MMSE, C.IADRS, C.AMYLOID_CL, C.TAU_SUVR, C.ARIA_E_RISK)  # rows of a summary's forecast table
BAND_NOTES = (
    "Numbers are medians with the 80% band (10th to 90th percentile); ARIA-E risk is cumulative, in %.",
    "Benefit: untreated minus treated CDR-SB of the same draws (positive: less decline); months of delay: how much "
    "earlier the untreated course reached the treated CDR-SB.",
)


def twin_summary_html(patient, overview: dict, labels: dict[str, str], figure: go.Figure | None = None,
                      stage_labels: dict[str, str] | None = None, **kwargs) -> str:
    """The one-page summary of a digital twin: demographics and visits, forecasts at 18 months and the horizon, times
    to events, benefit, ARIA-E risk, the figure and the model (name, sha256 from the result's provenance)."""
    horizon = overview["horizon_weeks"]
    last = float(overview["bands"]["week"].max()) - horizon  # forecast weeks count from the baseline visit
    weeks = {when_text(min(BENEFIT_AT_YEARS, horizon / C.WEEKS_PER_YEAR)): last + min(BENEFIT_AT_YEARS * C.WEEKS_PER_YEAR, horizon),
             f"{when_text(horizon / C.WEEKS_PER_YEAR)} (horizon)": last + horizon}
    inputs = {"Patient": patient.patient_id, "Age (years)": f"{patient.age:g}", "Sex": patient.sex,
              "Weight (kg)": f"{patient.weight_kg:g}", "APOE4 copies": patient.apoe4_copies,
              "Visits": len(patient.visits), "Stage at the last visit": (stage_labels or {}).get(overview["stage"], overview["stage"]),
              "Forecast": horizon_headline(overview["bands"], horizon) or "CDR-SB not forecast by this model"}
    provenance = overview["result"]["provenance"]
    tables = {"Visits": patient.visits,
              "Forecasts (weeks after the last visit)": forecast_table(overview["bands"], SUMMARY_OBSERVABLES, weeks, labels),
              "Time to events (years from the last visit)": events_table(overview["events"], horizon, labels, stage_labels),
              f"Benefit over untreated at {benefit_when(overview['benefit'])}": benefit_table(overview["benefit"], labels),
              "ARIA-E risk by the horizon": aria_risk_table(overview["bands"], labels)}
    return patient_summary_html(f"Digital twin: {patient.patient_id}", inputs, tables, figure,
                                {"model": provenance["model_name"], "SBML sha256": provenance["sbml_sha256"]},
                                notes=BAND_NOTES, **kwargs)


def profile_summary_html(profile: dict, projection: dict, labels: dict[str, str], years: float, figure: go.Figure | None = None,
                         model: Model | None = None, stage_labels: dict[str, str] | None = None, **kwargs) -> str:
    """The one-page summary of a continuum-explorer projection: the profile, forecasts at 18 months and the horizon,
    benefit, ARIA-E risk, the figure and the model (name and sha256)."""
    model = model or load_builtin_model()
    horizon_weeks = years * C.WEEKS_PER_YEAR
    weeks = {when_text(min(BENEFIT_AT_YEARS, years)): min(BENEFIT_AT_YEARS, years) * C.WEEKS_PER_YEAR,
             f"{when_text(years)} (horizon)": horizon_weeks}
    inputs = {**{k.replace("_", " "): v for k, v in profile.items()},
              "Stage today": (stage_labels or {}).get(projection["stage"], projection["stage"])}
    tables = {"Forecasts (from today)": forecast_table(projection["trajectories"], SUMMARY_OBSERVABLES, weeks, labels),
              f"Benefit over untreated at {benefit_when(projection['benefit'])}": benefit_table(projection["benefit"], labels),
              "ARIA-E risk by the horizon": aria_risk_table(projection["trajectories"], labels)}
    return patient_summary_html("Continuum explorer: patient profile", inputs, tables, figure,
                                {"model": model.name, "SBML sha256": model.sha256}, notes=BAND_NOTES, **kwargs)
