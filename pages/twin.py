"""Digital twin: a patient's own model from their visits, forecasts untreated and under regimens."""

import json
import math

import streamlit as st

from ml.twin_features import twin_strata
from pages import _auth
from pages._common import (
    active_model_ref,
    cached_library,
    cached_twin,
    explain_explorer_vs_twin,
    hold_choice,
    model_banner,
    notice,
    show_problems,
    show_validation_warnings,
)
from qsp import constants as C
from qsp import paths
from qsp.errors import QSPError
from qsp.plots.report import twin_summary_html
from qsp.plots.trial import STAGE_LABELS, arm_colours, display_label
from qsp.plots.twin import twin_figure
from qsp.population.outcomes import benefit_table, benefit_when
from qsp.store.twins import TwinStore
from qsp.twin.overview import (
    aria_risk_table,
    band_change_text,
    estimated_parameters,
    events_table,
    horizon_band_width,
    horizon_headline,
    saved_summary,
    visit_rows,
)
from qsp.twin.records import CSV_COLUMNS, FIT_OBSERVABLES, WEEK, read_patient_csv

st.title("Digital twin")
notice()
active = model_banner()
if active is not None:
    st.info("This uploaded model has no between-patient random effects: its twin only places the patient on the "
            "model's own course (time since onset), so where the fitted lines miss the visits, the model cannot follow "
            "this patient.", icon=":material/info:")
st.markdown("Enter a patient's visits; the twin is the model with this patient's own rates and place on the continuum, "
            "estimated from the visits with the population as prior (MAP + Laplace, refined by importance sampling). "
            "Bands are predictive: where a future measurement would fall, measurement error included. "
            "Nothing about the patient is stored unless you press **Save twin**, which keeps the visits and the fit summary "
            "under a random pseudonymous id (never the patient id); the result downloads only when you ask.")

EXAMPLES = {p.stem: p for p in sorted(paths.TWIN_EXAMPLES_DIR.glob("*.csv"))}
library = cached_library()

source = st.radio("Patient", ["Example (synthetic)", "Upload PATIENT.csv", "Saved twin"], horizontal=True, key="twin_source")
try:
    if source == "Saved twin":
        if not _auth.saving_allowed("saved twins"):
            st.stop()
        store = TwinStore(owner=_auth.current_owner())
        saved = store.list()
        if saved.empty:
            st.info("No saved twins yet: fit a twin from an example or an upload and press **Save twin**.")
            st.stop()
        st.dataframe(saved, hide_index=True, key="twin_saved_list")
        chosen = st.selectbox("Saved twin (pseudonymous id)", list(saved["twin_id"]), key="twin_saved")
        if st.button("Delete this saved twin", key="twin_delete"):
            store.delete(chosen)
            st.rerun()
        patient = store.load(chosen).patient
    elif source == "Upload PATIENT.csv":
        upload = st.file_uploader("PATIENT.csv (" + ", ".join(CSV_COLUMNS) + ")", type=["csv"], key="twin_upload")
        if upload is None:
            st.info("Upload a PATIENT.csv, or choose an example.")
            st.stop()
        patient = read_patient_csv(upload)
    else:
        name = st.selectbox("Example patient (synthetic)", list(EXAMPLES), key="twin_example")
        patient = read_patient_csv(EXAMPLES[name])
except QSPError as exc:
    show_problems(exc)
    st.stop()

c1, c2, c3, c4, c5 = st.columns([2, 1, 1, 1, 1])  # room for a long patient id
c1.metric("Patient", patient.patient_id)
c2.metric("Age", f"{patient.age:g}")
c3.metric("Sex", patient.sex)
c4.metric("Weight (kg)", f"{patient.weight_kg:g}")
c5.metric("APOE4 copies", patient.apoe4_copies)

st.subheader("Visits")
st.caption("Edit a value or add a row (a new visit) and the twin is refitted. Weeks count from the baseline visit (week 0).")
visits = st.data_editor(patient.visits, num_rows="dynamic", hide_index=True, key="twin_visits",
                        column_config={WEEK: st.column_config.NumberColumn("week", min_value=0, step=1)})
c1, c2 = st.columns([3, 1])
regimens = c1.multiselect("Regimens to compare (start at the last visit)", list(library), default=["lecanemab_q2w", "donanemab_standard"],
                          format_func=lambda n: library[n]["label"], key="twin_regimens")
horizon = c2.slider("Horizon (weeks after the last visit)", 26, 260, 104, 26, key="twin_horizon")

rows = tuple(tuple(sorted(row.items())) for row in visit_rows(patient, visits))  # hashable, for the cache
try:
    with st.spinner("Fitting the twin and forecasting..."):
        twin = cached_twin(rows, tuple(regimens), float(horizon), active_model_ref())
        show_validation_warnings(regimens)
except QSPError as exc:
    show_problems(exc)
    st.stop()

since = twin["since"]
c1, c2, c3 = st.columns(3)
c1.metric("Stage at the last visit", STAGE_LABELS[twin["stage"]])
c2.metric("Twin's CDR-SB now", "unavailable" if math.isnan(twin["cdrsb_now"]) else f"{twin['cdrsb_now']:.1f}")
c3.metric("Years since amyloid positivity", f"{since['median']:+.1f}", help=f"80% interval {since['p10']:+.1f} to {since['p90']:+.1f}; negative: in the future")
headline = horizon_headline(twin["bands"], horizon)
width = horizon_band_width(twin["bands"], C.CDRSB)
if headline is None:  # an uploaded model without CDR-SB in its mapping
    st.markdown("Untreated forecast of CDR-SB: unavailable (not in this model's mapping).")
else:
    fit_of = (patient.patient_id, twin["result"]["provenance"]["sbml_sha256"])  # the same patient on the same model
    previous = st.session_state.get("twin_previous_width")
    change = band_change_text(previous[1] if previous and previous[0] == fit_of else None, width)
    st.markdown(f"#### Untreated, {headline}")
    st.caption(f"Median and 80% band of a CDR-SB measurement at the horizon, measurement error included. {change}")
    st.session_state["twin_previous_width"] = (fit_of, width)
st.caption(f"Fit in {twin['fit_seconds']:.1f} s; effective sample size of the posterior draws {twin['ess']:.0f}.")

labels = {C.UNTREATED: "Untreated", **{name: library[name]["label"] for name in regimens}}
colours = arm_colours(labels.values())
bands = twin["bands"].assign(regimen=lambda d: d["regimen"].map(labels))
shown = set(twin["bands"]["observable"])  # an uploaded model shows only what its mapping provides
options = [o for o in (*FIT_OBSERVABLES, C.ARIA_E_RISK) if o in shown]
hold_choice("twin_observable", options)
observable = st.selectbox("Show", options, format_func=display_label, key="twin_observable")
figure = twin_figure(twin["fit"], bands, observable, colours)
st.plotly_chart(figure, key="twin_chart")

if twin["benefit"]:
    st.subheader(f"Benefit over untreated at {benefit_when(twin['benefit'])}")
    st.dataframe(benefit_table(twin["benefit"], labels), hide_index=True, key="twin_benefit")
    st.caption("CDR-SB of the same posterior draws untreated and treated (the patient's true score, no measurement error): "
               "benefit = untreated minus treated (positive: less decline); months of delay = how much earlier the untreated "
               "course reached the treated CDR-SB. 80% interval: 10th-90th percentile over the draws.")

st.subheader("Time to events (years from the last visit)")
st.dataframe(events_table(twin["events"], horizon, labels, STAGE_LABELS), hide_index=True, key="twin_events")
explain_explorer_vs_twin()

if regimens:
    st.subheader("ARIA-E risk by the horizon")
    st.dataframe(aria_risk_table(twin["bands"], labels), hide_index=True, key="twin_aria")

st.subheader("ML strata (Stratification page models)")
ensembles = st.session_state.get("strat_ensemble", {})
strata = twin_strata(patient, st.session_state.get("strat_models", {}), ensembles)
if not strata.empty:
    st.dataframe(strata, hide_index=True, key="twin_ml")
    st.caption("LightGBM models trained on the Stratification page on simulated patients, scored on this patient's latest "
               "observed values and age at the last visit (the forecast's starting point). "
               + ("p10-p90: interval over QSP parameter draws and ML refits." if ensembles else
                  "For intervals, tick 'Add 80% intervals' on the Stratification page once."))
else:
    st.info("No ML models in this session: train them on the **Stratification** page (Simulate cohort and train), "
            "then come back to see this patient's fast-progressor and responder probabilities.")

with st.expander("Estimated parameters"):
    st.dataframe(estimated_parameters(twin["summary"]).round(3), hide_index=True, key="twin_summary")
st.subheader("Save")
st.caption("Saving stores the visits (with demographics) and the fit summary under a new random id; the patient id is "
           "not stored. Keep the link between the id and the patient in your own records.")
if _auth.saving_allowed("twin_save") and st.button("Save twin", key="twin_save"):
    try:
        saved_id = TwinStore(owner=_auth.current_owner()).save(patient, saved_summary(twin, horizon, regimens))
        st.success(f"Saved as {saved_id}. Open it again under **Saved twin**.")
    except QSPError as exc:
        show_problems(exc)
st.download_button("Download patient summary (HTML)", lambda: twin_summary_html(patient, twin, labels, figure, STAGE_LABELS),
                   file_name=f"twin_{patient.patient_id}_summary.html", mime="text/html", key="twin_summary_download",
                   help="One page: inputs, forecasts with their 80% bands, benefit, ARIA-E, the figure, the model and its sha256.")
st.download_button("Download RESULT.json", json.dumps(twin["result"], indent=1), file_name=f"twin_{patient.patient_id}.json",
                   mime="application/json", key="twin_download")
