"""Commands ``simulate``, ``regimens`` and ``compile-model``: one patient on the built-in (or a mapped) model, the regimen library, the model's sources."""

from __future__ import annotations

import json

from qsp import constants as C
from qsp import paths
from qsp.cli.common import (
    EXIT_OK,
    add_model_arguments,
    fail,
    model_from_args,
    regimen_argument,
    writable_path,
)
from qsp.cli.lab import archive_out, write_patient_archive


def cmd_simulate(args) -> int:

    from qsp.engine.model import load_builtin_model  # lazy: CLI start-up time
    from qsp.engine.simulate import simulate_patient  # lazy: CLI start-up time
    from qsp.provenance.record import provenance_record  # lazy: CLI start-up time
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
    regimen = regimen_argument(args.regimen)
    out = writable_path(args.out) if args.out else None
    omex = archive_out(args.omex) if args.omex else None
    patient = {C.AGE: args.age, C.SEX: args.sex, C.WEIGHT_KG: args.weight, C.APOE4: args.apoe4}
    state = (args.amyloid, args.tau, args.cdrsb)
    model = model_from_args(args) or load_builtin_model()
    df = simulate_patient(patient, regimen, weeks=args.weeks, step_weeks=args.step_weeks, state=state, model=model)
    if omex is not None:  # the exact model that ran (patient, dosing, day-0 state) + SED-ML + results
        write_patient_archive(omex, df, patient, regimen, state, model, quiet=out is None)
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

def cmd_regimens(args) -> int:

    from qsp.engine.regimen import regimen_descriptions, regimen_library  # lazy: CLI start-up time
    desc = regimen_descriptions()
    for name, regimen in regimen_library().items():
        print(f"{name:<30} {regimen.describe()}\n{'':<30} source: {desc[name].get('source', '')}")
    return EXIT_OK

def cmd_compile_model(args) -> int:

    from qsp.engine.model import compile_builtin_model  # lazy: CLI start-up time
    from qsp.engine.parameters import write_readme_table  # lazy: CLI start-up time
    compile_builtin_model()
    write_readme_table()
    print(f"wrote {paths.BUILTIN_SBML} and the parameter table in {paths.MODELS_DIR / 'README.md'}")
    return EXIT_OK


def add_commands(subparsers) -> None:
    """Register this group's commands on the CLI's subparsers."""
    p = subparsers.add_parser("simulate", help="simulate one patient")
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
    p.add_argument("--omex", help="also write the run as a COMBINE archive (model, SED-ML, results) to this .omex file")
    add_model_arguments(p)
    p.set_defaults(func=cmd_simulate)

    p = subparsers.add_parser("regimens", help="list the regimen library")
    p.set_defaults(func=cmd_regimens)

    p = subparsers.add_parser("compile-model", help="regenerate the SBML and the README parameter table from the sources")
    p.set_defaults(func=cmd_compile_model)
