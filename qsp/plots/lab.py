"""Plotly figure builders of the model lab (no computation, no Streamlit)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def timecourse_figure(result: pd.DataFrame, time_unit: str = "model time units") -> go.Figure:
    """One line per output column of a lab simulation against ``time``."""
    fig = go.Figure()
    for column in result.columns[1:]:
        fig.add_trace(go.Scatter(x=result["time"], y=result[column], name=column, mode="lines",
                                 hovertemplate=f"t %{{x:.4g}}<br>{column} %{{y:.4g}}<extra></extra>"))
    fig.update_layout(xaxis_title=f"Time ({time_unit})", yaxis_title="Value (model units)", height=450,
                      margin={"t": 30, "b": 40, "l": 50, "r": 20}, hovermode="x unified")
    return fig


def sensitivity_figure(table: pd.DataFrame, output: str, top: int = 20) -> go.Figure:
    """Horizontal bars of the largest scaled sensitivities of ``output``."""
    shown = table.dropna().head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=shown["scaled_sensitivity"], y=shown["parameter"], orientation="h"))
    fig.update_layout(xaxis_title=f"Scaled sensitivity of {output} (d ln y / d ln p)", height=max(250, 22 * len(shown) + 80),
                      margin={"t": 30, "b": 40, "l": 120, "r": 20})
    return fig


def sobol_figure(table: pd.DataFrame, output: str, top: int = 20) -> go.Figure:
    """Grouped bars of first-order (S1) and total (ST) Sobol indices with their 95% confidence half-widths."""
    shown = table.head(top).iloc[::-1]
    fig = go.Figure([
        go.Bar(x=shown["S1"], y=shown["parameter"], orientation="h", name="first order S1",
               error_x={"type": "data", "array": shown["S1_conf"]}),
        go.Bar(x=shown["ST"], y=shown["parameter"], orientation="h", name="total ST",
               error_x={"type": "data", "array": shown["ST_conf"]}),
    ])
    fig.update_layout(barmode="group", xaxis_title=f"Sobol index of {output} (share of variance)",
                      height=max(280, 40 * len(shown) + 100), margin={"t": 30, "b": 40, "l": 120, "r": 20})
    return fig


def morris_figure(table: pd.DataFrame, output: str) -> go.Figure:
    """Morris screening: mu* (overall effect) against sigma (nonlinearity or interactions), one labelled point per parameter."""
    fig = go.Figure(go.Scatter(
        x=table["mu_star"], y=table["sigma"], mode="markers+text", text=table["parameter"], textposition="top center",
        error_x={"type": "data", "array": table["mu_star_conf"]},
        hovertemplate="%{text}<br>mu* %{x:.4g}<br>sigma %{y:.4g}<extra></extra>"))
    fig.update_layout(xaxis_title=f"mu* of {output} (mean |elementary effect|)", yaxis_title="sigma (spread of effects)",
                      height=450, margin={"t": 30, "b": 40, "l": 60, "r": 20})
    return fig
