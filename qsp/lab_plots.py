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
