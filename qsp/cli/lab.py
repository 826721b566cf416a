"""Model-lab commands of the CLI: ``check-sbml`` and ``simulate-sbml``.

``add_commands(subparsers)`` registers them on the main parser's subparsers. Each command returns
an exit code: check-sbml 0 simulatable, 1 invalid, 2 refused or unsupported; simulate-sbml 0
written, 2 refused or bad input (one line per problem on stderr), 1 the simulation failed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.validation import read_limited

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def _limits(args):
    from pydantic import ValidationError

    from qsp.lab.check import LabLimits  # lazy: CLI start-up time


    try:
        return LabLimits(timeout_s=args.timeout)
    except ValidationError as exc:
        raise InvalidInput([f"--timeout: {e['msg']} (got {args.timeout})" for e in exc.errors()]) from None


def cmd_check_sbml(args) -> int:
    """Print the JSON check report of an SBML file; exit code from its verdict."""
    from qsp.lab.check import VERDICT_EXIT, check_sbml  # lazy: CLI start-up time

    limits = _limits(args)
    # one byte over the limit is enough for the gate to refuse with its own message
    text = read_limited(args.file, "FILE", 10 * limits.max_bytes)
    report = check_sbml(text, limits)
    print(json.dumps(report.to_json(), indent=1))
    return VERDICT_EXIT[report.verdict]


def cmd_simulate_sbml(args) -> int:
    """Simulate an SBML file as an SBML Test Suite settings file says; write the suite's results CSV."""
    from qsp.lab.suite import simulate_suite_case  # lazy: CLI start-up time

    limits = _limits(args)
    settings = read_limited(args.settings, "--settings", 1_000_000).decode("utf-8", "replace")
    out = Path(args.out)
    if not out.parent.exists() or out.is_dir():
        raise InvalidInput(f"--out: not a writable file path: {out}")
    try:
        result = simulate_suite_case(args.model, settings, limits)
    except ModelRefused as exc:
        message = " ".join(str(exc).split())  # libsbml messages carry newlines: keep one line
        print(message if message.startswith("refused") else f"refused: {message}", file=sys.stderr)
        return EXIT_INPUT
    except SimulationFailed as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAIL
    result.to_csv(out, index=False, float_format="%.17g")
    print(f"wrote {out} ({len(result)} time points x {len(result.columns) - 1} variables)")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register check-sbml and simulate-sbml on the CLI's subparsers."""
    p = subparsers.add_parser("check-sbml", help="validate an SBML file; JSON report; exit 0 simulatable, 1 invalid, "
                                                  "2 refused or unsupported")
    p.add_argument("file", help="SBML file")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds for the sandboxed check (default 15)")
    p.set_defaults(func=cmd_check_sbml)

    p = subparsers.add_parser("simulate-sbml", help="simulate an SBML file with SBML Test Suite settings; results CSV")
    p.add_argument("model", help="SBML file (comp external files are read from its directory only)")
    p.add_argument("--settings", required=True, help="the suite's NNNNN-settings.txt")
    p.add_argument("--out", required=True, help="results CSV to write (time plus the listed variables)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds for each sandboxed step (default 15)")
    p.set_defaults(func=cmd_simulate_sbml)
