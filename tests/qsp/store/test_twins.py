"""Saved twins: pseudonymous ids, save/list/load/delete, the patient id never stored."""

import pytest
from sqlalchemy import create_engine, text

from qsp import paths
from qsp.errors import InvalidInput
from qsp.store.twins import TOKEN_PATTERN, TwinStore
from qsp.twin.records import read_patient_csv


@pytest.fixture
def store(tmp_path):
    return TwinStore(f"sqlite:///{tmp_path / 'twins.sqlite'}")


@pytest.fixture
def patient():
    return read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv")


def test_save_list_load_delete(store, patient):
    summary = {"stage": "mci", "since": {"median": 3.2}, "note": f"fit of {patient.patient_id}", "bad": float("nan")}
    twin_id = store.save(patient, summary)
    assert TOKEN_PATTERN.match(twin_id)
    listed = store.list()
    assert list(listed["twin_id"]) == [twin_id]
    assert listed["n_visits"].iloc[0] == len(patient.visits) and listed["stage"].iloc[0] == "mci"
    loaded = store.load(twin_id)
    assert loaded.patient.patient_id == twin_id
    assert loaded.patient.covariates() == patient.covariates()
    assert loaded.patient.visits.equals(patient.visits)
    assert loaded.summary["since"] == {"median": 3.2} and loaded.summary["bad"] is None
    store.delete(twin_id)
    assert store.list().empty
    store.delete(twin_id)  # absent: no error


def test_stored_rows_do_not_contain_the_patient_id(store, patient, tmp_path):
    ids = {store.save(patient, {"stage": "mci", "note": patient.patient_id}) for _ in range(2)}
    assert len(ids) == 2  # a new random id per save: two saves cannot be linked
    engine = create_engine(store.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM saved_twins")).fetchall()
    dump = repr(rows)
    assert len(rows) == 2 and patient.patient_id not in dump and patient.patient_id.lower() not in dump.lower()
    assert patient.patient_id.encode() not in (tmp_path / "twins.sqlite").read_bytes()


def test_nothing_is_written_until_saved(tmp_path):
    TwinStore(f"sqlite:///{tmp_path / 'twins.sqlite'}")
    assert TwinStore(f"sqlite:///{tmp_path / 'twins.sqlite'}").list().empty


def test_bad_ids_are_refused(store):
    with pytest.raises(InvalidInput, match="twin_id: expected TW- and 12 hex digits"):
        store.load("EX-MCI-001")
    with pytest.raises(InvalidInput, match="twin_id: no saved twin 'TW-000000000000'"):
        store.load("TW-000000000000")
    with pytest.raises(InvalidInput, match="twin_id: expected"):
        store.delete("'; DROP TABLE saved_twins; --")
