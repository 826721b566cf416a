"""Model loading and per-thread RoadRunner instances.

Every model text goes through :func:`qsp.sbml_gate.check_sbml_text` first.
Compiled models are cached per thread: a RoadRunner instance holds mutable
simulation state and is never shared between threads.
"""

from __future__ import annotations

import collections
import functools
import re
import threading
from dataclasses import dataclass, field

import libsbml
import numpy as np
import roadrunner

from qsp import constants as C
from qsp import paths
from qsp.engine.gate import MAX_MODEL_BYTES, check_sbml_text, sha256_text
from qsp.engine.observables import ObservableMapping
from qsp.engine.solver import DEFAULT_SOLVER, SolverOptions
from qsp.errors import ModelRefused

roadrunner.Logger.setLevel(roadrunner.Logger.LOG_FATAL)  # failures surface as exceptions, not console noise

_thread_local = threading.local()
_ANTIMONY_IMPORT = re.compile(r"^\s*import\b", re.MULTILINE)  # Antimony's import statement reads files from disk


def antimony_to_sbml(text: str, max_bytes: int = MAX_MODEL_BYTES) -> str:
    """Compile trusted Antimony text (the project's own sources, tests) to SBML, in this process.

    Raises ModelRefused with antimony's message. Text from users goes through the sandboxed
    :func:`qsp.lab.omex.import_antimony` instead; ``import "file"`` statements (which read the server's
    disk) are refused here too.
    """
    import antimony

    if len(text.encode("utf-8")) > max_bytes:
        raise ModelRefused(f"Antimony text too large, limit {max_bytes:,} bytes")
    if _ANTIMONY_IMPORT.search(text):
        raise ModelRefused("refused: Antimony 'import' statements read files from the server's disk; "
                           "paste the imported models into the text instead")
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise ModelRefused(f"Antimony error: {antimony.getLastError().strip()}")
    module = antimony.getMainModuleName()
    sbml = antimony.getSBMLString(module)
    if not sbml:
        raise ModelRefused("Antimony produced no SBML")
    return sbml


@dataclass(frozen=True)
class Model:
    """A checked SBML model: its text, hash and ids; hands out per-thread runners."""

    sbml: str
    name: str = "model"
    solver: SolverOptions = DEFAULT_SOLVER
    mapping: ObservableMapping | None = field(default=None, compare=False)  # None: the model speaks the dashboard's ids
    sha256: str = field(init=False)
    parameter_ids: tuple[str, ...] = field(init=False)  # settable global parameters
    rule_ids: tuple[str, ...] = field(init=False)  # assignment-rule variables
    species_ids: tuple[str, ...] = field(init=False)
    substance_only: frozenset[str] = field(init=False, hash=False, compare=False)  # species whose math value is an amount
    defaults: dict[str, float] = field(init=False, hash=False, compare=False)

    def __post_init__(self):
        doc = libsbml.readSBMLFromString(self.sbml)
        fatal = [
            doc.getError(i).getMessage().strip()
            for i in range(doc.getNumErrors())
            if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
        ]
        sbml_model = doc.getModel()
        if fatal or sbml_model is None:
            raise ModelRefused("SBML could not be read: " + ("; ".join(fatal[:3]) or "no model element"))
        rules = {
            sbml_model.getRule(i).getVariable()
            for i in range(sbml_model.getNumRules())
            if sbml_model.getRule(i).isAssignment()
        }
        # a parameter set by an initial assignment is computed, not set: not a settable parameter either
        computed = rules | {a.getSymbol() for a in sbml_model.getListOfInitialAssignments()}
        params = [p for p in sbml_model.getListOfParameters()]
        object.__setattr__(self, "sha256", sha256_text(self.sbml))
        object.__setattr__(self, "rule_ids", tuple(sorted(rules)))
        object.__setattr__(self, "parameter_ids", tuple(p.getId() for p in params if p.getId() not in computed))
        object.__setattr__(
            self, "species_ids", tuple(s.getId() for s in sbml_model.getListOfSpecies())
        )
        object.__setattr__(
            self, "substance_only", frozenset(s.getId() for s in sbml_model.getListOfSpecies() if s.getHasOnlySubstanceUnits())
        )
        object.__setattr__(
            self,
            "defaults",
            {p.getId(): p.getValue() for p in params if p.getId() not in computed},
        )

    @property
    def available(self) -> tuple[str, ...]:
        """Dashboard observables this model provides (all of them unless its mapping leaves some out)."""
        return self.mapping.available() if self.mapping is not None else C.OBSERVABLES

    def runner(self, selections: tuple[str, ...] = ()) -> roadrunner.RoadRunner:
        """This thread's RoadRunner for this model (compiled once per thread), reset.

        ``selections`` become the time-course selections (``time`` first).
        """
        cache = getattr(_thread_local, "runners", None)
        if cache is None:
            cache = _thread_local.runners = {}
        key = (self.sha256, self.solver)
        entry = cache.get(key)
        if entry is None:
            try:
                rr = _cached_runner(self.sbml, self.sha256)
            except Exception as exc:  # roadrunner raises bare RuntimeErrors
                raise ModelRefused(f"roadrunner could not compile the model: {exc}") from exc
            self.solver.apply(rr)
            ids = list(rr.model.getGlobalParameterIds())
            entry = cache[key] = {"rr": rr, "index": {pid: i for i, pid in enumerate(ids)}, "sel": None}
        rr = entry["rr"]
        wanted = ("time", *selections)
        if selections and entry["sel"] != wanted:
            rr.timeCourseSelections = list(wanted)
            entry["sel"] = wanted
        rr.reset()
        return rr

    def runner_state(self) -> dict:
        """This thread's bookkeeping for the runner (index map, overridden parameters)."""
        cache = getattr(_thread_local, "runners", None)
        if cache is None or (self.sha256, self.solver) not in cache:
            self.runner()
        return _thread_local.runners[(self.sha256, self.solver)]

    def parameter_index(self, ids) -> np.ndarray:
        """Indices of global parameters for ``ExecutableModel.setGlobalParameterValues``."""
        index = self.runner_state()["index"]
        missing = [i for i in ids if i not in index]
        if missing:
            raise ModelRefused(f"model has no parameter(s) {missing}")
        return np.array([index[i] for i in ids], dtype=np.int32)


_KEEP_COMPILED = 8  # models whose first compilation is kept alive (roadrunner's cache holds a model while an instance does)
_compiled: collections.OrderedDict[str, roadrunner.RoadRunner] = collections.OrderedDict()
_compile_locks: dict[str, threading.Lock] = {}  # one per model: compiling a large model blocks nobody else
_registry_lock = threading.Lock()  # guards the two dicts above, held only for bookkeeping


def _cached_runner(sbml: str, sha256: str) -> roadrunner.RoadRunner:
    """A RoadRunner instance made from roadrunner's in-process model cache, never the first compilation.

    Measured (roadrunner 2.x): the instance that compiles a model and the instances later made from the
    cache differ in the last bits of some results, which the adaptive solver grows to ~1e-6 relative.
    Which one a thread got depended on what had run before in the process (a page, a Dask worker's
    first task), so serial and Dask runs differed. The compiling instance is kept aside (the cache
    forgets a model when its last instance goes), so every runner, in every process and thread, runs
    the cached code and gives the same numbers.
    """
    with _registry_lock:
        lock = _compile_locks.setdefault(sha256, threading.Lock())
    with lock:
        keeper = _compiled.get(sha256)
        if keeper is None:
            keeper = roadrunner.RoadRunner(sbml)  # compiles (seconds for a large model): outside the registry lock
        with _registry_lock:
            _compiled[sha256] = keeper
            _compiled.move_to_end(sha256)
            while len(_compiled) > _KEEP_COMPILED:
                old, _ = _compiled.popitem(last=False)
                _compile_locks.pop(old, None)
        return roadrunner.RoadRunner(sbml)  # from the cache: `keeper` is alive here even if evicted meanwhile


def load_sbml_model(text: str | bytes, name: str = "uploaded", max_bytes: int = MAX_MODEL_BYTES) -> Model:
    """Check an untrusted SBML text through the gate and load it."""
    return Model(check_sbml_text(text, max_bytes=max_bytes), name=name)


# The built-in model is not stiff at the trial's tolerances: CVODE's Adams method takes fewer, cheaper steps
# than BDF through the dosing transients (measured 1.4-1.9x faster per treated patient, same tolerances,
# observables within 1e-3 relative; bench/bench_engine.py). Uploaded models keep the safe stiff default.
BUILTIN_SOLVER = SolverOptions(stiff=False)


@functools.lru_cache(maxsize=1)
def load_builtin_model() -> Model:
    """The built-in AD continuum model, from the SBML file kept in the repository."""
    text = check_sbml_text(paths.BUILTIN_SBML.read_text(encoding="utf-8"))
    return Model(text, name="ad_continuum", solver=BUILTIN_SOLVER)


def compile_builtin_model() -> str:
    """Regenerate models_sbml/ad_continuum.xml from its Antimony source; return the SBML."""
    sbml = antimony_to_sbml(paths.BUILTIN_ANTIMONY.read_text(encoding="utf-8"))
    paths.BUILTIN_SBML.write_text(sbml, encoding="utf-8")
    load_builtin_model.cache_clear()
    return sbml
