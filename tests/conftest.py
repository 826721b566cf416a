"""Shared fixtures."""

import os
import tempfile
from pathlib import Path

import pytest

from qsp import constants as C

# The natural-history pool is a cache keyed by the model: the whole session (and its subprocesses) shares one.
os.environ.setdefault("QSP_POOL_DIR", str(Path(tempfile.gettempdir()) / "ad_qsp_test_pool"))


@pytest.fixture
def patient():
    """A typical early-AD patient's covariates."""
    return {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}
