"""Saved digital twins under pseudonymous ids (SQLite by default, any SQLAlchemy URL via DATABASE_URL).

Nothing is written unless a caller saves. A saved twin holds the twin's input visits (PATIENT.csv
rows, demographics on the first) and a fit summary, under a **random token** (``TW-`` and 12
hex digits from :mod:`secrets`) that replaces the patient id everywhere in the stored rows. A
random token rather than a (salted) hash of the id: a hash of a short, structured hospital id
can be reversed by trying every id, a salt would have to be kept secret somewhere, and the
token carries no information at all; the link from token to patient stays with the user.
The database is the one :func:`qsp.storage.database_url` names (DATABASE_URL, else the user's
SQLite file); this module keeps its own table.

>>> import tempfile, pathlib
>>> url = "sqlite:///" + str(pathlib.Path(tempfile.mkdtemp()) / "twins.sqlite")
>>> from qsp.twin.records import parse_patient
>>> store = TwinStore(url)
>>> p = parse_patient({"patient_id": "MRN-42", "age": 70, "sex": "F", "weight_kg": 60, "apoe4_copies": 1,
...                    "visits": [{"week": 0, "cdrsb": 2.0}]})
>>> token = store.save(p, {"stage": "mci"})
>>> store.load(token).patient.patient_id == token, "MRN-42" in str(store.list())
(True, False)
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import secrets
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from qsp import constants as C
from qsp.errors import InvalidInput, QSPError
from qsp.store.database import MAX_OWNER_CHARS, SHARED, add_owner_column, check_owner, open_database
from qsp.twin.records import PatientRecord, parse_patient_rows

TOKEN_PREFIX = "TW-"  # pseudonymous ids look like TW-3f9a0c12be47
TOKEN_PATTERN = re.compile(r"^TW-[0-9a-f]{12}$")  # what load/delete accept


class _Base(DeclarativeBase):
    pass


class SavedTwin(_Base):
    """One saved twin: visits and fit summary under a pseudonymous id."""

    __tablename__ = "saved_twins"
    twin_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(MAX_OWNER_CHARS), default=SHARED, index=True)  # who may see it
    visits_json: Mapped[str] = mapped_column(Text)  # PATIENT.csv rows with patient_id = twin_id
    summary_json: Mapped[str] = mapped_column(Text)  # stage, years since positivity, parameters, ...
    saved_at: Mapped[dt.datetime] = mapped_column(DateTime)


@dataclass(frozen=True)
class LoadedTwin:
    """A saved twin read back: the patient (id = the token), the fit summary and when it was saved."""

    twin_id: str
    patient: PatientRecord
    summary: dict
    saved_at: dt.datetime


def new_twin_id() -> str:
    """A fresh random pseudonymous id (48 random bits; no relation to any patient data)."""
    return TOKEN_PREFIX + secrets.token_hex(6)


def _clean(value):
    """JSON-safe value: NaN/inf become None, numpy scalars plain floats."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return _clean(value.to_dict("records"))
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scrub(summary: dict, patient_id: str, twin_id: str) -> dict:
    """The summary with every occurrence of the patient id replaced by the token (as JSON text)."""
    text = json.dumps(_clean(summary))
    if patient_id:
        text = text.replace(json.dumps(patient_id)[1:-1], twin_id)
    return json.loads(text)


class TwinStore:
    """Save, list, load and delete the twins of one owner (:data:`~qsp.store.database.SHARED` when sign-in is off).

    A twin saved by one signed-in user cannot be listed, loaded or deleted by anyone else.
    """

    def __init__(self, url: str | None = None, owner: str | None = None):
        self.owner = check_owner(owner)
        self.url, self.engine = open_database(url, _Base.metadata)
        try:
            add_owner_column(self.engine, SavedTwin.__tablename__)
        except SQLAlchemyError as exc:
            raise QSPError(f"database: cannot upgrade the saved twins table: {str(exc).splitlines()[0]}") from exc

    def save(self, patient: PatientRecord, summary: dict | None = None) -> str:
        """Store a twin's visits and fit summary under a new random id; returns that id.

        The patient id is replaced by the id in the visits and anywhere in ``summary``.
        """
        twin_id = new_twin_id()
        rows = [{**row, C.PATIENT_ID: twin_id} for row in patient.to_rows()]
        record = SavedTwin(twin_id=twin_id, owner=self.owner, visits_json=json.dumps(_clean(rows)),
                           summary_json=json.dumps(_scrub(summary or {}, patient.patient_id, twin_id)),
                           saved_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
        try:
            with Session(self.engine) as session, session.begin():
                session.add(record)
        except SQLAlchemyError as exc:
            raise QSPError(f"database: cannot save the twin: {str(exc).splitlines()[0]}") from exc
        return twin_id

    def list(self) -> pd.DataFrame:
        """Saved twins, newest first: twin_id, saved_at, n_visits, stage."""
        with Session(self.engine) as session:
            query = select(SavedTwin).where(SavedTwin.owner == self.owner).order_by(SavedTwin.saved_at.desc())
            rows = session.scalars(query).all()
            out = [{"twin_id": r.twin_id, "saved_at": r.saved_at, "n_visits": len(json.loads(r.visits_json)),
                    "stage": json.loads(r.summary_json).get("stage")} for r in rows]
        return pd.DataFrame(out, columns=["twin_id", "saved_at", "n_visits", "stage"])

    def _check(self, twin_id: str) -> None:
        if not isinstance(twin_id, str) or not TOKEN_PATTERN.match(twin_id):
            raise InvalidInput(f"twin_id: expected {TOKEN_PREFIX} and 12 hex digits (got {twin_id!r})")

    def load(self, twin_id: str) -> LoadedTwin:
        """The saved twin ``twin_id``: its patient (id = the token) and summary."""
        self._check(twin_id)
        with Session(self.engine) as session:
            row = session.get(SavedTwin, twin_id)
            if row is None or row.owner != self.owner:  # another user's twin does not exist for this one
                raise InvalidInput(f"twin_id: no saved twin {twin_id!r}")
            rows, summary, saved_at = json.loads(row.visits_json), json.loads(row.summary_json), row.saved_at
        return LoadedTwin(twin_id, parse_patient_rows(rows), summary, saved_at)

    def delete(self, twin_id: str) -> None:
        """Remove a saved twin (no error if absent)."""
        self._check(twin_id)
        with Session(self.engine) as session, session.begin():
            row = session.get(SavedTwin, twin_id)
            if row is not None and row.owner == self.owner:
                session.delete(row)
