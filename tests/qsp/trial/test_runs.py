"""Designer runs (issue 14): cancellation from the progress callback, time estimate, runs kept side by side, and the
compact results table with 95% confidence intervals."""

import math

import pytest

from qsp.trial import design as D
from qsp.trial.power import PowerSettings
from qsp.trial.runs import (
    MAX_KEPT_RUNS,
    KeptRun,
    RunCancelled,
    cancellable,
    compare_runs,
    estimate_seconds,
    keep_run,
    ms_per_patient,
)
from qsp.trial.scenario import parse_scenario

SCENARIO = parse_scenario({"name": "small", "seed": 4, "n_per_arm": 12, "duration_weeks": 24, "assess_weeks": [24],
                           "population": {"amyloid_cl": [37, None]},
                           "arms": [{"name": "placebo"}, {"name": "lec", "regimen": "lecanemab_q2w"}]})
SETTINGS = PowerSettings(replicates=100)


@pytest.fixture(scope="module")
def run():
    return D.run_design(SCENARIO, SETTINGS)


def test_a_cancel_request_stops_the_core_run_between_chunks():
    calls = []

    def progress(f):
        calls.append(f)

    with pytest.raises(RunCancelled, match="run cancelled at"):
        D.run_design(SCENARIO, SETTINGS, progress=cancellable(progress, lambda: len(calls) >= 1))
    assert len(calls) == 1  # stopped at the next chunk


def test_the_time_estimate_is_patients_times_the_measured_cost():
    assert estimate_seconds(SCENARIO, 50.0) == pytest.approx(24 * 0.05)
    assert estimate_seconds(SCENARIO, None) > 0  # a first guess before any run is timed
    assert estimate_seconds(SCENARIO, 50.0, enriched=True) > estimate_seconds(SCENARIO, 50.0)
    assert ms_per_patient(SCENARIO, 2.4) == pytest.approx(100.0)


def test_compact_table_has_key_endpoints_with_confidence_intervals_and_a_reference_arm(run):
    table = D.compact_summary(run.result)
    assert list(table["arm"]) == ["placebo", "lec"]
    assert table["iADRS vs placebo (95% CI)"].iloc[0] == D.REFERENCE
    last = run.result.summary.set_index("arm").loc["lec"]
    mean, sd, n = last["iadrs_change"], last["iadrs_change_sd"], last["n_observed"]
    half = D.Z95 * sd / math.sqrt(n)
    assert table["iADRS change (95% CI)"].iloc[1] == f"{mean:.1f} ({mean - half:.1f} to {mean + half:.1f})"
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()
    full = D.full_summary(run.result)
    assert full["CDR-SB slowing %"].iloc[0] == D.REFERENCE and len(full.columns) > len(table.columns)
    slowing = run.result.to_json()["comparisons"]["lec vs placebo"]["iadrs_slowing_pct"][-1]
    assert full["iADRS slowing %"].iloc[1] == f"{slowing:.2f}"
    import pyarrow as pa

    pa.Table.from_pandas(full)  # what Streamlit sends to the browser: one type per column, or it logs a traceback


def test_runs_are_kept_side_by_side_with_their_designs(run):
    runs = []
    for k in range(MAX_KEPT_RUNS + 2):
        runs = keep_run(runs, KeptRun(k + 1, f"design{k}", SCENARIO, run))
    assert [r.number for r in runs] == list(range(3, MAX_KEPT_RUNS + 3))
    runs = keep_run(runs, KeptRun(99, "design4", SCENARIO, run))  # the same design again replaces its run
    assert [r.number for r in runs][-1] == 99 and len(runs) == MAX_KEPT_RUNS
    table = compare_runs(runs[-2:])
    assert table["run"].nunique() == 2 and "iADRS vs reference arm (95% CI)" in table
    assert runs[-1].label == "run 99: small (2 arms x 12)" and "n_per_arm: 12" in runs[-1].design_yaml


def test_the_page_shows_the_compact_table_one_column_per_arm(run):
    table = D.compact_by_measure(run.result).set_index("measure")
    assert list(table.columns) == ["placebo", "lec"]
    assert table.loc["iADRS vs placebo (95% CI)", "placebo"] == D.REFERENCE
    assert table.loc["completers", "lec"] == str(D.compact_summary(run.result)["completers"].iloc[1])
