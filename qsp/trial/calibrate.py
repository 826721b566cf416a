"""Reproducible calibration of the built-in model to the published targets.

``python -m qsp calibrate [--stage NAME ...] [--write]`` fits, stage by stage,
only the parameters marked ``calibrated`` in the parameter table, each to the
targets that inform it (Nelder-Mead on log parameters, objective the sum of
squared differences in units of the tolerance, fixed seeds so a run repeats
exactly). Disease and clinical parameters are shared by every drug and trial;
per drug only potency and ARIA propensity are fitted. ``--write`` stores the
result in the Antimony source, the SBML and the parameter table.
"""

from __future__ import annotations

import csv
import math
import re

import numpy as np
from scipy.optimize import minimize

from qsp import paths
from qsp.engine.model import compile_builtin_model, load_builtin_model
from qsp.engine.parameters import parameter_table, write_readme_table
from qsp.trial.calibration import evaluate_targets

# stage -> (parameters, target measures it is fitted to)
STAGES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "donanemab_potency": (("don_amy_kmax_per_yr", "don_amy_iiv_sd"), ("amyloid_cleared_pct",)),
    "disease": (
        (
            "clin_rate_per_yr",
            "clin_tau_weight",
            "clin_amy_weight",
            "tau_rate_per_yr",
            "clin_stage_accel",
            "clin_tau_exp",
            "clin_amy_a50_cl",
            "clin_amy_hill",
            "lec_pf_block",
            "clin_tau_gate_half_suvr",
        ),
        ("iadrs_change", "cdrsb_change", "iadrs_slowing_pct", "cdrsb_slowing_pct"),
    ),
    "aria": (
        ("aria_base0_per_d", "aria_base1_per_d", "aria_base2_per_d", "lec_aria_emax", "don_aria_emax", "gan_aria_emax"),
        ("aria_e_pct",),
    ),
}
# Aducanumab has no ARIA target in calibration (EMERGE's is kept for validation): it takes donanemab's
# propensity (stated assumption in the parameter table). The genotype multipliers of each drug are derived
# from its published ARIA-E by genotype, not fitted.
DERIVED = {
    "adu_aria_emax": ("don_aria_emax",),
}


def objective(table, measures) -> float:
    """Sum of squared (model - published) / tolerance over the rows of ``measures``."""
    rows = table[table["measure"].isin(measures)]
    z = (rows["difference"] / rows["tolerance"]).to_numpy(dtype=float)
    return float(np.sum(np.where(np.isfinite(z), z, 10.0) ** 2))


def fit_stage(stage: str, start: dict[str, float], n_per_arm: int = 200, maxiter: int = 40, log=print) -> dict[str, float]:
    """Fit one stage's parameters, the others held at ``start``; returns all values.

    Means are fitted without measurement noise (it does not change them and would add sampling
    noise to the objective); % cleared, which noise does change, is fitted with it.
    """
    names, measures = STAGES[stage]
    noise = None if "amyloid_cleared_pct" in measures else False
    x0 = np.log([start[n] for n in names])

    def f(x):
        values = {**start, **dict(zip(names, np.exp(x)))}
        values.update({k: float(np.mean([values[a] for a in src])) for k, src in DERIVED.items()})
        value = objective(evaluate_targets(parameter_overrides=values, n_per_arm=n_per_arm, measurement_noise=noise), measures)
        log(f"  {stage}: {value:8.3f}  " + " ".join(f"{n}={v:.4g}" for n, v in zip(names, np.exp(x))))
        return value

    res = minimize(f, x0, method="Nelder-Mead", options={"maxiter": maxiter, "xatol": 0.01, "fatol": 0.05})
    out = {**start, **dict(zip(names, (float(v) for v in np.exp(res.x))))}
    out.update({k: float(np.mean([out[a] for a in src])) for k, src in DERIVED.items()})
    return out


def current_values() -> dict[str, float]:
    """The calibrated parameters' values in the built-in model now."""
    defaults = load_builtin_model().defaults
    names = {n for params, _ in STAGES.values() for n in params} | set(DERIVED)
    return {n: defaults[n] for n in sorted(names)}


def write_values(values: dict[str, float]) -> None:
    """Store values in the Antimony source, regenerate the SBML, update the parameter table."""
    text = paths.BUILTIN_ANTIMONY.read_text(encoding="utf-8")
    for name, value in values.items():
        pattern = re.compile(rf"^(\s*{re.escape(name)} = )([^;]+)(;)", re.MULTILINE)
        if not pattern.search(text):
            raise KeyError(f"parameter {name} not found in {paths.BUILTIN_ANTIMONY.name}")
        text = pattern.sub(rf"\g<1>{_short(value)}\g<3>", text, count=1)
    paths.BUILTIN_ANTIMONY.write_text(text, encoding="utf-8")
    compile_builtin_model()
    with open(paths.PARAMETER_TABLE, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    defaults = load_builtin_model().defaults
    for row in rows:
        row["value"] = repr(float(defaults[row["id"]]))
    with open(paths.PARAMETER_TABLE, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    parameter_table.cache_clear()
    write_readme_table()


def _short(value: float) -> str:
    digits = 4 - int(math.floor(math.log10(abs(value)))) if value else 4
    return f"{round(value, max(digits, 0)):g}" if abs(value) >= 1e-3 else f"{value:.4g}"


def calibrate(stages=None, n_per_arm: int = 200, maxiter: int = 40, write: bool = False, log=print) -> dict[str, float]:
    """Run the calibration stages in order from the model's current values."""
    values = current_values()
    for stage in stages or list(STAGES):
        if stage not in STAGES:
            raise ValueError(f"stage: unknown calibration stage {stage!r}; known: {', '.join(STAGES)}")
        log(f"stage {stage}")
        values = fit_stage(stage, values, n_per_arm=n_per_arm, maxiter=maxiter, log=log)
    if write:
        write_values(values)
    return values
