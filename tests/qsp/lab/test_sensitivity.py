"""Global sensitivity (Sobol, Morris) of lab models: the parameter that matters ranks first, within the budget."""

import numpy as np
import pandas as pd
import pytest

from qsp.engine.model import Model, antimony_to_sbml
from qsp.errors import InvalidInput, SimulationFailed
from qsp.lab.sensitivity import default_ranges, global_sensitivity, plan_evaluations

# A decays at rate k1 + 0.05*k2: k1 dominates, k2 matters a little, k3 not at all.
RANKED = Model(antimony_to_sbml("A -> ; (k1 + 0.05*k2)*A; A = 10; k1 = 0.5; k2 = 0.5; k3 = 1"))
# y = a + 2*b exactly (assignment rule): Sobol first-order shares 1/5 and 4/5 for equal uniform ranges.
LINEAR = Model(antimony_to_sbml("y := a + 2*b; a = 1; b = 1; X -> ; 0*X; X = 1"))


@pytest.fixture(scope="module")
def ranges():
    return default_ranges(RANKED, ["k3", "k2", "k1"])


def test_sobol_ranks_the_only_strong_parameter_first(ranges):
    result = global_sensitivity(RANKED, "A", 2.0, ranges, "sobol", budget=700)
    table = result.table.set_index("parameter")
    assert result.table["parameter"].tolist() == ["k1", "k2", "k3"]
    assert table.loc["k1", "ST"] > 0.9 and table.loc["k1", "S1"] > 0.85
    assert table.loc["k3", "ST"] == pytest.approx(0.0, abs=1e-12)
    assert result.n_evaluations == 128 * 5 <= 700


def test_sobol_matches_the_closed_form_of_a_linear_model():
    # Var(a) : Var(2b) = 1 : 4 with the same uniform ranges, so S1 = ST = 0.2 and 0.8
    result = global_sensitivity(LINEAR, "y", 1.0, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, "sobol", budget=2048)
    table = result.table.set_index("parameter")
    np.testing.assert_allclose(table.loc[["a", "b"], "S1"], [0.2, 0.8], atol=0.05)
    np.testing.assert_allclose(table.loc[["a", "b"], "ST"], [0.2, 0.8], atol=0.05)


def test_morris_mu_star_orders_the_parameters_and_reports_progress(ranges):
    calls = []
    result = global_sensitivity(RANKED, "A", 2.0, ranges, "morris", budget=200, progress=lambda d, t: calls.append((d, t)))
    mu_star = result.table.set_index("parameter")["mu_star"]
    assert mu_star["k1"] > 5 * mu_star["k2"] > 0 and mu_star["k3"] == 0
    assert result.table["parameter"].tolist() == ["k1", "k2", "k3"]
    assert result.n_evaluations == 50 * 4
    assert calls[0] == (1, 200) and calls[-1] == (200, 200) and len(calls) == 200


def test_morris_elementary_effects_of_a_linear_model_are_its_slopes():
    result = global_sensitivity(LINEAR, "y", 1.0, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, "morris", budget=60)
    table = result.table.set_index("parameter")
    np.testing.assert_allclose(table.loc[["a", "b"], "mu"], [1.0, 2.0], rtol=1e-9)
    np.testing.assert_allclose(table.loc[["a", "b"], "sigma"], [0.0, 0.0], atol=1e-9)


def test_time_limit_stops_the_analysis(ranges):
    with pytest.raises(SimulationFailed, match=r"time limit of 1e-09 s reached after \d+ of 640 evaluations"):
        global_sensitivity(RANKED, "A", 2.0, ranges, "sobol", budget=700, time_limit_s=1e-9)


def test_cancel_from_the_progress_callback(ranges):
    def stop(done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        global_sensitivity(RANKED, "A", 2.0, ranges, "morris", budget=100, progress=stop)


def test_plans_and_their_errors():
    assert plan_evaluations("sobol", 2, 100) == (16, 64)
    assert plan_evaluations("morris", 9, 25) == (2, 20)
    with pytest.raises(InvalidInput, match="budget: Sobol with 3 parameters needs at least 40 evaluations"):
        plan_evaluations("sobol", 3, 39)
    with pytest.raises(InvalidInput, match="budget: Morris with 3 parameters needs at least 8 evaluations"):
        plan_evaluations("morris", 3, 7)


def test_every_bad_input_is_named():
    with pytest.raises(InvalidInput) as info:
        global_sensitivity(RANKED, "Z", -1.0, {"nope": (1.0, 2.0), "k1": (2.0, 1.0)}, "fast", budget=0, time_limit_s=0)
    text = "\n".join(info.value.problems)
    for fragment in ["method: must be one of sobol, morris (got 'fast')", "output: 'Z' is not a species",
                     "time: must be a finite number > 0 (got -1.0)", "'nope' is not a settable parameter",
                     "range of k1 must be finite with low < high", "budget: must be an integer", "time_limit_s: must be"]:
        assert fragment in text
    with pytest.raises(InvalidInput, match="parameters: choose at least one parameter"):
        global_sensitivity(RANKED, "A", 1.0, {})
    zero = Model(antimony_to_sbml("A -> ; k*A; A = 1; k = 0"))
    with pytest.raises(InvalidInput, match=r"k has value 0, so ±50% is no range; give its range explicitly"):
        default_ranges(zero, ["k"])


def test_an_output_that_does_not_move_is_reported(ranges):
    with pytest.raises(SimulationFailed, match="X at time 1 does not change over these ranges"):
        global_sensitivity(LINEAR, "X", 1.0, {"a": (0.0, 1.0)}, "morris", budget=20)


def test_sensitivity_on_a_local_dask_cluster_gives_the_same_indices(ranges, dask_cluster):

    serial = global_sensitivity(RANKED, "A", 2.0, ranges, "morris", budget=80)
    dask = global_sensitivity(RANKED, "A", 2.0, ranges, "morris", budget=80,
                              executor=dask_cluster)
    pd.testing.assert_frame_equal(serial.table, dask.table)


def test_same_seed_gives_the_same_table_including_the_intervals():
    # seed 0 used to mean "no seed" in SALib's bootstrap: the confidence columns changed between runs
    runs = [global_sensitivity(LINEAR, "y", 1.0, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, "sobol", budget=256, seed=0).table
            for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
