"""The Stratification workflow's tables and scores, on stand-in models with known outputs."""

import numpy as np
import pandas as pd
import pytest

from ml.stratify import (
    cohort_settings,
    failed_audits,
    patient_contributions,
    score_patients,
    subgroup_table,
    usable_models,
    validation_table,
)

METRICS = {"auc": 0.81, "auc_shuffled": 0.5, "brier": 0.2, "prevalence": 0.3, "n_train": 75, "n_test": 25,
           "shuffle_check_passed": True,
           "subgroups": {"groups": {"sex": {"F": {"n": 12, "auc": 0.8}, "M": {"n": 13, "auc": 0.7}}, "age_band": {"<65": {"n": 25, "auc": 0.9}}},
                         "warnings": []}}


class Stub:
    """A model predicting ``scale * x``, with contributions x (and bias 1)."""

    features = ("x",)

    def __init__(self, label, scale=1.0, **metrics):
        self.label, self.scale, self.metrics = label, scale, {**METRICS, **metrics}

    def predict(self, frame):
        return self.scale * frame["x"].to_numpy()

    def contributions(self, frame):
        return pd.DataFrame({"x": frame["x"], "y": -frame["x"], "bias": 1.0}, index=frame.index)


class Member:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, frame):
        return np.column_stack([1 - self.p * frame["x"], self.p * frame["x"]])


PATIENTS = pd.DataFrame({"patient_id": ["A", "B"], "x": [0.2, 0.6]})


def test_cohort_settings_carry_the_thresholds():
    settings = cohort_settings(200, 4, 7.5, 3.0)
    assert (settings.n, settings.seed) == (200, 4)
    assert settings.thresholds.fast_progressor_iadrs_drop == 7.5 and settings.thresholds.responder_iadrs_benefit == 3.0


def test_validation_table_has_one_row_per_model():
    table = validation_table({"progression": Stub("fast"), "aria": Stub("aria_e_event", auc=0.6)})
    assert list(table["model"]) == ["progression", "aria"]
    assert list(table["AUC (held-out)"]) == [0.81, 0.6]
    assert list(table["audit"]) == ["passed", "passed"]
    assert table["train/test patients"].iloc[0] == "75/25"


def test_a_model_no_better_than_its_shuffled_twin_fails_the_audit_and_is_not_used():
    """Issue 14: an ARIA-E model with held-out AUC 0.38 (shuffled 0.53) was reported as "shuffle check passed"."""
    models = {"progression": Stub("fast"), "aria": Stub("aria_e_event", auc=0.38, auc_shuffled=0.53)}
    assert list(validation_table(models)["audit"]) == ["passed", "FAILED (not used)"]
    assert failed_audits(models) == {"aria": "held-out AUC 0.38 is not above the shuffled-label AUC 0.53 by 0.05: no better than chance"}
    assert list(usable_models(models)) == ["progression"]


def test_subgroup_table_flattens_the_audit():
    table = subgroup_table(Stub("fast"))
    assert list(zip(table["group"], table["level"])) == [("sex", "F"), ("sex", "M"), ("age_band", "<65")]
    assert list(table["n"]) == [12, 13, 25]


def test_scores_without_and_with_intervals():
    models = {"progression": Stub("fast"), "responder": Stub("resp", scale=0.5)}
    plain = score_patients(models, PATIENTS)
    assert list(plain.columns) == ["patient_id", "progression probability", "responder probability"]
    assert plain["responder probability"].tolist() == pytest.approx([0.1, 0.3])
    grids = {"progression": ([[Member(0.5), Member(1.0)], [Member(1.0), Member(1.5)]], ("x",))}
    scored = score_patients(models, PATIENTS, grids)
    assert scored["progression p10"].iloc[1] < scored["progression p90"].iloc[1]
    # across draws: means 0.75x and 1.25x; within: 0.25x apart -> QSP share 0.0625 / (0.0625 + 0.0625) = 0.5
    assert scored["progression variance from QSP parameters"].tolist() == pytest.approx([0.5, 0.5])
    assert "responder p10" not in scored


def test_contributions_of_one_patient_without_bias_smallest_first():
    contrib = patient_contributions(Stub("fast"), PATIENTS, "B")
    assert list(contrib.index) == ["y", "x"] and contrib.tolist() == pytest.approx([-0.6, 0.6])
