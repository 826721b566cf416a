"""Global sensitivity of a lab model (Sobol and Morris, with SALib): one output at one time.

Runs in the caller's process, and only for models :func:`qsp.sbml_check.check_sbml` found simulatable
(they compiled in the sandbox within its time and memory limits). Run time is bounded by a budget of model
evaluations, fixed before the first one, and by a wall-clock limit checked between evaluations.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qsp.engine.executor import map_chunks, settings_of
from qsp.engine.model import Model
from qsp.engine.solver import SolverOptions
from qsp.errors import InvalidInput, SimulationFailed
from qsp.lab.model_lab import output_ids, simulate_lab

METHODS = ("sobol", "morris")  # global methods offered
DEFAULT_REL_RANGE = 0.5  # default range: value * (1 -/+ 0.5)
DEFAULT_BUDGET = 2000  # model evaluations at most
DEFAULT_TIME_LIMIT_S = 60.0  # wall-clock limit of one analysis (s)
MAX_BUDGET = 200_000  # evaluations at most, whatever the caller asks
MAX_PARAMETERS = 50  # parameters varied at once
MORRIS_LEVELS = 4  # grid levels of the Morris design
SOBOL_TABLE = ["parameter", "low", "high", "S1", "S1_conf", "ST", "ST_conf"]  # columns of a Sobol result
MORRIS_TABLE = ["parameter", "low", "high", "mu", "mu_star", "sigma", "mu_star_conf"]  # columns of a Morris result

Progress = Callable[[int, int], None]  # progress(done, total) after each evaluation


@dataclass(frozen=True)
class GlobalSensitivity:
    """A finished global analysis: one row per parameter, sorted by ST (Sobol) or mu* (Morris), largest first."""

    method: str
    output: str
    time: float  # model time units
    table: pd.DataFrame = field(compare=False)
    n_evaluations: int
    seconds: float


def default_ranges(model: Model, parameters, rel: float = DEFAULT_REL_RANGE) -> dict[str, tuple[float, float]]:
    """Ranges value*(1-rel) .. value*(1+rel) of the given parameters (a zero value has no relative range).

    >>> from qsp.engine.model import antimony_to_sbml
    >>> default_ranges(Model(antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5")), ["k"])
    {'k': (0.25, 0.75)}
    """
    problems = []
    if not (isinstance(rel, int | float) and 0 < rel < 1):
        problems.append(f"range: the relative half-width must be in (0, 1) (got {rel!r})")
    ranges = {}
    for pid in parameters:
        if pid not in model.parameter_ids:
            problems.append(f"parameters: {pid!r} is not a settable parameter of the model")
            continue
        value = model.defaults[pid]
        if value == 0 or not math.isfinite(value):
            problems.append(f"parameters: {pid} has value {value:g}, so ±{rel:.0%} is no range; give its range explicitly")
            continue
        low, high = sorted((value * (1 - rel), value * (1 + rel)))
        ranges[pid] = (low, high)
    if problems:
        raise InvalidInput(problems)
    return ranges


def plan_evaluations(method: str, n_parameters: int, budget: int) -> tuple[int, int]:
    """(base sample size, evaluations) of the largest design within ``budget`` evaluations.

    Sobol (Saltelli, first and total order): N*(k+2) evaluations, N a power of 2, at least 8.
    Morris: r*(k+1) evaluations for r trajectories, at least 2.

    >>> plan_evaluations("sobol", 3, 1000), plan_evaluations("morris", 3, 1000)
    ((128, 640), (250, 1000))
    """
    k = n_parameters
    if method == "sobol":
        n = 2 ** int(math.floor(math.log2(max(budget // (k + 2), 1))))
        if n < 8:
            raise InvalidInput(f"budget: Sobol with {k} parameters needs at least {8 * (k + 2)} evaluations (got {budget})")
        return n, n * (k + 2)
    r = budget // (k + 1)
    if r < 2:
        raise InvalidInput(f"budget: Morris with {k} parameters needs at least {2 * (k + 1)} evaluations (got {budget})")
    return r, r * (k + 1)


def _validate(model: Model, method, output, at_time, ranges, budget, time_limit_s) -> list[str]:
    problems = []
    if method not in METHODS:
        problems.append(f"method: must be one of {', '.join(METHODS)} (got {method!r})")
    if output not in output_ids(model):
        problems.append(f"output: {output!r} is not a species or rule variable of the model")
    if not (isinstance(at_time, int | float) and math.isfinite(at_time) and at_time > 0):
        problems.append(f"time: must be a finite number > 0 (got {at_time!r})")
    if not ranges:
        problems.append("parameters: choose at least one parameter to vary")
    if len(ranges) > MAX_PARAMETERS:
        problems.append(f"parameters: at most {MAX_PARAMETERS} at once (got {len(ranges)})")
    for pid, bounds in ranges.items():
        if pid not in model.parameter_ids:
            problems.append(f"parameters: {pid!r} is not a settable parameter of the model")
            continue
        low, high = bounds
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            problems.append(f"parameters: range of {pid} must be finite with low < high (got {low!r}, {high!r})")
    if not (isinstance(budget, int) and 1 <= budget <= MAX_BUDGET):
        problems.append(f"budget: must be an integer between 1 and {MAX_BUDGET:,} evaluations (got {budget!r})")
    if not (isinstance(time_limit_s, int | float) and 0 < time_limit_s <= 3600):
        problems.append(f"time_limit_s: must be between 0 and 3600 s (got {time_limit_s!r})")
    return problems


def _evaluate_chunk(job) -> np.ndarray:
    """Evaluate a chunk of parameter rows on a worker (the model built once per worker process)."""

    sbml, name, solver, output, at_time, names, base, rows = job
    model = _chunk_model(sbml, name, json.dumps(solver, sort_keys=True))
    out = np.empty(len(rows))
    for i, row in enumerate(rows):
        out[i] = simulate_lab(model, at_time, 2, (output,), {**base, **dict(zip(names, map(float, row)))})[output].iloc[-1]
    return out


@functools.lru_cache(maxsize=4)
def _chunk_model(sbml: str, name: str, solver_json: str):

    return Model(sbml, name=name, solver=SolverOptions.model_validate_json(solver_json))


def global_sensitivity(model: Model, output: str, at_time: float, ranges: dict[str, tuple[float, float]],
                       method: str = "sobol", budget: int = DEFAULT_BUDGET, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                       fixed: dict[str, float] | None = None, progress: Progress | None = None,
                       seed: int = 0, executor=None) -> GlobalSensitivity:
    """Sobol or Morris indices of ``output`` at ``at_time`` to the parameters in ``ranges`` (uniform, low..high).

    Other parameters stay at their defaults or at ``fixed``. At most ``budget`` evaluations; raises
    SimulationFailed when ``time_limit_s`` passes first or a simulation fails. ``progress(done, total)`` is
    called after each evaluation (an exception raised there stops the analysis). With a Dask
    ``executor`` (qsp.executor.ExecutorSettings) the evaluations run in chunks on the cluster with the
    same numbers; progress then comes per chunk and the time limit is checked when the results are back.
    """
    problems = _validate(model, method, output, at_time, ranges, budget, time_limit_s)
    if problems:
        raise InvalidInput(problems)
    names = list(ranges)
    problem = {"num_vars": len(names), "names": names, "bounds": [list(map(float, ranges[p])) for p in names]}
    n, total = plan_evaluations(method, len(names), budget)
    x = _sample_design(method, problem, n, seed)
    assert len(x) == total, (len(x), total)
    base = dict(model.defaults, **(fixed or {}))
    start = time.monotonic()
    if executor is not None and settings_of(executor).backend == "dask":
        y = _evaluate_on_cluster(model, output, float(at_time), names, base, x, executor, progress)
        if time.monotonic() - start > time_limit_s:
            raise SimulationFailed(f"global sensitivity: took longer than the time limit of {time_limit_s:g} s on the cluster")
    else:
        y = _evaluate_here(model, output, float(at_time), names, base, x, progress, start, time_limit_s)
    if not np.all(np.isfinite(y)):
        raise SimulationFailed(f"global sensitivity: {output} is not finite in {int((~np.isfinite(y)).sum())} evaluations")
    if np.ptp(y) == 0:
        raise SimulationFailed(f"global sensitivity: {output} at time {at_time:g} does not change over these ranges")
    table = _index_table(method, problem, ranges, x, y, seed)
    return GlobalSensitivity(method, output, float(at_time), table, total, time.monotonic() - start)


def _sample_design(method: str, problem: dict, n: int, seed: int) -> np.ndarray:
    """The parameter rows to evaluate: a Saltelli (Sobol) or Morris design of base size ``n``."""
    from SALib.sample import morris as morris_sample  # lazy, as SALib is only needed by an analysis
    from SALib.sample import sobol as sobol_sample

    if method == "sobol":
        return sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    return morris_sample.sample(problem, n, num_levels=MORRIS_LEVELS, seed=seed)


def _evaluate_on_cluster(model: Model, output: str, at_time: float, names: list, base: dict, x: np.ndarray,
                         executor, progress: Progress | None) -> np.ndarray:
    """``output`` at ``at_time`` for every row of ``x``, in chunks on the executor's cluster."""
    total = len(x)
    size = settings_of(executor).chunk_size
    jobs = [(model.sbml, model.name, model.solver.model_dump(), output, at_time, names, base, x[k:k + size].tolist())
            for k in range(0, total, size)]
    parts = map_chunks(_evaluate_chunk, jobs, executor, progress=(lambda f: progress(int(f * total), total)) if progress else None)
    return np.concatenate(parts)


def _evaluate_here(model: Model, output: str, at_time: float, names: list, base: dict, x: np.ndarray,
                   progress: Progress | None, start: float, time_limit_s: float) -> np.ndarray:
    """``output`` at ``at_time`` for every row of ``x``, in this process; SimulationFailed ``time_limit_s`` after ``start``."""
    total = len(x)
    y = np.empty(total)
    for i, row in enumerate(x):
        if time.monotonic() - start > time_limit_s:
            raise SimulationFailed(f"global sensitivity: time limit of {time_limit_s:g} s reached after {i} of {total} "
                                   "evaluations; lower the budget or raise the limit")
        params = {**base, **dict(zip(names, map(float, row)))}
        try:
            y[i] = simulate_lab(model, at_time, 2, (output,), params)[output].iloc[-1]
        except SimulationFailed as exc:
            raise SimulationFailed(f"global sensitivity: evaluation {i + 1} failed at "
                                   f"{', '.join(f'{k}={v:g}' for k, v in zip(names, row))}: {exc}") from exc
        if progress is not None:
            progress(i + 1, total)
    return y


def _index_table(method: str, problem: dict, ranges: dict, x: np.ndarray, y: np.ndarray, seed: int) -> pd.DataFrame:
    """Sobol (S1, ST) or Morris (mu, mu*, sigma) indices per parameter, largest ST or mu* first."""
    from SALib.analyze import morris as morris_analyze  # lazy, as SALib is only needed by an analysis
    from SALib.analyze import sobol as sobol_analyze

    names = problem["names"]
    lows, highs = zip(*(ranges[p] for p in names))
    if method == "sobol":
        # SALib reads seed=0 as 'no seed' (bootstrap intervals would change between runs): shift it
        s = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed + 1, print_to_console=False)
        table = pd.DataFrame({"parameter": names, "low": lows, "high": highs, "S1": s["S1"], "S1_conf": s["S1_conf"],
                              "ST": s["ST"], "ST_conf": s["ST_conf"]}, columns=SOBOL_TABLE)
        key = "ST"
    else:
        s = morris_analyze.analyze(problem, x, y, num_levels=MORRIS_LEVELS, seed=seed + 1, print_to_console=False)
        table = pd.DataFrame({"parameter": names, "low": lows, "high": highs, "mu": s["mu"], "mu_star": s["mu_star"],
                              "sigma": s["sigma"], "mu_star_conf": s["mu_star_conf"]}, columns=MORRIS_TABLE)
        key = "mu_star"
    return table.sort_values(key, ascending=False, kind="stable").reset_index(drop=True)
