"""`python -m qsp calibrate`: what each stage fits, to which targets, and that a stage finds a fitted value."""

import numpy as np
import pandas as pd
import pytest

from qsp.cli.main import main
from qsp.engine.model import load_builtin_model
from qsp.engine.parameters import parameter_table
from qsp.errors import InvalidInput
from qsp.trial import calibrate as cal
from qsp.trial.calibration import load_targets


def test_every_calibrated_parameter_is_fitted_by_a_stage_derived_or_says_why_not():
    table = parameter_table()
    calibrated = set(table.index[table["kind"] == "calibrated"])
    fitted = [n for stage in cal.STAGES.values() for n in stage.parameters]
    assert len(fitted) == len(set(fitted))  # no parameter in two stages
    assert calibrated == set(fitted) | set(cal.NOT_FITTED)
    assert set(fitted) <= set(load_builtin_model().defaults)  # `--write` can store each in the model
    assert set(cal.DERIVED) <= set(load_builtin_model().defaults)


def test_every_calibration_target_is_fitted_by_a_stage_or_by_hand():
    targets = load_targets()
    covered = pd.concat([cal.stage_targets(stage, targets) for stage in cal.STAGES.values()])
    left = set(targets.index) - set(covered.index)
    assert set(targets.loc[sorted(left), "measure"]) == set(cal.HAND_FITTED_MEASURES)
    for name, stage in cal.STAGES.items():
        rows = cal.stage_targets(stage, targets)
        assert set(rows["measure"]) == set(stage.measures), name  # no measure named in vain
        if stage.scenarios is not None:
            assert set(rows["scenario"]) == set(stage.scenarios), name


def test_a_stage_runs_only_its_scenarios_and_finds_the_value_that_fits(monkeypatch):
    truth = 0.8  # the gantenerumab removal rate at which the fake model meets both targets
    seen = []

    def fake_evaluate(parameter_overrides, n_per_arm, measurement_noise, targets, seed):
        seen.append(targets)
        out = targets.copy()
        out["model"] = out["value"] + 10.0 * np.log(parameter_overrides["gan_amy_kmax_per_yr"] / truth)
        out["difference"] = out["model"] - out["value"]
        return out

    monkeypatch.setattr(cal, "evaluate_targets", fake_evaluate)
    start = cal.current_values()
    out = cal.fit_stage("gantenerumab_potency", start, maxiter=60, log=lambda _: None)
    assert out["gan_amy_kmax_per_yr"] == pytest.approx(truth, rel=0.02)
    assert start["gan_amy_kmax_per_yr"] != pytest.approx(truth, rel=0.1)  # it had to move
    assert {k: v for k, v in out.items() if not k.startswith("gan_amy")} == {k: v for k, v in start.items() if not k.startswith("gan_amy")}
    assert all(set(t["scenario"]) == {"graduate"} for t in seen)
    assert all(set(t["measure"]) == {"amyloid_cl_change", "amyloid_cleared_pct"} for t in seen)


def test_a_parameter_at_one_is_moved_too(monkeypatch):
    """scipy's default first step is 5% of the (log) value: none at all for a parameter whose value is 1."""
    tried = []

    def fake_evaluate(parameter_overrides, n_per_arm, measurement_noise, targets, seed):
        tried.append(parameter_overrides["clin_amy_weight"])
        out = targets.copy()
        out["difference"] = 3.0 * np.log(parameter_overrides["clin_amy_weight"] / 1.3) * out["tolerance"]
        return out

    monkeypatch.setattr(cal, "evaluate_targets", fake_evaluate)
    start = {**cal.current_values(), "clin_amy_weight": 1.0}
    out = cal.fit_stage("disease", start, maxiter=80, log=lambda _: None)
    assert len(set(np.round(tried, 6))) > 3
    assert out["clin_amy_weight"] == pytest.approx(1.3, rel=0.05)


def test_a_fit_over_several_seeds_balances_their_draws(monkeypatch):
    optimum = {1: 0.7, 2: 0.9}  # where each seed's draw of patients meets the targets
    seeds_run = []

    def fake_evaluate(parameter_overrides, n_per_arm, measurement_noise, targets, seed):
        seeds_run.append(seed)
        out = targets.copy()
        out["difference"] = np.log(parameter_overrides["gan_amy_kmax_per_yr"] / optimum[seed]) * out["tolerance"]
        return out

    monkeypatch.setattr(cal, "evaluate_targets", fake_evaluate)
    out = cal.fit_stage("gantenerumab_potency", cal.current_values(), maxiter=80, log=lambda _: None, seeds=(1, 2))
    assert out["gan_amy_kmax_per_yr"] == pytest.approx(np.sqrt(0.7 * 0.9), rel=0.02)
    assert seeds_run.count(1) == seeds_run.count(2) > 1


def test_bad_stage_and_sizes_are_refused_before_any_work(capsys):
    with pytest.raises(InvalidInput) as err:
        cal.calibrate(["aria", "nope"], n_per_arm=0)
    assert len(err.value.problems) == 2
    with pytest.raises(InvalidInput, match="--seed"):
        cal.calibrate(["aria"], seeds=(-1,))
    with pytest.raises(InvalidInput, match="at least one seed"):
        cal.calibrate(["aria"], seeds=())
    assert main(["calibrate", "--stage", "nope", "--maxiter", "0"]) == 2
    stderr = capsys.readouterr().err
    assert "unknown calibration stage 'nope'" in stderr and "--maxiter" in stderr and "Traceback" not in stderr
