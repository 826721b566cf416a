"""Commands ``trial``, ``population``, ``validate-targets`` and ``calibrate``: virtual trials and the calibration against published results."""

from __future__ import annotations

import json
import sys

from qsp.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    add_executor_arguments,
    add_model_arguments,
    executor_settings,
    fail,
    model_from_args,
    writable_path,
)
from qsp.errors import InvalidInput


def cmd_trial(args) -> int:

    from qsp.trial.run import run_trial  # lazy: CLI start-up time
    from qsp.trial.scenario import load_scenario  # lazy: CLI start-up time
    scenario = load_scenario(args.scenario)
    if args.n_per_arm is not None:
        if args.n_per_arm < 1:
            raise InvalidInput(f"--n-per-arm: must be >= 1 (got {args.n_per_arm})")
        scenario = scenario.model_copy(update={"n_per_arm": args.n_per_arm})
    out = writable_path(args.out)

    def progress(frac):
        if not args.quiet:
            print(f"\r{100 * frac:5.1f}% of patients simulated", end="", file=sys.stderr, flush=True)

    result = run_trial(scenario, progress=progress, executor=executor_settings(args), model=model_from_args(args))
    if not args.quiet:
        print(file=sys.stderr)
    out.write_text(json.dumps(result.to_json(), indent=1), encoding="utf-8")
    failed = int(result.patients["failed"].sum())
    print(f"wrote {out} ({len(scenario.arms)} arms x {scenario.n_per_arm} patients, {failed} failed)")
    return EXIT_OK

def cmd_population(args) -> int:

    from qsp.engine.simulate import Engine  # lazy: CLI start-up time
    from qsp.population.sampling import sample_population  # lazy: CLI start-up time
    from qsp.trial.scenario import MAX_PATIENTS_PER_ARM, load_scenario  # lazy: CLI start-up time
    if args.n < 1:
        return fail(f"--n: must be >= 1 (got {args.n})")
    if args.n > MAX_PATIENTS_PER_ARM:
        return fail(f"--n: at most {MAX_PATIENTS_PER_ARM:,} patients (got {args.n:,}); "
                    "a larger population belongs on a cluster, in several runs with different seeds")
    criteria = load_scenario(args.scenario).population if args.scenario else None
    out = writable_path(args.out)
    model = model_from_args(args)
    engine = None if model is None else Engine(model)
    pop = sample_population(args.n, criteria, seed=args.seed, executor=executor_settings(args), engine=engine)
    pop.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out} ({len(pop)} patients)")
    return EXIT_OK

def cmd_validate_targets(args) -> int:

    from qsp.trial.calibration import evaluate_targets, format_report, write_validation_snapshot  # lazy: CLI start-up time
    if args.snapshot and (args.seed is not None or args.n_per_arm is not None):
        raise InvalidInput("--snapshot stores the scenarios as written: leave out --seed and --n-per-arm")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise InvalidInput(f"--seed: must be between 0 and 2**32 - 1 (got {args.seed})")
    if args.n_per_arm is not None and args.n_per_arm < 1:
        raise InvalidInput(f"--n-per-arm: must be >= 1 (got {args.n_per_arm})")
    if args.snapshot:
        snapshot = write_validation_snapshot()
        import pandas as pd

        table = pd.DataFrame(snapshot["table"])
    else:
        table = evaluate_targets(n_per_arm=args.n_per_arm, seed=args.seed)
    print(format_report(table))
    if args.out:
        writable_path(args.out).write_text(table.to_csv(index=False), encoding="utf-8")
    return EXIT_OK if bool(table["pass"].all()) else EXIT_FAIL

def cmd_calibrate(args) -> int:

    from qsp.trial.calibrate import calibrate  # lazy: CLI start-up time
    values = calibrate(args.stage, n_per_arm=args.n_per_arm, maxiter=args.maxiter, write=args.write,
                       seeds=tuple(args.seed) if args.seed else (None,))
    print(json.dumps(values, indent=1))
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register this group's commands on the CLI's subparsers."""
    p = subparsers.add_parser("trial", help="run a virtual trial from a YAML/JSON scenario")
    p.add_argument("scenario", help="scenario file (YAML or JSON)")
    p.add_argument("--out", required=True, help="RESULT.json to write")
    p.add_argument("--n-per-arm", type=int, help="override the scenario's n_per_arm")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    add_model_arguments(p)
    add_executor_arguments(p, "patients are sampled and simulated")
    p.set_defaults(func=cmd_trial)

    p = subparsers.add_parser("population", help="sample a virtual population to CSV")
    p.add_argument("--n", type=int, default=100, help="patients (default 100)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenario", help="take inclusion criteria from this scenario file")
    p.add_argument("--out", required=True, help="CSV to write")
    add_model_arguments(p)
    add_executor_arguments(p, "candidates are evaluated")
    p.set_defaults(func=cmd_population)

    p = subparsers.add_parser("validate-targets", help="model vs published trial results; exit 1 if any is out of tolerance")
    p.add_argument("--n-per-arm", type=int, help="override the calibration scenarios' arm size")
    p.add_argument("--out", help="also write the table as CSV")
    p.add_argument("--seed", type=int, help="run every scenario with this seed instead of its own (robustness beyond the "
                   "calibration's draws; not with --snapshot)")
    p.add_argument("--snapshot", action="store_true", help="also store the run in data/validation_snapshot.json for the dashboard")
    p.set_defaults(func=cmd_validate_targets)

    p = subparsers.add_parser("calibrate", help="re-fit the calibrated parameters to the targets")
    p.add_argument("--stage", action="append", help="stage(s) to run (default: all, in order)")
    p.add_argument("--n-per-arm", type=int, default=200)
    p.add_argument("--maxiter", type=int, default=40)
    p.add_argument("--seed", type=int, action="append", help="fit at this seed instead of the scenarios' own; repeat to sum "
                   "the objective over several seeds (a fit that holds beyond one draw of patients)")
    p.add_argument("--write", action="store_true", help="store the result in the model files")
    p.set_defaults(func=cmd_calibrate)
