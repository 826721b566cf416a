"""The model lab's mapping form and mapping files as data: form values -> mapping, an uploaded file -> mapping,
what the mapping lets the dashboard run (keyed by use id), and what is handed to the other views.

>>> data = mapping_data_from_form({"amyloid_cl": {"id": "A"}}, hazard="h", time_unit="week")
>>> data["aria_e_hazard_per_day"]["scale"] == 1 / 7
True
"""

from __future__ import annotations

import pandas as pd
import yaml

from qsp.engine.observables import CAPABILITIES, TIME_UNITS_DAYS, ObservableMapping, capability_reasons, parse_mapping
from qsp.errors import InvalidInput
from qsp.lab.adapt import MAX_MAPPING_BYTES, check_mapping
from qsp.lab.issues import Issue

FIELD = "mapping"  # names the mapping in messages
UNTREATED_USE = "untreated"  # the use (CAPABILITIES id) a model needs before the other views can run it


def hazard_link(hazard_id: str, time_unit: str) -> dict:
    """The ARIA-E hazard link of a model id holding a hazard per model time unit: rescaled to per day.

    >>> hazard_link("h", "hour")
    {'id': 'h', 'scale': 24.0}
    """
    if time_unit not in TIME_UNITS_DAYS:
        raise InvalidInput(f"{FIELD}.time_unit: one of {', '.join(TIME_UNITS_DAYS)} (got {time_unit!r})")
    return {"id": hazard_id, "scale": 1.0 / TIME_UNITS_DAYS[time_unit]}


def mapping_data_from_form(links: dict, *, hazard: str | None = None, dose: str | None = None, dose_scale: float = 1.0,
                           covariates: dict | None = None, time_unit: str = "day") -> dict:
    """The mapping the lab's form describes, as a mapping file would hold it.

    ``links``: observable -> {id, scale, offset}; ``hazard``: id of an ARIA-E hazard per model time unit;
    ``dose``: species a dose goes into, ``dose_scale`` model units per mg; ``covariates``: covariate -> parameter id.
    """
    data = {"observables": dict(links), "time_unit": time_unit}
    if hazard is not None:
        data["aria_e_hazard_per_day"] = hazard_link(hazard, time_unit)
    if dose is not None:
        data["dose_target"] = {"id": dose, "scale": dose_scale}
    if covariates:
        data["covariates"] = dict(covariates)
    return data


def mapping_from_upload(content: bytes, name: str = "the file") -> ObservableMapping:
    """A mapping from an uploaded YAML or JSON file's bytes (at most MAX_MAPPING_BYTES); InvalidInput otherwise."""
    if len(content) > MAX_MAPPING_BYTES:
        raise InvalidInput(f"{FIELD}: file is {len(content):,} bytes, limit {MAX_MAPPING_BYTES:,} bytes")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{FIELD}: {name} is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{FIELD}: not valid YAML/JSON: {' '.join(str(exc).split())[:300]}") from None
    if data is None:
        raise InvalidInput(f"{FIELD}: {name} is empty")
    return parse_mapping(data, FIELD)


def uses_own_mapping(mapping: ObservableMapping, native: bool) -> bool:
    """False for a model that speaks the dashboard's ids (``native``) and maps nothing itself: it runs unmapped."""
    return not (native and not mapping.observables)


def mapping_problems(sbml: str, mapping: ObservableMapping, native: bool) -> list[Issue]:
    """Problems of the mapping against the model, typed (none to check for a native model run unmapped)."""
    return check_mapping(sbml, mapping) if uses_own_mapping(mapping, native) else []


def use_reasons(mapping: ObservableMapping, native: bool) -> dict[str, str | None]:
    """Per use id (CAPABILITIES), what the mapping lacks for it; a native model run unmapped can do everything."""
    reasons = capability_reasons(mapping)
    return reasons if uses_own_mapping(mapping, native) else dict.fromkeys(reasons)


def readiness_table(reasons: dict[str, str | None]) -> pd.DataFrame:
    """The uses as the lab shows them: dashboard use (label), status (ready / unavailable: why)."""
    return pd.DataFrame([{"dashboard use": CAPABILITIES[use], "status": "ready" if why is None else f"unavailable: {why}"}
                         for use, why in reasons.items()])


def ready_for_dashboard(problems: list, reasons: dict[str, str | None]) -> bool:
    """True when the other views can run the model: no mapping error (warnings are fine) and untreated projections possible.

    ``problems``: :class:`~qsp.lab.issues.Issue` s (a plain string counts as an error).
    """
    return not any(getattr(p, "is_error", True) for p in problems) and reasons[UNTREATED_USE] is None


def handed_over_mapping(mapping: ObservableMapping, native: bool) -> dict | None:
    """The mapping the other views run the model with, as JSON data (None: the model runs unmapped)."""
    return mapping.model_dump(mode="json") if uses_own_mapping(mapping, native) else None


def mapping_yaml(mapping: ObservableMapping) -> str:
    """The mapping as a YAML file for the command line (defaults left out)."""
    return yaml.safe_dump(mapping.model_dump(mode="json", exclude_defaults=True), sort_keys=False)
