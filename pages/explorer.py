"""Continuum explorer: a patient's place on the continuum and projections with and without treatment."""

import math

import pandas as pd
import streamlit as st

from pages._common import (
    active_model_ref,
    cached_library,
    cached_projection,
    explain_explorer_vs_twin,
    hold_choice,
    model_banner,
    notice,
    show_problems,
    show_validation_warnings,
)
from pages._omex_download import explorer_omex_download
from qsp import constants as C
from qsp.errors import QSPError
from qsp.plots.report import profile_summary_html
from qsp.plots.trial import STAGE_LABELS, arm_colours, display_label, projection_figure
from qsp.population.outcomes import aria_risk_table, benefit_table, benefit_when
from qsp.population.profile import UNTREATED, parse_profile
from qsp.population.stages import tau_group_of

st.title("Continuum explorer")
notice()
st.markdown("Enter what is known about a patient today; see where they are on the continuum and how they may "
            "progress untreated and under each antibody regimen. Bands: 10th-90th percentile over patients with "
            "this profile (their individual rates are unknown and drawn from the population).")
active = model_banner()
if active is not None:
    st.caption("This uploaded model has no between-patient random effects: the bands collapse to one line per regimen.")

library = cached_library()
with st.form("explorer_form"):
    c1, c2, c3, c4 = st.columns(4)
    age = c1.number_input("Age (years)", 40.0, 100.0, 72.0, 1.0, key="explorer_age")
    sex = c2.selectbox("Sex", ["F", "M"], key="explorer_sex")
    weight = c3.number_input("Weight (kg)", 35.0, 200.0, 70.0, 1.0, key="explorer_weight")
    apoe4 = c4.selectbox("APOE4 copies", [0, 1, 2], index=1, key="explorer_apoe4")
    c1, c2, c3, c4 = st.columns(4)
    amyloid = c1.number_input("Amyloid PET (CL)", -20.0, 200.0, 90.0, 1.0, key="explorer_amyloid")
    tau = c2.number_input("Tau PET (SUVr)", 0.9, 4.0, 1.30, 0.01, key="explorer_tau")
    score_kind = c3.selectbox("Clinical score", ["MMSE", "CDR-SB", "iADRS"] if active is None else ["CDR-SB"],
                              key="explorer_score_kind" if active is None else "explorer_score_kind_mapped",
                              help=None if active is None else "An uploaded model takes CDR-SB (the MMSE and iADRS cross-walks "
                              "belong to the built-in model).")
    score = c4.number_input("Score value", 0.0, 144.0, 24.0 if active is None else 2.0, 0.5,
                            key="explorer_score" if active is None else "explorer_score_mapped")
    regimens = st.multiselect("Regimens to compare", list(library), default=["lecanemab_q2w", "donanemab_standard"],
                              format_func=lambda n: library[n]["label"], key="explorer_regimens")
    c1, c2 = st.columns(2)
    years = c1.slider("Horizon (years)", 1, 10, 5, key="explorer_years")
    n_draws = c2.slider("Patients drawn for the bands", 10, 100, 30, 10, key="explorer_draws")
    st.form_submit_button("Project", type="primary")

score_field = {"MMSE": "mmse", "CDR-SB": "cdrsb", "iADRS": "iadrs"}[score_kind]
profile = {"age": age, "sex": sex, "weight_kg": weight, "apoe4_copies": apoe4, "amyloid_cl": amyloid, "tau_suvr": tau, score_field: score}
try:
    parse_profile(profile)
    with st.spinner("Projecting..."):
        proj = cached_projection(profile, tuple(regimens), float(years), int(n_draws), active_model_ref())
        show_validation_warnings(regimens)
except QSPError as exc:
    show_problems(exc)
    st.stop()

c1, c2, c3 = st.columns(3)
c1.metric("Stage today", STAGE_LABELS[proj["stage"]])
c2.metric("CDR-SB (model)", f"{proj['severity']:.1f}")
c3.metric("Tau group", tau_group_of(tau).replace("_", "/"))

labels = {UNTREATED: "Untreated", **{name: library[name]["label"] for name in regimens}}
colours = arm_colours(labels.values())
rows = []
for name, label in labels.items():
    nxt = proj["next_stage"].get(name)
    if nxt:
        fmt = lambda v: f"> {years} y" if math.isinf(v) else f"{v:.1f} y"  # noqa: E731
        rows.append({"regimen": label, "next stage": STAGE_LABELS[nxt["stage"]], "median time": fmt(nxt["median_years"]),
                     "10th percentile": fmt(nxt["p10_years"]), "90th percentile": fmt(nxt["p90_years"])})
if rows:
    st.subheader("Time to the next stage")
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="explorer_next_stage")
explain_explorer_vs_twin()

if proj["benefit"]:
    st.subheader(f"Benefit over untreated at {benefit_when(proj['benefit'])}")
    st.dataframe(benefit_table(proj["benefit"], labels), hide_index=True, key="explorer_benefit")
    st.caption("CDR-SB of the same drawn patients untreated and treated: benefit = untreated minus treated (positive: less "
               "decline); months of delay = how much earlier the untreated course reached the treated CDR-SB. "
               "80% interval: 10th-90th percentile over the drawn patients.")

shown = set(proj["trajectories"]["observable"])  # an uploaded model shows only what its mapping provides
options = [o for o in (C.CDRSB, C.IADRS, C.MMSE, C.AMYLOID_CL, C.TAU_SUVR, C.CONC_UG_PER_ML, C.ARIA_E_RISK) if o in shown]
hold_choice("explorer_observable", options)
observable = st.selectbox("Show", options, format_func=display_label, key="explorer_observable")
trajectories = proj["trajectories"].assign(regimen=lambda d: d["regimen"].map(labels))
figure = projection_figure(trajectories, observable, colours)
st.plotly_chart(figure, key="explorer_chart")

if C.ARIA_E_RISK in shown:
    st.subheader(f"ARIA-E risk by {years} year{'s' if years > 1 else ''}")
    st.dataframe(aria_risk_table(proj["trajectories"], labels), hide_index=True, key="explorer_aria")
    st.caption("Cumulative risk of a first ARIA-E event, in %: median and 10th-90th percentile over the drawn patients "
               "(untreated: the background risk).")
st.download_button("Download patient summary (HTML)", lambda: profile_summary_html(profile, proj, labels, years, figure, active, STAGE_LABELS),
                   file_name="explorer_summary.html", mime="text/html", key="explorer_summary_download",
                   help="One page: the profile, forecasts with their 80% bands, benefit, ARIA-E, the figure, the model and its sha256.")
explorer_omex_download(profile, labels, years, active)
