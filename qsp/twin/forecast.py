"""Digital twin: one patient's own model from their visits, and forecasts with predictive bands.

**What is estimated.** A patient is the model with their own random effects
(``eta_amy_growth``, ``eta_amy_plateau``, ``eta_tau``, ``eta_clin``, ``clin_offset_cdrsb``;
prior: the population IIV, normal with the parameter table's SDs) and their place on their own
natural history: ``t0``, the years from amyloid onset (0 CL, tau-free, CDR-SB 0) to the
baseline visit (week 0). The disease state at every visit (amyloid, tau, latent severity and the
lagged amyloid that drives tau) is read off that one trajectory, so the baseline state is
estimated with the random effects, consistent with them, and the years since amyloid positivity
come with it. ``t0`` has a weak normal prior (30 +- 30 years, bounded to 0-75), nearly flat, so
that the visits decide. Visits are taken as untreated.

**Method: MAP + Laplace, refined by importance sampling** (say which and why):

1. MAP by Gauss-Newton / trust-region least squares on the whitened residuals
   (observations over their measurement SDs from ``constants.MEASUREMENT_SD``, random effects
   over their prior SDs), from the best few starts of a small grid over ``t0`` and the tau and
   plateau effects (the posterior can have several modes along the continuum).
2. Laplace approximation at the MAP: covariance from the Gauss-Newton Hessian ``J'J``.
3. Importance sampling with a multivariate Student-t (4 df, covariance inflated 1.5x) centred
   on the MAP as proposal; weights = exact posterior / proposal, one ODE solve per draw.

Why: one solve takes about a millisecond, so a few hundred draws cost less than a second,
while MCMC would need thousands of sequential solves per patient. A pure Laplace approximation
is too narrow when the posterior is skewed (rates of decline are log-normal; early patients
barely inform their rate), which would make the bands over-confident; the importance weights
correct the Gaussian shape at little cost, and the effective sample size (``ess_``) tells when
the correction is weak. Random effects the visits cannot inform before treatment
(``eta_cl``, ``z_amy_response``) are drawn from the population for regimen forecasts.

**Forecasts** are posterior-predictive: each draw's trajectory plus a measurement error drawn
from ``MEASUREMENT_SD`` (scores clipped to their scales), summarised as median and 80%/95%
bands. Times to the next stage and to a meaningful decline (iADRS drop of 9, CDR-SB rise of 1)
are taken on the twin's true scores (without measurement error) from the last visit.

**Model (structural) error** (which and why): real patients do not follow the model exactly, and
a twin fitted to a few visits extrapolates its own shape of decline. The bands therefore add, to
each observable, a normal model-error term whose SD grows linearly with the time since the last
visit, ``MODEL_ERROR_SD_PER_YEAR[obs] * years_ahead`` (combined with the measurement SD in
quadrature). Linear because a wrong rate or a wrong shape of decline gives an error that grows
with the distance from the data, while at the visits themselves the fit already absorbs it. The
SDs were set from ``bench/bench_twin.py``'s departing patients (truth with random effects at
twice the prior SD, no acceleration with stage, a shorter tau lag): the coverage each value
gives there was read off the forecasts of 22 such patients, and values were chosen between
what the departing patients need and what keeps the model's own patients near nominal. The term
is not used in the fit: with 2-4 visits an extra variance is not identifiable, and inflating the
likelihood would only widen the posterior uniformly. A heavier-tailed likelihood was not chosen
because the departures are systematic (drift), not occasional outliers. Pass
``model_error_sd_per_year={obs: 0.0, ...}`` to :func:`forecast_twin` for measurement error only.

Nothing here reads or writes files except :func:`read_patient_csv` (which only reads).
"""

from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from qsp import constants as C
from qsp.errors import InvalidInput, SimulationFailed
from qsp.engine.model import Model, load_builtin_model
from qsp.population.sampling import NATURAL_HISTORY_START, stage_of
from qsp.engine.regimen import Regimen, parse_regimen
from qsp.engine.simulate import Engine

UNTREATED = "untreated"  # name of the no-treatment forecast, always present
WEEKS_PER_YEAR = C.DAYS_PER_YEAR / C.DAYS_PER_WEEK  # 52.18 weeks in a year
TWIN_ETAS = ("eta_amy_growth", "eta_amy_plateau", "eta_tau", "eta_clin", "clin_offset_cdrsb")  # estimated random effects
TREATMENT_ETAS = ("eta_cl", "z_amy_response")  # not informed by untreated visits: drawn from the population
FIT_OBSERVABLES = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE)  # observables a visit may report
COMPONENTS = (C.ADAS_COG13, C.ADCS_IADL)  # iADRS components: iADRS = (85 - ADAS-Cog13) + ADCS-iADL
DEMOGRAPHICS = (C.AGE, C.SEX, C.WEIGHT_KG, C.APOE4)  # on the first row at least
WEEK = "week"  # weeks from the baseline visit (week 0)
CSV_COLUMNS = (C.PATIENT_ID, WEEK, *DEMOGRAPHICS, *FIT_OBSERVABLES)  # PATIENT.csv columns, in order
OPTIONAL_COLUMNS = (*COMPONENTS, "date")  # may be absent from PATIENT.csv; date (YYYY-MM-DD) may replace week
T0_PRIOR_MEAN_YR, T0_PRIOR_SD_YR = 30.0, 30.0  # weak prior on years from amyloid onset to week 0
T0_BOUNDS_YR = (0.0, 75.0)  # years from amyloid onset to week 0
Z_BOUND = 5.0  # random effects are kept within +-5 prior SDs
HISTORY_END_YR = 90.0  # natural history simulated this far to find the amyloid-positivity crossing
HISTORY_STEP_YR = 0.5  # resolution of that crossing
MAX_VISITS = 200  # visits accepted per patient
MAX_HORIZON_WEEKS = 520  # ten years
MAX_ADAPTATIONS = 3  # proposal adaptations at most
ADAPT_BELOW_ESS = 0.3  # adapt the proposal when the effective sample size is below this fraction
PREDICTIVE_REPLICATES = 20  # measurement-error draws per posterior draw for the predictive bands
# Model (structural) error: SD per year ahead of the last visit, in each observable's units, set from the
# benchmark's departing patients (0.5-2x the measurement SD per year; see the module docstring).
MODEL_ERROR_SD_PER_YEAR = {
    C.AMYLOID_CL: 2.0,  # CL per year ahead (0.5x measurement SD)
    C.TAU_SUVR: 0.06,  # SUVr per year ahead (2x): the tau lag is the least identified shape
    C.IADRS: 3.0,  # points per year ahead (0.75x)
    C.CDRSB: 1.05,  # points per year ahead (1.5x)
    C.MMSE: 1.9,  # points per year ahead (1.25x)
}
QUANTILES = {"p2_5": 0.025, "p10": 0.10, "median": 0.50, "p90": 0.90, "p97_5": 0.975}  # band columns

# Allowed values: (low, high, unit) of each numeric field.
RANGES = {
    WEEK: (0.0, 1040.0, "weeks"),
    C.AGE: (40.0, 100.0, "years"),
    C.WEIGHT_KG: (35.0, 200.0, "kg"),
    C.AMYLOID_CL: (-20.0, 200.0, "CL"),
    C.TAU_SUVR: (0.9, 4.0, "SUVr"),
    C.IADRS: (0.0, 144.0, "points"),
    C.CDRSB: (0.0, 18.0, "points"),
    C.MMSE: (0.0, 30.0, "points"),
    C.ADAS_COG13: (0.0, 85.0, "points"),
    C.ADCS_IADL: (0.0, 59.0, "points"),
}
SCALE_LIMITS = {C.IADRS: (0.0, 144.0), C.CDRSB: (0.0, 18.0), C.MMSE: (0.0, 30.0)}  # predictive scores stay on their scale


# ------------------------------------------------------------------ patient input


@dataclass(frozen=True)
class PatientRecord:
    """A validated patient: covariates and visits (one row per week, NaN where not measured)."""

    patient_id: str
    age: float  # years at the baseline visit
    sex: str  # F or M
    weight_kg: float
    apoe4_copies: int
    visits: pd.DataFrame  # columns: week, amyloid_cl, tau_suvr, iadrs, cdrsb, mmse; sorted by week

    def covariates(self) -> dict:
        """The covariates as the engine takes them."""
        return {C.AGE: self.age, C.SEX: self.sex, C.WEIGHT_KG: self.weight_kg, C.APOE4: self.apoe4_copies}

    @property
    def last_week(self) -> float:
        """Week of the last visit (weeks from baseline)."""
        return float(self.visits[WEEK].max())

    def n_observations(self) -> int:
        """Number of observed values over all visits."""
        return int(self.visits[list(FIT_OBSERVABLES)].notna().sum().sum())

    def with_visit(self, visit: dict) -> PatientRecord:
        """A copy with one more visit (a mapping with ``week`` and any observables); validated."""
        rows = [{**r, C.PATIENT_ID: self.patient_id} for r in self.visits.to_dict("records")]
        rows[0].update(self.covariates())
        return parse_patient({**self.covariates(), C.PATIENT_ID: self.patient_id, "visits": [*rows, dict(visit)]})

    def to_rows(self) -> list[dict]:
        """One dict per visit with the demographics on the first, as in PATIENT.csv."""
        rows = []
        for i, visit in enumerate(self.visits.to_dict("records")):
            row = {C.PATIENT_ID: self.patient_id, **({k: v for k, v in self.covariates().items()} if i == 0 else {})}
            row.update({k: (None if pd.isna(v) else float(v)) for k, v in visit.items()})
            rows.append(row)
        return rows


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _number(value, column: str, where: str, problems: list[str]) -> float | None:
    """A number within RANGES[column], None when blank; appends a problem otherwise."""
    if _blank(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        problems.append(f"{where}, {column}: not a number (got {value!r})")
        return None
    lo, hi, unit = RANGES[column]
    if not math.isfinite(x) or not lo <= x <= hi:
        problems.append(f"{where}, {column}: must be between {lo:g} and {hi:g} {unit} (got {value!r})")
        return None
    return x


def _demographics(row: dict, where: str, problems: list[str]) -> dict:
    out: dict = {}
    pid = row.get(C.PATIENT_ID)
    out[C.PATIENT_ID] = None if _blank(pid) else str(pid).strip()
    out[C.AGE] = _number(row.get(C.AGE), C.AGE, where, problems)
    out[C.WEIGHT_KG] = _number(row.get(C.WEIGHT_KG), C.WEIGHT_KG, where, problems)
    sex = row.get(C.SEX)
    if _blank(sex):
        out[C.SEX] = None
    elif str(sex).strip().upper() in C.SEXES:
        out[C.SEX] = str(sex).strip().upper()
    else:
        problems.append(f"{where}, {C.SEX}: must be F or M (got {sex!r})")
        out[C.SEX] = None
    apoe = row.get(C.APOE4)
    out[C.APOE4] = None
    if not _blank(apoe):
        try:
            value = float(apoe)
        except (TypeError, ValueError):
            value = math.nan
        if value in C.APOE4_GENOTYPES:
            out[C.APOE4] = int(value)
        else:
            problems.append(f"{where}, {C.APOE4}: must be 0, 1 or 2 (got {apoe!r})")
    return out


DATE = "date"  # visit date (YYYY-MM-DD), accepted instead of week: weeks are counted from the earliest date


def _weeks_from_dates(rows: list[dict], labels: list[str], problems: list[str]) -> list[dict]:
    """Rows with ``week`` filled from ``date`` where only a date is given (weeks since the earliest date)."""
    import datetime as dt

    dated = [i for i, r in enumerate(rows) if not _blank(r.get(DATE))]
    if not dated:
        return rows
    if len(dated) != len(rows):
        missing = [labels[i] for i in range(len(rows)) if i not in dated]
        problems.append(f"{DATE}: give a date on every visit or on none (missing on {', '.join(missing)})")
        return rows
    days = {}
    for i in dated:
        try:
            days[i] = dt.date.fromisoformat(str(rows[i][DATE]).strip()[:10])
        except ValueError:
            problems.append(f"{labels[i]}, {DATE}: not a date, use YYYY-MM-DD (got {rows[i][DATE]!r})")
    if len(days) != len(rows):
        return rows
    first = min(days.values())
    out = []
    for i, row in enumerate(rows):
        week = round((days[i] - first).days / 7.0, 3)
        if not _blank(row.get(WEEK)) and _number(row.get(WEEK), WEEK, labels[i], []) not in (None, week):
            problems.append(f"{labels[i]}, {WEEK}: {row.get(WEEK)!r} disagrees with the date ({week:g} weeks after the first visit)")
        out.append({**row, WEEK: week})
    return out


def parse_patient_rows(rows: list[dict], labels: list[str] | None = None) -> PatientRecord:
    """A PatientRecord from one dict per visit (PATIENT.csv rows); InvalidInput lists every problem.

    Demographics may be given on the first row only; later rows must leave them blank or repeat
    them. ``labels`` name the rows in messages (``line 2`` for a CSV, ``visits[0]`` for a form).

    >>> p = parse_patient_rows([{"patient_id": "P1", "week": 0, "age": 70, "sex": "F", "weight_kg": 65,
    ...                          "apoe4_copies": 1, "amyloid_cl": 80, "cdrsb": 2.5}])
    >>> p.patient_id, float(p.visits["cdrsb"].iloc[0])
    ('P1', 2.5)
    """
    if not rows:
        raise InvalidInput("visits: no visit given (at least one row with week 0 is needed)")
    if len(rows) > MAX_VISITS:
        raise InvalidInput(f"visits: at most {MAX_VISITS} visits per patient (got {len(rows)})")
    labels = labels or [f"visits[{i}]" for i in range(len(rows))]
    problems: list[str] = []
    rows = _weeks_from_dates(rows, labels, problems)
    first = _demographics(rows[0], labels[0], problems)
    for key in (C.PATIENT_ID, *DEMOGRAPHICS):
        if first[key] is None and not any(p.startswith(f"{labels[0]}, {key}:") for p in problems):
            problems.append(f"{labels[0]}, {key}: required on the first row (blank)")
    visits, weeks_seen = [], {}
    for row, where in zip(rows, labels):
        if row is not rows[0]:
            later = _demographics(row, where, problems)
            for key in (C.PATIENT_ID, *DEMOGRAPHICS):
                if later[key] is not None and first[key] is not None and later[key] != first[key]:
                    what = "one patient per file" if key == C.PATIENT_ID else "leave it blank or repeat the first row's"
                    problems.append(f"{where}, {key}: differs from the first row ({later[key]!r} vs {first[key]!r}); {what}")
        week = _number(row.get(WEEK), WEEK, where, problems)
        if week is None and _blank(row.get(WEEK)):
            problems.append(f"{where}, {WEEK}: required (weeks from the baseline visit)")
        values = {obs: _number(row.get(obs), obs, where, problems) for obs in (*FIT_OBSERVABLES, *COMPONENTS)}
        adas, iadl = values.pop(C.ADAS_COG13), values.pop(C.ADCS_IADL)
        if values[C.IADRS] is None and (adas is None) != (iadl is None):
            given = C.ADAS_COG13 if adas is not None else C.ADCS_IADL
            problems.append(f"{where}, {given}: iADRS needs both {C.ADAS_COG13} and {C.ADCS_IADL} (or give {C.IADRS})")
        elif values[C.IADRS] is None and adas is not None:
            values[C.IADRS] = (85.0 - adas) + iadl
        if all(v is None for v in values.values()) and not any(p.startswith(f"{where},") for p in problems):
            problems.append(f"{where}: no observation; give at least one of {', '.join(FIT_OBSERVABLES)}")
        if week is not None:
            if week in weeks_seen:
                problems.append(f"{where}, {WEEK}: duplicate week {week:g} (also on {weeks_seen[week]}); one row per visit")
            weeks_seen[week] = where
        visits.append({WEEK: week, **values})
    if weeks_seen and 0.0 not in weeks_seen:
        problems.append(f"{WEEK}: the baseline visit must be week 0 (earliest given: {min(weeks_seen):g})")
    if problems:
        raise InvalidInput(problems)
    table = pd.DataFrame(visits, columns=[WEEK, *FIT_OBSERVABLES]).astype(float).sort_values(WEEK, ignore_index=True)
    return PatientRecord(
        patient_id=first[C.PATIENT_ID], age=first[C.AGE], sex=first[C.SEX], weight_kg=first[C.WEIGHT_KG],
        apoe4_copies=first[C.APOE4], visits=table,
    )


def parse_patient(data: dict) -> PatientRecord:
    """A PatientRecord from a form: demographics and ``visits`` (a list of mappings with ``week``).

    >>> p = parse_patient({"patient_id": "P1", "age": 70, "sex": "M", "weight_kg": 80, "apoe4_copies": 0,
    ...                    "visits": [{"week": 0, "mmse": 26}, {"week": 26, "mmse": 25}]})
    >>> list(p.visits["week"])
    [0.0, 26.0]
    """
    if not isinstance(data, dict):
        raise InvalidInput(f"patient: expected a mapping, got {type(data).__name__}")
    allowed = {C.PATIENT_ID, *DEMOGRAPHICS, "visits"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput([f"patient.{k}: unknown field; allowed: {', '.join(sorted(allowed))}" for k in unknown])
    visits = data.get("visits")
    if not isinstance(visits, list | tuple) or not all(isinstance(v, dict) for v in visits):
        raise InvalidInput("patient.visits: expected a list of mappings (week and observables)")
    demographics = {k: data.get(k) for k in (C.PATIENT_ID, *DEMOGRAPHICS)}
    rows = [{**(v or {}), **(demographics if i == 0 else {})} for i, v in enumerate(visits)]
    return parse_patient_rows(rows)


def read_patient_csv(source: str | Path | io.TextIOBase) -> PatientRecord:
    """Read and validate PATIENT.csv (a path, or a text stream such as an upload); one patient per file."""
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InvalidInput(f"patient file: not found: {path}")
        if path.stat().st_size > 1_000_000:
            raise InvalidInput(f"patient file: larger than 1 MB: {path}")
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    else:
        text = source.read()
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InvalidInput("patient file: empty (expected a header row: " + ", ".join(CSV_COLUMNS) + ")")
    reader.fieldnames = header
    problems = []
    unknown = [h for h in header if h not in (*CSV_COLUMNS, *OPTIONAL_COLUMNS)]
    if unknown:
        problems.append(f"columns: unknown {', '.join(repr(h) for h in unknown)}; allowed: {', '.join((*CSV_COLUMNS, *OPTIONAL_COLUMNS))}")
    missing = [h for h in CSV_COLUMNS if h not in header and not (h == WEEK and "date" in header)]
    if missing:
        problems.append(f"columns: missing {', '.join(missing)} (blank cells are allowed, the columns are not)")
    if len(set(header)) != len(header):
        problems.append("columns: a column name appears twice")
    if problems:
        raise InvalidInput(problems)
    rows, labels = [], []
    for row in reader:
        if all(_blank(v) for v in row.values() if not isinstance(v, list)):
            continue  # blank line
        if None in row:
            raise InvalidInput(f"line {reader.line_num}: more cells than columns")
        rows.append(row)
        labels.append(f"line {reader.line_num}")
    return parse_patient_rows(rows, labels)


# ------------------------------------------------------------------ the twin


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs) -> np.ndarray:
    """Quantiles of weighted samples along axis 0 (values: n x m); infinities allowed."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, axis=0, kind="stable")
    sorted_v = np.take_along_axis(values, order, axis=0)
    w = np.asarray(weights, dtype=float)[order]
    cw = np.cumsum(w, axis=0)
    cw /= cw[-1]
    out = np.empty((len(qs), values.shape[1]))
    for j in range(values.shape[1]):
        idx = np.searchsorted(cw[:, j], np.asarray(qs), side="left").clip(0, len(cw) - 1)
        out[:, j] = sorted_v[idx, j]
    return out


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
            lo, hi = _weighted_quantiles(draws[:, [k]], self.weights_, [0.025, 0.975])[:, 0]
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
            for t0 in years[years + obj.weeks.max() / WEEKS_PER_YEAR <= T0_BOUNDS_YR[1]]:
                idx = np.searchsorted(days, _visit_days(t0, obj.weeks))
                pred = values[idx]
                r = (obj.y - pred[obj.mask]) / obj.meas_sd
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
    ...                 n_draws=100)
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
    upper = np.array([Z_BOUND] * len(TWIN_ETAS) + [T0_BOUNDS_YR[1] - patient.last_week / WEEKS_PER_YEAR])
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


# ------------------------------------------------------------------ forecasts


@dataclass
class Forecast:
    """Forecasts of one twin from its last visit, untreated and under each regimen."""

    patient_id: str
    stage: str  # stage at the last visit (twin's CDR-SB, posterior median)
    cdrsb_now: float  # twin's CDR-SB at the last visit (posterior median, no measurement error)
    years_since_amyloid_positive: dict[str, float]  # median, p10, p90 (negative: positivity in the future)
    bands: pd.DataFrame  # regimen, week, observable, median, p10, p90, p2_5, p97_5 (predictive)
    events: pd.DataFrame  # regimen, event, median_years, p10_years, p90_years (inf: not within horizon)
    fit: pd.DataFrame  # week, observable, observed, median, p10, p90 (twin without measurement error, visits window)
    horizon_weeks: float
    regimens: dict[str, Regimen | None]
    n_draws: dict[str, int]  # posterior draws behind each forecast
    model_error_sd_per_year: dict[str, float] = field(default_factory=dict)  # structural error used in the bands


def _crossing_years(years: np.ndarray, values: np.ndarray, threshold: float, rising: bool = True) -> np.ndarray:
    """First time each row of ``values`` (draws x times) crosses ``threshold``, linearly interpolated; inf if never."""
    hit = values >= threshold if rising else values <= threshold
    out = np.full(values.shape[0], math.inf)
    for i in range(values.shape[0]):
        k = np.flatnonzero(hit[i])
        if k.size == 0:
            continue
        k = k[0]
        if k == 0:
            out[i] = years[0]
            continue
        v0, v1 = values[i, k - 1], values[i, k]
        frac = (threshold - v0) / (v1 - v0) if v1 != v0 else 1.0
        out[i] = years[k - 1] + frac * (years[k] - years[k - 1])
    return out


def _predictive(values: np.ndarray, weights: np.ndarray, observable: str, rng: np.random.Generator,
                years_ahead: np.ndarray, model_error_sd_per_year: float = 0.0) -> np.ndarray:
    """Quantile rows (QUANTILES order) of true values plus model and measurement error, per time point.

    The SD at ``years_ahead`` is ``sqrt(measurement_sd**2 + (model_error_sd_per_year * years_ahead)**2)``.
    """
    meas = C.MEASUREMENT_SD.get(observable, 0.0)
    sd = np.sqrt(meas**2 + (model_error_sd_per_year * np.asarray(years_ahead, dtype=float)) ** 2)
    reps = np.repeat(values, PREDICTIVE_REPLICATES, axis=0)
    if np.any(sd > 0):
        reps = reps + rng.normal(0.0, 1.0, reps.shape) * sd[None, :]
    if observable in SCALE_LIMITS:
        reps = np.clip(reps, *SCALE_LIMITS[observable])
    return _weighted_quantiles(reps, np.repeat(weights, PREDICTIVE_REPLICATES), list(QUANTILES.values()))


def _events(name: str, years: np.ndarray, cdrsb: np.ndarray, iadrs: np.ndarray, weights: np.ndarray, stage: str) -> list[dict]:
    stages = list(C.STAGES)
    targets = []
    has_cdrsb, has_iadrs = not np.isnan(cdrsb).all(), not np.isnan(iadrs).all()  # all NaN: not in the model's mapping
    if has_cdrsb and stages.index(stage) + 1 < len(stages):
        nxt = stages[stages.index(stage) + 1]
        targets.append((f"stage:{nxt}", _crossing_years(years, cdrsb, C.STAGES[nxt][0])))
    if has_iadrs:
        targets.append(("iadrs_drop_9", _crossing_years(years, iadrs - iadrs[:, [0]], -C.MEANINGFUL_IADRS_DROP, rising=False)))
    if has_cdrsb:
        targets.append(("cdrsb_rise_1", _crossing_years(years, cdrsb - cdrsb[:, [0]], C.MEANINGFUL_CDRSB_RISE)))
    rows = []
    for event, times in targets:
        q = _weighted_quantiles(times[:, None], weights, [0.5, 0.1, 0.9])[:, 0]
        rows.append({"regimen": name, "event": event, "median_years": float(q[0]), "p10_years": float(q[1]), "p90_years": float(q[2])})
    return rows


def forecast_twin(
    twin: Twin,
    regimens: dict[str, Regimen | str | dict] | None = None,
    horizon_weeks: float = 104,
    step_weeks: float = 4,
    n_regimen_draws: int = 100,
    seed: int | None = None,
    model_error_sd_per_year: dict[str, float] | None = None,
) -> Forecast:
    """Forecast a twin from its last visit to ``horizon_weeks`` later, untreated and under each regimen.

    Regimens start at the last visit. Untreated forecasts use every importance draw with its
    weight; regimen forecasts use ``n_regimen_draws`` draws resampled by weight (a treated
    simulation costs 10-30x an untreated one), each with its own clearance and plaque-removal
    responsiveness drawn from the population. ``model_error_sd_per_year`` (observable -> SD per
    year ahead) replaces :data:`MODEL_ERROR_SD_PER_YEAR`; all zeros give measurement error only.
    """
    if not 0 < horizon_weeks <= MAX_HORIZON_WEEKS:
        raise InvalidInput(f"horizon_weeks: must be > 0 and at most {MAX_HORIZON_WEEKS} (got {horizon_weeks})")
    if not 0 < step_weeks <= horizon_weeks:
        raise InvalidInput(f"step_weeks: must be > 0 and at most horizon_weeks (got {step_weeks})")
    if not 10 <= n_regimen_draws <= 2000:
        raise InvalidInput(f"n_regimen_draws: must be 10-2000 (got {n_regimen_draws})")
    model_error = dict(MODEL_ERROR_SD_PER_YEAR)
    problems = []
    for obs, value in (model_error_sd_per_year or {}).items():
        if obs not in MODEL_ERROR_SD_PER_YEAR:
            problems.append(f"model_error_sd_per_year.{obs}: unknown observable; allowed: {', '.join(MODEL_ERROR_SD_PER_YEAR)}")
        elif not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            problems.append(f"model_error_sd_per_year.{obs}: must be a finite number >= 0 (got {value!r})")
        else:
            model_error[obs] = float(value)
    parsed: dict[str, Regimen | None] = {UNTREATED: None}
    for name, regimen in (regimens or {}).items():
        if name == UNTREATED:
            problems.append(f"regimens.{name}: the name {UNTREATED!r} is reserved for the forecast without treatment")
            continue
        try:
            parsed[name] = parse_regimen(regimen, field=f"regimens.{name}")
        except InvalidInput as exc:
            problems.extend(exc.problems)
    if problems:
        raise InvalidInput(problems)
    rng = np.random.default_rng(twin.seed if seed is None else seed)
    patient = twin.patient
    engine = Engine(twin.model)
    last = patient.last_week
    rel_weeks = np.arange(0.0, horizon_weeks + 1e-9, step_weeks)
    if rel_weeks[-1] < horizon_weeks - 1e-9:
        rel_weeks = np.append(rel_weeks, horizon_weeks)
    weeks = last + rel_weeks
    fit_weeks = np.unique(np.concatenate([np.linspace(0.0, last, 27) if last > 0 else [0.0], patient.visits[WEEK].to_numpy()]))
    grid_years = np.arange(0.0, HISTORY_END_YR + 1e-9, HISTORY_STEP_YR)
    obs_idx = {o: C.OBSERVABLES.index(o) for o in C.OBSERVABLES}

    # untreated: each weighted draw simulated from amyloid onset
    untreated, fitted, states, since, weights, etas_list = [], [], [], [], [], []
    for theta, w in zip(twin.theta_, twin.weights_):
        t0 = float(theta[-1])
        f_days = np.round(_visit_days(t0, weeks), 6)
        h_days = np.round(_visit_days(t0, fit_weeks), 6)
        g_days = np.round(grid_years * C.DAYS_PER_YEAR, 6)
        days, inverse = np.unique(np.concatenate([f_days, h_days, g_days]), return_inverse=True)
        etas = twin.etas(theta)
        run = engine.run({**patient.covariates(), **etas}, None, days, state=NATURAL_HISTORY_START)
        if run.values is None:
            continue
        v = run.values
        untreated.append(v[inverse[: len(f_days)]])
        fitted.append(v[inverse[len(f_days): len(f_days) + len(h_days)]])
        amyloid = v[inverse[len(f_days) + len(h_days):], obs_idx[C.AMYLOID_CL]]
        crossing = _crossing_years(grid_years, amyloid[None, :], C.AMYLOID_POSITIVE_CL)[0]
        since.append(t0 + last / WEEKS_PER_YEAR - crossing)
        now = v[inverse[0]]
        states.append((now[obs_idx[C.AMYLOID_CL]], now[obs_idx[C.TAU_SUVR]], now[obs_idx[C.SEVERITY]], now[obs_idx[C.AMYLOID_LAGGED_CL]]))
        weights.append(w)
        etas_list.append(etas)
    if not untreated:
        raise SimulationFailed(f"patient {patient.patient_id}: every posterior draw failed to simulate")
    weights = np.asarray(weights) / np.sum(weights)
    untreated_v = np.stack(untreated)  # draws x weeks x observables
    cdrsb_now = float(_weighted_quantiles(untreated_v[:, [0], obs_idx[C.CDRSB]], weights, [0.5])[0, 0])
    stage = stage_of(cdrsb_now)
    q_since = _weighted_quantiles(np.asarray(since)[:, None], weights, [0.5, 0.1, 0.9])[:, 0]

    frames, event_rows, n_used = [], [], {}
    years_ahead = rel_weeks / WEEKS_PER_YEAR

    def add_bands(name, values, w, with_aria):
        for obs in (*FIT_OBSERVABLES, *((C.ARIA_E_RISK,) if with_aria else ())):
            if obs not in engine.available:
                continue  # not provided by the model's mapping: no band rather than a made-up one
            series = values[:, :, obs_idx[obs]]
            q = (_predictive(series, w, obs, rng, years_ahead, model_error[obs]) if obs != C.ARIA_E_RISK
                 else _weighted_quantiles(series, w, list(QUANTILES.values())))
            frames.append(pd.DataFrame({"regimen": name, "week": weeks, "observable": obs, **{k: q[i] for i, k in enumerate(QUANTILES)}}))
        event_rows.extend(_events(name, years_ahead, values[:, :, obs_idx[C.CDRSB]], values[:, :, obs_idx[C.IADRS]], w, stage))
        n_used[name] = int(values.shape[0])

    add_bands(UNTREATED, untreated_v, weights, with_aria=False)
    if len(parsed) > 1:
        # systematic resampling by weight, then treatment random effects from the population
        positions = (rng.random() + np.arange(n_regimen_draws)) / n_regimen_draws
        picks = np.searchsorted(np.cumsum(weights), positions).clip(0, len(weights) - 1)
        treatment_etas = [{e: float(rng.normal(0.0, twin.sd[e])) for e in TREATMENT_ETAS} for _ in picks]
        days = rel_weeks * C.DAYS_PER_WEEK
        for name, regimen in parsed.items():
            if regimen is None:
                continue
            runs = []
            for k, extra in zip(picks, treatment_etas):
                run = engine.run({**patient.covariates(), **etas_list[k], **extra}, regimen, days, state=states[k])
                if run.values is not None:
                    runs.append(run.values)
            if not runs:
                raise SimulationFailed(f"regimens.{name}: every simulation failed for this patient")
            values = np.stack(runs)
            add_bands(name, values, np.full(len(runs), 1.0 / len(runs)), with_aria=True)

    fitted_v = np.stack(fitted)
    fit_rows = []
    observed = patient.visits.set_index(WEEK)
    for obs in (o for o in FIT_OBSERVABLES if o in engine.available):
        q = _weighted_quantiles(fitted_v[:, :, obs_idx[obs]], weights, [0.5, 0.1, 0.9])
        seen = observed[obs].reindex(fit_weeks)
        fit_rows.append(pd.DataFrame({"week": fit_weeks, "observable": obs, "observed": seen.to_numpy(),
                                      "median": q[0], "p10": q[1], "p90": q[2]}))
    return Forecast(
        patient_id=patient.patient_id, stage=stage, cdrsb_now=cdrsb_now,
        years_since_amyloid_positive={"median": float(q_since[0]), "p10": float(q_since[1]), "p90": float(q_since[2])},
        bands=pd.concat(frames, ignore_index=True), events=pd.DataFrame(event_rows), fit=pd.concat(fit_rows, ignore_index=True),
        horizon_weeks=float(horizon_weeks), regimens=parsed, n_draws=n_used, model_error_sd_per_year=model_error,
    )


def _finite_or_none(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def twin_result(twin: Twin, forecast: Forecast, seed: int | None = None) -> dict:
    """The RESULT.json structure of ``python -m qsp twin`` (issue 5's schema), with provenance.

    The provenance holds a hash of the patient's data, not the data (saved twins stay pseudonymous).
    """
    from qsp.provenance.record import data_sha256, provenance_record

    forecasts = {}
    for name in forecast.regimens:
        part = forecast.bands[forecast.bands["regimen"] == name]
        entry: dict = {"weeks": [float(w) for w in sorted(part["week"].unique())]}
        for obs, rows in part.groupby("observable", sort=False):
            rows = rows.sort_values("week")
            entry[obs] = {k: [round(float(v), 6) for v in rows[k]] for k in ("median", "p10", "p90", "p2_5", "p97_5")}
        forecasts[name] = entry
    regimens = {n: (r.model_dump(mode="json", exclude_none=True) if r is not None else None) for n, r in forecast.regimens.items()}
    record = provenance_record(
        twin.model, twin.seed if seed is None else seed, None, twin.model.defaults, kind="twin",
        patient_sha256=data_sha256(twin.patient.to_rows()), n_visits=len(twin.patient.visits),
        method="MAP + Laplace, importance sampling (multivariate t proposal)", n_draws=len(twin.theta_),
        ess=round(twin.ess_, 1), horizon_weeks=forecast.horizon_weeks, regimens=regimens,
        measurement_sd=dict(C.MEASUREMENT_SD), model_error_sd_per_year=dict(forecast.model_error_sd_per_year), estimated=[*TWIN_ETAS, "t0_years"],
    )
    return {
        "patient_id": forecast.patient_id,
        "stage": forecast.stage,
        "years_since_amyloid_positive": _finite_or_none(round(forecast.years_since_amyloid_positive["median"], 3)),
        "forecasts": forecasts,
        "provenance": record,
    }


def synthetic_patient(
    covariates: dict,
    etas: dict[str, float],
    t0_years: float,
    weeks,
    noise_seed: int | None = None,
    patient_id: str = "SYN",
    model: Model | None = None,
    parameter_overrides: dict[str, float] | None = None,
) -> tuple[PatientRecord, pd.DataFrame]:
    """A patient simulated from known truth (for tests and the benchmark): visits and the true values.

    Visits at ``weeks`` after a baseline ``t0_years`` from amyloid onset, with measurement error from
    ``MEASUREMENT_SD`` unless ``noise_seed`` is None (noise-free).
    ``parameter_overrides`` change the population model the truth comes from (departures from the model).
    """
    weeks = np.asarray(weeks, dtype=float)
    run = Engine(model, parameter_overrides).run({**covariates, **etas}, None, _visit_days(t0_years, weeks), state=NATURAL_HISTORY_START)
    if run.values is None:
        raise SimulationFailed(f"synthetic patient {patient_id}: {run.error}")
    truth = pd.DataFrame(run.values, columns=list(C.OBSERVABLES))
    truth.insert(0, WEEK, weeks)
    rng = np.random.default_rng(noise_seed) if noise_seed is not None else None
    rows = []
    for i, week in enumerate(weeks):
        row = {WEEK: float(week)}
        for obs in FIT_OBSERVABLES:
            value = float(truth[obs].iloc[i])
            if rng is not None:
                value += rng.normal(0.0, C.MEASUREMENT_SD[obs])
            lo, hi, _ = RANGES[obs]
            row[obs] = float(np.clip(value, lo, hi))
        rows.append(row)
    rows[0].update({C.PATIENT_ID: patient_id, **covariates})
    return parse_patient_rows(rows), truth


def replace_visits(patient: PatientRecord, visits: pd.DataFrame) -> PatientRecord:
    """A copy of ``patient`` with other visits (e.g. the first few, to forecast the rest)."""
    return replace(patient, visits=visits.reset_index(drop=True))


def _twin_chunk(job) -> list[dict]:
    rows_list, regimens, horizon_weeks, seed = job
    out = []
    for rows in rows_list:
        twin = fit_twin(parse_patient_rows(rows), seed=seed)
        out.append(twin_result(twin, forecast_twin(twin, regimens, horizon_weeks=horizon_weeks)))
    return out


def twins_for_many(patients: list[PatientRecord], regimens: dict | None = None, horizon_weeks: float = 104,
                   seed: int = 1, executor=None, progress=None) -> list[dict]:
    """Fit and forecast many patients' twins (RESULT.json each), in chunks through the executor.

    Serial by default; with a Dask ``executor`` (qsp.executor.ExecutorSettings) the fits run on the
    cluster with the same numbers, in the patients' order.
    """
    from qsp.engine.executor import ExecutorSettings, map_chunks

    executor = executor or ExecutorSettings()
    size = max(1, min(executor.chunk_size, 10))  # a twin fit takes about a second: small chunks
    rows = [p.to_rows() for p in patients]
    jobs = [(rows[k:k + size], regimens or {}, horizon_weeks, seed) for k in range(0, len(rows), size)]
    return [r for part in map_chunks(_twin_chunk, jobs, executor, progress=progress) for r in part]
