"""Published targets the built-in model must reproduce, and the check against them.

``data/calibration_targets.csv`` holds the results the model was calibrated to (CLARITY AD,
TRAILBLAZER-ALZ 2, GRADUATE, TRAILBLAZER-ALZ 6, the natural-history clock: means, spread of change,
enrolled composition, ARIA-E), each with its source, the scenario file that reproduces the trial
(one published trial, one scenario with its published criteria) and the tolerance.
``data/validation_targets.csv`` holds published results calibration never sees. :func:`evaluate_targets`
runs the scenarios and compares.
"""

from __future__ import annotations

import math

import pandas as pd

from qsp import paths
from qsp.engine.model import Model, load_builtin_model
from qsp.errors import QSPError
from qsp.trial.endpoints import TrialResult, arm_trajectories
from qsp.trial.run import run_trial
from qsp.trial.scenario import load_scenario
from qsp.trial.targets import target_value

COMPARISON_MEASURES = ("amyloid_cl_difference", "iadrs_slowing_pct", "cdrsb_slowing_pct")  # "X vs placebo" rows


TARGET_DTYPES = {"apoe4_copies": "string"}  # "0"/"1"/"2" or empty (all patients)


def load_targets(path=None) -> pd.DataFrame:
    """The calibration targets table (or another targets file with the same columns)."""
    return pd.read_csv(path or paths.CALIBRATION_TARGETS, dtype=TARGET_DTYPES)


def load_validation_targets() -> pd.DataFrame:
    """The out-of-sample validation targets (empty when the file is absent): never used by calibration."""
    if not paths.VALIDATION_TARGETS.is_file():
        return load_targets().iloc[:0]
    return load_targets(paths.VALIDATION_TARGETS)


def scenario_path(name: str):
    """Path of a shipped scenario file by stem (``clarity_ad``)."""
    return paths.SCENARIOS_DIR / f"{name}.yaml"


def scenario_title(name: str) -> str:
    """A shipped scenario's own name (``CLARITY AD``), the stem when the file is gone or unreadable.

    >>> scenario_title("trailblazer_alz2_low_medium_tau")
    'TRAILBLAZER-ALZ 2 (low/medium tau)'
    """
    try:
        return load_scenario(scenario_path(name)).name
    except (OSError, QSPError):
        return name


def model_value(result_json: dict, row) -> float | None:
    """The model's number for one target row, read from a trial's RESULT.json."""
    measure = row["measure"]
    week = float(row["week"])
    if measure in COMPARISON_MEASURES:
        drug, _, ref = row["arm"].partition(" vs ")
        block = result_json["comparisons"][f"{drug} vs {ref}"]
        weeks = result_json["arms"][drug]["weeks"]
        series = block[measure]
    else:
        arm = result_json["arms"][row["arm"]]
        weeks = arm["weeks"]
        apoe = row.get("apoe4_copies")
        if measure == "aria_e_pct" and isinstance(apoe, str) and apoe:
            series = arm["aria_e_pct_by_apoe4"][apoe]
        else:
            series = arm[measure]
    return series[weeks.index(week)]


def _json_value(result_json: dict, row) -> float | None:
    """:func:`model_value`, or None for a measure RESULT.json does not carry."""
    try:
        return model_value(result_json, row)
    except (KeyError, ValueError):
        return None


def _scenario_files(names) -> list[str]:
    """Scenario files behind target scenario names, in order, once each (one published trial, one scenario)."""
    return list(dict.fromkeys(names))


def run_target_trials(
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
    n_per_arm: int | None = None,
    measurement_noise: bool | None = None,
    progress=None,
    targets: pd.DataFrame | None = None,
    seed: int | None = None,
) -> dict:
    """TrialResults of every scenario ``targets`` (default: the calibration targets) need, by name.

    ``n_per_arm`` scales the scenarios' arm sizes to this size for the largest (smaller is faster,
    noisier); ``measurement_noise`` overrides the scenarios' setting; ``seed`` replaces every scenario's
    seed (other patients and noise draws: does the model hold beyond the calibration's own draws?).
    """
    needed = list(dict.fromkeys((load_targets() if targets is None else targets)["scenario"]))
    files = _scenario_files(needed)
    scenarios = {name: load_scenario(scenario_path(name)) for name in files}
    largest = max(s.n_per_arm for s in scenarios.values())
    results = {}
    for i, name in enumerate(files):
        scenario = scenarios[name]
        update = {}
        if n_per_arm is not None:
            update["n_per_arm"] = max(5, round(scenario.n_per_arm * n_per_arm / largest))
        if measurement_noise is not None:
            update["measurement_noise"] = measurement_noise
        if seed is not None:
            update["seed"] = seed
        scenario = scenario.model_copy(update=update)
        step = (lambda f, i=i: progress((i + f) / len(files))) if progress else None
        results[name] = run_trial(scenario, model=model, parameter_overrides=parameter_overrides, progress=step)
    return results


def evaluate_targets(
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
    n_per_arm: int | None = None,
    results: dict[str, dict] | None = None,
    measurement_noise: bool | None = None,
    targets: pd.DataFrame | None = None,
    trials: dict | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Targets (default: the calibration targets) with the model's values, differences and pass/fail.

    ``n_per_arm`` scales the scenarios' arm sizes (smaller is faster, noisier); ``results`` receives
    each scenario's RESULT.json by name (and, when filled, is used instead of running);
    ``measurement_noise`` overrides the scenarios' setting (the calibration fits expected values
    without it, which removes sampling noise from its objective); ``trials``: TrialResults already run,
    by scenario name (measures RESULT.json does not carry, such as quantiles of the enrolled
    population, are read from them); ``seed`` replaces every scenario's seed.
    """
    targets = load_targets() if targets is None else targets
    cache: dict[str, dict] = {} if results is None else results
    trials = dict(trials or {})
    if not all(name in cache or name in trials for name in targets["scenario"].unique()):
        trials.update(run_target_trials(model, parameter_overrides, n_per_arm, measurement_noise, targets=targets, seed=seed))
    cache.update({name: result.to_json() for name, result in trials.items() if name not in cache})
    values = [target_value(trials[row["scenario"]], row) if row["scenario"] in trials else _json_value(cache[row["scenario"]], row)
              for _, row in targets.iterrows()]
    out = targets.copy()
    out["model"] = [math.nan if v is None else v for v in values]
    out["difference"] = out["model"] - out["value"]
    out["pass"] = out["difference"].abs() <= out["tolerance"]
    return out


def format_report(table: pd.DataFrame) -> str:
    """Model vs published, side by side, one line per target."""
    lines = [f"{'trial':<18} {'arm':<22} {'measure':<22} {'APOE4':<5} {'wk':>3} {'published':>9} {'model':>8} {'tol':>5}  result"]
    for _, r in table.iterrows():
        apoe = r["apoe4_copies"] if isinstance(r["apoe4_copies"], str) else ""
        lines.append(
            f"{r['trial']:<18} {r['arm']:<22} {r['measure']:<22} {apoe:<5} {int(r['week']):>3} "
            f"{r['value']:>9.2f} {r['model']:>8.2f} {r['tolerance']:>5g}  {'pass' if r['pass'] else 'FAIL'}"
        )
    lines.append(f"{int(table['pass'].sum())} of {len(table)} targets within tolerance")
    return "\n".join(lines)


VALIDATION_SNAPSHOT = paths.DATA_DIR / "validation_snapshot.json"  # last validate-targets run of the shipped model


def _table_json(table: pd.DataFrame) -> dict:
    return table.astype({"apoe4_copies": object}).where(table.notna(), None).to_dict("list")


def validation_run(model: Model | None = None, progress=None) -> dict:
    """Run the calibration and validation scenarios; the two target tables apart, and each arm's trajectories.

    ``table``: the calibration targets (fitted); ``validation_table``: the out-of-sample targets
    (never used by calibration); both with the model's values. Keyed by the model's sha256.
    """
    model = model or load_builtin_model()
    calibration, validation = load_targets(), load_validation_targets()
    trials = run_target_trials(model, progress=progress, targets=pd.concat([calibration, validation], ignore_index=True))
    results = {name: result.to_json() for name, result in trials.items()}
    table = evaluate_targets(model=model, results=results, targets=calibration, trials=trials)
    validation_table = evaluate_targets(model=model, results=results, targets=validation, trials=trials)
    scenarios = list(dict.fromkeys([*table["scenario"], *validation_table["scenario"]]))
    return {
        "sbml_sha256": model.sha256,
        "table": _table_json(table),
        "validation_table": _table_json(validation_table),
        "trajectories": {name: arm_trajectories(trials[name]).to_dict("list") for name in scenarios},
    }


def write_validation_snapshot() -> dict:
    """Store a validation run of the built-in model in data/ (shown by the dashboard without waiting)."""
    import json

    snapshot = validation_run()
    VALIDATION_SNAPSHOT.write_text(json.dumps(snapshot, default=float), encoding="utf-8")
    return snapshot


def load_validation_snapshot(model: Model | None = None) -> dict | None:
    """The stored validation run if it belongs to this model, else None."""
    import json


    if not VALIDATION_SNAPSHOT.is_file():
        return None
    snapshot = json.loads(VALIDATION_SNAPSHOT.read_text(encoding="utf-8"))
    return snapshot if snapshot.get("sbml_sha256") == (model or load_builtin_model()).sha256 else None


def validated_regimens() -> list:
    """Regimens (typed) given to an arm that an out-of-sample validation target reports on."""
    targets = load_validation_targets()
    found = []
    for name in _scenario_files(targets["scenario"]):
        arms = {arm.partition(" vs ")[0] for arm in targets.loc[targets["scenario"] == name, "arm"]}
        for arm in load_scenario(scenario_path(name)).arms:
            if arm.regimen is not None and arm.name in arms and arm.regimen not in found:
                found.append(arm.regimen)
    return found


def validation_warning(regimen) -> str | None:
    """What a user must know when a regimen or its drug has no validated result (None when it has).

    >>> validation_warning(None) is None
    True
    """
    if regimen is None:
        return None
    validated = validated_regimens()
    if regimen in validated:
        return None
    if regimen.drug in {r.drug for r in validated}:
        return (f"{regimen.drug}: this dosing schedule has no out-of-sample validated result (other {regimen.drug} "
                "schedules have); its numbers extrapolate the model")
    return (f"{regimen.drug}: no out-of-sample validated result for this drug; its numbers come from calibration "
            "or assumptions, not validation (see the Credibility page)")


def reference_comparison(result: TrialResult) -> pd.DataFrame:
    """Who was enrolled beside who the published trial enrolled, when the scenario names one (``reference``).

    Rows of the calibration and validation targets of that trial that describe the enrolled population
    (baseline means and ``baseline_distribution`` percentages and quantiles): measure, published, model,
    tolerance, within (bool), source. Empty when the scenario names no trial or the trial has no such rows.
    """
    columns = ["measure", "published", "model", "tolerance", "within", "source"]
    reference = result.scenario.reference
    if not reference:
        return pd.DataFrame(columns=columns)
    targets = pd.concat([load_targets(), load_validation_targets()], ignore_index=True)
    rows = targets[(targets["trial"] == reference) & targets["measure"].str.startswith("baseline")]
    arms = {a.name for a in result.scenario.arms}
    out = []
    for _, row in rows.iterrows():
        if row["arm"] not in arms and row["arm"] != "enrolled":
            row = row.copy()
            row["arm"] = "enrolled"  # read over the enrolled patients when the published arm is not one of ours
        model = target_value(result, row)
        out.append({"measure": row["measure"], "published": float(row["value"]), "model": model,
                    "tolerance": float(row["tolerance"]), "within": bool(abs(model - row["value"]) <= row["tolerance"]),
                    "source": row["source"]})
    return pd.DataFrame(out, columns=columns)
