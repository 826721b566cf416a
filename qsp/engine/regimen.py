"""Antibody regimens: typed, validated, and turned into the model's dosing parameters.

A regimen is a drug, a route and phases of (dose, interval, count), with an
optional stop rule on amyloid (donanemab's treat-to-clearance). Doses in mg/kg
are converted to mg with the patient's weight.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qsp import constants as C
from qsp import paths
from qsp.errors import InvalidInput
from qsp.validation import check_assessment_weeks, read_limited, validate

Drug = Literal["lecanemab", "donanemab", "aducanumab", "gantenerumab"]
Route = Literal["iv", "sc"]


MAX_REGIMEN_BYTES = 1_000_000  # a regimen file is small
class Phase(BaseModel):
    """Doses of one size at a fixed interval; without ``count`` it lasts to the end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dose: float = Field(gt=0, le=10_000, description="dose per administration, in `unit`")
    unit: Literal["mg", "mg/kg"] = "mg"
    every_weeks: float = Field(gt=0, le=520, description="weeks between doses")
    count: int | None = Field(None, ge=1, le=10_000, description="number of doses; None = until the end")
    route: Route | None = None  # overrides the regimen's route

    @model_validator(mode="after")
    def _dose_per_kg_plausible(self):
        if self.unit == "mg/kg" and self.dose > 100:
            raise ValueError(f"a dose of {self.dose} mg/kg is implausible (at most 100 mg/kg)")
        return self


class StopRule(BaseModel):
    """Stop dosing when measured amyloid at an assessment week is low enough."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    below_cl: float = Field(ge=-50, le=200, description="stop when amyloid is below this, CL")
    at_weeks: tuple[float, ...] = Field(
        min_length=1, max_length=C.MAX_STOP_CHECKS, description="assessment weeks"
    )
    twice_below_cl: float | None = Field(
        None, ge=-50, le=200, description="or below this at two consecutive assessments, CL"
    )

    @field_validator("at_weeks")
    @classmethod
    def _weeks_increasing(cls, weeks):
        return check_assessment_weeks(weeks)

    def decide(self, measured_cl: list[float]) -> bool:
        """True when the amyloid readings so far (one per assessment) say stop.

        The model applies the same rule in its check events; this is the reference.
        """
        if not measured_cl:
            return False
        if measured_cl[-1] < self.below_cl:
            return True
        if self.twice_below_cl is not None and len(measured_cl) >= 2:
            return measured_cl[-1] < self.twice_below_cl and measured_cl[-2] < self.twice_below_cl
        return False

    def check_days(self) -> list[float]:
        """Model days of the checks: just before that week's dose, so a stop skips it."""
        return [w * C.DAYS_PER_WEEK - C.STOP_CHECK_LEAD_DAYS for w in self.at_weeks]


class Regimen(BaseModel):
    """An anti-amyloid antibody regimen."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drug: Drug
    route: Route = "iv"
    phases: tuple[Phase, ...] = Field(min_length=1, max_length=C.MAX_PHASES)
    stop_rule: StopRule | None = None

    @model_validator(mode="after")
    def _check(self):
        for i, phase in enumerate(self.phases[:-1]):
            if phase.count is None:
                raise ValueError(f"phase {i + 1} has no count: only the last phase may last to the end")
        for i, phase in enumerate(self.phases):
            route = phase.route or self.route
            if route == "sc" and self.drug not in C.SC_DRUGS:
                raise ValueError(
                    f"phase {i + 1}: {self.drug} has no published subcutaneous PK; "
                    f"route must be iv (sc is available for {', '.join(C.SC_DRUGS)})"
                )
        return self

    def doses_mg(self, weight_kg: float) -> list[float]:
        """Dose of each phase in mg for a patient of ``weight_kg``."""
        return [p.dose * weight_kg if p.unit == "mg/kg" else p.dose for p in self.phases]

    def model_parameters(self, weight_kg: float) -> dict[str, float]:
        """The model's dosing parameters (drug_id and ph1..ph6) for one patient."""
        values: dict[str, float] = {"drug_id": float(C.DRUG_IDS[self.drug])}
        doses = self.doses_mg(weight_kg)
        for i in range(C.MAX_PHASES):
            k = i + 1
            if i < len(self.phases):
                phase = self.phases[i]
                values[f"ph{k}_dose_mg"] = doses[i]
                values[f"ph{k}_every_d"] = phase.every_weeks * C.DAYS_PER_WEEK
                values[f"ph{k}_count"] = float(phase.count or C.OPEN_ENDED_COUNT)
                values[f"ph{k}_iv"] = 1.0 if (phase.route or self.route) == "iv" else 0.0
            else:
                values.update(_unused_phase(k))
        values.update(stop_rule_parameters(self.stop_rule))
        return values

    def schedule(self, weight_kg: float, until_day: float) -> list[tuple[float, float, str]]:
        """Planned (day, mg, route) of every dose before ``until_day``, ignoring the stop rule.

        The reference the model's event-driven dosing is tested against.

        >>> r = Regimen(drug="donanemab", phases=[{"dose": 700, "every_weeks": 4, "count": 3},
        ...                                        {"dose": 1400, "every_weeks": 4}])
        >>> [d for d, _, _ in r.schedule(70, 140)]
        [0.0, 28.0, 56.0, 84.0, 112.0]
        """
        out = []
        day = 0.0
        for phase, dose_mg in zip(self.phases, self.doses_mg(weight_kg)):
            n = phase.count if phase.count is not None else math.inf
            given = 0
            while given < n and day < until_day:
                out.append((day, dose_mg, phase.route or self.route))
                day += phase.every_weeks * C.DAYS_PER_WEEK
                given += 1
        return out

    def describe(self) -> str:
        """One line for people: ``donanemab iv: 700 mg q4w x3, then 1400 mg q4w``."""
        parts = []
        for p in self.phases:
            route = f" {p.route}" if p.route and p.route != self.route else ""
            count = f" x{p.count}" if p.count else ""
            every = f"{p.every_weeks:g}"
            parts.append(f"{p.dose:g} {p.unit}{route} q{every}w{count}")
        text = f"{self.drug} {self.route}: " + ", then ".join(parts)
        if self.stop_rule:
            sr = self.stop_rule
            rule = f"stop if < {sr.below_cl:g} CL"
            if sr.twice_below_cl is not None:
                rule += f" or < {sr.twice_below_cl:g} CL twice"
            text += f"; {rule} at weeks {', '.join(f'{w:g}' for w in sr.at_weeks)}"
        return text


def _unused_phase(k: int) -> dict[str, float]:
    return {f"ph{k}_dose_mg": 0.0, f"ph{k}_every_d": 28.0, f"ph{k}_count": 0.0, f"ph{k}_iv": 1.0}


def stop_rule_parameters(rule: StopRule | None) -> dict[str, float]:
    """The model's stop-rule parameters (thresholds and check days; -1 = unused)."""
    off = C.STOP_RULE_OFF_CL
    values = {
        "sr_below_cl": rule.below_cl if rule else off,
        "sr_twice_below_cl": rule.twice_below_cl if rule and rule.twice_below_cl is not None else off,
    }
    days = rule.check_days() if rule else []
    for k in range(1, C.MAX_STOP_CHECKS + 1):
        values[f"sr{k}_day"] = days[k - 1] if k <= len(days) else -1.0
    return values


def placebo_parameters() -> dict[str, float]:
    """Dosing parameters of an untreated patient: no drug, no doses, no stop rule."""
    values = {"drug_id": 0.0}
    for k in range(1, C.MAX_PHASES + 1):
        values.update(_unused_phase(k))
    values.update(stop_rule_parameters(None))
    return values


@functools.lru_cache(maxsize=1)
def _library_raw() -> dict:
    with open(paths.REGIMEN_LIBRARY, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def regimen_library() -> dict[str, Regimen]:
    """Named regimens from ``data/regimens.yaml`` (the trials' regimens)."""
    return {
        name: validate(Regimen, entry["regimen"], prefix=f"regimens.yaml:{name}")
        for name, entry in _library_raw().items()
    }


def regimen_descriptions() -> dict[str, dict]:
    """Name -> {label, source} for each library regimen."""
    return {name: {k: v for k, v in entry.items() if k != "regimen"} for name, entry in _library_raw().items()}


def parse_regimen(value, field: str = "regimen") -> Regimen:
    """A Regimen from a library name, a mapping, or a Regimen; InvalidInput names the field."""
    if isinstance(value, Regimen):
        return value
    if isinstance(value, str):
        library = regimen_library()
        if value not in library:
            raise InvalidInput(f"{field}: unknown regimen name {value!r}; known: {', '.join(sorted(library))}")
        return library[value]
    return validate(Regimen, value, prefix=field)


def regimen_from_argument(value: str, option: str = "--regimen") -> tuple[str, Regimen]:
    """(name, Regimen) for a command-line value: a library name or a REGIMEN.yaml/.json file (named by its stem)."""
    from pathlib import Path

    if value in regimen_library():
        return value, parse_regimen(value)
    path = Path(value)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        try:
            data = yaml.safe_load(read_limited(path, option, MAX_REGIMEN_BYTES, text=True))
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{option}: {path.name}: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
        return path.stem, parse_regimen(data, field=f"{option} {path.name}")
    return value, parse_regimen(value, field=option)
