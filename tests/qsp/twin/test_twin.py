"""Digital twin core: input validation, recovery of known truth, band coverage, updating, CLI."""

import argparse
import io
import json

import numpy as np
import pytest

from qsp import constants as C
from qsp import paths
from qsp.cli import main as cli
from qsp.cli.twin import add_commands
from qsp.engine.parameters import iiv_sd
from qsp.engine.simulate import Engine
from qsp.errors import InvalidInput
from qsp.population.sampling import NATURAL_HISTORY_START
from qsp.twin.fit import TWIN_ETAS, fit_twin
from qsp.twin.forecast import forecast_twin
from qsp.twin.records import FIT_OBSERVABLES, parse_patient, read_patient_csv, replace_visits
from qsp.twin.result import synthetic_patient, twin_result

COV = {C.AGE: 72.0, C.SEX: "F", C.WEIGHT_KG: 68.0, C.APOE4: 1}
HEADER = "patient_id,week,age,sex,weight_kg,apoe4_copies,amyloid_cl,tau_suvr,iadrs,cdrsb,mmse"
GOOD = HEADER + "\nP1,0,72,F,68,1,90,1.25,110,2.5,26\nP1,26,,,,,,,108,3,25\n"


def _csv(text):
    return read_patient_csv(io.StringIO(text))


def _mci_t0(etas, target_cdrsb=2.5):
    """Years from amyloid onset at which a patient with these etas reaches ``target_cdrsb`` (whatever the parameter values)."""
    years = np.arange(0.0, 70.0, 0.25)
    run = Engine().run({**COV, **etas}, None, years * C.DAYS_PER_YEAR, state=NATURAL_HISTORY_START)
    cdrsb = run.values[:, C.OBSERVABLES.index(C.CDRSB)]
    return float(years[int(np.argmax(cdrsb >= target_cdrsb))])


# ------------------------------------------------------------------ input


def test_csv_with_blanks_and_demographics_on_the_first_row_only():
    p = _csv(GOOD)
    assert (p.patient_id, p.sex, p.apoe4_copies, p.last_week) == ("P1", "F", 1, 26.0)
    assert np.isnan(p.visits[C.AMYLOID_CL].iloc[1]) and p.n_observations() == 8


def test_iadrs_is_computed_from_its_components():
    text = HEADER + ",adas_cog13,adcs_iadl\nP1,0,72,F,68,1,90,1.25,,2.5,26,30,50\n"
    assert _csv(text).visits[C.IADRS].iloc[0] == pytest.approx((85 - 30) + 50)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (GOOD.replace("P1,0,72,F", "P1,0,72,X"), r"line 2, sex: must be F or M \(got 'X'\)"),
        (GOOD.replace("1.25", "9.5"), r"line 2, tau_suvr: must be between 0.9 and 4 SUVr"),
        (GOOD.replace(",108,", ",abc,"), r"line 3, iadrs: not a number \(got 'abc'\)"),
        (GOOD.replace("P1,26,", "P1,0,"), r"line 3, week: duplicate week 0 \(also on line 2\)"),
        (GOOD.replace("P1,0,72", "P1,4,72"), r"week: the baseline visit must be week 0"),
        (GOOD.replace("P1,0,72,F,68", "P1,0,,F,68"), r"line 2: required on the first row, blank here: age"),
        (GOOD.replace("P1,26,,", "P2,26,,"), r"line 3, patient_id: differs from the first row .* one patient per file"),
        (GOOD.replace("P1,0,72,F,68,1", "P1,0,72,F,68,3"), r"line 2, apoe4_copies: must be 0, 1 or 2"),
        (GOOD.replace("108,3,25", ",,"), r"line 3: no observation"),
        (GOOD.replace("mmse", "mmse_score"), r"columns: unknown 'mmse_score'.*\n.*columns: missing mmse"),
        (HEADER + ",adas_cog13\nP1,0,72,F,68,1,90,1.25,,2.5,26,30\n", r"adas_cog13: iADRS needs both"),
        ("", r"patient file: empty"),
    ],
)
def test_bad_patient_csv_names_the_line_and_column(text, match):
    with pytest.raises(InvalidInput, match=match):
        _csv(text)


def test_demographics_on_a_later_row_are_one_message_naming_that_row():
    """Issue 14: a CSV whose first row was not the demographics row got four 'required on the first row' errors."""
    text = HEADER + "\nP1,26,,,,,,,108,3,25\nP1,0,72,F,68,1,90,1.25,110,2.5,26\n"
    with pytest.raises(InvalidInput) as err:
        _csv(text)
    assert err.value.problems == ["line 2: the first row must carry the demographics (age, sex, weight_kg, apoe4_copies); "
                                  "line 3 has them: put that visit's row first"]


def test_one_bad_date_is_one_error():
    """Issue 14: one bad date cascaded into an error for every row (no week could be computed)."""
    rows = ["P1,,72,F,68,1,90,1.25,110,2.5,26,2024-01-10", *[f"P1,,,,,,,,{108 - k},{3 + k / 10},25,2024-0{k + 2}-10" for k in range(6)],
            "P1,,,,,,,,100,4,24,2024-13-45"]
    with pytest.raises(InvalidInput) as err:
        _csv(HEADER + ",date\n" + "\n".join(rows) + "\n")
    assert err.value.problems == ["line 9, date: not a date, use YYYY-MM-DD (got '2024-13-45')"]


def test_every_problem_is_reported_not_just_the_first():
    bad = GOOD.replace("P1,0,72,F", "P1,0,300,Q").replace(",108,", ",-5,")
    with pytest.raises(InvalidInput) as info:
        _csv(bad)
    assert len(info.value.problems) == 3


def test_form_input_and_bad_form_fields():
    form = {"patient_id": "F1", **COV, "visits": [{"week": 0, "mmse": 26}]}
    assert parse_patient(form).visits[C.MMSE].iloc[0] == 26
    with pytest.raises(InvalidInput, match=r"patient.height: unknown field"):
        parse_patient({**form, "height": 160})
    with pytest.raises(InvalidInput, match=r"visits\[1\], cdrsb: must be between 0 and 18"):
        parse_patient({**form, "visits": [{"week": 0, "mmse": 26}, {"week": 10, "cdrsb": 30}]})


def test_shipped_examples_are_valid():
    files = sorted(paths.TWIN_EXAMPLES_DIR.glob("*.csv"))
    assert len(files) >= 2
    for path in files:
        assert read_patient_csv(path).n_observations() >= 6


# ------------------------------------------------------------------ fitting


def test_recovers_known_parameters_from_noise_free_visits():
    sd = iiv_sd()
    truth = {"eta_amy_growth": 0.15, "eta_amy_plateau": -0.2, "eta_tau": 0.4, "eta_clin": 0.15, "clin_offset_cdrsb": 1.0}
    t0 = _mci_t0(truth)
    patient, _ = synthetic_patient(COV, truth, t0, np.arange(0, 157, 13.0))
    twin = fit_twin(patient, n_draws=300)
    s = twin.summary().set_index("parameter")
    for eta in TWIN_ETAS:
        err = abs(s.loc[eta, "map"] - truth[eta])
        assert err < 2.5 * s.loc[eta, "sd"] + 0.1 * sd[eta], (eta, s.loc[eta].to_dict(), truth[eta])
        assert s.loc[eta, "p2_5"] - 0.05 * sd[eta] <= truth[eta] <= s.loc[eta, "p97_5"] + 0.05 * sd[eta], eta
    # the visits inform the tau rate and the clinical offset: the posterior is narrower than the prior
    for eta in ("eta_tau", "clin_offset_cdrsb"):
        assert s.loc[eta, "sd"] < 0.7 * sd[eta], (eta, s.loc[eta, "sd"])
    assert abs(s.loc["t0_years", "map"] - t0) < 2.5 * s.loc["t0_years", "sd"] + 1.0
    fc = forecast_twin(twin, horizon_weeks=8)
    fit = fc.fit.dropna(subset=["observed"])
    for obs in FIT_OBSERVABLES:
        part = fit[fit["observable"] == obs]
        assert np.max(np.abs(part["median"] - part["observed"])) < C.MEASUREMENT_SD[obs], obs


def test_predictive_bands_cover_future_observations():
    """Coverage on a small synthetic set drawn from the prior: loose bounds, but a band without
    measurement error or without parameter uncertainty fails them."""
    rng = np.random.default_rng(2024)
    sd = iiv_sd()
    inside80, inside95 = [], []
    for i in range(6):
        etas = {eta: float(rng.normal(0, sd[eta])) for eta in TWIN_ETAS}
        t0 = _mci_t0(etas, target_cdrsb=float(rng.uniform(1.0, 4.0)))
        patient, _ = synthetic_patient(COV, etas, t0, [0, 26, 52, 78, 104], noise_seed=100 + i)
        seen = replace_visits(patient, patient.visits.iloc[:3])
        fc = forecast_twin(fit_twin(seen, n_draws=300, seed=i), horizon_weeks=52, step_weeks=26)
        bands = fc.bands.set_index(["week", "observable"])
        for week in (78.0, 104.0):
            future = patient.visits.set_index("week").loc[week]
            for obs in FIT_OBSERVABLES:
                b = bands.loc[(week, obs)]
                inside80.append(b["p10"] <= future[obs] <= b["p90"])
                inside95.append(b["p2_5"] <= future[obs] <= b["p97_5"])
    assert 0.6 <= np.mean(inside80) <= 0.98, np.mean(inside80)
    assert np.mean(inside95) >= 0.83, np.mean(inside95)


def test_adding_a_visit_narrows_the_bands():
    truth = {"eta_amy_growth": 0.0, "eta_amy_plateau": 0.0, "eta_tau": 0.3, "eta_clin": 0.1, "clin_offset_cdrsb": 0.5}
    patient, _ = synthetic_patient(COV, truth, _mci_t0(truth), [0, 26, 52, 78], noise_seed=7)
    fewer = replace_visits(patient, patient.visits.iloc[:2])
    width = {}
    for name, p in (("two", fewer), ("four", patient)):
        fc = forecast_twin(fit_twin(p, n_draws=300), horizon_weeks=208 - p.last_week, step_weeks=8)
        end = fc.bands[fc.bands["week"] == fc.bands["week"].max()].set_index("observable")
        width[name] = {obs: end.loc[obs, "p90"] - end.loc[obs, "p10"] for obs in (C.TAU_SUVR, C.CDRSB, C.IADRS)}
    assert fc.bands["week"].max() == pytest.approx(208.0)
    assert np.mean([width["four"][o] / width["two"][o] for o in width["two"]]) < 0.95, width
    assert width["four"][C.CDRSB] < width["two"][C.CDRSB]


def test_adding_a_visit_through_with_visit():
    p = _csv(GOOD)
    more = p.with_visit({"week": 52, "cdrsb": 3.5, "mmse": 24})
    assert list(more.visits["week"]) == [0.0, 26.0, 52.0] and more.age == p.age
    with pytest.raises(InvalidInput, match="duplicate week 26"):
        p.with_visit({"week": 26, "cdrsb": 3.5})


def test_forecast_rejects_bad_settings():
    twin = fit_twin(_csv(GOOD), n_draws=100)
    with pytest.raises(InvalidInput, match=r"horizon_weeks: must be > 0 and at most 520"):
        forecast_twin(twin, horizon_weeks=0)
    with pytest.raises(InvalidInput, match=r"regimens.x: unknown regimen name 'nope'"):
        forecast_twin(twin, {"x": "nope"})
    with pytest.raises(InvalidInput, match=r"regimens.untreated: the name 'untreated' is reserved"):
        forecast_twin(twin, {"untreated": "donanemab_standard"})


def test_model_error_widens_bands_with_time_ahead_and_is_validated():
    twin = fit_twin(_csv(GOOD), n_draws=100)
    zero = {obs: 0.0 for obs in FIT_OBSERVABLES}
    plain = forecast_twin(twin, horizon_weeks=104, step_weeks=52, model_error_sd_per_year=zero, seed=3)
    honest = forecast_twin(twin, horizon_weeks=104, step_weeks=52, seed=3)
    assert honest.model_error_sd_per_year[C.CDRSB] > 0
    width = {}
    for name, fc in (("plain", plain), ("honest", honest)):
        b = fc.bands[fc.bands["observable"] == C.TAU_SUVR].sort_values("week")
        width[name] = (b["p97_5"] - b["p2_5"]).to_numpy()
    assert width["honest"][0] == pytest.approx(width["plain"][0], rel=0.05)  # at the last visit: measurement error only
    assert width["honest"][-1] > 1.3 * width["plain"][-1]  # two years ahead: model error dominates
    with pytest.raises(InvalidInput, match=r"model_error_sd_per_year.cdrsb: must be a finite number >= 0 \(got -1\)"):
        forecast_twin(twin, model_error_sd_per_year={C.CDRSB: -1})
    with pytest.raises(InvalidInput, match=r"model_error_sd_per_year.adas: unknown observable"):
        forecast_twin(twin, model_error_sd_per_year={"adas": 1.0})


# ------------------------------------------------------------------ result and CLI


@pytest.fixture
def twin_cli(monkeypatch):
    """``qsp.cli.main`` with the twin command registered (as build_parser will once it calls add_commands)."""
    original = cli.build_parser

    def build():
        parser = original()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        if "twin" not in sub.choices:
            add_commands(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build)
    return cli.main


def test_cli_writes_the_result_json_of_the_issue(tmp_path, twin_cli):
    patient = tmp_path / "patient.csv"
    patient.write_text(GOOD)
    out = tmp_path / "result.json"
    assert twin_cli(["twin", str(patient), "--horizon-weeks", "26", "--regimen", "donanemab_standard", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"patient_id", "stage", "years_since_amyloid_positive", "forecasts", "provenance"}
    assert result["patient_id"] == "P1" and result["stage"] in C.STAGES
    assert set(result["forecasts"]) == {"untreated", "donanemab_standard"}
    untreated, treated = result["forecasts"]["untreated"], result["forecasts"]["donanemab_standard"]
    assert untreated["weeks"][0] == 26 and untreated["weeks"][-1] == 52
    assert set(untreated) == {"weeks", *FIT_OBSERVABLES} and set(treated) == {"weeks", *FIT_OBSERVABLES, C.ARIA_E_RISK}
    band = untreated[C.CDRSB]
    assert set(band) == {"median", "p10", "p90", "p2_5", "p97_5"}
    assert all(a <= b <= c <= d <= e for a, b, c, d, e in zip(band["p2_5"], band["p10"], band["median"], band["p90"], band["p97_5"]))
    assert treated[C.AMYLOID_CL]["median"][-1] < untreated[C.AMYLOID_CL]["median"][-1] - 20
    assert "P1" not in json.dumps(result["provenance"])  # provenance keeps a hash of the data, not the data


def test_cli_bad_input_exits_2_with_one_line_per_problem(tmp_path, twin_cli, capsys):
    patient = tmp_path / "patient.csv"
    patient.write_text(GOOD.replace("P1,0,72,F", "P1,0,72,X").replace(",108,", ",abc,"))
    out = tmp_path / "result.json"
    assert twin_cli(["twin", str(patient), "--horizon-weeks", "0", "--regimen", "nope", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert any(line.startswith("error: --horizon-weeks: must be > 0") for line in err)
    assert any("unknown regimen name 'nope'" in line for line in err)
    assert any("patient.csv: line 2, sex: must be F or M" in line for line in err)
    assert any("patient.csv: line 3, iadrs: not a number" in line for line in err)
    assert not out.exists()


def test_result_provenance_hashes_the_patient():
    p = _csv(GOOD)
    twin = fit_twin(p, n_draws=100)
    r1 = twin_result(twin, forecast_twin(twin, horizon_weeks=8))
    twin2 = fit_twin(p.with_visit({"week": 52, "cdrsb": 3.5}), n_draws=100)
    r2 = twin_result(twin2, forecast_twin(twin2, horizon_weeks=8))
    assert r1["provenance"]["patient_sha256"] != r2["provenance"]["patient_sha256"]
    assert r1["provenance"]["kind"] == "twin"


def test_visit_dates_stand_in_for_weeks():
    from qsp.twin.records import read_patient_csv

    text = ("patient_id,date,age,sex,weight_kg,apoe4_copies,amyloid_cl,tau_suvr,iadrs,cdrsb,mmse\n"
            "D1,2024-03-01,72,F,65,1,85,1.25,,2.5,26\n"
            "D1,2024-08-30,,,,,,,,3.0,25\n")
    record = read_patient_csv(io.StringIO(text))
    assert list(record.visits["week"]) == [0.0, 26.0]
    bad = text.replace("2024-08-30", "30/08/2024")
    with pytest.raises(InvalidInput, match="date: not a date, use YYYY-MM-DD"):
        read_patient_csv(io.StringIO(bad))


def test_many_twins_fit_identically_serially_and_on_a_local_dask_cluster(dask_cluster):
    from qsp.twin.result import twins_for_many

    patients = [read_patient_csv(paths.TWIN_EXAMPLES_DIR / name) for name in ("ex-mci-001.csv", "ex-mild-003.csv")]
    serial = twins_for_many(patients, horizon_weeks=26)
    dask = twins_for_many(patients, horizon_weeks=26, executor=dask_cluster)
    assert [r["forecasts"] for r in serial] == [r["forecasts"] for r in dask]
    assert [r["patient_id"] for r in dask] == [p.patient_id for p in patients]
