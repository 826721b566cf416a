"""Domain exceptions. All subclass ValueError, so callers catch one family."""

from __future__ import annotations


class QSPError(ValueError):
    """Base class of every error the core raises on bad input."""


class ModelRefused(QSPError):
    """A model text was refused before any parser saw it, or failed to load."""


class InvalidInput(QSPError):
    """One or more fields of a user input are invalid.

    ``problems`` holds one line per problem, each naming its field.
    """

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SimulationFailed(QSPError):
    """The solver failed for one patient (counted, never silently dropped)."""
