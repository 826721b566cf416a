"""ML features of a digital twin's patient, and the Stratification models' strata for that patient."""

from __future__ import annotations

import math

import pandas as pd

from ml.models import audit_failure
from ml.uncertainty import predict_with_uncertainty
from qsp import constants as C
from qsp.twin.records import FIT_OBSERVABLES, PatientRecord

ML_TASKS = {"progression": "Fast progressor", "responder": "Responder"}  # models shown beside a twin (ARIA-E needs exposure)


def twin_features(patient: PatientRecord) -> pd.DataFrame:
    """One row of the ML models' baseline features at the last visit (the forecast's starting point).

    Each biomarker is its latest observed value; age is the age at the last visit.
    """
    latest = patient.visits.ffill().iloc[-1]
    row = {C.PATIENT_ID: patient.patient_id, C.AGE: patient.age + patient.last_week / C.WEEKS_PER_YEAR,
           "is_female": int(patient.sex == "F"), C.SEX: patient.sex, C.WEIGHT_KG: patient.weight_kg,
           C.APOE4: patient.apoe4_copies, **{obs: float(latest[obs]) for obs in FIT_OBSERVABLES}}
    return pd.DataFrame([row])


def twin_strata(patient: PatientRecord, models: dict, ensembles: dict | None = None) -> pd.DataFrame:
    """Per model of ML_TASKS among ``models``: stratum, outcome, probability and held-out AUC (3 decimals); with an
    ensemble for the task (task -> (grid, features)) the probability is the ensemble's median, with its 10th and 90th percentiles. Empty without such models.

    A model that failed its audit (no better than its shuffled-label twin) gives no stratum.
    """
    features = twin_features(patient)
    rows = []
    for task, model in models.items():
        if task not in ML_TASKS or audit_failure(model.metrics) is not None:
            continue
        row = {"stratum": ML_TASKS[task], "outcome": model.label, "probability": round(float(model.predict(features)[0]), 3),
               "held-out AUC": round(float(model.metrics.get("auc", math.nan)), 3)}
        if task in (ensembles or {}):
            grid, names = ensembles[task]
            bands = predict_with_uncertainty(grid, names, features)
            row["probability"] = round(float(bands["median"].iloc[0]), 3)  # the point inside its own interval
            row["p10"], row["p90"] = round(float(bands["p10"].iloc[0]), 3), round(float(bands["p90"].iloc[0]), 3)
        rows.append(row)
    return pd.DataFrame(rows)
