"""Stratification: ML models trained on simulated patients, their audits, and scoring of real patients."""

import streamlit as st

from ml.data import read_patients
from ml.enrich import enrolment_filter
from ml.models import SUBGROUP_LABELS, TASKS, composition_audit
from ml.plots import calibration_figure, contributions_figure, importance_figure, precision_recall_figure, roc_figure
from ml.stratify import (
    failed_audits,
    patient_contributions,
    patients_for_scoring,
    score_patients,
    subgroup_table,
    usable_models,
    validation_table,
)
from pages._common import cached_strat_ensemble, cached_strat_models, notice, show_problems
from qsp.errors import QSPError

OUTCOME_LABELS = {"fast_progressor": "fast progressor", "responder": "responder", "aria_e_event": "ARIA-E event"}
TASK_LABELS = {"progression": "Fast progression", "responder": "Response to treatment", "aria": "ARIA-E"}  # model ids
AUDIT_COLUMNS = {"auc": "AUC", "brier": "Brier", "mean_predicted": "mean predicted", "observed_rate": "observed rate"}

P = "strat_"
ss = st.session_state
st.title("Stratification")
notice()
st.markdown(
    "LightGBM models learn, from **baseline features only**, who progresses fast, who responds to a regimen and "
    "who gets ARIA-E, using virtual patients simulated untreated *and* treated (their own counterfactuals). "
    "Defaults: a fast progressor loses at least 9 iADRS points over 76 weeks (the minimal clinically important "
    "difference in mild dementia, Wessels 2022); a responder is spared at least 5 iADRS points (the difference "
    "that matters in MCI)."
)

with st.form(P + "form"):
    c1, c2, c3, c4 = st.columns(4)
    n = c1.number_input("Virtual patients", 100, 5000, 400, 100, key=P + "n")
    seed = c2.number_input("Seed", 0, 10**6, 1, key=P + "seed")
    fast = c3.number_input("Fast progressor: iADRS drop >=", 1.0, 40.0, 9.0, 0.5, key=P + "fast")
    responder = c4.number_input("Responder: iADRS spared >=", 0.5, 40.0, 5.0, 0.5, key=P + "responder")
    st.form_submit_button("Simulate cohort and train", type="primary")  # retrains with the values above
design = (int(n), int(seed), float(fast), float(responder))

# Trained on arrival with the form's values (cached: instant when revisited); the form retrains on submit.
try:
    with st.spinner(f"Simulating {design[0]} virtual patients untreated and treated, then training the models "
                    "(a few seconds; longer the first time the natural-history pool is built)..."):
        cohort, models = cached_strat_models(*design)
    ss[P + "models"] = usable_models(models)  # what the Digital twin reads: only models that passed the audit
except QSPError as exc:
    show_problems(exc)
    st.stop()

st.subheader("Validation")
st.dataframe(validation_table(models).round(3).replace({"outcome": OUTCOME_LABELS}), hide_index=True, key=P + "metrics")
for failed_task, why in failed_audits(models).items():
    st.error(f"**{TASK_LABELS.get(failed_task, failed_task)} model: audit FAILED**: {why}. This model is not used for the Digital twin's strata or for "
             "enrichment; train on more virtual patients.", icon="🚫")
st.caption("Leakage checks that ran: " + "; ".join(next(iter(models.values())).metrics["leakage_checks"]) + ".")

task = st.selectbox("Model", list(TASKS), format_func=lambda t: TASK_LABELS.get(t, t), key=P + "task")
model = models[task]
curves = model.metrics.get("curves", {})
if curves:
    cols = st.columns(3)
    cols[0].plotly_chart(roc_figure(curves, model.metrics.get("auc_events", model.metrics["auc"])), key=P + "roc")  # the curve is on events
    cols[1].plotly_chart(precision_recall_figure(curves), key=P + "pr")
    cols[2].plotly_chart(calibration_figure(curves), key=P + "cal")
st.subheader("Bias audit")
st.dataframe(subgroup_table(model).round(3).replace({"group": SUBGROUP_LABELS}).rename(columns=AUDIT_COLUMNS),
             hide_index=True, key=P + "audit")
for warning in model.metrics["subgroups"]["warnings"] + composition_audit(cohort)["warnings"]:
    st.warning(warning)

st.plotly_chart(importance_figure(model.importance()), key=P + "importance")

st.subheader("Score your patients")
upload = st.file_uploader("Patient CSV (project schema; ADNI-style names are mapped)", type=["csv"], key=P + "upload")
if upload is not None:
    try:
        visits, report = read_patients(upload.getvalue())
    except QSPError as exc:
        show_problems(exc, where=f"{upload.name}: ")
        st.stop()
    for line in visits.attrs.get("text_in_numbers", []):
        st.warning(f"{upload.name}, {line}: scored as missing. Fix the cell to score it.")
    with st.expander(f"How the file was read ({len(report)} notes)"):
        for line in report:
            st.write("- " + line)
    base, exposure_notes = patients_for_scoring(visits)
    grids = None
    if st.checkbox("Add 80% intervals from QSP parameter uncertainty and the ML model (slower)", key=P + "intervals"):
        with st.spinner("Repeating the QSP -> ML chain over parameter draws..."):
            grids = ss[P + "ensemble"] = cached_strat_ensemble(*design)  # the Digital twin page shows intervals with it
    st.dataframe(score_patients(models, base, grids).round(3), hide_index=True, key=P + "scores")
    st.caption("ARIA-E uses each patient's exposure and plaque removal simulated on donanemab standard dosing."
               + (" " + "; ".join(exposure_notes) if exposure_notes else ""))
    if task in ("progression", "responder") and len(base):
        who = st.selectbox("Explain a patient", list(base["patient_id"]), key=P + "explain")
        st.plotly_chart(contributions_figure(patient_contributions(model, base, who), who), key=P + "contrib")

st.subheader("Send an enrichment to the trial designer")
c1, c2 = st.columns([2, 1])
rule = c1.text_input("Enrol only patients where", "responder>0.5", key=P + "rule", help="progression>P, responder>P (P a probability)")
if c2.button("Use in Trial designer", key=P + "send"):
    try:
        enrolment_filter(models, rule)  # refuses a malformed rule and a model that failed its audit
        ss["designer_enrichment"] = {"rule": rule, "models": models}
        st.success(f"Trial designer will enrol only patients with {rule}. Open the Trial designer page.")
    except QSPError as exc:
        show_problems(exc)
