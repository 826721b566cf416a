"""Real-world patient CSVs: column mapping, checks, and the baseline rows the models score.

The schema is the project's patient schema (shared with the digital twin): ``patient_id, week,
age, sex, weight_kg, apoe4_copies, amyloid_cl, tau_suvr, iadrs, cdrsb, mmse`` (ADAS-Cog13 +
ADCS-iADL accepted in place of iADRS). Differing names are mapped (ADNI's RID, VISCODE,
PTGENDER, ...). Every problem found is reported with what was done about it.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.errors import InvalidInput

MAX_CSV_BYTES = 20_000_000
SCHEMA = ("patient_id", "week", "age", "sex", "weight_kg", "apoe4_copies", "amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse")
ALIASES = {  # lower-cased source name -> schema name
    "rid": "patient_id", "ptid": "patient_id", "subject": "patient_id", "id": "patient_id",
    "viscode": "week", "visit": "week", "weeks": "week",
    "ptgender": "sex", "gender": "sex",
    "weight": "weight_kg", "wt": "weight_kg",
    "apoe4": "apoe4_copies", "apoe": "apoe4_copies",
    "centiloid": "amyloid_cl", "amyloid": "amyloid_cl", "cl": "amyloid_cl",
    "tau": "tau_suvr", "cdr_sb": "cdrsb", "cdrsb_total": "cdrsb", "mmscore": "mmse",
    "adas13": "adas_cog13", "adascog13": "adas_cog13", "adcsiadl": "adcs_iadl",
}
RANGES = {"age": (30, 110), "weight_kg": (30, 250), "amyloid_cl": (-50, 250), "tau_suvr": (0.8, 4.5),
          "iadrs": (0, 144), "cdrsb": (0, 18), "mmse": (0, 30), "adas_cog13": (0, 85), "adcs_iadl": (0, 59),
          "apoe4_copies": (0, 2), "week": (0, 1040)}
SEX_VALUES = {"f": "F", "female": "F", "2": "F", "w": "F", "m": "M", "male": "M", "1": "M"}  # ADNI PTGENDER: 1 male, 2 female


def _viscode_to_week(value) -> float:
    text = str(value).strip().lower()
    if text in ("bl", "sc", "baseline"):
        return 0.0
    match = re.fullmatch(r"m(\d+)", text)
    if match:
        return round(int(match.group(1)) * C.WEEKS_PER_YEAR / 12, 1)
    return float(text)


def read_patients(data: bytes | str) -> tuple[pd.DataFrame, list[str]]:
    """Parse and clean a patient CSV: (visits table in the schema, report lines).

    Fatal problems (not CSV, no patient id, no usable rows) raise InvalidInput with one line each. The table's
    ``attrs`` name the schema columns with no value at all (``absent_columns``) and the cells whose text is not a
    number (``text_in_numbers``: "row 3: mmse 'n/a' is not a number"), for callers that must not score them silently.
    """
    report: list[str] = []
    frame = _map_columns(_read_csv(data), report)
    out = pd.DataFrame({"patient_id": frame["patient_id"].str.strip()})
    out["week"] = _parse_weeks(frame["week"], report)
    if "sex" in frame:
        out["sex"] = frame["sex"].str.strip().str.lower().map(SEX_VALUES)
        bad = frame["sex"][out["sex"].isna() & (frame["sex"].str.strip() != "")]
        for i in bad.index[:10]:
            report.append(f"row {i + 2}: sex {frame['sex'][i]!r} not F/M; set missing")
    for name in (c for c in RANGES if c != "week"):
        if name in frame:
            out[name] = _clean_number(frame[name], name, report)
    text_cells = [line for line in report if line.endswith("is not a number; set missing")]
    _fill_iadrs(out, report)
    out = _usable_visits(out, report)
    absent = []
    for column in SCHEMA:
        if column not in out or out[column].isna().all():
            absent.append(column)
        if column not in out:
            out[column] = np.nan
            report.append(f"column {column!r} missing: all values missing")
    out = out.sort_values(["patient_id", "week"]).reset_index(drop=True)
    out.attrs.update({"absent_columns": absent, "text_in_numbers": [line.removesuffix("; set missing") for line in text_cells]})
    return out, report


def _read_csv(data: bytes | str) -> pd.DataFrame:
    """The CSV as text columns; InvalidInput when too large or not CSV."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(f"csv: file larger than {MAX_CSV_BYTES:,} bytes")
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise InvalidInput(f"csv: not a readable CSV: {str(exc).splitlines()[0]}") from None


def _map_columns(frame: pd.DataFrame, report: list[str]) -> pd.DataFrame:
    """The columns renamed to the schema (others dropped), with a week column; InvalidInput without patient ids."""
    renamed = {}
    for column in frame.columns:
        key = column.strip().lower()
        target = key if key in SCHEMA or key in ("adas_cog13", "adcs_iadl") else ALIASES.get(key)
        if target and target not in renamed.values():
            renamed[column] = target
            if target != column:
                report.append(f"column {column!r} read as {target!r}")
        else:
            report.append(f"column {column!r} ignored (not in the patient schema)")
    frame = frame[list(renamed)].rename(columns=renamed)
    if "patient_id" not in frame:
        raise InvalidInput("csv: no patient_id column (or RID/PTID); cannot tell patients apart")
    if "week" not in frame:
        frame["week"] = "0"
        report.append("no week column: every row taken as the baseline visit (week 0)")
    return frame


def _parse_weeks(column: pd.Series, report: list[str]) -> list[float]:
    """Weeks since baseline from weeks or visit codes (bl, m12, ...); NaN (row dropped later) when not understood."""
    weeks = []
    for i, value in enumerate(column):
        try:
            weeks.append(_viscode_to_week(value))
        except ValueError:
            weeks.append(np.nan)
            report.append(f"row {i + 2}: week {value!r} not understood; row dropped")
    return weeks


def _clean_number(column: pd.Series, name: str, report: list[str]) -> pd.Series:
    """A numeric column with values that are not numbers or outside RANGES set missing (at most 10 reported each)."""
    values = pd.to_numeric(column.str.strip().replace("", np.nan), errors="coerce")
    non_numeric = values.isna() & (column.str.strip() != "")
    for i in non_numeric[non_numeric].index[:10]:
        report.append(f"row {i + 2}: {name} {column[i]!r} is not a number; set missing")
    lo, hi = RANGES[name]
    if name == "tau_suvr" and values.dropna().gt(10).any():
        report.append("tau_suvr above 10 looks like a different unit; those values set missing")
    impossible = values.notna() & ~values.between(lo, hi)
    for i in impossible[impossible].index[:10]:
        report.append(f"row {i + 2}: {name} {values[i]:g} outside {lo}-{hi}; set missing")
    return values.where(~impossible)


def _fill_iadrs(out: pd.DataFrame, report: list[str]) -> None:
    """Missing iADRS computed from ADAS-Cog13 and ADCS-iADL where both are given (in place)."""
    if "iadrs" not in out:
        out["iadrs"] = np.nan
    if {"adas_cog13", "adcs_iadl"} <= set(out):
        fill = out["iadrs"].isna() & out["adas_cog13"].notna() & out["adcs_iadl"].notna()
        out.loc[fill, "iadrs"] = C.iadrs_from_components(out.loc[fill, "adas_cog13"], out.loc[fill, "adcs_iadl"])
        if fill.any():
            report.append(f"iADRS computed from ADAS-Cog13 and ADCS-iADL for {int(fill.sum())} rows")


def _usable_visits(out: pd.DataFrame, report: list[str]) -> pd.DataFrame:
    """Rows with a week and a patient id, the first of duplicate visits; InvalidInput when none is left."""
    out = out[out["week"].notna() & (out["patient_id"] != "")]
    duplicated = out.duplicated(["patient_id", "week"], keep="first")
    if duplicated.any():
        report.append(f"{int(duplicated.sum())} duplicate visits (same patient and week); the first kept")
        out = out[~duplicated]
    if out.empty:
        raise InvalidInput("csv: no usable rows after cleaning:\n" + "\n".join(report))
    return out


def baseline_rows(visits: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: demographics carried from any visit, biomarkers from the first visit."""
    first = visits.sort_values("week").groupby("patient_id", sort=True)
    base = first.first()  # first non-missing value per column (demographics on any row suffice)
    earliest = first.nth(0).set_index("patient_id")
    for col in ("amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse"):
        base[col] = earliest[col]
    base["is_female"] = base["sex"].map({"F": 1, "M": 0})
    return base.reset_index()


MODEL_INPUTS = ("age", "sex", "weight_kg", "apoe4_copies", "amyloid_cl", "tau_suvr", "iadrs", "cdrsb", "mmse")  # columns the models read


def impute_baselines(base: pd.DataFrame, reference: pd.DataFrame | None, columns: tuple[str, ...] = MODEL_INPUTS) -> pd.DataFrame:
    """Baseline rows with every missing model input filled in, and a column ``imputed`` listing, per row, what was
    filled and with what (``columns``: the model inputs): the median of ``reference`` (the training cohort; the most frequent sex), or, without
    one, left to the model's missing-value branch.

    >>> ref = pd.DataFrame({"age": [70.0, 74.0], "is_female": [1, 1]})
    >>> impute_baselines(pd.DataFrame({"age": [np.nan, 80.0], "sex": [None, "M"]}), ref, ("age", "sex"))["imputed"].tolist()
    ['age=72 (training median); sex=F (most frequent in training)', '']
    """
    out = base.copy()
    notes: list[list[str]] = [[] for _ in range(len(out))]
    for column in columns:
        if column not in out:
            out[column] = np.nan
        missing = out[column].isna().to_numpy()
        if not missing.any():
            continue
        if column == "sex":
            value = None
            if reference is not None and "is_female" in reference and reference["is_female"].notna().any():
                value = "F" if reference["is_female"].mean() >= 0.5 else "M"
            how = f"sex={value} (most frequent in training)" if value else "sex (model's missing-value branch)"
        else:
            value = float(reference[column].median()) if reference is not None and column in reference else None
            value = None if value is not None and np.isnan(value) else value
            how = f"{column}={value:.3g} (training median)" if value is not None else f"{column} (model's missing-value branch)"
        if value is not None:
            out.loc[missing, column] = value
        for i in np.flatnonzero(missing):
            notes[i].append(how)
    out["is_female"] = out["sex"].map({"F": 1, "M": 0})
    out["imputed"] = ["; ".join(n) for n in notes]
    return out


def progression_labels(visits: pd.DataFrame, horizon_weeks: float = 76.0, min_follow_up_weeks: float = 52.0,
                       drop: float = 9.0) -> tuple[pd.DataFrame, list[str]]:
    """Baseline rows with a fast-progressor label from real follow-up, for training on uploaded data.

    The iADRS change from the first visit to the last visit at or after ``min_follow_up_weeks`` is
    scaled linearly to ``horizon_weeks``; a patient is a fast progressor when it is a drop of at least
    ``drop`` points. Patients without such follow-up are left out (reported).
    """
    notes = []
    base = baseline_rows(visits).set_index("patient_id")
    rows = []
    for pid, group in visits.sort_values("week").groupby("patient_id"):
        scored = group.dropna(subset=["iadrs"])
        if scored.empty or scored["week"].iloc[0] != group["week"].iloc[0]:
            notes.append(f"{pid}: no iADRS at the first visit; not labelled")
            continue
        later = scored[scored["week"] >= min_follow_up_weeks]
        if later.empty:
            notes.append(f"{pid}: no iADRS at or after week {min_follow_up_weeks:g}; not labelled")
            continue
        span = later["week"].iloc[-1] - scored["week"].iloc[0]
        change = (later["iadrs"].iloc[-1] - scored["iadrs"].iloc[0]) * horizon_weeks / span
        rows.append({"patient_id": pid, "iadrs_change": change, "fast_progressor": int(change <= -drop)})
    labels = pd.DataFrame(rows, columns=["patient_id", "iadrs_change", "fast_progressor"]).set_index("patient_id")
    return base.join(labels, how="inner").reset_index(), notes
