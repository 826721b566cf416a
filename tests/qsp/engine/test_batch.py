"""The batch integrator: same observables as roadrunner, per-patient numbers independent of the batch."""

from __future__ import annotations

import numpy as np
import pytest

from qsp import constants as C
from qsp.engine import simulate
from qsp.engine.batch import compile_batch, simulate_batch, step_grid
from qsp.engine.model import Model, antimony_to_sbml, load_builtin_model
from qsp.engine.regimen import parse_regimen
from qsp.engine.simulate import Engine
from qsp.engine.solver import SolverOptions
from qsp.population.sampling import sample_population
from qsp.trial.run import baseline_state

DAYS = np.array([0, 4, 12, 24, 52, 76]) * C.DAYS_PER_WEEK
CHECKED = ("amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse", "conc_ug_per_ml", "aria_e_risk", "n_doses", "dose_total_mg")


@pytest.fixture(scope="module")
def patients():
    return sample_population(24, {"amyloid_cl": [37, None], "mmse": [20, 28]}, seed=41).to_dict("records")


def _relative_error(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Worst absolute difference per observable, relative to the observable's largest magnitude."""
    out = {}
    for name in CHECKED:
        j = C.OBSERVABLES.index(name)
        out[name] = float(np.max(np.abs(a[:, :, j] - b[:, :, j])) / max(np.max(np.abs(b[:, :, j])), 1e-12))
    return out


@pytest.mark.parametrize("regimen", ["lecanemab_q2w", "donanemab_standard", "gantenerumab_graduate", "aducanumab_high"])
def test_batch_is_as_accurate_as_roadrunner_against_a_tight_reference(patients, regimen):
    model = load_builtin_model()
    tight = Engine(Model(model.sbml, name="tight", solver=SolverOptions(relative_tolerance=1e-10, absolute_tolerance=1e-12,
                                                                         maximum_num_steps=1_000_000)))
    engine = Engine(model)
    reg = parse_regimen(regimen)
    states = [baseline_state(p) for p in patients]
    reference = np.array([tight.run(p, reg, DAYS, state=s).values for p, s in zip(patients, states)])
    single = np.array([engine.run(p, reg, DAYS, state=s).values for p, s in zip(patients, states)])
    runs = engine.run_batch(patients, reg, DAYS, states)
    batch = np.array([r.values for r in runs])
    batch_error, roadrunner_error = _relative_error(batch, reference), _relative_error(single, reference)
    for name in CHECKED:  # within 1e-5 of the reference, or no worse than 3x roadrunner's own error
        assert batch_error[name] <= max(1e-5, 3 * roadrunner_error[name]), (name, batch_error[name], roadrunner_error[name])


def test_stop_rule_decisions_and_noise_match_single_runs(patients):
    engine = Engine(load_builtin_model())
    reg = parse_regimen("donanemab_standard")
    states = [baseline_state(p) for p in patients]
    rng = np.random.default_rng(3)
    noise = [rng.normal(0, 8, len(reg.stop_rule.at_weeks)) for _ in patients]
    single = [engine.run(p, reg, DAYS, state=s, stop_noise_cl=z) for p, s, z in zip(patients, states, noise)]
    batch = engine.run_batch(patients, reg, DAYS, states, noise)
    # roadrunner's root finding places the event a rounding error after the check day; the batch steps to it exactly
    assert [r.stopped_day for r in batch] == [pytest.approx(r.stopped_day, abs=1e-9) for r in single]
    assert any(r.stopped_day is not None for r in single) and any(r.stopped_day is None for r in single)
    n_doses = C.OBSERVABLES.index("n_doses")
    assert [r.values[-1, n_doses] for r in batch] == [r.values[-1, n_doses] for r in single]


def test_a_patients_numbers_do_not_depend_on_the_other_patients_in_the_batch(patients):
    engine = Engine(load_builtin_model())
    reg = parse_regimen("lecanemab_q2w")
    states = [baseline_state(p) for p in patients]
    together = engine.run_batch(patients, reg, DAYS, states)
    alone = engine.run_batch(patients[5:6], reg, DAYS, states[5:6])
    reordered = engine.run_batch(patients[::-1], reg, DAYS, states[::-1])
    assert np.array_equal(together[5].values, alone[0].values)
    assert np.array_equal(together[5].values, reordered[len(patients) - 6].values)


def test_patients_the_grid_cannot_resolve_are_simulated_by_roadrunner(patients, monkeypatch):
    engine = Engine(load_builtin_model())
    reg = parse_regimen("donanemab_standard")
    states = [baseline_state(p) for p in patients[:4]]
    monkeypatch.setattr(simulate, "BATCH_CHECK", 1e-9)  # every step's error estimate is now "too large"
    runs = engine.run_batch(patients[:4], reg, DAYS, states)
    single = [engine.run(p, reg, DAYS, state=s) for p, s in zip(patients[:4], states)]
    for a, b in zip(runs, single):
        assert np.array_equal(a.values, b.values)


GENERIC = """
model generic()
  compartment cell = 2.5;
  species A in cell = 4; species B in cell = 0; species D in cell = 1;
  substanceOnly species D;
  k1 = 0.3; k2 = 0.05; dose = 2; x = 1;
  J1: A -> B; k1 * A * cell;
  J2: B -> ; k2 * B^2 * cell;
  x' = -0.1 * x + piecewise(B / (1 + B), dose > 1, 0);
  E1: at (time >= 3 && dose > 0): A = A + dose, D = D + 1;
  E2: at (time > 7.5): k1 = k1 / 2;
end
"""


def _assert_batch_matches_roadrunner(text: str, selections: list[str], times: np.ndarray, anchors=()) -> None:
    """The batch integrates the Antimony model ``text`` to a tight roadrunner reference (no patient redone)."""
    import roadrunner

    sbml = antimony_to_sbml(text)
    batch = compile_batch(sbml)
    assert batch is not None
    rr = roadrunner.RoadRunner(sbml)
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-10, 1e-12
    rr.timeCourseSelections = ["time", *selections]
    reference = np.asarray(rr.simulate(times=times))[:, 1:]
    names = tuple(s.strip("[]") for s in selections)
    run = simulate_batch(batch, batch.prepare({}, 1), batch.initial[:, None].copy(), times, names, anchors=anchors,
                         rtol=1e-4, atol=1e-6)
    assert not run.redo.any()
    np.testing.assert_allclose(run.values[0], reference, rtol=1e-5, atol=1e-8)


def test_a_generic_model_matches_roadrunner():
    _assert_batch_matches_roadrunner(GENERIC, ["[A]", "[B]", "D", "x"], np.array([0.0, 1.0, 3.0, 5.0, 7.5, 10.0]), [3.0, 7.5])


POWERS = """
model powers()
  A = 2; B = 0.5; k = 1;
  A' = -0.1 * A + 0.01 * (-2)^(k + 1);
  B' = 0.05 * B^3 - 0.02 * B^4 + 0.01 * max(A, 1) * min(B, 1) + piecewise(0.01, !(A > 5), 0);
end
"""


def test_negative_bases_powers_minimum_maximum_and_not_match_roadrunner():
    """(-2)^(k + 1) is 4: written as ``-2.0 ** x`` Python would read -(2.0 ** x)."""
    _assert_batch_matches_roadrunner(POWERS, ["A", "B"], np.array([0.0, 2.0, 5.0, 10.0]))


@pytest.mark.parametrize("text", [
    "model m()\n S = 1; k = 1; J: S -> ; k * S\n E: at (S < 0.5): k = 0\nend",  # a trigger on moving state
    "model m()\n S = 1; k = 1; J: S -> ; k * S\n E: at 2 after (time >= 1): k = 0\nend",  # a delay
    "model m()\n S = 1; k = 1; J: S -> ; k * S\n T := S + 1\n E: at (time >= 1 && T < 1.5): k = 0\nend",  # via a rule
])
def test_models_the_translator_cannot_follow_fall_back_to_roadrunner(text):
    assert compile_batch(antimony_to_sbml(text)) is None


def test_the_step_grid_holds_every_event_and_output_day_and_restarts_small_after_events():
    grid = step_grid([0.0, 14.0, 14.0 + 1 / 24], [0.0, 28.0], 28.0)
    assert {0.0, 14.0, 14.0 + 1 / 24, 28.0} <= set(grid.tolist())
    assert np.all(np.diff(grid) > 0)
    after = grid[grid > 14.0 + 1 / 24][0] - (14.0 + 1 / 24)
    assert after == pytest.approx(1 / 96)
    assert np.diff(grid).max() <= 3.0 + 1e-12


def test_a_batched_trial_arm_gives_the_per_patient_numbers(monkeypatch):
    from qsp.trial import run as trial_run

    scenario = {"name": "batched", "seed": 77, "n_per_arm": trial_run.BATCH_MIN_PER_ARM, "duration_weeks": 52,
                "assess_weeks": [24, 52], "measurement_noise": True, "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
                "arms": [{"name": "donanemab", "regimen": "donanemab_standard"}]}
    batched = trial_run.run_trial(scenario).to_json()["arms"]["donanemab"]
    monkeypatch.setattr(trial_run, "BATCH_MIN_PER_ARM", 10**9)  # every patient through roadrunner
    single = trial_run.run_trial(scenario).to_json()["arms"]["donanemab"]
    for key in ("amyloid_cl_change", "iadrs_change", "cdrsb_change", "aria_e_pct", "iadrs_change_sd"):
        np.testing.assert_allclose(batched[key], single[key], rtol=1e-4, atol=1e-4, err_msg=key)
    assert batched["n_observed"] == single["n_observed"]


def test_the_translator_still_reads_sbml_after_the_combine_libraries_are_loaded():
    """libsedml imported after libsbml made libsbml's ASTNode.getType() return raw SWIG pointers: after the model lab
    had read a COMBINE archive, every batched trial in that process failed ("unhashable type: 'SwigPyObject'")."""
    import subprocess
    import sys

    from qsp import paths

    code = ("import qsp, libsbml, libsedml\n"
            "from qsp.engine.batch import compile_batch\n"
            "from qsp.engine.model import load_builtin_model\n"
            "assert isinstance(libsbml.parseL3Formula('a + b').getType(), int)\n"
            "assert compile_batch(load_builtin_model().sbml) is not None\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
