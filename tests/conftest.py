"""Shared fixtures."""

import os
import tempfile
from pathlib import Path

import pytest

from qsp import constants as C

# The natural-history pool is a cache keyed by the model: the whole session (and its subprocesses) shares one.
os.environ.setdefault("QSP_POOL_DIR", str(Path(tempfile.gettempdir()) / "ad_qsp_test_pool"))
# Likewise the batch integrator's compiled kernels (numba's machine code), away from the user's own cache.
os.environ.setdefault("QSP_KERNEL_DIR", str(Path(tempfile.gettempdir()) / "ad_qsp_test_kernels"))


@pytest.fixture
def patient():
    """A typical early-AD patient's covariates."""
    return {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}


@pytest.fixture(scope="session", autouse=True)
def _early_dask_cluster(request):
    """Start the shared cluster before this worker's first test, but only when a collected test uses it."""
    if any("dask_cluster" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("dask_cluster")


@pytest.fixture(scope="session")
def dask_cluster():
    """One real LocalCluster (2 worker processes) for every test of this test worker that needs Dask.

    Starting a cluster takes seconds; the tests check that Dask gives the serial numbers, which one
    shared cluster shows as well as one each. Started before the worker's first test (late in a long
    session a nanny has failed to start, "Could not start Nanny"), closed at the end of the session.
    """
    from qsp.engine.executor import ChunkExecutor, ExecutorSettings
    from qsp.errors import QSPError

    ex = ChunkExecutor(ExecutorSettings(backend="dask", n_workers=2, chunk_size=4))
    for attempt in range(3):  # on a loaded CI machine a worker process can miss its start-up deadline
        try:
            ex._connect()
            break
        except QSPError:
            ex.close()
            if attempt == 2:
                raise
            ex = ChunkExecutor(ExecutorSettings(backend="dask", n_workers=2, chunk_size=4))
    yield ex
    ex.close()
