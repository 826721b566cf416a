"""The Alzheimer's continuum of a typical (or given) patient over decades, with stages."""

from __future__ import annotations

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.model import Model
from qsp.engine.simulate import Engine
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.population.stages import stage_of

TYPICAL_PATIENT = {C.AGE: 50.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}  # at amyloid onset


def natural_history(
    patient: dict | None = None,
    years: float = 45.0,
    step_years: float = 0.25,
    onset_age: float = 50.0,
    model: Model | None = None,
) -> pd.DataFrame:
    """Untreated course from amyloid onset (0 CL, tau-free, CDR-SB 0): one row per time point.

    Columns: years, age, the observables, and stage (from CDR-SB).

    >>> nh = natural_history(years=40, step_years=10)
    >>> list(nh["stage"])[:2]
    ['preclinical', 'preclinical']
    """
    patient = {**TYPICAL_PATIENT, C.AGE: onset_age, **(patient or {})}
    t = np.arange(0.0, years + 1e-9, step_years)
    run = Engine(model).run(patient, None, t * C.DAYS_PER_YEAR, state=NATURAL_HISTORY_START)
    if run.values is None:
        raise ValueError(f"natural history failed: {run.error}")
    df = pd.DataFrame(run.values, columns=list(C.OBSERVABLES))
    df.insert(0, "years", t)
    df.insert(1, C.AGE, onset_age + t)
    df["stage"] = [stage_of(x) for x in df[C.CDRSB]]
    return df.drop(columns=[C.CONC_UG_PER_ML, C.N_DOSES, C.DOSE_TOTAL_MG, C.ARIA_E_RISK, C.AMYLOID_LAGGED_CL, C.SEVERITY])


def stage_onsets(history: pd.DataFrame) -> dict[str, float]:
    """Years from onset at which each stage begins in a natural history (NaN if never)."""
    out = {}
    for name in C.STAGES:
        hit = history.loc[history["stage"] == name, "years"]
        out[name] = float(hit.iloc[0]) if len(hit) else float("nan")
    return out
