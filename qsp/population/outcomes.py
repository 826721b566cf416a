"""What a clinician reads off a projection or a twin's forecast: treatment benefit, months of delay, ARIA-E risk.

Shared by the continuum explorer (draws from the population given a profile) and the digital twin
(draws from the posterior given the visits), so both report the same quantities the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.population.stages import crossing_years, weighted_quantiles

BENEFIT_AT_YEARS = 1.5  # 18 months: the primary time point of CLARITY AD and TRAILBLAZER-ALZ 2
MONTHS_PER_YEAR = 12.0
BAND_LOW, BAND_HIGH = "p10", "p90"  # the interval every table reports (80%)
BENEFIT_COLUMN = "benefit, points (80% interval)"  # untreated minus treated; positive: less decline
DELAY_COLUMN = "delay, months (80% interval)"  # how much earlier untreated reached the treated CDR-SB


def when_text(years: float) -> str:
    """A time from now for headings: ``18 months``, ``2 years``, ``1 year``.

    >>> when_text(1.5), when_text(104 / C.WEEKS_PER_YEAR), when_text(1.0)
    ('18 months', '2 years', '1 year')
    """
    months = round(years * MONTHS_PER_YEAR)
    if months % 12 == 0 and months > 0:
        return f"{months // 12} year{'s' if months > 12 else ''}"
    return f"{months} month{'s' if months != 1 else ''}"


def values_at(years: np.ndarray, values: np.ndarray, at_years: float) -> np.ndarray:
    """Each row of ``values`` (draws x time points) interpolated linearly at ``at_years``."""
    years = np.asarray(years, dtype=float)
    return np.array([np.interp(at_years, years, row) for row in np.atleast_2d(values)])


def treatment_benefit(years: np.ndarray, untreated: np.ndarray, treated: np.ndarray, at_years: float = BENEFIT_AT_YEARS,
                      weights: np.ndarray | None = None) -> dict | None:
    """CDR-SB benefit of a treatment at ``at_years`` (default 18 months) and the months of delay it amounts to.

    ``untreated`` and ``treated``: CDR-SB (true values, no measurement error) of the *same* draws (rows paired)
    at ``years`` from now. Per draw, the benefit is untreated minus treated CDR-SB at ``at_years`` (points;
    positive: less decline), and the delay is how much earlier the untreated course reached the treated
    CDR-SB at ``at_years`` (months, 0 to ``at_years``; 0 when the treatment does not help). Returns median and
    10th-90th percentiles of both (``weights``: of the draws, None equal), with ``at_years`` clipped to the
    last time point; None without CDR-SB (a model whose mapping leaves it out).

    >>> t = np.array([0.0, 1.0, 2.0])
    >>> b = treatment_benefit(t, np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 1.5, 2.0]]), at_years=2.0)
    >>> b["benefit_median"], b["delay_months_median"]
    (1.0, 12.0)
    """
    years = np.asarray(years, dtype=float)
    untreated, treated = np.atleast_2d(untreated).astype(float), np.atleast_2d(treated).astype(float)
    if np.isnan(untreated).all() or np.isnan(treated).all():
        return None
    at = float(min(at_years, years[-1]))
    u_at, t_at = values_at(years, untreated, at), values_at(years, treated, at)
    upto = years <= at + 1e-9
    grid = np.append(years[upto], at) if years[upto][-1] < at - 1e-9 else years[upto]
    course = np.stack([np.interp(grid, years, row) for row in untreated])
    # first time the untreated course rises above the treated value (a flat course never does: no delay)
    reached = np.minimum(crossing_years(grid, course - t_at[:, None], 1e-9), at)
    delay = np.round((at - reached) * MONTHS_PER_YEAR, 6)  # the 1e-9 threshold shifts crossings by ~1e-8
    w = np.ones(len(u_at)) if weights is None else np.asarray(weights, dtype=float)
    q = weighted_quantiles(np.stack([u_at - t_at, delay, t_at], axis=1), w, [0.5, 0.1, 0.9])
    return {"at_years": at, "treated_median": float(q[0, 2]),
            "benefit_median": float(q[0, 0]), "benefit_p10": float(q[1, 0]), "benefit_p90": float(q[2, 0]),
            "delay_months_median": float(q[0, 1]), "delay_months_p10": float(q[1, 1]), "delay_months_p90": float(q[2, 1])}


def benefit_table(benefit: dict[str, dict], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per regimen: CDR-SB treated (median), benefit at :func:`benefit_when` (points, 80% interval), months of delay.

    >>> benefit_table({"drug": {"at_years": 1.5, "treated_median": 3.0, "benefit_median": 0.5, "benefit_p10": 0.1,
    ...                          "benefit_p90": 0.9, "delay_months_median": 4.0, "delay_months_p10": 1.0,
    ...                          "delay_months_p90": 7.5}}).iloc[0].to_dict()[BENEFIT_COLUMN]
    '0.50 (0.10 to 0.90)'
    """
    labels = labels or {}
    rows = []
    for name, b in benefit.items():
        if b is None:
            continue
        rows.append({"regimen": labels.get(name, name), "CDR-SB treated": f"{b['treated_median']:.2f}",
                     BENEFIT_COLUMN: f"{b['benefit_median']:.2f} ({b['benefit_p10']:.2f} to {b['benefit_p90']:.2f})",
                     DELAY_COLUMN: f"{b['delay_months_median']:.1f} ({b['delay_months_p10']:.1f} to {b['delay_months_p90']:.1f})"})
    return pd.DataFrame(rows, columns=["regimen", "CDR-SB treated", BENEFIT_COLUMN, DELAY_COLUMN])


def benefit_when(benefit: dict[str, dict]) -> str:
    """When the benefits are taken, for a heading: ``18 months`` (or the horizon when it comes first); "" if none.

    >>> benefit_when({"drug": {"at_years": 1.5}, "none": None})
    '18 months'
    """
    times = [b["at_years"] for b in benefit.values() if b is not None]
    return when_text(min(times)) if times else ""


def aria_risk_table(bands: pd.DataFrame, labels: dict[str, str] | None = None, week: float | None = None) -> pd.DataFrame:
    """Per regimen, cumulative ARIA-E risk in % at ``week`` (None: the last): median and 10th-90th percentile.

    ``bands``: regimen, week, observable, median, p10, p90 (a twin's forecast bands or a profile's trajectories;
    untreated rows, where present, give the background risk).
    """
    part = bands[bands["observable"] == C.ARIA_E_RISK].sort_values("week")
    if week is not None:
        part = part[part["week"] <= week + 1e-9]
    last = part.groupby("regimen", sort=False).tail(1)
    labels = labels or {}
    return pd.DataFrame({"regimen": [labels.get(r, r) for r in last["regimen"]], "median %": (100 * last["median"]).round(1).to_numpy(),
                         "10th-90th percentile %": [f"{100 * a:.1f}-{100 * b:.1f}" for a, b in zip(last[BAND_LOW], last[BAND_HIGH])]})


def band_at(bands: pd.DataFrame, observable: str, regimen: str, week: float) -> dict | None:
    """Median and 80% band of ``observable`` under ``regimen`` at ``week`` (interpolated); None when not in ``bands``."""
    part = bands[(bands["regimen"] == regimen) & (bands["observable"] == observable)].sort_values("week")
    if part.empty or math.isnan(float(part["median"].iloc[-1])):
        return None
    return {k: float(np.interp(week, part["week"], part[k])) for k in ("median", BAND_LOW, BAND_HIGH)}


def forecast_table(bands: pd.DataFrame, observables, weeks: dict[str, float], labels: dict[str, str] | None = None) -> pd.DataFrame:
    """Median (80% band) of each observable per regimen at named weeks (``{"18 months": 78.3, ...}``), ARIA-E in %."""
    labels = labels or {}
    rows = []
    for regimen in dict.fromkeys(bands["regimen"]):
        for obs in observables:
            row = {"regimen": labels.get(regimen, regimen), "measure": C.LABELS[obs] + (" (%)" if obs == C.ARIA_E_RISK else "")}
            for when, week in weeks.items():
                b = band_at(bands, obs, regimen, week)
                factor = 100.0 if obs == C.ARIA_E_RISK else 1.0
                row[when] = "" if b is None else (f"{factor * b['median']:.1f} (80% band {factor * b[BAND_LOW]:.1f} to "
                                                  f"{factor * b[BAND_HIGH]:.1f})")  # "to": values may be negative
            if any(row[w] for w in weeks):
                rows.append(row)
    return pd.DataFrame(rows, columns=["regimen", "measure", *weeks])
