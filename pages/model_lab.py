"""Model lab: upload SBML or paste Antimony; validation report, tables, simulation, sensitivity, library, diff."""

import pandas as pd
import streamlit as st

from pages._common import (
    ACTIVE_MODEL,
    cached_dosed_model,
    cached_model_views,
    keep,
    notice,
    remember,
    show_problems,
)
from pages._lab_archive import archive_section
from pages._lab_cache import cached_export_antimony, cached_import_antimony, cached_related_parameters, check_in_background
from pages._lab_format import number_columns
from pages._lab_library import diff_tab, library_expander, save_form
from pages._lab_mapping import mapping_tab
from qsp.engine.model import Model
from qsp.errors import InvalidInput, QSPError
from qsp.lab.check import DEFAULT_LIMITS, LabLimits
from qsp.lab.export import lab_archive
from qsp.lab.model_lab import default_outputs, local_sensitivity, output_ids, rangeable_parameters, simulate_lab
from qsp.lab.sensitivity import DEFAULT_BUDGET, DEFAULT_TIME_LIMIT_S, default_ranges, global_sensitivity
from qsp.plots.lab import morris_figure, sensitivity_figure, sobol_figure, timecourse_figure

EXAMPLE = "model decay\n  A -> B; k*A\n  A = 10; B = 0; k = 0.5\nend\n"
VERDICT_TEXT = {
    "simulatable": ":green[simulatable]",
    "invalid": ":red[invalid SBML]",
    "refused": ":red[refused]",
    "unsupported": ":orange[not simulatable by roadrunner]",
}

st.title("Model lab")
notice()
if st.session_state.get(ACTIVE_MODEL):
    st.caption(f"The explorer, trial designer and twin now run **{st.session_state[ACTIVE_MODEL]['name']}** (mapped here); "
               "load it again below to change its mapping.")
st.markdown("Bring your own model: upload an SBML file, paste Antimony, or run a COMBINE archive (`.omex`). Every text "
            "is checked before any parser sees it, validated with libsbml and compiled in a separate, time- and "
            "memory-limited process; large models compile in the background.")

with st.expander("Limits applied to models", expanded=False):
    c1, c2, c3, c4 = st.columns(4)
    max_components = c1.number_input("Components at most", 10, 1_000_000, DEFAULT_LIMITS.max_components, 1000,
                                     key="lab_max_components")
    timeout_s = c2.number_input("Time limit (s)", 1.0, 600.0, DEFAULT_LIMITS.timeout_s, 1.0, key="lab_timeout")
    per_component = c3.number_input("Extra time per component (s)", 0.0, 1.0, DEFAULT_LIMITS.timeout_per_component_s,
                                    0.01, format="%g", key="lab_timeout_per_component")
    memory_mb = c4.number_input("Memory limit (MB)", 512, 16_000, DEFAULT_LIMITS.memory_mb, 256, key="lab_memory")
    limits = LabLimits(max_components=int(max_components), timeout_s=float(timeout_s),
                       timeout_per_component_s=float(per_component), memory_mb=int(memory_mb))
    for line in limits.describe():
        st.markdown(f"- {line}")
    st.caption("Defaults come from the environment (`QSP_LAB_MAX_COMPONENTS`, `QSP_LAB_TIMEOUT_S`, "
               "`QSP_LAB_TIMEOUT_PER_COMPONENT_S`, `QSP_LAB_MAX_TIMEOUT_S`, `QSP_LAB_MEMORY_MB`, `QSP_LAB_MAX_BYTES`); "
               "the command line takes `--timeout`.")


store, entries = library_expander()

for key, default in (("lab_source", "Paste Antimony"), ("lab_antimony", EXAMPLE), ("lab_sbml_text", "")):
    remember("lab", key, default)  # kept while the user visits another page (an uploaded file cannot be)
keep("lab")
source = st.radio("Model source", ["Paste Antimony", "Upload SBML", "Paste SBML", "COMBINE archive / SED-ML"],
                  horizontal=True, key="lab_source")
if source == "COMBINE archive / SED-ML":
    archive_section(limits)
    st.stop()
sbml = None
try:
    if source == "Paste Antimony":
        text = st.text_area("Antimony", height=180, key="lab_antimony")
        sbml = cached_import_antimony(text, limits.model_dump()) if text.strip() else None
    elif source == "Upload SBML":
        upload = st.file_uploader("SBML file", type=["xml", "sbml"], key="lab_upload")
        sbml = upload.getvalue().decode("utf-8", errors="replace") if upload else None
        if upload:
            st.session_state["lab_model_name"] = upload.name.rsplit(".", 1)[0][:120]
    else:
        text = st.text_area("SBML", height=180, key="lab_sbml_text")
        sbml = text if text.strip() else None
except QSPError as exc:
    show_problems(exc, "Antimony: ")
    st.stop()
if sbml is None:
    st.info("Paste or upload a model to check it.")
    st.stop()

report = check_in_background(sbml, limits)

st.subheader("Validation report")
c1, c2, c3 = st.columns(3)
c1.markdown(f"**Verdict:** {VERDICT_TEXT[report.verdict]}")
c2.markdown(f"**SBML level/version:** {report.level}/{report.version}")
c3.markdown(f"**Components:** {report.counts.get('total', 0):,}")
st.caption(report.summary)
for item in report.unsupported:
    st.error(f"{item.reason}. What you can do: {item.what_to_do}.", icon=":material/block:")
if report.counts:
    st.dataframe(pd.DataFrame([report.counts]), hide_index=True, key="lab_counts")
issues = pd.DataFrame([i.to_json() for i in report.issues], columns=["severity", "code", "message"])
st.dataframe(issues, hide_index=True, key="lab_issues")
if not report.ok:
    with st.expander("This model as Antimony"):
        try:
            text = cached_export_antimony(sbml, limits.model_dump())
        except QSPError as exc:
            show_problems(exc, "Antimony: ")
        else:
            st.code(text, language=None)
            st.download_button("Download Antimony", text, "model.ant", mime="text/plain", key="lab_antimony_download_bad")
    st.stop()

model = Model(sbml, name="lab")
save_form(store, sbml)
views = cached_model_views(sbml)
tabs = st.tabs(["Simulate", "Model tables", "Antimony", "Local sensitivity", "Global sensitivity", "Diff", "Observable mapping"])

with tabs[1]:
    for name, table in views["tables"].items():
        st.markdown(f"**{name.capitalize()}** ({len(table)})")
        if len(table):
            st.dataframe(table, hide_index=True, column_config=number_columns(table), key=f"lab_table_{name}")

with tabs[2]:
    st.code(views["antimony"], language=None)
    st.download_button("Download Antimony", views["antimony"], "model.ant", mime="text/plain", key="lab_antimony_download")

with tabs[0]:
    choices = list(output_ids(model))
    c1, c2 = st.columns(2)
    end = c1.number_input("End time (model time units)", 0.001, 1e9, 10.0, key="lab_end")
    points = c2.number_input("Time points", 2, 10_001, 101, key="lab_points")
    if st.session_state.get("lab_outputs_for") != model.sha256 or not set(st.session_state.get("lab_outputs") or []) <= set(choices):
        st.session_state["lab_outputs"] = list(default_outputs(model))  # a new model: preselect what is plotted
        st.session_state["lab_outputs_for"] = model.sha256
    outputs = st.multiselect("Outputs", choices, key="lab_outputs")
    changed = st.multiselect("Parameters to change", list(model.parameter_ids), key="lab_params")
    values = {}
    cols = st.columns(3)
    for i, pid in enumerate(changed):
        values[pid] = cols[i % 3].number_input(pid, value=float(model.defaults[pid]), format="%g", key=f"lab_param_{pid}")
    with st.expander("Repeated dosing"):
        dose_on = st.checkbox("Add repeated doses to a species", key="lab_dose_on")
        c1, c2, c3, c4, c5 = st.columns(5)
        dose_species = c1.selectbox("Species", list(model.species_ids), key="lab_dose_species")
        dose_amount = c2.number_input("Amount (substance units)", 0.0, 1e12, 1.0, key="lab_dose_amount")
        dose_every = c3.number_input("Every (time units)", 0.0, 1e9, 1.0, key="lab_dose_every")
        dose_count = c4.number_input("Doses", 1, 10_000, 3, key="lab_dose_count")
        dose_start = c5.number_input("First at", 0.0, 1e9, 0.0, key="lab_dose_start")
    try:
        if not outputs:
            raise InvalidInput("Outputs: choose at least one output to simulate and plot")
        sim_model = model
        if dose_on:
            sim_model = cached_dosed_model(sbml, dose_species, float(dose_amount), float(dose_every), int(dose_count), float(dose_start))
        with st.spinner("Simulating (the first run of a large model compiles it first, which can take a minute)..."):
            result = simulate_lab(sim_model, float(end), int(points), tuple(outputs), values)
    except QSPError as exc:
        show_problems(exc)  # the other tabs still work
    else:
        st.caption(f"Plotted: {', '.join(outputs)} ({len(outputs)} of {len(choices)} outputs; species as amounts).")
        st.plotly_chart(timecourse_figure(result), key="lab_chart")
        st.dataframe(result, hide_index=True, column_config=number_columns(result), key="lab_result")
        c1, c2 = st.columns(2)
        c1.download_button("Download CSV", result.to_csv(index=False), "simulation.csv", key="lab_download")
        try:
            c2.download_button("Download as COMBINE archive (.omex)", lab_archive(sim_model, result, values),
                               "simulation.omex", mime="application/zip", key="lab_download_omex",
                               help="The model as simulated (dosing included), SED-ML with these settings and the "
                                    "results: tellurium, COPASI or BioSimulations re-run it.")
        except QSPError as exc:
            show_problems(exc, "Archive: ")

with tabs[3]:
    c1, c2 = st.columns(2)
    sens_output = c1.selectbox("Output", choices, key="lab_sens_output")
    sens_end = c2.number_input("At time", 0.001, float(end), float(end), key=f"lab_sens_end_{end:g}",
                               help="At most the end time of the simulation; follows it when it changes.")
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
        st.dataframe(sens, hide_index=True, column_config=number_columns(sens), key="lab_sens_table")

with tabs[4]:
    st.markdown("Sobol (variance shares, first order and total) or Morris (elementary-effects screening) of one output "
                "at one time, each chosen parameter uniform over its range. Runs stop at the evaluation budget or "
                "the time limit, whichever comes first.")
    c1, c2, c3 = st.columns(3)
    gsa_method = c1.radio("Method", ["sobol", "morris"], horizontal=True, key="lab_gsa_method",
                          format_func={"sobol": "Sobol", "morris": "Morris"}.get)
    gsa_output = c2.selectbox("Output", choices, key="lab_gsa_output")
    gsa_time = c3.number_input("At time", 0.001, float(end), float(end), key=f"lab_gsa_time_{end:g}",
                               help="At most the end time of the simulation; follows it when it changes.")
    nonzero = rangeable_parameters(model)
    related = [p for p in cached_related_parameters(model.sha256, gsa_output, model) if p in nonzero]
    gsa_params = st.multiselect("Parameters to vary (zero-valued ones have no relative range)", nonzero,
                                default=(related or nonzero)[:5],  # per model and output: new defaults
                                key=f"lab_gsa_params_{model.sha256[:12]}_{gsa_output}")
    st.caption(f"Preselected: parameters {gsa_output} depends on through its reactions, rules and events "
               f"({len(related)} found), nearest first." if related else
               f"No parameter of the model affects {gsa_output}: the first parameters are preselected.")
    c1, c2, c3 = st.columns(3)
    gsa_rel = c1.number_input("Range ± % around the value", 1.0, 99.0, 50.0, 5.0, key="lab_gsa_rel")
    gsa_budget = c2.number_input("Evaluation budget", 10, 200_000, DEFAULT_BUDGET, 100, key="lab_gsa_budget")
    gsa_limit = c3.number_input("Time limit (s)", 1.0, 3600.0, DEFAULT_TIME_LIMIT_S, 10.0, key="lab_gsa_limit")
    custom = {}
    with st.expander("Ranges per parameter (default: ± the percentage above)"):
        for pid, (low, high) in default_ranges(model, gsa_params, gsa_rel / 100).items():
            c1, c2 = st.columns(2)
            tag = f"{model.sha256[:12]}_{pid}_{gsa_rel:g}"  # new defaults when the model or the percentage changes
            custom[pid] = (c1.number_input(f"{pid} low", value=float(low), format="%g", key=f"lab_gsa_lo_{tag}"),
                           c2.number_input(f"{pid} high", value=float(high), format="%g", key=f"lab_gsa_hi_{tag}"))
    if st.button("Run global sensitivity", key="lab_gsa_run"):
        bar = st.progress(0.0, text="Starting...")

        def _progress(done: int, total: int) -> None:
            if done == total or done % max(total // 100, 1) == 0:
                bar.progress(done / total, text=f"{done:,} of {total:,} model evaluations")

        try:
            st.session_state["lab_gsa_result"] = (model.sha256, global_sensitivity(
                model, gsa_output, float(gsa_time), custom, gsa_method, int(gsa_budget), float(gsa_limit),
                fixed=values, progress=_progress))
        except QSPError as exc:
            bar.empty()
            show_problems(exc)
    sha, gsa = st.session_state.get("lab_gsa_result", (None, None))
    if gsa is not None and sha == model.sha256:
        st.caption(f"{gsa.method.capitalize()} of {gsa.output} at time {gsa.time:g}: "
                   f"{gsa.n_evaluations:,} evaluations in {gsa.seconds:.1f} s.")
        fig = sobol_figure(gsa.table, gsa.output) if gsa.method == "sobol" else morris_figure(gsa.table, gsa.output)
        st.plotly_chart(fig, key="lab_gsa_chart")
        st.dataframe(gsa.table, hide_index=True, column_config=number_columns(gsa.table), key="lab_gsa_table")

with tabs[5]:
    diff_tab(store, entries, sbml)

with tabs[6]:
    mapping_tab(model, sbml)
