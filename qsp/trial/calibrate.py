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
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from qsp import paths
from qsp.engine.model import compile_builtin_model, load_builtin_model
from qsp.engine.parameters import parameter_table, write_readme_table
from qsp.errors import InvalidInput
from qsp.trial.calibration import evaluate_targets, load_targets

INITIAL_STEP_LOG = math.log(1.1)


class Stage(NamedTuple):
    """Parameters fitted together, to the calibration targets with these measures (in these scenarios)."""

    parameters: tuple[str, ...]
    measures: tuple[str, ...]
    scenarios: tuple[str, ...] | None = None  # None: every scenario holding such a target


# In order: the natural history and who is enrolled first, then each drug's plaque removal, the clinical
# link, ARIA-E. A stage runs only the scenarios holding its targets.
STAGES: dict[str, Stage] = {
    "natural_history": Stage(
        ("amy_growth_per_yr", "amy_plateau_cl", "tau_seed_suvr"),
        ("baseline_distribution.quantiles.amyloid_cl.p33", "baseline_distribution.quantiles.amyloid_cl.p67",
         "baseline_distribution.quantiles.years_since_amyloid_positive.p50"),
    ),
    "enrolment": Stage(
        ("mmse_per_cdrsb",),
        ("baseline.iadrs", "baseline.cdrsb", "baseline_distribution.pct.tau_group.high"),
    ),
    "lecanemab_potency": Stage(("lec_amy_emax",), ("amyloid_cl_change", "amyloid_cl_difference"), ("clarity_ad",)),
    "donanemab_potency": Stage(
        ("don_amy_kmax_per_yr", "don_amy_iiv_sd"),
        ("amyloid_cleared_pct", "amyloid_cl_change ratio"),
        ("trailblazer_alz2_low_medium_tau", "trailblazer_alz6"),
    ),
    "gantenerumab_potency": Stage(
        ("gan_amy_kmax_per_yr", "gan_amy_iiv_sd"), ("amyloid_cl_change", "amyloid_cleared_pct"), ("graduate",)
    ),
    "disease": Stage(
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
        ("iadrs_change", "cdrsb_change", "iadrs_slowing_pct", "cdrsb_slowing_pct", "iadrs_change_sd", "cdrsb_change_sd"),
    ),
    "aria": Stage(
        ("aria_base0_per_d", "aria_base1_per_d", "aria_base2_per_d", "lec_aria_emax", "don_aria_emax", "gan_aria_emax",
         "aria_adapt_per_d", "aria_conc_exp"),
        ("aria_e_pct", "aria_e_pct ratio"),
    ),
}
# Aducanumab has no ARIA target in calibration (EMERGE's is kept for validation): it takes donanemab's
# propensity (stated assumption in the parameter table). The genotype multipliers of each drug are derived
# from its published ARIA-E by genotype, not fitted.
DERIVED = {
    "adu_aria_emax": ("don_aria_emax",),
}
# Calibrated parameters that `calibrate` does not fit, and why (their sources are in the parameter table).
NOT_FITTED = {
    "amy_seed_cl": "fitted to amyloid re-accumulation after donanemab stops, which no target in the file measures",
    "aria_apoe4_mult1": "aducanumab's genotype multiplier, derived from published incidences (no aducanumab target)",
    "aria_apoe4_mult2": "aducanumab's genotype multiplier, derived from published incidences (no aducanumab target)",
}
# Values that are not SBML parameters are fitted by hand with multi-seed checks (`validate-targets --seed N`): the
# between-patient SDs (`iiv_sd` of the parameter table), the score drift (qsp.constants.SCORE_DRIFT_SD_PER_YEAR)
# and the enrolment weight (qsp.population.sampling.PROGRESS_WEIGHT_EXP); the SDs of change are also in the
# disease stage (the clinical parameters shape them too). Targets no stage fits:
HAND_FITTED_MEASURES = {
    "baseline_distribution.pct.stage.mci": "enrolment weight (a documented contradiction remains, README Limits)",
}


def stage_targets(stage: Stage, targets: pd.DataFrame | None = None) -> pd.DataFrame:
    """The calibration targets a stage is fitted to."""
    targets = load_targets() if targets is None else targets
    rows = targets["measure"].isin(stage.measures)
    if stage.scenarios is not None:
        rows &= targets["scenario"].isin(stage.scenarios)
    return targets[rows]


def objective(table) -> float:
    """Sum of squared (model - published) / tolerance over the rows of ``table``."""
    z = (table["difference"] / table["tolerance"]).to_numpy(dtype=float)
    return float(np.sum(np.where(np.isfinite(z), z, 10.0) ** 2))


def fit_stage(stage: str, start: dict[str, float], n_per_arm: int = 200, maxiter: int = 40, log=print,
              seeds: tuple[int | None, ...] = (None,)) -> dict[str, float]:
    """Fit one stage's parameters, the others held at ``start``; returns all values.

    Stages whose targets are all means are fitted without measurement noise (it does not change them and
    would add sampling noise to the objective); a stage with % cleared or SDs of change, which noise does
    change, is fitted with the scenarios' noise on (the means in it too).
    ``seeds``: the objective is summed over runs at these seeds (None: the scenarios' own), so that the
    fit holds beyond one draw of patients.
    """
    names, measures, _ = STAGES[stage]
    targets = stage_targets(STAGES[stage])
    noise = None if any(m == "amyloid_cleared_pct" or m.endswith("_sd") for m in measures) else False
    x0 = np.log([start[n] for n in names])

    def f(x):
        values = {**start, **dict(zip(names, np.exp(x)))}
        values.update({k: float(np.mean([values[a] for a in src])) for k, src in DERIVED.items()})
        value = sum(objective(evaluate_targets(parameter_overrides=values, n_per_arm=n_per_arm, measurement_noise=noise,
                                               targets=targets, seed=seed)) for seed in seeds)
        log(f"  {stage}: {value:8.3f}  " + " ".join(f"{n}={v:.4g}" for n, v in zip(names, np.exp(x))))
        return value

    # first steps of 10% in every parameter (scipy's default steps are 5% of the log value: none for a value of 1)
    simplex = np.vstack([x0, x0 + INITIAL_STEP_LOG * np.eye(len(x0))])
    res = minimize(f, x0, method="Nelder-Mead",
                   options={"maxiter": maxiter, "xatol": 0.01, "fatol": 0.05, "initial_simplex": simplex})
    out = {**start, **dict(zip(names, (float(v) for v in np.exp(res.x))))}
    out.update({k: float(np.mean([out[a] for a in src])) for k, src in DERIVED.items()})
    return out


def current_values() -> dict[str, float]:
    """The calibrated parameters' values in the built-in model now."""
    defaults = load_builtin_model().defaults
    names = {n for stage in STAGES.values() for n in stage.parameters} | set(DERIVED)
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


def calibrate(stages=None, n_per_arm: int = 200, maxiter: int = 40, write: bool = False, log=print,
              seeds: tuple[int | None, ...] = (None,)) -> dict[str, float]:
    """Run the calibration stages in order from the model's current values."""
    problems = [f"--stage: unknown calibration stage {stage!r}; known: {', '.join(STAGES)}" for stage in stages or () if stage not in STAGES]
    problems += [f"--{name.replace('_', '-')}: must be at least 1, got {value}"
                 for name, value in (("n_per_arm", n_per_arm), ("maxiter", maxiter)) if value < 1]
    problems += [f"--seed: must be between 0 and 2**32 - 1, got {seed}" for seed in seeds if seed is not None and not 0 <= seed < 2**32]
    if not seeds:
        problems.append("--seed: at least one seed (None: the scenarios' own)")
    if problems:
        raise InvalidInput(problems)
    values = current_values()
    for stage in stages or list(STAGES):
        log(f"stage {stage}")
        values = fit_stage(stage, values, n_per_arm=n_per_arm, maxiter=maxiter, log=log, seeds=seeds)
    if write:
        write_values(values)
    return values
