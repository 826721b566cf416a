"""Observable mapping: run any SBML model in the dashboard's views.

A mapping says which model ids carry the dashboard's observables (amyloid PET in CL, tau PET SUVr,
iADRS, CDR-SB, ...), each as ``offset + scale * id``; which species receives a dose (model units per
mg); which parameters take the patient's covariates; and how long the model's time unit is in days.

:func:`qsp.lab.adapt.adapt_model` turns an uploaded model plus its mapping into a model the :class:`~qsp.simulate.Engine`
runs like the built-in one: a copy of the SBML gets the built-in model's dosing schedule and stop-rule
events (taken from the built-in SBML itself, so both dose alike), one assignment rule per observable,
and the covariate parameters. An observable the mapping leaves out is *unavailable*: the Engine
reports it as NaN and the views say so. The built-in model is described by :data:`BUILTIN_MAPPING`
(every observable is its own id) and needs no adapter.

The disease state a patient starts from (amyloid, tau, severity) is set through the species the
state observables map to, by inverting their linear maps.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qsp import constants as C
from qsp.validation import validate

# Observables a mapping may link; dose bookkeeping (n_doses, dose_total_mg) comes with the dosing harness.
MAPPABLE = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.ADAS_COG13, C.ADCS_IADL, C.CDRSB, C.MMSE,
            C.CONC_UG_PER_ML, C.ARIA_E_RISK, C.AMYLOID_LAGGED_CL, C.SEVERITY)
# Disease state observables; a patient's state is set through the species they map to.
STATE_OBSERVABLES = (C.AMYLOID_CL, C.TAU_SUVR, C.SEVERITY)
COVARIATES = C.COVARIATE_PARAMETERS  # per-patient model parameters
TIME_UNITS_DAYS = {"second": 1 / 86400, "minute": 1 / 1440, "hour": 1 / 24, "day": 1.0, "week": 7.0,
                   "month": C.DAYS_PER_YEAR / 12, "year": C.DAYS_PER_YEAR}
# Dosing and stop-rule machinery copied from the built-in SBML (species hold it so that reset() restores it).
HARNESS_SPECIES = ("n_doses", "dose_total_mg", "next_dose_day", "dosing_on", "first_dose_day", "stop_day", "last_reading_cl")
HARNESS_RULES = tuple(f"ph_end{k}" for k in range(1, C.MAX_PHASES + 1)) + ("dose_now_mg", "every_now_d", "iv_now")
HARNESS_EVENTS = ("E_dose", *(f"E_stop_check{k}" for k in range(1, C.MAX_STOP_CHECKS + 1)))
HARNESS_COMPARTMENT = "qsp_dashboard"  # holds the harness species (size 1)
DAY = "qsp_day"  # model time in days, when the model's unit is not a day
ARIA_CUMHAZ = "qsp_aria_cumhaz"  # integrated ARIA-E hazard, when the mapping gives a hazard


class Link(BaseModel):
    """``observable = offset + scale * value of id`` (a species' concentration, or amount if substance-only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    scale: float = 1.0
    offset: float = 0.0

    @field_validator("scale")
    @classmethod
    def _scale(cls, value):
        if not math.isfinite(value) or value == 0:
            raise ValueError("scale must be a finite, nonzero number")
        return value

    @field_validator("offset")
    @classmethod
    def _offset(cls, value):
        if not math.isfinite(value):
            raise ValueError("offset must be finite")
        return value

    def formula(self) -> str:
        """The link as SBML L3 infix math."""
        return f"({self.offset!r}) + ({self.scale!r}) * {self.id}"

    def inverse(self, observable_value: float) -> float:
        """The id's value that gives ``observable_value``."""
        return (observable_value - self.offset) / self.scale


def _as_link(value):
    return {"id": value} if isinstance(value, str) else value


class ObservableMapping(BaseModel):
    """Which model ids carry the dashboard's observables, doses and covariates (a YAML/JSON file or a form)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    observables: dict[Literal[MAPPABLE], Link] = Field(default_factory=dict)
    aria_e_hazard_per_day: Link | None = None  # hazard of a first ARIA-E (1/day), integrated to the risk
    dose_target: Link | None = None  # species a dose goes into; scale = model units per mg
    covariates: dict[Literal[COVARIATES], str] = Field(default_factory=dict)  # covariate -> model parameter id
    time_unit: Literal[tuple(TIME_UNITS_DAYS)] = "day"  # the model's time unit

    @field_validator("observables", mode="before")
    @classmethod
    def _links(cls, value):
        return {k: _as_link(v) for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("aria_e_hazard_per_day", "dose_target", mode="before")
    @classmethod
    def _link(cls, value):
        return _as_link(value)

    @model_validator(mode="after")
    def _one_aria_source(self):
        if self.aria_e_hazard_per_day is not None and C.ARIA_E_RISK in self.observables:
            raise ValueError("map either aria_e_risk or aria_e_hazard_per_day, not both")
        return self

    @property
    def days_per_time_unit(self) -> float:
        return TIME_UNITS_DAYS[self.time_unit]

    def link(self, observable: str) -> Link | None:
        """The link of an observable, with the fallbacks the dashboard uses (severity <- CDR-SB, lagged <- amyloid)."""
        if observable in self.observables:
            return self.observables[observable]
        fallback = {C.SEVERITY: C.CDRSB, C.AMYLOID_LAGGED_CL: C.AMYLOID_CL}.get(observable)
        return self.observables.get(fallback) if fallback else None

    def available(self) -> tuple[str, ...]:
        """Observables (of C.OBSERVABLES) this mapping provides, in dashboard order."""
        out = [o for o in MAPPABLE if self.link(o) is not None]
        if self.aria_e_hazard_per_day is not None:
            out.append(C.ARIA_E_RISK)
        if self.dose_target is not None:
            out += [C.N_DOSES, C.DOSE_TOTAL_MG]
        return tuple(o for o in C.OBSERVABLES if o in out)


def parse_mapping(value, field: str = "mapping") -> ObservableMapping:
    """A mapping from a dict (YAML/JSON file, form) or an ObservableMapping."""
    if isinstance(value, ObservableMapping):
        return value
    return validate(ObservableMapping, value, prefix=field)


# The built-in model, described by the same mapping: every observable is its own id.
BUILTIN_MAPPING = ObservableMapping(
    observables={o: Link(id=o) for o in MAPPABLE},
    dose_target=Link(id="drug_central_mg"),  # IV doses run in over an hour; SC doses go to drug_depot_mg
    covariates={c: c for c in COVARIATES},
)


# What a dashboard view needs from a mapping: use id -> label shown to users.
CAPABILITIES = {
    "untreated": "untreated projections (explorer, twin, trial placebo arms)",
    "treatment": "treatment arms (a dose target)",
    "stop_rule": "stop rules (treat to clearance)",
    "aria_e": "ARIA-E risk",
}


def capability_reasons(mapping: ObservableMapping) -> dict[str, str | None]:
    """Per use id of CAPABILITIES, what the mapping lacks for it (None: that use can run)."""
    missing_state = [o for o in STATE_OBSERVABLES if mapping.link(o) is None]
    names = [f"{o} (or cdrsb)" if o == C.SEVERITY else o for o in missing_state]
    state = f"map {', '.join(names)} to species so a patient's disease state can be set" if missing_state else None
    return {
        "untreated": state,
        "treatment": state or (None if mapping.dose_target else "map a dose target species"),
        "stop_rule": None if mapping.link(C.AMYLOID_CL) else "map amyloid_cl",
        "aria_e": None if C.ARIA_E_RISK in mapping.available() else "map aria_e_risk or aria_e_hazard_per_day",
    }


def capabilities(mapping: ObservableMapping, model_sbml: str | None = None) -> dict[str, str | None]:
    """What each dashboard view needs that the mapping lacks: view label -> reason, or None when it can run."""
    return {CAPABILITIES[use]: reason for use, reason in capability_reasons(mapping).items()}
