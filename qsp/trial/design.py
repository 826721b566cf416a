"""The trial designer's form as data: form values <-> Scenario, executor choice, runs and their tables.

A *form* is a flat mapping of field -> value, the trial designer's widget values without their
key prefix: ``name``, ``seed``, ``n_per_arm``, ``duration``, ``weeks`` (text), ``noise``,
``dropout``, ``amyloid_min``, ``amyloid_max``, ``tau``, ``mmse``, ``age``, ``apoe4``, ``stage``,
``n_arms`` and per arm ``armI_name``, ``armI_source`` (placebo / library / custom),
``armI_library``, ``armI_drug``, ``armI_route``, ``armI_phases`` (a table of PHASE_COLUMNS),
``armI_stop``, ``armI_stop_below``, ``armI_stop_twice``, ``armI_stop_weeks`` (text). Any other
key is ignored, so a page may pass its whole state.

>>> scenario = scenario_from_form(form_defaults())
>>> [a.name for a in scenario.arms][:2], scenario.population.amyloid_cl
(['placebo', 'donanemab standard'], (37.0, None))
>>> form_from_scenario(scenario)["amyloid_max"] == AMYLOID_NO_LIMIT_CL
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.executor import ExecutorSettings
from qsp.engine.model import Model
from qsp.engine.regimen import Regimen, regimen_library
from qsp.errors import InvalidInput
from qsp.trial.endpoints import TrialResult, arm_trajectories
from qsp.trial.power import PowerSettings, power_with_curve
from qsp.trial.run import run_trial
from qsp.trial.scenario import Scenario, parse_scenario

MAX_ARMS = 6  # arms the form offers
SOURCES = ("placebo", "library", "custom")  # where an arm's regimen comes from
PHASE_COLUMNS = ["dose", "unit", "every_weeks", "count", "route"]  # columns of a custom arm's phase table
AMYLOID_MIN_CL = -20.0  # lowest amyloid PET lower bound the form offers, CL
AMYLOID_NO_LIMIT_CL = 300.0  # an upper amyloid bound at (or above) this means "no upper limit", CL
MMSE_RANGE = (0, 30)  # MMSE slider bounds, points
AGE_RANGE = (40, 100)  # age slider bounds, years
STOP_TWICE_OFF_CL = -50.0  # a "twice below" stop threshold at this floor means the stop rule has none, CL
FALLBACK_REGIMEN = "lecanemab_q2w"  # library regimen of a new arm
DEFAULT_ARMS = (
    ("placebo", "placebo", None),
    ("donanemab standard", "library", "donanemab_standard"),
    ("donanemab modified titration", "library", "donanemab_modified_titration"),
    ("lecanemab q2w", "library", "lecanemab_q2w"),
)
# Where a trial runs: the form's choice -> executor backend.
BACKENDS = {"this machine": "serial", "local Dask cluster": "dask", "Dask scheduler": "dask"}
SCHEDULER_BACKEND = "Dask scheduler"  # the choice that needs a scheduler address
# The enrolment criteria that admit every simulated patient.
OPEN_ENROLMENT = {"amyloid_min": AMYLOID_MIN_CL, "amyloid_max": AMYLOID_NO_LIMIT_CL, "tau": [], "mmse": MMSE_RANGE,
                  "age": AGE_RANGE, "apoe4": [], "stage": []}
POWER_ENDPOINTS = (C.IADRS, C.CDRSB, C.AMYLOID_CL, C.MMSE)  # primary endpoints offered, in order
# Charted measures -> the observable each needs from the model.
MEASURE_NEEDS = {"amyloid_cl_change": C.AMYLOID_CL, "amyloid_cleared_pct": C.AMYLOID_CL, "tau_suvr_change": C.TAU_SUVR,
                 "iadrs_change": C.IADRS, "cdrsb_change": C.CDRSB, "conc_ug_per_ml": C.CONC_UG_PER_ML,
                 "aria_e_pct": C.ARIA_E_RISK}


def default_phases() -> pd.DataFrame:
    """The phase table a new custom arm starts with (donanemab-like: 700 mg x 3, then 1400 mg q4w)."""
    return pd.DataFrame([{"dose": 700.0, "unit": "mg", "every_weeks": 4.0, "count": 3.0, "route": ""},
                         {"dose": 1400.0, "unit": "mg", "every_weeks": 4.0, "count": None, "route": ""}], columns=PHASE_COLUMNS)


def form_defaults() -> dict:
    """Every field of a fresh form (four arms: placebo and three library regimens; six arm slots)."""
    form = {"name": "my trial", "seed": 1, "n_per_arm": 150, "duration": 76, "weeks": "24, 52, 76", "noise": True,
            "dropout": 10.0, "amyloid_min": 37.0, "amyloid_max": AMYLOID_NO_LIMIT_CL, "tau": ["low_medium", "high"],
            "mmse": (20, 28), "age": (60, 85), "apoe4": [0, 1, 2], "stage": ["mci", "mild_dementia"],
            "n_arms": len(DEFAULT_ARMS)}
    for i in range(MAX_ARMS):
        name, source, lib = DEFAULT_ARMS[i] if i < len(DEFAULT_ARMS) else (f"arm {i + 1}", "library", FALLBACK_REGIMEN)
        form.update({f"arm{i}_name": name, f"arm{i}_source": source, f"arm{i}_library": lib or FALLBACK_REGIMEN,
                     f"arm{i}_drug": "donanemab", f"arm{i}_route": "iv", f"arm{i}_phases": default_phases(),
                     f"arm{i}_stop": False, f"arm{i}_stop_below": 11.0, f"arm{i}_stop_twice": 25.0,
                     f"arm{i}_stop_weeks": "24, 52"})
    return form


def parse_weeks(text: str, field: str) -> list[float]:
    """Weeks typed as ``24, 52, 76`` (commas or semicolons) -> numbers; InvalidInput naming ``field`` otherwise.

    >>> parse_weeks("24; 52,", "assess_weeks")
    [24.0, 52.0]
    """
    try:
        return [float(x) for x in str(text).replace(";", ",").split(",") if x.strip()]
    except ValueError:
        raise InvalidInput(f"{field}: write weeks as numbers separated by commas, e.g. 24, 52, 76 (got {text!r})") from None


def format_weeks(weeks) -> str:
    """Weeks as the form shows them: ``24, 52``."""
    return ", ".join(f"{w:g}" for w in weeks)


def amyloid_range(low: float, high: float) -> list:
    """The scenario's amyloid_cl range from the form's bounds: an upper bound at the sentinel means none."""
    return [low, None if high >= AMYLOID_NO_LIMIT_CL else high]


def _blank(value) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def phases_from_table(table: pd.DataFrame) -> list[dict]:
    """A custom arm's phases from its table; empty rows are skipped, an empty count means "until the end"."""
    phases = []
    for row in table.to_dict("records"):
        if all(_blank(row.get(c)) for c in PHASE_COLUMNS):
            continue
        phase = {"dose": row.get("dose"), "unit": row.get("unit") or "mg", "every_weeks": row.get("every_weeks")}
        if not _blank(row.get("count")):
            phase["count"] = int(row["count"])
        if row.get("route") and not _blank(row.get("route")):
            phase["route"] = row["route"]
        phases.append(phase)
    return phases


def phases_table(regimen: Regimen) -> pd.DataFrame:
    """A regimen's phases as the form's table."""
    return pd.DataFrame([{"dose": p.dose, "unit": p.unit, "every_weeks": p.every_weeks, "count": p.count, "route": p.route or ""}
                         for p in regimen.phases], columns=PHASE_COLUMNS)


def _arm_regimen(form: Mapping, i: int):
    """An arm's regimen from the form: None (placebo), a library name, or a regimen mapping."""
    source = form[f"arm{i}_source"]
    if source == "placebo":
        return None
    if source == "library":
        return form[f"arm{i}_library"]
    table = form.get(f"arm{i}_phases_value", form.get(f"arm{i}_phases"))  # the edited table when the page drew one
    regimen = {"drug": form[f"arm{i}_drug"], "route": form[f"arm{i}_route"], "phases": phases_from_table(table)}
    if form[f"arm{i}_stop"]:
        twice = form[f"arm{i}_stop_twice"]
        regimen["stop_rule"] = {"below_cl": form[f"arm{i}_stop_below"], "twice_below_cl": None if twice <= STOP_TWICE_OFF_CL else twice,
                                "at_weeks": parse_weeks(form[f"arm{i}_stop_weeks"], f"arms.{i}.regimen.stop_rule.at_weeks")}
    return regimen


def scenario_data_from_form(form: Mapping, mmse_available: bool = True) -> dict:
    """The scenario mapping the form describes, before validation (no MMSE criterion when the model lacks MMSE)."""
    arms = []
    for i in range(int(form["n_arms"])):
        regimen = _arm_regimen(form, i)
        arms.append({"name": form[f"arm{i}_name"], **({"regimen": regimen} if regimen is not None else {})})
    return {
        "name": form["name"],
        "seed": int(form["seed"]),
        "n_per_arm": int(form["n_per_arm"]),
        "duration_weeks": float(form["duration"]),
        "assess_weeks": parse_weeks(form["weeks"], "assess_weeks"),
        "measurement_noise": bool(form["noise"]),
        "dropout_pct_per_year": float(form["dropout"]),
        "population": {
            "amyloid_cl": amyloid_range(form["amyloid_min"], form["amyloid_max"]),
            "tau": list(form["tau"]) or None,
            "mmse": list(form["mmse"]) if mmse_available else None,
            "age": list(form["age"]),
            "apoe4_copies": list(form["apoe4"]) or None,
            "stage": list(form["stage"]) or None,
        },
        "arms": arms,
    }


def scenario_from_form(form: Mapping, mmse_available: bool = True) -> Scenario:
    """The validated Scenario the form describes; InvalidInput lists every problem, an arm's as the page names it.

    >>> form = {**form_defaults(), "n_arms": 3, "arm2_name": ""}
    >>> scenario_from_form(form)
    Traceback (most recent call last):
    ...
    qsp.errors.InvalidInput: Arm 3: name: String should have at least 1 character (got '')
    """
    try:
        return parse_scenario(scenario_data_from_form(form, mmse_available))
    except InvalidInput as exc:
        raise InvalidInput([_arm_label(line) for line in exc.problems]) from None


def _arm_label(problem: str) -> str:
    """``arms.2.name: ...`` -> ``Arm 3: name: ...`` (the form numbers arms from 1)."""
    match = re.match(r"arms\.(\d+)\.(.*)", problem, flags=re.DOTALL)
    return f"Arm {int(match.group(1)) + 1}: {match.group(2)}" if match else problem


def default_arm_names(form: Mapping) -> dict:
    """Names for the shown arms that have none, or repeat an earlier arm's (an arm added after loading a scenario):
    ``arm 3``, unique.

    >>> default_arm_names({"n_arms": 3, "arm0_name": "A", "arm1_name": "B", "arm2_name": " "})
    {'arm2_name': 'arm 3'}
    >>> default_arm_names({"n_arms": 3, "arm0_name": "A", "arm1_name": "B", "arm2_name": "A"})
    {'arm2_name': 'arm 3'}
    """
    n = int(form["n_arms"])
    names = [str(form.get(f"arm{i}_name") or "").strip() for i in range(n)]
    taken = set(names)
    updates = {}
    for i in range(n):
        if not names[i] or names[i] in names[:i]:
            name, k = f"arm {i + 1}", 1
            while name in taken:
                k += 1
                name = f"arm {i + 1} ({k})"
            taken.add(name)
            updates[f"arm{i}_name"] = name
    return updates


def _range_fields(value, bounds: tuple[int, int]) -> tuple[int, int]:
    return tuple(int(v) if v is not None else d for v, d in zip(value or bounds, bounds))


def _arm_fields(i: int, regimen: Regimen | None, library: Mapping[str, Regimen]) -> dict:
    if regimen is None:
        return {f"arm{i}_source": "placebo"}
    match = next((n for n, r in library.items() if r == regimen), None)
    if match:
        return {f"arm{i}_source": "library", f"arm{i}_library": match}
    fields = {f"arm{i}_source": "custom", f"arm{i}_drug": regimen.drug, f"arm{i}_route": regimen.route,
              f"arm{i}_phases": phases_table(regimen), f"arm{i}_stop": regimen.stop_rule is not None}
    rule = regimen.stop_rule
    if rule:
        fields.update({f"arm{i}_stop_below": rule.below_cl, f"arm{i}_stop_weeks": format_weeks(rule.at_weeks),
                       f"arm{i}_stop_twice": rule.twice_below_cl if rule.twice_below_cl is not None else STOP_TWICE_OFF_CL})
    return fields


def form_from_scenario(scenario: Scenario, library: Mapping[str, Regimen] | None = None) -> dict:
    """The form fields that show ``scenario`` (fields it does not set, e.g. a placebo arm's drug, are left out).

    A regimen equal to one of ``library`` (default: the regimen library) is shown as that library entry;
    another as a custom arm. At most MAX_ARMS arms are shown.
    """
    library = regimen_library() if library is None else library
    pop = scenario.population
    amyloid = pop.amyloid_cl or (None, None)
    form = {
        "name": scenario.name, "seed": scenario.seed, "n_per_arm": scenario.n_per_arm,
        "duration": int(scenario.duration_weeks), "weeks": format_weeks(scenario.assess_weeks),
        "noise": scenario.measurement_noise, "dropout": float(scenario.dropout_pct_per_year),
        "amyloid_min": float(amyloid[0]) if amyloid[0] is not None else AMYLOID_MIN_CL,
        "amyloid_max": float(amyloid[1]) if amyloid[1] is not None else AMYLOID_NO_LIMIT_CL,
        "tau": list(pop.tau or []), "mmse": _range_fields(pop.mmse, MMSE_RANGE), "age": _range_fields(pop.age, AGE_RANGE),
        "apoe4": list(pop.apoe4_copies or []), "stage": list(pop.stage or []), "n_arms": min(len(scenario.arms), MAX_ARMS),
    }
    for i, arm in enumerate(scenario.arms[:MAX_ARMS]):
        form[f"arm{i}_name"] = arm.name
        form.update(_arm_fields(i, arm.regimen, library))
    return form


def executor_settings(backend: str, scheduler: str = "") -> ExecutorSettings:
    """Executor settings for the form's choice of where to run (one of BACKENDS); the scheduler address only counts
    for SCHEDULER_BACKEND, where it is required.

    >>> executor_settings("this machine", "tcp://ignored:1").backend
    'serial'
    """
    if backend not in BACKENDS:
        raise InvalidInput(f"backend: one of {', '.join(BACKENDS)} (got {backend!r})")
    address = ((scheduler or "").strip() or None) if backend == SCHEDULER_BACKEND else None
    if backend == SCHEDULER_BACKEND and address is None:
        raise InvalidInput("scheduler: give the Dask scheduler's address, e.g. tcp://host:8786")
    return ExecutorSettings(backend=BACKENDS[backend], scheduler=address)


def endpoint_choices(available) -> list[str]:
    """Primary endpoints the power analysis offers for a model providing ``available`` observables."""
    return [o for o in POWER_ENDPOINTS if o in available]


def chart_measures(available) -> list[str]:
    """Measures worth a chart for a model providing ``available`` observables (no empty charts)."""
    return [m for m, needs in MEASURE_NEEDS.items() if needs in available]


@dataclass(frozen=True)
class TrialRun:
    """A trial with its power analysis and per-week endpoint trajectories."""

    result: TrialResult
    power: pd.DataFrame
    trajectories: pd.DataFrame
    settings: PowerSettings
    power_curve: pd.DataFrame = field(default_factory=pd.DataFrame)  # comparison, n_per_arm, power

    @property
    def enrichment(self) -> dict | None:
        """Screening numbers of an enriched enrolment (screened, enrolled, screen_per_enrolled), else None."""
        return self.result.provenance.get("enrichment")

    def to_json(self) -> dict:
        """RESULT.json of the trial with the power table and its settings."""
        return {**self.result.to_json(), "power": self.power.to_dict("records"), "power_settings": self.settings.model_dump()}


def run_design(scenario: Scenario, settings: PowerSettings, *, enrolment_filter: Callable[[pd.DataFrame], np.ndarray] | None = None,
               executor: ExecutorSettings | None = None, model: Model | None = None,
               progress: Callable[[float], None] | None = None) -> TrialRun:
    """Run ``scenario`` (enrolling only patients ``enrolment_filter`` passes, when given) and analyse its power."""
    result = run_trial(scenario, enrolment_filter=enrolment_filter, executor=executor, model=model, progress=progress)
    power, curve = power_with_curve(result, settings)
    return TrialRun(result, power, arm_trajectories(result), settings, curve)


def run_enriched_comparison(scenario: Scenario, settings: PowerSettings, enrolment_filter: Callable[[pd.DataFrame], np.ndarray], *,
                            all_comers: TrialRun | None = None, executor: ExecutorSettings | None = None,
                            model: Model | None = None, progress: Callable[[float], None] | None = None) -> tuple[TrialRun, TrialRun]:
    """The enriched trial and the same design with all-comers enrolment (reused when given): (enriched, all comers).

    ``progress`` sees the fraction of both runs together.
    """
    share = 1.0 if all_comers is not None else 0.5
    step = (lambda f: progress(share * f)) if progress else None
    enriched = run_design(scenario, settings, enrolment_filter=enrolment_filter, executor=executor, model=model, progress=step)
    if all_comers is None:
        after = (lambda f: progress(0.5 + 0.5 * f)) if progress else None
        all_comers = run_design(scenario, settings, executor=executor, model=model, progress=after)
    return enriched, all_comers


def summary_table(result: TrialResult, model: Model | None = None) -> pd.DataFrame:
    """One row per arm at the last assessment: sizes, baseline, endpoint changes, ARIA-E, slowing against the first arm.

    For an uploaded ``model`` (None: the built-in one) columns its mapping does not provide are dropped, and
    the ARIA-E by APOE4 columns too unless its mapping sets APOE4 copies.
    """
    out = result.to_json()
    names = [a.name for a in result.scenario.arms]
    rows = []
    for name in names:
        arm = out["arms"][name]
        row = {"arm": name, "n": arm["n"], "failed": arm["n_failed"], "completers at end": arm["n_observed"][-1]}
        row.update({f"baseline {k}": v for k, v in arm["baseline"].items()})
        row.update({"amyloid change (CL)": arm["amyloid_cl_change"][-1], "cleared %": arm["amyloid_cleared_pct"][-1],
                    "iADRS change": arm["iadrs_change"][-1], "CDR-SB change": arm["cdrsb_change"][-1],
                    "ARIA-E %": arm["aria_e_pct"][-1]})
        row.update({f"ARIA-E % APOE4={g}": arm["aria_e_pct_by_apoe4"][g][-1] for g in ("0", "1", "2")})
        comp = out["comparisons"].get(f"{name} vs {names[0]}")
        row["iADRS slowing %"] = comp["iadrs_slowing_pct"][-1] if comp else None
        row["CDR-SB slowing %"] = comp["cdrsb_slowing_pct"][-1] if comp else None
        rows.append(row)
    table = pd.DataFrame(rows)
    if model is not None:
        table = table.dropna(axis=1, how="all")
        if C.APOE4 not in (model.mapping.covariates if model.mapping else {}):
            table = table.drop(columns=[c for c in table if c.startswith("ARIA-E % APOE4")])
    return table


Z95 = 1.959964  # two-sided 95% normal quantile
KEY_ENDPOINTS = {C.IADRS: "iADRS", C.CDRSB: "CDR-SB", C.AMYLOID_CL: "amyloid (CL)"}  # the compact table's endpoints
REFERENCE = "reference"  # shown in the reference arm's comparison cells
NOT_AVAILABLE = "—"  # shown where a value is undefined


def _interval(mean: float, half: float, digits: int = 1) -> str:
    """``-5.2 (-6.1 to -4.3)``; NOT_AVAILABLE when undefined."""
    if mean is None or not math.isfinite(mean):
        return NOT_AVAILABLE
    if not math.isfinite(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({mean - half:.{digits}f} to {mean + half:.{digits}f})"


def _wilson(p: float, n: float) -> str:
    """A proportion as ``%`` with its 95% Wilson score interval (never below 0 or above 100).

    >>> _wilson(0.011, 90)
    '1.1 (0.2 to 6.0)'
    """
    if not math.isfinite(p) or n <= 0:
        return NOT_AVAILABLE
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2)) / (1 + Z95**2 / n)
    return f"{100 * p:.1f} ({100 * max(0.0, centre - half):.1f} to {100 * min(1.0, centre + half):.1f})"


def compact_summary(result: TrialResult) -> pd.DataFrame:
    """The designer's default results table: per arm at the last assessment, the key endpoints' mean change and its
    difference from the first arm, each with a 95% confidence interval (normal approximation, Welch for
    differences), and ARIA-E % with its 95% Wilson interval. The reference arm reads REFERENCE; undefined cells NOT_AVAILABLE.
    Endpoints the model does not provide are left out.
    """
    last = result.summary[result.summary["week"] == result.scenario.assess_weeks[-1]].set_index("arm")
    names = [a.name for a in result.scenario.arms]
    ref = last.loc[names[0]]
    shown = [e for e in KEY_ENDPOINTS if last[f"{e}_change"].notna().any()]
    rows = []
    for name in names:
        arm = last.loc[name]
        n = float(arm["n_observed"])
        row = {"arm": name, "completers": int(n)}
        for e in shown:
            mean, sd = arm[f"{e}_change"], arm[f"{e}_change_sd"]
            row[f"{KEY_ENDPOINTS[e]} change (95% CI)"] = _interval(mean, Z95 * sd / math.sqrt(n) if n > 1 else math.nan)
            if name == names[0]:
                row[f"{KEY_ENDPOINTS[e]} vs {names[0]} (95% CI)"] = REFERENCE
            else:
                se = math.sqrt(sd**2 / n + ref[f"{e}_change_sd"] ** 2 / float(ref["n_observed"])) if n > 1 else math.nan
                row[f"{KEY_ENDPOINTS[e]} vs {names[0]} (95% CI)"] = _interval(mean - ref[f"{e}_change"], Z95 * se)
        row["ARIA-E % (95% CI)"] = _wilson(arm["aria_e_pct"] / 100.0, float(arm["n"]))
        rows.append(row)
    return pd.DataFrame(rows)


def compact_by_measure(result: TrialResult) -> pd.DataFrame:
    """:func:`compact_summary` turned to one row per measure and one column per arm (narrow enough for a page with
    up to four arms), every cell as text."""
    table = compact_summary(result).set_index("arm").T.astype(str)
    table.columns = [str(c) for c in table.columns]
    return table.rename_axis("measure").reset_index()


def full_summary(result: TrialResult, model: Model | None = None) -> pd.DataFrame:
    """:func:`summary_table` rounded for display, with REFERENCE (not an empty cell) in the reference arm's slowing.

    The slowing columns are text throughout (a column mixing text and numbers cannot be sent to the browser as
    Arrow: Streamlit logged a traceback and converted it itself).
    """
    table = summary_table(result, model).round(2)
    for column in [c for c in table if c.endswith("slowing %")]:
        values = [NOT_AVAILABLE if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}" for v in table[column]]
        table[column] = [REFERENCE, *values[1:]]
    return table


POWER_COLUMNS = ["effect", "power", "required_n_per_arm"]  # compared between enriched and all-comers trials


def enrichment_table(enriched: TrialRun, all_comers: TrialRun) -> pd.DataFrame | None:
    """Effect, power and required arm size per comparison, enriched beside all comers, with the screening cost.

    None when either trial has no power table (a single arm).
    """
    if enriched.power.empty or all_comers.power.empty:
        return None
    both = enriched.power.set_index("comparison")[POWER_COLUMNS].join(
        all_comers.power.set_index("comparison")[POWER_COLUMNS], lsuffix=" (enriched)", rsuffix=" (all comers)")
    both["screened per enrolled"] = (enriched.enrichment or {}).get("screen_per_enrolled", 1.0)
    return both.reset_index()


def power_display_table(power: pd.DataFrame, target_power: float) -> pd.DataFrame:
    """The power table with the column names the designer shows."""
    return power.rename(columns={"effect": "effect (difference in mean change)", "n_pool": "simulated completers per arm",
                                 "n_per_arm": "arm size", "power": "power",
                                 "required_n_per_arm": f"arm size for {target_power:.0%} power"})
