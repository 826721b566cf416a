"""Stratification: ML models trained on simulated patients, their audits, and scoring of real patients."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ml.cli import parse_rule
from ml.cohort import CohortSettings, Thresholds, simulate_cohort
from ml.data import baseline_rows, read_patients
from ml.models import TASKS, composition_audit, train_task
from ml.qsp_features import add_qsp_features
from ml.uncertainty import ensemble, predict_with_uncertainty
from pages._common import notice, show_problems
from qsp.errors import QSPError

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
    trained = st.form_submit_button("Simulate cohort and train", type="primary")


@st.cache_resource(show_spinner=False, max_entries=8)
def _train(n: int, seed: int, fast: float, responder: float):
    settings = CohortSettings(n=n, seed=seed, thresholds=Thresholds(fast_progressor_iadrs_drop=fast, responder_iadrs_benefit=responder))
    cohort = simulate_cohort(settings)
    return cohort, {task: train_task(cohort, task, seed=seed) for task in TASKS}


@st.cache_resource(show_spinner=False, max_entries=4)
def _ensemble(n: int, seed: int, fast: float, responder: float):
    settings = CohortSettings(n=n, seed=seed, thresholds=Thresholds(fast_progressor_iadrs_drop=fast, responder_iadrs_benefit=responder))
    return ensemble(settings, tuple(TASKS), n_draws=3, n_boot=2, seed=seed)


if trained or P + "models" in ss:
    try:
        with st.spinner("Simulating the cohort and training the models..."):
            cohort, models = _train(int(n), int(seed), float(fast), float(responder))
        ss[P + "models"] = models
    except QSPError as exc:
        show_problems(exc)
        st.stop()
else:
    st.info("Press **Simulate cohort and train**.")
    st.stop()

rows = [{"model": task, "outcome": m.label, "AUC (held-out)": m.metrics["auc"], "AUC with shuffled labels": m.metrics["auc_shuffled"],
         "Brier": m.metrics["brier"], "prevalence": m.metrics["prevalence"], "train/test patients": f"{m.metrics['n_train']}/{m.metrics['n_test']}",
         "shuffle check": "passed" if m.metrics["shuffle_check_passed"] else "FAILED"} for task, m in models.items()]
st.subheader("Validation")
st.dataframe(pd.DataFrame(rows).round(3), hide_index=True, key=P + "metrics")
st.caption("Leakage checks that ran: " + "; ".join(next(iter(models.values())).metrics["leakage_checks"]) + ".")

task = st.selectbox("Model", list(TASKS), key=P + "task")
model = models[task]
curves = model.metrics.get("curves", {})
if curves:
    cols = st.columns(3)
    roc = go.Figure([go.Scatter(x=curves["roc"]["fpr"], y=curves["roc"]["tpr"], name="model"),
                     go.Scatter(x=[0, 1], y=[0, 1], name="chance", line={"dash": "dash"})])
    roc.update_layout(title=f"ROC (AUC {model.metrics['auc']:.2f})", xaxis_title="False-positive rate", yaxis_title="True-positive rate", height=330)
    pr = go.Figure(go.Scatter(x=curves["pr"]["recall"], y=curves["pr"]["precision"], name="model"))
    pr.update_layout(title="Precision-recall", xaxis_title="Recall", yaxis_title="Precision", height=330)
    cal = go.Figure([go.Scatter(x=curves["calibration"]["predicted"], y=curves["calibration"]["observed"], mode="lines+markers", name="model"),
                     go.Scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dash"})])
    cal.update_layout(title="Calibration", xaxis_title="Predicted probability", yaxis_title="Observed rate", height=330)
    cols[0].plotly_chart(roc, key=P + "roc")
    cols[1].plotly_chart(pr, key=P + "pr")
    cols[2].plotly_chart(cal, key=P + "cal")
st.subheader("Bias audit")
audit = model.metrics["subgroups"]
table = [{"group": g, "level": lvl, **vals} for g, levels in audit["groups"].items() for lvl, vals in levels.items()]
st.dataframe(pd.DataFrame(table).round(3), hide_index=True, key=P + "audit")
composition = composition_audit(cohort)
for warning in audit["warnings"] + composition["warnings"]:
    st.warning(warning)

imp = model.importance()
fig = go.Figure(go.Bar(x=imp.values, y=imp.index, orientation="h", hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
fig.update_layout(title="Global importance (share of gain)", xaxis_title="Share of total gain", height=340, margin={"l": 160})
st.plotly_chart(fig, key=P + "importance")

st.subheader("Score your patients")
upload = st.file_uploader("Patient CSV (project schema; ADNI-style names are mapped)", type=["csv"], key=P + "upload")
if upload is not None:
    try:
        visits, report = read_patients(upload.getvalue())
    except QSPError as exc:
        show_problems(exc, where=f"{upload.name}: ")
        st.stop()
    with st.expander(f"How the file was read ({len(report)} notes)"):
        for line in report:
            st.write("- " + line)
    base = baseline_rows(visits)
    base, exposure_notes = add_qsp_features(base, "donanemab_standard")
    scores = base[["patient_id"]].copy()
    for name, m in models.items():
        scores[f"{name} probability"] = m.predict(base)
    intervals = st.checkbox("Add 80% intervals from QSP parameter uncertainty and the ML model (slower)", key=P + "intervals")
    if intervals:
        with st.spinner("Repeating the QSP -> ML chain over parameter draws..."):
            grids = _ensemble(int(n), int(seed), float(fast), float(responder))
            ss[P + "ensemble"] = grids  # the Digital twin page shows intervals with it
        for name, (grid, features) in grids.items():
            bands = predict_with_uncertainty(grid, features, base)
            scores[f"{name} p10"], scores[f"{name} p90"] = bands["p10"].to_numpy(), bands["p90"].to_numpy()
            scores[f"{name} variance from QSP parameters"] = (bands["var_qsp_parameters"] / bands["var_total"]).to_numpy()
    st.dataframe(scores.round(3), hide_index=True, key=P + "scores")
    st.caption("ARIA-E uses each patient's exposure and plaque removal simulated on donanemab standard dosing."
               + (" " + "; ".join(exposure_notes) if exposure_notes else ""))
    if task in ("progression", "responder") and len(base):
        who = st.selectbox("Explain a patient", list(base["patient_id"]), key=P + "explain")
        contrib = model.contributions(base[base["patient_id"] == who]).iloc[0].drop("bias").sort_values()
        fig = go.Figure(go.Bar(x=contrib.values, y=contrib.index, orientation="h"))
        fig.update_layout(title=f"Feature contributions for {who} (log-odds, LightGBM)", height=340, margin={"l": 160})
        st.plotly_chart(fig, key=P + "contrib")

st.subheader("Send an enrichment to the trial designer")
c1, c2 = st.columns([2, 1])
rule = c1.text_input("Enrol only patients where", "responder>0.5", key=P + "rule", help="progression>P, responder>P (P a probability)")
if c2.button("Use in Trial designer", key=P + "send"):
    try:
        parse_rule(rule)
        ss["designer_enrichment"] = {"rule": rule, "models": models}
        st.success(f"Trial designer will enrol only patients with {rule}. Open the Trial designer page.")
    except QSPError as exc:
        show_problems(exc)
