"""The trial designer's runs: cancellation, a time estimate, and the last runs kept side by side with their designs."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from qsp.errors import QSPError
from qsp.trial.design import TrialRun, compact_summary
from qsp.trial.scenario import Scenario, scenario_to_yaml

MAX_KEPT_RUNS = 5  # runs the designer keeps for comparison
DEFAULT_MS_PER_PATIENT = 60.0  # a first guess of one simulated patient's cost, ms (replaced by the measured cost)
ENRICHED_COST_FACTOR = 3.0  # an enriched run screens and simulates its all-comers twin too: a rough multiple


class RunCancelled(QSPError):
    """The user cancelled a run (raised from the progress callback, between chunks)."""


def cancellable(report: Callable[[float], None], cancelled: Callable[[], bool]) -> Callable[[float], None]:
    """A progress callback that reports the fraction done and raises RunCancelled once ``cancelled()`` is true.

    The core calls progress after every chunk, so a run stops within one chunk of the request.

    >>> seen = []
    >>> step = cancellable(seen.append, lambda: len(seen) >= 2)
    >>> step(0.25); step(0.5)
    >>> step(0.75)
    Traceback (most recent call last):
    ...
    qsp.trial.runs.RunCancelled: run cancelled at 50% of the patients; no results were kept
    """
    def progress(fraction: float) -> None:
        if cancelled():
            raise RunCancelled(f"run cancelled at {100 * last[0]:.0f}% of the patients; no results were kept")
        last[0] = fraction
        report(fraction)

    last = [0.0]
    return progress


def patients_to_simulate(scenario: Scenario) -> int:
    """Virtual patients a run of ``scenario`` simulates (paired arms share theirs, but each arm simulates them)."""
    return len(scenario.arms) * scenario.n_per_arm


def estimate_seconds(scenario: Scenario, ms_per_patient: float | None, enriched: bool = False) -> float:
    """Rough wall time of a run: patients x ms per patient (measured on this machine, else DEFAULT_MS_PER_PATIENT).

    >>> from qsp.trial.scenario import parse_scenario
    >>> s = parse_scenario({"n_per_arm": 500, "duration_weeks": 52, "assess_weeks": [52], "arms": [{"name": "a"}, {"name": "b"}]})
    >>> estimate_seconds(s, 20.0)
    20.0
    """
    ms = ms_per_patient if ms_per_patient and math.isfinite(ms_per_patient) and ms_per_patient > 0 else DEFAULT_MS_PER_PATIENT
    return patients_to_simulate(scenario) * ms / 1000.0 * (ENRICHED_COST_FACTOR if enriched else 1.0)


def ms_per_patient(scenario: Scenario, seconds: float) -> float:
    """The measured cost of one patient from a run's wall time, ms."""
    return 1000.0 * seconds / max(1, patients_to_simulate(scenario))


@dataclass(frozen=True)
class KeptRun:
    """A finished run with its design, numbered in the order of the session's runs."""

    number: int
    key: str  # the design's cache key (scenario, enrichment, model)
    scenario: Scenario
    run: TrialRun
    enrichment: str | None = None  # the enrichment rule, if any
    seconds: float = math.nan

    @property
    def label(self) -> str:
        """``run 3: my trial (3 arms x 150, enriched: responder>0.5)``."""
        s = self.scenario
        extra = f", enriched: {self.enrichment}" if self.enrichment else ""
        return f"run {self.number}: {s.name} ({len(s.arms)} arms x {s.n_per_arm}{extra})"

    @property
    def design_yaml(self) -> str:
        return scenario_to_yaml(self.scenario)


def keep_run(runs: list[KeptRun], new: KeptRun, limit: int = MAX_KEPT_RUNS) -> list[KeptRun]:
    """``runs`` with ``new`` last, at most ``limit`` (the oldest dropped); a run of the same design replaces it."""
    return [r for r in runs if r.key != new.key][-(limit - 1):] + [new] if limit > 1 else [new]


def compare_runs(runs: list[KeptRun]) -> pd.DataFrame:
    """The kept runs side by side: one row per run and arm, the compact table's columns (see
    :func:`qsp.trial.design.compact_summary`) with the differences named "vs reference arm"."""
    frames = []
    for kept in runs:
        table = compact_summary(kept.run.result)
        reference = kept.scenario.arms[0].name
        table = table.rename(columns={c: c.replace(f" vs {reference} ", " vs reference arm ") for c in table})
        frames.append(table.assign(run=kept.label, weeks=kept.scenario.assess_weeks[-1]))
    if not frames:
        return pd.DataFrame()
    both = pd.concat(frames, ignore_index=True)
    return both[["run", "weeks", *[c for c in both if c not in ("run", "weeks")]]].fillna("—")
