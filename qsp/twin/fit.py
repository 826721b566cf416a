"""Fit a digital twin: MAP + Laplace refined by importance sampling (the method is described in :mod:`qsp.twin`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from qsp import constants as C
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput, SimulationFailed
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.population.stages import weighted_quantiles
from qsp.twin.records import FIT_OBSERVABLES, WEEK, PatientRecord, parse_patient

TWIN_ETAS = ("eta_amy_growth", "eta_amy_plateau", "eta_tau", "eta_clin", "clin_offset_cdrsb")  # estimated random effects

TREATMENT_ETAS = ("eta_cl", "z_amy_response")  # not informed by untreated visits: drawn from the population

T0_PRIOR_MEAN_YR, T0_PRIOR_SD_YR = 30.0, 30.0  # weak prior on years from amyloid onset to week 0

T0_BOUNDS_YR = (0.0, 75.0)  # years from amyloid onset to week 0

Z_BOUND = 5.0  # random effects are kept within +-5 prior SDs

HISTORY_END_YR = 90.0  # natural history simulated this far to find the amyloid-positivity crossing

HISTORY_STEP_YR = 0.5  # resolution of that crossing

MAX_ADAPTATIONS = 3  # proposal adaptations at most

ADAPT_BELOW_ESS = 0.3  # adapt the proposal when the effective sample size is below this fraction


@dataclass
class Twin:
    """A fitted twin: posterior draws of (random effects, t0) with importance weights.

    ``theta`` columns are the whitened random effects (``TWIN_ETAS`` over their prior SDs) then
    ``t0`` in years from amyloid onset to week 0.
    """

    patient: PatientRecord
    sd: dict[str, float]  # prior SDs of TWIN_ETAS
    map_: np.ndarray  # MAP of theta
    cov_: np.ndarray  # Laplace covariance of theta
    theta_: np.ndarray  # importance draws, n x 6
    weights_: np.ndarray  # normalised importance weights
    ess_: float  # effective sample size of the weights
    fit_seconds_: float
    seed: int
    model: Model = field(repr=False)

    def etas(self, theta: np.ndarray) -> dict[str, float]:
        """Random effects (model parameter values) of one draw."""
        return {eta: float(theta[k]) * self.sd[eta] for k, eta in enumerate(TWIN_ETAS)}

    def summary(self) -> pd.DataFrame:
        """Posterior mean, SD and 95% interval of each estimated quantity (model units), with the MAP."""
        rows = []
        names = [*TWIN_ETAS, "t0_years"]
        scale = np.array([*(self.sd[e] for e in TWIN_ETAS), 1.0])
        draws = self.theta_ * scale
        for k, name in enumerate(names):
            mean = float(np.sum(self.weights_ * draws[:, k]))
            sd = float(np.sqrt(np.sum(self.weights_ * (draws[:, k] - mean) ** 2)))
            lo, hi = weighted_quantiles(draws[:, [k]], self.weights_, [0.025, 0.975])[:, 0]
            prior_sd = T0_PRIOR_SD_YR if k == len(TWIN_ETAS) else self.sd[name]
            rows.append({"parameter": name, "map": float(self.map_[k] * scale[k]), "mean": mean, "sd": sd,
                         "p2_5": float(lo), "p97_5": float(hi), "prior_sd": prior_sd})
        return pd.DataFrame(rows)

def _visit_days(t0: float, weeks: np.ndarray) -> np.ndarray:
    return t0 * C.DAYS_PER_YEAR + weeks * C.DAYS_PER_WEEK

class _Objective:
    """Whitened residuals of one patient: observations over measurement SDs, then the prior."""

    def __init__(self, patient: PatientRecord, engine: Engine, sd: dict[str, float]):
        self.engine, self.sd = engine, sd
        self.covariates = patient.covariates()
        self.weeks = patient.visits[WEEK].to_numpy()
        obs = patient.visits[list(FIT_OBSERVABLES)].to_numpy()
        provided = np.array([o in engine.available for o in FIT_OBSERVABLES])
        self.mask = ~np.isnan(obs) & provided[None, :]  # an observable the model's mapping lacks cannot inform the fit
        if not self.mask.any():
            raise InvalidInput(f"patient {patient.patient_id}: no visit reports an observable the model provides "
                               f"({', '.join(o for o in FIT_OBSERVABLES if o in engine.available)})")
        self.y = obs[self.mask]
        self.cols = [C.OBSERVABLES.index(o) for o in FIT_OBSERVABLES]
        self.meas_sd = np.broadcast_to([C.MEASUREMENT_SD[o] for o in FIT_OBSERVABLES], obs.shape)[self.mask]

    def patient(self, theta: np.ndarray) -> dict:
        return {**self.covariates, **{eta: float(theta[k]) * self.sd[eta] for k, eta in enumerate(TWIN_ETAS)}}

    def predict(self, theta: np.ndarray) -> np.ndarray | None:
        run = self.engine.run(self.patient(theta), None, _visit_days(theta[-1], self.weeks), state=NATURAL_HISTORY_START)
        return None if run.values is None else run.values[:, self.cols]

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        pred = self.predict(theta)
        prior = np.concatenate([theta[:-1], [(theta[-1] - T0_PRIOR_MEAN_YR) / T0_PRIOR_SD_YR]])
        if pred is None:  # solver failure: a large but finite penalty keeps the optimiser away
            return np.concatenate([np.full(self.y.size, 1e3), prior])
        return np.concatenate([(self.y - pred[self.mask]) / self.meas_sd, prior])

    def log_posterior(self, theta: np.ndarray) -> float:
        if not T0_BOUNDS_YR[0] <= theta[-1] <= T0_BOUNDS_YR[1] or np.any(np.abs(theta[:-1]) > Z_BOUND):
            return -math.inf
        pred = self.predict(theta)
        if pred is None:
            return -math.inf
        r = np.concatenate([(self.y - pred[self.mask]) / self.meas_sd, theta[:-1], [(theta[-1] - T0_PRIOR_MEAN_YR) / T0_PRIOR_SD_YR]])
        return -0.5 * float(r @ r)

def _starts(obj: _Objective, n_best: int = 3) -> list[np.ndarray]:
    """Best starting points from a coarse grid: t0 on each trial trajectory, tau and plateau effects."""
    years = np.arange(0.0, T0_BOUNDS_YR[1] + 1e-9, 0.5)
    candidates = []
    for z_tau in (-1.5, 0.0, 1.5):
        for z_plateau in (-1.0, 0.0, 1.0):
            theta = np.zeros(len(TWIN_ETAS) + 1)
            theta[TWIN_ETAS.index("eta_tau")] = z_tau
            theta[TWIN_ETAS.index("eta_amy_plateau")] = z_plateau
            days = np.unique(np.concatenate([years * C.DAYS_PER_YEAR + w * C.DAYS_PER_WEEK for w in obj.weeks]))
            run = obj.engine.run(obj.patient(theta), None, days, state=NATURAL_HISTORY_START)
            if run.values is None:
                continue
            values = run.values[:, obj.cols]
            t0s = years[years + obj.weeks.max() / C.WEEKS_PER_YEAR <= T0_BOUNDS_YR[1]]
            idx = np.searchsorted(days, _visit_days(t0s[:, None], obj.weeks[None, :]))  # one row of visit days per t0
            residuals = (obj.y - values[idx][:, obj.mask]) / obj.meas_sd
            for t0, r in zip(t0s, residuals):
                cost = float(r @ r) + z_tau**2 + z_plateau**2 + ((t0 - T0_PRIOR_MEAN_YR) / T0_PRIOR_SD_YR) ** 2
                start = theta.copy()
                start[-1] = t0
                candidates.append((cost, start))
    candidates.sort(key=lambda c: c[0])
    chosen: list[np.ndarray] = []
    for _, start in candidates:  # distinct starts: at least 3 years apart or another grid trajectory
        if all(abs(start[-1] - s[-1]) > 3 or np.any(start[:-1] != s[:-1]) for s in chosen):
            chosen.append(start)
        if len(chosen) == n_best:
            break
    return chosen

def _importance_round(obj: _Objective, centre: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator,
                      keep_first: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Draws from a multivariate t (4 df) proposal, their normalised weights and effective sample size."""
    df_t, dim = 4.0, len(centre)
    chol = np.linalg.cholesky(0.5 * (cov + cov.T) + 1e-9 * np.eye(dim))
    z = rng.standard_normal((n, dim))
    u = rng.chisquare(df_t, n) / df_t
    theta = centre + (z @ chol.T) / np.sqrt(u)[:, None]
    theta[0] = keep_first  # keep the mode itself among the draws
    solved = np.linalg.solve(chol, (theta - centre).T)
    log_q = -0.5 * (df_t + dim) * np.log1p(np.sum(solved**2, axis=0) / df_t)
    log_p = np.array([obj.log_posterior(t) for t in theta])
    log_w = log_p - log_q
    finite = np.isfinite(log_w)
    if not finite.any():
        raise SimulationFailed("no posterior draw could be simulated")
    w = np.where(finite, np.exp(log_w - np.max(log_w[finite])), 0.0)
    w = np.minimum(w, np.mean(w) * math.sqrt(n))  # truncated weights (Ionides 2008): no single draw dominates
    w /= w.sum()
    return theta, w, float(1.0 / np.sum(w**2))

def fit_twin(patient: PatientRecord | dict, n_draws: int = 500, seed: int = 1, model: Model | None = None) -> Twin:
    """Fit a patient's twin: MAP + Laplace, refined by importance sampling (see the module docstring).

    ``n_draws`` importance draws (100-5000); reproducible from ``seed``.

    >>> twin = fit_twin({"patient_id": "P1", "age": 72, "sex": "F", "weight_kg": 68, "apoe4_copies": 1,
    ...                  "visits": [{"week": 0, "amyloid_cl": 85, "tau_suvr": 1.25, "cdrsb": 2.5, "mmse": 26},
    ...                             {"week": 52, "amyloid_cl": 88, "tau_suvr": 1.29, "cdrsb": 3.5, "mmse": 25}]},
    ...                 n_draws=200)
    >>> bool(twin.ess_ > 10)
    True
    """
    if isinstance(patient, dict):
        patient = parse_patient(patient)
    if not 100 <= n_draws <= 5000:
        raise InvalidInput(f"n_draws: must be 100-5000 (got {n_draws})")
    started = time.perf_counter()
    model = model or load_builtin_model()
    engine = Engine(model)
    sd = {eta: engine.eta_sd.get(eta, 0.0) for eta in (*TWIN_ETAS, *TREATMENT_ETAS)}  # all 0 for a mapped model
    obj = _Objective(patient, engine, sd)
    lower = np.array([-Z_BOUND] * len(TWIN_ETAS) + [T0_BOUNDS_YR[0]])
    upper = np.array([Z_BOUND] * len(TWIN_ETAS) + [T0_BOUNDS_YR[1] - patient.last_week / C.WEEKS_PER_YEAR])
    best = None
    for start in _starts(obj):
        start = np.clip(start, lower + 1e-6, upper - 1e-6)
        res = least_squares(obj.residuals, start, bounds=(lower, upper), x_scale=np.array([1.0] * len(TWIN_ETAS) + [3.0]),
                            diff_step=1e-4, max_nfev=200, method="trf")
        if best is None or res.cost < best.cost:
            best = res
    if best is None:
        raise SimulationFailed(f"patient {patient.patient_id}: the model could not be simulated for any starting point")
    theta_map = best.x
    hessian = best.jac.T @ best.jac
    cov = np.linalg.pinv(hessian + 1e-6 * np.eye(len(theta_map)))
    cov = 0.5 * (cov + cov.T)
    # importance sampling: multivariate t proposal (4 df) at the MAP with the Laplace covariance
    # inflated 1.5x; while the weights are uneven, adapt it to their weighted mean and covariance (at most 3 times)
    rng = np.random.default_rng(seed)
    theta, w, ess = _importance_round(obj, theta_map, cov * 1.5**2, n_draws, rng, keep_first=theta_map)
    for _ in range(MAX_ADAPTATIONS):
        if ess >= ADAPT_BELOW_ESS * n_draws:
            break
        mean = np.sum(w[:, None] * theta, axis=0)
        centred = theta - mean
        cov_w = (w[:, None] * centred).T @ centred
        theta2, w2, ess2 = _importance_round(obj, mean, cov_w * 1.3**2 + 0.05 * cov, n_draws, rng, keep_first=theta_map)
        if ess2 <= ess:
            break
        theta, w, ess = theta2, w2, ess2
    keep = w > 1e-8
    return Twin(
        patient=patient, sd=sd, map_=theta_map, cov_=cov, theta_=theta[keep], weights_=w[keep] / w[keep].sum(),
        ess_=ess, fit_seconds_=time.perf_counter() - started, seed=seed, model=model,
    )
