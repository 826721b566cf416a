"""Many patients of one regimen in one vectorised integration, for models whose structure allows it.

Why: a treated patient costs roadrunner 2-6 ms because CVODE restarts at every dose and at the end of
every infusion (two restarts per dose, 38 doses for lecanemab q2w over 76 weeks), and a loop of single
patients cannot go below that. Patients who share a dose calendar can instead be integrated together:
numpy evaluates each equation once for the whole batch.

How: the model's own SBML is translated (libsbml's parse tree, function definitions expanded) into numpy
expressions over arrays with one element per patient: assignment rules, reaction rates, event triggers and
event assignments. There is one source of truth, the SBML; no equation is written twice. The right-hand
side, evaluated six times per step, is also compiled by numba into one loop over the patients
(:mod:`qsp.engine.kernel`, about 6x faster than numpy on 300 patients); the numpy version is the fallback. Integration is
Dormand-Prince 5(4) on a step grid that depends only on the arm's calendar (event days, output days), never
on the patients in the batch, so a patient's numbers do not depend on the chunk it is simulated in (serial
and Dask agree exactly). Each step's embedded error estimate is kept per patient; a patient whose local
error exceeds the solver tolerance, whose values become non-finite, or whose event would fire between
grid points is reported, and the caller simulates that patient with roadrunner instead.

Models qualify when every event trigger has a ``time >= X`` (or ``time > X``) conjunct whose other parts
change only at events (doses, stop rules), events have no delay or priority and use trigger-time values,
compartments are constant and nothing is computed by initial assignments or algebraic rules. The built-in
model qualifies; any other model falls back to roadrunner (:func:`compile_batch` returns None).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import libsbml
import numpy as np

from qsp.engine.kernel import compile_kernel

# Dormand-Prince 5(4) tableau (the coefficients of scipy.integrate.RK45, written out: scipy's stepper works on
# one flat vector with one error norm, which would let one patient's error hide among a thousand others).
_C = np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0])
_A = [np.array(row) for row in [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
]]
_B = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84])
_E = np.array([-71 / 57600, 0, 71 / 16695, -71 / 1920, 17253 / 339200, -22 / 525, 1 / 40])  # 5th minus 4th order

_KERNEL_ROWS = "__kernel_rows__"  # the key of the compiled kernel's parameter array in a prepared P
MAX_CASCADE = 10  # events that trigger events at the same instant, at most


class NotBatchable(Exception):
    """The model uses something the vectorised integrator does not translate (roadrunner is used instead)."""


_UNARY = {
    libsbml.AST_FUNCTION_EXP: "np.exp", libsbml.AST_FUNCTION_LN: "np.log", libsbml.AST_FUNCTION_ABS: "np.abs",
    libsbml.AST_FUNCTION_FLOOR: "np.floor", libsbml.AST_FUNCTION_CEILING: "np.ceil",
}
_RELATIONAL = {
    libsbml.AST_RELATIONAL_EQ: "==", libsbml.AST_RELATIONAL_NEQ: "!=", libsbml.AST_RELATIONAL_LT: "<",
    libsbml.AST_RELATIONAL_LEQ: "<=", libsbml.AST_RELATIONAL_GT: ">", libsbml.AST_RELATIONAL_GEQ: ">=",
}
_NUMBERS = (libsbml.AST_INTEGER, libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL)


def _names(node) -> set[str]:
    """Every identifier a formula reads."""
    found = set()
    if node.getType() == libsbml.AST_NAME:
        found.add(node.getName())
    for i in range(node.getNumChildren()):
        found |= _names(node.getChild(i))
    return found


def _py(node, sym, hoist=None, emit=None) -> str:
    """Python/numpy source of an SBML formula; ``sym`` maps an identifier to its variable in the generated code.

    ``hoist`` (optional) returns the variable holding a sub-formula that is the same at every step, or None;
    ``emit`` (optional) turns a compound formula into a temporary variable (computed once per function).
    """
    if hoist is not None and (held := hoist(node)) is not None:
        return held
    source = _py_node(node, sym, [_py(node.getChild(i), sym, hoist, emit) for i in range(node.getNumChildren())])
    return emit(source) if emit is not None and node.getNumChildren() else source


def _literal(value: float) -> str:
    """A number as source; negative ones in parentheses (``-2.0 ** x`` would be ``-(2.0 ** x)``).

    >>> _literal(2.0), _literal(-2.0)
    ('2.0', '(-2.0)')
    """
    return f"({value!r})" if value < 0 else repr(value)


def _py_node(node, sym, args: list[str]) -> str:
    """Source of one formula node given its children's sources."""
    t = node.getType()
    kids = [node.getChild(i) for i in range(node.getNumChildren())]
    if t in _NUMBERS:
        return _literal(float(node.getValue()))
    if t == libsbml.AST_NAME:
        return sym(node.getName())
    if t == libsbml.AST_NAME_TIME:
        return "t"
    if t in (libsbml.AST_CONSTANT_TRUE, libsbml.AST_CONSTANT_FALSE):
        return "True" if t == libsbml.AST_CONSTANT_TRUE else "False"
    if t == libsbml.AST_CONSTANT_PI:
        return repr(np.pi)
    if t == libsbml.AST_CONSTANT_E:
        return repr(np.e)
    if t == libsbml.AST_PLUS:
        return "(" + " + ".join(args) + ")" if args else "0.0"
    if t == libsbml.AST_TIMES:
        return "(" + " * ".join(args) + ")" if args else "1.0"
    if t == libsbml.AST_MINUS:
        return f"(-{args[0]})" if len(args) == 1 else f"({args[0]} - {args[1]})"
    if t == libsbml.AST_DIVIDE:
        return f"({args[0]} / {args[1]})"
    if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
        exponent = _number(kids[1])
        if exponent == 0.5:
            return f"np.sqrt({args[0]})"
        if exponent == 2.0:
            return f"np.square({args[0]})"
        return f"({args[0]} ** {args[1]})"
    if t in _UNARY and len(args) == 1:
        return f"{_UNARY[t]}({args[0]})"
    if t == libsbml.AST_FUNCTION_ROOT:
        degree = _number(kids[0]) if len(kids) == 2 else 2.0
        return f"np.sqrt({args[-1]})" if degree == 2.0 else f"({args[1]} ** (1.0 / {args[0]}))"
    if t == libsbml.AST_FUNCTION_LOG:  # SBML log is base 10, or log(base, x)
        return f"np.log10({args[0]})" if len(args) == 1 else f"(np.log({args[1]}) / np.log({args[0]}))"
    if t in (libsbml.AST_FUNCTION_MAX, libsbml.AST_FUNCTION_MIN) and args:
        fn = "np.maximum" if t == libsbml.AST_FUNCTION_MAX else "np.minimum"
        return functools.reduce(lambda a, b: f"{fn}({a}, {b})", args)
    if t in _RELATIONAL and len(args) == 2:
        return f"({args[0]} {_RELATIONAL[t]} {args[1]})"
    if t == libsbml.AST_LOGICAL_AND:
        return "(" + " & ".join(f"_b({a})" for a in args) + ")" if args else "True"
    if t == libsbml.AST_LOGICAL_OR:
        return "(" + " | ".join(f"_b({a})" for a in args) + ")" if args else "False"
    if t == libsbml.AST_LOGICAL_NOT and len(args) == 1:
        return f"(~_b({args[0]}))"
    if t == libsbml.AST_FUNCTION_PIECEWISE:
        out = args[-1] if len(args) % 2 == 1 else "np.nan"
        for value, condition in reversed(list(zip(args[0:len(args) - 1:2], args[1::2]))):
            out = f"np.where({condition}, {value}, {out})"
        return out
    raise NotBatchable(f"unsupported math: {libsbml.formulaToL3String(node)}")


def _number(node) -> float | None:
    """The value of a formula made of numbers only (``1 / 2``), else None."""
    if _names(node) or _reads_time(node):
        return None
    try:
        with np.errstate(all="ignore"):
            return float(eval(_py(node, lambda name: "None"), {"np": np, "_b": _b}))  # numbers and numpy calls only
    except (NotBatchable, TypeError, ValueError, ZeroDivisionError):
        return None


class _Translator:
    """Formulas of one model to generated source: constant rules read from P, constant sub-formulas hoisted."""

    def __init__(self, model: BatchModel, rules: dict, constant_rules: set[str]):
        self.model, self.rules, self.constant_rules = model, rules, constant_rules
        self.hoisted: dict[str, str] = {}  # source of a constant sub-formula -> its slot in P

    def csym(self, name: str) -> str:
        return f"P[{name!r}]" if name in self.constant_rules else self.model._sym(name)

    def hoist(self, node) -> str | None:
        if node.getNumChildren() == 0:
            return None
        value = _number(node)
        if value is not None:
            return _literal(value)
        model = self.model
        if _reads_time(node) or not all(n in model.parameters or n in model.compartments or n in self.constant_rules
                                        for n in _names(node)):
            return None
        return self.hoisted.setdefault(_py(node, self.csym), f"P['_k{len(self.hoisted)}']")

    def function(self, header: str, formulas: dict, tail) -> list[str]:
        """A function computing the time-varying rules ``formulas`` read, then the lines ``tail(expr)``."""
        code = _Code()

        def expr(node):
            return _py(node, self.csym, self.hoist, code.temp)

        roots = set().union(*(_names(n) for n in formulas.values())) if formulas else set()
        roots |= set(formulas) & set(self.rules)  # the rules asked for themselves
        for r in self.model._needed(roots, self.constant_rules):
            code.lines.append(f"    r_{r} = {expr(self.rules[r])}")
        last = tail(expr)  # may add temporaries
        return [header, *code.lines, *last]


class _Code:
    """Lines of a generated function; each distinct compound formula becomes one temporary (computed once)."""

    def __init__(self):
        self.lines: list[str] = []
        self._temps: dict[str, str] = {}

    def temp(self, source: str) -> str:
        if source not in self._temps:
            self._temps[source] = f"_t{len(self._temps)}"
            self.lines.append(f"    {self._temps[source]} = {source}")
        return self._temps[source]


def _time_threshold(node):
    """(X node, strict) of the ``time >= X`` / ``time > X`` conjunct of a trigger and the other conjuncts."""
    conjuncts = [node.getChild(i) for i in range(node.getNumChildren())] if node.getType() == libsbml.AST_LOGICAL_AND else [node]
    for k, c in enumerate(conjuncts):
        if c.getType() in (libsbml.AST_RELATIONAL_GEQ, libsbml.AST_RELATIONAL_GT) and c.getNumChildren() == 2 \
                and c.getChild(0).getType() == libsbml.AST_NAME_TIME:
            return c.getChild(1), conjuncts[:k] + conjuncts[k + 1:]
    raise NotBatchable(f"event trigger without a 'time >= X' part: {libsbml.formulaToL3String(node)}")


def _b(x):
    return np.asarray(x, dtype=bool)


@dataclass(frozen=True)
class _Event:
    trigger: object  # (t, y, P) -> bool per patient
    threshold: object  # (t, y, P) -> X of ``time >= X`` per patient
    assign: object  # (t, y, P) -> list of new values, in the order of ``targets``
    targets: tuple[int, ...]  # state rows the assignments write
    initial: bool  # the trigger's value before time 0


class BatchModel:
    """A model translated to numpy: rates, observables and events over arrays of patients (rows: state, columns: patients)."""

    def __init__(self, sbml: str):
        doc = libsbml.readSBMLFromString(sbml)
        props = libsbml.ConversionProperties()
        props.addOption("expandFunctionDefinitions", True)
        if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise NotBatchable("function definitions could not be expanded")
        m = doc.getModel()
        if m is None or m.getNumInitialAssignments() or any(r.isAlgebraic() for r in m.getListOfRules()):
            raise NotBatchable("initial assignments or algebraic rules")
        compartments = {c.getId(): c.getSize() for c in m.getListOfCompartments()}
        if any(not c.getConstant() for c in m.getListOfCompartments()):
            raise NotBatchable("a compartment changes size")
        rules = {r.getVariable(): r.getMath() for r in m.getListOfRules() if r.isAssignment()}
        rate_rules = {r.getVariable(): r.getMath() for r in m.getListOfRules() if r.isRate()}
        species = [s for s in m.getListOfSpecies() if s.getId() not in rules]
        event_targets = {a.getVariable() for e in m.getListOfEvents() for a in e.getListOfEventAssignments()}
        params = {p.getId(): p.getValue() for p in m.getListOfParameters() if p.getId() not in rules}
        moving = self._moving(m, rate_rules)
        held = [s.getId() for s in species] + [p for p in params if p in rate_rules or p in event_targets]
        state = [x for x in held if x in moving] + [x for x in held if x not in moving]  # integrated rows first
        self.state = tuple(state)
        self.n_moving = sum(x in moving for x in held)
        self.index = {name: i for i, name in enumerate(state)}
        self.parameters = {p: v for p, v in params.items() if p not in self.index}
        self._volume = {s.getId(): (1.0 if s.getHasOnlySubstanceUnits() else compartments[s.getCompartment()]) for s in species}
        initial = {s.getId(): s.getInitialAmount() if s.isSetInitialAmount()
                   else s.getInitialConcentration() * compartments[s.getCompartment()] for s in species}
        initial.update({p: params[p] for p in held if p in params})
        self.initial = np.array([initial[x] for x in state], dtype=float)
        self.compartments = compartments
        self._rule_math = rules
        self._order = _rule_order(rules)
        constant_rules = self._constant_rules(rules)
        self._constant_order = [r for r in self._order if r in constant_rules]
        self._source = self._generate(m, rules, rate_rules, constant_rules, moving)
        namespace = {"np": np, "_b": _b}
        exec(compile(self._source, f"<batch:{m.getId()}>", "exec"), namespace)  # code built only from whitelisted math
        self._constants, self._numpy_rates, self._observe = namespace["_constants"], namespace["_rates"], namespace["_observe"]
        self._kernel: tuple | None | bool = False  # (compiled rates, its KernelSource) once tried; None: numpy only
        self._kernel_lock = threading.Lock()
        self.events = [
            _Event(namespace[f"_trigger{k}"], namespace[f"_threshold{k}"], namespace[f"_assign{k}"],
                   tuple(self.index[a.getVariable()] for a in e.getListOfEventAssignments()),
                   bool(e.getTrigger().getInitialValue()))
            for k, e in enumerate(m.getListOfEvents())
        ]

    # ------------------------------------------------------------------ translation
    def _sym(self, name: str) -> str:
        if name in self.index:
            return f"y[{self.index[name]}]" if self._volume.get(name, 1.0) == 1.0 else f"(y[{self.index[name]}] / {self._volume[name]!r})"
        if name in self._rule_math:
            return f"r_{name}"
        if name in self.compartments:
            return repr(float(self.compartments[name]))
        if name in self.parameters:
            return f"P[{name!r}]"
        raise NotBatchable(f"unknown identifier {name}")

    def _moving(self, m, rate_rules) -> set[str]:
        """State that changes between events (reaction species, rate-rule variables)."""
        moving = set(rate_rules)
        for r in m.getListOfReactions():
            if r.getFast() if r.isSetFast() else False:
                raise NotBatchable("fast reactions")
            moving |= {s.getSpecies() for s in (*r.getListOfReactants(), *r.getListOfProducts()) if not _boundary(m, s.getSpecies())}
        return moving

    def _constant_rules(self, rules) -> set[str]:
        """Assignment rules that read only parameters and constant rules (computed once per batch)."""
        constant: set[str] = set()
        for name in self._order:
            used = _names(rules[name])
            if all(u in self.parameters or u in self.compartments or u in constant for u in used) and \
                    not _reads_time(rules[name]):
                constant.add(name)
        return constant

    def _needed(self, roots: set[str], exclude: set[str]) -> list[str]:
        """The time-varying rules the formulas ``roots`` read, in evaluation order."""
        need, todo = set(), set(roots)
        while todo:
            name = todo.pop()
            if name in self._rule_math and name not in need and name not in exclude:
                need.add(name)
                todo |= _names(self._rule_math[name])
        return [r for r in self._order if r in need]

    def _generate(self, m, rules, rate_rules, constant_rules, moving) -> str:
        """Source of the generated functions: constants, rates, observables and each event's three functions."""
        tr = _Translator(self, rules, constant_rules)
        lines = tr.function("def _rates(t, y, P):", self._laws(m, rate_rules), self._rates_tail)
        self._rates_source = "\n".join(lines)
        varying = [r for r in self._order if r not in constant_rules]
        lines += tr.function("def _observe(t, y, P):", {r: rules[r] for r in varying},
                             lambda expr: ["    return {" + ", ".join(f"{r!r}: r_{r}" for r in varying) + "}"])
        for k, e in enumerate(m.getListOfEvents()):
            lines += self._event_source(tr, k, e, moving)
        head = ["def _constants(P):"]
        head += [f"    P[{r!r}] = {_py(rules[r], tr.csym)}" for r in self._constant_order]
        head += [f"    {slot} = {source}" for source, slot in tr.hoisted.items()]
        head.append("    return P")
        return "\n".join(head + lines) + "\n"

    def _laws(self, m, rate_rules) -> dict:
        """Rate formulas by reaction or rate-rule variable; fills ``self._flux`` (state row -> signed terms)."""
        self._flux: dict[int, list[tuple[str, float, object]]] = {}
        laws = {}
        for r in m.getListOfReactions():
            law = r.getKineticLaw()
            if law is None or law.getNumLocalParameters() or law.getNumParameters():
                raise NotBatchable(f"reaction {r.getId()}: no kinetic law or local parameters")
            laws[r.getId()] = law.getMath()
            for ref, sign in [(x, "-") for x in r.getListOfReactants()] + [(x, "+") for x in r.getListOfProducts()]:
                if ref.isSetId() or not ref.getConstant():
                    raise NotBatchable("variable stoichiometry")
                if not _boundary(m, ref.getSpecies()):
                    self._flux.setdefault(self.index[ref.getSpecies()], []).append((sign, ref.getStoichiometry(), law.getMath()))
        for var, math in rate_rules.items():
            laws[var] = math
            self._flux.setdefault(self.index[var], []).append(("+", self._volume.get(var, 1.0), math))
        return laws

    def _rates_tail(self, expr) -> list[str]:
        out = [f"    dy = np.empty(({self.n_moving}, y.shape[1]))"]
        for row, terms in sorted(self._flux.items()):
            parts = [f"{sign} {expr(math)}" if stoich == 1.0 else f"{sign} {stoich!r} * {expr(math)}"
                     for sign, stoich, math in terms]
            out.append(f"    dy[{row}] = {' '.join(parts).removeprefix('+ ')}")
        return [*out, "    return dy"]

    def _event_source(self, tr, k: int, e, moving) -> list[str]:
        """The trigger, threshold and assignment functions of event number ``k``."""
        if e.isSetDelay() or e.isSetPriority() or not e.getUseValuesFromTriggerTime():
            raise NotBatchable(f"event {e.getId()}: delays, priorities or assignment-time values")
        trigger = e.getTrigger().getMath()
        threshold, others = _time_threshold(trigger)
        if _names(threshold) & moving or any(self._reads_moving(o, moving) for o in others):
            raise NotBatchable(f"event {e.getId()}: its trigger follows continuously changing state")
        assigns = {a.getVariable(): a.getMath() for a in e.getListOfEventAssignments()}
        volume = self._volume  # a species' value is its concentration unless substance-only: store the amount
        return [
            *tr.function(f"def _trigger{k}(t, y, P):", {"": trigger}, lambda expr: [f"    return _b({expr(trigger)})"]),
            *tr.function(f"def _threshold{k}(t, y, P):", {"": threshold}, lambda expr: [f"    return {expr(threshold)}"]),
            *tr.function(f"def _assign{k}(t, y, P):", assigns, lambda expr: [
                "    return [" + ", ".join(f"{expr(math)} * {volume.get(var, 1.0)!r}" for var, math in assigns.items()) + "]"]),
        ]

    def _reads_moving(self, node, moving) -> bool:
        """Whether a formula reads time or state that changes between events (directly or through rules)."""
        seen, todo = set(), set(_names(node))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                if name in self._rule_math:
                    todo |= _names(self._rule_math[name])
                    if _reads_time(self._rule_math[name]):
                        return True
        return bool(seen & moving) or _reads_time(node)

    # ------------------------------------------------------------------ simulation
    def prepare(self, values: dict[str, np.ndarray | float], n: int) -> dict:
        """Parameter arrays of a batch: the model's defaults, then ``values`` (scalars or one value per patient)."""
        P: dict = dict(self.parameters)
        for k, v in values.items():
            if k not in P:
                raise NotBatchable(f"unknown parameter {k}")
            P[k] = v if np.isscalar(v) else np.asarray(v, dtype=float)
        with np.errstate(all="ignore"):
            P = self._constants(P)
        kernel = self.kernel()
        if kernel is not None:
            P[_KERNEL_ROWS] = kernel[1].parameter_array(P, n)
        return P

    def kernel(self):
        """(compiled rates, :class:`~qsp.engine.kernel.KernelSource`) of this model, or None (numpy right-hand side)."""
        with self._kernel_lock:
            if self._kernel is False:
                self._kernel = compile_kernel(self._rates_source, self.n_moving, len(self.state))
            return self._kernel

    def right_hand_side(self) -> str:
        """Which right-hand side this process integrates with (recorded in a trial's provenance: the two
        agree within rounding, so a re-run on the other one can differ in the last digits)."""
        return "numpy" if self.kernel() is None else "numba kernel"

    def rates(self, t: float, y: np.ndarray, P: dict) -> np.ndarray:
        """(n_moving, n) rates of change: the compiled kernel when :meth:`prepare` gave one, else numpy."""
        rows = P.get(_KERNEL_ROWS)
        if rows is None:
            return self._numpy_rates(t, y, P)
        dy = np.empty((self.n_moving, y.shape[1]))
        self._kernel[0](float(t), y, rows, dy)
        return dy

    def observe(self, t: float, y: np.ndarray, P: dict, names: tuple[str, ...]) -> np.ndarray:
        """(len(names), n) values of state and rules at one time."""
        with np.errstate(all="ignore"):
            rules = self._observe(t, y, P)
        rows = []
        n = y.shape[1]
        for name in names:
            if name in self.index:
                v = y[self.index[name]] / self._volume.get(name, 1.0)
            elif name in rules:
                v = rules[name]
            else:
                v = P[name]
            rows.append(np.broadcast_to(np.asarray(v, dtype=float), (n,)))
        return np.array(rows)


def _boundary(m, species_id: str) -> bool:
    s = m.getSpecies(species_id)
    return bool(s.getBoundaryCondition() or s.getConstant())


def _reads_time(node) -> bool:
    if node.getType() == libsbml.AST_NAME_TIME:
        return True
    return any(_reads_time(node.getChild(i)) for i in range(node.getNumChildren()))


def _rule_order(rules: dict) -> list[str]:
    """Assignment rules in dependency order (NotBatchable on a cycle)."""
    order, state = [], {}

    def visit(name):
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise NotBatchable(f"assignment rules form a cycle through {name}")
        state[name] = 1
        for dep in _names(rules[name]):
            if dep in rules:
                visit(dep)
        state[name] = 2
        order.append(name)

    for name in rules:
        visit(name)
    return order


@functools.lru_cache(maxsize=4)
def compile_batch(sbml: str) -> BatchModel | None:
    """The model translated for batch integration, or None when it does not qualify."""
    try:
        return BatchModel(sbml)
    except (NotBatchable, KeyError):  # KeyError: a rule or reaction writes something that is not state
        return None


@dataclass(frozen=True)
class StepGrid:
    """How the step grid is laid out: the first step after an anchor (an event day), its growth, the largest step."""

    first: float = 1 / 96  # d: a quarter of a 1-hour infusion
    growth: float = 1.2
    largest: float = 3.0  # d


def step_grid(anchors, outputs, end: float, grid: StepGrid = StepGrid()) -> np.ndarray:
    """Grid times from 0 to ``end``: every anchor and output, steps growing geometrically after each anchor."""
    fixed = np.unique(np.concatenate([[0.0, end], np.asarray(outputs, float), np.asarray(anchors, float)]))
    fixed = fixed[(fixed >= 0) & (fixed <= end)]
    anchors = set(np.asarray(anchors, float).tolist()) | {0.0}
    times = [0.0]
    h = grid.first
    for nxt in fixed[1:]:
        t = times[-1]
        while t + h < nxt - 1e-9:
            t = t + h
            times.append(t)
            h = min(h * grid.growth, grid.largest)
        times.append(float(nxt))
        if float(nxt) in anchors:
            h = grid.first
    return np.array(times)


@dataclass
class BatchRun:
    """Observables of a batch at the output days, and which patients the batch could not integrate exactly."""

    values: np.ndarray  # (n, len(outputs), len(names))
    redo: np.ndarray  # bool per patient: simulate with roadrunner instead


def simulate_batch(model: BatchModel, P: dict, y0: np.ndarray, outputs: np.ndarray, names: tuple[str, ...],
                   anchors=(), rtol: float = 1e-6, atol: float = 1e-8, grid: StepGrid = StepGrid(),
                   max_steps: int = 200_000) -> BatchRun:
    """Integrate a batch from day 0 (state ``y0``, rows as ``model.state``, one column per patient) to the last output.

    ``anchors``: days where events are expected (the grid restarts small steps after each); events whose
    time threshold falls between grid points are also stepped to exactly.
    """
    outputs = np.asarray(outputs, dtype=float)
    n = y0.shape[1]
    y = y0.copy()
    redo = np.zeros(n, dtype=bool)
    values = np.full((n, len(outputs), len(names)), np.nan)
    times = step_grid(anchors, outputs, float(outputs[-1]), grid)
    out_at = {float(t): k for k, t in enumerate(outputs)}
    previous = [np.full(n, e.initial) for e in model.events]
    t = 0.0
    i = 0
    steps = 0
    with np.errstate(all="ignore"):
        _fire_events(model, 0.0, None, y, P, previous, redo)
        armed = _armed_time(model, y, P, previous)
        if 0.0 in out_at:
            values[:, out_at[0.0], :] = model.observe(0.0, y, P, names).T
        f = model.rates(0.0, y, P)
        K, stage = np.empty((7, model.n_moving, n)), np.empty_like(y)
        while i < len(times) - 1:
            target = times[i + 1]
            t_new = min(target, armed) if armed > t + 1e-12 else target
            y_old = y
            y, f, err = _dopri_step(model, t, y, f, t_new - t, P, K, stage)
            scale = atol + rtol * np.maximum(np.abs(y[:model.n_moving]), np.abs(y_old[:model.n_moving]))
            redo |= np.sqrt(np.mean(np.square(err / scale), axis=0)) > 1.0  # CVODE's local error test (WRMS norm)
            t_prev, t = t, t_new
            if t_new == target:
                i += 1
            if armed <= t + 1e-12:
                if _fire_events(model, t, t_prev, y, P, previous, redo):
                    f = model.rates(t, y, P)
                armed = _armed_time(model, y, P, previous)
            if t in out_at:
                values[:, out_at[t], :] = model.observe(t, y, P, names).T
            steps += 1
            if steps > max_steps:
                redo[:] = True
                break
    redo |= ~np.all(np.isfinite(y), axis=0) | ~np.all(np.isfinite(values), axis=(1, 2))
    return BatchRun(values, redo)


def _armed_time(model: BatchModel, y, P, previous) -> float:
    """The earliest time any event can fire next: the smallest ``X`` of a ``time >= X`` trigger that is false now
    and whose other conditions hold (they change only when events fire, so this holds until the next event)."""
    best = np.inf
    for e, prev in zip(model.events, previous):
        ready = np.broadcast_to(e.trigger(np.inf, y, P), prev.shape) & ~prev
        if ready.any():
            x = np.broadcast_to(e.threshold(np.inf, y, P), prev.shape)
            best = min(best, float(x[ready].min()))
    return best


def _fire_events(model: BatchModel, t: float, t_prev: float | None, y, P, previous, redo) -> bool:
    """Fire the events whose trigger turned true at ``t`` (simultaneous ones from the same state); True if any fired."""
    fired_any = False
    for cascade in range(MAX_CASCADE):
        # just after t, as roadrunner's root finding sees it: ``time > X`` fires at X like ``time >= X``
        after = float(np.nextafter(t, np.inf))
        current = [np.broadcast_to(e.trigger(after, y, P), prev.shape) for e, prev in zip(model.events, previous)]
        fire = [c & ~p for c, p in zip(current, previous)]
        for k in range(len(previous)):
            previous[k] = current[k].copy()
        if not any(f.any() for f in fire):
            return fired_any
        updates = []
        for e, mask in zip(model.events, fire):
            if not mask.any():
                continue
            if cascade == 0 and t_prev is not None:  # a threshold crossed strictly inside the last step fired late
                x = np.broadcast_to(e.threshold(t, y, P), mask.shape)
                redo |= mask & (x > t_prev + 1e-12) & (x < t - 1e-12)
            updates.append((e, mask, e.assign(t, y, P)))
        for e, mask, new in updates:
            for row, value in zip(e.targets, new):
                y[row] = np.where(mask, value, y[row])
        fired_any = True
    redo[:] = True  # events kept triggering each other
    return True


def _dopri_step(model: BatchModel, t: float, y, f, h: float, P, K, stage):
    """One Dormand-Prince step: (y at t + h, rates there, error estimate); ``K`` and ``stage`` are work arrays.

    Only the first ``model.n_moving`` rows of ``y`` change between events; the others are copied through.
    Combinations are summed term by term (elementwise): a BLAS product would make a patient's rounding
    depend on the size of its batch.
    """
    m = model.n_moving
    K[0] = f
    stage[m:] = y[m:]
    for s in range(1, 6):
        stage[:m] = y[:m] + h * _combine(_A[s], K)
        K[s] = model.rates(t + _C[s] * h, stage, P)
    y_new = y.copy()
    y_new[:m] += h * _combine(_B, K)
    K[6] = model.rates(t + h, y_new, P)
    return y_new, K[6].copy(), h * _combine(_E, K)


def _combine(weights, K):
    """sum_j weights[j] * K[j], skipping zero weights, in a fixed order."""
    total = None
    for w, k in zip(weights, K):
        if w:
            total = w * k if total is None else total + w * k
    return total
