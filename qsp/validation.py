"""Turn pydantic validation errors into one line per problem, each naming its field."""

from __future__ import annotations

from pydantic import ValidationError

from qsp.errors import InvalidInput


def problems_from(exc: ValidationError, prefix: str = "") -> list[str]:
    """One line per problem: ``field.path: message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"])
        where = f"{prefix}.{loc}" if prefix and loc else (prefix or loc)
        message = err["msg"].removeprefix("Value error, ")
        got = err.get("input")
        shown = "" if isinstance(got, dict | list | tuple) or got is None else f" (got {got!r})"
        lines.append(f"{where}: {message}{shown}" if where else f"{message}{shown}")
    return lines


def validate(model_cls, data, prefix: str = ""):
    """Build ``model_cls`` from ``data`` or raise InvalidInput listing every problem."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{prefix or 'input'}: expected a mapping, got {type(data).__name__}")
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(problems_from(exc, prefix)) from None
