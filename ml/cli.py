"""``python -m ml``: train, predict, and enriched trials.

Bad input exits with code 2 and one line per problem.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ml.cohort import CohortSettings, simulate_cohort
from ml.data import MAX_CSV_BYTES, MODEL_INPUTS, baseline_rows, impute_baselines, progression_labels, read_patients
from ml.enrich import enrolment_filter, parse_rule  # noqa: F401  (parse_rule: kept importable from ml.cli)
from ml.models import (
    REGRESSION_TASKS,
    TASKS,
    audit_failure,
    cohort_hash,
    composition_audit,
    load_models,
    save_models,
    train_regression,
    train_task,
)
from ml.qsp_features import add_qsp_features
from ml.uncertainty import ensemble, load_ensemble, predict_with_uncertainty, qsp_variance_share, save_ensemble, variance_report
from qsp.cli.common import fail, run_command
from qsp.errors import InvalidInput
from qsp.trial.run import run_trial
from qsp.trial.scenario import load_scenario
from qsp.validation import read_limited

EXIT_OK = 0


def cmd_train(args) -> int:

    problems = []
    if args.n < 50:
        problems.append(f"--n: at least 50 patients (got {args.n})")
    if not 0 <= args.uncertainty_draws <= 50:
        problems.append(f"--uncertainty-draws: 0 to 50 (got {args.uncertainty_draws})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        problems.append(f"--out: exists and is not a directory: {out}")
    elif not out.parent.is_dir():
        problems.append(f"--out: parent directory does not exist: {out.parent}")
    if problems:
        return fail(problems)
    settings = CohortSettings(n=args.n, seed=args.seed)
    if args.patients:
        return _train_on_patients(args, out)
    if args.cohort:
        cohort = pd.read_csv(io.BytesIO(read_limited(args.cohort, "--cohort", MAX_CSV_BYTES)))
        missing = [c for task in TASKS.values() for c in (task[0], *task[1]) if c not in cohort.columns]
        if missing:
            return fail([f"--cohort: column {c!r} missing (a cohort written by this tool has it)" for c in sorted(set(missing))])
        provenance = {"cohort": str(args.cohort)}
    else:
        cohort = simulate_cohort(settings)
        provenance = {"cohort": "simulated", "cohort_settings": settings.model_dump(mode="json"),
                      "qsp": cohort.attrs.get("provenance", {})}
    models = {task: train_task(cohort, task, seed=args.seed) for task in TASKS}
    regressors = {task: train_regression(cohort, task, seed=args.seed) for task in REGRESSION_TASKS}
    report = {task: m.metrics for task, m in models.items()}
    report["continuous"] = {task: m.metrics for task, m in regressors.items()}
    report["subgroups"] = {task: m.metrics["subgroups"] for task, m in models.items()}
    report["composition"] = composition_audit(cohort)
    grids = {}
    if args.uncertainty_draws > 0:
        holdout = cohort.sample(min(len(cohort), 200), random_state=args.seed)
        grids = ensemble(settings, tuple(TASKS), n_draws=args.uncertainty_draws, n_boot=2, seed=args.seed)
        report["uncertainty"] = {task: variance_report(predict_with_uncertainty(grid, features, holdout))
                                 for task, (grid, features) in grids.items()}
    else:
        report["uncertainty"] = {"note": "not run (--uncertainty-draws 0): predictions come without intervals"}
    provenance.update({"seed": args.seed, "data_sha256": cohort_hash(cohort), "n": int(len(cohort))})
    save_models({**models, **regressors}, out, provenance)
    if grids:
        save_ensemble(grids, out)
    cohort.to_csv(out / "cohort.csv", index=False)
    (out / "report.json").write_text(json.dumps(report, indent=1, default=float), encoding="utf-8")
    for task, m in models.items():
        print(f"{task:<14} AUC {m.metrics['auc']:.3f}  shuffled {m.metrics['auc_shuffled']:.3f}  n_test {m.metrics['n_test']}  "
              f"{_audit_word(m.metrics)}")
    _warn_failed_audits(models)
    for task, m in regressors.items():
        print(f"{task:<14} R2  {m.metrics['r2']:.3f}  shuffled {m.metrics['r2_shuffled']:.3f}  MAE {m.metrics['mae']:.2f} (mean baseline {m.metrics['mae_mean_baseline']:.2f})")
    print(f"wrote {out}/ (models, report.json, cohort.csv)")
    return EXIT_OK


def _audit_word(metrics: dict) -> str:
    return "audit passed" if audit_failure(metrics) is None else "AUDIT FAILED"


def _warn_failed_audits(models: dict) -> None:
    """One stderr line per model no better than its shuffled-label twin (kept in models/ but refused for use)."""
    for task, m in models.items():
        why = audit_failure(m.metrics)
        if why:
            print(f"warning: {task}: audit FAILED: {why}; predict marks it and trial --enrich refuses it", file=sys.stderr)


def _train_on_patients(args, out: Path) -> int:
    """Train the progression model on uploaded longitudinal visits (responder and ARIA-E need treated data)."""

    path = Path(args.patients)
    visits, report = read_patients(read_limited(path, "--patients", MAX_CSV_BYTES))
    cohort, notes = progression_labels(visits)
    report.extend(notes)
    if len(cohort) < 50 or cohort["fast_progressor"].nunique() < 2:
        return fail(f"--patients: {len(cohort)} patients with enough follow-up and both classes are needed to train "
                    f"(at least 50); see the notes of the file reading" if report else "")
    model = train_task(cohort, "progression", seed=args.seed)
    out.mkdir(exist_ok=True)
    save_models({"progression": model}, out, {"cohort": str(path), "seed": args.seed, "data_sha256": cohort_hash(
        cohort.drop(columns=["sex"]).select_dtypes("number")), "n": int(len(cohort)), "trained_on": "uploaded patients"})
    (out / "report.json").write_text(json.dumps({"progression": model.metrics, "composition": composition_audit(cohort),
                                                 "data_notes": report, "not_trained": {
                                                     "responder": "needs treated and untreated outcomes (simulated cohorts only)",
                                                     "aria": "needs treated patients with ARIA-E outcomes"}},
                                                indent=1, default=float), encoding="utf-8")
    print(f"progression  AUC {model.metrics['auc']:.3f}  shuffled {model.metrics['auc_shuffled']:.3f}  on {len(cohort)} patients  "
          f"{_audit_word(model.metrics)}")
    _warn_failed_audits({"progression": model})
    print(f"wrote {out}/ (progression model, report.json)")
    return EXIT_OK


def cmd_predict(args) -> int:
    """Score patients. With an uncertainty ensemble a probability is the ensemble's median and p10/p90 its
    percentiles, so the point lies inside its interval; without one, the single model's probability."""
    target = _output_file(args.out)  # before any work
    models, meta = load_models(args.models)
    path = Path(args.patients)
    visits, report = read_patients(read_limited(path, "--patients", MAX_CSV_BYTES))
    absent = [c for c in MODEL_INPUTS if c in visits.attrs.get("absent_columns", [])]
    text_cells = visits.attrs.get("text_in_numbers", [])
    if not args.impute and (absent or text_cells):
        problems = ([f"--patients: {path.name} has no {', '.join(absent)} (the models need them); add the columns, "
                     "or give --impute to fill them in (listed per patient in the output's 'imputed' column)"] if absent else [])
        problems += [f"--patients: {line} (fix the cell, or give --impute to fill it in)" for line in text_cells[:20]]
        return fail(problems)
    base = baseline_rows(visits)
    if args.impute:
        reference = _training_cohort(Path(args.models))
        base = impute_baselines(base, reference)
        if reference is None:
            report.append(f"--impute: no cohort.csv in {args.models}: missing values go to each model's missing-value branch")
    meta_models = meta["models"]
    regimen = meta["provenance"].get("cohort_settings", {}).get("regimen", "donanemab_standard")
    if "aria" in models:
        base, notes = add_qsp_features(base, regimen)
        report.extend(notes)
        report.append(f"aria: exposure and plaque removal simulated on {regimen} for each patient")
    out = base[["patient_id"]].copy()
    for task, model in models.items():
        missing = [f for f in model.features if f not in base.columns]
        if missing:
            out[f"{task}_probability"] = np.nan
            report.append(f"{task}: not scored, needs {missing}")
            continue
        if meta_models[task].get("kind") == "regression":
            out[f"{task}_predicted"] = model.predict(base)
            continue
        out[f"{task}_probability"] = model.predict(base)
        why = audit_failure(model.metrics)
        if why:
            out[f"{task}_audit"] = "FAILED"
            report.append(f"{task}: audit FAILED ({why}): do not use these scores")
        grid = load_ensemble(args.models, task)
        if grid is None:
            report.append(f"{task}: no uncertainty ensemble in {args.models} (trained with --uncertainty-draws 0): no interval")
            continue
        bands = predict_with_uncertainty(grid, model.features, base)
        out[f"{task}_probability"] = bands["median"].to_numpy()  # the ensemble's median: inside its own p10-p90
        out[f"{task}_p10"], out[f"{task}_p90"] = bands["p10"].to_numpy(), bands["p90"].to_numpy()
        out[f"{task}_var_share_qsp"] = qsp_variance_share(bands)
    if args.impute:
        out["imputed"] = base["imputed"].to_numpy()
    target.write_text(out.to_csv(index=False), encoding="utf-8")
    for line in report:
        print(f"note: {line}", file=sys.stderr)
    print(f"wrote {args.out} ({len(out)} patients)")
    return EXIT_OK


def _training_cohort(directory: Path) -> pd.DataFrame | None:
    """The cohort the models were trained on (cohort.csv beside them), for imputation; None when absent."""
    path = directory / "cohort.csv"
    if not path.is_file():
        return None
    return pd.read_csv(io.BytesIO(read_limited(path, "--models cohort.csv", 10 * MAX_CSV_BYTES)))


def _output_file(value: str) -> Path:
    """``--out`` checked before any work: its directory exists and is writable, and it is not a directory."""
    target = Path(value)
    if target.is_dir():
        raise InvalidInput(f"--out: is a directory, expected a file path: {target}")
    if not target.parent.is_dir():
        raise InvalidInput(f"--out: directory does not exist: {target.parent}")
    if not os.access(target.parent, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InvalidInput(f"--out: not writable: {target}")
    return target


def cmd_trial(args) -> int:

    target = _output_file(args.out)  # before any work
    scenario = load_scenario(args.scenario)
    models, meta = load_models(args.models)
    regimen = meta["provenance"].get("cohort_settings", {}).get("regimen", "donanemab_standard")
    keep = enrolment_filter(models, args.enrich, regimen)
    result = run_trial(scenario, enrolment_filter=keep)
    out = result.to_json()
    out["enrichment"] = {**result.screening, "rule": args.enrich, "models_sha256": meta["provenance"].get("data_sha256")}
    target.write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(f"wrote {args.out}: screened {result.screening['screened']} for {result.screening['enrolled']} enrolled")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml", description="ML on simulated and real AD patients.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train the progression, responder and ARIA-E models")
    p.add_argument("--out", required=True, help="directory for the models and report.json")
    p.add_argument("--cohort", help="a cohort CSV written by this tool (default: simulate one)")
    p.add_argument("--patients", help="train the progression model on a longitudinal patient CSV instead (real-world data)")
    p.add_argument("--n", type=int, default=600, help="patients to simulate (default 600)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--uncertainty-draws", type=int, default=3, help="QSP parameter draws for uncertainty (0 = skip)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("predict", help="score patients from a CSV")
    p.add_argument("--models", required=True)
    p.add_argument("--patients", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--impute", action="store_true",
                   help="fill in missing model inputs (training-cohort medians) instead of refusing; adds an 'imputed' column")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("trial", help="a virtual trial enrolling only the patients a model rule selects")
    p.add_argument("scenario")
    p.add_argument("--models", required=True)
    p.add_argument("--enrich", required=True, help="e.g. 'progression>0.5' or 'responder>0.5'")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_trial)
    return parser


def main(argv=None) -> int:
    return run_command(build_parser().parse_args(argv))
