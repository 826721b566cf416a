"""Model lab core: describe a checked SBML model as tables and Antimony, diff two, simulate, local sensitivities.

Only for texts :func:`qsp.sbml_check.check_sbml` found simulatable: libsbml and roadrunner run here,
in the caller's process.
"""

from __future__ import annotations

import math

import libsbml
import numpy as np
import pandas as pd

from qsp.engine.model import Model
from qsp.errors import InvalidInput, ModelRefused, SimulationFailed
from qsp.lab.check import DEFAULT_LIMITS, LabLimits
from qsp.lab.omex import export_antimony

MAX_POINTS = 10_001  # output time points of one lab simulation


def sbml_to_antimony(sbml: str, lab_limits: LabLimits = DEFAULT_LIMITS) -> str:
    """The model as Antimony text: antimony's own translation, in the sandbox (:func:`qsp.lab.omex.export_antimony`)."""
    return export_antimony(sbml, lab_limits)


def _formula(math_ast) -> str:
    return libsbml.formulaToL3String(math_ast) if math_ast is not None else ""


def describe_model(sbml: str) -> dict[str, pd.DataFrame]:
    """Tables of a model: compartments, species, parameters, reactions, rules, events, units.

    >>> from qsp.engine.model import antimony_to_sbml
    >>> describe_model(antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5"))["reactions"]["rate law"].tolist()
    ['k * A']
    """
    doc = libsbml.readSBMLFromString(sbml)
    m = doc.getModel()
    if m is None:
        raise ModelRefused("SBML has no model element")
    side = lambda refs: " + ".join(  # noqa: E731
        (f"{r.getStoichiometry():g} " if r.isSetStoichiometry() and r.getStoichiometry() != 1 else "") + r.getSpecies()
        for r in refs)
    tables = {
        "compartments": pd.DataFrame(
            [{"id": c.getId(), "name": c.getName(), "size": c.getSize(), "constant": c.getConstant(), "units": c.getUnits()}
             for c in m.getListOfCompartments()]),
        "species": pd.DataFrame(
            [{"id": s.getId(), "name": s.getName(), "compartment": s.getCompartment(),
              "initial amount": s.getInitialAmount() if s.isSetInitialAmount() else None,
              "initial concentration": s.getInitialConcentration() if s.isSetInitialConcentration() else None,
              "boundary": s.getBoundaryCondition(), "constant": s.getConstant(), "units": s.getSubstanceUnits()}
             for s in m.getListOfSpecies()]),
        "parameters": pd.DataFrame(
            [{"id": p.getId(), "name": p.getName(), "value": p.getValue() if p.isSetValue() else None,
              "constant": p.getConstant(), "units": p.getUnits()} for p in m.getListOfParameters()]),
        "reactions": pd.DataFrame(
            [{"id": r.getId(), "name": r.getName(),
              "equation": f"{side(r.getListOfReactants())} -> {side(r.getListOfProducts())}",
              "rate law": _formula(r.getKineticLaw().getMath()) if r.isSetKineticLaw() else "(none: rate 0)",
              "reversible": r.getReversible()} for r in m.getListOfReactions()]),
        "rules": pd.DataFrame(
            [{"variable": r.getVariable() if not r.isAlgebraic() else "",
              "type": "assignment" if r.isAssignment() else "rate" if r.isRate() else "algebraic",
              "math": _formula(r.getMath())} for r in m.getListOfRules()]
            + [{"variable": a.getSymbol(), "type": "initial assignment", "math": _formula(a.getMath())}
               for a in m.getListOfInitialAssignments()]),
        "events": pd.DataFrame(
            [{"id": e.getId(), "trigger": _formula(e.getTrigger().getMath()) if e.isSetTrigger() else "",
              "delay": _formula(e.getDelay().getMath()) if e.isSetDelay() else "",
              "assignments": "; ".join(f"{a.getVariable()} = {_formula(a.getMath())}" for a in e.getListOfEventAssignments())}
             for e in m.getListOfEvents()]),
        "units": pd.DataFrame(
            [{"id": u.getId(), "definition": libsbml.UnitDefinition.printUnits(u, True)} for u in m.getListOfUnitDefinitions()]),
    }
    return tables


def output_ids(model: Model) -> tuple[str, ...]:
    """Ids a lab simulation can report: species (concentrations) and assignment-rule variables."""
    return model.species_ids + tuple(r for r in model.rule_ids if r not in model.species_ids)


DEFAULT_OUTPUTS = 5  # outputs preselected in the lab


def default_outputs(model: Model, n: int = DEFAULT_OUTPUTS) -> tuple[str, ...]:
    """The outputs the lab preselects (and plots) for a new model: the first ``n`` of :func:`output_ids`."""
    return output_ids(model)[:n]


def _math_names(ast) -> set[str]:
    """Every name a MathML AST reads (iterative: deep math cannot overflow the stack)."""
    names, stack = set(), [ast]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if node.isName():  # not getType(): its enum breaks once another SWIG libsbml (tellurium's) is loaded
            names.add(node.getName())
        stack.extend(node.getChild(i) for i in range(node.getNumChildren()))
    return names


def _dependencies(model: libsbml.Model) -> dict[str, set[str]]:
    """Symbol -> the symbols its value or rate of change reads (reactions, rules, initial assignments, events)."""
    deps: dict[str, set[str]] = {}
    add = lambda target, names: deps.setdefault(target, set()).update(names)  # noqa: E731
    for reaction in model.getListOfReactions():
        law = _math_names(reaction.getKineticLaw().getMath()) if reaction.isSetKineticLaw() else set()
        for ref in (*reaction.getListOfReactants(), *reaction.getListOfProducts()):
            add(ref.getSpecies(), law)
    for rule in model.getListOfRules():
        if rule.isSetVariable():
            add(rule.getVariable(), _math_names(rule.getMath()))
    for assignment in model.getListOfInitialAssignments():
        add(assignment.getSymbol(), _math_names(assignment.getMath()))
    for event in model.getListOfEvents():
        trigger = _math_names(event.getTrigger().getMath()) if event.isSetTrigger() else set()
        for ea in event.getListOfEventAssignments():
            add(ea.getVariable(), trigger | _math_names(ea.getMath()))
    for species in model.getListOfSpecies():
        add(species.getId(), {species.getCompartment()})
    return deps


def related_parameters(model: Model, output: str) -> list[str]:
    """Settable parameters that ``output`` depends on (its reactions, rules, initial assignments, events), nearest first.

    >>> from qsp.engine.model import antimony_to_sbml
    >>> related_parameters(Model(antimony_to_sbml("A -> B; k*A; B -> ; j*B; C -> ; m*C; A = 1; k = 1; j = 1; m = 1")), "A")
    ['k']
    """
    doc = libsbml.readSBMLFromString(model.sbml)
    if doc.getModel() is None:
        raise ModelRefused("SBML has no model element")
    deps, settable = _dependencies(doc.getModel()), set(model.parameter_ids)
    seen, order, queue = {output}, [], [output]
    while queue:  # breadth first: the nearest parameters come first
        symbol = queue.pop(0)
        for name in sorted(deps.get(symbol, ())):
            if name not in seen:
                seen.add(name)
                queue.append(name)
                if name in settable:
                    order.append(name)
    return order


def simulate_lab(model: Model, end: float, points: int = 201, outputs: tuple[str, ...] = (),
                 parameters: dict[str, float] | None = None) -> pd.DataFrame:
    """Simulate from time 0 to ``end`` (model time units) with parameter overrides; tidy wide DataFrame.

    Columns: ``time`` then each output id (species as roadrunner reports them by id).
    """
    parameters = parameters or {}
    allowed = output_ids(model)
    problems = []
    if not (isinstance(end, int | float) and math.isfinite(end) and end > 0):
        problems.append(f"end: must be a finite number > 0 (got {end!r})")
    if not (isinstance(points, int) and 2 <= points <= MAX_POINTS):
        problems.append(f"points: must be an integer between 2 and {MAX_POINTS} (got {points!r})")
    unknown = [o for o in outputs if o not in allowed]
    if unknown:
        problems.append(f"outputs: not species or rule variables of the model: {', '.join(unknown)}")
    for pid, value in parameters.items():
        if pid not in model.parameter_ids:
            problems.append(f"parameters: {pid!r} is not a settable parameter of the model")
        elif not (isinstance(value, int | float) and math.isfinite(value)):
            problems.append(f"parameters: {pid} must be a finite number (got {value!r})")
    if problems:
        raise InvalidInput(problems)
    outputs = tuple(outputs) or allowed[:10]
    rr = model.runner(outputs)
    try:
        for pid in model.parameter_ids:  # the runner is shared by this thread: reset every parameter
            rr[pid] = parameters.get(pid, model.defaults[pid])
        rr.reset()
        result = rr.simulate(0.0, float(end), int(points))
    except RuntimeError as exc:
        raise SimulationFailed(f"simulation failed: {str(exc).split(', at ')[0]}") from exc
    return pd.DataFrame(np.asarray(result), columns=["time", *outputs])


def local_sensitivity(model: Model, output: str, end: float, parameters: dict[str, float] | None = None,
                      rel_step: float = 1e-3) -> pd.DataFrame:
    """Scaled local sensitivities d ln(output(end)) / d ln(p) of one output to every nonzero parameter.

    Central finite differences with relative step ``rel_step``; one row per parameter, sorted by |value|.
    """
    base = dict(model.defaults, **(parameters or {}))
    rows = []
    y0 = simulate_lab(model, end, 2, (output,), base)[output].iloc[-1]
    for pid in model.parameter_ids:
        p = base[pid]
        if p == 0 or y0 == 0:
            rows.append({"parameter": pid, "value": p, "scaled_sensitivity": float("nan")})
            continue
        up = simulate_lab(model, end, 2, (output,), {**base, pid: p * (1 + rel_step)})[output].iloc[-1]
        down = simulate_lab(model, end, 2, (output,), {**base, pid: p * (1 - rel_step)})[output].iloc[-1]
        rows.append({"parameter": pid, "value": p, "scaled_sensitivity": (up - down) / (2 * rel_step * y0)})
    table = pd.DataFrame(rows, columns=["parameter", "value", "scaled_sensitivity"])
    return table.reindex(table["scaled_sensitivity"].abs().sort_values(ascending=False).index).reset_index(drop=True)


DIFF_KINDS = {  # table of describe_model -> (kind shown in a diff, columns identifying a row)
    "compartments": ("compartment", ("id",)),
    "species": ("species", ("id",)),
    "parameters": ("parameter", ("id",)),
    "reactions": ("reaction", ("id",)),
    "rules": ("rule", ("variable", "type")),
    "events": ("event", ("id",)),
    "units": ("unit", ("id",)),
}
DIFF_COLUMNS = ["kind", "id", "change", "field", "old", "new"]  # columns of diff_models


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _keyed(df: pd.DataFrame, key_cols: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Rows of a model table as text, keyed by their identifying columns."""
    if df.empty:
        return {}
    return {" ".join(_cell(r[c]) for c in key_cols if _cell(r[c])): {c: _cell(v) for c, v in r.items()}
            for r in df.to_dict("records")}


def diff_models(old_sbml: str, new_sbml: str) -> pd.DataFrame:
    """Components added, removed or changed from ``old_sbml`` to ``new_sbml``; one row per change.

    Columns ``kind, id, change, field, old, new``; a changed component has one row per changed field.

    >>> from qsp.engine.model import antimony_to_sbml
    >>> a, b = antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5"), antimony_to_sbml("A -> ; k*A; A = 10; k = 0.7; j = 1")
    >>> diff_models(a, b)[["kind", "id", "change", "old", "new"]].values.tolist()
    [['parameter', 'k', 'changed', '0.5', '0.7'], ['parameter', 'j', 'added', '', '1']]
    """
    old, new = describe_model(old_sbml), describe_model(new_sbml)
    rows = []
    for table, (kind, key_cols) in DIFF_KINDS.items():
        before, after = _keyed(old[table], key_cols), _keyed(new[table], key_cols)
        for key, fields in before.items():
            if key not in after:
                rows.append({"kind": kind, "id": key, "change": "removed", "field": "",
                             "old": fields.get("value", fields.get("math", fields.get("rate law", ""))), "new": ""})
                continue
            for col, value in fields.items():
                if col not in key_cols and after[key].get(col, "") != value:
                    rows.append({"kind": kind, "id": key, "change": "changed", "field": col, "old": value, "new": after[key].get(col, "")})
        for key, fields in after.items():
            if key not in before:
                rows.append({"kind": kind, "id": key, "change": "added", "field": "",
                             "old": "", "new": fields.get("value", fields.get("math", fields.get("rate law", "")))})
    return pd.DataFrame(rows, columns=DIFF_COLUMNS)


def change_counts(diff: pd.DataFrame) -> pd.Series:
    """Components per kind of change in a :func:`diff_models` table (a component with several changed fields counts once).

    >>> from qsp.engine.model import antimony_to_sbml
    >>> a, b = antimony_to_sbml("A -> ; k*A; A = 10; k = 0.5"), antimony_to_sbml("A -> ; k*A; A = 10; k = 0.7; j = 1")
    >>> change_counts(diff_models(a, b)).to_dict()
    {'changed': 1, 'added': 1}
    """
    return diff.drop_duplicates(["kind", "id", "change"])["change"].value_counts()


def rangeable_parameters(model: Model) -> list[str]:
    """Settable parameters with a finite nonzero value: those a relative range (value ± x%) can vary."""
    return [p for p in model.parameter_ids if model.defaults[p] != 0 and math.isfinite(model.defaults[p])]


LAB_DOSE_PREFIX = "lab_dose_"  # ids added to a model by with_repeated_dosing


def with_repeated_dosing(model: Model, species: str, amount: float, every: float, count: int, start: float = 0.0) -> Model:
    """A copy of ``model`` with ``count`` doses of ``amount`` (substance units) added to ``species``.

    Doses come at ``start``, ``start + every``, ... as an SBML event whose state lives in parameters
    that :func:`simulate_lab` sets back to their initial values before every run. Amounts are added to
    the species' amount (for a concentration species, divided by its compartment's size).
    """
    import libsbml

    problems = []
    if species not in model.species_ids:
        problems.append(f"dosing.species: {species!r} is not a species of the model")
    for name, value, low in (("amount", amount, 0.0), ("every", every, 0.0), ("start", start, -1.0)):
        if not (isinstance(value, int | float) and math.isfinite(value) and value > low):
            problems.append(f"dosing.{name}: must be a finite number > {low:g} (got {value!r})")
    if not (isinstance(count, int) and 1 <= count <= 10_000):
        problems.append(f"dosing.count: must be an integer from 1 to 10000 (got {count!r})")
    if problems:
        raise InvalidInput(problems)
    doc = libsbml.readSBMLFromString(model.sbml)
    sbml_model = doc.getModel()
    target = sbml_model.getSpecies(species)
    p = LAB_DOSE_PREFIX
    for pid, value in ((f"{p}amount", amount), (f"{p}every", every), (f"{p}count", float(count)), (f"{p}next", start), (f"{p}given", 0.0)):
        param = sbml_model.createParameter()
        param.setId(pid)
        param.setValue(float(value))
        param.setConstant(pid in (f"{p}amount", f"{p}every", f"{p}count"))
    increment = f"{p}amount" if target.getHasOnlySubstanceUnits() else f"{p}amount / {target.getCompartment()}"
    event = sbml_model.createEvent()
    event.setId(f"{p}event")
    event.setUseValuesFromTriggerTime(True)
    trigger = event.createTrigger()
    trigger.setMath(libsbml.parseL3Formula(f"time >= {p}next && {p}given < {p}count"))
    trigger.setInitialValue(False)
    trigger.setPersistent(True)
    for variable, formula in ((species, f"{species} + {increment}"), (f"{p}next", f"{p}next + {p}every"), (f"{p}given", f"{p}given + 1")):
        assignment = event.createEventAssignment()
        assignment.setVariable(variable)
        assignment.setMath(libsbml.parseL3Formula(formula))
    return Model(libsbml.writeSBMLToString(doc), name=f"{model.name} + dosing", solver=model.solver)
