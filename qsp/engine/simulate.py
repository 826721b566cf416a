"""Simulate virtual patients on a model: one reset + simulate per patient.

The :class:`Engine` holds this thread's RoadRunner and the index arrays that
set a patient's parameters and disease state through the model's own setters
(``rr['init(X)']`` would regenerate the model and drop what was set).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qsp import constants as C
from qsp.engine.batch import compile_batch, simulate_batch
from qsp.engine.model import Model, load_builtin_model
from qsp.engine.observables import STATE_OBSERVABLES, ObservableMapping
from qsp.engine.parameters import iiv_sd
from qsp.engine.regimen import Regimen, parse_regimen, placebo_parameters
from qsp.engine.solver import SolverOptions
from qsp.errors import InvalidInput, SimulationFailed

# Patient covariates and random effects as model parameters.
COVARIATE_PARAMETERS = C.COVARIATE_PARAMETERS
ETA_PARAMETERS = ("eta_cl", "z_amy_response", "eta_amy_growth", "eta_amy_plateau", "eta_tau", "eta_clin", "clin_offset_cdrsb",
                  "eta_mmse", "eta_iadrs")
PLACEBO_PARAMETERS = placebo_parameters()  # dosing parameters of an untreated patient


def patient_parameters(patient) -> dict[str, float]:
    """Model parameter values for one patient (a mapping with covariates and etas)."""
    values = {
        "weight_kg": float(patient[C.WEIGHT_KG]),
        "is_female": 1.0 if patient[C.SEX] == "F" else 0.0,
        "age_yr": float(patient[C.AGE]),
        "apoe4_copies": float(patient[C.APOE4]),
    }
    for eta in ETA_PARAMETERS:
        values[eta] = float(patient.get(eta, 0.0) or 0.0) if hasattr(patient, "get") else 0.0
    return values


@dataclass
class PatientRun:
    """One patient's simulated observables at the requested days (rows) or a failure."""

    values: np.ndarray | None  # shape (n_times, len(OBSERVABLES))
    stopped_day: float | None  # day dosing was stopped by the stop rule
    error: str | None = None


@functools.lru_cache(maxsize=4)
def _worker_model(sbml: str, name: str, solver_json: str, mapping_json: str | None) -> Model:
    mapping = ObservableMapping.model_validate_json(mapping_json) if mapping_json else None
    return Model(sbml, name=name, solver=SolverOptions.model_validate_json(solver_json), mapping=mapping)


def worker_engine(sbml: str, name: str, solver: dict, overrides: dict | None, mapping: dict | None = None) -> Engine:
    """An Engine on a model built once per worker process from its SBML (chunked work on Dask workers)."""
    mapping_json = json.dumps(mapping, sort_keys=True) if mapping else None
    return Engine(_worker_model(sbml, name, json.dumps(solver, sort_keys=True), mapping_json), overrides or None)


def model_job_fields(engine: Engine) -> dict:
    """What a self-contained chunk job needs to rebuild ``engine`` on a worker (see :func:`worker_engine`)."""
    model = engine.model
    return dict(sbml=model.sbml, model_name=model.name, solver=model.solver.model_dump(), overrides=dict(engine.overrides),
                mapping=model.mapping.model_dump(mode="json") if model.mapping else None)


class Engine:
    """Simulates patients on one model in this thread (build one per thread/worker)."""

    def __init__(self, model: Model | None = None, parameter_overrides: dict[str, float] | None = None):
        self.model = model or load_builtin_model()
        self.rr = self.model.runner(C.OBSERVABLES)
        self.overrides = dict(parameter_overrides or {})
        mapping = self.model.mapping
        self.mapping = mapping
        self.available = self.model.available  # observables the model provides
        self._unavailable = np.array([i for i, o in enumerate(C.OBSERVABLES) if o not in self.available], dtype=np.int64)
        self._per_day = 1.0 / mapping.days_per_time_unit if mapping else 1.0  # model time units per day
        if mapping is None:
            species = list(self.rr.model.getFloatingSpeciesIds())
            self._state_idx = np.array([species.index(s) for s in C.STATE_SPECIES], dtype=np.int32)
        else:  # (selector, link) per state observable: species concentration "[S]" or amount "S"
            self._state_links = []
            for name in C.STATE_SPECIES:
                link = mapping.observables.get(name) if name == C.AMYLOID_LAGGED_CL else mapping.link(name)
                # a species' concentration "[S]" (its amount when substance-only), or a rate-rule parameter's value
                concentration = link is not None and link.id in self.model.species_ids and link.id not in self.model.substance_only
                selector = None if link is None else f"[{link.id}]" if concentration else link.id
                self._state_links.append((name, selector, link))
        self._param_ids: tuple[str, ...] | None = None
        self._param_idx: np.ndarray | None = None

    def _set_parameters(self, values: dict[str, float]) -> None:
        # The runner is shared by everything on this thread that simulates this model (other Engines with
        # their overrides, the model lab, sensitivity analyses) and parameters survive reset(): every
        # settable parameter is set on every run (one vectorised call), so nothing done before can leak in.
        merged = {**self.model.defaults, **values, **self.overrides}
        ids = tuple(merged)
        if ids != self._param_ids:
            self._param_idx = self.model.parameter_index(ids)
            self._param_ids = ids
        self.rr.model.setGlobalParameterValues(self._param_idx, np.fromiter(merged.values(), float, len(merged)))

    def run(
        self,
        patient,
        regimen: Regimen | None,
        days: np.ndarray,
        state: tuple[float, ...] | None = None,
        stop_noise_cl: np.ndarray | None = None,
    ) -> PatientRun:
        """Simulate one patient from day 0 (reset first) and return observables at ``days``.

        ``state`` is (amyloid_cl, tau_suvr, severity[, amyloid_lagged_cl]) at day 0
        (the model's initial values when None); ``stop_noise_cl`` the measurement error (CL) added to
        amyloid at each stop-rule check, zero when None.
        """
        rr = self.rr
        self.prepare(patient, regimen, state, stop_noise_cl)
        days = np.asarray(days, dtype=float)
        if days.size == 0 or days[0] < 0 or np.any(np.diff(days) <= 0):
            raise InvalidInput("days: output days must be >= 0 and strictly increasing")
        from_zero = days[0] > 0  # the simulation always starts at day 0 (the first dose)
        times = np.concatenate([[0.0], days]) if from_zero else days
        try:
            out = np.asarray(rr.simulate(times=times * self._per_day if self.mapping else times))
        except RuntimeError as exc:  # CVODE failure for this patient: counted by the caller
            return PatientRun(None, None, error=str(exc).splitlines()[0][:200])
        if from_zero:
            out = out[1:]
        stop_day = float(rr["stop_day"])
        out = out[:, 1:]
        if self._unavailable.size:
            out[:, self._unavailable] = np.nan
        return PatientRun(out, stop_day if stop_day >= 0 else None)

    def prepare(self, patient, regimen: Regimen | None, state: tuple[float, ...] | None = None,
                stop_noise_cl: np.ndarray | None = None) -> None:
        """Set one patient's parameters, dosing and day-0 state on the runner, at time 0 (what :meth:`run` simulates).

        After it, ``self.rr.getCurrentSBML()`` is the exact model the run integrates (dosing included).
        """
        rr = self.rr
        if regimen is not None and self.mapping is not None:
            self.check_regimen(regimen)
        self._set_parameters(self._patient_values(patient, regimen, stop_noise_cl))
        rr.reset()  # after the parameters: reset re-reads event triggers (the t=0 dose) from them
        if state is not None:
            values = _full_state(state)
            if self.mapping is None:
                rr.model.setFloatingSpeciesAmounts(self._state_idx, np.asarray(values, dtype=float))
            else:
                self._set_mapped_state(values)

    @property
    def batches(self) -> bool:
        """Whether :meth:`run_batch` integrates treated patients together on this model."""
        return self.mapping is None and compile_batch(self.model.sbml) is not None

    def batch_right_hand_side(self) -> str | None:
        """The batch integrator's right-hand side in this process ("numba kernel" or "numpy"; None: no batching)."""
        return compile_batch(self.model.sbml).right_hand_side() if self.batches else None

    def run_batch(self, patients: list, regimen: Regimen | None, days: np.ndarray, states: list,
                  stop_noise_cl: list | None = None) -> list[PatientRun]:
        """:meth:`run` for many patients on one regimen, integrated together when the model allows it.

        The batch integrator (:mod:`qsp.engine.batch`) gives the same observables as roadrunner within the
        solver's accuracy (tests compare both with a tight reference); a patient it cannot integrate is
        simulated by :meth:`run`.
        """
        days = np.asarray(days, dtype=float)
        noise = stop_noise_cl if stop_noise_cl is not None else [None] * len(patients)
        batch = compile_batch(self.model.sbml) if self.batches else None
        if regimen is None or batch is None or days[0] != 0 or np.any(np.diff(days) <= 0):
            # untreated patients cost roadrunner no restarts: one run each is cheaper than the batch's fixed steps
            return [self.run(p, regimen, days, state=s, stop_noise_cl=z) for p, s, z in zip(patients, states, noise)]
        columns = [self._patient_values(p, regimen, z) for p, z in zip(patients, noise)]
        values = {k: np.array([c[k] for c in columns]) for k in columns[0]}
        P = batch.prepare({**values, **self.overrides}, len(patients))
        y0 = np.repeat(batch.initial[:, None], len(patients), axis=1)
        for name, column in zip(C.STATE_SPECIES, np.array([_full_state(s) for s in states]).T):
            y0[batch.index[name]] = column
        run = simulate_batch(batch, P, y0, days, (*C.OBSERVABLES, "stop_day"), anchors=_event_days(regimen, P, days[-1]),
                             rtol=BATCH_CHECK * self.model.solver.relative_tolerance,
                             atol=BATCH_CHECK * self.model.solver.absolute_tolerance)
        out = []
        for k, (patient, state, z) in enumerate(zip(patients, states, noise)):
            if run.redo[k]:
                out.append(self.run(patient, regimen, days, state=state, stop_noise_cl=z))
                continue
            stop_day = float(run.values[k, -1, -1])
            out.append(PatientRun(run.values[k, :, :-1], stop_day if stop_day >= 0 else None))
        return out

    def _patient_values(self, patient, regimen: Regimen | None, stop_noise_cl) -> dict[str, float]:
        """One patient's parameter values (covariates, random effects, dosing, stop-rule noise), before the overrides."""
        values = patient_parameters(patient)
        if regimen is None:
            values.update(PLACEBO_PARAMETERS)
        else:
            values.update(regimen.model_parameters(float(patient[C.WEIGHT_KG])))
            if stop_noise_cl is not None and regimen.stop_rule is not None:
                for k, noise in enumerate(stop_noise_cl[: len(regimen.stop_rule.at_weeks)], start=1):
                    values[f"sr{k}_noise_cl"] = float(noise)
        for k in range(1, C.MAX_STOP_CHECKS + 1):
            values.setdefault(f"sr{k}_noise_cl", 0.0)
        return values

    @property
    def eta_sd(self) -> dict[str, float]:
        """SDs of the random effects patients draw (none for a mapped model: its etas are inert)."""
        return iiv_sd() if self.mapping is None else {}

    def check_regimen(self, regimen: Regimen) -> None:
        """InvalidInput when this model cannot give ``regimen`` (a mapped model without a dose target or amyloid)."""
        if self.mapping is None:
            return
        if self.mapping.dose_target is None:
            raise InvalidInput("regimen: the model's mapping has no dose target species, so it cannot be dosed")
        if regimen.stop_rule is not None and C.AMYLOID_CL not in self.available:
            raise InvalidInput("regimen: a stop rule reads amyloid PET, which the model's mapping does not provide")

    def _set_mapped_state(self, values: list[float]) -> None:
        for (name, selector, link), value in zip(self._state_links, values):
            if selector is None:
                if name in STATE_OBSERVABLES:
                    raise InvalidInput(f"state: the model's mapping has no species for {name}, so a patient's "
                                       "disease state cannot be set; map it in the model lab")
                continue
            self.rr[selector] = link.inverse(value)


# Treated patients of one regimen at least this many are worth integrating together (:meth:`Engine.run_batch`):
# below it, the batch's fixed cost per step (about 1,000 steps over 76 weeks) makes it slower than one
# roadrunner run per patient (measured crossover with the compiled right-hand side: 20-50 patients on the
# built-in model; 200-300 with numpy's). Callers decide from their own size (arm size, draws), never from
# a chunk's, so that serial and Dask runs give the same numbers.
BATCH_MIN_PATIENTS = 50

# A batch step's local error estimate is far more pessimistic than the global error it leads to (measured:
# the batch's global error on the built-in model is at the level of roadrunner's own at rtol 1e-6, see
# tests/qsp/engine/test_batch.py); a patient whose estimate exceeds this many times the solver's tolerance
# has dynamics the step grid does not resolve and is simulated by roadrunner instead.
BATCH_CHECK = 100.0


def _full_state(state) -> list[float]:
    """(amyloid_cl, tau_suvr, severity, amyloid_lagged_cl): lagged amyloid = amyloid when not given."""
    values = [float(v) for v in state]
    return values + [values[0]] if len(values) == 3 else values


def _event_days(regimen: Regimen | None, P: dict, end_day: float) -> list[float]:
    """Days the regimen's events can happen on: doses (ignoring the stop rule), infusion ends, stop checks."""
    if regimen is None:
        return []
    doses = [day for day, _, _ in regimen.schedule(70.0, end_day + 1)]  # the days do not depend on weight
    infusion = np.unique(np.asarray(P.get("inf_duration_d", 0.0), dtype=float))
    ends = [day + float(d) for day in doses for d in infusion]
    checks = regimen.stop_rule.check_days() if regimen.stop_rule else []
    return [*doses, *ends, *checks]


def simulate_patient(
    patient: dict,
    regimen=None,
    weeks: float = 78,
    step_weeks: float = 1,
    state: tuple[float, float, float] | None = None,
    model: Model | None = None,
) -> pd.DataFrame:
    """Simulate one patient and return a tidy DataFrame (one row per time point).

    ``patient`` holds age, sex, weight_kg, apoe4_copies (and optional eta_*);
    ``state`` is (amyloid_cl, tau_suvr, cdrsb) at week 0; ``regimen`` a Regimen,
    a library name, a mapping or None (untreated).

    >>> df = simulate_patient({"age": 72, "sex": "F", "weight_kg": 70, "apoe4_copies": 1},
    ...                       "lecanemab_q2w", weeks=4, state=(80, 1.3, 3.5))
    >>> int(df["n_doses"].iloc[-1])
    3
    """
    regimen = parse_regimen(regimen) if regimen is not None else None
    days = np.arange(0, weeks * C.DAYS_PER_WEEK + 1e-9, step_weeks * C.DAYS_PER_WEEK)
    run = Engine(model).run(patient, regimen, days, state=state)
    if run.values is None:
        raise SimulationFailed(f"simulation failed: {run.error}")
    df = pd.DataFrame(run.values, columns=list(C.OBSERVABLES))
    df.insert(0, "week", days / C.DAYS_PER_WEEK)
    df.insert(1, "day", days)
    return df
