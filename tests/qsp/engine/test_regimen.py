"""Regimens: validation messages, and the model's event-driven dosing against the planned schedule."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qsp import constants as C
from qsp.engine.regimen import Regimen, StopRule, parse_regimen, regimen_library
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput

PATIENT = {C.AGE: 70.0, C.SEX: "M", C.WEIGHT_KG: 80.0, C.APOE4: 0}
STATE = (90.0, 1.25, 3.0)


def _counts(regimen, days, patient=PATIENT, stop_noise=None):
    run = Engine().run(patient, regimen, np.asarray(days, dtype=float), state=STATE, stop_noise_cl=stop_noise)
    assert run.error is None
    n = run.values[:, C.OBSERVABLES.index(C.N_DOSES)]
    total = run.values[:, C.OBSERVABLES.index(C.DOSE_TOTAL_MG)]
    return n, total, run


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"drug": "aspirin", "phases": [{"dose": 1, "every_weeks": 1}]}, "regimen.drug: Input should be"),
        ({"drug": "lecanemab", "phases": [{"dose": -5, "every_weeks": 2}]}, r"phases.0.dose: .*greater than 0 \(got -5\)"),
        ({"drug": "lecanemab", "phases": [{"dose": 5, "every_weeks": 0}]}, r"phases.0.every_weeks: .*greater than 0"),
        ({"drug": "lecanemab", "phases": []}, "phases: .*at least 1"),
        ({"drug": "lecanemab", "phases": [{"dose": 5, "unit": "g", "every_weeks": 2}]}, "phases.0.unit"),
        ({"drug": "lecanemab", "phases": [{"dose": 500, "unit": "mg/kg", "every_weeks": 2}]}, "implausible"),
        (
            {"drug": "donanemab", "route": "sc", "phases": [{"dose": 700, "every_weeks": 4}]},
            "donanemab has no published subcutaneous PK",
        ),
        (
            {"drug": "lecanemab", "phases": [{"dose": 5, "every_weeks": 2}, {"dose": 5, "every_weeks": 4}]},
            "only the last phase may last to the end",
        ),
        (
            {"drug": "donanemab", "phases": [{"dose": 700, "every_weeks": 4}], "stop_rule": {"below_cl": 11, "at_weeks": [52, 24]}},
            "strictly increasing",
        ),
        ({"drug": "lecanemab", "phases": [{"dose": 5, "every_weeks": 2}], "colour": "red"}, "regimen.colour: Extra inputs"),
    ],
)
def test_invalid_regimens_name_the_field(data, message):
    with pytest.raises(InvalidInput, match=message):
        parse_regimen(data)


def test_unknown_library_name_lists_known_names():
    with pytest.raises(InvalidInput, match="unknown regimen name 'lecanemab_daily'; known: .*lecanemab_q2w"):
        parse_regimen("lecanemab_daily")


def test_library_has_each_drugs_trial_regimens():
    library = regimen_library()
    assert {r.drug for r in library.values()} == set(C.DRUG_IDS)
    assert library["donanemab_standard"].stop_rule == StopRule(below_cl=11, twice_below_cl=25, at_weeks=(24, 52))


def test_mg_per_kg_doses_scale_with_weight():
    n, total, _ = _counts(parse_regimen("lecanemab_q2w"), [0.5, 15.0])
    assert list(n) == [1, 2]
    assert total[-1] == pytest.approx(2 * 10 * PATIENT[C.WEIGHT_KG])


phase = st.fixed_dictionaries(
    {
        "dose": st.integers(1, 2000).map(float),
        "every_weeks": st.sampled_from([1.0, 2.0, 3.0, 4.0, 6.0]),
        "count": st.integers(1, 5),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    phases=st.lists(phase, min_size=1, max_size=4),
    open_ended=st.booleans(),
    drug=st.sampled_from(sorted(C.DRUG_IDS)),
    weeks=st.integers(1, 60),
)
def test_model_gives_exactly_the_planned_doses(phases, open_ended, drug, weeks):
    """Dose count, total mg and dose days of the model's events equal the planned schedule."""
    if open_ended:
        phases[-1] = {k: v for k, v in phases[-1].items() if k != "count"}
    regimen = Regimen(drug=drug, phases=phases)
    end = weeks * 7.0
    plan = regimen.schedule(PATIENT[C.WEIGHT_KG], end + 1e-9)
    n, total, _ = _counts(regimen, [end])
    assert n[-1] == len(plan)
    assert total[-1] == pytest.approx(sum(mg for _, mg, _ in plan))
    # each planned dose day: the count steps by one across it, never between doses
    dose_days = [d for d, _, _ in plan]
    probe = sorted({max(d - 0.01, 0.001) for d in dose_days if d > 0} | {d + 0.01 for d in dose_days})
    probe = [p for p in probe if p <= end]
    if probe:
        n_probe, _, _ = _counts(regimen, probe)
        expected = [sum(1 for d in dose_days if d <= p) for p in probe]
        assert list(n_probe) == expected


@settings(max_examples=25, deadline=None)
@given(
    below=st.floats(-10, 60),
    twice=st.one_of(st.none(), st.floats(-10, 80)),
    noise=st.lists(st.floats(-8, 8), min_size=3, max_size=3),
)
def test_stop_rule_stops_exactly_when_the_readings_say(below, twice, noise):
    """The model stops dosing at the first check whose readings satisfy the rule, and gives no dose after."""
    rule = {"below_cl": below, "at_weeks": [12, 24, 36]}
    if twice is not None:
        rule["twice_below_cl"] = twice
    regimen = Regimen(drug="donanemab", phases=[{"dose": 1400, "every_weeks": 4}], stop_rule=rule)
    check_days = [w * 7.0 - C.STOP_CHECK_LEAD_DAYS for w in (12, 24, 36)]
    n, _, run = _counts(regimen, [*check_days, 52 * 7.0], stop_noise=np.array(noise))
    amyloid = run.values[:3, C.OBSERVABLES.index(C.AMYLOID_CL)]
    readings = list(amyloid + np.array(noise))
    expected_stop = next((k for k in range(3) if regimen.stop_rule.decide(readings[: k + 1])), None)
    if expected_stop is None:
        assert run.stopped_day is None
        assert n[-1] == len(regimen.schedule(80, 52 * 7 + 1e-9))
    else:
        assert run.stopped_day == pytest.approx(check_days[expected_stop])
        # doses every 28 d before the check day; the dose due on the check's own week is skipped
        assert n[-1] == n[expected_stop] == int(check_days[expected_stop] // 28) + 1


def test_reset_between_patients_restores_dosing_state():
    """Event-changed dosing state (species) must not leak into the next patient on the same runner."""
    engine = Engine()
    stop = parse_regimen("donanemab_standard")
    days = np.array([1.0, 400.0])
    first = engine.run(PATIENT, stop, days, state=(15.0, 1.2, 2.0))
    assert first.stopped_day is not None  # low amyloid: stopped at week 24
    again = engine.run(PATIENT, Regimen(drug="donanemab", phases=[{"dose": 700, "every_weeks": 4}]), days, state=STATE)
    assert again.stopped_day is None
    assert again.values[-1, C.OBSERVABLES.index(C.N_DOSES)] == len(np.arange(0, 400.0 + 1e-9, 28))
