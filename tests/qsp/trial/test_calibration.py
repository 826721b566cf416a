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


# Calibration targets the model does NOT reproduce (issue 13): each is listed, with the evidence that it contradicts
# other published numbers, in models_sbml/README.md "Limits" and README.md "Status". Any other target out of tolerance
# fails this test; a listed one that starts to pass is welcome (then remove it from here and from the Limits).
KNOWN_MISSES = {
    ("clarity_ad", "enrolled", "baseline_distribution.pct.stage.mci"),  # MCI by diagnosis vs by CDR-SB < 4.5
}


def _key(row) -> tuple[str, str, str]:
    return (row["scenario"], row["arm"], row["measure"])


def test_every_published_target_is_within_tolerance_except_the_documented_misses(table):
    failing = {_key(row) for _, row in table[~table["pass"]].iterrows()}
    assert failing <= KNOWN_MISSES, "new misses:\n" + format_report(table[[_key(r) in failing - KNOWN_MISSES for _, r in table.iterrows()]])
    assert len(table) - len(failing) >= 52, "\n" + format_report(table)
    assert {_key(row) for _, row in table.iterrows()} >= KNOWN_MISSES  # every listed miss is a real target row


def test_targets_cover_the_published_trials_and_all_measures():
    targets = load_targets()
    assert set(targets["trial"]) == {"CLARITY AD", "TRAILBLAZER-ALZ 2", "GRADUATE I/II pooled", "TRAILBLAZER-ALZ 6",
                                     "natural history"}
    # the 51 published targets of issue 13 + the derived TRAILBLAZER-ALZ 6 ARIA-E ratio + GRADUATE's % amyloid negative
    # (moved from the validation targets once it was used to fit gantenerumab)
    assert len(targets) == 53
    assert "trailblazer_alz2_combined" not in set(targets["scenario"])  # one scenario, no mixture
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


def test_validation_is_apart_from_calibration_and_warns_for_unvalidated_drugs(tmp_path, monkeypatch):
    from qsp import paths
    from qsp.engine.regimen import parse_regimen
    from qsp.trial.calibration import load_validation_targets, validated_regimens, validation_warning

    rows = load_targets()
    one = rows[(rows["scenario"] == "clarity_ad") & (rows["arm"] == "lecanemab")].head(1)
    path = tmp_path / "validation_targets.csv"
    one.to_csv(path, index=False)
    monkeypatch.setattr(paths, "VALIDATION_TARGETS", path)
    assert len(load_validation_targets()) == 1
    assert validated_regimens() == [parse_regimen("lecanemab_q2w")]
    assert validation_warning(parse_regimen("lecanemab_q2w")) is None
    assert "this dosing schedule" in validation_warning(parse_regimen("lecanemab_sc_weekly"))
    assert "no out-of-sample validated result for this drug" in validation_warning(parse_regimen("gantenerumab_graduate"))
    monkeypatch.setattr(paths, "VALIDATION_TARGETS", tmp_path / "absent.csv")
    assert load_validation_targets().empty and validated_regimens() == []


def test_the_targets_can_be_checked_at_another_seed(capsys):
    targets = load_targets().query("scenario == 'early_ad_natural_history'")
    own = evaluate_targets(targets=targets, n_per_arm=8)
    trials = calibration.run_target_trials(targets=targets, n_per_arm=8, seed=9)
    assert trials["early_ad_natural_history"].scenario.seed == 9
    other = evaluate_targets(targets=targets, trials=trials)
    assert other["model"].notna().all() and not own["model"].equals(other["model"])  # other patients, other numbers
    assert main(["validate-targets", "--seed", "-1"]) == 2
    assert main(["validate-targets", "--seed", "3", "--snapshot"]) == 2  # the snapshot is of the scenarios as written
    assert "leave out --seed" in capsys.readouterr().err
