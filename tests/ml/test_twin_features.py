"""A twin's patient as ML features, and the strata shown beside the twin."""

import math

import numpy as np
import pandas as pd
import pytest

from ml.twin_features import ML_TASKS, twin_features, twin_strata
from qsp import constants as C
from qsp.twin.records import parse_patient

PATIENT = parse_patient({"patient_id": "P1", "age": 70, "sex": "F", "weight_kg": 60, "apoe4_copies": 2, "visits": [
    {"week": 0, "amyloid_cl": 80, "tau_suvr": 1.2, "iadrs": 110, "cdrsb": 2.0, "mmse": 27},
    {"week": 52, "cdrsb": 3.0},  # only CDR-SB measured at the last visit
]})


class Echo:
    """Predicts the patient's CDR-SB / 10."""

    def __init__(self, label, **metrics):
        self.label, self.metrics = label, metrics

    def predict(self, frame):
        return frame[C.CDRSB].to_numpy() / 10


def test_features_are_the_latest_values_at_the_last_visit():
    row = twin_features(PATIENT).iloc[0]
    assert row[C.AGE] == pytest.approx(70 + 52 / C.WEEKS_PER_YEAR)
    assert row[C.CDRSB] == 3.0 and row[C.AMYLOID_CL] == 80.0 and row[C.MMSE] == 27.0  # carried forward
    assert (row["is_female"], row[C.APOE4], row[C.WEIGHT_KG]) == (1, 2, 60.0)


def test_strata_only_for_the_twin_tasks():
    table = twin_strata(PATIENT, {"progression": Echo("fast", auc=0.81234, auc_shuffled=0.5), "responder": Echo("resp"), "aria": Echo("aria")})
    assert list(table["stratum"]) == [ML_TASKS["progression"], ML_TASKS["responder"]]
    assert table["probability"].tolist() == [0.3, 0.3]
    assert table["held-out AUC"].iloc[0] == 0.812 and math.isnan(table["held-out AUC"].iloc[1])
    assert "p10" not in table


class Member:
    def __init__(self, p):
        self.p = p

    def predict_proba(self, frame):
        return np.column_stack([np.full(len(frame), 1 - self.p), np.full(len(frame), self.p)])


def test_strata_get_intervals_from_an_ensemble():
    ensembles = {"progression": ([[Member(0.1), Member(0.3)], [Member(0.5), Member(0.9)]], (C.CDRSB,))}
    table = twin_strata(PATIENT, {"progression": Echo("fast")}, ensembles).iloc[0]
    assert table["p10"] < table["p90"]
    assert table["p90"] == pytest.approx(round(np.percentile([0.1, 0.3, 0.5, 0.9], 90), 3))


def test_no_twin_models_no_rows():
    assert twin_strata(PATIENT, {"aria": Echo("aria")}).empty
    assert isinstance(twin_strata(PATIENT, {}), pd.DataFrame)


def test_a_model_that_failed_its_audit_gives_no_stratum():
    """Issue 14: a model no better than its shuffled-label twin must not feed the twin."""
    table = twin_strata(PATIENT, {"progression": Echo("fast", auc=0.38, auc_shuffled=0.53),
                                  "responder": Echo("resp", auc=0.8, auc_shuffled=0.5)})
    assert list(table["stratum"]) == [ML_TASKS["responder"]]
