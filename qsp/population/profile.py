"""Place a patient profile on the continuum and project it untreated and under regimens.

A clinician gives covariates and what is known now (amyloid, tau, and one of CDR-SB,
MMSE or iADRS). The clinical score is turned into the model's severity by inverting
the model's own cross-walk; projections then run from that state. The spread comes
from the patient's unknown random effects, drawn from the population (IIV), so the
band says how differently patients with the same profile may progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.optimize import brentq

from qsp import constants as C
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.regimen import Regimen, parse_regimen
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput
from qsp.population.outcomes import BENEFIT_AT_YEARS, treatment_benefit
from qsp.population.sampling import draw_etas
from qsp.population.stages import stage_of, time_to_next_stage
from qsp.validation import validate

UNTREATED = C.UNTREATED  # name of the no-treatment projection


class Profile(BaseModel):
    """What is known about a patient today. Give exactly one of cdrsb, mmse, iadrs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    age: float = Field(ge=40, le=100, description="years")
    sex: str = Field(pattern="^[FM]$", description="F or M")
    weight_kg: float = Field(70.0, ge=35, le=200)
    apoe4_copies: int = Field(ge=0, le=2)
    amyloid_cl: float = Field(ge=-20, le=200, description="amyloid PET, CL")
    tau_suvr: float = Field(ge=0.9, le=4.0, description="tau PET, SUVr")
    cdrsb: float | None = Field(None, ge=0, le=18)
    mmse: float | None = Field(None, ge=0, le=30)
    iadrs: float | None = Field(None, ge=0, le=144)

    @model_validator(mode="after")
    def _one_score(self):
        given = [k for k in ("cdrsb", "mmse", "iadrs") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one clinical score of cdrsb, mmse, iadrs (got {given or 'none'})")
        return self


def parse_profile(data) -> Profile:
    """A Profile from a mapping, or InvalidInput naming each bad field."""
    return validate(Profile, data, prefix="profile")


def severity_from_profile(profile: Profile, model: Model | None = None) -> float:
    """The model severity (CDR-SB points) matching the profile's clinical score."""
    model = model or load_builtin_model()
    if profile.cdrsb is not None:
        return float(profile.cdrsb)
    if model.mapping is not None:
        raise InvalidInput("profile: give CDR-SB for an uploaded model (the MMSE and iADRS cross-walks belong to the built-in model)")
    p = model.defaults
    if profile.mmse is not None:
        return float(np.clip((p["mmse_normal"] - profile.mmse) / p["mmse_per_cdrsb"], 0.0, p["cdrsb_max"]))

    def iadrs(s):
        adas = p["adas_normal"] + p["adas_scale"] * s ** p["adas_exp"]
        iadl = p["iadl_normal"] - p["iadl_scale"] * s ** p["iadl_exp"]
        return C.iadrs_from_components(adas, iadl)

    top, bottom = iadrs(0.0), iadrs(p["cdrsb_max"])
    if profile.iadrs >= top:
        return 0.0
    if profile.iadrs <= bottom:
        return float(p["cdrsb_max"])
    return float(brentq(lambda s: iadrs(s) - profile.iadrs, 0.0, p["cdrsb_max"]))


@dataclass
class Projection:
    """Projections of one profile: long table of quantiles, stage today, time to next stage."""

    stage: str
    severity: float
    trajectories: pd.DataFrame  # regimen, week, observable, p10, median, p90
    next_stage: dict[str, dict]  # regimen -> {"stage", "median_years", "p10_years", "p90_years"}
    n_draws: int
    # regimen -> CDR-SB benefit over untreated at 18 months (or the horizon if sooner) and months of delay, from
    # the same drawn patients untreated and treated (see qsp.population.outcomes.treatment_benefit)
    benefit: dict[str, dict] = field(default_factory=dict)


def project_profile(
    profile: Profile | dict,
    regimens: dict[str, Regimen | str | dict] | None = None,
    years: float = 5.0,
    n_draws: int = 40,
    seed: int = 1,
    model: Model | None = None,
) -> Projection:
    """Project a profile untreated and under each regimen over ``years``.

    >>> proj = project_profile({"age": 72, "sex": "F", "apoe4_copies": 1, "amyloid_cl": 90,
    ...                         "tau_suvr": 1.3, "mmse": 24}, {"lecanemab": "lecanemab_q2w"}, years=1, n_draws=3)
    >>> proj.stage, sorted(proj.trajectories["regimen"].unique())
    ('mci', ['lecanemab', 'untreated'])
    """
    if isinstance(profile, dict):
        profile = parse_profile(profile)
    if not 0 < years <= 30:
        raise InvalidInput(f"years: projection horizon must be in (0, 30] (got {years})")
    if not 1 <= n_draws <= 500:
        raise InvalidInput(f"n_draws: must be 1-500 (got {n_draws})")
    parsed = {UNTREATED: None}
    for name, regimen in (regimens or {}).items():
        parsed[name] = parse_regimen(regimen, field=f"regimens.{name}")
    model = model or load_builtin_model()
    severity = severity_from_profile(profile, model)
    state = (profile.amyloid_cl, profile.tau_suvr, severity)
    patient = {C.AGE: profile.age, C.SEX: profile.sex, C.WEIGHT_KG: profile.weight_kg, C.APOE4: profile.apoe4_copies}
    weeks = np.arange(0.0, years * C.WEEKS_PER_YEAR + 1e-9, 4.0)
    engine = Engine(model)
    rng = np.random.default_rng(seed)
    draws = [draw_etas(rng, engine.eta_sd) for _ in range(n_draws)]
    stage = stage_of(severity)
    frames, next_stage, cdrsb = [], {}, {}
    for name, regimen in parsed.items():
        runs = {}
        for i, etas in enumerate(draws):
            # the score is known; the patient's offset is not: severity = score - offset (drawn)
            drawn = (state[0], state[1], max(state[2] - etas.get("clin_offset_cdrsb", 0.0), 0.0))
            run = engine.run({**patient, **etas}, regimen, weeks * C.DAYS_PER_WEEK, state=drawn)
            if run.values is not None:
                runs[i] = run.values
        if not runs:
            raise InvalidInput(f"regimens.{name}: every simulation failed for this profile")
        values = np.stack(list(runs.values()))  # draws x weeks x observables
        cdrsb[name] = {i: v[:, C.OBSERVABLES.index(C.CDRSB)] for i, v in runs.items()}
        for k, obs in enumerate(C.OBSERVABLES):
            if obs in (C.N_DOSES, C.DOSE_TOTAL_MG, C.AMYLOID_LAGGED_CL, C.SEVERITY) or obs not in engine.available:
                continue  # bookkeeping, or not provided by the model's mapping
            q10, q50, q90 = np.percentile(values[:, :, k], [10, 50, 90], axis=0)
            frames.append(pd.DataFrame({"regimen": name, "week": weeks, "observable": obs, "p10": q10, "median": q50, "p90": q90}))
        nxt = time_to_next_stage(weeks / C.WEEKS_PER_YEAR, values[:, :, C.OBSERVABLES.index(C.CDRSB)], stage)
        if nxt is not None:
            next_stage[name] = nxt
    return Projection(stage, severity, pd.concat(frames, ignore_index=True), next_stage, n_draws,
                      _benefits(weeks / C.WEEKS_PER_YEAR, cdrsb))


def _benefits(years: np.ndarray, cdrsb: dict[str, dict[int, np.ndarray]]) -> dict[str, dict]:
    """Per treated regimen, :func:`treatment_benefit` over the draws that simulated both untreated and treated."""
    out = {}
    for name, runs in cdrsb.items():
        both = [i for i in runs if i in cdrsb[UNTREATED]]
        if name == UNTREATED or not both:
            continue
        benefit = treatment_benefit(years, np.stack([cdrsb[UNTREATED][i] for i in both]), np.stack([runs[i] for i in both]),
                                    at_years=BENEFIT_AT_YEARS)
        if benefit is not None:
            out[name] = benefit
    return out
