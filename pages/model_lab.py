"""Model lab: upload SBML or paste Antimony; validation report, model tables, simulation, local sensitivity."""

import pandas as pd
import streamlit as st

from pages._common import cached_check_sbml, cached_model_views, notice, show_problems
from qsp.errors import QSPError
from qsp.lab_plots import sensitivity_figure, timecourse_figure
from qsp.model import Model, antimony_to_sbml
from qsp.model_lab import local_sensitivity, output_ids, simulate_lab
from qsp.sbml_check import DEFAULT_LIMITS, LabLimits

EXAMPLE = "model decay\n  A -> B; k*A\n  A = 10; B = 0; k = 0.5\nend\n"
VERDICT_TEXT = {
    "simulatable": ":green[simulatable]",
    "invalid": ":red[invalid SBML]",
    "refused": ":red[refused]",
    "unsupported": ":orange[not simulatable by roadrunner]",
}

st.title("Model lab")
notice()
st.markdown("Bring your own model: upload an SBML file or paste Antimony. Every text is checked before any "
            "parser sees it, validated with libsbml and compiled in a separate, time- and memory-limited process.")

with st.expander("Limits applied to models", expanded=False):
    c1, c2, c3 = st.columns(3)
    max_components = c1.number_input("Components at most", 10, 1_000_000, DEFAULT_LIMITS.max_components, 1000,
                                     key="lab_max_components")
    timeout_s = c2.number_input("Time limit (s)", 1.0, 120.0, DEFAULT_LIMITS.timeout_s, 1.0, key="lab_timeout")
    memory_mb = c3.number_input("Memory limit (MB)", 512, 16_000, DEFAULT_LIMITS.memory_mb, 256, key="lab_memory")
    limits = LabLimits(max_components=int(max_components), timeout_s=float(timeout_s), memory_mb=int(memory_mb))
    for line in limits.describe():
        st.markdown(f"- {line}")

source = st.radio("Model source", ["Paste Antimony", "Upload SBML", "Paste SBML"], horizontal=True, key="lab_source")
sbml = None
try:
    if source == "Paste Antimony":
        text = st.text_area("Antimony", EXAMPLE, height=180, key="lab_antimony")
        sbml = antimony_to_sbml(text, max_bytes=limits.max_bytes) if text.strip() else None
    elif source == "Upload SBML":
        upload = st.file_uploader("SBML file", type=["xml", "sbml"], key="lab_upload")
        sbml = upload.getvalue().decode("utf-8", errors="replace") if upload else None
    else:
        text = st.text_area("SBML", "", height=180, key="lab_sbml_text")
        sbml = text if text.strip() else None
except QSPError as exc:
    show_problems(exc, "Antimony: ")
    st.stop()
if sbml is None:
    st.info("Paste or upload a model to check it.")
    st.stop()

with st.spinner("Checking the model..."):
    report = cached_check_sbml(sbml, limits.model_dump())

st.subheader("Validation report")
c1, c2, c3 = st.columns(3)
c1.markdown(f"**Verdict:** {VERDICT_TEXT[report['verdict']]}")
c2.markdown(f"**SBML level/version:** {report['level']}/{report['version']}")
c3.markdown(f"**Components:** {report['counts'].get('total', 0):,}")
for item in report["unsupported"]:
    st.error(f"{item['reason']}. What you can do: {item['what_to_do']}.", icon=":material/block:")
if report["counts"]:
    st.dataframe(pd.DataFrame([report["counts"]]), hide_index=True, key="lab_counts")
issues = pd.DataFrame(report["issues"], columns=["severity", "code", "message"])
st.dataframe(issues, hide_index=True, key="lab_issues")
if not report["ok"]:
    st.stop()

model = Model(sbml, name="lab")
views = cached_model_views(sbml)
tabs = st.tabs(["Simulate", "Model tables", "Antimony", "Local sensitivity"])

with tabs[1]:
    for name, table in views["tables"].items():
        st.markdown(f"**{name.capitalize()}** ({len(table)})")
        if len(table):
            st.dataframe(table, hide_index=True, key=f"lab_table_{name}")

with tabs[2]:
    st.code(views["antimony"], language=None)

with tabs[0]:
    choices = list(output_ids(model))
    c1, c2 = st.columns(2)
    end = c1.number_input("End time (model time units)", 0.001, 1e9, 10.0, key="lab_end")
    points = c2.number_input("Time points", 2, 10_001, 101, key="lab_points")
    outputs = st.multiselect("Outputs", choices, default=choices[:5], key="lab_outputs")
    changed = st.multiselect("Parameters to change", list(model.parameter_ids), key="lab_params")
    values = {}
    cols = st.columns(3)
    for i, pid in enumerate(changed):
        values[pid] = cols[i % 3].number_input(pid, value=float(model.defaults[pid]), format="%g", key=f"lab_param_{pid}")
    try:
        result = simulate_lab(model, float(end), int(points), tuple(outputs), values)
    except QSPError as exc:
        show_problems(exc)
        st.stop()
    st.plotly_chart(timecourse_figure(result), key="lab_chart")
    st.dataframe(result, hide_index=True, key="lab_result")
    st.download_button("Download CSV", result.to_csv(index=False), "simulation.csv", key="lab_download")

with tabs[3]:
    c1, c2 = st.columns(2)
    sens_output = c1.selectbox("Output", choices, key="lab_sens_output")
    sens_end = c2.number_input("At time", 0.001, 1e9, float(end), key="lab_sens_end")
    if len(model.parameter_ids) > 200:
        st.warning(f"{len(model.parameter_ids)} parameters: local sensitivity is limited to models with at most 200.")
    elif st.button("Compute scaled sensitivities", key="lab_sens_run"):
        try:
            with st.spinner("Simulating 2 runs per parameter..."):
                sens = local_sensitivity(model, sens_output, float(sens_end), values)
        except QSPError as exc:
            show_problems(exc)
            st.stop()
        st.plotly_chart(sensitivity_figure(sens, sens_output), key="lab_sens_chart")
        st.dataframe(sens, hide_index=True, key="lab_sens_table")
