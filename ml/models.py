"""Train, audit and explain the three models: progression, treatment response, ARIA-E.

Every model is a LightGBM classifier (scikit-learn API) on baseline features only, trained on a
split grouped by patient (no patient on both sides). The report records which leakage checks
ran: grouped split, baseline-only features, and a label-shuffle refit whose AUC must fall to
chance. The bias audit gives AUC, calibration (Brier score, mean predicted vs observed) and
counts by sex, age band and APOE4 genotype, warns about under-represented or worse subgroups,
and compares cohort composition with the reference trial populations.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, precision_recall_curve, roc_auc_score, roc_curve
from sklearn.model_selection import GroupShuffleSplit

from ml.cohort import BASELINE_FEATURES, QSP_FEATURES
from qsp import constants as C
from qsp.errors import InvalidInput
from qsp.provenance.record import data_sha256, package_versions

TASKS = {  # name -> (label column, features)
    "progression": ("fast_progressor", BASELINE_FEATURES),
    "responder": ("responder", BASELINE_FEATURES),
    "aria": ("aria_e_event", BASELINE_FEATURES + QSP_FEATURES),
}
LGBM_PARAMS = {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
               "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.9, "verbose": -1, "n_jobs": 1}
REGRESSION_TASKS = {  # name -> (target column, features): the continuous outcomes behind the classes
    "iadrs_change": ("iadrs_change", BASELINE_FEATURES),  # iADRS change untreated over the horizon
    "cdrsb_change": ("cdrsb_change", BASELINE_FEATURES),  # CDR-SB change untreated over the horizon
    "benefit_iadrs": ("benefit_iadrs", BASELINE_FEATURES),  # iADRS points spared by the regimen (individual effect)
}
REFERENCE_POPULATION = {  # early symptomatic AD trial baselines (CLARITY AD, TRAILBLAZER-ALZ 2)
    "female_pct": 55.0,
    "apoe4_pct": {"0": 31.0, "1": 53.0, "2": 16.0},
    "age_mean": 73.0,
}
MIN_SUBGROUP = 30  # fewer patients than this in a subgroup: flagged as under-represented
AUC_GAP_WARNING = 0.05  # subgroup AUC this much below overall: flagged
SHUFFLE_REPEATS = 5  # label permutations averaged in the shuffle check
AUDIT_MARGIN_AUC = 0.05  # a model's held-out AUC must exceed its shuffled-label twin's by this much to be used
# Labels drawn from a probability the simulation knows: the model is trained on that probability (each patient
# once as an event with weight p and once as a non-event with weight 1 - p: the expected log-loss over the
# draws) and audited on the expected held-out AUC. The drawn events alone are so noisy that even the true
# risk reaches held-out AUCs of 0.52-0.73 on cohorts of 300-1,200 (ARIA-E: about 20% events); the AUC on the
# drawn events is still reported (``auc_events``).
RISK_COLUMNS = {"aria_e_event": "aria_e_risk"}


def audit_failure(metrics: dict) -> str | None:
    """Why a classifier fails its audit (None: it passes): held-out AUC not above the shuffled-label AUC by
    AUDIT_MARGIN_AUC, or a shuffled refit that does not fall to chance (leakage). A failed model is not used.

    >>> audit_failure({"auc": 0.38, "auc_shuffled": 0.53})
    'held-out AUC 0.38 is not above the shuffled-label AUC 0.53 by 0.05: no better than chance'
    >>> audit_failure({"auc": 0.80, "auc_shuffled": 0.51}) is None
    True
    """
    if "auc" not in metrics:  # not a classifier's metrics (nothing to audit)
        return None
    auc, shuffled = metrics.get("auc", math.nan), metrics.get("auc_shuffled", math.nan)
    if auc is None or shuffled is None or math.isnan(auc) or math.isnan(shuffled):
        return "no held-out AUC (a single class in the test set)"
    if not auc > shuffled + AUDIT_MARGIN_AUC:
        return (f"held-out AUC {auc:.2f} is not above the shuffled-label AUC {shuffled:.2f} by {AUDIT_MARGIN_AUC:g}: "
                "no better than chance")
    if abs(shuffled - 0.5) >= 0.1:
        return f"the shuffled-label refit's AUC {shuffled:.2f} is far from 0.5: information leaks from the labels"
    return None


def _auc(y, p) -> float:
    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else math.nan


def expected_labels(frame: pd.DataFrame, features, risk: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(features twice, labels 1 then 0, weights p then 1 - p): the expected labels of events drawn with probability p.

    >>> X, y, w = expected_labels(pd.DataFrame({"a": [1.0, 2.0]}), ["a"], np.array([0.2, 0.9]))
    >>> y.tolist(), w.round(2).tolist()
    ([1, 1, 0, 0], [0.2, 0.9, 0.8, 0.1])
    """
    X = frame[list(features)]
    risk = np.clip(np.asarray(risk, dtype=float), 0.0, 1.0)
    return (pd.concat([X, X], ignore_index=True), np.r_[np.ones(len(X), int), np.zeros(len(X), int)],
            np.r_[risk, 1.0 - risk])


def expected_auc(risk: np.ndarray, p: np.ndarray) -> float:
    """The AUC expected over events drawn with probability ``risk``, of the scores ``p``: every pair of two different
    patients, one drawn as an event and the other not, weighted by that chance (ties count half).

    >>> round(expected_auc(np.array([0.9, 0.1]), np.array([0.8, 0.3])), 3)  # 0.81 / (0.81 + 0.01)
    0.988
    """
    risk = np.clip(np.asarray(risk, dtype=float), 0.0, 1.0)
    p = np.asarray(p, dtype=float)
    total = risk.sum() * (1 - risk).sum()
    self_pairs = float(np.sum(risk * (1 - risk)))  # a patient against itself: not a pair
    if total - self_pairs <= 0:
        return math.nan
    weighted = roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(p))], np.r_[p, p], sample_weight=np.r_[risk, 1 - risk])
    return float((weighted * total - 0.5 * self_pairs) / (total - self_pairs))


def risk_column(label: str, frame: pd.DataFrame) -> str | None:
    """The simulated probability behind ``label`` when ``frame`` has it (see :data:`RISK_COLUMNS`), else None."""
    risk = RISK_COLUMNS.get(label)
    return risk if risk in frame.columns else None


def fit_classifier(frame: pd.DataFrame, task: str, seed: int, labels: np.ndarray | None = None) -> lgb.LGBMClassifier:
    """The task's LightGBM classifier on ``frame``: on the simulated risk when the cohort has it (see
    :data:`RISK_COLUMNS`), else on the labels; ``labels`` replaces the label (or risk) column (shuffle check)."""
    label, features = TASKS[task]
    features = [f for f in features if f in frame.columns]
    risk = risk_column(label, frame)
    model = lgb.LGBMClassifier(random_state=seed, **LGBM_PARAMS)
    if risk:
        X, y, w = expected_labels(frame, features, frame[risk].to_numpy() if labels is None else labels)
        return model.fit(X, y, sample_weight=w)
    return model.fit(frame[features], frame[label] if labels is None else labels)


def grouped_split(cohort: pd.DataFrame, seed: int, test_size: float = 0.25, groups: str = "patient_id"):
    """Train/test indices with no patient on both sides."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train, test = next(splitter.split(cohort, groups=cohort[groups]))
    return train, test


def check_no_leakage(train: pd.DataFrame, test: pd.DataFrame, features, groups: str = "patient_id") -> list[str]:
    """Problems that would leak information from test into training (empty when clean)."""
    problems = []
    shared = set(train[groups]) & set(test[groups])
    if shared:
        problems.append(f"{len(shared)} patients have rows on both sides of the split")
    outcome_like = [f for f in features if any(k in f for k in ("change", "benefit", "event", "responder", "progressor"))]
    if outcome_like:
        problems.append(f"features derived from outcomes: {outcome_like}")
    return problems


@dataclass
class TrainedModel:
    """A fitted model with its metrics and provenance."""

    task: str
    label: str
    features: tuple[str, ...]
    model: lgb.LGBMClassifier
    metrics: dict = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(frame[list(self.features)])[:, 1]

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """LightGBM's own per-patient feature contributions (log-odds), plus the bias column."""
        raw = self.model.predict(frame[list(self.features)], pred_contrib=True)
        return pd.DataFrame(raw, columns=[*self.features, "bias"], index=frame.index)

    def importance(self) -> pd.Series:
        gain = self.model.booster_.feature_importance(importance_type="gain")
        return pd.Series(gain / gain.sum() if gain.sum() else gain, index=list(self.features)).sort_values(ascending=False)


def validation_curves(y: np.ndarray, p: np.ndarray) -> dict:
    """ROC, precision-recall and calibration (10 quantile bins) curves on the held-out set."""
    if len(np.unique(y)) < 2:
        return {}
    fpr, tpr, _ = roc_curve(y, p)
    precision, recall, _ = precision_recall_curve(y, p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "pr": {"recall": recall.tolist(), "precision": precision.tolist()},
            "calibration": {"predicted": predicted.tolist(), "observed": observed.tolist()}}


SUBGROUP_LABELS = {"sex": "sex", "age_band": "age", "apoe4_copies": "APOE4 copies"}  # how the audit's groups are named to users


def subgroup_audit(frame: pd.DataFrame, y: np.ndarray, p: np.ndarray, risk: np.ndarray | None = None) -> dict:
    """AUC, Brier score and calibration by sex, age band and APOE4, with warnings. With ``risk`` (the simulated
    probability the labels were drawn from) the AUCs are the expected ones, as in the model's audit."""

    def auc_of(mask=slice(None)):
        return expected_auc(risk[mask], p[mask]) if risk is not None else _auc(y[mask], p[mask])

    overall = auc_of()
    bands = pd.cut(frame["age"], [0, 65, 75, 200], labels=["<65", "65-74", ">=75"], right=False)
    groups = {"sex": frame["sex"] if "sex" in frame else frame["is_female"].map({1: "F", 0: "M"}),
              "age_band": bands.astype(str), "apoe4_copies": frame["apoe4_copies"].astype(int).astype(str)}
    order = {"age_band": ["<65", "65-74", ">=75"]}  # natural order, not text order (65-74 sorted before <65)
    out, warnings = {}, []
    for name, values in groups.items():
        out[name] = {}
        present = set(pd.unique(values))
        known = [lv for lv in order.get(name, []) if lv in present]
        for level in known + sorted(present - set(known), key=str):  # an unexpected level (a missing age) still shows
            mask = (values == level).to_numpy()
            auc = auc_of(mask)
            entry = {"n": int(mask.sum()), "auc": auc, "brier": float(brier_score_loss(y[mask], p[mask])) if mask.any() else math.nan,
                     "mean_predicted": float(p[mask].mean()) if mask.any() else math.nan,
                     "observed_rate": float(y[mask].mean()) if mask.any() else math.nan}
            out[name][str(level)] = entry
            if entry["n"] < MIN_SUBGROUP:
                warnings.append(f"{SUBGROUP_LABELS[name]} {level}: only {entry['n']} patients in the test set (under-represented)")
            elif not math.isnan(auc) and not math.isnan(overall) and auc < overall - AUC_GAP_WARNING:
                warnings.append(f"{SUBGROUP_LABELS[name]} {level}: AUC {auc:.2f} is below the overall {overall:.2f}")
    return {"groups": out, "warnings": warnings}


def composition_audit(cohort: pd.DataFrame) -> dict:
    """Cohort composition against the reference trial populations, with warnings."""
    female = 100 * float((cohort["is_female"] == 1).mean())
    apoe = {str(g): 100 * float((cohort["apoe4_copies"] == g).mean()) for g in (0, 1, 2)}
    warnings = []
    if abs(female - REFERENCE_POPULATION["female_pct"]) > 15:
        warnings.append(f"women are {female:.0f}% of the cohort vs {REFERENCE_POPULATION['female_pct']:.0f}% in the reference trials")
    for g, pct in apoe.items():
        ref = REFERENCE_POPULATION["apoe4_pct"][g]
        if abs(pct - ref) > 15 or (ref > 5 and pct < ref / 3):
            warnings.append(f"APOE4={g} is {pct:.0f}% of the cohort vs {ref:.0f}% in the reference trials")
    return {"female_pct": female, "apoe4_pct": apoe, "age_mean": float(cohort["age"].mean()),
            "reference": REFERENCE_POPULATION, "warnings": warnings}


def train_task(cohort: pd.DataFrame, task: str, seed: int = 1) -> TrainedModel:
    """Fit one task on a grouped split; metrics include the shuffle check and the bias audit."""
    label, features = TASKS[task]
    features = tuple(f for f in features if f in cohort.columns)
    train_idx, test_idx = grouped_split(cohort, seed)
    train, test = cohort.iloc[train_idx], cohort.iloc[test_idx]
    leaks = check_no_leakage(train, test, features)
    if leaks:
        raise InvalidInput([f"leakage: {p}" for p in leaks])
    risk = risk_column(label, cohort)
    fitted = TrainedModel(task, label, features, fit_classifier(train, task, seed))
    p = fitted.predict(test)
    y = test[label].to_numpy()

    def score(pred):  # the audit's AUC: expected over the simulated risk when there is one, else on the labels
        return expected_auc(test[risk].to_numpy(), pred) if risk else _auc(y, pred)

    rng = np.random.default_rng(seed)
    shuffled_aucs = []
    for _ in range(SHUFFLE_REPEATS):  # several permutations: one AUC on a small test set is noisy
        permuted = rng.permutation(train[risk or label].to_numpy())
        shuffled = fit_classifier(train, task, seed, labels=permuted)
        shuffled_aucs.append(score(shuffled.predict_proba(test[list(features)])[:, 1]))
    auc_shuffled = float(np.nanmean(shuffled_aucs)) if not all(math.isnan(a) for a in shuffled_aucs) else math.nan
    fitted.metrics = {
        "label": label,
        "features": list(features),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "prevalence": float(cohort[label].mean()),
        "auc": score(p),
        "auc_events": _auc(y, p),
        "auc_basis": f"expected from the simulated risk ({C.LABELS.get(risk, risk)})" if risk else "held-out labels",
        "auc_shuffled": auc_shuffled,
        "brier": float(brier_score_loss(y, p)),
        "leakage_checks": ["split grouped by patient", "baseline-only features (no outcome-derived columns)",
                           f"label-shuffle refit ({SHUFFLE_REPEATS} permutations): AUC should be near 0.5"]
        + ([f"trained on {risk}, the probability the events were drawn from (expected labels)"] if risk else []),
        "shuffle_check_passed": bool(abs(auc_shuffled - 0.5) < 0.1) if not math.isnan(auc_shuffled) else False,
        "audit_margin_auc": AUDIT_MARGIN_AUC,
        "subgroups": subgroup_audit(test, y, p, test[risk].to_numpy() if risk else None),
        "curves": validation_curves(y, p),
        "importance": fitted.importance().to_dict(),
    }
    failure = audit_failure(fitted.metrics)
    fitted.metrics.update({"audit_passed": failure is None, "audit_failure": failure})
    return fitted


@dataclass
class TrainedRegressor:
    """A fitted LightGBM regressor for a continuous outcome, with held-out metrics."""

    task: str
    target: str
    features: tuple[str, ...]
    model: lgb.LGBMRegressor
    metrics: dict = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict(frame[list(self.features)])


def train_regression(cohort: pd.DataFrame, task: str, seed: int = 1) -> TrainedRegressor:
    """Fit a continuous outcome on the same grouped split; R2, MAE against the mean-prediction baseline, shuffle check."""
    target, features = REGRESSION_TASKS[task]
    train_idx, test_idx = grouped_split(cohort, seed)
    train, test = cohort.iloc[train_idx], cohort.iloc[test_idx]
    leaks = check_no_leakage(train, test, features)
    if leaks:
        raise InvalidInput([f"leakage: {p}" for p in leaks])
    model = lgb.LGBMRegressor(random_state=seed, **LGBM_PARAMS).fit(train[list(features)], train[target])
    fitted = TrainedRegressor(task, target, tuple(features), model)
    y, p = test[target].to_numpy(), fitted.predict(test)
    shuffled = lgb.LGBMRegressor(random_state=seed, **LGBM_PARAMS).fit(
        train[list(features)], np.random.default_rng(seed).permutation(train[target].to_numpy()))
    p_shuffled = shuffled.predict(test[list(features)])

    def r2(pred):
        return float(1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))

    fitted.metrics = {"target": target, "n_train": int(len(train)), "n_test": int(len(test)), "r2": r2(p),
                      "r2_shuffled": r2(p_shuffled), "mae": float(np.mean(np.abs(y - p))),
                      "mae_mean_baseline": float(np.mean(np.abs(y - train[target].mean())))}
    return fitted


def save_models(models: dict[str, TrainedModel], directory: str | Path, provenance: dict) -> None:
    """Write each model (LightGBM text format) and models.json (features, metrics, provenance)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"provenance": {**provenance, "lightgbm_params": LGBM_PARAMS, "versions": package_versions()}, "models": {}}
    for name, m in models.items():
        m.model.booster_.save_model(str(directory / f"{name}.txt"))
        kind = "regression" if isinstance(m, TrainedRegressor) else "classification"
        meta["models"][name] = {"label": getattr(m, "label", getattr(m, "target", None)), "kind": kind,
                                "features": list(m.features), "metrics": m.metrics}
    (directory / "models.json").write_text(json.dumps(meta, indent=1, default=float), encoding="utf-8")


@dataclass
class LoadedModel:
    """A model read back from disk: predicts exactly as the trained one."""

    task: str
    features: tuple[str, ...]
    booster: lgb.Booster
    metrics: dict = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(frame[list(self.features)].to_numpy(dtype=float))

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        raw = self.booster.predict(frame[list(self.features)].to_numpy(dtype=float), pred_contrib=True)
        return pd.DataFrame(raw, columns=[*self.features, "bias"], index=frame.index)


def load_models(directory: str | Path) -> tuple[dict[str, LoadedModel], dict]:
    """The models and metadata written by :func:`save_models`, or InvalidInput."""
    directory = Path(directory)
    meta_path = directory / "models.json"
    if not meta_path.is_file():
        raise InvalidInput(f"--models: no models.json in {directory}")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    models = {}
    for name, entry in meta["models"].items():
        models[name] = LoadedModel(name, tuple(entry["features"]), lgb.Booster(model_file=str(directory / f"{name}.txt")),
                                   entry.get("metrics", {}))
    return models, meta


def check_audit(task: str, model, use: str) -> None:
    """InvalidInput when ``model`` (trained or loaded) failed its audit: it must not be used for ``use``.

    The audit is recomputed from the held-out metrics, so models saved before audits were recorded are checked too.
    """
    failure = audit_failure(getattr(model, "metrics", None) or {})
    if failure:
        raise InvalidInput(f"{use}: the {task} model failed its audit ({failure}); it is not used. "
                           "Train on more patients or choose another model.")


def cohort_hash(cohort: pd.DataFrame) -> str:
    """sha256 of the training data (for the provenance record)."""
    return data_sha256(cohort.round(10).to_dict("list"))
