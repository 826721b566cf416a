"""Scenario storage in a real SQLite database."""

import pytest

from qsp.errors import InvalidInput, QSPError
from qsp.store.database import ScenarioStore
from qsp.trial.scenario import parse_scenario

SCENARIO = {
    "name": "stored",
    "n_per_arm": 10,
    "duration_weeks": 52,
    "assess_weeks": [52],
    "arms": [{"name": "placebo"}, {"name": "lec", "regimen": "lecanemab_q2w"}],
}


def test_save_list_load_delete_round_trip(tmp_path):
    store = ScenarioStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    scenario = parse_scenario(SCENARIO)
    store.save(scenario)
    assert store.names() == ["stored"]
    assert store.load("stored") == scenario
    changed = scenario.model_copy(update={"n_per_arm": 20})
    store.save(changed)  # same name replaces
    assert store.load("stored").n_per_arm == 20
    # a second store on the same file sees it (it is really persisted)
    assert ScenarioStore(f"sqlite:///{tmp_path / 'db.sqlite'}").names() == ["stored"]
    store.delete("stored")
    assert store.names() == []


def test_missing_scenario_and_bad_url(tmp_path):
    store = ScenarioStore(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(InvalidInput, match="no saved scenario named 'nope'"):
        store.load("nope")
    with pytest.raises(QSPError, match="database: cannot open"):
        ScenarioStore("notadb://whatever")


def test_database_url_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    store = ScenarioStore()
    store.save(parse_scenario(SCENARIO))
    assert (tmp_path / "env.sqlite").exists()
