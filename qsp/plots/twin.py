"""Plotly figures of a digital twin (no computation, no Streamlit): visits, the twin's fit, forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from qsp.plots.trial import _rgba, band_figure, band_key, display_label, in_display_units, threshold_lines

FIT_COLOUR = "#555555"  # the twin over the visits
QUANTILE_COLUMNS = ("median", "p10", "p90", "p2_5", "p97_5")  # columns of the forecast bands
LIMIT_SMOOTHING_POINTS = 5  # 95% limits: centred moving average over this many time points (20 weeks at 4-week steps)


def smooth_limit(values, centre=None) -> np.ndarray:
    """A 95% limit drawn without its Monte Carlo zig-zag: centred moving average, fewer points at the ends.

    With ``centre`` (the median) only the limit's distance from it is averaged: averaging the limit itself cut the
    corners of a steep course (under treatment amyloid falls 90 CL in a year: the drawn limit started tens of CL
    below every draw).

    >>> smooth_limit([0.0, 2.0, 0.0, 2.0, 0.0, 2.0, 0.0]).round(2).tolist()
    [0.67, 1.0, 0.8, 1.2, 0.8, 1.0, 0.67]
    >>> smooth_limit([100.0, 70.0, 40.0, 20.0], centre=[90.0, 60.0, 30.0, 10.0]).tolist()
    [100.0, 70.0, 40.0, 20.0]
    """
    values = np.asarray(values, dtype=float)
    base = np.zeros_like(values) if centre is None else np.asarray(centre, dtype=float)
    return base + pd.Series(values - base).rolling(LIMIT_SMOOTHING_POINTS, center=True, min_periods=1).mean().to_numpy()


def twin_figure(fit: pd.DataFrame, bands: pd.DataFrame, observable: str, colours: dict[str, str]) -> go.Figure:
    """Observations, the twin over the visits (median, 10-90%) and forecasts per regimen (median, 80% band, 95% limits).

    ``bands`` and ``colours`` name the regimens the same way (ids or readable labels); ARIA-E risk is drawn in %.
    """
    part = in_display_units(bands[bands["observable"] == observable], observable, QUANTILE_COLUMNS)
    label = display_label(observable)
    fig = band_figure(part, "regimen", "week", f"{label}: forecast", label, "Weeks from the baseline visit", colours,
                      centre="median", lo="p10", hi="p90", hlines=threshold_lines(observable), band_name="80% band")
    for name, colour in colours.items():
        p = part[part["regimen"] == name].sort_values("week")
        for q in ("p2_5", "p97_5"):
            # the limits are Monte Carlo tail quantiles at 4-week steps: drawn as computed they zig-zag
            fig.add_trace(go.Scatter(x=p["week"], y=smooth_limit(p[q], p["median"]), mode="lines", showlegend=False, hoverinfo="skip",
                                     legendgroup=name,
                                     line={"color": colour, "width": 1, "dash": "dot", "shape": "spline", "smoothing": 1.0}))
    band_key(fig, "95% limits (dotted, smoothed)", dotted=True)
    f = fit[fit["observable"] == observable].sort_values("week")
    if not f.empty:
        fig.add_trace(go.Scatter(x=np.concatenate([f["week"], f["week"][::-1]]), y=np.concatenate([f["p90"], f["p10"][::-1]]),
                                 fill="toself", fillcolor=_rgba(FIT_COLOUR, 0.15), line={"width": 0}, hoverinfo="skip",
                                 name="twin (fit): 80% band", showlegend=False, legendgroup="twin (fit)"))
        fig.add_trace(go.Scatter(x=f["week"], y=f["median"], mode="lines", name="twin (fit)", legendgroup="twin (fit)",
                                 line={"color": FIT_COLOUR, "width": 2}))
        seen = f.dropna(subset=["observed"])
        fig.add_trace(go.Scatter(x=seen["week"], y=seen["observed"], mode="markers", name="visits",
                                 marker={"color": "black", "size": 9, "symbol": "diamond"},
                                 hovertemplate=f"week %{{x:.0f}}<br>{label} %{{y:.2f}}<extra>visit</extra>"))
    return fig
