"""The built-in model reproduces the published targets within tolerance (the calibration check)."""

import math

import pandas as pd
import pytest

from qsp.cli.main import main
from qsp.trial import calibration
from qsp.trial.calibration import evaluate_targets, format_report, load_targets, load_validation_snapshot, model_value


@pytest.fixture(scope="module")
def table():
    return evaluate_targets()


def test_every_published_target_is_within_tolerance(table):
    failing = table[~table["pass"]]
    assert failing.empty, "\n" + format_report(table)


def test_targets_cover_both_trials_and_all_measures():
    targets = load_targets()
    assert set(targets["trial"]) == {"CLARITY AD", "TRAILBLAZER-ALZ 2"}
    assert len(targets) == 25
    assert targets["source"].str.len().min() > 5
    assert {"aria_e_pct", "amyloid_cleared_pct", "iadrs_slowing_pct", "cdrsb_change"} <= set(targets["measure"])


def test_dashboard_snapshot_belongs_to_this_model_and_matches_a_fresh_run(table):
    snapshot = load_validation_snapshot()
    assert snapshot is not None, "run: python -m qsp validate-targets --snapshot"
    stored = pd.DataFrame(snapshot["table"])
    assert stored["model"].round(6).tolist() == table["model"].round(6).tolist()  # same seeds, same numbers


def test_model_value_reads_arms_subgroups_and_comparisons():
    result = {
        "arms": {"drug": {"weeks": [24.0, 76.0], "iadrs_change": [-1.0, -6.0], "aria_e_pct": [5.0, 9.0],
                          "aria_e_pct_by_apoe4": {"0": [1.0, 2.0], "1": [3.0, 4.0], "2": [5.0, 30.0]}}},
        "comparisons": {"drug vs placebo": {"iadrs_slowing_pct": [10.0, 35.0]}},
    }
    assert model_value(result, {"arm": "drug", "measure": "iadrs_change", "week": 76}) == -6.0
    assert model_value(result, {"arm": "drug", "measure": "aria_e_pct", "week": 76, "apoe4_copies": "2"}) == 30.0
    assert model_value(result, {"arm": "drug", "measure": "aria_e_pct", "week": 76, "apoe4_copies": pd.NA}) == 9.0
    assert model_value(result, {"arm": "drug vs placebo", "measure": "iadrs_slowing_pct", "week": 76}) == 35.0


def test_validate_targets_exit_code_follows_the_table(monkeypatch, capsys):
    targets = load_targets().assign(model=lambda d: d["value"], difference=0.0, **{"pass": True})
    monkeypatch.setattr(calibration, "evaluate_targets", lambda **_: targets)  # the command imports it when it runs
    assert main(["validate-targets"]) == 0
    broken = targets.copy()
    broken.loc[0, ["model", "difference", "pass"]] = [math.nan, math.nan, False]
    monkeypatch.setattr(calibration, "evaluate_targets", lambda **_: broken)
    assert main(["validate-targets"]) == 1
    assert "FAIL" in capsys.readouterr().out
