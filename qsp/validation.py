"""Validation at the edge of the core: typed inputs with one line per problem, and size-limited reading of user files."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from qsp.errors import InvalidInput


def problems_from(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``field.path: message (got value)``."""
    lines = []
    errors = exc.errors()
    for err in errors:
        if _follows_from_item(err, errors):
            continue
        loc = ".".join(str(part) for part in err["loc"])
        where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        message = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list | tuple) or got is None else f" (got {got!r})"
        lines.append(f"{where}: {message}{shown}" if where else f"{message}{shown}")
    return lines


def _follows_from_item(err: dict, errors: list[dict]) -> bool:
    """A "too short after validation" error of a sequence whose own items failed: the item's error says it all."""
    if err["type"] != "too_short" or "after validation" not in err["msg"]:
        return False
    n = len(err["loc"])
    return any(len(o["loc"]) > n and tuple(o["loc"][:n]) == tuple(err["loc"]) for o in errors)


def validate(model_cls, data, prefix: str = ""):
    """Build ``model_cls`` from ``data`` or raise InvalidInput listing every problem."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{prefix or 'input'}: expected a mapping, got {type(data).__name__}")
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from(exc, prefix)) from None


def check_assessment_weeks(weeks) -> tuple:
    """Assessment weeks: each > 0 (week 0 is the baseline) and strictly increasing; ValueError otherwise.

    >>> check_assessment_weeks((24, 52))
    (24, 52)
    """
    if any(w <= 0 for w in weeks):
        raise ValueError("assessment weeks must be > 0 (week 0 is the baseline)")
    if list(weeks) != sorted(set(weeks)):
        raise ValueError("assessment weeks must be strictly increasing")
    return weeks


def read_limited(path: str | Path, field: str, max_bytes: int, text: bool = False, encoding: str = "utf-8"):
    """The bytes (or text) of a user's file, refused before reading when it is missing or too large.

    Every message starts with ``field`` (the option or form field the user gave), says what was
    wrong and, for size, the limit: ``--model: file is 3,000,000 bytes, limit 2,000,000 bytes``.
    Text that is not valid in ``encoding`` is refused too (never silently replaced).
    """
    file = Path(path)
    if not file.exists():
        raise InvalidInput(f"{field}: file not found: {file}")
    if not file.is_file():
        raise InvalidInput(f"{field}: not a regular file: {file}")
    size = file.stat().st_size
    if size > max_bytes:
        raise InvalidInput(f"{field}: file is {size:,} bytes, limit {max_bytes:,} bytes")
    try:
        with open(file, "rb") as fh:
            data = fh.read(max_bytes + 1)  # the file may grow between stat and read
    except OSError as exc:
        raise InvalidInput(f"{field}: cannot read {file}: {exc.strerror}") from None
    if len(data) > max_bytes:
        raise InvalidInput(f"{field}: file is larger than {max_bytes:,} bytes")
    if not text:
        return data
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise InvalidInput(f"{field}: {file.name} is not {encoding.upper().replace('-SIG', '')} text") from None
