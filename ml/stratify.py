"""The Stratification workflow: train the models on a simulated cohort, tabulate their checks, score real patients."""

from __future__ import annotations

import pandas as pd

from ml.cohort import CohortSettings, Thresholds, simulate_cohort
from ml.data import baseline_rows
from ml.enrich import DEFAULT_REGIMEN
from ml.models import TASKS, audit_failure, train_task
from ml.qsp_features import add_qsp_features
from ml.uncertainty import ensemble, predict_with_uncertainty, qsp_variance_share

ENSEMBLE_DRAWS = 3  # QSP parameter draws behind the intervals
ENSEMBLE_BOOTSTRAPS = 2  # ML refits per draw


def cohort_settings(n: int, seed: int, fast_iadrs_drop: float, responder_iadrs_benefit: float) -> CohortSettings:
    """A cohort of ``n`` virtual patients with the given fast-progressor and responder thresholds (iADRS points)."""
    return CohortSettings(n=n, seed=seed, thresholds=Thresholds(fast_progressor_iadrs_drop=fast_iadrs_drop,
                                                                 responder_iadrs_benefit=responder_iadrs_benefit))


def train_models(settings: CohortSettings) -> tuple[pd.DataFrame, dict]:
    """Simulate the cohort and train one model per task: (cohort, task -> TrainedModel)."""
    cohort = simulate_cohort(settings)
    return cohort, {task: train_task(cohort, task, seed=settings.seed) for task in TASKS}


def uncertainty_grids(settings: CohortSettings) -> dict:
    """Per task, (grid of models over QSP parameter draws x bootstraps, features) for prediction intervals."""
    return ensemble(settings, tuple(TASKS), n_draws=ENSEMBLE_DRAWS, n_boot=ENSEMBLE_BOOTSTRAPS, seed=settings.seed)


def validation_table(models: dict) -> pd.DataFrame:
    """One row per model: held-out AUC (and what it is measured on), AUC with shuffled labels, Brier score, prevalence,
    sizes, and the audit: "passed", or "FAILED" when the model is no better than its shuffled-label twin (see
    :func:`failed_audits`)."""
    return pd.DataFrame([{
        "model": task, "outcome": m.label, "AUC (held-out)": m.metrics["auc"], "AUC with shuffled labels": m.metrics["auc_shuffled"],
        "Brier": m.metrics["brier"], "prevalence": m.metrics["prevalence"],
        "AUC measured on": m.metrics.get("auc_basis", "held-out labels"),
        "train/test patients": f"{m.metrics['n_train']}/{m.metrics['n_test']}",
        "audit": "passed" if audit_failure(m.metrics) is None else "FAILED (not used)"} for task, m in models.items()])


def failed_audits(models: dict) -> dict[str, str]:
    """Task -> why its model failed the audit, for the models not used for the twin's strata or for enrichment."""
    return {task: why for task, m in models.items() if (why := audit_failure(m.metrics))}


def usable_models(models: dict) -> dict:
    """The models that passed their audit (the ones the Digital twin and the Trial designer may use)."""
    failed = failed_audits(models)
    return {task: m for task, m in models.items() if task not in failed}


def subgroup_table(model) -> pd.DataFrame:
    """The model's bias audit as rows of (group, level, metrics...)."""
    groups = model.metrics["subgroups"]["groups"]
    return pd.DataFrame([{"group": g, "level": level, **values} for g, levels in groups.items() for level, values in levels.items()])


def patients_for_scoring(visits: pd.DataFrame, regimen: str = DEFAULT_REGIMEN) -> tuple[pd.DataFrame, list[str]]:
    """One baseline row per patient with the exposure features simulated on ``regimen``; notes on what was assumed."""
    return add_qsp_features(baseline_rows(visits), regimen)


def score_patients(models: dict, patients: pd.DataFrame, grids: dict | None = None) -> pd.DataFrame:
    """Per patient, each model's probability; with ``grids`` (:func:`uncertainty_grids`) the probability is the
    ensemble's median, with its 10th and 90th percentiles (so it lies inside them) and the share of the variance
    that comes from QSP parameters."""
    scores = patients[["patient_id"]].copy()
    for name, model in models.items():
        scores[f"{name} probability"] = model.predict(patients)
    for name, (grid, features) in (grids or {}).items():
        bands = predict_with_uncertainty(grid, features, patients)
        scores[f"{name} probability"] = bands["median"].to_numpy()
        scores[f"{name} p10"], scores[f"{name} p90"] = bands["p10"].to_numpy(), bands["p90"].to_numpy()
        scores[f"{name} variance from QSP parameters"] = qsp_variance_share(bands)
    return scores


def patient_contributions(model, patients: pd.DataFrame, patient_id) -> pd.Series:
    """One patient's feature contributions (log-odds, without the bias), smallest first."""
    return model.contributions(patients[patients["patient_id"] == patient_id]).iloc[0].drop("bias").sort_values()
