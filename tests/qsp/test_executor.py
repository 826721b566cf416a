"""Serial and Dask give identical trials; a scheduler that cannot be reached gives a clear error quickly."""

import time

import pytest

from qsp.errors import QSPError
from qsp.executor import ExecutorSettings, map_chunks, settings_from
from qsp.population import sample_population
from qsp.trial import run_trial

SCENARIO = {
    "name": "dask", "seed": 21, "n_per_arm": 9, "duration_weeks": 52, "assess_weeks": [24, 52],
    "measurement_noise": True, "dropout_pct_per_year": 15,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
    "arms": [{"name": "placebo"}, {"name": "don", "regimen": "donanemab_standard"}],
}


def test_serial_and_a_real_local_dask_cluster_give_identical_numbers():
    pool = sample_population(18, SCENARIO["population"], seed=21)
    serial = run_trial(SCENARIO, population=pool).to_json()
    chunked = run_trial(SCENARIO, population=pool, executor=ExecutorSettings(chunk_size=4)).to_json()
    dask = run_trial(SCENARIO, population=pool, executor=ExecutorSettings(backend="dask", n_workers=2, chunk_size=4)).to_json()
    for other in (chunked, dask):
        assert other["arms"] == serial["arms"]
        assert other["comparisons"] == serial["comparisons"]


def test_unreachable_scheduler_is_a_clear_error_not_a_hang():
    start = time.perf_counter()
    with pytest.raises(QSPError, match="cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'"):
        map_chunks(len, [[1]], ExecutorSettings(backend="dask", scheduler="tcp://127.0.0.1:9", connect_timeout_s=2))
    assert time.perf_counter() - start < 30


def test_scheduler_from_the_environment(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert settings_from("dask").scheduler == "tcp://10.0.0.1:8786"
    assert settings_from("serial").backend == "serial"
