"""Model-lab commands of the CLI: ``check-sbml``, ``simulate-sbml`` and ``run-omex``.

``add_commands(subparsers)`` registers them on the main parser's subparsers. Each command returns
an exit code: check-sbml 0 simulatable, 1 invalid, 2 refused or unsupported; simulate-sbml 0
written, 2 refused or bad input (one line per problem on stderr), 1 the simulation failed; run-omex
0 every output written, 1 a task failed (or a time/memory limit was hit), 2 the archive was refused.
Limits not given as flags come from the environment (``QSP_LAB_TIMEOUT_S``, ``QSP_LAB_ARCHIVE_MAX_BYTES``, ...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from qsp.cli.common import writable_path
from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.validation import read_limited

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
TIMEOUT_HELP = "seconds for each sandboxed step (default 15; env QSP_LAB_TIMEOUT_S)"


def _settings(cls, flags: dict[str, tuple[str, object]]):
    """A limits object (pydantic settings) from the flags given; the others from the environment or defaults.

    ``flags``: field -> (flag name, value or None when not given).
    """
    from pydantic import ValidationError  # lazy: CLI start-up time

    given = {name: value for name, (_, value) in flags.items() if value is not None}
    try:
        return cls(**given)
    except ValidationError as exc:
        by_field = {name: flag for name, (flag, _) in flags.items()}
        raise InvalidInput([f"{by_field.get(e['loc'][0], e['loc'][0]) if e['loc'] else 'limits'}: {e['msg']} "
                            f"(got {e.get('input')})" for e in exc.errors()]) from None


def _limits(args):
    from qsp.lab.check import LabLimits  # lazy: CLI start-up time

    return _settings(LabLimits, {"timeout_s": ("--timeout", args.timeout)})


def _archive_limits(args):
    from qsp.lab.omex import ArchiveLimits  # lazy: CLI start-up time

    return _settings(ArchiveLimits, {"max_bytes": ("--max-archive-bytes", args.max_archive_bytes),
                                     "max_entries": ("--max-archive-entries", args.max_archive_entries),
                                     "max_points": ("--max-points", args.max_points)})


def archive_out(value: str) -> Path:
    """The ``--omex`` file to write, checked before any work: its folder exists, it is not a folder."""
    return writable_path(value, "--omex")


def write_patient_archive(out: Path, trajectory, patient, regimen, state, model, quiet: bool = False) -> None:
    """Write the ``simulate`` run as a COMBINE archive (``quiet``: say so on stderr, stdout holds the CSV)."""
    from qsp.lab.export import patient_archive  # lazy: CLI start-up time

    out.write_bytes(patient_archive(trajectory, patient, regimen, state, model))
    print(f"wrote {out} (COMBINE archive: model, SED-ML, results)", file=sys.stderr if quiet else sys.stdout)


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
    from qsp.lab.suite import parse_settings, simulate_suite_case  # lazy: CLI start-up time

    limits = _limits(args)
    settings = read_limited(args.settings, "--settings", 1_000_000).decode("utf-8", "replace")
    out = Path(args.out)
    if not out.parent.exists() or out.is_dir():
        raise InvalidInput(f"--out: not a writable file path: {out}")
    omex = archive_out(args.omex) if args.omex else None
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
    if omex is not None:
        from qsp.lab.export import suite_case_archive  # lazy: CLI start-up time

        parsed = parse_settings(settings, max_points=limits.max_points)
        omex.write_bytes(suite_case_archive(Path(args.model).read_bytes(), parsed, result, limits))
        print(f"wrote {omex} (COMBINE archive: model, SED-ML, results)")
    return EXIT_OK


def cmd_run_omex(args) -> int:
    """Run a COMBINE archive's SED-ML in the sandbox; write OUTPUT_ID.csv per output into --out."""
    from qsp.lab.omex import run_archive, write_outputs  # lazy: CLI start-up time

    limits, archive_limits = _limits(args), _archive_limits(args)
    out = Path(args.out)
    if not out.parent.exists() or (out.exists() and not out.is_dir()):
        raise InvalidInput(f"--out: not a directory (or a new one in an existing folder): {out}")
    path = Path(args.archive)
    if path.is_file() and path.stat().st_size > archive_limits.max_bytes:
        print(f"refused: ARCHIVE is {path.stat().st_size:,} bytes, limit {archive_limits.max_bytes:,} (raise it with "
              "--max-archive-bytes or the environment variable QSP_LAB_ARCHIVE_MAX_BYTES)", file=sys.stderr)
        return EXIT_INPUT
    data = read_limited(path, "ARCHIVE", archive_limits.max_bytes)
    try:
        run = run_archive(data, archive_limits, limits)
    except ModelRefused as exc:
        message = " ".join(str(exc).split())
        print(message if message.startswith("refused") else f"refused: {message}", file=sys.stderr)
        return EXIT_INPUT
    except SimulationFailed as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAIL
    for note in (*run.listing.notes, *run.messages):
        print(f"note: {' '.join(str(note).split())}", file=sys.stderr)
    out.mkdir(exist_ok=True)
    for written in write_outputs(run, out):
        frame = run.outputs[written.stem] if written.stem in run.outputs else None
        shape = f" ({len(frame)} rows x {len(frame.columns)} columns)" if frame is not None else ""
        print(f"wrote {written}{shape}")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register check-sbml and simulate-sbml on the CLI's subparsers."""
    p = subparsers.add_parser("check-sbml", help="validate an SBML file; JSON report; exit 0 simulatable, 1 invalid, "
                                                  "2 refused or unsupported")
    p.add_argument("file", help="SBML file")
    p.add_argument("--timeout", type=float, help=TIMEOUT_HELP)
    p.set_defaults(func=cmd_check_sbml)

    p = subparsers.add_parser("simulate-sbml", help="simulate an SBML file with SBML Test Suite settings; results CSV")
    p.add_argument("model", help="SBML file (comp external files are read from its directory only)")
    p.add_argument("--settings", required=True, help="the suite's NNNNN-settings.txt")
    p.add_argument("--out", required=True, help="results CSV to write (time plus the listed variables)")
    p.add_argument("--timeout", type=float, help=TIMEOUT_HELP)
    p.add_argument("--omex", help="also write the run as a COMBINE archive (model, SED-ML, results) to this .omex file")
    p.set_defaults(func=cmd_simulate_sbml)

    p = subparsers.add_parser("run-omex", help="run a COMBINE archive's SED-ML (sandboxed, nothing fetched); one CSV per "
                                                "output; exit 0 ok, 1 a task failed, 2 refused")
    p.add_argument("archive", metavar="ARCHIVE", help="COMBINE archive (.omex)")
    p.add_argument("--out", required=True, help="directory for OUTPUT_ID.csv files (created if missing)")
    p.add_argument("--timeout", type=float, help=TIMEOUT_HELP)
    p.add_argument("--max-archive-bytes", type=int, help="largest archive, uncompressed bytes "
                                                         "(default 50,000,000; env QSP_LAB_ARCHIVE_MAX_BYTES)")
    p.add_argument("--max-archive-entries", type=int, help="most files in the archive (default 2,000; env QSP_LAB_ARCHIVE_MAX_ENTRIES)")
    p.add_argument("--max-points", type=int, help="most time points of one simulation or range "
                                                  "(default 100,001; env QSP_LAB_ARCHIVE_MAX_POINTS)")
    p.set_defaults(func=cmd_run_omex)
