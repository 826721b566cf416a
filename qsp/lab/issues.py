"""Typed reports of the model lab's checks: an :class:`Issue` has a severity and a code (as PEtab's lint does).

The SBML check (:func:`qsp.lab.check.check_sbml`) returns an :class:`SbmlReport`; the mapping check
(:func:`qsp.lab.adapt.check_mapping`) returns a list of :class:`Issue`. ``SbmlReport.to_json()`` gives the
keys of the ``python -m qsp check-sbml`` report, unchanged.

>>> issue = Issue("error", "mapping.unknown_id", "observables.cdrsb: 'X' is not a species")
>>> str(issue), issue.is_error
("observables.cdrsb: 'X' is not a species", True)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

SEVERITIES = ("info", "warning", "error", "fatal")  # libsbml's severities 0-3, by name
BLOCKING = ("error", "fatal")  # severities that make a model or mapping unusable


@dataclass(frozen=True)
class Issue:
    """One problem found by a check: ``severity`` (info | warning | error | fatal), ``code``, ``message``.

    ``code`` is a libsbml error id (an int) for libsbml's own messages, else a dotted name such as
    ``limit.size`` or ``mapping.time_unit``.
    """

    severity: str
    code: str | int
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity: one of {', '.join(SEVERITIES)} (got {self.severity!r})")

    def __str__(self) -> str:
        return self.message

    @property
    def is_error(self) -> bool:
        """True for errors and fatal issues (they make the model or mapping unusable)."""
        return self.severity in BLOCKING

    def to_json(self) -> dict:
        """``{"severity", "code", "message"}``, as in the check-sbml report."""
        return asdict(self)


@dataclass(frozen=True)
class Unsupported:
    """A construct roadrunner cannot simulate: ``code``, ``reason`` (a sentence) and ``what_to_do``."""

    code: str
    reason: str
    what_to_do: str

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SbmlReport:
    """The SBML check's report. ``ok``: the verdict is simulatable; ``summary``: the verdict in one line."""

    verdict: str
    ok: bool = False
    level: int | None = None
    version: int | None = None
    counts: dict = field(default_factory=dict)
    issues: tuple[Issue, ...] = ()
    unsupported: tuple[Unsupported, ...] = ()
    limits: tuple[str, ...] = ()
    summary: str = ""

    def errors(self) -> list[Issue]:
        """The issues that make the model unusable (errors and fatal issues)."""
        return [i for i in self.issues if i.is_error]

    def reasons(self) -> list[str]:
        """Why the model is not simulatable, in words: unsupported constructs, then errors."""
        return [u.reason for u in self.unsupported] + [i.message for i in self.errors()]

    def to_json(self) -> dict:
        """The report as JSON data, with the keys of ``python -m qsp check-sbml`` in their usual order."""
        return {"ok": self.ok, "verdict": self.verdict, "level": self.level, "version": self.version,
                "counts": dict(self.counts), "issues": [i.to_json() for i in self.issues],
                "unsupported": [u.to_json() for u in self.unsupported], "limits": list(self.limits),
                "summary": self.summary}


def messages(issues: Iterable[Issue]) -> list[str]:
    """The message lines of some issues (what callers of the untyped checks used to get)."""
    return [i.message for i in issues]


def errors(issues: Iterable[Issue]) -> list[Issue]:
    """The issues that block (errors and fatal issues), in order."""
    return [i for i in issues if i.is_error]
