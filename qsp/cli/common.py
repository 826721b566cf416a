"""Shared pieces of the command line: exit codes, error printing, and the argument helpers every command group uses."""

from __future__ import annotations

import sys
from pathlib import Path

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

def writable_path(path: str, option: str = "--out") -> Path:
    """A file the command will write, checked before any work: its folder exists and it is not a folder."""
    out = Path(path)
    if not out.parent.exists():
        raise InvalidInput(f"{option}: directory does not exist: {out.parent}")
    if out.is_dir():
        raise InvalidInput(f"{option}: is a directory, expected a file path: {out}")
    return out

def regimen_argument(value: str | None):

    from qsp.engine.regimen import regimen_from_argument  # lazy: CLI start-up time
    if value is None or value in ("none", "placebo", "untreated"):
        return None
    return regimen_from_argument(value)[1]

def executor_settings(args):
    """Executor settings from ``--backend/--scheduler/--workers``."""
    from qsp.engine.executor import settings_from  # lazy: CLI start-up time

    if args.workers is not None and not 1 <= args.workers <= 512:
        raise InvalidInput(f"--workers: must be between 1 and 512 (got {args.workers})")
    return settings_from(args.backend, args.scheduler, **({"n_workers": args.workers} if args.workers else {}))

def model_from_args(args):
    """The model of ``--model/--mapping`` (None: the built-in model)."""
    from qsp.lab.adapt import load_user_model  # lazy: CLI start-up time
    if getattr(args, "model", None) is None:
        if getattr(args, "mapping", None) is not None:
            raise InvalidInput("--mapping: give --model too (the built-in model needs no mapping)")
        return None

    return load_user_model(args.model, args.mapping)

def add_model_arguments(p) -> None:
    """``--model``/``--mapping``: run an uploaded SBML model instead of the built-in one."""
    p.add_argument("--model", help="SBML file to run instead of the built-in model (checked like an upload)")
    p.add_argument("--mapping", help="YAML/JSON observable mapping of --model (see models_sbml/README.md)")

def add_executor_arguments(p, what: str) -> None:
    p.add_argument("--backend", choices=["serial", "dask"], default="serial", help=f"where {what} (default serial)")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, else a LocalCluster)")
    p.add_argument("--workers", type=int, help="LocalCluster workers (default: one per core)")
