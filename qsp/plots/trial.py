"""Plotly figure builders (no computation, no Streamlit): units on axes, thresholds drawn."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qsp import constants as C

STAGE_RGB = {  # one hue per clinical stage, light to dark with severity
    "preclinical": (120, 180, 120),
    "mci": (240, 200, 80),
    "mild_dementia": (240, 140, 60),
    "moderate_dementia": (220, 80, 60),
    "severe_dementia": (150, 40, 40),
}
STAGE_COLOURS = {name: f"rgba({r},{g},{b},0.15)" for name, (r, g, b) in STAGE_RGB.items()}  # shaded stage spans
STAGE_KEY_COLOURS = {name: f"rgba({r},{g},{b},0.55)" for name, (r, g, b) in STAGE_RGB.items()}  # their legend squares
PANEL_COLOURS = {C.AMYLOID_CL: "#1f77b4", C.TAU_SUVR: "#17becf", C.IADRS: "#d62728", C.CDRSB: "#ff7f0e"}  # continuum panels
STAGE_LABELS = {
    "preclinical": "Preclinical",
    "mci": "MCI",
    "mild_dementia": "Mild dementia",
    "moderate_dementia": "Moderate dementia",
    "severe_dementia": "Severe dementia",
    "unavailable": "Unavailable (no CDR-SB in the model)",
}
TAU_GROUP_LABELS = {"very_low": "Very low", "low_medium": "Low/medium", "high": "High"}  # TRAILBLAZER-ALZ 2's tau groups


def continuum_figure(history: pd.DataFrame, x: str = C.AGE) -> go.Figure:
    """Amyloid, tau, iADRS and CDR-SB over decades with stage bands and thresholds."""
    panels = [(C.AMYLOID_CL, 1, 1), (C.TAU_SUVR, 1, 2), (C.IADRS, 2, 1), (C.CDRSB, 2, 2)]
    fig = make_subplots(rows=2, cols=2, shared_xaxes=True, subplot_titles=[C.LABELS[p] for p, _, _ in panels])
    xs = history[x].to_numpy()
    stages = history["stage"].to_numpy()
    bands = []
    start = 0
    for i in range(1, len(stages) + 1):
        if i == len(stages) or stages[i] != stages[start]:
            bands.append((stages[start], xs[start], xs[i - 1]))
            start = i
    # stage names go in the legend above the panels: as labels over the spans they collided with the titles
    for name in dict.fromkeys(n for n, _, _ in bands):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=STAGE_LABELS[name], hoverinfo="skip",
                                 marker={"symbol": "square", "size": 14, "color": STAGE_KEY_COLOURS[name]}), row=1, col=1)
    for name, row, col in panels:
        fig.add_trace(
            go.Scatter(x=xs, y=history[name], name=C.LABELS[name], mode="lines", showlegend=False,
                       line={"width": 2.5, "color": PANEL_COLOURS[name]},
                       hovertemplate=f"{x} %{{x:.1f}}<br>{C.LABELS[name]} %{{y:.2f}}<extra></extra>"),
            row=row, col=col,
        )
    for name, x0, x1 in bands:  # after the curves: Plotly drops shapes added to a subplot that has no trace yet
        for _, row, col in panels:
            fig.add_vrect(x0=x0, x1=x1, fillcolor=STAGE_COLOURS[name], line_width=0, layer="below", row=row, col=col)
    # threshold labels where the curves are not: amyloid has risen past 24.1 CL by the right end, tau is still low at the left
    fig.add_hline(y=C.AMYLOID_POSITIVE_CL, line_dash="dash", annotation_text="amyloid positive (24.1 CL)",
                  annotation_position="bottom right", row=1, col=1)
    fig.add_hline(y=C.TAU_POSITIVE_SUVR, line_dash="dot", annotation_text="tau positive (1.10)", annotation_position="top left",
                  row=1, col=2)
    fig.add_hline(y=C.TAU_HIGH_SUVR, line_dash="dash", annotation_text="high tau (1.46)", annotation_position="top left",
                  row=1, col=2)
    xlabel = "Age (years)" if x == C.AGE else "Years from amyloid onset"
    fig.update_xaxes(title_text=xlabel, row=2, col=1)
    fig.update_xaxes(title_text=xlabel, row=2, col=2)
    fig.update_layout(height=660, showlegend=True, margin={"t": 110, "b": 40, "l": 50, "r": 20}, hovermode="x unified",
                      legend={"orientation": "h", "x": 0, "y": 1.1, "yanchor": "bottom", "title": {"text": "Stage (CDR-SB):"}})
    return fig


PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")
MEASURE_LABELS = {
    "amyloid_cl_change": "Amyloid change from baseline (CL)",
    "amyloid_cleared_pct": "Amyloid cleared (% < 24.1 CL)",
    "tau_suvr_change": "Tau PET change (SUVr)",
    "iadrs_change": "iADRS change (points)",
    "cdrsb_change": "CDR-SB change (points)",
    "mmse_change": "MMSE change (points)",
    "conc_ug_per_ml": "Antibody concentration (ug/mL)",
    "aria_e_pct": "Cumulative ARIA-E (%)",
}


# Target measures that are not trajectories (comparisons, spreads, baseline composition), for the Credibility page.
_TARGET_LABELS = {
    "amyloid_cl_difference": "Amyloid difference vs reference (CL)",
    "iadrs_slowing_pct": "iADRS slowing (%)",
    "cdrsb_slowing_pct": "CDR-SB slowing (%)",
    "iadrs_change_sd": "SD of iADRS change (points)",
    "cdrsb_change_sd": "SD of CDR-SB change (points)",
    "amyloid_cl_change_sd": "SD of amyloid change (CL)",
}
_QUANTITY_LABELS = {"amyloid_cl": "amyloid (CL)", "tau_suvr": "tau PET (SUVr)", "iadrs": "iADRS", "cdrsb": "CDR-SB",
                    "mmse": "MMSE", "age": "age (years)", "years_since_amyloid_positive": "years since amyloid positive"}


def measure_label(measure: str) -> str:
    """A readable name for a target measure key (a RESULT.json key); an unknown key is returned as it is.

    >>> measure_label("baseline_distribution.quantiles.amyloid_cl.p33")
    'Enrolled: 33rd percentile of amyloid (CL)'
    >>> measure_label("aria_e_pct ratio")
    'Cumulative ARIA-E (%): ratio to reference'
    """
    if measure.endswith(" ratio"):
        return f"{measure_label(measure[:-len(' ratio')])}: ratio to reference"
    parts = measure.split(".")
    if parts[0] == "baseline" and len(parts) == 2:
        return f"Baseline {_QUANTITY_LABELS.get(parts[1], parts[1])}"
    if parts[0] == "baseline_distribution" and len(parts) == 4 and parts[1] == "pct":
        if parts[2] == "tau_group":
            return f"Enrolled: % {TAU_GROUP_LABELS.get(parts[3], parts[3]).lower()} tau"
        return f"Enrolled: % {STAGE_LABELS.get(parts[3], parts[3].replace('_', ' '))}"
    if parts[0] == "baseline_distribution" and len(parts) == 4 and parts[1] == "quantiles":
        q = parts[3].lstrip("p")
        suffix = {"1": "st", "2": "nd", "3": "rd"}.get(q[-1], "th") if not q.endswith(("11", "12", "13")) else "th"
        which = "median" if q == "50" else f"{q}{suffix} percentile"
        return f"Enrolled: {which} of {_QUANTITY_LABELS.get(parts[2], parts[2])}"
    return MEASURE_LABELS.get(measure) or _TARGET_LABELS.get(measure, measure)


def arm_colours(names) -> dict[str, str]:
    """One colour per arm or regimen name, by order, the same in every figure."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


# Observables drawn in another unit than the model's: observable -> (factor, label). ARIA-E risk is a probability
# in the model and a percentage in every table, so the figures use % too.
DISPLAY_UNITS = {C.ARIA_E_RISK: (100.0, "Cumulative ARIA-E risk (%)")}
BAND_ALPHA = 0.10  # fill of a band: low, so that where bands overlap the lines and outlines stay readable
BAND_PATTERNS = ("", "/", "\\", "x", "-", "|", "+", ".")  # hatching per band: overlaps read as crossed hatching, not a muddy blend
KEY_COLOUR = "#777777"  # legend keys that explain the band styles


def display_label(observable: str) -> str:
    """The label (with the unit the figures and tables use) of an observable."""
    return DISPLAY_UNITS.get(observable, (1.0, C.LABELS[observable]))[1]


def in_display_units(table: pd.DataFrame, observable: str, columns) -> pd.DataFrame:
    """``table`` with ``columns`` converted to the display unit of ``observable`` (ARIA-E risk: 0-1 to %)."""
    factor = DISPLAY_UNITS.get(observable, (1.0, ""))[0]
    return table if factor == 1.0 else table.assign(**{c: table[c] * factor for c in columns if c in table})


def band_key(fig: go.Figure, name: str, dotted: bool = False) -> None:
    """A legend entry that says what a band style means (a shaded square, or a dotted line)."""
    style = ({"mode": "lines", "line": {"color": KEY_COLOUR, "width": 1.5, "dash": "dot"}} if dotted else
             {"mode": "markers", "marker": {"symbol": "square", "size": 14, "color": _rgba(KEY_COLOUR, 0.35),
                                            "line": {"color": KEY_COLOUR, "width": 1}}})
    fig.add_trace(go.Scatter(x=[None], y=[None], name=name, hoverinfo="skip", legendgroup=f"key:{name}", **style))


def band_figure(table: pd.DataFrame, group: str, x: str, title: str, y_label: str, x_label: str, colours: dict[str, str],
                centre: str = "mean", lo: str = "lo", hi: str = "hi", hlines=(), band_name: str = "80% band") -> go.Figure:
    """Lines with shaded intervals, one per group (arm or regimen); ``band_name`` says what the shading is in the legend.

    Each band has an outline in its group's colour and its own hatching, so overlapping bands stay apart.
    Threshold labels (``hlines``) sit right of the plot area, clear of the lines.
    """
    fig = go.Figure()
    for i, name in enumerate(colours):
        part = table[table[group] == name].sort_values(x)
        if part.empty:
            continue
        colour = colours[name]
        pattern = BAND_PATTERNS[i % len(BAND_PATTERNS)]
        # the first band is shaded; the others are hatched on a clear ground, so where bands overlap the
        # hatch lines of each hue stay apart instead of mixing into one brown
        fill = _rgba(colour, BAND_ALPHA if not pattern else 0.0)
        fig.add_trace(go.Scatter(x=np.concatenate([part[x], part[x][::-1]]), y=np.concatenate([part[hi], part[lo][::-1]]),
                                 fill="toself", mode="lines", fillcolor=fill,
                                 fillpattern={"shape": pattern, "fgcolor": _rgba(colour, 0.55), "bgcolor": fill,
                                              "size": 8, "solidity": 0.12} if pattern else None,
                                 line={"width": 1, "color": _rgba(colour, 0.6)}, hoverinfo="skip",
                                 name=f"{name}: {band_name}", showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=part[x], y=part[centre], name=str(name), mode="lines+markers", line={"color": colour, "width": 2.5},
                                 marker={"size": 5}, legendgroup=name, customdata=np.stack([part[lo], part[hi]], axis=1),
                                 hovertemplate=f"{name}<br>{x_label} %{{x:.0f}}<br>{y_label} %{{y:.2f}} "
                                               "(%{customdata[0]:.2f} to %{customdata[1]:.2f})<extra></extra>"))
    band_key(fig, f"{band_name} (shaded or hatched)")
    for y, text in hlines:
        fig.add_hline(y=y, line_dash="dash", annotation_text=text, annotation_position="right", annotation_font_size=11)
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, height=420,
                      margin={"t": 50, "b": 40, "l": 60, "r": HLINE_MARGIN_PX if hlines else 20},
                      legend={"orientation": "h", "y": -0.22, "yanchor": "top"})
    return fig


HLINE_MARGIN_PX = 125  # room right of the plot for threshold labels (two lines of about 18 characters)


def trial_measure_figure(trajectories: pd.DataFrame, measure: str, colours: dict[str, str]) -> go.Figure:
    """One trial endpoint over weeks, per arm, mean with its 95% interval."""
    part = trajectories[trajectories["measure"] == measure]
    hlines = [(0, "baseline")] if measure.endswith("_change") else []
    return band_figure(part, "arm", "week", MEASURE_LABELS.get(measure, measure), MEASURE_LABELS.get(measure, measure),
                       "Week", colours, hlines=hlines, band_name="95% interval of the mean")


def threshold_lines(observable: str) -> list[tuple[float, str]]:
    """Thresholds drawn on a figure of ``observable``: (value, label), labels short enough for the right margin."""
    if observable == C.AMYLOID_CL:
        return [(C.AMYLOID_POSITIVE_CL, "amyloid positive /<br>cleared (24.1 CL)")]
    if observable == C.TAU_SUVR:
        return [(C.TAU_POSITIVE_SUVR, "tau positive (1.10)"), (C.TAU_HIGH_SUVR, "high tau (1.46)")]
    if observable == C.CDRSB:
        return [(C.STAGES["mild_dementia"][0], "mild dementia"), (C.STAGES["moderate_dementia"][0], "moderate dementia")]
    return []


def projection_figure(trajectories: pd.DataFrame, observable: str, colours: dict[str, str]) -> go.Figure:
    """A profile's projection of one observable per regimen: median and 10-90% band (ARIA-E risk in %)."""
    part = trajectories[trajectories["observable"] == observable].assign(years=lambda d: d["week"] / C.WEEKS_PER_YEAR)
    part = in_display_units(part, observable, ("p10", "median", "p90"))
    label = display_label(observable)
    return band_figure(part, "regimen", "years", label, label, "Years from today", colours,
                       centre="median", lo="p10", hi="p90", hlines=threshold_lines(observable), band_name="80% band")


def targets_figure(table: pd.DataFrame) -> go.Figure:
    """Model vs published for every calibration target, with the tolerance as error bars."""
    labels = [f"{r.trial} | {r.arm} | {measure_label(r.measure)}{' APOE4=' + r.apoe4_copies if isinstance(r.apoe4_copies, str) and r.apoe4_copies else ''} | wk {int(r.week)}"
              for r in table.itertuples()]
    counts = Counter(labels)  # one trial's population appears in two scenarios (TRAILBLAZER-ALZ 2 low/medium tau, combined)
    labels = [f"{label} | {scenario.replace('_', ' ')}" if counts[label] > 1 else label for label, scenario in zip(labels, table["scenario"])]
    colours = ["#2ca02c" if ok else "#d62728" for ok in table["pass"]]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=table["difference"], y=labels, mode="markers", marker={"color": colours, "size": 10},
                             error_x={"type": "data", "array": [0] * len(table)}, name="model - published",
                             hovertemplate="%{y}<br>model - published: %{x:.2f}<extra></extra>"))
    fig.add_trace(go.Bar(x=2 * table["tolerance"], base=-table["tolerance"], y=labels, orientation="h",
                         marker={"color": "rgba(100,100,100,0.15)"}, name="tolerance", hoverinfo="skip"))
    fig.add_vline(x=0, line_color="black")
    fig.update_layout(height=40 + 26 * len(table), xaxis_title="Model minus published (units of each measure)",
                      margin={"l": 20, "r": 20, "t": 30, "b": 40}, legend={"orientation": "h", "y": 1.02}, barmode="overlay")
    return fig


def power_curve_figure(curve: pd.DataFrame, target_power: float, design_n: int) -> go.Figure:
    """Power against patients per arm, one line per comparison, with the target power and the design's size."""
    fig = go.Figure()
    colours = arm_colours(list(dict.fromkeys(curve["comparison"])))
    for comparison, part in curve.groupby("comparison", sort=False):
        part = part.sort_values("n_per_arm")
        fig.add_scatter(x=part["n_per_arm"], y=100 * part["power"], mode="lines+markers", name=comparison,
                        line={"color": colours[comparison]}, hovertemplate="%{x} per arm: power %{y:.0f}%<extra></extra>")
    fig.add_hline(y=100 * target_power, line_dash="dash", line_color="grey", annotation_text=f"target {100 * target_power:.0f}%")
    # the design's size as a trace, not an annotated vline: on a log axis the annotation's x was read as an exponent
    # (10^150), which stretched the axis and squashed every curve against its left edge
    fig.add_scatter(x=[design_n, design_n], y=[0, 100], mode="lines", name=f"this design: {design_n} per arm",
                    line={"color": "black", "dash": "dot"}, hoverinfo="skip")
    fig.update_layout(xaxis_title="Patients per arm (log scale)", yaxis_title="Power (%)", xaxis_type="log", yaxis_range=[0, 100],
                      height=360, margin={"l": 20, "r": 20, "t": 30, "b": 40}, legend={"orientation": "h", "y": 1.1})
    return fig
