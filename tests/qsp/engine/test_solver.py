"""Solver options reach CVODE and unknown settings are refused."""

import numpy as np
import pytest
from pydantic import ValidationError

from qsp import constants as C
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.simulate import Engine
from qsp.engine.solver import SolverOptions


def test_options_are_applied_to_the_integrator():
    model = Model(load_builtin_model().sbml, solver=SolverOptions(maximum_num_steps=1))
    run = Engine(model).run(
        {C.AGE: 70, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 0}, None, np.array([0.0, 3000.0]), state=(0.0, 1.0, 0.0)
    )
    assert run.values is None and "mxstep" in run.error


def test_unknown_or_invalid_settings_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        SolverOptions(variable_step_size=True)
    with pytest.raises(ValidationError, match="greater than 0"):
        SolverOptions(relative_tolerance=0)
