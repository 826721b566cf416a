"""Forecast internals: the untreated draws are the full-history simulations, number for number."""

import numpy as np
import pytest

from qsp import constants as C
from qsp import paths
from qsp.engine.simulate import Engine
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.population.stages import crossing_years
from qsp.twin.fit import HISTORY_END_YR, HISTORY_STEP_YR, _visit_days, fit_twin
from qsp.twin.forecast import _relative_weeks, _simulate_untreated
from qsp.twin.records import read_patient_csv
from qsp.twin.result import synthetic_patient

COV = {C.AGE: 66.0, C.SEX: "M", C.WEIGHT_KG: 80.0, C.APOE4: 0}
ETAS = {"eta_amy_growth": 0.0, "eta_amy_plateau": 0.0, "eta_tau": 0.0, "eta_clin": 0.0, "clin_offset_cdrsb": 0.0}
AMYLOID = C.OBSERVABLES.index(C.AMYLOID_CL)


def _full_history(twin, engine, weeks, fit_weeks):
    """Per draw: (forecast values, fit values, years since positivity) from one simulation over the whole 90-year grid."""
    grid_years = np.arange(0.0, HISTORY_END_YR + 1e-9, HISTORY_STEP_YR)
    out = []
    for theta in twin.theta_:
        t0 = float(theta[-1])
        f_days, h_days = np.round(_visit_days(t0, weeks), 6), np.round(_visit_days(t0, fit_weeks), 6)
        days, inverse = np.unique(np.concatenate([f_days, h_days, np.round(grid_years * C.DAYS_PER_YEAR, 6)]), return_inverse=True)
        v = engine.run({**twin.patient.covariates(), **twin.etas(theta)}, None, days, state=NATURAL_HISTORY_START).values
        amyloid = v[inverse[len(f_days) + len(h_days):], AMYLOID]
        crossing = crossing_years(grid_years, amyloid[None, :], C.AMYLOID_POSITIVE_CL)[0]
        out.append((v[inverse[: len(f_days)]], v[inverse[len(f_days): len(f_days) + len(h_days)]],
                    t0 + twin.patient.last_week / C.WEEKS_PER_YEAR - crossing))
    return out


@pytest.mark.parametrize(("t0_years", "horizon_weeks", "step_weeks"), [(None, 520.0, 13.0), (2.0, 26.0, 13.0)])
def test_untreated_draws_equal_the_full_history_simulation(t0_years, horizon_weeks, step_weeks):
    """The history is simulated only to the last forecast day (further only while amyloid is not yet
    positive): the same numbers as simulating the whole grid. The first case is a shipped example over
    ten years (where dropping grid points before the last output day would change a few draws in the
    7th digit); the second a patient whose amyloid turns positive years after the forecast ends."""
    if t0_years is None:
        patient = read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mild-003.csv")
    else:
        patient, _ = synthetic_patient(COV, ETAS, t0_years, [0, 26], noise_seed=3)
    twin = fit_twin(patient, n_draws=500 if t0_years is None else 100)
    engine = Engine(twin.model)
    weeks = patient.last_week + _relative_weeks(horizon_weeks, step_weeks)
    fit_weeks = np.linspace(0.0, patient.last_week, 5)
    draws = _simulate_untreated(twin, engine, weeks, fit_weeks)
    reference = _full_history(twin, engine, weeks, fit_weeks)
    assert len(draws.values) == len(reference) == len(twin.theta_)
    for k, (values, fitted, since) in enumerate(reference):
        assert np.array_equal(draws.values[k], values, equal_nan=True), k
        assert np.array_equal(draws.fitted[k], fitted, equal_nan=True), k
        assert draws.since[k] == since, k
    if t0_years is not None:  # positivity lies beyond the forecast for (nearly) every draw: the fallback was exercised
        assert np.mean(draws.since < -horizon_weeks / C.WEEKS_PER_YEAR) > 0.5, draws.since


def test_treated_draws_integrated_together_give_the_per_draw_numbers(monkeypatch):
    """The treated posterior draws are one batch (as many as BATCH_MIN_PATIENTS): the same forecast, within the
    solver's accuracy, as simulating each draw with roadrunner."""
    from qsp.engine.regimen import parse_regimen
    from qsp.twin import forecast

    patient = read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv")
    twin = fit_twin(patient, n_draws=300)
    engine = Engine(twin.model)
    weeks = _relative_weeks(78.0, 13.0)
    draws = _simulate_untreated(twin, engine, patient.last_week + weeks, np.linspace(0.0, patient.last_week, 5))
    regimens = {"lecanemab": parse_regimen("lecanemab_q2w")}
    from qsp.engine import simulate

    calls, redone, original = [], [], simulate.simulate_batch

    def spying(model, P, y0, *args, **kwargs):
        run = original(model, P, y0, *args, **kwargs)
        calls.append(y0.shape[1])
        redone.append(float(run.redo.mean()))
        return run

    monkeypatch.setattr(simulate, "simulate_batch", spying)
    batched, picks = forecast._simulate_regimens(twin, engine, draws, regimens, weeks, 100, np.random.default_rng(4))["lecanemab"]
    monkeypatch.setattr(forecast, "BATCH_MIN_PATIENTS", 10**9)
    single, picks_single = forecast._simulate_regimens(twin, engine, draws, regimens, weeks, 100, np.random.default_rng(4))["lecanemab"]
    assert calls == [100] and redone[0] < 0.1  # one batch of the 100 draws, integrated by the batch (not redone)
    assert np.array_equal(picks, picks_single)
    for name in (C.AMYLOID_CL, C.CDRSB, C.IADRS):
        j = C.OBSERVABLES.index(name)
        np.testing.assert_allclose(batched[:, :, j], single[:, :, j], rtol=1e-4, atol=1e-4, err_msg=name)
