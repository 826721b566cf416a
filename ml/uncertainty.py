"""Uncertainty from QSP parameters to ML predictions.

The QSP -> ML chain is repeated over draws of the uncertain model parameters (the core's
parameter-uncertainty table): each draw simulates its own cohort, and on each cohort several
bootstrap refits stand for the ML model's own uncertainty. For every patient the predictions
form a (draw x bootstrap) grid; its spread gives the interval, and the law of total variance
splits it into a QSP-parameter part (variance across draws of the bootstrap mean) and an ML part
(mean variance across bootstraps within a draw).
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.cohort import CohortSettings, simulate_cohort
from ml.models import LGBM_PARAMS, TASKS
from qsp.parameters import draw_parameter_sets


def ensemble(settings: CohortSettings, task: str, n_draws: int = 3, n_boot: int = 3, scale: float = 1.0, seed: int = 1):
    """Fitted models, one per (parameter draw, bootstrap), as a list of lists of LGBMClassifier."""
    label, features = TASKS[task]
    draws = draw_parameter_sets(n_draws, seed=seed, scale=scale)
    grid = []
    for overrides in draws:
        # the same virtual patients and bootstrap samples for every draw: only the parameters differ
        cohort = simulate_cohort(settings, parameter_overrides=overrides)
        row = []
        for b in range(n_boot):
            rng = np.random.default_rng([seed, b])
            sample = cohort.iloc[rng.integers(0, len(cohort), len(cohort))]
            model = lgb.LGBMClassifier(random_state=seed + b, **LGBM_PARAMS).fit(sample[list(features)], sample[label])
            row.append(model)
        grid.append(row)
    return grid, features


def predict_with_uncertainty(grid, features, frame: pd.DataFrame) -> pd.DataFrame:
    """Per patient: mean, 10th and 90th percentile, and the QSP / ML variance shares."""
    p = np.array([[m.predict_proba(frame[list(features)])[:, 1] for m in row] for row in grid])  # draws x boots x patients
    total = p.reshape(-1, p.shape[-1]).var(axis=0)
    qsp_part = p.mean(axis=1).var(axis=0)
    ml_part = p.var(axis=1).mean(axis=0)
    return pd.DataFrame({
        "mean": p.mean(axis=(0, 1)),
        "p10": np.percentile(p.reshape(-1, p.shape[-1]), 10, axis=0),
        "p90": np.percentile(p.reshape(-1, p.shape[-1]), 90, axis=0),
        "var_total": total,
        "var_qsp_parameters": qsp_part,
        "var_ml_model": ml_part,
    }, index=frame.index)


def variance_report(predictions: pd.DataFrame) -> dict:
    """How much of the prediction variance comes from QSP parameters vs the ML model (cohort means)."""
    q, m = float(predictions["var_qsp_parameters"].mean()), float(predictions["var_ml_model"].mean())
    return {"mean_interval_width": float((predictions["p90"] - predictions["p10"]).mean()),
            "var_qsp_parameters": q, "var_ml_model": m, "share_qsp_parameters": q / (q + m) if q + m > 0 else float("nan")}
