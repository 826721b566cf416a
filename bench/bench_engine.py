"""Trial-engine throughput against a bare roadrunner loop and a per-patient solve_ivp loop.

Figures of issue 12 (measured in the same run):
- ``trial_vs_bare_roadrunner``: a bare per-patient reset+simulate loop of a plain RoadRunner on the same
  SBML (its default, stiff, CVODE settings; the project's tolerances), over the trial's patients and
  regimens for the treatment period only, divided by the whole trial (enrolment from the warm pool,
  simulation, aggregation);
- ``cli_trial_2x1000_s``: ``python -m qsp trial`` with 2 x 1000 patients (placebo vs donanemab, 76 weeks),
  wall time including start-up, pool warm; ``cli_vs_untreated_loop``: that time over a bare loop that
  resets and simulates the built-in model untreated for 76 weeks, 2000 times.

Prints one line per figure: ``RESULT name=value target=... ok=true|false``. Ratios are
measured in the same run, so machine noise cancels out. Run: ``python bench/bench_engine.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import roadrunner
from scipy.integrate import solve_ivp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qsp import constants as C  # noqa: E402
from qsp.engine.model import load_builtin_model  # noqa: E402
from qsp.engine.regimen import parse_regimen, placebo_parameters  # noqa: E402
from qsp.engine.simulate import patient_parameters  # noqa: E402
from qsp.population.sampling import sample_population  # noqa: E402
from qsp.trial.run import baseline_state, run_trial  # noqa: E402

REGIMENS = ("lecanemab_q2w", "donanemab_standard")
WEEKS = (0, 12, 24, 52, 76)


def scenario(n):
    return {
        "name": "bench",
        "seed": 7,
        "n_per_arm": n,
        "duration_weeks": 76,
        "assess_weeks": list(WEEKS[1:]),
        "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
        "arms": [{"name": "placebo"}] + [{"name": r, "regimen": r} for r in REGIMENS],
    }


def bare_loop(model, pool, n):
    """The floor: reset + set values + simulate per patient, nothing else (the model's own solver settings)."""
    regimens = [parse_regimen(r) if r else None for r in (None, *REGIMENS) for _ in range(n)]
    return timed_loop(model.runner(C.OBSERVABLES), pool.iloc[: n * (1 + len(REGIMENS))], regimens, np.array(WEEKS, dtype=float) * 7)


def plain_runner(model):
    """A RoadRunner as a user would make it: the SBML file, roadrunner's own integrator, the project's tolerances."""
    rr = roadrunner.RoadRunner(model.sbml)
    rr.integrator.relative_tolerance = model.solver.relative_tolerance
    rr.integrator.absolute_tolerance = model.solver.absolute_tolerance
    rr.timeCourseSelections = ["time", *C.OBSERVABLES]
    return rr


def timed_loop(rr, patients: pd.DataFrame, regimens: list, days: np.ndarray) -> float:
    """Seconds of a bare reset + set + simulate loop over ``patients`` (one regimen per row) on the RoadRunner ``rr``."""
    species = list(rr.model.getFloatingSpeciesIds())
    state_idx = np.array([species.index(s) for s in C.STATE_SPECIES], dtype=np.int32)
    params = list(rr.model.getGlobalParameterIds())
    jobs = []
    for (_, p), reg in zip(patients.iterrows(), regimens):
        values = {**patient_parameters(p), **(reg.model_parameters(p[C.WEIGHT_KG]) if reg else placebo_parameters())}
        values.update({f"sr{k}_noise_cl": 0.0 for k in range(1, C.MAX_STOP_CHECKS + 1)})
        idx = np.array([params.index(k) for k in values], dtype=np.int32)
        jobs.append((idx, np.fromiter(values.values(), float), np.array(baseline_state(p))))
    start = time.perf_counter()
    for idx, vals, state in jobs:
        rr.model.setGlobalParameterValues(idx, vals)
        rr.reset()
        rr.model.setFloatingSpeciesAmounts(state_idx, state)
        rr.simulate(times=days)
    return time.perf_counter() - start


def trial_vs_bare(n: int) -> None:
    """The primary figure: whole trial (warm pool) against the bare loop over the same patients and regimens."""
    scen = {**scenario(n), "seed": 11}
    run_trial(scen)  # builds (or reads) the pool blocks this seed needs, compiles the model
    start = time.perf_counter()
    result = run_trial(scen)
    trial = time.perf_counter() - start
    regimens = {arm.name: arm.regimen for arm in result.scenario.arms}
    patients = result.patients
    days = np.array(WEEKS, dtype=float) * 7
    bare = timed_loop(plain_runner(load_builtin_model()), patients, [regimens[a] for a in patients["arm"]], days)
    ratio = bare / trial
    print(f"# trial {len(patients)} patients: whole trial {trial:.2f} s, bare plain-roadrunner loop {bare:.2f} s")
    print(f"RESULT trial_vs_bare_roadrunner={ratio:.2f} target>=2.5 ok={'true' if ratio >= 2.5 else 'false'}")


def cli_trial(n: int = 1000) -> None:
    """``python -m qsp trial`` 2 x n against a bare untreated loop of 2n patients (pool warm: run twice)."""
    scen = {"name": "cli", "seed": 3, "n_per_arm": n, "duration_weeks": 76, "assess_weeks": [24, 52, 76],
            "population": {"amyloid_cl": [37, None], "mmse": [20, 28], "stage": ["mci", "mild_dementia"]},
            "arms": [{"name": "placebo"}, {"name": "donanemab", "regimen": "donanemab_standard"}]}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.json"
        path.write_text(json.dumps(scen))
        command = [sys.executable, "-m", "qsp", "trial", str(path), "--quiet", "--out", str(Path(tmp) / "r.json")]
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)  # warm the pool
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        wall = time.perf_counter() - start
    model = load_builtin_model()
    rr = plain_runner(model)
    days = np.linspace(0, 76 * 7, 4)
    start = time.perf_counter()
    for _ in range(2 * n):
        rr.reset()
        rr.simulate(times=days)
    untreated = time.perf_counter() - start
    print(f"RESULT cli_trial_2x{n}_s={wall:.2f} target<=5 ok={'true' if wall <= 5 else 'false'}")
    print(f"RESULT cli_vs_untreated_loop={wall / untreated:.1f} target<=4 ok={'true' if wall <= 4 * untreated else 'false'}")


def solve_ivp_loop(model, pool, n_patients):
    """Per-patient scipy integration of the same model (right-hand side from the compiled model), untreated arm."""
    rr = model.runner(C.OBSERVABLES)
    species = list(rr.model.getFloatingSpeciesIds())
    state_idx = [species.index(s) for s in C.STATE_SPECIES]
    days = np.array(WEEKS, dtype=float) * 7
    start = time.perf_counter()
    for _, p in pool.iloc[:n_patients].iterrows():
        values = {**patient_parameters(p), **placebo_parameters()}
        rr.model.setGlobalParameterValues(model.parameter_index(tuple(values)), np.fromiter(values.values(), float))
        rr.reset()
        y0 = np.array(rr.model.getFloatingSpeciesAmounts(), dtype=float)
        for i, v in zip(state_idx, baseline_state(p)):
            y0[i] = v
        all_idx = np.arange(len(y0), dtype=np.int32)

        def rhs(t, y, idx=all_idx):
            rr.model.setTime(t)
            rr.model.setFloatingSpeciesAmounts(idx, y)
            return np.array(rr.getRatesOfChange(), dtype=float)

        solve_ivp(rhs, (0.0, days[-1]), y0, t_eval=days, method="BDF", rtol=1e-6, atol=1e-8)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="patients per arm")
    parser.add_argument("--n-ivp", type=int, default=200, help="patients for the solve_ivp loop (enough that the trial's fixed cost per run does not dominate)")
    parser.add_argument("--n-cli", type=int, default=1000, help="patients per arm of the CLI trial")
    args = parser.parse_args(argv)
    model = load_builtin_model()
    n = args.n
    pool = sample_population(n * (1 + len(REGIMENS)), scenario(n)["population"], seed=7)
    run_trial(scenario(5), population=pool)  # warm-up: compile, first calls
    start = time.perf_counter()
    run_trial(scenario(n), population=pool)
    engine = time.perf_counter() - start
    bare = bare_loop(model, pool, n)
    # solve_ivp has no SBML events: compare on the untreated arm, engine timed on the same patients
    untreated = {**scenario(args.n_ivp), "arms": [{"name": "placebo"}]}
    start = time.perf_counter()
    run_trial(untreated, population=pool)
    engine_untreated = time.perf_counter() - start
    ivp = solve_ivp_loop(model, pool, args.n_ivp)
    total = n * (1 + len(REGIMENS))
    engine_pp, bare_pp = engine / total, bare / total
    print(f"# all arms: engine {1e3 * engine_pp:.2f} ms/patient, bare roadrunner loop {1e3 * bare_pp:.2f} ms/patient")
    print(f"# untreated arm: engine {1e3 * engine_untreated / args.n_ivp:.2f} ms/patient, solve_ivp {1e3 * ivp / args.n_ivp:.2f} ms/patient")
    ratio_bare = bare_pp / engine_pp
    trial_vs_bare(n)
    cli_trial(args.n_cli)
    ratio_ivp = ivp / engine_untreated
    print(f"RESULT engine_vs_bare_roadrunner={ratio_bare:.3f} target>=0.8 ok={'true' if ratio_bare >= 0.8 else 'false'}")
    print(f"RESULT engine_speedup_vs_solve_ivp={ratio_ivp:.1f} target>=10 ok={'true' if ratio_ivp >= 10 else 'false'}")


if __name__ == "__main__":
    main()
