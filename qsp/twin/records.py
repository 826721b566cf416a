"""A patient's visits: the PATIENT.csv format, parsing with one message per problem, and the typed record."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from qsp import constants as C
from qsp.errors import InvalidInput
from qsp.validation import read_limited

FIT_OBSERVABLES = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE)  # observables a visit may report

COMPONENTS = (C.ADAS_COG13, C.ADCS_IADL)  # iADRS components: iADRS = (85 - ADAS-Cog13) + ADCS-iADL

DEMOGRAPHICS = (C.AGE, C.SEX, C.WEIGHT_KG, C.APOE4)  # on the first row at least

WEEK = "week"  # weeks from the baseline visit (week 0)

CSV_COLUMNS = (C.PATIENT_ID, WEEK, *DEMOGRAPHICS, *FIT_OBSERVABLES)  # PATIENT.csv columns, in order

OPTIONAL_COLUMNS = (*COMPONENTS, "date")  # may be absent from PATIENT.csv; date (YYYY-MM-DD) may replace week

MAX_VISITS = 200  # visits accepted per patient
MAX_PATIENT_BYTES = 1_000_000  # PATIENT.csv size limit

# Allowed values: (low, high, unit) of each numeric field.
RANGES = {
    WEEK: (0.0, 1040.0, "weeks"),
    C.AGE: (40.0, 100.0, "years"),
    C.WEIGHT_KG: (35.0, 200.0, "kg"),
    C.AMYLOID_CL: (-20.0, 200.0, "CL"),
    C.TAU_SUVR: (0.9, 4.0, "SUVr"),
    C.IADRS: (0.0, 144.0, "points"),
    C.CDRSB: (0.0, 18.0, "points"),
    C.MMSE: (0.0, 30.0, "points"),
    C.ADAS_COG13: (0.0, 85.0, "points"),
    C.ADCS_IADL: (0.0, 59.0, "points"),
}

@dataclass(frozen=True)
class PatientRecord:
    """A validated patient: covariates and visits (one row per week, NaN where not measured)."""

    patient_id: str
    age: float  # years at the baseline visit
    sex: str  # F or M
    weight_kg: float
    apoe4_copies: int
    visits: pd.DataFrame  # columns: week, amyloid_cl, tau_suvr, iadrs, cdrsb, mmse; sorted by week

    def covariates(self) -> dict:
        """The covariates as the engine takes them."""
        return {C.AGE: self.age, C.SEX: self.sex, C.WEIGHT_KG: self.weight_kg, C.APOE4: self.apoe4_copies}

    @property
    def last_week(self) -> float:
        """Week of the last visit (weeks from baseline)."""
        return float(self.visits[WEEK].max())

    def n_observations(self) -> int:
        """Number of observed values over all visits."""
        return int(self.visits[list(FIT_OBSERVABLES)].notna().sum().sum())

    def with_visit(self, visit: dict) -> PatientRecord:
        """A copy with one more visit (a mapping with ``week`` and any observables); validated."""
        rows = [{**r, C.PATIENT_ID: self.patient_id} for r in self.visits.to_dict("records")]
        rows[0].update(self.covariates())
        return parse_patient({**self.covariates(), C.PATIENT_ID: self.patient_id, "visits": [*rows, dict(visit)]})

    def to_rows(self) -> list[dict]:
        """One dict per visit with the demographics on the first, as in PATIENT.csv."""
        rows = []
        for i, visit in enumerate(self.visits.to_dict("records")):
            row = {C.PATIENT_ID: self.patient_id, **({k: v for k, v in self.covariates().items()} if i == 0 else {})}
            row.update({k: (None if pd.isna(v) else float(v)) for k, v in visit.items()})
            rows.append(row)
        return rows

def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())

def _number(value, column: str, where: str, problems: list[str]) -> float | None:
    """A number within RANGES[column], None when blank; appends a problem otherwise."""
    if _blank(value):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        problems.append(f"{where}, {column}: not a number (got {value!r})")
        return None
    lo, hi, unit = RANGES[column]
    if not math.isfinite(x) or not lo <= x <= hi:
        problems.append(f"{where}, {column}: must be between {lo:g} and {hi:g} {unit} (got {value!r})")
        return None
    return x

def _demographics(row: dict, where: str, problems: list[str]) -> dict:
    out: dict = {}
    pid = row.get(C.PATIENT_ID)
    out[C.PATIENT_ID] = None if _blank(pid) else str(pid).strip()
    out[C.AGE] = _number(row.get(C.AGE), C.AGE, where, problems)
    out[C.WEIGHT_KG] = _number(row.get(C.WEIGHT_KG), C.WEIGHT_KG, where, problems)
    sex = row.get(C.SEX)
    if _blank(sex):
        out[C.SEX] = None
    elif str(sex).strip().upper() in C.SEXES:
        out[C.SEX] = str(sex).strip().upper()
    else:
        problems.append(f"{where}, {C.SEX}: must be F or M (got {sex!r})")
        out[C.SEX] = None
    apoe = row.get(C.APOE4)
    out[C.APOE4] = None
    if not _blank(apoe):
        try:
            value = float(apoe)
        except (TypeError, ValueError):
            value = math.nan
        if value in C.APOE4_GENOTYPES:
            out[C.APOE4] = int(value)
        else:
            problems.append(f"{where}, {C.APOE4}: must be 0, 1 or 2 (got {apoe!r})")
    return out

DATE = "date"  # visit date (YYYY-MM-DD), accepted instead of week: weeks are counted from the earliest date

def _weeks_from_dates(rows: list[dict], labels: list[str], problems: list[str]) -> list[dict]:
    """Rows with ``week`` filled from ``date`` where only a date is given (weeks since the earliest date)."""
    import datetime as dt

    dated = [i for i, r in enumerate(rows) if not _blank(r.get(DATE))]
    if not dated:
        return rows
    if len(dated) != len(rows):
        missing = [labels[i] for i in range(len(rows)) if i not in dated]
        problems.append(f"{DATE}: give a date on every visit or on none (missing on {', '.join(missing)})")
        return rows
    days = {}
    for i in dated:
        try:
            days[i] = dt.date.fromisoformat(str(rows[i][DATE]).strip()[:10])
        except ValueError:
            problems.append(f"{labels[i]}, {DATE}: not a date, use YYYY-MM-DD (got {rows[i][DATE]!r})")
    if len(days) != len(rows):
        return rows
    first = min(days.values())
    out = []
    for i, row in enumerate(rows):
        week = round((days[i] - first).days / 7.0, 3)
        if not _blank(row.get(WEEK)) and _number(row.get(WEEK), WEEK, labels[i], []) not in (None, week):
            problems.append(f"{labels[i]}, {WEEK}: {row.get(WEEK)!r} disagrees with the date ({week:g} weeks after the first visit)")
        out.append({**row, WEEK: week})
    return out

def _require_first_row(rows: list[dict], labels: list[str], first: dict, problems: list[str]) -> None:
    """One message when demographics are missing from the first row (naming the row that has them, if any)."""
    keys = (C.PATIENT_ID, *DEMOGRAPHICS)
    missing = [k for k in keys if first[k] is None and not any(p.startswith(f"{labels[0]}, {k}:") for p in problems)]
    if not missing:
        return
    holder = next((label for row, label in zip(rows[1:], labels[1:])
                   if all(not _blank(row.get(k)) for k in missing)), None)
    if holder is not None:
        problems.append(f"{labels[0]}: the first row must carry the demographics ({', '.join(missing)}); {holder} has "
                        "them: put that visit's row first")
    else:
        problems.append(f"{labels[0]}: required on the first row, blank here: {', '.join(missing)}")


def parse_patient_rows(rows: list[dict], labels: list[str] | None = None) -> PatientRecord:
    """A PatientRecord from one dict per visit (PATIENT.csv rows); InvalidInput lists every problem.

    Demographics may be given on the first row only; later rows must leave them blank or repeat
    them. ``labels`` name the rows in messages (``line 2`` for a CSV, ``visits[0]`` for a form).

    >>> p = parse_patient_rows([{"patient_id": "P1", "week": 0, "age": 70, "sex": "F", "weight_kg": 65,
    ...                          "apoe4_copies": 1, "amyloid_cl": 80, "cdrsb": 2.5}])
    >>> p.patient_id, float(p.visits["cdrsb"].iloc[0])
    ('P1', 2.5)
    """
    if not rows:
        raise InvalidInput("visits: no visit given (at least one row with week 0 is needed)")
    if len(rows) > MAX_VISITS:
        raise InvalidInput(f"visits: at most {MAX_VISITS} visits per patient (got {len(rows)})")
    labels = labels or [f"visits[{i}]" for i in range(len(rows))]
    problems: list[str] = []
    rows = _weeks_from_dates(rows, labels, problems)
    date_problems = any(p.startswith(f"{DATE}:") or f", {DATE}:" in p for p in problems)
    first = _demographics(rows[0], labels[0], problems)
    _require_first_row(rows, labels, first, problems)
    visits, weeks_seen = [], {}
    for row, where in zip(rows, labels):
        if row is not rows[0]:
            later = _demographics(row, where, problems)
            for key in (C.PATIENT_ID, *DEMOGRAPHICS):
                if later[key] is not None and first[key] is not None and later[key] != first[key]:
                    what = "one patient per file" if key == C.PATIENT_ID else "leave it blank or repeat the first row's"
                    problems.append(f"{where}, {key}: differs from the first row ({later[key]!r} vs {first[key]!r}); {what}")
        week = _number(row.get(WEEK), WEEK, where, problems)
        if week is None and _blank(row.get(WEEK)) and not (date_problems and not _blank(row.get(DATE))):
            problems.append(f"{where}, {WEEK}: required (weeks from the baseline visit)")  # a bad date is said once
        values = {obs: _number(row.get(obs), obs, where, problems) for obs in (*FIT_OBSERVABLES, *COMPONENTS)}
        adas, iadl = values.pop(C.ADAS_COG13), values.pop(C.ADCS_IADL)
        if values[C.IADRS] is None and (adas is None) != (iadl is None):
            given = C.ADAS_COG13 if adas is not None else C.ADCS_IADL
            problems.append(f"{where}, {given}: iADRS needs both {C.ADAS_COG13} and {C.ADCS_IADL} (or give {C.IADRS})")
        elif values[C.IADRS] is None and adas is not None:
            values[C.IADRS] = C.iadrs_from_components(adas, iadl)
        if all(v is None for v in values.values()) and not any(p.startswith(f"{where},") for p in problems):
            problems.append(f"{where}: no observation; give at least one of {', '.join(FIT_OBSERVABLES)}")
        if week is not None:
            if week in weeks_seen:
                problems.append(f"{where}, {WEEK}: duplicate week {week:g} (also on {weeks_seen[week]}); one row per visit")
            weeks_seen[week] = where
        visits.append({WEEK: week, **values})
    if weeks_seen and 0.0 not in weeks_seen:
        problems.append(f"{WEEK}: the baseline visit must be week 0 (earliest given: {min(weeks_seen):g})")
    if problems:
        raise InvalidInput(problems)
    table = pd.DataFrame(visits, columns=[WEEK, *FIT_OBSERVABLES]).astype(float).sort_values(WEEK, ignore_index=True)
    return PatientRecord(
        patient_id=first[C.PATIENT_ID], age=first[C.AGE], sex=first[C.SEX], weight_kg=first[C.WEIGHT_KG],
        apoe4_copies=first[C.APOE4], visits=table,
    )

def parse_patient(data: dict) -> PatientRecord:
    """A PatientRecord from a form: demographics and ``visits`` (a list of mappings with ``week``).

    >>> p = parse_patient({"patient_id": "P1", "age": 70, "sex": "M", "weight_kg": 80, "apoe4_copies": 0,
    ...                    "visits": [{"week": 0, "mmse": 26}, {"week": 26, "mmse": 25}]})
    >>> list(p.visits["week"])
    [0.0, 26.0]
    """
    if not isinstance(data, dict):
        raise InvalidInput(f"patient: expected a mapping, got {type(data).__name__}")
    allowed = {C.PATIENT_ID, *DEMOGRAPHICS, "visits"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput([f"patient.{k}: unknown field; allowed: {', '.join(sorted(allowed))}" for k in unknown])
    visits = data.get("visits")
    if not isinstance(visits, list | tuple) or not all(isinstance(v, dict) for v in visits):
        raise InvalidInput("patient.visits: expected a list of mappings (week and observables)")
    demographics = {k: data.get(k) for k in (C.PATIENT_ID, *DEMOGRAPHICS)}
    rows = [{**(v or {}), **(demographics if i == 0 else {})} for i, v in enumerate(visits)]
    return parse_patient_rows(rows)

def read_patient_csv(source: str | Path | io.TextIOBase) -> PatientRecord:
    """Read and validate PATIENT.csv (a path, or a text stream such as an upload); one patient per file."""
    if isinstance(source, str | Path):
        text = read_limited(source, "patient file", MAX_PATIENT_BYTES, text=True, encoding="utf-8-sig")
    else:
        text = source.read()
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise InvalidInput("patient file: empty (expected a header row: " + ", ".join(CSV_COLUMNS) + ")")
    reader.fieldnames = header
    problems = []
    unknown = [h for h in header if h not in (*CSV_COLUMNS, *OPTIONAL_COLUMNS)]
    if unknown:
        problems.append(f"columns: unknown {', '.join(repr(h) for h in unknown)}; allowed: {', '.join((*CSV_COLUMNS, *OPTIONAL_COLUMNS))}")
    missing = [h for h in CSV_COLUMNS if h not in header and not (h == WEEK and "date" in header)]
    if missing:
        problems.append(f"columns: missing {', '.join(missing)} (blank cells are allowed, the columns are not)")
    if len(set(header)) != len(header):
        problems.append("columns: a column name appears twice")
    if problems:
        raise InvalidInput(problems)
    rows, labels = [], []
    for row in reader:
        if all(_blank(v) for v in row.values() if not isinstance(v, list)):
            continue  # blank line
        if None in row:
            raise InvalidInput(f"line {reader.line_num}: more cells than columns")
        rows.append(row)
        labels.append(f"line {reader.line_num}")
    return parse_patient_rows(rows, labels)

def replace_visits(patient: PatientRecord, visits: pd.DataFrame) -> PatientRecord:
    """A copy of ``patient`` with other visits (e.g. the first few, to forecast the rest)."""
    return replace(patient, visits=visits.reset_index(drop=True))
