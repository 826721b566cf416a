"""Plotly figure builders (no computation, no Streamlit): units on axes, thresholds drawn."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from qsp import constants as C

STAGE_COLOURS = {
    "preclinical": "rgba(120,180,120,0.12)",
    "mci": "rgba(240,200,80,0.15)",
    "mild_dementia": "rgba(240,140,60,0.15)",
    "moderate_dementia": "rgba(220,80,60,0.15)",
    "severe_dementia": "rgba(150,40,40,0.15)",
}
STAGE_LABELS = {
    "preclinical": "Preclinical",
    "mci": "MCI",
    "mild_dementia": "Mild dementia",
    "moderate_dementia": "Moderate dementia",
    "severe_dementia": "Severe dementia",
    "unavailable": "Unavailable (no CDR-SB in the model)",
}


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
    for k, (name, x0, x1) in enumerate(bands):
        for _, row, col in panels:
            fig.add_vrect(x0=x0, x1=x1, fillcolor=STAGE_COLOURS[name], line_width=0, row=row, col=col)
        # three heights in turn so that labels of short stages do not overlap
        fig.add_annotation(x=(x0 + x1) / 2, y=1.04 + 0.045 * (k % 3), xref="x", yref="paper", text=STAGE_LABELS[name],
                           showarrow=False, font={"size": 10})
    for name, row, col in panels:
        fig.add_trace(
            go.Scatter(x=xs, y=history[name], name=C.LABELS[name], mode="lines", line={"width": 2.5},
                       hovertemplate=f"{x} %{{x:.1f}}<br>{C.LABELS[name]} %{{y:.2f}}<extra></extra>"),
            row=row, col=col,
        )
    fig.add_hline(y=C.AMYLOID_POSITIVE_CL, line_dash="dash", annotation_text="amyloid positive (24.1 CL)", row=1, col=1)
    fig.add_hline(y=C.TAU_POSITIVE_SUVR, line_dash="dot", annotation_text="tau positive (1.10)", row=1, col=2)
    fig.add_hline(y=C.TAU_HIGH_SUVR, line_dash="dash", annotation_text="high tau (1.46)", row=1, col=2)
    xlabel = "Age (years)" if x == C.AGE else "Years from amyloid onset"
    fig.update_xaxes(title_text=xlabel, row=2, col=1)
    fig.update_xaxes(title_text=xlabel, row=2, col=2)
    fig.update_layout(height=620, showlegend=False, margin={"t": 70, "b": 40, "l": 50, "r": 20}, hovermode="x unified")
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


def arm_colours(names) -> dict[str, str]:
    """One colour per arm or regimen name, by order, the same in every figure."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def band_figure(table: pd.DataFrame, group: str, x: str, title: str, y_label: str, x_label: str, colours: dict[str, str],
                centre: str = "mean", lo: str = "lo", hi: str = "hi", hlines=()) -> go.Figure:
    """Lines with shaded intervals, one per group (arm or regimen)."""
    fig = go.Figure()
    for name in colours:
        part = table[table[group] == name].sort_values(x)
        if part.empty:
            continue
        colour = colours[name]
        fig.add_trace(go.Scatter(x=np.concatenate([part[x], part[x][::-1]]), y=np.concatenate([part[hi], part[lo][::-1]]),
                                 fill="toself", mode="lines", fillcolor=_rgba(colour, 0.15), line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=part[x], y=part[centre], name=str(name), mode="lines+markers", line={"color": colour, "width": 2.5},
                                 legendgroup=name, customdata=np.stack([part[lo], part[hi]], axis=1),
                                 hovertemplate=f"{name}<br>{x_label} %{{x:.0f}}<br>{y_label} %{{y:.2f}} "
                                               "(%{customdata[0]:.2f} to %{customdata[1]:.2f})<extra></extra>"))
    for y, text in hlines:
        fig.add_hline(y=y, line_dash="dash", annotation_text=text)
    fig.update_layout(title=title, xaxis_title=x_label, yaxis_title=y_label, height=380, margin={"t": 50, "b": 40, "l": 60, "r": 20},
                      legend={"orientation": "h", "y": -0.25})
    return fig


def trial_measure_figure(trajectories: pd.DataFrame, measure: str, colours: dict[str, str]) -> go.Figure:
    """One trial endpoint over weeks, per arm, mean with its 95% interval."""
    part = trajectories[trajectories["measure"] == measure]
    hlines = [(0, "baseline")] if measure.endswith("_change") else []
    return band_figure(part, "arm", "week", MEASURE_LABELS.get(measure, measure), MEASURE_LABELS.get(measure, measure),
                       "Week", colours, hlines=hlines)


def projection_figure(trajectories: pd.DataFrame, observable: str, colours: dict[str, str]) -> go.Figure:
    """A profile's projection of one observable per regimen: median and 10-90% band."""
    part = trajectories[trajectories["observable"] == observable].assign(years=lambda d: d["week"] / C.WEEKS_PER_YEAR)
    hlines = []
    if observable == C.AMYLOID_CL:
        hlines = [(C.AMYLOID_POSITIVE_CL, "amyloid positive / cleared (24.1 CL)")]
    elif observable == C.TAU_SUVR:
        hlines = [(C.TAU_POSITIVE_SUVR, "tau positive (1.10)"), (C.TAU_HIGH_SUVR, "high tau (1.46)")]
    elif observable == C.CDRSB:
        hlines = [(C.STAGES["mild_dementia"][0], "mild dementia"), (C.STAGES["moderate_dementia"][0], "moderate dementia")]
    return band_figure(part, "regimen", "years", C.LABELS[observable], C.LABELS[observable], "Years from today", colours,
                       centre="median", lo="p10", hi="p90", hlines=hlines)


def targets_figure(table: pd.DataFrame) -> go.Figure:
    """Model vs published for every calibration target, with the tolerance as error bars."""
    labels = [f"{r.trial} | {r.arm} | {r.measure}{' APOE4=' + r.apoe4_copies if isinstance(r.apoe4_copies, str) and r.apoe4_copies else ''} | wk {int(r.week)}"
              for r in table.itertuples()]
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
