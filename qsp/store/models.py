"""Model library in a real database (SQLite by default, any SQLAlchemy URL via DATABASE_URL, as qsp.storage).

Models are identified by the sha256 of their SBML text: saving the same text again keeps the first entry.
The built-in model is always listed first, is read from its file and cannot be deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qsp import paths
from qsp.engine.gate import MAX_MODEL_BYTES, check_sbml_text, sha256_text
from qsp.errors import InvalidInput
from qsp.store.database import open_database

BUILTIN_NAME = "AD continuum (built-in)"  # library name of the built-in model
BUILTIN_WHO = "built-in"  # uploader shown for the built-in model
MAX_NAME_CHARS = 120  # model names and uploader names at most this long


class Base(DeclarativeBase):
    pass


class SavedModel(Base):
    """One SBML model in the library."""

    __tablename__ = "lab_models"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    who: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime)  # UTC
    sbml: Mapped[str] = mapped_column(Text)


@dataclass(frozen=True)
class ModelEntry:
    """A library entry without its text."""

    sha256: str
    name: str
    who: str
    saved_at: dt.datetime | None  # UTC; None for the built-in model
    builtin: bool = False


def builtin_sbml() -> str:
    """The built-in model's SBML text, from the repository."""
    return paths.BUILTIN_SBML.read_text(encoding="utf-8")


def builtin_entry() -> ModelEntry:
    return ModelEntry(sha256_text(builtin_sbml()), BUILTIN_NAME, BUILTIN_WHO, None, builtin=True)


def _check_label(field: str, value, allow_empty: bool = False) -> str:
    text = value.strip() if isinstance(value, str) else None
    if text is None or (not text and not allow_empty) or len(text) > MAX_NAME_CHARS:
        raise InvalidInput(f"{field}: must be text of 1 to {MAX_NAME_CHARS} characters (got {value!r})")
    return text


class ModelStore:
    """Save, list, load and delete SBML models by content hash."""

    def __init__(self, url: str | None = None):
        self.url, self.engine = open_database(url, Base.metadata)

    def save(self, sbml: str, name: str, who: str = "anonymous", max_bytes: int = MAX_MODEL_BYTES) -> ModelEntry:
        """Store an SBML text (gate-checked); returns its entry, the existing one if the text is already stored."""
        name = _check_label("name", name)
        who = _check_label("who", who or "anonymous")
        sbml = check_sbml_text(sbml, max_bytes=max_bytes)
        sha = sha256_text(sbml)
        if sha == builtin_entry().sha256:
            return builtin_entry()
        with Session(self.engine) as session, session.begin():
            row = session.get(SavedModel, sha)
            if row is None:
                row = SavedModel(sha256=sha, name=name, who=who, saved_at=dt.datetime.now(dt.UTC).replace(tzinfo=None), sbml=sbml)
                session.add(row)
            return ModelEntry(row.sha256, row.name, row.who, row.saved_at)

    def entries(self) -> list[ModelEntry]:
        """The built-in model, then saved models, newest first."""
        with Session(self.engine) as session:
            rows = session.execute(select(SavedModel.sha256, SavedModel.name, SavedModel.who, SavedModel.saved_at)
                                   .order_by(SavedModel.saved_at.desc(), SavedModel.name)).all()
        builtin = builtin_entry()
        return [builtin] + [ModelEntry(*row) for row in rows if row[0] != builtin.sha256]

    def load(self, sha256: str) -> str:
        """The SBML text stored under ``sha256``."""
        builtin = builtin_entry()
        if sha256 == builtin.sha256:
            return builtin_sbml()
        with Session(self.engine) as session:
            row = session.get(SavedModel, sha256)
            if row is None:
                raise InvalidInput(f"model: no saved model with sha256 {sha256!r}")
            return row.sbml

    def delete(self, sha256: str) -> None:
        """Remove a saved model (no error if absent); the built-in model cannot be deleted."""
        if sha256 == builtin_entry().sha256:
            raise InvalidInput("model: the built-in model cannot be deleted")
        with Session(self.engine) as session, session.begin():
            row = session.get(SavedModel, sha256)
            if row is not None:
                session.delete(row)
