"""Model lab, tab "Observable mapping": say which model ids carry the dashboard's observables, then hand the model over."""

import json

import streamlit as st

from pages._common import ACTIVE_MODEL, cached_mapped_model, show_problems
from pages._lab_cache import cached_range_issues
from qsp import constants as C
from qsp.engine.observables import MAPPABLE, TIME_UNITS_DAYS, parse_mapping
from qsp.engine.simulate import Engine
from qsp.errors import QSPError
from qsp.lab import mapping_form as MF
from qsp.lab.adapt import declared_time_unit, provides_dashboard_ids
from qsp.lab.issues import errors

NONE = "(not mapped)"
COVARIATE_LABELS = {"weight_kg": "Body weight (kg)", "age_yr": "Age (years)", "is_female": "Female (1/0)", "apoe4_copies": "APOE4 copies"}
INTRO = ("Say which model ids carry the dashboard's observables, so that this model runs in the **Continuum "
         "explorer**, **Trial designer** and **Digital twin** like the built-in one. Each observable is "
         "`offset + scale x value` of the chosen id (a species' concentration, or its amount when it has only "
         "substance units). Doses follow the regimens' schedules and stop rules, given as boluses into the dose "
         "target. Observables left unmapped are shown as unavailable. The same mapping as a YAML file runs the "
         "model from the command line: `python -m qsp trial SCENARIO --model MODEL.xml --mapping MAPPING.yaml`.")


def _chosen(value: str):
    return None if value == NONE else value


def _form(model, sbml: str, form_key: str):
    """Draw the mapping form; returns (mapping data, submitted, declared time unit)."""
    ids = sorted(set(model.species_ids) | set(model.parameter_ids) | set(model.rule_ids))
    with st.form("lab_mapping_form"):
        links = {}
        cols = st.columns(3)
        for i, obs in enumerate(MAPPABLE):
            box = cols[i % 3].container(border=True)
            chosen = box.selectbox(C.LABELS[obs], [NONE, *ids], key=f"{form_key}_{obs}")
            c1, c2 = box.columns(2)
            scale = c1.number_input("scale", value=1.0, format="%g", key=f"{form_key}_{obs}_scale")
            offset = c2.number_input("offset", value=0.0, format="%g", key=f"{form_key}_{obs}_offset")
            if chosen != NONE:
                links[obs] = {"id": chosen, "scale": scale, "offset": offset}
        c1, c2, c3 = st.columns(3)
        hazard = c1.selectbox("ARIA-E hazard (per model time unit)", [NONE, *ids], key=f"{form_key}_hazard",
                              help="Integrated over time into the cumulative ARIA-E risk.")
        dose = c2.selectbox("Dose target (species)", [NONE, *sorted(model.species_ids)], key=f"{form_key}_dose")
        dose_scale = c3.number_input("Model units per mg dosed", value=1.0, format="%g", key=f"{form_key}_dose_scale")
        covariates = {}
        for col, (cov, label) in zip(st.columns(4), COVARIATE_LABELS.items()):
            chosen = col.selectbox(f"{label} parameter", [NONE, *sorted(model.parameter_ids)], key=f"{form_key}_{cov}",
                                   help="A model parameter set to each patient's value.")
            if chosen != NONE:
                covariates[cov] = chosen
        c1, c2 = st.columns(2)
        declared = declared_time_unit(sbml)
        unit = c2.selectbox("Model time unit", list(TIME_UNITS_DAYS), index=list(TIME_UNITS_DAYS).index(declared or "day"),
                            key=f"{form_key}_unit", help="Taken from the model when it declares its time unit.")
        submitted = st.form_submit_button("Check mapping", type="primary")
    data = MF.mapping_data_from_form(links, hazard=_chosen(hazard), dose=_chosen(dose), dose_scale=dose_scale,
                                     covariates=covariates, time_unit=unit)
    return data, submitted, declared


def _hand_over(sbml: str, mapping_data: dict | None) -> None:
    """Compile the mapped model once (so a model that cannot run is reported here), then make it the active model."""
    name = st.session_state.get("lab_model_name") or st.session_state.get("lab_save_name") or "uploaded model"
    try:
        Engine(cached_mapped_model(sbml, name, json.dumps(mapping_data, sort_keys=True) if mapping_data else None))
    except QSPError as exc:
        show_problems(exc)
    else:
        st.session_state[ACTIVE_MODEL] = {"name": name, "sbml": sbml, "mapping": mapping_data}


def mapping_tab(model, sbml: str) -> None:
    """The tab's content for a model the check found simulatable."""
    st.markdown(INTRO)
    native = provides_dashboard_ids(model)
    if native:
        st.info("This model already uses every id of the dashboard (like the built-in model): it needs no mapping.")
    form_key = f"lab_map_{model.sha256[:12]}"  # per model: another model's ids are not offered
    data, submitted, declared = _form(model, sbml, form_key)
    uploaded = st.file_uploader("Or use a mapping file (YAML or JSON, as for the command line; at most 200 kB)",
                                type=["yaml", "yml", "json"], key=f"{form_key}_file")
    try:
        if uploaded is not None:
            mapping = MF.mapping_from_upload(uploaded.getvalue(), uploaded.name)
            st.caption("Using the uploaded mapping file (the form above is ignored while a file is loaded).")
        else:
            mapping = parse_mapping(data)
        problems = MF.mapping_problems(sbml, mapping, native)
    except QSPError as exc:
        show_problems(exc)
        st.stop()
    for issue in problems:
        show = st.error if issue.is_error else st.warning
        show(f"{issue.message} ({issue.code})", icon=":material/error:" if issue.is_error else ":material/warning:")
    blocking, ranges = errors(problems), []
    if not blocking and mapping.observables and MF.uses_own_mapping(mapping, native):
        try:
            ranges = cached_range_issues(sbml, json.dumps(mapping.model_dump(mode="json"), sort_keys=True))
        except QSPError as exc:
            show_problems(exc)
        for issue in ranges:
            st.warning(f"{issue.message} ({issue.code})", icon=":material/warning:")
        problems = [*problems, *ranges]
    if not blocking and not ranges and (submitted or uploaded is not None) and mapping.observables:
        st.success("The mapping is consistent with the model.", icon=":material/check:")
    if declared is None:
        st.warning(f"The model does not declare its time unit: the mapping reads it as **{mapping.time_unit}s**. "
                   "Check 'Model time unit' above; every rate of the model is per that unit.", icon=":material/schedule:")
    reasons = MF.use_reasons(mapping, native)
    st.dataframe(MF.readiness_table(reasons), hide_index=True, key="lab_map_caps")
    st.download_button("Download this mapping (YAML)", MF.mapping_yaml(mapping), file_name="mapping.yaml", key="lab_map_download")
    handed = MF.handed_over_mapping(mapping, native)
    if st.button("Use this model in the explorer, trial designer and twin", key="lab_map_use",
                 disabled=not MF.ready_for_dashboard(problems, reasons)):
        _hand_over(sbml, handed)
    active = st.session_state.get(ACTIVE_MODEL) or {}
    if active.get("sbml") == sbml and active.get("mapping") == handed and not blocking:
        st.success(f"The dashboard's views now run this model with this mapping (as {active['name']!r}).")
        c1, c2, c3 = st.columns(3)
        c1.page_link("pages/trial_designer.py", label="Open the trial designer", icon=":material/science:")
        c2.page_link("pages/explorer.py", label="Open the continuum explorer", icon=":material/timeline:")
        c3.page_link("pages/twin.py", label="Open the digital twin", icon=":material/person:")
