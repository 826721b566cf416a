"""With sign-in on, saved twins and scenarios belong to the signed-in user; nobody else can list, load or delete them."""

import sqlite3

import pytest

from qsp.errors import InvalidInput
from qsp.store.database import ScenarioStore
from qsp.store.twins import TwinStore
from qsp.trial.scenario import parse_scenario
from qsp.twin.records import parse_patient

PATIENT = {"patient_id": "MRN-7", "age": 70, "sex": "F", "weight_kg": 60, "apoe4_copies": 1, "visits": [{"week": 0, "cdrsb": 2.0}]}
SCENARIO = {"name": "my design", "n_per_arm": 10, "duration_weeks": 52, "assess_weeks": [52], "arms": [{"name": "placebo"}]}


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'shared.sqlite'}"


def test_a_users_twins_are_invisible_to_another_user_and_to_the_shared_space(url):
    alice, bob, shared = TwinStore(url, owner="alice@example.org"), TwinStore(url, owner="bob@example.org"), TwinStore(url)
    token = alice.save(parse_patient(PATIENT), {"stage": "mci"})
    assert list(alice.list()["twin_id"]) == [token]
    assert bob.list().empty and shared.list().empty
    for other in (bob, shared):
        with pytest.raises(InvalidInput, match="no saved twin"):
            other.load(token)
        other.delete(token)  # silently nothing: it does not exist for them
    assert alice.load(token).summary["stage"] == "mci"


def test_scenario_names_are_per_owner(url):
    alice, bob = ScenarioStore(url, owner="alice@example.org"), ScenarioStore(url, owner="bob@example.org")
    alice.save(parse_scenario(SCENARIO))
    bob.save(parse_scenario({**SCENARIO, "n_per_arm": 99}))  # the same name, another owner: no clash
    assert alice.names() == bob.names() == ["my design"]
    assert alice.load("my design").n_per_arm == 10 and bob.load("my design").n_per_arm == 99
    assert ScenarioStore(url).names() == []
    bob.delete("my design")
    assert alice.names() == ["my design"] and bob.names() == []


def test_a_database_from_before_owners_keeps_its_rows_as_shared(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE scenarios (name VARCHAR(120) PRIMARY KEY, yaml TEXT, sha256 VARCHAR(64), saved_at DATETIME)")
        db.execute("INSERT INTO scenarios VALUES ('old one', ?, 'x', '2026-11-01 10:00:00')",
                   ("name: old one\nn_per_arm: 5\nduration_weeks: 52\nassess_weeks: [52]\narms: [{name: placebo}]\n",))
        db.execute("CREATE TABLE saved_twins (twin_id VARCHAR(32) PRIMARY KEY, visits_json TEXT, summary_json TEXT, saved_at DATETIME)")
        db.execute("INSERT INTO saved_twins VALUES ('TW-0123456789ab', '[]', '{\"stage\": \"mci\"}', '2026-11-01 10:00:00')")
    url = f"sqlite:///{path}"
    assert ScenarioStore(url).names() == ["old one"] and ScenarioStore(url, owner="carol").names() == []
    assert list(TwinStore(url).list()["twin_id"]) == ["TW-0123456789ab"]
    assert TwinStore(url, owner="carol").list().empty


def test_an_empty_or_absurd_identity_is_refused(url):
    for owner in ("", "   ", "x" * 400):
        with pytest.raises(InvalidInput, match="owner"):
            TwinStore(url, owner=owner)
