"""QSP outputs as ML inputs: a patient's simulated exposure and plaque removal on a regimen.

Used by the ARIA-E model for patients who were not simulated (uploaded patients, enrolment
candidates): each is simulated from their own baseline on the regimen the model was trained for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import Engine
from qsp.trial.run import baseline_state

DEFAULT_WEIGHT_KG = 70.0  # used when a patient's weight is missing (stated in the output notes)


def add_qsp_features(frame: pd.DataFrame, regimen: str = "donanemab_standard") -> tuple[pd.DataFrame, list[str]]:
    """``frame`` with conc_week12_ug_per_ml and amyloid_removed_week24_cl added; notes on what was assumed."""
    reg = parse_regimen(regimen)
    engine = Engine()
    days = np.array([0.0, 12.0, 24.0]) * C.DAYS_PER_WEEK
    conc, removed, notes = [], [], []
    for _, row in frame.iterrows():
        needed = [row.get(k) for k in (C.AGE, C.SEX, C.APOE4, C.AMYLOID_CL, C.TAU_SUVR, C.CDRSB)]
        if any(v is None or (isinstance(v, float) and np.isnan(v)) for v in needed):
            conc.append(np.nan)
            removed.append(np.nan)
            continue
        patient = {C.AGE: row[C.AGE], C.SEX: row[C.SEX], C.APOE4: int(row[C.APOE4]),
                   C.WEIGHT_KG: row.get(C.WEIGHT_KG) if pd.notna(row.get(C.WEIGHT_KG)) else DEFAULT_WEIGHT_KG}
        if not pd.notna(row.get(C.WEIGHT_KG)):
            notes.append(f"{row.get(C.PATIENT_ID, '?')}: weight missing, {DEFAULT_WEIGHT_KG} kg assumed for exposure")
        run = engine.run(patient, reg, days, state=baseline_state({**row.to_dict(), **patient}))
        if run.values is None:
            conc.append(np.nan)
            removed.append(np.nan)
            continue
        conc.append(run.values[1, C.OBSERVABLES.index(C.CONC_UG_PER_ML)])
        removed.append(run.values[0, C.OBSERVABLES.index(C.AMYLOID_CL)] - run.values[2, C.OBSERVABLES.index(C.AMYLOID_CL)])
    out = frame.copy()
    out["conc_week12_ug_per_ml"] = conc
    out["amyloid_removed_week24_cl"] = removed
    return out, notes
