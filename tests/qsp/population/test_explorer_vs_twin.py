"""Issue 14, item 9: the explorer and a one-visit twin of the same patient share the time-to-next-stage computation."""

from qsp import constants as C
from qsp.population import profile, stages
from qsp.population.profile import project_profile
from qsp.twin import forecast
from qsp.twin.fit import fit_twin
from qsp.twin.forecast import forecast_twin
from qsp.twin.records import parse_patient_rows

PATIENT = {"age": 72.0, "sex": "F", "weight_kg": 70.0, "apoe4_copies": 1, "amyloid_cl": 90.0, "tau_suvr": 1.3, "cdrsb": 3.0}


def test_one_function_for_both_views():
    assert profile.time_to_next_stage is stages.time_to_next_stage is forecast.time_to_next_stage


def test_explorer_and_one_visit_twin_aim_at_the_same_next_stage():
    proj = project_profile(PATIENT, years=4, n_draws=10)
    twin = fit_twin(parse_patient_rows([{C.PATIENT_ID: "ONE", "week": 0, **PATIENT}]))
    fc = forecast_twin(twin, horizon_weeks=208)
    explorer = proj.next_stage[C.UNTREATED]
    row = fc.events[(fc.events["regimen"] == C.UNTREATED) & fc.events["event"].str.startswith("stage:")].iloc[0]
    if fc.stage == proj.stage:  # same stage today: the same cut-point ahead, reported the same way (years, median and 80%)
        assert row["event"] == f"stage:{explorer['stage']}"
    for times in (explorer, row):
        assert times["p10_years"] <= times["median_years"] <= times["p90_years"]
