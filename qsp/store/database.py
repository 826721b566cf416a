"""Saved scenarios in a real database (SQLite by default, any SQLAlchemy URL via DATABASE_URL).

Scenarios are stored as the same YAML the CLI takes, keyed by name; saving a name again
replaces it. Nothing about patients is stored here.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import DateTime, String, Text, create_engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qsp.engine.gate import sha256_text
from qsp.errors import InvalidInput, QSPError
from qsp.trial.scenario import Scenario, scenario_from_text, scenario_to_yaml

DEFAULT_DATABASE = Path.home() / ".ad_qsp" / "ad_qsp.sqlite"  # used when DATABASE_URL is not set


class Base(DeclarativeBase):
    pass


class SavedScenario(Base):
    """One saved trial scenario."""

    __tablename__ = "scenarios"
    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    yaml: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime)


def database_url() -> str:
    """DATABASE_URL when set, else a SQLite file in the user's home."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    DEFAULT_DATABASE.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_DATABASE}"


def open_database(url: str | None, metadata):
    """(url, engine) for ``url`` (default: :func:`database_url`) with ``metadata``'s tables created."""
    url = url or database_url()
    try:
        engine = create_engine(url, future=True)
        metadata.create_all(engine)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise QSPError(f"database: cannot open {url!r}: {str(exc).splitlines()[0]}") from exc
    return url, engine


class ScenarioStore:
    """Save, list, load and delete scenarios."""

    def __init__(self, url: str | None = None):
        self.url, self.engine = open_database(url, Base.metadata)

    def save(self, scenario: Scenario) -> str:
        """Store (or replace) a scenario under its name; returns the name."""
        text = scenario_to_yaml(scenario)
        with Session(self.engine) as session, session.begin():
            session.merge(SavedScenario(name=scenario.name, yaml=text, sha256=sha256_text(text), saved_at=dt.datetime.now(dt.UTC)))
        return scenario.name

    def names(self) -> list[str]:
        """Saved scenario names, sorted."""
        with Session(self.engine) as session:
            return list(session.scalars(select(SavedScenario.name).order_by(SavedScenario.name)))

    def load(self, name: str) -> Scenario:
        """The saved scenario called ``name``."""
        with Session(self.engine) as session:
            row = session.get(SavedScenario, name)
            if row is None:
                raise InvalidInput(f"scenario: no saved scenario named {name!r}")
            return scenario_from_text(row.yaml)

    def delete(self, name: str) -> None:
        """Remove a saved scenario (no error if absent)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(SavedScenario, name)
            if row is not None:
                session.delete(row)
