"""Streamlit adapter: caching and shared widgets for the pages (the core stays UI-free).

Every page imports this module, so the core is imported inside the cached functions that need it
(marked ``# lazy: page start-up``): Home renders without loading roadrunner, pandas' heavy parts or ML.
It also holds app.py's server start-up hook (:func:`navigation_from_start`).
"""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from qsp.errors import QSPError
from qsp.plots.notice import RESEARCH_NOTICE


def notice() -> None:
    """The research-use-only notice, on every page."""
    st.caption(RESEARCH_NOTICE)


def hold_choice(key: str, options: list) -> None:
    """Give selectbox ``key`` a value among ``options`` that the browser shows too (call before drawing it).

    A selectbox a run leaves out (the page stopped early) keeps its value on the server while the browser
    redraws it at its first option: the label then disagrees with what the page shows. Writing the value
    back makes Streamlit send it to the browser.
    """
    value = st.session_state.get(key)
    if options:
        st.session_state[key] = value if value in options else options[0]


EXPLORER_VS_TWIN = (
    "**Explorer and twin differ on purpose.** Both take the time to the next stage from the same computation "
    "(CDR-SB crossing the next stage's cut-point, interpolated between time points). The *Continuum explorer* "
    "knows only today's profile: it draws the patient's unknown rates from the population's random effects, so "
    "its bands are wide and say how differently patients *with this profile* progress. The *Digital twin* "
    "conditions on the patient's visits: its draws are the posterior of *this* patient's rates and place on the "
    "continuum, and its bands add measurement and model error (where a future measurement would fall). With one "
    "visit the twin still differs: it is started on the course from amyloid onset that matches the visit, not "
    "from today's values as given, and weighs the draws by how well they fit that visit."
)


def explain_explorer_vs_twin() -> None:
    """The same note on the explorer and the twin: what the two views share and why their numbers differ."""
    with st.expander("Why the explorer and the twin give different numbers for the same patient"):
        st.markdown(EXPLORER_VS_TWIN)


def show_problems(exc: QSPError, where: str = "") -> None:
    """Show each problem of a rejected input as its own error line."""
    problems = getattr(exc, "problems", None) or [str(exc)]
    for line in problems:
        st.error(f"{where}{line}", icon=":material/error:")


def key_of(obj) -> str:
    """A stable hash of JSON-able input, used as a cache key."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def remember(page: str, key: str, default) -> None:
    """Give widget ``key`` its value from before the user left ``page``, else ``default`` (call before drawing it).

    Streamlit forgets the state of widgets a run does not draw, so a visit to another page would reset them;
    :func:`keep` stores a copy outside the widgets. Draw the widget without a value argument.
    """
    st.session_state.setdefault(key, st.session_state.get(f"_kept_{page}", {}).get(key, default))
    st.session_state.setdefault(f"_kept_keys_{page}", set()).add(key)


def keep(page: str) -> None:
    """Copy the values of the widgets :func:`remember` set up on ``page`` (call once per run, after them)."""
    keys = st.session_state.get(f"_kept_keys_{page}", set())
    st.session_state[f"_kept_{page}"] = {k: st.session_state[k] for k in keys if k in st.session_state}


ACTIVE_MODEL = "active_model"  # session key: {"name", "sbml", "mapping"} of the model the lab handed over (absent: built-in)


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_mapped_model(sbml: str, name: str, mapping_json: str | None):
    """An uploaded model with its observable mapping, adapted once per (text, mapping)."""
    from qsp.engine.model import Model  # lazy: page start-up
    from qsp.engine.observables import parse_mapping  # lazy: page start-up
    from qsp.lab.adapt import adapt_model  # lazy: page start-up

    model = Model(sbml, name=name)
    return model if mapping_json is None else adapt_model(model, parse_mapping(json.loads(mapping_json)))


def active_model_ref() -> tuple[str, str, str | None] | None:
    """(sbml, name, mapping JSON) of the model the views run, None for the built-in model (hashable, for caches)."""
    active = st.session_state.get(ACTIVE_MODEL)
    if not active:
        return None
    return active["sbml"], active["name"], json.dumps(active["mapping"], sort_keys=True) if active["mapping"] else None


def model_of(ref):
    """The Model of an :func:`active_model_ref` (None: the built-in model)."""
    return None if ref is None else cached_mapped_model(*ref)


def model_banner():
    """Say which model this view runs; for an uploaded model list what it cannot show. Returns the Model or None."""
    ref = active_model_ref()
    if ref is None:
        st.caption("Model: the built-in AD continuum model. Map your own model in the **Model lab** to run it here.")
        return None
    from qsp import constants as C  # lazy: page start-up
    from qsp.engine.simulate import Engine  # lazy: page start-up

    with st.container(border=True):
        st.markdown(f"**Model: {ref[1]}** (uploaded in the Model lab, mapped to the dashboard's observables)")
        if st.button("Use the built-in model again", key="use_builtin_model"):
            del st.session_state[ACTIVE_MODEL]
            st.rerun()
        try:
            model = model_of(ref)
            Engine(model)  # compiles it (cached per thread): a model that cannot run is reported here, not on use
            missing = [C.LABELS[o] for o in C.OBSERVABLES if o not in model.available]
        except QSPError as exc:
            show_problems(exc, "Model: ")
            st.stop()
        if missing:
            st.caption("Unavailable in this model (not mapped): " + ", ".join(missing))
    return model


@st.cache_data(show_spinner=False, max_entries=64)
def cached_projection(profile: dict, regimens: tuple[str, ...], years: float, n_draws: int, model_ref=None) -> dict:
    from qsp.population.profile import project_profile  # lazy: page start-up

    proj = project_profile(profile, {name: name for name in regimens}, years=years, n_draws=n_draws, model=model_of(model_ref))
    return {"stage": proj.stage, "severity": proj.severity, "trajectories": proj.trajectories, "next_stage": proj.next_stage,
            "benefit": proj.benefit}


@st.cache_data(show_spinner=False)
def cached_library() -> dict:
    from qsp.engine.regimen import regimen_descriptions, regimen_library  # lazy: page start-up

    desc = regimen_descriptions()
    return {name: {"describe": r.describe(), "label": desc[name]["label"], "source": desc[name]["source"]} for name, r in regimen_library().items()}


@st.cache_data(show_spinner=False, max_entries=32)
def cached_model_views(sbml: str) -> dict:
    """Tables and Antimony text of a model the check found simulatable."""
    from qsp.lab.model_lab import describe_model, sbml_to_antimony  # lazy: page start-up

    return {"tables": describe_model(sbml), "antimony": sbml_to_antimony(sbml)}


@st.cache_data(show_spinner=False, max_entries=32)
def cached_twin(rows: tuple[tuple[tuple[str, object], ...], ...], regimens: tuple[str, ...], horizon_weeks: float,
                model_ref=None) -> dict:
    """Fit a twin and forecast it (rows: the visits as PATIENT.csv rows, as tuples of items so they hash)."""
    from qsp.twin.fit import fit_twin  # lazy: page start-up
    from qsp.twin.forecast import forecast_twin  # lazy: page start-up
    from qsp.twin.overview import twin_overview  # lazy: page start-up
    from qsp.twin.records import parse_patient_rows  # lazy: page start-up

    twin = fit_twin(parse_patient_rows([dict(r) for r in rows]), model=model_of(model_ref))
    return twin_overview(twin, forecast_twin(twin, {name: name for name in regimens}, horizon_weeks=horizon_weeks))


@st.cache_resource(show_spinner=False)
def cached_model_store(url: str):
    """The model library on this database URL (one engine per URL, shared read-only by sessions)."""
    from qsp.store.models import ModelStore  # lazy: page start-up

    return ModelStore(url)


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_dosed_model(sbml: str, species: str, amount: float, every: float, count: int, start: float):
    """The lab model with repeated dosing added (compiled once per setting)."""
    from qsp.engine.model import Model  # lazy: page start-up
    from qsp.lab.model_lab import with_repeated_dosing  # lazy: page start-up

    return with_repeated_dosing(Model(sbml, name="lab"), species, amount, every, count, start)


@st.cache_resource(show_spinner=False)
def cached_regimen_library() -> dict:
    """The regimen library as typed Regimens (read-only, shared)."""
    from qsp.engine.regimen import regimen_library  # lazy: page start-up

    return regimen_library()


@st.cache_resource(show_spinner=False)
def cached_scenario_store(url: str, owner: str | None = None):
    """The saved scenarios of ``owner`` (None: shared, sign-in off) on this database URL (one engine per URL and owner)."""
    from qsp.store.database import ScenarioStore  # lazy: page start-up

    return ScenarioStore(url, owner=owner)


@st.cache_resource(show_spinner=False, max_entries=8)
def cached_strat_models(n: int, seed: int, fast: float, responder: float):
    """(cohort, models per task) of the Stratification page: a simulated cohort and its LightGBM models."""
    from ml.stratify import cohort_settings, train_models  # lazy: page start-up

    return train_models(cohort_settings(n, seed, fast, responder))


@st.cache_resource(show_spinner=False, max_entries=4)
def cached_strat_ensemble(n: int, seed: int, fast: float, responder: float):
    """Per task, the (QSP parameter draw x bootstrap) ensemble the Stratification page's intervals come from."""
    from ml.stratify import cohort_settings, uncertainty_grids  # lazy: page start-up

    return uncertainty_grids(cohort_settings(n, seed, fast, responder))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_validation_warning(regimen_json: str) -> str | None:
    """The core's warning for a regimen (JSON) or its drug with no out-of-sample validated result, else None."""
    from qsp.engine.regimen import parse_regimen  # lazy: page start-up
    from qsp.trial.calibration import validation_warning  # lazy: page start-up

    return validation_warning(parse_regimen(json.loads(regimen_json)))


def show_validation_warnings(regimens) -> None:
    """One warning per regimen (typed, or a library name) whose drug or schedule has no validated result."""
    from qsp.engine.regimen import parse_regimen  # lazy: page start-up

    seen = set()
    for regimen in regimens:
        if regimen is None:
            continue
        typed = parse_regimen(regimen) if isinstance(regimen, str) else regimen
        warning = cached_validation_warning(typed.model_dump_json())
        if warning and warning not in seen:
            seen.add(warning)
            st.warning(f"Not validated: {warning}", icon=":material/science:")
