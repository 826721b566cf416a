"""Plotly figure builders (no computation, no Streamlit): units on axes, thresholds drawn."""

from __future__ import annotations

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
    for name, x0, x1 in bands:
        for _, row, col in panels:
            fig.add_vrect(x0=x0, x1=x1, fillcolor=STAGE_COLOURS[name], line_width=0, row=row, col=col)
        fig.add_annotation(
            x=(x0 + x1) / 2, y=1.07, xref="x", yref="paper", text=STAGE_LABELS[name], showarrow=False, font={"size": 10}
        )
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
