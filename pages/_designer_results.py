"""Trial designer: the results section (current or stale run, compact and full tables, runs side by side)."""

import json

import streamlit as st

from pages._common import model_of
from qsp.plots.trial import arm_colours, power_curve_figure, trial_measure_figure
from qsp.trial import design as D
from qsp.trial.calibration import reference_comparison
from qsp.trial.runs import compare_runs

P = "designer_"  # widget-key prefix of the Trial designer page
ss = st.session_state


def fmt_seconds(seconds: float) -> str:
    """``40 s``, ``3 min``, ``1.5 h``."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def show_results(scenario, cached, runs, results, plain_key, active, model_ref, available) -> None:
    """The results of the current design, or of the last run marked stale, then the kept runs side by side."""
    if cached is None and not runs:
        st.info("Set the design and press **Run trial**. Results are kept per scenario for this session.")
        return
    shown = cached if cached is not None else runs[-1].run
    shown_scenario = scenario if cached is not None else runs[-1].scenario
    st.subheader("Results")
    if cached is None:
        st.warning(f"These results are from an earlier design ({runs[-1].label}); the settings have changed since. "
                   "Press **Run trial** for the current design.", icon=":material/history:")
    _tables(shown, shown_scenario, results, plain_key if cached is not None else None, active, model_ref, available)
    if len(runs) > 1:
        _compare(runs)


def _tables(cached, scenario, results, plain_key, active, model_ref, available) -> None:
    result, power, traj = cached.result, cached.power, cached.trajectories
    names = [a.name for a in scenario.arms]
    st.dataframe(D.compact_by_measure(result), hide_index=True, key=P + "compact_table")
    st.caption(f"At week {scenario.assess_weeks[-1]:g}: mean change from baseline in completers, and its difference from "
               f"{names[0]} (the reference), with 95% confidence intervals.")
    with st.expander("Full table (every endpoint, ARIA-E by APOE4, slowing %)"):
        full = D.full_summary(result, active)
        st.dataframe(full, hide_index=True, key=P + "summary_table")
        st.caption(f"Slowing % = 100 x (1 - change in arm / change in {names[0]}).")
        st.download_button("Full table (CSV)", full.to_csv(index=False), file_name=f"{scenario.name}_summary.csv",
                           key=P + "download_summary")
    if cached.enrichment:
        _enrichment(cached, scenario, results, plain_key, model_ref)
    if not power.empty:
        st.subheader("Power and sample size")
        st.dataframe(D.power_display_table(power, cached.settings.target_power).round(3), hide_index=True, key=P + "power_table")
        if not cached.power_curve.empty:
            st.plotly_chart(power_curve_figure(cached.power_curve, cached.settings.target_power, int(power["n_per_arm"].iloc[0])),
                            key=P + "power_curve")
    composition = reference_comparison(result)
    if not composition.empty:
        st.subheader(f"Enrolled population beside {scenario.reference}'s")
        st.dataframe(composition.round(2), hide_index=True, key=P + "reference_table")
        st.caption("Published baseline composition of the trial this scenario reproduces (its `reference`) against the "
                   "virtual patients enrolled with its criteria; within = inside the calibration or validation tolerance.")
    colours = arm_colours(names)
    cols = st.columns(2)
    for k, measure in enumerate(D.chart_measures(available)):  # no empty charts for an uploaded model
        cols[k % 2].plotly_chart(trial_measure_figure(traj, measure, colours), key=f"{P}chart_{measure}")
    c1, c2, c3 = st.columns(3)
    c1.download_button("Results (JSON with provenance)", json.dumps(cached.to_json(), indent=1, default=str),
                       file_name=f"{scenario.name}_result.json", key=P + "download_json")
    c2.download_button("Endpoints by week (CSV)", traj.to_csv(index=False), file_name=f"{scenario.name}_endpoints.csv", key=P + "download_csv")
    c3.download_button("Virtual patients' records (CSV)", result.records.to_csv(index=False), file_name=f"{scenario.name}_records.csv",
                       key=P + "download_records")


def _enrichment(cached, scenario, results, plain_key, model_ref) -> None:
    e = cached.enrichment
    st.info(f"Enriched enrolment: {e['screened']} patients screened for {e['enrolled']} enrolled "
            f"({e['screen_per_enrolled']:.1f} screened per enrolled patient).")
    if plain_key is None:  # a stale run: its all-comers twin belongs to another design
        return
    plain = results.get(plain_key)
    if plain is None:  # e.g. results kept from before the all-comers run existed
        with st.spinner("Running the same design without enrichment for comparison..."):
            plain = results[plain_key] = D.run_design(scenario, cached.settings, model=model_of(model_ref))
    both = D.enrichment_table(cached, plain)
    if both is not None:
        st.subheader("Enrichment against all-comers enrolment")
        st.dataframe(both.round(3), hide_index=True, key=P + "enrichment_table")


def _compare(runs) -> None:
    st.subheader(f"The last {len(runs)} runs side by side")
    st.dataframe(compare_runs(runs), hide_index=True, key=P + "compare_table")
    with st.expander("Their designs"):
        for kept in reversed(runs):
            st.markdown(f"**{kept.label}**")
            st.code(kept.design_yaml, language="yaml")
