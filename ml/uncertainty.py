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
from ml.models import TASKS, fit_classifier
from qsp.engine.parameters import draw_parameter_sets


def ensemble(settings: CohortSettings, task: str | tuple[str, ...], n_draws: int = 3, n_boot: int = 3, scale: float = 1.0, seed: int = 1):
    """Fitted models per (parameter draw, bootstrap): a list of lists of LGBMClassifier.

    With several tasks, one cohort per draw serves them all and a dict task -> (grid, features)
    is returned.
    """
    tasks = (task,) if isinstance(task, str) else tuple(task)
    draws = draw_parameter_sets(n_draws, seed=seed, scale=scale)
    grids: dict[str, list] = {t: [] for t in tasks}
    for overrides in draws:
        # the same virtual patients and bootstrap samples for every draw: only the parameters differ
        cohort = simulate_cohort(settings, parameter_overrides=overrides)
        for t in tasks:
            row = []
            for b in range(n_boot):
                rng = np.random.default_rng([seed, b])
                sample = cohort.iloc[rng.integers(0, len(cohort), len(cohort))]
                row.append(fit_classifier(sample, t, seed + b))
            grids[t].append(row)
    if isinstance(task, str):
        return grids[task], TASKS[task][1]
    return {t: (grids[t], TASKS[t][1]) for t in tasks}


def save_ensemble(grids: dict, directory) -> None:
    """Write each ensemble member (LightGBM text) under DIRECTORY/ensemble/TASK/dK_bB.txt."""
    from pathlib import Path

    for task, (grid, _) in grids.items():
        folder = Path(directory) / "ensemble" / task
        folder.mkdir(parents=True, exist_ok=True)
        for k, row in enumerate(grid):
            for b, model in enumerate(row):
                model.booster_.save_model(str(folder / f"d{k}_b{b}.txt"))


class _BoosterModel:
    """An ensemble member read back from disk, with the predict_proba the interval code uses."""

    def __init__(self, path):
        self.booster = lgb.Booster(model_file=str(path))

    def predict_proba(self, frame):
        p = self.booster.predict(frame.to_numpy(dtype=float))
        return np.column_stack([1 - p, p])


def load_ensemble(directory, task: str):
    """The (draws x bootstraps) grid saved by :func:`save_ensemble`, or None when absent."""
    from pathlib import Path

    folder = Path(directory) / "ensemble" / task
    files = sorted(folder.glob("d*_b*.txt")) if folder.is_dir() else []
    if not files:
        return None
    draws = sorted({int(f.stem.split("_")[0][1:]) for f in files})
    boots = sorted({int(f.stem.split("_")[1][1:]) for f in files})
    return [[_BoosterModel(folder / f"d{k}_b{b}.txt") for b in boots] for k in draws]


def predict_with_uncertainty(grid, features, frame: pd.DataFrame) -> pd.DataFrame:
    """Per patient: mean, median, 10th and 90th percentile, and the QSP / ML variance shares.

    The median is the point to report beside the interval: it lies inside its own 10th-90th percentiles by
    construction (a single model's probability need not, as it was fitted on a different cohort).
    """
    p = np.array([[m.predict_proba(frame[list(features)])[:, 1] for m in row] for row in grid])  # draws x boots x patients
    total = p.reshape(-1, p.shape[-1]).var(axis=0)
    qsp_part = p.mean(axis=1).var(axis=0)
    ml_part = p.var(axis=1).mean(axis=0)
    return pd.DataFrame({
        "mean": p.mean(axis=(0, 1)),
        "median": np.median(p.reshape(-1, p.shape[-1]), axis=0),
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


def qsp_variance_share(bands: pd.DataFrame) -> np.ndarray:
    """Per patient, the share of the prediction variance that comes from QSP parameters (NaN where there is none).

    ``bands``: the table :func:`predict_with_uncertainty` returns.

    >>> qsp_variance_share(pd.DataFrame({"var_qsp_parameters": [0.01, 0.0], "var_total": [0.04, 0.0]})).tolist()
    [0.25, nan]
    """
    total = bands["var_total"]
    return (bands["var_qsp_parameters"] / total.where(total > 0)).to_numpy()
