"""Export a run of this app as a COMBINE archive that tellurium, COPASI or BioSimulations can re-run.

Each function rebuilds the exact model that ran (patient, dosing and day-0 state included, or the lab's
dosing events and parameter changes) and hands it with the results to :func:`qsp.lab.omex.export_archive`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import defusedxml.ElementTree as safe_et
import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.gate import check_sbml_text
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import Engine, simulate_patient
from qsp.errors import InvalidInput
from qsp.lab.check import DEFAULT_LIMITS, LabLimits, _external_sources
from qsp.lab.omex import export_archive
from qsp.lab.suite import SuiteSettings, suite_solver
from qsp.population.profile import Profile, parse_profile, severity_from_profile


def patient_archive(trajectory: pd.DataFrame, patient: Mapping, regimen=None, state: Sequence[float] | None = None,
                    model: Model | None = None, title: str = "One patient simulated with the AD continuum QSP app") -> bytes:
    """The archive of a :func:`qsp.engine.simulate.simulate_patient` run (``trajectory``: its DataFrame).

    The SBML is the model as the run integrates it: the patient's covariates, the regimen's dosing
    parameters and the day-0 state (amyloid CL, tau SUVr, CDR-SB) written into it. Time is in model
    units (days for the built-in model); the report holds the observables the model provides.
    """
    model = model or load_builtin_model()
    if "day" not in trajectory.columns or len(trajectory) < 2:
        raise InvalidInput("trajectory: expected simulate_patient's DataFrame (a 'day' column, at least 2 rows)")
    engine = Engine(model)
    engine.prepare(patient, parse_regimen(regimen) if regimen is not None else None,
                   tuple(state) if state is not None else None)
    sbml = engine.rr.getCurrentSBML()
    per_day = 1.0 / model.mapping.days_per_time_unit if model.mapping else 1.0
    selections = [o for o in C.OBSERVABLES if o in model.available and o in trajectory.columns]
    results = trajectory[selections].copy()
    results.insert(0, "time", trajectory["day"].to_numpy(dtype=float) * per_day)
    end = float(results["time"].iloc[-1])
    return export_archive(sbml, 0.0, end, len(results), selections, results, model.solver, title=title)


def profile_archive(profile: Profile | Mapping, regimen=None, years: float = 5.0, model: Model | None = None) -> bytes:
    """The archive of the explorer's patient: the typical patient of ``profile`` (random effects 0) under ``regimen``.

    The clinical score becomes the model's severity as in the explorer; output every 4 weeks over ``years``.
    """
    profile = parse_profile(profile) if isinstance(profile, Mapping) else profile
    if not 0 < years <= 30:
        raise InvalidInput(f"years: the horizon must be in (0, 30] (got {years})")
    state = (profile.amyloid_cl, profile.tau_suvr, severity_from_profile(profile, model))
    patient = {C.AGE: profile.age, C.SEX: profile.sex, C.WEIGHT_KG: profile.weight_kg, C.APOE4: profile.apoe4_copies}
    trajectory = simulate_patient(patient, regimen, weeks=years * C.WEEKS_PER_YEAR, step_weeks=4.0, state=state, model=model)
    return patient_archive(trajectory, patient, regimen, state, model,
                           title="A continuum-explorer patient simulated with the AD continuum QSP app")


def lab_archive(model: Model, result: pd.DataFrame, parameters: Mapping[str, float] | None = None,
                title: str = "Model lab simulation exported from the AD continuum QSP app") -> bytes:
    """The archive of a :func:`qsp.lab.model_lab.simulate_lab` run (``model``: the model simulated, dosing included)."""
    if "time" not in result.columns or len(result) < 2:
        raise InvalidInput("result: expected simulate_lab's DataFrame (a 'time' column, at least 2 rows)")
    times = result["time"].to_numpy(dtype=float)
    changed = {k: float(v) for k, v in (parameters or {}).items() if float(v) != model.defaults.get(k)}
    return export_archive(model.sbml, float(times[0]), float(times[-1]), len(times),
                          [c for c in result.columns if c != "time"], result, model.solver, title=title,
                          changes=changed or None)


def suite_case_archive(sbml: str | bytes, settings: SuiteSettings, result: pd.DataFrame,
                       lab_limits: LabLimits = DEFAULT_LIMITS) -> bytes:
    """The archive of an SBML Test Suite case run by ``python -m qsp simulate-sbml`` (``result``: its CSV table).

    Species are reported as the suite asks (concentrations unless listed under ``amount``), with the
    tolerances the run used.
    """
    text = check_sbml_text(sbml, max_bytes=lab_limits.max_bytes)
    root = safe_et.fromstring(text)
    if _external_sources(root):
        raise InvalidInput("--omex: the model refers to comp external model files; flatten it first to export it")
    if settings.start != 0:
        raise InvalidInput(f"--omex: the case's output starts at time {settings.start:g}; archives are exported "
                           "for cases starting at 0 only")
    species = {n.get("id") for n in root.iter() if n.tag.rsplit("}", 1)[-1] == "species"}
    selections = [f"[{v}]" if v in species and v not in settings.amount else v for v in settings.variables]
    table = result.rename(columns=dict(zip(settings.variables, selections)))
    times = table["time"].to_numpy(dtype=float)
    if not np.isfinite(times).all():
        raise InvalidInput("result: the time column has non-finite values")
    return export_archive(text, 0.0, float(times[-1]), len(times), selections, table, suite_solver(settings),
                          title="SBML Test Suite case simulated with the AD continuum QSP app")
