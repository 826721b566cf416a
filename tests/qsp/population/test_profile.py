"""Continuum explorer core: score inversion, stages, projections."""

import math

import pytest

from qsp import constants as C
from qsp.engine.simulate import simulate_patient
from qsp.errors import InvalidInput
from qsp.population.profile import parse_profile, project_profile, severity_from_profile

BASE = {"age": 72, "sex": "F", "weight_kg": 70, "apoe4_copies": 1, "amyloid_cl": 90, "tau_suvr": 1.3}


@pytest.mark.parametrize("cdrsb", [0.0, 0.7, 3.5, 8.0, 15.0])
def test_scores_invert_to_the_models_severity(cdrsb):
    """The MMSE and iADRS the model shows with a CDR-SB map back to that CDR-SB."""
    df = simulate_patient({C.AGE: 72, C.SEX: "F", C.WEIGHT_KG: 70, C.APOE4: 1}, None, weeks=1, step_weeks=1, state=(90, 1.3, cdrsb))
    mmse, iadrs, shown = df[C.MMSE].iloc[0], df[C.IADRS].iloc[0], df[C.CDRSB].iloc[0]
    assert shown == pytest.approx(cdrsb, abs=0.03)  # CDR-SB is the severity (offset 0), smoothed at 0
    assert severity_from_profile(parse_profile({**BASE, "mmse": mmse})) == pytest.approx(shown, abs=1e-6)
    assert severity_from_profile(parse_profile({**BASE, "iadrs": iadrs})) == pytest.approx(shown, abs=1e-6)


def test_profile_needs_exactly_one_score():
    with pytest.raises(InvalidInput, match="exactly one clinical score"):
        parse_profile({**BASE, "mmse": 24, "cdrsb": 3})
    with pytest.raises(InvalidInput, match="profile.tau_suvr"):
        parse_profile({**BASE, "tau_suvr": 9, "mmse": 24})


def test_treatment_slows_progression_to_the_next_stage():
    proj = project_profile({**BASE, "cdrsb": 3.8}, {"don": "donanemab_standard"}, years=4, n_draws=12)
    assert proj.stage == "mci"
    untreated, treated = proj.next_stage["untreated"], proj.next_stage["don"]
    assert untreated["stage"] == "mild_dementia"
    assert treated["median_years"] >= untreated["median_years"]
    assert math.isfinite(untreated["median_years"])
    t = proj.trajectories
    end = t[(t["observable"] == C.AMYLOID_CL) & (t["week"] == t["week"].max())].set_index("regimen")["median"]
    assert end["don"] < end["untreated"] - 50
    band = t[(t["observable"] == C.CDRSB) & (t["regimen"] == "untreated") & (t["week"] == t["week"].max())].iloc[0]
    assert band["p10"] < band["median"] < band["p90"]


def test_benefit_at_18_months_pairs_the_same_drawn_patients():
    proj = project_profile({"age": 72, "sex": "F", "apoe4_copies": 1, "amyloid_cl": 90, "tau_suvr": 1.3, "mmse": 24},
                           {"don": "donanemab_standard"}, years=2, n_draws=8)
    b = proj.benefit["don"]
    assert set(proj.benefit) == {"don"} and b["at_years"] == 1.5
    assert 0 < b["benefit_p10"] <= b["benefit_median"] <= b["benefit_p90"]  # antibody slows decline in every draw
    assert 0 < b["delay_months_median"] < 18
    short = project_profile({"age": 72, "sex": "F", "apoe4_copies": 1, "amyloid_cl": 90, "tau_suvr": 1.3, "mmse": 24},
                            {"don": "donanemab_standard"}, years=1, n_draws=3)
    assert short.benefit["don"]["at_years"] == pytest.approx(1.0, abs=0.05)  # the horizon when it comes first
