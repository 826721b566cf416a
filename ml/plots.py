"""Plotly figures of the ML models: validation curves, importance, per-patient contributions (no computation)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

HEIGHT = 330  # px, validation curves side by side
BAR_HEIGHT = 340  # px, horizontal bar charts
BAR_MARGIN = {"l": 160}  # room for feature names


def _diagonal(name: str) -> go.Scatter:
    return go.Scatter(x=[0, 1], y=[0, 1], name=name, line={"dash": "dash"})


def roc_figure(curves: dict, auc: float) -> go.Figure:
    """ROC curve (``curves["roc"]``: fpr, tpr) against chance."""
    fig = go.Figure([go.Scatter(x=curves["roc"]["fpr"], y=curves["roc"]["tpr"], name="model"), _diagonal("chance")])
    fig.update_layout(title=f"ROC (AUC {auc:.2f})", xaxis_title="False-positive rate", yaxis_title="True-positive rate", height=HEIGHT)
    return fig


def precision_recall_figure(curves: dict) -> go.Figure:
    """Precision-recall curve (``curves["pr"]``: recall, precision)."""
    fig = go.Figure(go.Scatter(x=curves["pr"]["recall"], y=curves["pr"]["precision"], name="model"))
    fig.update_layout(title="Precision-recall", xaxis_title="Recall", yaxis_title="Precision", height=HEIGHT)
    return fig


def calibration_figure(curves: dict) -> go.Figure:
    """Observed rate against predicted probability (``curves["calibration"]``) and the perfect diagonal."""
    cal = curves["calibration"]
    fig = go.Figure([go.Scatter(x=cal["predicted"], y=cal["observed"], mode="lines+markers", name="model"), _diagonal("perfect")])
    fig.update_layout(title="Calibration", xaxis_title="Predicted probability", yaxis_title="Observed rate", height=HEIGHT)
    return fig


def importance_figure(importance: pd.Series) -> go.Figure:
    """Global importance: each feature's share of the total gain."""
    fig = go.Figure(go.Bar(x=importance.values, y=importance.index, orientation="h", hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_layout(title="Global importance (share of gain)", xaxis_title="Share of total gain", height=BAR_HEIGHT, margin=BAR_MARGIN)
    return fig


def contributions_figure(contributions: pd.Series, patient_id: str) -> go.Figure:
    """One patient's feature contributions (log-odds), as returned by :func:`ml.stratify.patient_contributions`."""
    fig = go.Figure(go.Bar(x=contributions.values, y=contributions.index, orientation="h"))
    fig.update_layout(title=f"Feature contributions for {patient_id} (log-odds, LightGBM)", height=BAR_HEIGHT, margin=BAR_MARGIN)
    return fig
