"""Model library in a real SQLite database: content-addressed, built-in always present and undeletable."""

import pytest

from qsp.engine.gate import sha256_text
from qsp.engine.model import antimony_to_sbml
from qsp.errors import InvalidInput, ModelRefused, QSPError
from qsp.store.models import BUILTIN_NAME, ModelStore, builtin_sbml

DECAY = antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5")
DECAY_2 = antimony_to_sbml("A -> ; k*A; A = 10; k = 0.7")


@pytest.fixture
def store(tmp_path):
    return ModelStore(f"sqlite:///{tmp_path / 'models.sqlite'}")


def test_builtin_is_listed_in_an_empty_library_and_cannot_be_deleted(store):
    (entry,) = store.entries()
    assert entry.builtin and entry.name == BUILTIN_NAME and entry.sha256 == sha256_text(builtin_sbml())
    assert store.load(entry.sha256) == builtin_sbml()
    with pytest.raises(InvalidInput, match="the built-in model cannot be deleted"):
        store.delete(entry.sha256)
    assert store.save(builtin_sbml(), "copy of builtin", "ann").builtin  # saving it again adds nothing
    assert len(store.entries()) == 1


def test_save_list_load_delete_by_content_hash(store, tmp_path):
    first = store.save(DECAY, "decay", "ann")
    assert first.sha256 == sha256_text(DECAY) and first.who == "ann" and first.saved_at is not None
    again = store.save(DECAY, "other name", "bob")  # same content: the first entry stays
    assert (again.name, again.who) == ("decay", "ann")
    second = store.save(DECAY_2, "decay v2", "bob")
    listed = store.entries()
    assert [e.name for e in listed] == [BUILTIN_NAME, "decay v2", "decay"]
    assert store.load(second.sha256) == DECAY_2
    # persisted: a second store on the same file sees both
    assert len(ModelStore(f"sqlite:///{tmp_path / 'models.sqlite'}").entries()) == 3
    store.delete(first.sha256)
    assert [e.name for e in store.entries()] == [BUILTIN_NAME, "decay v2"]
    with pytest.raises(InvalidInput, match="no saved model with sha256 'abc'"):
        store.load("abc")


def test_bad_inputs_are_refused(store, monkeypatch, tmp_path):
    with pytest.raises(ModelRefused, match="a path or URL is not accepted"):
        store.save("/etc/passwd", "x", "ann")
    with pytest.raises(InvalidInput, match="name: must be text of 1 to 120 characters"):
        store.save(DECAY, "  ", "ann")
    with pytest.raises(InvalidInput, match="who: must be text of 1 to 120 characters"):
        store.save(DECAY, "x", "w" * 121)
    with pytest.raises(QSPError, match="database: cannot open"):
        ModelStore("notadb://whatever")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert ModelStore().url.endswith("env.sqlite")
