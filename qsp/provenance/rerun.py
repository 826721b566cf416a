"""Re-run a result from its provenance record and say whether the numbers are identical."""

from __future__ import annotations

import json
import math
from pathlib import Path

from qsp.engine.model import Model, load_builtin_model
from qsp.engine.observables import parse_mapping
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import simulate_patient
from qsp.engine.solver import SolverOptions
from qsp.errors import InvalidInput
from qsp.lab.adapt import load_checked_model
from qsp.provenance.record import data_sha256
from qsp.trial.run import run_trial
from qsp.trial.scenario import parse_scenario
from qsp.twin.fit import fit_twin
from qsp.twin.forecast import UNTREATED, forecast_twin
from qsp.twin.records import read_patient_csv
from qsp.twin.result import twin_result
from qsp.validation import read_limited, validate

MAX_RESULT_BYTES = 200_000_000


def differences(old, new, path: str = "", limit: int = 50) -> list[str]:
    """Paths where two JSON values differ (numbers compared exactly; NaN equals NaN)."""
    out: list[str] = []
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                out.append(f"{path}/{key}: only in {'new' if key not in old else 'old'}")
            else:
                out.extend(differences(old[key], new[key], f"{path}/{key}", limit))
    elif isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            out.append(f"{path}: length {len(old)} vs {len(new)}")
        else:
            for i, (a, b) in enumerate(zip(old, new)):
                out.extend(differences(a, b, f"{path}[{i}]", limit))
    elif isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        pass
    elif old != new:
        out.append(f"{path}: {old!r} -> {new!r}")
    return out[:limit]


def load_result(path: str | Path) -> dict:
    """A RESULT.json with a provenance record, or InvalidInput."""
    try:
        data = json.loads(read_limited(path, "result", MAX_RESULT_BYTES, text=True))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"result: not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("provenance"), dict):
        raise InvalidInput("result: no provenance record; not a result of this tool")
    kind = data["provenance"].get("kind")
    if kind not in ("trial", "simulation", "twin"):
        raise InvalidInput(f"result: provenance kind {kind!r} cannot be re-run (trial, simulation or twin)")
    return data


def _same(a, b) -> bool:
    """Equal numbers, NaN equal to NaN (a parameter set by an initial assignment has no value)."""
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


def _model_of(prov: dict):
    """The model a result was made with: the built-in one, or the uploaded model its record carries (checked again)."""
    if "model_sbml" not in prov:  # the built-in model, with the solver settings the result recorded
        builtin = load_builtin_model()
        solver = validate(SolverOptions, prov.get("solver") or builtin.solver.model_dump(), prefix="provenance.solver")
        return builtin if solver == builtin.solver else Model(builtin.sbml, name=builtin.name, solver=solver)

    checked = load_checked_model(str(prov["model_sbml"]), str(prov.get("model_name", "uploaded")), where="result")
    solver = validate(SolverOptions, prov.get("solver") or {}, prefix="provenance.solver")
    mapping = parse_mapping(prov["mapping"], "provenance.mapping") if prov.get("mapping") else None
    return Model(checked.sbml, name=checked.name, solver=solver, mapping=mapping)


def _enrolled_candidates(prov: dict) -> list[int] | None:
    """The candidates an enriched trial enrolled (None: all comers), so that it re-runs without the ML filter."""
    enrichment = prov.get("enrichment") or {}
    enrolled = enrichment.get("enrolled_candidates", prov.get("enrolled_candidates"))
    if enrichment and enrolled is None:
        raise InvalidInput("result: an enriched trial whose record lacks enrichment.enrolled_candidates "
                           "(made before they were recorded); run it again with `python -m ml trial ... --enrich`")
    if enrolled is not None and not isinstance(enrolled, list):
        raise InvalidInput("provenance.enrichment.enrolled_candidates: expected a list of candidate indices")
    return enrolled


def rerun(data: dict, patient_csv: str | Path | None = None) -> tuple[dict, list[str]]:
    """Re-run a result dict; returns (new result, differences in the numbers).

    A twin's record holds only a hash of the patient's data: give the same PATIENT.csv.
    """
    prov = data["provenance"]
    model = _model_of(prov)
    if prov.get("sbml_sha256") != model.sha256:
        raise InvalidInput(
            f"result: made with model sha256 {str(prov.get('sbml_sha256'))[:12]}..., the model available here is "
            f"{model.sha256[:12]}... ({'the built-in model' if 'model_sbml' not in prov else 'the record was altered'})"
        )
    overrides = {k: float(v) for k, v in prov.get("parameters", {}).items()
                 if k in model.defaults and not _same(model.defaults[k], v)}
    if prov["kind"] == "twin":

        if patient_csv is None:
            raise InvalidInput("--patient: a twin's result stores only a hash of the patient's data; give the PATIENT.csv it was fitted on")
        patient = read_patient_csv(patient_csv)
        if data_sha256(patient.to_rows()) != prov.get("patient_sha256"):
            raise InvalidInput("--patient: this is not the patient data the twin was fitted on (hash differs)")
        weeks = data["forecasts"][UNTREATED]["weeks"]
        regimens = {n: parse_regimen(r) for n, r in prov.get("regimens", {}).items() if n != UNTREATED and r}
        twin = fit_twin(patient, seed=prov.get("seed"), model=model)
        forecast = forecast_twin(twin, regimens, horizon_weeks=prov["horizon_weeks"],
                                 step_weeks=weeks[1] - weeks[0] if len(weeks) > 1 else prov["horizon_weeks"],
                                 model_error_sd_per_year=prov.get("model_error_sd_per_year"))
        new = twin_result(twin, forecast)
        keys = ("stage", "years_since_amyloid_positive", "forecasts")
    elif prov["kind"] == "trial":

        enrolled = _enrolled_candidates(prov)
        new = run_trial(parse_scenario(prov["scenario"]), parameter_overrides=overrides or None, model=model,
                        enrolled_candidates=enrolled).to_json()
        keys = ("arms", "comparisons")
    else:

        state = prov["state"]
        regimen = parse_regimen(prov["regimen"]) if prov.get("regimen") else None
        df = simulate_patient(prov["patient"], regimen, weeks=prov["weeks"], step_weeks=prov["step_weeks"],
                              state=(state["amyloid_cl"], state["tau_suvr"], state["cdrsb"]), model=model)
        new = {"provenance": prov, "trajectory": df.to_dict("list")}
        keys = ("trajectory",)
    diffs = []
    for key in keys:
        diffs.extend(differences(data.get(key), new.get(key), f"/{key}"))
    recorded, now = prov.get("batch_right_hand_side"), new["provenance"].get("batch_right_hand_side")
    readable = all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in (recorded, now))
    if diffs and readable and recorded != now:  # records older than 2026-12-03 do not say
        diffs.append(f"note: the treated arms were integrated with {', '.join(recorded) or 'no batch'} then and "
                     f"{', '.join(now) or 'no batch'} now: these agree within rounding, not to the last digit")
    return new, diffs
