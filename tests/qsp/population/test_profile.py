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
