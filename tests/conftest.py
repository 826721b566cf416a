"""Shared fixtures."""

import pytest

from qsp import constants as C


@pytest.fixture
def patient():
    """A typical early-AD patient's covariates."""
    return {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}
