"""Saved scenarios in a real database (SQLite by default, any SQLAlchemy URL via DATABASE_URL).

Scenarios are stored as the same YAML the CLI takes, keyed by owner and name; saving a name again
replaces it. Nothing about patients is stored here.

**Owners.** With sign-in on (the dashboard's optional OIDC login) a store is opened for the signed-in
user (``owner`` = their identity) and sees only what that user saved; nobody else can list, load or
delete it. With sign-in off the owner is ``""`` (:data:`SHARED`): everything saved is visible to anyone
using the database, and rows saved by signed-in users stay hidden.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sqlalchemy import DateTime, String, Text, create_engine, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qsp.engine.gate import sha256_text
from qsp.errors import InvalidInput, QSPError
from qsp.trial.scenario import Scenario, scenario_from_text, scenario_to_yaml

DEFAULT_DATABASE = Path.home() / ".ad_qsp" / "ad_qsp.sqlite"  # used when DATABASE_URL is not set
SHARED = ""  # owner of what is saved with sign-in off: visible to anyone using the database
MAX_OWNER_CHARS = 320  # an e-mail address or an OIDC subject


class Base(DeclarativeBase):
    pass


class SavedScenario(Base):
    """One saved trial scenario of one owner."""

    __tablename__ = "owned_scenarios"
    owner: Mapped[str] = mapped_column(String(MAX_OWNER_CHARS), primary_key=True, default=SHARED)
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


def check_owner(owner: str | None) -> str:
    """The owner a store is opened for: :data:`SHARED` for None (sign-in off), else the identity, checked."""
    if owner is None:
        return SHARED
    if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_OWNER_CHARS:
        raise InvalidInput(f"owner: expected the signed-in user's identity, 1-{MAX_OWNER_CHARS} characters (got {owner!r})")
    return owner.strip()


def add_owner_column(engine, table: str) -> None:
    """Give a table of an older database the ``owner`` column (rows saved before stay shared)."""
    columns = {c["name"] for c in inspect(engine).get_columns(table)}
    if "owner" not in columns:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN owner VARCHAR({MAX_OWNER_CHARS}) NOT NULL DEFAULT ''"))


def _adopt_old_scenarios(engine) -> None:
    """Copy scenarios of the single-user table (before owners) into the owned table, as shared ones, once."""
    tables = set(inspect(engine).get_table_names())
    if "scenarios" not in tables:
        return
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO owned_scenarios (owner, name, yaml, sha256, saved_at) "
                          "SELECT '', name, yaml, sha256, saved_at FROM scenarios "
                          "WHERE name NOT IN (SELECT name FROM owned_scenarios WHERE owner = '')"))
        conn.execute(text("DROP TABLE scenarios"))


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
    """Save, list, load and delete the scenarios of one owner (:data:`SHARED` when sign-in is off)."""

    def __init__(self, url: str | None = None, owner: str | None = None):
        self.owner = check_owner(owner)
        self.url, self.engine = open_database(url, Base.metadata)
        try:
            _adopt_old_scenarios(self.engine)
        except SQLAlchemyError as exc:
            raise QSPError(f"database: cannot upgrade the scenarios table: {str(exc).splitlines()[0]}") from exc

    def save(self, scenario: Scenario) -> str:
        """Store (or replace) a scenario under its name; returns the name."""
        yaml_text = scenario_to_yaml(scenario)
        with Session(self.engine) as session, session.begin():
            session.merge(SavedScenario(owner=self.owner, name=scenario.name, yaml=yaml_text, sha256=sha256_text(yaml_text),
                                        saved_at=dt.datetime.now(dt.UTC)))
        return scenario.name

    def names(self) -> list[str]:
        """This owner's saved scenario names, sorted."""
        with Session(self.engine) as session:
            query = select(SavedScenario.name).where(SavedScenario.owner == self.owner).order_by(SavedScenario.name)
            return list(session.scalars(query))

    def load(self, name: str) -> Scenario:
        """This owner's saved scenario called ``name``."""
        with Session(self.engine) as session:
            row = session.get(SavedScenario, (self.owner, name))
            if row is None:
                raise InvalidInput(f"scenario: no saved scenario named {name!r}")
            return scenario_from_text(row.yaml)

    def delete(self, name: str) -> None:
        """Remove a saved scenario (no error if absent)."""
        with Session(self.engine) as session, session.begin():
            row = session.get(SavedScenario, (self.owner, name))
            if row is not None:
                session.delete(row)
