"""Antibody PK in the built-in model against exact solutions of the linear 2-compartment system."""

import numpy as np
import pytest
from scipy.linalg import expm

from qsp import constants as C
from qsp.engine.model import load_builtin_model
from qsp.engine.regimen import Regimen
from qsp.engine.simulate import Engine

REFERENCE_MAN = {C.AGE: 72.0, C.SEX: "M", C.WEIGHT_KG: 73.7, C.APOE4: 0}  # covariates at the reference


def exact_concentration(times, cl, v1, q, v2, ka, bolus_depot, infusion_mg, infusion_days):
    """Central concentration (mg/L) of depot -> central <-> peripheral by matrix exponentials."""
    a = np.array(
        [
            [-ka, 0.0, 0.0],
            [ka, -(cl + q) / v1, q / v2],
            [0.0, q / v1, -q / v2],
        ]
    )
    rate = np.array([0.0, infusion_mg / infusion_days if infusion_days else 0.0, 0.0])
    aug = np.zeros((4, 4))
    aug[:3, :3] = a
    aug[:3, 3] = rate
    x0 = np.array([bolus_depot, 0.0, 0.0, 1.0])
    out = []
    for t in times:
        if infusion_days and t > infusion_days:
            during = expm(aug * infusion_days) @ x0
            x = expm(a * (t - infusion_days)) @ during[:3]
        elif infusion_days:
            x = (expm(aug * t) @ x0)[:3]
        else:
            x = expm(a * t) @ x0[:3]
        out.append(x[1] / v1)
    return np.array(out)


def _simulate(regimen, days):
    run = Engine().run(REFERENCE_MAN, regimen, np.asarray(days), state=(80.0, 1.2, 2.0))
    assert run.error is None
    return run.values[:, C.OBSERVABLES.index(C.CONC_UG_PER_ML)]


def test_single_iv_infusion_matches_closed_form():
    p = load_builtin_model().defaults
    regimen = Regimen(drug="lecanemab", phases=[{"dose": 10, "unit": "mg/kg", "every_weeks": 2, "count": 1}])
    days = [0.01, 0.03, 0.5, 1, 3, 7, 14, 28, 56]
    model = _simulate(regimen, days)
    exact = exact_concentration(
        days, p["lec_cl"], p["lec_v1"], p["lec_q"], p["lec_v2"], 0.0, 0.0, 737.0, p["inf_duration_d"]
    )
    np.testing.assert_allclose(model, exact, rtol=1e-4, atol=1e-6)


def test_single_sc_dose_matches_closed_form():
    p = load_builtin_model().defaults
    regimen = Regimen(drug="gantenerumab", route="sc", phases=[{"dose": 510, "every_weeks": 2, "count": 1}])
    days = [0.5, 1, 2, 5, 10, 20, 40, 80]
    model = _simulate(regimen, days)
    exact = exact_concentration(
        days, p["gan_cl"], p["gan_v1"], p["gan_q"], p["gan_v2"], p["gan_ka"], 510 * p["gan_f_sc"], 0.0, 0.0
    )
    np.testing.assert_allclose(model, exact, rtol=1e-4, atol=1e-6)


def test_donanemab_terminal_half_life_is_the_labelled_12_days():
    regimen = Regimen(drug="donanemab", phases=[{"dose": 1400, "every_weeks": 4, "count": 1}])
    c = _simulate(regimen, [60.0, 90.0])
    half_life = 30.0 * np.log(2) / np.log(c[0] / c[1])
    assert half_life == pytest.approx(12.1, abs=0.1)


@pytest.mark.parametrize(("sex", "weight"), [("F", 50.0), ("M", 110.0)])
def test_lecanemab_weight_and_sex_effects_scale_exposure(sex, weight):
    """AUC of a dose = dose / CL, with CL from the published covariate model."""
    p = load_builtin_model().defaults
    patient = {**REFERENCE_MAN, C.SEX: sex, C.WEIGHT_KG: weight}
    regimen = Regimen(drug="lecanemab", phases=[{"dose": 700, "every_weeks": 2, "count": 1}])
    days = np.concatenate([np.linspace(0, 1, 2001), np.linspace(1.01, 400, 4000)])
    run = Engine().run(patient, regimen, days, state=(80.0, 1.2, 2.0))
    auc = np.trapezoid(run.values[:, C.OBSERVABLES.index(C.CONC_UG_PER_ML)], days)
    cl = p["lec_cl"] * (weight / 73.7) ** p["lec_cl_wt_exp"] * (p["lec_cl_female"] if sex == "F" else 1.0)
    assert auc == pytest.approx(700.0 / cl, rel=2e-3)
