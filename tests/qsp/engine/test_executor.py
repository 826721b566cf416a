"""Serial and Dask give identical populations and trials; keeping few records changes no endpoint; a scheduler that cannot be reached gives a clear error quickly."""

import time

import pandas as pd
import pytest

from qsp.engine.executor import ChunkExecutor, ExecutorSettings, map_chunks, settings_from
from qsp.errors import InvalidInput, QSPError
from qsp.population.sampling import sample_population
from qsp.provenance.rerun import differences
from qsp.trial.run import run_trial

SCENARIO = {
    "name": "dask", "seed": 21, "n_per_arm": 9, "duration_weeks": 52, "assess_weeks": [24, 52],
    "measurement_noise": True, "dropout_pct_per_year": 15,
    "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
    "arms": [{"name": "placebo"}, {"name": "don", "regimen": "donanemab_standard"}],
}


def test_serial_and_a_real_local_dask_cluster_give_identical_numbers(dask_cluster):
    pool = sample_population(18, SCENARIO["population"], seed=21)
    serial = run_trial(SCENARIO, population=pool).to_json()
    chunked = run_trial(SCENARIO, population=pool, executor=ExecutorSettings(chunk_size=4)).to_json()
    dask = run_trial(SCENARIO, population=pool, executor=dask_cluster).to_json()
    for other in (chunked, dask):
        assert not differences(serial["arms"], other["arms"])
        assert not differences(serial["comparisons"], other["comparisons"])


def test_sampling_and_simulating_at_once_gives_the_two_step_numbers_on_every_backend(dask_cluster):
    pool = sample_population(18, SCENARIO["population"], seed=21)
    two_step = run_trial(SCENARIO, population=pool).to_json()
    paired = {**SCENARIO, "paired_arms": True}
    paired_two_step = run_trial(paired, population=pool.iloc[:9]).to_json()
    fractions = []
    for executor in (None, ExecutorSettings(chunk_size=4), dask_cluster):
        streamed = run_trial(SCENARIO, executor=executor, progress=fractions.append).to_json()
        assert not differences(two_step["arms"], streamed["arms"])
        assert not differences(two_step["comparisons"], streamed["comparisons"])
        assert fractions[-1] == 1.0 and fractions == sorted(fractions)
        fractions.clear()
        assert not differences(run_trial(paired, executor=executor).to_json()["arms"], paired_two_step["arms"])


def test_runners_in_every_thread_give_bitwise_the_same_numbers():
    """roadrunner's first compilation of a model and the instances made later from its cache differed in the
    last bits, which grew to 1e-4 in a patient's iADRS: a thread's runner (a page, a Dask worker's task)
    gave other numbers than the main thread's. Every runner now comes from the cache."""
    import threading

    import numpy as np

    from qsp.engine.simulate import Engine
    from qsp.trial.run import baseline_state

    patients = sample_population(18, SCENARIO["population"], seed=21).to_dict("records")
    days = np.array([0.0, 24.0, 52.0]) * 7

    def values():
        engine = Engine()
        return np.array([engine.run(p, None, days, state=baseline_state(p)).values for p in patients])

    here = values()
    there = {}
    worker = threading.Thread(target=lambda: there.update(values=values()))
    worker.start()
    worker.join()
    assert np.array_equal(here, there["values"], equal_nan=True)


def test_unreachable_scheduler_is_a_clear_error_not_a_hang():
    start = time.perf_counter()
    with pytest.raises(QSPError, match="cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'"):
        map_chunks(len, [[1]], ExecutorSettings(backend="dask", scheduler="tcp://127.0.0.1:9", connect_timeout_s=2))
    assert time.perf_counter() - start < 30


def test_scheduler_from_the_environment(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert settings_from("dask").scheduler == "tcp://10.0.0.1:8786"
    assert settings_from("serial").backend == "serial"


def _one_by_one(n, criteria, seed):
    """The reference: candidates evaluated one at a time, accepted until n (the original loop)."""
    import numpy as np

    from qsp.engine.simulate import Engine
    from qsp.population.sampling import HISTORY_STEP_YEARS, HISTORY_YEARS, candidate_patient, parse_criteria

    engine, criteria = Engine(), parse_criteria(criteria)
    years = np.arange(0.0, HISTORY_YEARS + 1e-9, HISTORY_STEP_YEARS)
    rows, index = [], 0
    while len(rows) < n:
        patient = candidate_patient(index, seed, criteria, engine, years)
        if patient is not None:
            rows.append(patient)
        index += 1
    return pd.DataFrame(rows)


def test_population_sampling_is_identical_serial_chunked_and_on_a_local_dask_cluster(dask_cluster):
    # a seed no other test uses, sampled on Dask first: the workers simulate the histories (and fill the pool)
    on_dask = sample_population(10, SCENARIO["population"], seed=5050, executor=dask_cluster)
    dask_trial = run_trial({**SCENARIO, "seed": 5050}, executor=dask_cluster).to_json()
    reference = _one_by_one(10, SCENARIO["population"], seed=5050)  # direct simulation, no pool
    pd.testing.assert_frame_equal(on_dask, reference, check_exact=True)
    pd.testing.assert_frame_equal(sample_population(10, SCENARIO["population"], seed=5050), reference, check_exact=True)
    chunked = sample_population(10, SCENARIO["population"], seed=5050, executor=ExecutorSettings(chunk_size=3))
    pd.testing.assert_frame_equal(chunked, reference, check_exact=True)
    serial_trial = run_trial({**SCENARIO, "seed": 5050}, executor=ExecutorSettings(chunk_size=5)).to_json()
    assert dask_trial["arms"] == serial_trial["arms"]
    assert dask_trial["comparisons"] == serial_trial["comparisons"]


def test_keeping_records_of_a_few_patients_leaves_every_endpoint_unchanged():
    from qsp import constants as C
    from qsp.trial.endpoints import summarise

    pool = sample_population(18, SCENARIO["population"], seed=21)
    full = run_trial(SCENARIO, population=pool, executor=ExecutorSettings(chunk_size=4))
    pd.testing.assert_frame_equal(full.summary, summarise(full.records, full.patients, full.scenario), check_exact=True)
    lean = run_trial(SCENARIO, population=pool, executor=ExecutorSettings(chunk_size=4), keep_records=3)
    pd.testing.assert_frame_equal(lean.summary, full.summary, check_exact=True)
    pd.testing.assert_frame_equal(lean.patients, full.patients, check_exact=True)
    assert lean.to_json() == full.to_json()
    assert lean.records.groupby("arm")[C.PATIENT_ID].nunique().to_dict() == {"placebo": 3, "don": 3}
    first = full.records[full.records[C.PATIENT_ID].isin(lean.records[C.PATIENT_ID])].reset_index(drop=True)
    pd.testing.assert_frame_equal(lean.records, first, check_exact=True)
    with pytest.raises(InvalidInput, match="keep_records: must be None"):
        run_trial(SCENARIO, population=pool, keep_records=-1)


def test_memory_grows_linearly_with_the_population():
    """Peak Python-heap memory of a trial (records of a few patients kept) is about proportional to n."""
    import tracemalloc

    scenario = {**SCENARIO, "arms": SCENARIO["arms"][:1], "measurement_noise": False, "dropout_pct_per_year": 0}
    pools = {n: sample_population(n, SCENARIO["population"], seed=5) for n in (200, 800)}
    run_trial({**scenario, "n_per_arm": 20}, population=pools[200], keep_records=5)  # warm-up: one-time allocations
    peaks = {}
    for n, pool in pools.items():
        tracemalloc.start()
        run_trial({**scenario, "n_per_arm": n}, population=pool, keep_records=5)
        peaks[n] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    ratio = peaks[800] / peaks[200]
    assert 1.5 < ratio < 6.0, peaks  # 4x the patients: well below quadratic growth (16x)


def test_a_local_cluster_neither_reruns_the_main_script_nor_prints_killing_warnings(caplog, tmp_path, monkeypatch):
    """Workers are spawned: they re-ran the parent's ``__main__`` file (under Streamlit, the whole page) before
    their first task. Issue 14: `--backend dask` printed "Worker process still alive after 4.0 seconds, killing"."""
    import logging
    import sys
    import types

    marker = tmp_path / "main_ran"
    script = tmp_path / "page.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)  # as under `streamlit run`: __main__ is the page

    ex = ChunkExecutor(ExecutorSettings(backend="dask", n_workers=1))
    client = ex._connect()
    assert sys.modules["__main__"] is main  # restored once the workers have started
    assert client.submit(sum, [1, 2], pure=False).result() == 3 and not marker.exists()
    busy = client.submit(time.sleep, 60, pure=False)  # a worker still running when the run ends
    time.sleep(1.0)
    with caplog.at_level(logging.WARNING):
        ex.close()
    assert busy is not None
    assert not [r for r in caplog.records if "killing" in r.getMessage()]


def test_the_main_module_is_put_back_only_if_nobody_replaced_it_meanwhile(monkeypatch):
    """Streamlit sets __main__ at each page run: a page that started while workers started keeps its own."""
    import sys
    import types

    from qsp.engine.executor import no_main_script

    page, other = types.ModuleType("__main__"), types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", page)
    with no_main_script():
        assert sys.modules["__main__"] is not page and not hasattr(sys.modules["__main__"], "__file__")
    assert sys.modules["__main__"] is page
    with no_main_script():
        sys.modules["__main__"] = other  # another session's page run begins
    assert sys.modules["__main__"] is other
    monkeypatch.delitem(sys.modules, "__main__")
    with no_main_script():
        pass
    assert "__main__" not in sys.modules  # no stand-in left behind
