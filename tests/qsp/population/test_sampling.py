"""Virtual populations: criteria respected, consistent trajectories, reproducible from the seed."""

import numpy as np
import pandas as pd
import pytest

from qsp import constants as C
from qsp.engine.simulate import simulate_patient
from qsp.errors import InvalidInput
from qsp.population.sampling import parse_criteria, sample_population

TRIAL = {"amyloid_cl": [37, None], "mmse": [20, 28], "age": [60, 85], "tau": ["low_medium", "high"]}


@pytest.fixture(scope="module")
def trial_population():
    return sample_population(150, TRIAL, seed=11)


def test_inclusion_criteria_hold(trial_population):
    pop = trial_population
    assert (pop[C.AMYLOID_CL] >= 37).all()
    assert pop[C.MMSE].between(20, 28).all()
    assert pop[C.AGE].between(60, 85).all()
    assert (pop[C.TAU_SUVR] >= C.TAU_POSITIVE_SUVR).all()
    assert set(pop["tau_group"]) <= {"low_medium", "high"}


def test_covariates_look_like_early_ad_trials(trial_population):
    pop = trial_population
    assert 68 <= pop[C.AGE].mean() <= 76
    assert 0.4 <= (pop[C.SEX] == "F").mean() <= 0.7
    shares = pop[C.APOE4].value_counts(normalize=True)
    assert 0.15 <= shares.get(0, 0) <= 0.5 and shares.get(2, 0) >= 0.05
    # women are lighter than men on average (weights drawn by sex)
    assert pop.loc[pop[C.SEX] == "F", C.WEIGHT_KG].mean() < pop.loc[pop[C.SEX] == "M", C.WEIGHT_KG].mean()


def test_biomarkers_come_from_each_patients_own_trajectory(trial_population):
    """Re-simulating a patient's natural history to their disease time reproduces their baseline."""
    for _, row in trial_population.head(5).iterrows():
        patient = row.to_dict()
        df = simulate_patient(patient, None, weeks=row["disease_years"] * 52.1786, step_weeks=row["disease_years"] * 52.1786, state=(0.0, 1.0, 0.0))
        last = df.iloc[-1]
        assert last[C.AMYLOID_CL] == pytest.approx(row[C.AMYLOID_CL], rel=1e-3)
        assert last[C.TAU_SUVR] == pytest.approx(row[C.TAU_SUVR], rel=1e-3)
        assert last[C.SEVERITY] == pytest.approx(row[C.SEVERITY], rel=1e-3)
        assert last[C.CDRSB] == pytest.approx(row[C.CDRSB], rel=1e-3)


def test_biomarkers_are_correlated_not_independent(trial_population):
    pop = trial_population
    # same trajectory, not independent draws; each patient's own MMSE sensitivity (eta_mmse) keeps the scales
    # from being perfectly correlated, as in trials (baseline CDR-SB vs MMSE r about -0.4 to -0.6)
    assert -0.95 < np.corrcoef(pop[C.CDRSB], pop[C.MMSE])[0, 1] < -0.3
    # more tau, more advanced disease; weaker than published (r about 0.3-0.5) since rates vary widely between
    # patients (eta_clin), and baseline tau vs CDR-SB is about uncorrelated: see models_sbml/README.md "Limits"
    assert np.corrcoef(pop[C.TAU_SUVR], pop[C.SEVERITY])[0, 1] > 0.1


def test_same_seed_same_population_and_chunking_does_not_matter():
    a = sample_population(12, TRIAL, seed=3)
    b = sample_population(12, TRIAL, seed=3)
    pd.testing.assert_frame_equal(a, b)
    c = sample_population(12, TRIAL, seed=4)
    assert not np.allclose(a[C.AMYLOID_CL], c[C.AMYLOID_CL])
    # the first six, then the rest from where they stopped: the same patients
    first = sample_population(6, TRIAL, seed=3)
    start = int(first[C.PATIENT_ID].iloc[-1].split("-")[-1]) + 1
    rest = sample_population(6, TRIAL, seed=3, start_index=start)
    pd.testing.assert_frame_equal(pd.concat([first, rest], ignore_index=True), a)


def test_genotype_and_stage_sets():
    pop = sample_population(20, {"apoe4_copies": [2], "stage": ["mild_dementia"]}, seed=5)
    assert (pop[C.APOE4] == 2).all()
    assert (pop["stage"] == "mild_dementia").all()
    assert pop[C.CDRSB].between(4.5, 9.5).all()


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        ({"amyloid_cl": [80, 20]}, "population.amyloid_cl: range minimum 80.0 is above its maximum 20.0"),
        ({"tau": ["medium"]}, "population.tau.0: Input should be"),
        ({"apoe4_copies": [3]}, "population.apoe4_copies.0"),
        ({"stage": []}, "empty set admits nobody"),
        ({"bmi": [20, 30]}, "population.bmi: Extra inputs are not permitted"),
    ],
)
def test_bad_criteria_name_the_field(criteria, message):
    with pytest.raises(InvalidInput, match=message):
        parse_criteria(criteria)


def test_impossible_criteria_say_so_instead_of_hanging():
    with pytest.raises(InvalidInput, match="only 0 of 2 patients met the inclusion criteria"):
        sample_population(2, {"amyloid_cl": [500, None]}, seed=1)


def test_baseline_draw_lies_between_a_random_date_and_a_random_stage(monkeypatch):
    from qsp.population import sampling

    years = np.arange(0.0, 10.0, 0.1)
    history = np.zeros((len(years), len(C.OBSERVABLES)))
    history[:, C.OBSERVABLES.index(C.SEVERITY)] = 0.05 * years**2  # accelerating decline: late years span more stages
    late = years >= 5.0
    calibrated = sampling.PROGRESS_WEIGHT_EXP

    def late_share(exponent):
        monkeypatch.setattr(sampling, "PROGRESS_WEIGHT_EXP", exponent)
        w = sampling.progress_weights(history)
        return w[late].sum() / w.sum()

    assert late_share(0.0) == pytest.approx(0.5)  # a random date of the window
    assert late_share(1.0) > 0.7  # a random stage: most of the CDR-SB range is crossed late
    assert 0.5 < late_share(calibrated) < 0.6  # the calibrated draw is close to a random date
