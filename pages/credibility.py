"""Credibility: the built-in model against the published results it was calibrated on, and apart, those it never saw."""

import pandas as pd
import streamlit as st

from pages._common import notice
from qsp.plots.trial import arm_colours, measure_label, targets_figure, trial_measure_figure
from qsp.trial.calibration import load_validation_snapshot, scenario_title, validation_run

COLUMNS = ["trial", "arm", "population", "measure", "apoe4_copies", "week", "value", "model", "difference", "tolerance",
           "pass", "source"]

st.title("Credibility")
notice()
st.markdown(
    "The built-in model against published trial results, each reproduced by one virtual trial with the trial's "
    "published inclusion criteria, regimens and stop rules (`data/scenarios/`). Two sets, kept apart:\n\n"
    "- **Calibration targets** (`data/calibration_targets.csv`): the model was fitted to these (means, spread of "
    "change, enrolled composition, ARIA-E, the natural-history clock, a negative trial and a titration trial). "
    "Agreement shows the model *can* reproduce them, not that it predicts.\n"
    "- **Validation targets** (`data/validation_targets.csv`): published results calibration never used (other "
    "trials, arms and times). This is the test of prediction.\n\n"
    "Only the parameters marked *calibrated* in the parameter table were fitted; everything else comes from "
    "publications or stated assumptions (see `models_sbml/README.md`, which also lists what the model gets wrong)."
)


@st.cache_data(show_spinner=False)
def _live_run() -> dict:
    bar = st.progress(0.0, text="Running the calibration and validation trials...")
    snapshot = validation_run(progress=lambda f: bar.progress(min(f, 1.0), text=f"Running the trials... {100 * f:.0f}%"))
    bar.empty()
    return snapshot


def _show_table(table: pd.DataFrame, key: str) -> None:
    shown = table[COLUMNS].rename(columns={"value": "published", "apoe4_copies": "APOE4"}).fillna({"APOE4": "all"})
    shown["RESULT.json key"] = shown["measure"]  # last: a wide column that would push the numbers out of view
    shown["measure"] = shown["measure"].map(measure_label)
    st.dataframe(shown.round(2), hide_index=True, key=f"credibility_{key}_table")
    failing = shown[~shown["pass"].astype(bool)]
    if len(failing):
        st.warning(f"{len(failing)} outside tolerance: " + "; ".join(
            f"{r.trial} {r.arm} {r.measure} (published {r.published:g}, model {r.model:.2f})" for r in failing.itertuples()))


snapshot = load_validation_snapshot()
if snapshot is None:
    st.info("No stored run for this model version: running the calibration and validation trials now (a few minutes).")
    snapshot = _live_run()
else:
    st.caption("Showing the stored run of this exact model (same SBML sha256); "
               "`python -m qsp validate-targets --snapshot` re-creates it.")

table = pd.DataFrame(snapshot["table"])
validation = pd.DataFrame(snapshot.get("validation_table") or {c: [] for c in COLUMNS + ["scenario"]})
c1, c2, c3 = st.columns(3)
c1.metric("Calibration targets within tolerance", f"{int(table['pass'].sum())} of {len(table)}")
c2.metric("Validation targets within tolerance", f"{int(validation['pass'].astype(bool).sum())} of {len(validation)}")
c3.metric("Model (SBML sha256)", snapshot["sbml_sha256"][:12])

st.header("Validation: results the model never saw")
if validation.empty:
    st.info("No validation targets in this version (data/validation_targets.csv).")
else:
    _show_table(validation, "validation")
    st.plotly_chart(targets_figure(validation), key="credibility_validation_targets")

st.header("Calibration: results the model was fitted to")
_show_table(table, "calibration")
st.plotly_chart(targets_figure(table), key="credibility_targets")

st.subheader("Simulated trial curves with the published results")
every = pd.concat([table.assign(kind="calibration"), validation.assign(kind="validation")], ignore_index=True)
scenario = st.selectbox("Trial (scenario)", list(snapshot["trajectories"]), format_func=scenario_title, key="credibility_trial")
traj = pd.DataFrame(snapshot["trajectories"][scenario])
colours = arm_colours(list(dict.fromkeys(traj["arm"])))
published = every[(every["scenario"] == scenario) & ~every["arm"].str.contains(" vs ") & every["apoe4_copies"].isna()
                  & every["measure"].isin(set(traj["measure"]))]
cols = st.columns(2)
for k, measure in enumerate(sorted(set(published["measure"]) | {"amyloid_cl_change"})):
    fig = trial_measure_figure(traj, measure, colours)
    for row in published[published["measure"] == measure].itertuples():
        fig.add_scatter(x=[row.week], y=[row.value], mode="markers",
                        marker={"symbol": "x" if row.kind == "calibration" else "diamond-open", "size": 14,
                                "color": colours.get(row.arm, "black")},
                        name=f"published ({row.kind}): {row.arm}", hovertemplate=f"published {row.arm}: {row.value}<extra></extra>")
    cols[k % 2].plotly_chart(fig, key=f"credibility_chart_{measure}")
