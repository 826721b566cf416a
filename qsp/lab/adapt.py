"""Adapt an uploaded SBML model to an observable mapping so the dashboard's views can run it.

:func:`adapt_model` gives a copy of the SBML the built-in model's dosing schedule and stop-rule events
(taken from the built-in SBML itself, so both dose alike), one assignment rule per observable, and the
covariate parameters; :func:`check_mapping` lists what is wrong with a mapping for a model;
:func:`load_user_model` loads an untrusted file the way an upload is loaded.
"""

from __future__ import annotations

import math
from pathlib import Path

import libsbml
import numpy as np
import yaml

from qsp import constants as C
from qsp import paths
from qsp.engine.model import Model, load_sbml_model
from qsp.engine.observables import (
    ARIA_CUMHAZ,
    COVARIATES,
    DAY,
    HARNESS_COMPARTMENT,
    HARNESS_EVENTS,
    HARNESS_RULES,
    HARNESS_SPECIES,
    MAPPABLE,
    STATE_OBSERVABLES,
    TIME_UNITS_DAYS,
    Link,
    ObservableMapping,
    parse_mapping,
)
from qsp.engine.regimen import placebo_parameters
from qsp.engine.simulate import ETA_PARAMETERS, Engine
from qsp.errors import InvalidInput, ModelRefused
from qsp.lab.check import DEFAULT_LIMITS, check_sbml
from qsp.lab.issues import Issue, errors, messages
from qsp.validation import read_limited

MAX_MAPPING_BYTES = 200_000  # a mapping file is small


def _ids(model: libsbml.Model) -> dict[str, str]:
    """Every SId of a model -> its kind."""
    out = {}
    for kind, items in (("compartment", model.getListOfCompartments()), ("species", model.getListOfSpecies()),
                        ("parameter", model.getListOfParameters()), ("reaction", model.getListOfReactions()),
                        ("function", model.getListOfFunctionDefinitions()), ("event", model.getListOfEvents())):
        for item in items:
            out[item.getId()] = kind
    for reaction in model.getListOfReactions():
        for ref in (*reaction.getListOfReactants(), *reaction.getListOfProducts(), *reaction.getListOfModifiers()):
            if ref.isSetId():
                out[ref.getId()] = "species reference"
    return out


def _rule_targets(model: libsbml.Model) -> tuple[set[str], set[str]]:
    """(assignment-rule variables, rate-rule variables)."""
    rules = [model.getRule(i) for i in range(model.getNumRules())]
    return {r.getVariable() for r in rules if r.isAssignment()}, {r.getVariable() for r in rules if r.isRate()}


def _names_in(ast: libsbml.ASTNode | None) -> set[str]:
    if ast is None:
        return set()
    out = {ast.getName()} if ast.isName() else set()  # isName(), not getType(): see model_lab._math_names
    for i in range(ast.getNumChildren()):
        out |= _names_in(ast.getChild(i))
    return out


def _covariate_dependents(model: libsbml.Model, covariates: set[str]) -> list[str]:
    """Symbols whose initial assignment reads a covariate parameter, directly or through another such symbol."""
    assignments = {a.getSymbol(): _names_in(a.getMath()) for a in model.getListOfInitialAssignments()}
    reached, changed = set(covariates), True
    while changed:
        changed = False
        for symbol, names in assignments.items():
            if symbol not in reached and names & reached:
                reached.add(symbol)
                changed = True
    return sorted(reached - covariates)


def declared_time_unit(sbml: str) -> str | None:
    """The model's declared time unit as a TIME_UNITS_DAYS name, when it declares one we recognise."""
    model = libsbml.readSBMLFromString(sbml).getModel()
    if model is None or not model.isSetTimeUnits():
        return None
    unit = model.getTimeUnits()
    if unit == "second":
        return "second"
    definition = model.getUnitDefinition(unit)
    if definition is None or definition.getNumUnits() != 1 or definition.getUnit(0).getKind() != libsbml.UNIT_KIND_SECOND:
        return None
    u = definition.getUnit(0)
    if u.getExponent() != 1:
        return None
    seconds = u.getMultiplier() * 10.0 ** u.getScale()
    for name, days in TIME_UNITS_DAYS.items():
        if math.isclose(seconds, days * 86400, rel_tol=1e-6):
            return name
    return None


def check_mapping(sbml: str, mapping: ObservableMapping) -> list[Issue]:
    """Problems of a mapping against a model (empty when it can be adapted), each a typed error with a code.

    ``messages(check_mapping(...))`` (:func:`qsp.lab.issues.messages`) gives the message lines.
    """
    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if model is None:
        return [Issue("error", "mapping.no_model", "model: the SBML has no model element")]
    ids = _ids(model)
    assigned, rated = _rule_targets(model)
    initial = {a.getSymbol() for a in model.getListOfInitialAssignments()}
    read_at_start = set().union(*(_names_in(a.getMath()) for a in model.getListOfInitialAssignments()))

    def integrated(sid: str) -> bool:  # a state variable the solver integrates, restored by reset()
        if ids.get(sid) == "species":
            return sid not in assigned and not model.getSpecies(sid).getBoundaryCondition()
        return ids.get(sid) == "parameter" and sid in rated

    problems: list[Issue] = []

    def add(code: str, message: str) -> None:
        problems.append(Issue("error", code, message))

    for obs, link in mapping.observables.items():
        if link.id not in ids or ids[link.id] not in ("species", "parameter", "compartment"):
            add("mapping.unknown_id", f"observables.{obs}: {link.id!r} is not a species, parameter or compartment of the model")
    state_ids = set()
    for obs in STATE_OBSERVABLES + (C.AMYLOID_LAGGED_CL,):
        link = mapping.observables.get(obs)
        if link is None or link.id not in ids:
            continue
        state_ids.add(link.id)
        if not integrated(link.id):
            add("mapping.state_not_integrated", f"observables.{obs}: a state observable must map to a species (or a parameter with a rate rule) "
                            f"the model integrates; {link.id!r} is not")
        elif link.id in read_at_start:
            add("mapping.read_at_start", f"observables.{obs}: {link.id!r} is read by an initial assignment, which would not see the "
                            "patient's state; remove that initial assignment or map another id")
    hazard = mapping.aria_e_hazard_per_day
    if hazard is not None and ids.get(hazard.id) not in ("species", "parameter", "compartment"):
        add("mapping.hazard", f"aria_e_hazard_per_day: {hazard.id!r} is not a species, parameter or compartment of the model")
    if mapping.dose_target is not None:
        target = mapping.dose_target.id
        if not integrated(target):
            add("mapping.dose_target", f"dose_target: {target!r} must be a species (or a parameter with a rate rule) the model "
                            "integrates, not a boundary species or assignment-rule variable, so that each patient starts undosed")
        elif target in state_ids:
            add("mapping.dose_target", f"dose_target: {target!r} also holds the disease state; dose another species")
        elif target in read_at_start:
            add("mapping.dose_target", f"dose_target: {target!r} is read by an initial assignment; map another id")
    for cov, pid in mapping.covariates.items():
        if ids.get(pid) != "parameter" or pid in assigned | rated | initial:
            add("mapping.covariate", f"covariates.{cov}: {pid!r} must be a parameter of the model not set by a rule or initial assignment")
    for symbol in _covariate_dependents(model, set(mapping.covariates.values())):
        if ids.get(symbol) not in ("parameter", "compartment") or symbol in rated:
            add("mapping.covariate_dependent", f"covariates: the initial assignment of {symbol!r} reads a covariate; the patient's value would "
                            "not reach it (only parameters and compartments computed from covariates are supported)")
    reserved = set(_harness_ids()) | set(MAPPABLE) | {HARNESS_COMPARTMENT, DAY, ARIA_CUMHAZ}
    clashes = sorted(i for i in reserved & set(ids)
                     if not (i in MAPPABLE and mapping.link(i) == Link(id=i)) and not (i in COVARIATES and mapping.covariates.get(i) == i))
    if clashes:
        add("mapping.reserved_ids", "model: these ids are reserved for the dashboard's observables and dosing; rename them in the model: "
                        + ", ".join(clashes[:20]))
    declared = declared_time_unit(sbml)
    if declared is not None and declared != mapping.time_unit:
        add("mapping.time_unit", f"time_unit: the model declares its time in {declared}s; set time_unit: {declared}")
    return problems


def _harness_ids() -> tuple[str, ...]:
    params = tuple(placebo_parameters()) + tuple(f"sr{k}_noise_cl" for k in range(1, C.MAX_STOP_CHECKS + 1))
    return (*params, *COVARIATES, *ETA_PARAMETERS, *HARNESS_SPECIES, *HARNESS_RULES, *HARNESS_EVENTS,
            *(o for o in C.OBSERVABLES if o not in MAPPABLE))


def _retime(node: libsbml.ASTNode) -> None:
    """Replace the csymbol time by ``qsp_day`` in a math tree (in place)."""
    if node is None:
        return
    if node.getType() == libsbml.AST_NAME_TIME:
        node.setType(libsbml.AST_NAME)
        node.setName(DAY)
    for i in range(node.getNumChildren()):
        _retime(node.getChild(i))


def _math(formula: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise ModelRefused(f"internal: could not parse {formula!r}: {libsbml.getLastParseL3Error()}")
    return ast


def _ok(code: int, what: str) -> None:
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise ModelRefused(f"could not add {what} to the model: {libsbml.OperationReturnValue_toString(code)}")


def _add_parameter(model: libsbml.Model, pid: str, value: float = 0.0, constant: bool = True) -> None:
    p = model.createParameter()
    p.setId(pid)
    p.setValue(value)
    p.setConstant(constant)


def _add_rule(model: libsbml.Model, variable: str, formula: str | libsbml.ASTNode) -> None:
    rule = model.createAssignmentRule()
    rule.setVariable(variable)
    _ok(rule.setMath(_math(formula) if isinstance(formula, str) else formula), f"the rule for {variable}")


def adapt_model(model, mapping: ObservableMapping):
    """An Engine-ready copy of ``model`` (a :class:`~qsp.model.Model`) with ``mapping``; InvalidInput on a bad mapping."""
    problems = errors(check_mapping(model.sbml, mapping))
    if problems:
        raise InvalidInput(messages(problems))
    doc = libsbml.readSBMLFromString(model.sbml)
    if (doc.getLevel(), doc.getVersion()) != (3, 2) and not doc.setLevelAndVersion(3, 2, False):
        raise ModelRefused("the model could not be converted to SBML Level 3 Version 2 to add the dashboard's dosing")
    target = doc.getModel()
    builtin = libsbml.readSBMLFromString(paths.BUILTIN_SBML.read_text(encoding="utf-8")).getModel()
    _add_harness_compartment(target, mapping)
    _add_patient_parameters(target, builtin, mapping)
    _add_harness_species_and_rules(target, builtin)
    _add_observables(target, mapping)
    _add_dosing_events(target, builtin, mapping)
    if mapping.time_unit != "day":
        _retime_harness(target)
    _refuse_duplicate_ids(doc)
    sbml = libsbml.writeSBMLToString(doc)
    return Model(sbml, name=f"{model.name} (mapped)", solver=model.solver, mapping=mapping)


def _add_harness_compartment(target: libsbml.Model, mapping: ObservableMapping) -> None:
    """The compartment of the dashboard's species, and the day clock when the model's time is not in days."""
    comp = target.createCompartment()
    comp.setId(HARNESS_COMPARTMENT)
    comp.setSize(1.0)
    comp.setConstant(True)
    comp.setSpatialDimensions(3)
    if mapping.time_unit != "day":
        _add_parameter(target, DAY, constant=False)
        _add_rule(target, DAY, f"time * {mapping.days_per_time_unit!r}")


def _add_patient_parameters(target: libsbml.Model, builtin: libsbml.Model, mapping: ObservableMapping) -> None:
    """Per-patient and dosing parameters the Engine sets, with covariates reaching the model's own parameters."""
    # inert unless the mapping uses them
    wanted = {**placebo_parameters(), **{f"sr{k}_noise_cl": 0.0 for k in range(1, C.MAX_STOP_CHECKS + 1)},
              **dict.fromkeys(COVARIATES, 0.0), **dict.fromkeys(ETA_PARAMETERS, 0.0)}
    for pid in wanted:
        if mapping.covariates.get(pid) != pid:  # a covariate the model names like the dashboard is its own parameter
            _ok(target.addParameter(builtin.getParameter(pid)), f"parameter {pid}")
    for cov, pid in mapping.covariates.items():
        if pid != cov:
            target.getParameter(pid).setConstant(False)
            _add_rule(target, pid, cov)
    # what an initial assignment computes from a covariate follows each patient: it becomes an assignment rule
    for symbol in _covariate_dependents(target, set(mapping.covariates.values())):
        assignment = target.getInitialAssignment(symbol)
        element = target.getParameter(symbol) or target.getCompartment(symbol)
        element.setConstant(False)
        _add_rule(target, symbol, assignment.getMath().deepCopy())
        target.removeInitialAssignment(symbol)


def _add_harness_species_and_rules(target: libsbml.Model, builtin: libsbml.Model) -> None:
    """The built-in model's dosing species and helper rules, copied as they are."""
    for sid in HARNESS_SPECIES:
        species = builtin.getSpecies(sid).clone()
        species.setCompartment(HARNESS_COMPARTMENT)
        _ok(target.addSpecies(species), f"species {sid}")
    for rid in HARNESS_RULES:
        _ok(target.addParameter(builtin.getParameter(rid)), f"parameter {rid}")
        _ok(target.addRule(builtin.getRule(rid)), f"rule {rid}")


def _add_observables(target: libsbml.Model, mapping: ObservableMapping) -> None:
    """Observables as assignment rules; unmapped ones hold 0 and the Engine reports them as NaN."""
    for obs in MAPPABLE:
        link = mapping.link(obs)
        if link is not None and link == Link(id=obs):
            continue  # the model's own element is the observable
        _add_parameter(target, obs, constant=False)
        if obs == C.ARIA_E_RISK and mapping.aria_e_hazard_per_day is not None:
            _add_aria_hazard(target, mapping)
            _add_rule(target, obs, f"1 - exp(-{ARIA_CUMHAZ})")
        else:
            _add_rule(target, obs, link.formula() if link is not None else "0")


def _add_aria_hazard(target: libsbml.Model, mapping: ObservableMapping) -> None:
    """The cumulative ARIA-E hazard: a species integrating the mapped hazard, per day."""
    cumhaz = target.createSpecies()
    for setter, value in (("setId", ARIA_CUMHAZ), ("setCompartment", HARNESS_COMPARTMENT), ("setInitialAmount", 0.0),
                          ("setHasOnlySubstanceUnits", True), ("setBoundaryCondition", False), ("setConstant", False)):
        getattr(cumhaz, setter)(value)
    rate = target.createRateRule()
    rate.setVariable(ARIA_CUMHAZ)
    _ok(rate.setMath(_math(f"({mapping.aria_e_hazard_per_day.formula()}) * {mapping.days_per_time_unit!r}")), "the ARIA-E hazard")


def _add_dosing_events(target: libsbml.Model, builtin: libsbml.Model, mapping: ObservableMapping) -> None:
    """The built-in dosing and stop-rule events; the dose goes to the mapping's dose target (if any)."""
    for eid in HARNESS_EVENTS:
        event = builtin.getEvent(eid).clone()
        if eid == "E_dose":
            for k in reversed(range(event.getNumEventAssignments())):
                if event.getEventAssignment(k).getVariable() not in HARNESS_SPECIES:
                    event.removeEventAssignment(k)
            if mapping.dose_target is not None:
                dose = event.createEventAssignment()
                dose.setVariable(mapping.dose_target.id)
                dose_formula = f"{mapping.dose_target.id} + ({mapping.dose_target.scale!r}) * dose_now_mg"
                _ok(dose.setMath(_math(dose_formula)), "the dose assignment")
        _ok(target.addEvent(event), f"event {eid}")


def _retime_harness(target: libsbml.Model) -> None:
    """Make the copied rules and events read the day clock instead of the model's time."""
    for rid in HARNESS_RULES:
        math_ = target.getRule(rid).getMath().deepCopy()
        _retime(math_)
        target.getRule(rid).setMath(math_)
    for eid in HARNESS_EVENTS:
        event = target.getEvent(eid)
        trigger = event.getTrigger().getMath().deepCopy()
        _retime(trigger)
        event.getTrigger().setMath(trigger)
        for a in event.getListOfEventAssignments():
            m = a.getMath().deepCopy()
            _retime(m)
            a.setMath(m)


def _refuse_duplicate_ids(doc: libsbml.SBMLDocument) -> None:
    """ModelRefused when the mapped document has an id twice (roadrunner can crash on them)."""
    seen: dict[str, int] = {}
    elements = doc.getListOfAllElements()  # kept referenced while its items are read
    for element in (elements.get(i) for i in range(elements.getSize())):
        if element is not None and element.isSetIdAttribute() and element.getTypeCode() != libsbml.SBML_MODEL:
            seen[element.getId()] = seen.get(element.getId(), 0) + 1
    duplicated = sorted(k for k, v in seen.items() if v > 1)
    if duplicated:
        raise ModelRefused("the mapped model would have duplicate ids: " + ", ".join(duplicated[:10]))


def load_mapping_file(path) -> ObservableMapping:
    """A mapping from a YAML or JSON file (InvalidInput on a bad file)."""
    text = read_limited(path, "mapping", MAX_MAPPING_BYTES, text=True)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"mapping: not valid YAML/JSON: {str(exc).splitlines()[0]}") from None
    return parse_mapping(data)


def provides_dashboard_ids(model) -> bool:
    """True when a model already has every id the Engine uses (the built-in model, or an edited copy of it)."""
    have = set(model.parameter_ids) | set(model.species_ids) | set(model.rule_ids)
    return set(_harness_ids()) - set(HARNESS_EVENTS) <= have and set(C.OBSERVABLES) <= have


# Plausible ranges of the mapped clinical and imaging observables (their scales), for the range check.
PLAUSIBLE_RANGES = {
    C.CDRSB: (0.0, 18.0),  # CDR sum of boxes, points
    C.MMSE: (0.0, 30.0),  # MMSE, points
    C.IADRS: (0.0, 144.0),  # iADRS, points
    C.AMYLOID_CL: (-30.0, 250.0),  # amyloid PET, Centiloids
    C.TAU_SUVR: (0.8, 4.5),  # tau PET, SUVr
}
RANGE_CHECK_DAYS = (0.0, 365.0)  # the range check looks at the model's own baseline and one year later
TYPICAL_PATIENT = {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 70.0, C.APOE4: 1}  # untreated, the model's own initial state


def observable_range_issues(model) -> list[Issue]:
    """Warnings for mapped observables outside their scales, untreated from the model's own initial state.

    ``model``: a mapped :class:`~qsp.engine.model.Model` (:func:`adapt_model`). A "CDR-SB" of 96,106 points
    usually means the wrong id, scale or offset was mapped.
    """
    run = Engine(model).run(TYPICAL_PATIENT, None, np.asarray(RANGE_CHECK_DAYS))
    if run.values is None:
        return [Issue("warning", "mapping.range_check_failed", f"the untreated model could not be simulated: {run.error}")]
    issues = []
    for obs, (low, high) in PLAUSIBLE_RANGES.items():
        if obs not in model.available:
            continue
        values = run.values[:, C.OBSERVABLES.index(obs)]
        bad = [(day, v) for day, v in zip(RANGE_CHECK_DAYS, values, strict=True) if not low <= v <= high]
        if bad:
            day, value = bad[0]
            issues.append(Issue("warning", "mapping.implausible_range",
                                f"observables.{obs}: {C.LABELS[obs]} is {value:,.6g} at day {day:g} of an untreated run from "
                                f"the model's initial state, outside its scale {low:g} to {high:g}: check the mapped id, "
                                "its scale and offset"))
    return issues


def load_checked_model(text: str | bytes, name: str, where: str = "--model"):
    """An untrusted SBML text checked like an upload (gate, then the sandboxed libsbml/roadrunner check), loaded."""
    report = check_sbml(text, DEFAULT_LIMITS)
    if not report.ok:
        reasons = [i.message for i in report.errors()][:3] + [u.reason for u in report.unsupported][:3]
        raise ModelRefused(f"{where}: {report.verdict}: " + ("; ".join(reasons) or "see python -m qsp check-sbml"))
    return load_sbml_model(text, name=name)


def load_user_model(model_path, mapping_path=None, max_bytes: int | None = None):
    """An SBML file checked like an upload (:func:`load_checked_model`), then mapped.

    Without ``mapping_path`` the model must already speak the dashboard's ids (an edited built-in model).
    """
    text = read_limited(model_path, "--model", max_bytes or DEFAULT_LIMITS.max_bytes)
    model = load_checked_model(text, Path(model_path).stem)
    if mapping_path is not None:
        return adapt_model(model, load_mapping_file(mapping_path))
    if not provides_dashboard_ids(model):
        raise InvalidInput("--mapping: this model does not use the dashboard's ids; give a mapping file "
                           "(YAML: observables, dose_target, covariates, time_unit; see models_sbml/README.md)")
    return model
