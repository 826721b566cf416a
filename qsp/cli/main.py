"""Command-line interface: ``python -m qsp COMMAND``.

Commands: trial, simulate, population, regimens, validate-targets, calibrate,
rerun, compile-model, check-sbml, simulate-sbml (model lab), twin (digital twin). Bad input exits with code 2 and one line per problem.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from qsp import constants as C
from qsp.errors import InvalidInput, QSPError

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def fail(problems) -> int:
    """Print one ``error:`` line per problem on stderr; the exit code for bad input."""
    for line in problems if isinstance(problems, list) else [problems]:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_INPUT


def run_command(args) -> int:
    """Run a parsed command; bad input becomes exit code 2 with one line per problem, never a traceback."""
    try:
        return args.func(args)
    except InvalidInput as exc:
        return fail(exc.problems)
    except QSPError as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _writable(path: str) -> Path:
    out = Path(path)
    if not out.parent.exists():
        raise InvalidInput(f"--out: directory does not exist: {out.parent}")
    if out.is_dir():
        raise InvalidInput(f"--out: is a directory, expected a file path: {out}")
    return out


def _regimen_arg(value: str | None):
    from qsp.engine.regimen import regimen_from_argument

    if value is None or value in ("none", "placebo", "untreated"):
        return None
    return regimen_from_argument(value)[1]


def _executor(args):
    """Executor settings from ``--backend/--scheduler/--workers``."""
    from qsp.engine.executor import settings_from

    if args.workers is not None and not 1 <= args.workers <= 512:
        raise InvalidInput(f"--workers: must be between 1 and 512 (got {args.workers})")
    return settings_from(args.backend, args.scheduler, **({"n_workers": args.workers} if args.workers else {}))


def model_from_args(args):
    """The model of ``--model/--mapping`` (None: the built-in model)."""
    if getattr(args, "model", None) is None:
        if getattr(args, "mapping", None) is not None:
            raise InvalidInput("--mapping: give --model too (the built-in model needs no mapping)")
        return None
    from qsp.engine.observables import load_user_model

    return load_user_model(args.model, args.mapping)


def add_model_arguments(p) -> None:
    """``--model``/``--mapping``: run an uploaded SBML model instead of the built-in one."""
    p.add_argument("--model", help="SBML file to run instead of the built-in model (checked like an upload)")
    p.add_argument("--mapping", help="YAML/JSON observable mapping of --model (see models_sbml/README.md)")


def _add_executor_arguments(p, what: str) -> None:
    p.add_argument("--backend", choices=["serial", "dask"], default="serial", help=f"where {what} (default serial)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, else a LocalCluster)")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")


def cmd_trial(args) -> int:
    from qsp.trial.run import load_scenario, run_trial

    scenario = load_scenario(args.scenario)
    if args.n_per_arm is not None:
        if args.n_per_arm < 1:
            raise InvalidInput(f"--n-per-arm: must be >= 1 (got {args.n_per_arm})")
        scenario = scenario.model_copy(update={"n_per_arm": args.n_per_arm})
    out = _writable(args.out)

    def progress(frac):
        if not args.quiet:
            print(f"\r{100 * frac:5.1f}% of patients simulated", end="", file=sys.stderr, flush=True)

    result = run_trial(scenario, progress=progress, executor=_executor(args), model=model_from_args(args))
    if not args.quiet:
        print(file=sys.stderr)
    out.write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    failed = int(result.patients["failed"].sum())
    print(f"wrote {out} ({len(scenario.arms)} arms x {scenario.n_per_arm} patients, {failed} failed)")
    return EXIT_OK


def cmd_simulate(args) -> int:
    from qsp.engine.model import load_builtin_model
    from qsp.provenance.record import provenance_record
    from qsp.engine.simulate import simulate_patient

    problems = []
    if args.sex not in C.SEXES:
        problems.append(f"--sex: must be F or M (got {args.sex!r})")
    if args.apoe4 not in C.APOE4_GENOTYPES:
        problems.append(f"--apoe4: must be 0, 1 or 2 (got {args.apoe4})")
    if not 30 <= args.age <= 110:
        problems.append(f"--age: must be between 30 and 110 years (got {args.age})")
    if not 30 <= args.weight <= 250:
        problems.append(f"--weight: must be between 30 and 250 kg (got {args.weight})")
    if not -50 <= args.amyloid <= 250:
        problems.append(f"--amyloid: must be between -50 and 250 CL (got {args.amyloid})")
    if not 0.8 <= args.tau <= 4.5:
        problems.append(f"--tau: must be between 0.8 and 4.5 SUVr (got {args.tau})")
    if not 0 <= args.cdrsb <= 18:
        problems.append(f"--cdrsb: must be between 0 and 18 (got {args.cdrsb})")
    if not 0 < args.weeks <= 52 * 40:
        problems.append(f"--weeks: must be > 0 and at most 2080 (got {args.weeks})")
    if 0 < args.weeks <= 52 * 40 and not 0 < args.step_weeks <= args.weeks:
        problems.append(f"--step-weeks: must be > 0 and at most --weeks (got {args.step_weeks})")
    if problems:
        return fail(problems)
    regimen = _regimen_arg(args.regimen)
    out = _writable(args.out) if args.out else None
    patient = {C.AGE: args.age, C.SEX: args.sex, C.WEIGHT_KG: args.weight, C.APOE4: args.apoe4}
    state = (args.amyloid, args.tau, args.cdrsb)
    model = model_from_args(args) or load_builtin_model()
    df = simulate_patient(patient, regimen, weeks=args.weeks, step_weeks=args.step_weeks, state=state, model=model)
    if out is None:
        print(df.to_csv(index=False, float_format="%.6g"), end="")
    elif out.suffix.lower() == ".json":
        record = provenance_record(
            model, None, None, model.defaults, kind="simulation",
            patient=patient, state=dict(zip(("amyloid_cl", "tau_suvr", "cdrsb"), state)),
            regimen=regimen.model_dump(mode="json", exclude_none=True) if regimen else None,
            weeks=args.weeks, step_weeks=args.step_weeks,
        )
        out.write_text(json.dumps({"provenance": record, "trajectory": df.to_dict("list")}, indent=1), encoding="utf-8")
        print(f"wrote {out}")
    else:
        df.to_csv(out, index=False, float_format="%.6g")
        print(f"wrote {out}")
    return EXIT_OK


def cmd_population(args) -> int:
    from qsp.population.sampling import sample_population
    from qsp.engine.simulate import Engine
    from qsp.trial.run import load_scenario

    if args.n < 1:
        return fail(f"--n: must be >= 1 (got {args.n})")
    criteria = load_scenario(args.scenario).population if args.scenario else None
    out = _writable(args.out)
    model = model_from_args(args)
    engine = None if model is None else Engine(model)
    pop = sample_population(args.n, criteria, seed=args.seed, executor=_executor(args), engine=engine)
    pop.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out} ({len(pop)} patients)")
    return EXIT_OK


def cmd_regimens(args) -> int:
    from qsp.engine.regimen import regimen_descriptions, regimen_library

    desc = regimen_descriptions()
    for name, regimen in regimen_library().items():
        print(f"{name:<30} {regimen.describe()}\n{'':<30} source: {desc[name].get('source', '')}")
    return EXIT_OK


def cmd_validate_targets(args) -> int:
    from qsp.trial.calibration import evaluate_targets, format_report, write_validation_snapshot

    if args.snapshot:
        snapshot = write_validation_snapshot()
        import pandas as pd

        table = pd.DataFrame(snapshot["table"])
    else:
        table = evaluate_targets(n_per_arm=args.n_per_arm)
    print(format_report(table))
    if args.out:
        _writable(args.out).write_text(table.to_csv(index=False), encoding="utf-8")
    return EXIT_OK if bool(table["pass"].all()) else EXIT_FAIL


def cmd_calibrate(args) -> int:
    from qsp.trial.calibrate import calibrate

    values = calibrate(args.stage, n_per_arm=args.n_per_arm, maxiter=args.maxiter, write=args.write)
    print(json.dumps(values, indent=1))
    return EXIT_OK


def cmd_rerun(args) -> int:
    from qsp.provenance.rerun import load_result, rerun

    data = load_result(args.result)
    out = _writable(args.out)
    new, diffs = rerun(data, args.patient)
    out.write_text(json.dumps(new, indent=1), encoding="utf-8")
    if diffs:
        print(f"numbers differ ({len(diffs)} shown):")
        for line in diffs:
            print(f"  {line}")
        return EXIT_FAIL
    print(f"identical: wrote {out}")
    return EXIT_OK


def cmd_compile_model(args) -> int:
    from qsp import paths
    from qsp.engine.model import compile_builtin_model
    from qsp.engine.parameters import write_readme_table

    compile_builtin_model()
    write_readme_table()
    print(f"wrote {paths.BUILTIN_SBML} and the parameter table in {paths.MODELS_DIR / 'README.md'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qsp", description="Alzheimer's disease continuum QSP core.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("trial", help="run a virtual trial from a YAML/JSON scenario")
    p.add_argument("scenario", help="scenario file (YAML or JSON)")
    p.add_argument("--out", required=True, help="RESULT.json to write")
    p.add_argument("--n-per-arm", type=int, help="override the scenario's n_per_arm")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_model_arguments(p)
    _add_executor_arguments(p, "patients are sampled and simulated")
    p.set_defaults(func=cmd_trial)

    p = sub.add_parser("simulate", help="simulate one patient")
    p.add_argument("--regimen", help="library name, regimen YAML/JSON file, or none (default: untreated)")
    p.add_argument("--age", type=float, default=72.0, help="years (default 72)")
    p.add_argument("--sex", default="F", help="F or M (default F)")
    p.add_argument("--weight", type=float, default=70.0, help="kg (default 70)")
    p.add_argument("--apoe4", type=int, default=1, help="APOE4 copies 0/1/2 (default 1)")
    p.add_argument("--amyloid", type=float, default=90.0, help="amyloid PET at week 0, CL (default 90)")
    p.add_argument("--tau", type=float, default=1.3, help="tau PET at week 0, SUVr (default 1.3)")
    p.add_argument("--cdrsb", type=float, default=3.5, help="CDR-SB at week 0 (default 3.5)")
    p.add_argument("--weeks", type=float, default=78.0, help="duration in weeks (default 78)")
    p.add_argument("--step-weeks", type=float, default=1.0, help="output step in weeks (default 1)")
    p.add_argument("--out", help="CSV (or .json with provenance) to write; stdout when omitted")
    add_model_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("population", help="sample a virtual population to CSV")
    p.add_argument("--n", type=int, default=100, help="patients (default 100)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenario", help="take inclusion criteria from this scenario file")
    p.add_argument("--out", required=True, help="CSV to write")
    add_model_arguments(p)
    _add_executor_arguments(p, "candidates are evaluated")
    p.set_defaults(func=cmd_population)

    p = sub.add_parser("regimens", help="list the regimen library")
    p.set_defaults(func=cmd_regimens)

    p = sub.add_parser("validate-targets", help="model vs published trial results; exit 1 if any is out of tolerance")
    p.add_argument("--n-per-arm", type=int, help="override the calibration scenarios' arm size")
    p.add_argument("--out", help="also write the table as CSV")
    p.add_argument("--snapshot", action="store_true", help="also store the run in data/validation_snapshot.json for the dashboard")
    p.set_defaults(func=cmd_validate_targets)

    p = sub.add_parser("calibrate", help="re-fit the calibrated parameters to the targets")
    p.add_argument("--stage", action="append", help="stage(s) to run (default: all, in order)")
    p.add_argument("--n-per-arm", type=int, default=200)
    p.add_argument("--maxiter", type=int, default=40)
    p.add_argument("--write", action="store_true", help="store the result in the model files")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("rerun", help="re-run a trial, simulation or twin from its RESULT.json provenance; exit 1 if numbers differ")
    p.add_argument("result", help="RESULT.json written by trial, simulate (.json) or twin")
    p.add_argument("--patient", help="for a twin: the PATIENT.csv it was fitted on (results keep only its hash)")
    p.add_argument("--out", required=True, help="the new RESULT.json")
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("compile-model", help="regenerate the SBML and the README parameter table from the sources")
    p.set_defaults(func=cmd_compile_model)

    from qsp.cli.lab import add_commands
    from qsp.cli.twin import add_commands as add_twin_commands

    add_commands(sub)
    add_twin_commands(sub)
    return parser


def main(argv=None) -> int:
    return run_command(build_parser().parse_args(argv))
