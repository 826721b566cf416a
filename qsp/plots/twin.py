"""Plotly figures of a digital twin (no computation, no Streamlit): visits, the twin's fit, forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from qsp import constants as C
from qsp.plots.trial import _rgba, band_figure

FIT_COLOUR = "#555555"  # the twin over the visits


def twin_figure(fit: pd.DataFrame, bands: pd.DataFrame, observable: str, colours: dict[str, str]) -> go.Figure:
    """Observations, the twin over the visits (median, 10-90%) and forecasts per regimen (median, 80% band, 95% limits)."""
    part = bands[bands["observable"] == observable]
    label = C.LABELS[observable]
    hlines = []
    if observable == C.AMYLOID_CL:
        hlines = [(C.AMYLOID_POSITIVE_CL, "amyloid positive (24.1 CL)")]
    elif observable == C.CDRSB:
        hlines = [(C.STAGES["mild_dementia"][0], "mild dementia"), (C.STAGES["moderate_dementia"][0], "moderate dementia")]
    fig = band_figure(part, "regimen", "week", f"{label}: forecast (median, 80% band; dotted: 95%)", label,
                      "Weeks from the baseline visit", colours, centre="median", lo="p10", hi="p90", hlines=hlines)
    for name, colour in colours.items():
        p = part[part["regimen"] == name].sort_values("week")
        for q in ("p2_5", "p97_5"):
            fig.add_trace(go.Scatter(x=p["week"], y=p[q], mode="lines", line={"color": colour, "width": 1, "dash": "dot"},
                                     showlegend=False, hoverinfo="skip", legendgroup=name))
    f = fit[fit["observable"] == observable].sort_values("week")
    if not f.empty:
        fig.add_trace(go.Scatter(x=np.concatenate([f["week"], f["week"][::-1]]), y=np.concatenate([f["p90"], f["p10"][::-1]]),
                                 fill="toself", fillcolor=_rgba(FIT_COLOUR, 0.15), line={"width": 0}, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=f["week"], y=f["median"], mode="lines", name="twin (fit)", line={"color": FIT_COLOUR, "width": 2}))
        seen = f.dropna(subset=["observed"])
        fig.add_trace(go.Scatter(x=seen["week"], y=seen["observed"], mode="markers", name="visits",
                                 marker={"color": "black", "size": 9, "symbol": "diamond"},
                                 hovertemplate=f"week %{{x:.0f}}<br>{label} %{{y:.2f}}<extra>visit</extra>"))
    return fig
