"""Command-line interface: ``python -m qsp COMMAND``.

Commands: trial, simulate, population, regimens, validate-targets, calibrate,
rerun, compile-model, check-sbml, simulate-sbml, run-omex (model lab), twin (digital twin). Bad input exits with code 2 and one line per problem.
"""

from __future__ import annotations

import argparse

from qsp.cli import lab, provenance, simulate, trial, twin
from qsp.cli.common import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qsp", description="Alzheimer's disease continuum QSP core.")
    sub = parser.add_subparsers(dest="command", required=True)

    for group in (trial, simulate, provenance, lab, twin):
        group.add_commands(sub)
    return parser


def main(argv=None) -> int:
    return run_command(build_parser().parse_args(argv))
