"""Credibility: the built-in model against every published result it was calibrated on."""

import pandas as pd
import streamlit as st

from pages._common import notice
from qsp.plots.trial import arm_colours, targets_figure, trial_measure_figure
from qsp.trial.calibration import load_validation_snapshot, validation_run

st.title("Credibility")
notice()
st.markdown(
    "The built-in model against the published results of **CLARITY AD** (van Dyck 2023, NEJM) and "
    "**TRAILBLAZER-ALZ 2** (Sims 2023, JAMA), each reproduced by a virtual trial with the trial's inclusion "
    "criteria and regimens (`data/scenarios/`).\n\n"
    "**All 25 numbers below were used for calibration**: they are targets the model was fitted to, so "
    "agreement here shows the model *can* reproduce them, not that it predicts new trials. Only the "
    "parameters marked *calibrated* in the parameter table were fitted; everything else comes from "
    "publications or stated assumptions (see `models_sbml/README.md`). Aducanumab and gantenerumab were "
    "not fitted to any trial result."
)


@st.cache_data(show_spinner=False)
def _live_run() -> dict:
    bar = st.progress(0.0, text="Running the calibration trials...")
    snapshot = validation_run(progress=lambda f: bar.progress(min(f, 1.0), text=f"Running the calibration trials... {100 * f:.0f}%"))
    bar.empty()
    return snapshot


snapshot = load_validation_snapshot()
if snapshot is None:
    st.info("No stored validation run for this model version: running the calibration trials now (about a minute).")
    snapshot = _live_run()
else:
    st.caption("Showing the stored validation run of this exact model (same SBML sha256); "
               "`python -m qsp validate-targets --snapshot` re-creates it.")

table = pd.DataFrame(snapshot["table"])
n_pass = int(table["pass"].sum())
c1, c2 = st.columns(2)
c1.metric("Targets within tolerance", f"{n_pass} of {len(table)}")
c2.metric("Model (SBML sha256)", snapshot["sbml_sha256"][:12])

shown = table[["trial", "arm", "population", "measure", "apoe4_copies", "week", "value", "model", "difference", "tolerance", "pass", "source"]]
shown = shown.rename(columns={"value": "published", "apoe4_copies": "APOE4"}).fillna({"APOE4": "all"})
st.dataframe(shown.round(2), hide_index=True, key="credibility_table")
st.plotly_chart(targets_figure(table), key="credibility_targets")

st.subheader("Simulated trial curves with the published results")
labels = {"clarity_ad": "CLARITY AD", "trailblazer_alz2_low_medium_tau": "TRAILBLAZER-ALZ 2, low/medium tau",
          "trailblazer_alz2_combined": "TRAILBLAZER-ALZ 2, combined (low/medium + high tau as enrolled)"}
scenario = st.selectbox("Trial", list(snapshot["trajectories"]), format_func=lambda n: labels.get(n, n), key="credibility_trial")
traj = pd.DataFrame(snapshot["trajectories"][scenario])
colours = arm_colours(list(dict.fromkeys(traj["arm"])))
published = table[(table["scenario"] == scenario) & ~table["arm"].str.contains(" vs ") & table["apoe4_copies"].isna()]
cols = st.columns(2)
for k, measure in enumerate(sorted(set(published["measure"]) | {"amyloid_cl_change"})):
    fig = trial_measure_figure(traj, measure, colours)
    for row in published[published["measure"] == measure].itertuples():
        fig.add_scatter(x=[row.week], y=[row.value], mode="markers", marker={"symbol": "x", "size": 14, "color": colours.get(row.arm, "black")},
                        name=f"published: {row.arm}", hovertemplate=f"published {row.arm}: {row.value}<extra></extra>")
    cols[k % 2].plotly_chart(fig, key=f"credibility_chart_{measure}")
