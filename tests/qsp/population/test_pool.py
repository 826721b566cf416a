"""The natural-history pool gives exactly the patients direct simulation gives, and is reused, rebuilt and keyed right."""

import numpy as np
import pytest

from qsp.engine.simulate import Engine
from qsp.population import pool
from qsp.population.sampling import candidate_patient, history_years, parse_criteria, sample_population, untreated_history


@pytest.fixture
def own_pool(tmp_path, monkeypatch):
    monkeypatch.setenv("QSP_POOL_DIR", str(tmp_path))
    pool._memory.clear()
    yield tmp_path
    pool._memory.clear()


def test_pool_patients_equal_directly_simulated_patients(own_pool):
    engine, years = Engine(), history_years()
    criteria = parse_criteria({"mmse": [20, 28], "amyloid_cl": [37, None], "stage": ["mci", "mild_dementia"]})
    stored = pool.histories(engine, 3, 95, 105, years, untreated_history)  # spans two blocks
    for index in range(95, 105):
        direct = candidate_patient(index, 3, criteria, engine, years)
        from_pool = candidate_patient(index, 3, criteria, engine, years, history=stored[index])
        assert direct == from_pool


def test_second_run_reads_the_disk_and_does_not_simulate(own_pool, monkeypatch):
    first = sample_population(20, {"stage": ["mci"]}, seed=11)
    assert list(own_pool.rglob("block-*.parquet"))
    pool._memory.clear()

    def refuse(*_):
        raise AssertionError("simulated again although the pool holds the block")

    monkeypatch.setattr(pool, "_simulate_block", refuse)
    again = sample_population(20, {"stage": ["mci"]}, seed=11)
    assert again.equals(first)


def test_an_unreadable_block_is_rebuilt_with_the_same_numbers(own_pool):
    engine, years = Engine(), history_years()
    stored, failed = pool.history_block(engine, 5, 0, years, untreated_history)
    (path,) = own_pool.rglob("block-0000000.parquet")
    path.write_bytes(b"not parquet")
    pool._memory.clear()
    rebuilt, failed_again = pool.history_block(engine, 5, 0, years, untreated_history)
    assert np.array_equal(stored, rebuilt, equal_nan=True) and np.array_equal(failed, failed_again)
    assert path.read_bytes()[:4] == b"PAR1"


def test_a_changed_model_keys_a_new_pool_and_overrides_stay_in_memory(own_pool):
    years = history_years()
    base, changed = Engine(), Engine(parameter_overrides={"eta_clin": 0.1})
    assert pool.pool_key(base, years) != pool.pool_key(changed, years)
    assert pool.pool_key(base, years) == pool.pool_key(Engine(), years)
    pool.history_block(changed, 1, 0, years, untreated_history)
    assert not list(own_pool.rglob("*.parquet"))  # parameter sets of an uncertainty run are not written to disk
    assert pool.describe_pool(changed, years)["persisted"] is False


def test_pool_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("QSP_POOL_DIR", "off")
    assert pool.pool_root() is None


def test_changed_between_patient_sds_key_a_new_pool(own_pool, monkeypatch):
    """The IIV SDs live in parameters.csv, not in the SBML: editing them must not reuse the old patients."""
    from qsp.engine import simulate

    years = history_years()
    before = pool.pool_key(Engine(), years)
    sd = Engine().eta_sd
    wider = {**sd, "eta_clin": 2 * sd["eta_clin"]}
    monkeypatch.setattr(simulate, "iiv_sd", lambda: wider)
    assert pool.pool_key(Engine(), years) != before
