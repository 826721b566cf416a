"""Trial scenarios: the typed design (arms, population, schedule), read from and written to YAML/JSON."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from qsp.engine.regimen import Regimen, parse_regimen
from qsp.errors import InvalidInput
from qsp.population.sampling import Criteria
from qsp.validation import check_assessment_weeks, read_limited, validate

MAX_PATIENTS_PER_ARM = 100_000  # a trial larger than this belongs on a cluster

MAX_SCENARIO_BYTES = 1_000_000  # scenario files are small

class Arm(BaseModel):
    """One arm: a name and a regimen (None = placebo). A regimen may be a library name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    regimen: Regimen | None = None

    @field_validator("regimen", mode="before")
    @classmethod
    def _named(cls, value):
        if isinstance(value, str):
            return parse_regimen(value)
        return value

class Scenario(BaseModel):
    """A virtual trial design (the YAML/JSON file ``python -m qsp trial`` takes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("trial", min_length=1, max_length=120)
    seed: int = Field(1, ge=0, le=2**32 - 1)
    n_per_arm: int = Field(ge=1, le=MAX_PATIENTS_PER_ARM)
    duration_weeks: float = Field(gt=0, le=520)
    assess_weeks: tuple[float, ...] = Field(min_length=1, max_length=60)
    population: Criteria = Criteria()
    arms: tuple[Arm, ...] = Field(min_length=1, max_length=12)
    measurement_noise: bool = False
    dropout_pct_per_year: float = Field(0.0, ge=0, lt=100)
    paired_arms: bool = False  # every arm gets the same virtual patients (counterfactual design)
    reference: str | None = Field(None, max_length=120)  # published trial this scenario reproduces (its targets' `trial`)

    @field_validator("assess_weeks")
    @classmethod
    def _weeks(cls, weeks):
        return check_assessment_weeks(weeks)

    @model_validator(mode="after")
    def _consistent(self):
        if self.assess_weeks[-1] > self.duration_weeks:
            raise ValueError(
                f"assess_weeks: last assessment (week {self.assess_weeks[-1]:g}) is after "
                f"duration_weeks ({self.duration_weeks:g})"
            )
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: arm names must be unique (got {names})")
        return self

def parse_scenario(data) -> Scenario:
    """A Scenario from a mapping, or InvalidInput with one line per problem naming the field."""
    return validate(Scenario, data)

def load_scenario(path: str | Path) -> Scenario:
    """Read a scenario from a YAML or JSON file (InvalidInput on any problem)."""
    return scenario_from_text(read_limited(path, "scenario", MAX_SCENARIO_BYTES, text=True))

def scenario_from_text(text: str) -> Scenario:
    """Parse YAML or JSON scenario text."""
    if len(text.encode("utf-8")) > MAX_SCENARIO_BYTES:
        raise InvalidInput(f"scenario: text larger than {MAX_SCENARIO_BYTES:,} bytes")
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise InvalidInput(f"scenario: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    if data is None:
        raise InvalidInput("scenario: the file is empty")
    if not isinstance(data, dict):
        raise InvalidInput(f"scenario: expected a mapping of fields (name, n_per_arm, arms, ...), got {type(data).__name__}")
    return parse_scenario(data)

def scenario_to_dict(scenario: Scenario) -> dict:
    """The scenario as plain data (regimens expanded), suitable for YAML/JSON."""
    return scenario.model_dump(mode="json", exclude_none=True)

def scenario_to_yaml(scenario: Scenario) -> str:
    """The scenario as YAML text that :func:`scenario_from_text` reads back identically."""
    return yaml.safe_dump(scenario_to_dict(scenario), sort_keys=False)
