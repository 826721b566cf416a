"""Enrichment rules: enrol only the patients an ML model selects (``progression>0.5``, ``aria<0.2``).

>>> parse_rule("responder >= 0.4")
('responder', '>=', 0.4)
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ml.models import check_audit
from ml.qsp_features import add_qsp_features
from qsp.errors import InvalidInput

RULE = re.compile(r"^\s*(progression|responder|aria)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*$")  # TASK OP PROBABILITY
DEFAULT_REGIMEN = "donanemab_standard"  # the regimen an ARIA-E model's exposure features are simulated on
COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}  # rule operator -> comparison


def parse_rule(text: str) -> tuple[str, str, float]:
    """``progression>0.5`` -> (task, operator, threshold); InvalidInput otherwise."""
    match = RULE.match(text or "")
    if not match:
        raise InvalidInput(f"--enrich: expected TASK OP P, e.g. 'progression>0.5', 'responder>0.5' or 'aria<0.2' (got {text!r})")
    task, op, value = match.group(1), match.group(2), float(match.group(3))
    if not 0 <= value <= 1:
        raise InvalidInput(f"--enrich: the threshold is a probability in [0, 1] (got {value})")
    return task, op, value


def enrolment_filter(models: dict, rule: str, regimen: str = DEFAULT_REGIMEN):
    """A function the trial engine calls on candidate patients: True for those the rule enrols.

    For ``aria`` rules each candidate is first simulated on ``regimen`` (the regimen the ARIA-E
    model was trained for) to get its exposure and plaque-removal features.
    """
    task, op, threshold = parse_rule(rule)
    if task not in models:
        raise InvalidInput(f"--enrich: no {task!r} model among {sorted(models)}")
    model = models[task]
    check_audit(task, model, "--enrich")  # a model no better than its shuffled twin must not pick patients

    def keep(candidates: pd.DataFrame) -> np.ndarray:
        frame = candidates.assign(is_female=(candidates["sex"] == "F").astype(int))
        if task == "aria":
            frame, _ = add_qsp_features(frame, regimen)
        return COMPARE[op](model.predict(frame), threshold)

    return keep
