"""Trial endpoints: one change-from-baseline kernel behind the summary, summarise and the trajectories."""

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.trial.endpoints import CHANGE_ENDPOINTS, arm_arrays, arm_trajectories, change_from_baseline, summarise
from qsp.trial.run import run_trial

SCENARIO = {
    "name": "endpoints", "seed": 7, "n_per_arm": 12, "duration_weeks": 52, "assess_weeks": [24, 52],
    "measurement_noise": True, "dropout_pct_per_year": 40,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
    "arms": [{"name": "placebo"}, {"name": "don", "regimen": "donanemab_standard"}],
}


@pytest.fixture(scope="module")
def result():
    return run_trial(SCENARIO)


def test_change_is_taken_among_observed_patients_against_their_own_baseline():
    measured = np.array([[1.0, 3.0, 6.0], [2.0, 7.0, np.nan], [4.0, 4.5, 5.0]])
    seen = np.array([True, False, True])
    np.testing.assert_array_equal(change_from_baseline(measured, seen, 2), [5.0, 1.0])
    np.testing.assert_array_equal(change_from_baseline(measured, seen, 0), [0.0, 0.0])
    assert change_from_baseline(measured, np.zeros(3, dtype=bool), 1).size == 0


def test_records_give_back_the_arrays_of_the_run(result):
    weeks = [0.0, *SCENARIO["assess_weeks"]]
    placebo = result.records[result.records["arm"] == "placebo"]
    endpoints, measured, observed, apoe4 = arm_arrays(placebo, weeks)
    assert endpoints.shape == (12, 3, 3) and measured.shape == (12, 3, len(CHANGE_ENDPOINTS)) and observed.shape == (12, 3)
    first = placebo[placebo["week"] == 52].iloc[0]
    assert measured[0, 2, 0] == first[f"{CHANGE_ENDPOINTS[0]}_measured"] and observed[0, 2] == first["observed"]
    assert list(apoe4) == list(placebo[placebo["week"] == 0][C.APOE4])
    assert not observed.all()  # dropout at 40%/year leaves some patients unobserved at week 52


def test_summary_summarise_and_trajectories_agree_number_for_number(result):
    pd.testing.assert_frame_equal(result.summary, summarise(result.records, result.patients, result.scenario), check_exact=True)
    trajectories = arm_trajectories(result).set_index(["arm", "week", "measure"])["mean"]
    for row in result.summary.itertuples():
        for name in CHANGE_ENDPOINTS:
            assert trajectories[(row.arm, row.week, f"{name}_change")] == pytest.approx(getattr(row, f"{name}_change"), rel=1e-12)
    at_baseline = trajectories.xs(0.0, level="week")
    assert (at_baseline[at_baseline.index.get_level_values("measure").str.endswith("_change")] == 0).all()
