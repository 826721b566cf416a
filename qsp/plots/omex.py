"""Plotly figures of a COMBINE archive's SED-ML plot outputs (the data come from :func:`qsp.lab.omex.run_archive`)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from qsp.lab.omex import SedOutput


def sed_plot_figure(output: SedOutput, frame: pd.DataFrame) -> go.Figure:
    """A plot2D as lines (one per curve, log axes as the SED-ML asks) or a plot3D as 3-D lines.

    ``frame``: the output's DataFrame, one column per data-generator id.
    """
    fig = go.Figure()
    for curve in output.curves:
        if curve.x not in frame or curve.y not in frame:
            continue
        if output.kind == "plot3D" and curve.z in frame:
            fig.add_trace(go.Scatter3d(x=frame[curve.x], y=frame[curve.y], z=frame[curve.z], name=curve.label, mode="lines"))
        else:
            fig.add_trace(go.Scatter(x=frame[curve.x], y=frame[curve.y], name=curve.label, mode="lines",
                                     hovertemplate=f"{curve.x} %{{x:.4g}}<br>{curve.label} %{{y:.4g}}<extra></extra>"))
    first = output.curves[0] if output.curves else None
    fig.update_layout(title=output.name or output.id, height=420, margin={"t": 40, "b": 40, "l": 50, "r": 20},
                      xaxis_title=first.x if first else None,
                      xaxis_type="log" if first and first.log_x else None,
                      yaxis_type="log" if first and first.log_y else None)
    return fig
