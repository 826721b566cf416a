"""Check an untrusted SBML text: gate, limits, libsbml consistency, unsupported constructs, sandboxed compile.

Order of the checks (each later one runs only when the earlier ones pass):

1. the gate (:func:`qsp.engine.gate.check_sbml_text`): size, no DTD/entities, well-formed XML, SBML root;
2. structure limits counted on the already-parsed safe XML tree: element nesting depth and component
   count (species, reactions, parameters, rules, ...); external files (comp ``externalModelDefinition``)
   are refused unless the caller names the directory they may come from;
3. in a child process with a wall-time, CPU-time and address-space limit (killed on timeout, so no
   model can hang or crash the caller): libsbml reading and consistency checks (the expensive
   categories, units and over-determination, are skipped above ``LabLimits.full_checks_max_components``),
   detection of constructs roadrunner cannot simulate, a roadrunner compile and a short test simulation.

The result is a typed :class:`~qsp.lab.issues.SbmlReport` (``to_json()``: the check-sbml JSON), see :func:`check_sbml`.
"""

from __future__ import annotations

import importlib
import multiprocessing
import resource
import traceback
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

import defusedxml.ElementTree as safe_et
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from qsp.engine.executor import no_main_script
from qsp.engine.gate import MAX_MODEL_BYTES, check_sbml_text
from qsp.errors import ModelRefused
from qsp.lab.issues import SEVERITIES, Issue, SbmlReport, Unsupported

# Verdicts of a check, and the CLI exit code of each.
SIMULATABLE, INVALID, REFUSED, UNSUPPORTED = "simulatable", "invalid", "refused", "unsupported"
VERDICT_EXIT = {SIMULATABLE: 0, INVALID: 1, REFUSED: 2, UNSUPPORTED: 2}

# Element local names counted as model components, by report key.
COMPONENT_TAGS = {
    "compartment": "compartments",
    "species": "species",
    "parameter": "parameters",
    "localParameter": "local_parameters",
    "reaction": "reactions",
    "assignmentRule": "rules",
    "rateRule": "rules",
    "algebraicRule": "rules",
    "event": "events",
    "functionDefinition": "function_definitions",
    "initialAssignment": "initial_assignments",
    "constraint": "constraints",
}
PACKAGE_URI_PREFIX = "http://www.sbml.org/sbml/level3/version1/"  # package namespaces start like this
MAX_EXTERNAL_DEPTH = 3  # comp external models may refer to external models this deep


class LabLimits(BaseSettings):
    """Limits for untrusted models; settable by keyword or environment (``QSP_LAB_MAX_BYTES=...``)."""

    model_config = SettingsConfigDict(env_prefix="QSP_LAB_", extra="forbid", frozen=True)

    max_bytes: int = Field(MAX_MODEL_BYTES, gt=0, le=50_000_000, description="model text size, bytes")
    max_depth: int = Field(200, gt=10, le=10_000, description="XML element nesting depth")
    max_components: int = Field(20_000, gt=0, le=1_000_000, description="species+reactions+parameters+rules+...")
    full_checks_max_components: int = Field(
        3_000, ge=0, description="above this count the units and over-determination checks are skipped"
    )
    timeout_s: float = Field(15.0, gt=0, le=600, description="wall time of the sandboxed check or simulation, s")
    timeout_per_component_s: float = Field(
        0.02, ge=0, le=1, description="extra wall time of the check per model component, s (large models compile slowly)"
    )
    max_timeout_s: float = Field(600.0, gt=0, le=3_600, description="the check's wall time never exceeds this, s")
    memory_mb: int = Field(3_000, ge=256, le=64_000, description="address-space limit of the sandbox, MB")
    max_issues: int = Field(500, gt=0, description="libsbml issues listed; the rest are counted")
    max_points: int = Field(100_001, gt=1, description="output time points of one simulation")

    def describe(self) -> list[str]:
        """One line per limit, for the UI and the report."""
        return [
            f"model text at most {self.max_bytes:,} bytes; no DTD or XML entities",
            f"XML nesting depth at most {self.max_depth}",
            f"at most {self.max_components:,} components (species, reactions, parameters, rules, events, ...)",
            f"full libsbml consistency checks up to {self.full_checks_max_components:,} components; "
            "above that the units and over-determination checks are skipped",
            f"checking, compiling and simulating run in a separate process limited to {self.memory_mb:,} MB and "
            f"{self.timeout_s:g} s plus {self.timeout_per_component_s:g} s per component for the check "
            f"(at most {self.max_timeout_s:g} s): a 5,000-component model may take {self.check_time_limit(5_000):g} s",
        ]

    def check_time_limit(self, components: int) -> float:
        """Wall time of the sandboxed check of a model with ``components`` components, s (grows with the model).

        >>> LabLimits(timeout_s=15, timeout_per_component_s=0.02, max_timeout_s=600).check_time_limit(2_000)
        55.0
        """
        return round(min(max(self.timeout_s, self.max_timeout_s), self.timeout_s + self.timeout_per_component_s * components), 3)


DEFAULT_LIMITS = LabLimits()

# Constructs roadrunner cannot simulate: code -> (what it is, what the user can do).
UNSUPPORTED_REASONS = {
    "delay": ("uses delay() (a delay differential equation); roadrunner integrates ODEs only",
              "replace the delay by a chain of transit compartments, or simulate with a DDE solver"),
    "algebraic_rule": ("has algebraic rules (a DAE); roadrunner cannot solve algebraic constraints",
                       "rewrite each algebraic rule as an assignment rule solved for one variable"),
    "fast_reaction": ("has fast reactions (rapid-equilibrium assumption), which roadrunner does not support",
                      "set fast=false and give the reaction a large rate constant, or use the equilibrium as a rule"),
    "distrib": ("uses the distrib package (random draws inside the model), which roadrunner does not support",
                "replace the draws by parameters and sample them outside the model"),
    "arrays": ("uses the arrays package, which roadrunner does not support",
               "expand the arrays into individual elements (e.g. with libsbml's arrays flattening)"),
    "qual": ("is a qualitative (logical) model: it has no kinetics to integrate",
             "simulate it with a logical-model tool (e.g. GINsim, BoolNet)"),
    "fbc": ("is a flux-balance (fbc) model: reactions have no kinetic laws, so there is nothing to integrate",
            "run flux-balance analysis with COBRApy, or give every reaction a kinetic law"),
    "external_model": ("refers to external model files (comp externalModelDefinition), which are not read from an upload",
                       "flatten the model first (libsbml CompFlatteningConverter) and upload the single file"),
    "other_package": ("uses an SBML package roadrunner cannot simulate",
                      "remove the package or use a tool that supports it"),
}
# libsbml error ids that only concern notes, annotations or units: warnings when the model compiles and simulates.
SOFT_ERROR_IDS = frozenset([*range(10401, 10405),  # annotations: namespaces, duplicates
                            10307, 10308, 10309,  # metaids and sboTerms (what annotations hang on): duplicates, syntax
                            *range(10501, 10600),  # units consistency
                            *range(10701, 10800),  # SBO terms
                            *range(10801, 10806),  # notes: XHTML namespace and content
                            10311, 10313,  # unit identifiers: syntax, undefined unit
                            *range(20401, 20422)])  # unit definitions
LIMIT_HINTS = {  # report code of a refusal -> how to raise the limit that was hit
    "limit.size": "raise it with the environment variable QSP_LAB_MAX_BYTES",
    "limit.depth": "raise it with the environment variable QSP_LAB_MAX_DEPTH",
    "limit.components": "raise it with the environment variable QSP_LAB_MAX_COMPONENTS",
    "sandbox.timeout": "raise it with --timeout or the environment variables QSP_LAB_TIMEOUT_S, "
                       "QSP_LAB_TIMEOUT_PER_COMPONENT_S and QSP_LAB_MAX_TIMEOUT_S",
    "sandbox.crash": "raise the memory limit with the environment variable QSP_LAB_MEMORY_MB",
    "sandbox.memory": "raise it with the environment variable QSP_LAB_MEMORY_MB",
}
UNSUPPORTED_PACKAGES = ("distrib", "arrays", "qual", "spatial", "multi", "dyn", "req")
IGNORED_PACKAGES = ("layout", "render", "groups")  # carry no dynamics; roadrunner ignores them


_issue = Issue  # (severity, code, message)


def _unsupported(code: str, detail: str = "") -> Unsupported:
    what, todo = UNSUPPORTED_REASONS[code]
    return Unsupported(code, f"the model {what}" + (f" ({detail})" if detail else ""), todo)


def _report(**kw) -> dict:
    """The fields of a report being built (a verdict is set before :func:`_finish` types it)."""
    return {"verdict": None, "level": None, "version": None, "counts": {}, "issues": [], "unsupported": [],
            "limits": [], **kw}


# ------------------------------------------------------------------ in-process structure checks


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def count_components(root) -> tuple[dict, int]:
    """Component counts and maximum nesting depth of a parsed (safe) XML tree; iterative, no recursion."""
    counts = dict.fromkeys(sorted(set(COMPONENT_TAGS.values())), 0)
    depth_max, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        depth_max = max(depth_max, depth)
        key = COMPONENT_TAGS.get(_local(node.tag))
        if key:
            counts[key] += 1
        stack.extend((child, depth + 1) for child in node)
    counts["total"] = sum(counts.values())
    return counts, depth_max


def _external_sources(root) -> list[str]:
    return [
        value
        for node in root.iter()
        if _local(node.tag) == "externalModelDefinition"
        for name, value in node.attrib.items()
        if _local(name) == "source"
    ]


def _resolve_external(source: str, base_dir: Path) -> Path:
    """The file an external model source names, if it is a relative path inside base_dir; else ModelRefused."""
    parsed = urlparse(source)
    if parsed.scheme not in ("", "file") or parsed.netloc:
        raise ModelRefused(f"external model source {source!r}: URLs are not followed")
    path = (base_dir / parsed.path).resolve()
    if not path.is_relative_to(base_dir.resolve()):
        raise ModelRefused(f"external model source {source!r}: outside the model's directory")
    if not path.is_file():
        raise ModelRefused(f"external model source {source!r}: file not found")
    return path


def _check_externals(root, base_dir: Path | None, limits: LabLimits, depth: int = 0) -> list[str]:
    """Gate every external model file a comp model refers to (recursively); returns problems."""
    problems = []
    for source in _external_sources(root):
        if base_dir is None:
            problems.append(source)
            continue
        if depth >= MAX_EXTERNAL_DEPTH:
            raise ModelRefused(f"external models nested deeper than {MAX_EXTERNAL_DEPTH} levels")
        path = _resolve_external(source, base_dir)
        text = check_sbml_text(path.read_bytes(), max_bytes=limits.max_bytes)
        problems += _check_externals(safe_et.fromstring(text), path.parent, limits, depth + 1)
    return problems


# ------------------------------------------------------------------ sandbox


def _child(conn, task: str, payload: dict, memory_mb: int, cpu_s: int) -> None:
    """Entry point of the sandboxed process: set limits, run one task, send its result."""
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        import roadrunner

        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_FATAL)
        module, name = _TASKS[task]
        result = getattr(importlib.import_module(module), name)(**payload)
    except MemoryError:
        result = {"error": "out of memory"}
    except BaseException as exc:  # the child reports everything; the parent decides
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=3)}
    conn.send(result)
    conn.close()




def _context():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["qsp.lab.check", "qsp.lab.suite", "libsbml", "roadrunner"])
    return ctx


def run_sandboxed(task: str, payload: dict, limits: LabLimits = DEFAULT_LIMITS) -> dict:
    """Run a task of this module in a fresh process with time and memory limits.

    Returns the task's dict, or ``{"error": ..., "sandbox": "timeout" | "crash"}``.
    """
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, task, payload, limits.memory_mb, int(limits.timeout_s) + 1),
                       daemon=True)
    with no_main_script():  # the child must not re-import the caller's __main__ (under Streamlit, the page script)
        proc.start()
    child.close()
    try:
        if parent.poll(limits.timeout_s):
            try:
                return parent.recv()
            except EOFError:
                pass  # died while sending: fall through to the crash report
        else:
            if proc.is_alive():
                return {"error": f"did not finish within the time limit of {limits.timeout_s:g} s", "sandbox": "timeout"}
        proc.join(2)
        code = proc.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return {"error": f"the process crashed ({how}): the model may exceed the memory limit of "
                         f"{limits.memory_mb:,} MB or crash libsbml/roadrunner", "sandbox": "crash"}
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(2)
        parent.close()


# ------------------------------------------------------------------ tasks run in the sandbox


def _iter_math(model):
    """Every MathML AST of a model (libsbml objects)."""
    import libsbml

    elements = model.getListOfAllElements()
    for i in range(elements.getSize()):
        el = elements.get(i)
        if hasattr(el, "isSetMath") and el.isSetMath():
            yield el.getMath()
        if isinstance(el, libsbml.Event) and el.isSetDelay():
            yield el.getDelay().getMath()


def _uses_delay(ast) -> bool:
    import libsbml

    stack = [ast]
    while stack:  # iterative: deep MathML cannot overflow the stack
        node = stack.pop()
        if node is None:
            continue
        if node.getType() == libsbml.AST_FUNCTION_DELAY:
            return True
        stack.extend(node.getChild(i) for i in range(node.getNumChildren()))
    return False


def find_unsupported(doc) -> list[Unsupported]:
    """Constructs of a libsbml document roadrunner cannot simulate, each with a reason and what to do."""
    found = []
    uris = [doc.getNamespaces().getURI(i) for i in range(doc.getNamespaces().getNumNamespaces())]
    packages = {u[len(PACKAGE_URI_PREFIX):].split("/")[0] for u in uris if u.startswith(PACKAGE_URI_PREFIX)}
    for pkg in sorted(packages & set(UNSUPPORTED_PACKAGES)):
        found.append(_unsupported(pkg) if pkg in UNSUPPORTED_REASONS else _unsupported("other_package", pkg))
    model = doc.getModel()
    if model is None:
        return found
    if any(_uses_delay(ast) for ast in _iter_math(model)):
        found.append(_unsupported("delay"))
    algebraic = [r for r in model.getListOfRules() if r.isAlgebraic()]
    if algebraic:
        found.append(_unsupported("algebraic_rule", f"{len(algebraic)} rule(s)"))
    fast = [r.getId() for r in model.getListOfReactions() if r.isSetFast() and r.getFast()]
    if fast:
        found.append(_unsupported("fast_reaction", ", ".join(fast[:5])))
    no_law = [r.getId() for r in model.getListOfReactions() if not r.isSetKineticLaw()]
    if no_law and "fbc" in packages:  # without fbc, roadrunner takes a missing law as rate 0 (a warning)
        found.append(_unsupported("fbc", f"{len(no_law)} of {model.getNumReactions()} reactions, e.g. {', '.join(no_law[:3])}"))
    return found


def missing_kinetic_laws(doc) -> list[str]:
    """Ids of reactions without a kinetic law (roadrunner gives them rate 0)."""
    model = doc.getModel()
    return [r.getId() for r in model.getListOfReactions() if not r.isSetKineticLaw()] if model else []


def flatten_comp(sbml: str, location: str | None = None) -> str:
    """The SBML text with comp submodels flattened (external files resolved relative to ``location``)."""
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    if not doc.isPackageEnabled("comp"):
        return sbml
    if location:
        doc.setLocationURI(Path(location).resolve().as_uri())
    props = libsbml.ConversionProperties()
    props.addOption("flatten comp", True)
    props.addOption("leavePorts", False)
    if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
        errors = [doc.getError(i).getMessage().strip() for i in range(doc.getNumErrors())
                  if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
        raise ModelRefused("comp flattening failed: " + ("; ".join(errors[:3]) or "unknown reason"))
    return libsbml.writeSBMLToString(doc)


def _task_inspect(sbml: str, location: str | None, full_checks: bool, max_issues: int) -> dict:
    """libsbml read + bounded consistency + unsupported constructs + roadrunner compile + test run."""
    import libsbml
    import roadrunner

    doc = libsbml.readSBMLFromString(sbml)
    if location:  # comp external files resolve relative to the model's own directory
        doc.setLocationURI(Path(location).resolve().as_uri())
    out = {"level": doc.getLevel(), "version": doc.getVersion(), "issues": [], "unsupported": [],
           "read_errors": 0, "compiled": False, "simulated": False, "rr_error": None}
    read_errors = sum(1 for i in range(doc.getNumErrors()) if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR
                      and doc.getError(i).getErrorId() not in SOFT_ERROR_IDS)  # notes/units errors do not stop a read
    out["read_errors"] = read_errors
    if not read_errors:
        if not full_checks:
            doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
            doc.setConsistencyChecks(libsbml.LIBSBML_CAT_OVERDETERMINED_MODEL, False)
        doc.checkConsistency()
    errors = [doc.getError(i) for i in range(doc.getNumErrors())]
    for err in errors[:max_issues]:
        out["issues"].append(_issue(SEVERITIES[min(err.getSeverity(), 3)], err.getErrorId(),
                                    f"line {err.getLine()}: {err.getMessage().strip()}"))
    if len(errors) > max_issues:
        out["issues"].append(_issue("info", "truncated", f"{len(errors) - max_issues} more libsbml messages not listed"))
    out["unsupported"] = find_unsupported(doc)  # also after read errors: an unsupported package causes them
    if out["unsupported"] or read_errors or doc.getModel() is None:
        return out
    no_law = missing_kinetic_laws(doc)
    if no_law:
        out["issues"].append(_issue("warning", "no_kinetic_law", f"{len(no_law)} reaction(s) have no kinetic law and "
                                    f"are simulated with rate 0, e.g. {', '.join(no_law[:3])}; add kinetic laws"))
    try:
        rr = roadrunner.RoadRunner(flatten_comp(sbml, location) if location else sbml)
        out["compiled"] = True
        rr.simulate(0, 1, 11)
        out["simulated"] = True
    except Exception as exc:  # roadrunner raises bare RuntimeErrors
        out["rr_error"] = str(exc).split(", at ")[0].strip()
    return out


# Tasks the sandbox may run, by name (a whitelist: module and function).
_TASKS = {"inspect": ("qsp.lab.check", "_task_inspect"), "simulate_case": ("qsp.lab.suite", "_task_simulate_case"),
          "run_sedml": ("qsp.lab.omex", "_task_run_sedml"), "sbml_to_antimony": ("qsp.lab.omex", "_task_sbml_to_antimony"),
          "antimony_to_sbml": ("qsp.lab.omex", "_task_antimony_to_sbml")}


# ------------------------------------------------------------------ public entry point


def check_sbml(text: str | bytes, limits: LabLimits = DEFAULT_LIMITS, base_dir: str | Path | None = None) -> SbmlReport:
    """Check an untrusted SBML text; return the typed report, never raise on bad models.

    The report: ``ok`` (simulatable), ``verdict`` (simulatable | invalid | refused | unsupported),
    ``level``, ``version``, ``counts`` (components by kind and ``total``), ``issues`` (each an
    :class:`~qsp.lab.issues.Issue` with severity, code, message: libsbml's messages and ours),
    ``unsupported`` (each with code, reason, what_to_do), ``limits`` (the limits applied, as text) and
    ``summary`` (the verdict in one line). ``to_json()`` gives the same as JSON data.
    ``base_dir``: the directory comp external model files may be read from (None: refuse them).

    >>> check_sbml("https://example.org/model.xml").verdict
    'refused'
    """
    lines = limits.describe()
    try:
        sbml = check_sbml_text(text, max_bytes=limits.max_bytes)
        root = safe_et.fromstring(sbml)
    except ModelRefused as exc:
        code = "limit.size" if str(exc).startswith("model too large") else "gate"
        return _finish(_report(verdict=REFUSED, issues=[_issue("fatal", code, str(exc))], limits=lines))
    counts, depth = count_components(root)
    level, version = root.get("level"), root.get("version")
    base = _report(level=int(level) if level and level.isdigit() else None,
                   version=int(version) if version and version.isdigit() else None, counts=counts, limits=lines)
    refusal = _structure_refusal(root, base, depth, limits, base_dir)
    if refusal is not None:
        return _finish(refusal)
    full = counts["total"] <= limits.full_checks_max_components
    location = str(Path(base_dir) / "model.xml") if base_dir else None
    budget = limits.model_copy(update={"timeout_s": limits.check_time_limit(counts["total"])})  # large models compile slowly
    out = run_sandboxed("inspect", {"sbml": sbml, "location": location, "full_checks": full,
                                    "max_issues": limits.max_issues}, budget)
    if "error" in out:
        return _finish({**base, "verdict": REFUSED, "issues": [_issue(
            "fatal", f"sandbox.{out.get('sandbox', 'error')}", f"checking the model failed: {out['error']}")]})
    if not full:
        out["issues"].append(_issue("info", "limit.checks", f"{counts['total']:,} components > "
                                                            f"{limits.full_checks_max_components:,}: units and "
                                                            "over-determination checks skipped"))
    return _finish(_judge(base, out, limits))


def check_time_limit_of(text: str | bytes, limits: LabLimits = DEFAULT_LIMITS) -> float:
    """The wall time the check of ``text`` may take, s: from the gate and the component count only (cheap, safe).

    A text the gate refuses gets ``limits.timeout_s`` (its check ends at the gate anyway).
    """
    try:
        counts, _ = count_components(safe_et.fromstring(check_sbml_text(text, max_bytes=limits.max_bytes)))
    except ModelRefused:
        return limits.timeout_s
    return limits.check_time_limit(counts["total"])


def _structure_refusal(root, base: dict, depth: int, limits: LabLimits, base_dir) -> dict | None:
    """The report of a model refused (or unsupported) for its depth, size or external files; None when it passes."""
    counts = base["counts"]
    if depth > limits.max_depth:
        return {**base, "verdict": REFUSED, "issues": [
            _issue("fatal", "limit.depth", f"XML nested {depth} levels deep, limit {limits.max_depth}")]}
    if counts["total"] > limits.max_components:
        return {**base, "verdict": REFUSED, "issues": [_issue(
            "fatal", "limit.components", f"model has {counts['total']:,} components, limit {limits.max_components:,}")]}
    try:
        external = _check_externals(root, Path(base_dir) if base_dir else None, limits)
    except ModelRefused as exc:
        return {**base, "verdict": REFUSED, "issues": [_issue("fatal", "external_model", str(exc))]}
    if external:
        return {**base, "verdict": UNSUPPORTED, "unsupported": [_unsupported("external_model", ", ".join(external))]}
    return None


def _judge(base: dict, out: dict, limits: LabLimits) -> dict:
    """The report of a model the sandbox inspected: its verdict from libsbml's issues and roadrunner's compile."""
    issues = out["issues"]
    report = {**base, "level": out["level"], "version": out["version"], "issues": issues,
              "unsupported": out["unsupported"]}
    soft = {n for n, i in enumerate(issues) if i.is_error and i.code in SOFT_ERROR_IDS}
    if out["unsupported"]:
        report["verdict"] = UNSUPPORTED
    elif out["read_errors"]:
        report["verdict"] = INVALID
    elif out["rr_error"] and "bad_alloc" in out["rr_error"]:
        report["verdict"] = REFUSED
        issues.append(_issue("fatal", "sandbox.memory", f"roadrunner ran out of memory (limit {limits.memory_mb:,} MB)"))
    elif any(i.is_error and i.code not in SOFT_ERROR_IDS for i in issues):
        report["verdict"] = INVALID  # libsbml consistency errors: not valid SBML, even if roadrunner might run it
    elif not out["compiled"]:
        report["verdict"] = INVALID
        issues.append(_issue("error", "roadrunner.compile", f"roadrunner could not compile the model: {out['rr_error']}"))
    elif not out["simulated"]:
        report["verdict"] = INVALID
        issues.append(_issue("error", "roadrunner.simulate", f"roadrunner could not simulate 0-1 time units: {out['rr_error']}"))
    else:
        report["verdict"] = SIMULATABLE
        for n in soft:  # what simulators do: notes, annotations and units do not stop a simulation
            issues[n] = replace(issues[n], severity="warning", message=issues[n].message + " (a libsbml error about "
                                "notes, annotations or units: the model compiles and simulates)")
    return report


def _with_hint(issue: Issue) -> Issue:
    """A fatal limit issue with how to raise the limit appended (once)."""
    hint = LIMIT_HINTS.get(issue.code) if isinstance(issue.code, str) else None
    if hint and issue.severity == "fatal" and hint not in issue.message:
        return replace(issue, message=f"{issue.message} ({hint})")
    return issue


def _summary(verdict: str, issues: list[Issue], unsupported: list[Unsupported]) -> str:
    """The verdict in one line: simulatable (with N warnings) | invalid: N errors | refused: why | unsupported: why."""
    counted = {sev: sum(1 for i in issues if i.severity == sev) for sev in ("warning", "error", "fatal")}
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731
    if verdict == SIMULATABLE:
        return "simulatable" + (f", with {plural(counted['warning'], 'warning')}" if counted["warning"] else "")
    if verdict == REFUSED:
        return "refused: " + next((i.message for i in issues if i.severity == "fatal"), "")
    if verdict == UNSUPPORTED:
        return "unsupported: " + "; ".join(u.reason for u in unsupported)
    return f"invalid: {plural(counted['error'] + counted['fatal'], 'error')}"


def _finish(fields: dict) -> SbmlReport:
    """The typed report: ``ok``, how to raise a limit added to refusals, and a one-line ``summary``."""
    issues = [_with_hint(i) for i in fields["issues"]]
    unsupported = list(fields["unsupported"])
    return SbmlReport(verdict=fields["verdict"], ok=fields["verdict"] == SIMULATABLE, level=fields["level"],
                      version=fields["version"], counts=dict(fields["counts"]), issues=tuple(issues),
                      unsupported=tuple(unsupported), limits=tuple(fields["limits"]),
                      summary=_summary(fields["verdict"], issues, unsupported))
