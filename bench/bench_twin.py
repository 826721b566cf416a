"""Digital twin benchmark: are the forecast bands honest, do twins beat the population, how fast?

Synthetic patients with known truth get visits at weeks 0, 26, 52 (fit) and 78, 104 (forecast),
every observable with measurement error from ``constants.MEASUREMENT_SD``. For each patient:
fit a twin on the first three visits, forecast 52 weeks untreated, and compare with the later
(noisy) observations and the true values. Twice:

- ``model``: patients drawn from the model itself (covariates and random effects from the
  population, baseline CDR-SB uniform in 0.5-6);
- ``departing``: truth the twin cannot represent: random effects drawn with twice the prior SD
  (about a third of them outside the prior's 95% range), and a different shape of decline (no
  acceleration with stage, twice the base rate; tau following amyloid with a 2-year instead of a
  5-year lag half-life).

Prints ``RESULT name=value target=... ok=true|false`` lines: coverage of the 80% and 95% bands
(pooled over observables and weeks; target within 5 points of nominal on ``model``, reported
on ``departing``), median absolute error of the twin's median against the true value relative to a
population-mean baseline (the population-typical model started from the last observed values,
as the continuum explorer does; target <= 0.70; errors in units of each observable's
measurement SD, pooled), and the time per twin fit (target <= 5 s).

    python bench/bench_twin.py --n 40
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as `python bench/bench_twin.py` from anywhere

from qsp import constants as C  # noqa: E402
from qsp.engine.model import load_builtin_model  # noqa: E402
from qsp.engine.parameters import iiv_sd  # noqa: E402
from qsp.engine.simulate import Engine  # noqa: E402
from qsp.population.sampling import NATURAL_HISTORY_START, draw_covariates  # noqa: E402
from qsp.twin.fit import TWIN_ETAS, fit_twin  # noqa: E402
from qsp.twin.forecast import forecast_twin  # noqa: E402
from qsp.twin.records import FIT_OBSERVABLES, replace_visits  # noqa: E402
from qsp.twin.result import synthetic_patient  # noqa: E402

FIT_WEEKS = (0.0, 26.0, 52.0)
FUTURE_WEEKS = (78.0, 104.0)
DEPARTING_ETA_SCALE = 2.0  # random effects drawn with twice the prior SD
DEPARTING_FACTORS = {"clin_stage_accel": 0.0, "clin_rate_per_yr": 2.0, "tau_amy_lag_half_life_yr": 0.4}  # x the model's value


def _baseline_t0(engine: Engine, patient: dict, target_cdrsb: float) -> float | None:
    years = np.arange(0.0, 70.0, 0.1)
    run = engine.run(patient, None, years * C.DAYS_PER_YEAR, state=NATURAL_HISTORY_START)
    if run.values is None:
        return None
    cdrsb = run.values[:, C.OBSERVABLES.index(C.CDRSB)]
    hit = np.flatnonzero(cdrsb >= target_cdrsb)
    return float(years[hit[0]]) if hit.size and years[hit[0]] < 60 else None


def make_patients(n: int, seed: int, departing: bool):
    """``n`` synthetic patients: (PatientRecord with all five visits, true values at every visit)."""
    model = load_builtin_model()
    overrides = {k: model.defaults[k] * f for k, f in DEPARTING_FACTORS.items()} if departing else None
    engine = Engine(model, overrides)
    sd = iiv_sd()
    scale = DEPARTING_ETA_SCALE if departing else 1.0
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        covariates = draw_covariates(rng)
        etas = {eta: float(rng.normal(0.0, scale * sd[eta])) for eta in TWIN_ETAS}
        t0 = _baseline_t0(engine, {**covariates, **etas}, float(rng.uniform(0.5, 6.0)))
        if t0 is None:
            continue
        patient, truth = synthetic_patient(covariates, etas, t0, (*FIT_WEEKS, *FUTURE_WEEKS), noise_seed=int(rng.integers(1 << 31)),
                                           patient_id=f"B{len(out):03d}", parameter_overrides=overrides)
        out.append((patient, truth))
    return out


def population_baseline(engine: Engine, patient, weeks_ahead: np.ndarray) -> np.ndarray:
    """Typical-patient forecast (all random effects 0) from the last observed values; weeks x FIT_OBSERVABLES."""
    last = patient.visits.iloc[-1]
    state = (last[C.AMYLOID_CL], last[C.TAU_SUVR], last[C.CDRSB])
    run = engine.run(patient.covariates(), None, weeks_ahead * C.DAYS_PER_WEEK, state=state)
    return run.values[:, [C.OBSERVABLES.index(o) for o in FIT_OBSERVABLES]]


def evaluate(patients, label: str) -> dict:
    engine = Engine()
    in80, in95, err_twin, err_base, fit_s, ess = [], [], [], [], [], []
    per_obs = {o: ([], []) for o in FIT_OBSERVABLES}
    for i, (patient, truth) in enumerate(patients):
        seen = replace_visits(patient, patient.visits.iloc[: len(FIT_WEEKS)])
        started = time.perf_counter()
        twin = fit_twin(seen, seed=i)
        fit_s.append(time.perf_counter() - started)
        ess.append(twin.ess_)
        fc = forecast_twin(twin, horizon_weeks=FUTURE_WEEKS[-1] - FIT_WEEKS[-1], step_weeks=26)
        bands = fc.bands.set_index(["week", "observable"])
        base = population_baseline(engine, seen, np.array([0.0, *(w - FIT_WEEKS[-1] for w in FUTURE_WEEKS)]))[1:]
        observed = patient.visits.set_index("week")
        true = truth.set_index("week")
        for j, week in enumerate(FUTURE_WEEKS):
            for k, obs in enumerate(FIT_OBSERVABLES):
                b = bands.loc[(week, obs)]
                y = observed.loc[week, obs]
                in80.append(b["p10"] <= y <= b["p90"])
                in95.append(b["p2_5"] <= y <= b["p97_5"])
                e_t = abs(b["median"] - true.loc[week, obs]) / C.MEASUREMENT_SD[obs]
                e_b = abs(base[j, k] - true.loc[week, obs]) / C.MEASUREMENT_SD[obs]
                err_twin.append(e_t)
                err_base.append(e_b)
                per_obs[obs][0].append(e_t)
                per_obs[obs][1].append(e_b)
        print(f"  {label} {i + 1}/{len(patients)}: fit {fit_s[-1]:.1f} s, ESS {twin.ess_:.0f}", flush=True)
    return {
        "coverage80": 100 * float(np.mean(in80)), "coverage95": 100 * float(np.mean(in95)),
        "error_ratio": float(np.median(err_twin) / np.median(err_base)),
        "per_obs": {o: float(np.median(t) / np.median(b)) for o, (t, b) in per_obs.items()},
        "fit_seconds": float(np.mean(fit_s)), "fit_seconds_max": float(np.max(fit_s)), "ess_median": float(np.median(ess)),
    }


def _ok(flag: bool) -> str:
    return "true" if flag else "false"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="patients per set (default 40)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    for label, departing in (("model", False), ("departing", True)):
        res = evaluate(make_patients(args.n, args.seed, departing), label)
        target = "within5of" if not departing else "report;within5of"
        print(f"RESULT twin_{label}_coverage80_pct={res['coverage80']:.1f} target={target}80 ok={_ok(abs(res['coverage80'] - 80) <= 5)}")
        print(f"RESULT twin_{label}_coverage95_pct={res['coverage95']:.1f} target={target}95 ok={_ok(abs(res['coverage95'] - 95) <= 5)}")
        print(f"RESULT twin_{label}_error_vs_population_baseline={res['error_ratio']:.3f} target<=0.70 ok={_ok(res['error_ratio'] <= 0.70)}")
        for obs, ratio in res["per_obs"].items():
            print(f"RESULT twin_{label}_error_vs_population_baseline_{obs}={ratio:.3f} target=info ok=true")
        print(f"RESULT twin_{label}_fit_seconds_mean={res['fit_seconds']:.2f} target<=5 ok={_ok(res['fit_seconds'] <= 5)}")
        print(f"RESULT twin_{label}_fit_seconds_max={res['fit_seconds_max']:.2f} target=info ok=true")
        print(f"RESULT twin_{label}_ess_median={res['ess_median']:.0f} target=info ok=true")


if __name__ == "__main__":
    main()
