"""Command ``python -m qsp twin``: fit a patient's digital twin and write its forecasts.

Registered by :func:`add_commands` from ``qsp.cli.build_parser``. Bad input raises InvalidInput,
which ``qsp.cli.main`` turns into exit code 2 with one line per problem. Nothing about the patient
is written anywhere but ``--out``.
"""

from __future__ import annotations

import json
from pathlib import Path

from qsp.cli.common import add_model_arguments, model_from_args
from qsp.errors import InvalidInput

EXIT_OK = 0


def _regimen_named(value: str):
    """(name, Regimen) for a library name or a REGIMEN.yaml/.json file (named by its stem)."""
    from qsp.engine.regimen import regimen_from_argument  # lazy: CLI start-up time

    return regimen_from_argument(value)


def cmd_twin(args) -> int:

    from qsp.twin.fit import fit_twin  # lazy: CLI start-up time
    from qsp.twin.forecast import MAX_HORIZON_WEEKS, UNTREATED, forecast_twin  # lazy: CLI start-up time
    from qsp.twin.records import read_patient_csv  # lazy: CLI start-up time
    from qsp.twin.result import twin_result  # lazy: CLI start-up time
    problems = []
    if not 0 < args.horizon_weeks <= MAX_HORIZON_WEEKS:
        problems.append(f"--horizon-weeks: must be > 0 and at most {MAX_HORIZON_WEEKS} (got {args.horizon_weeks:g})")
    out = Path(args.out)
    if not out.parent.exists():
        problems.append(f"--out: directory does not exist: {out.parent}")
    elif out.is_dir():
        problems.append(f"--out: is a directory, expected a file path: {out}")
    regimens = {}
    for value in args.regimen or []:
        try:
            name, regimen = _regimen_named(value)
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        if name == UNTREATED or name in regimens:
            problems.append(f"--regimen: name {name!r} given twice or reserved ({UNTREATED!r} is always forecast)")
        regimens[name] = regimen
    try:
        patient = read_patient_csv(args.patient)
    except InvalidInput as exc:
        problems.extend(f"{Path(args.patient).name}: {line}" for line in exc.problems)
    if problems:
        raise InvalidInput(problems)

    twin = fit_twin(patient, seed=args.seed, model=model_from_args(args))
    forecast = forecast_twin(twin, regimens, horizon_weeks=args.horizon_weeks, step_weeks=args.step_weeks)
    out.write_text(json.dumps(twin_result(twin, forecast), indent=1), encoding="utf-8")
    since = forecast.years_since_amyloid_positive["median"]
    print(f"wrote {out} (twin fitted in {twin.fit_seconds_:.1f} s; stage {forecast.stage}; "
          f"{since:+.1f} years since amyloid positivity; forecasts: {', '.join(forecast.regimens)})")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register ``twin`` on the CLI's subparsers."""
    p = subparsers.add_parser("twin", help="fit a patient's digital twin from PATIENT.csv and forecast it")
    p.add_argument("patient", help="PATIENT.csv: patient_id, week, age, sex, weight_kg, apoe4_copies, amyloid_cl, tau_suvr, "
                                   "iadrs, cdrsb, mmse[, adas_cog13, adcs_iadl]; one patient per file")
    p.add_argument("--horizon-weeks", type=float, default=104.0, help="forecast this many weeks past the last visit (default 104)")
    p.add_argument("--regimen", action="append", help="library name or REGIMEN.yaml/.json; repeat for several (untreated is always included)")
    p.add_argument("--step-weeks", type=float, default=4.0, help="forecast step in weeks (default 4)")
    p.add_argument("--seed", type=int, default=1, help="seed of the posterior draws (default 1)")
    p.add_argument("--out", required=True, help="RESULT.json to write")

    add_model_arguments(p)
    p.set_defaults(func=cmd_twin)
