"""Command ``rerun``: re-run a result from its provenance record and say whether the numbers are identical."""

from __future__ import annotations

import json

from qsp.cli.common import (
    EXIT_FAIL,
    EXIT_OK,
    writable_path,
)


def cmd_rerun(args) -> int:

    from qsp.provenance.rerun import load_result, rerun  # lazy: CLI start-up time
    data = load_result(args.result)
    out = writable_path(args.out)
    new, diffs = rerun(data, args.patient)
    out.write_text(json.dumps(new, indent=1), encoding="utf-8")
    if diffs:
        print(f"numbers differ ({len(diffs)} shown):")
        for line in diffs:
            print(f"  {line}")
        return EXIT_FAIL
    print(f"identical: wrote {out}")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register this group's commands on the CLI's subparsers."""
    p = subparsers.add_parser("rerun", help="re-run a trial, simulation or twin from its RESULT.json provenance; exit 1 if numbers differ")
    p.add_argument("result", help="RESULT.json written by trial, simulate (.json) or twin")
    p.add_argument("--patient", help="for a twin: the PATIENT.csv it was fitted on (results keep only its hash)")
    p.add_argument("--out", required=True, help="the new RESULT.json")
    p.set_defaults(func=cmd_rerun)
