"""SBML Test Suite cases: read a settings file, simulate the model in the sandbox, compare with results.

The suite's settings file (``NNNNN-settings.txt``) has lines ``key: value`` with keys start, duration,
steps, variables, absolute, relative, amount and concentration. A case passes when every value
satisfies ``|got - expected| <= absolute + relative * |expected|``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qsp.engine.solver import SolverOptions
from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.lab.check import DEFAULT_LIMITS, SIMULATABLE, LabLimits, check_sbml, flatten_comp, run_sandboxed

SETTINGS_KEYS = ("start", "duration", "steps", "variables", "absolute", "relative", "amount", "concentration")


@dataclass(frozen=True)
class SuiteSettings:
    """A test case's settings: output times, variables, how to report them, and the tolerances."""

    start: float
    duration: float
    steps: int
    variables: tuple[str, ...]
    absolute: float
    relative: float
    amount: tuple[str, ...] = ()
    concentration: tuple[str, ...] = ()


def parse_settings(text: str, field: str = "--settings", max_points: int = DEFAULT_LIMITS.max_points) -> SuiteSettings:
    """Parse a suite settings text; raise InvalidInput naming every bad key.

    >>> parse_settings("start: 0\\nduration: 10\\nsteps: 5\\nvariables: S1, S2\\nabsolute: 1e-3\\nrelative: 1e-4").steps
    5
    >>> parse_settings("start: 0\\nduration:\\nsteps: 5\\nvariables: S1\\nabsolute: 1\\nrelative: 1")
    Traceback (most recent call last):
    ...
    qsp.errors.InvalidInput: --settings: duration: missing or empty (not a time-course case?)
    """
    raw = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in SETTINGS_KEYS:
            raw[key.strip()] = value.strip()
    problems = []

    def number(key, kind=float):
        value = raw.get(key, "")
        if not value:
            problems.append(f"{field}: {key}: missing or empty (not a time-course case?)")
            return None
        try:
            out = kind(float(value)) if kind is int else float(value)
        except ValueError:
            problems.append(f"{field}: {key}: expected a number, got {value!r}")
            return None
        if not math.isfinite(out):
            problems.append(f"{field}: {key}: must be finite, got {value!r}")
        return out

    start, duration, steps = number("start"), number("duration"), number("steps", int)
    absolute, relative = number("absolute"), number("relative")
    listed = {key: tuple(v.strip() for v in raw.get(key, "").split(",") if v.strip())
              for key in ("variables", "amount", "concentration")}
    if not listed["variables"]:
        problems.append(f"{field}: variables: no variables listed")
    if duration is not None and duration <= 0:
        problems.append(f"{field}: duration: must be > 0, got {duration}")
    if start is not None and start < 0:
        problems.append(f"{field}: start: must be >= 0, got {start}")
    if steps is not None and not 0 < steps < max_points:
        problems.append(f"{field}: steps: must be between 1 and {max_points - 1}, got {steps}")
    for key, value in (("absolute", absolute), ("relative", relative)):
        if value is not None and value < 0:
            problems.append(f"{field}: {key}: must be >= 0, got {value}")
    if problems:
        raise InvalidInput(problems)
    return SuiteSettings(start, duration, steps, listed["variables"], absolute, relative,
                         listed["amount"], listed["concentration"])


def suite_solver(settings: SuiteSettings) -> SolverOptions:
    """CVODE settings for a case: tolerances well inside the case's own (the run and its exported archive use them)."""
    return SolverOptions(absolute_tolerance=min(1e-10, max(settings.absolute, 1e-15) * 1e-4),
                         relative_tolerance=min(1e-8, max(settings.relative, 1e-12) * 1e-3), maximum_num_steps=100_000)


def _task_simulate_case(sbml: str, location: str, settings: dict) -> dict:
    """Sandbox task: compile (comp flattened), choose amount/concentration selections, simulate."""
    import roadrunner


    s = SuiteSettings(**settings)
    rr = roadrunner.RoadRunner(flatten_comp(sbml, location))
    species = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds())
    # roadrunner: "S" is a species amount, "[S]" its concentration; the suite reports concentration unless listed as amount
    selections = [f"[{v}]" if v in species and v not in s.amount else v for v in s.variables]
    missing = []
    for sel, var in zip(selections, s.variables):
        try:
            rr.getValue(sel)
        except Exception:
            missing.append(var)
    if missing:
        return {"error": f"variables not in the model: {', '.join(missing)}", "kind": "input"}
    suite_solver(s).apply(rr)
    rr.timeCourseSelections = ["time", *selections]
    if s.start > 0:
        rr.simulate(0, s.start, 2)
    result = rr.simulate(s.start, s.start + s.duration, s.steps + 1)
    return {"columns": ["time", *s.variables], "data": np.asarray(result).tolist()}


def simulate_suite_case(model_path: str | Path, settings: SuiteSettings | str,
                        limits: LabLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Simulate an SBML file as a suite case says; a DataFrame in the suite's results layout.

    ``settings``: parsed, or the settings file's text (parsed after the model check, so that a
    model that cannot be simulated is refused for that reason first). Refuses (ModelRefused) any
    model :func:`qsp.sbml_check.check_sbml` does not find simulatable, with its reasons; comp
    external files are read only from the model's own directory.
    """
    path = Path(model_path)
    if not path.is_file():
        raise InvalidInput(f"MODEL: file not found: {path}")
    report = check_sbml(path.read_bytes(), limits, base_dir=path.parent)
    if report.verdict != SIMULATABLE:
        reasons = [u.reason + "; what to do: " + u.what_to_do for u in report.unsupported]
        reasons += [i.message for i in report.errors()]
        raise ModelRefused(f"{report.verdict}: " + " | ".join(reasons or ["see check-sbml"]))
    if isinstance(settings, str):
        settings = parse_settings(settings, max_points=limits.max_points)
    payload = {"sbml": path.read_text(encoding="utf-8"), "location": str(path),
               "settings": settings.__dict__}
    out = run_sandboxed("simulate_case", payload, limits)
    if "error" in out:
        if out.get("kind") == "input":
            raise InvalidInput(f"--settings: {out['error']}")
        raise SimulationFailed(f"simulation failed: {out['error'].split(', at ')[0]}")
    return pd.DataFrame(out["data"], columns=out["columns"])


def read_results(path: str | Path) -> pd.DataFrame:
    """A suite results CSV (``INF``/``-INF``/``NaN`` understood)."""
    table = pd.read_csv(path, na_values=["NaN", "nan"]).replace({"INF": np.inf, "-INF": -np.inf}).astype(float)
    return table.rename(columns={table.columns[0]: "time"})  # the suite writes "time" or "Time"


def compare_results(got: pd.DataFrame, expected: pd.DataFrame, settings: SuiteSettings) -> list[str]:
    """Problems of a simulated result against the expected one, with the suite's tolerances ([] = pass)."""
    problems = []
    if list(got.columns) != list(expected.columns):
        return [f"columns differ: got {list(got.columns)}, expected {list(expected.columns)}"]
    if got.shape != expected.shape:
        return [f"shape differs: got {got.shape}, expected {expected.shape}"]
    g, e = got.to_numpy(float), expected.to_numpy(float)
    both_nan = np.isnan(g) & np.isnan(e)
    same_inf = np.isinf(e) & (g == e)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(g - e) <= settings.absolute + settings.relative * np.abs(e)) | both_nan | same_inf
    for row, col in zip(*np.nonzero(~ok)):
        problems.append(f"{expected.columns[col]} at t={e[row, 0]:g}: got {g[row, col]!r}, expected {e[row, col]!r}")
    return problems
