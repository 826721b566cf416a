"""Digital twin page: renders an example, shows the core's stage, refits when a visit is added."""

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.population.outcomes import BENEFIT_COLUMN, DELAY_COLUMN
from qsp.store.twins import TwinStore
from qsp.twin.records import FIT_OBSERVABLES, read_patient_csv
from tests.pages import table_with_column


def last_value(values) -> float:
    """The last number of a Plotly JSON array (a list, or a typed array: base64 of little-endian float64)."""
    if isinstance(values, dict):
        return float(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])[-1])
    return float(values[-1])


def _run():
    at = AppTest.from_file(str(paths.ROOT / "pages/twin.py"), default_timeout=240)
    at.session_state["twin_regimens"] = ["donanemab_standard"]
    at.session_state["twin_horizon"] = 52
    return at.run()


def test_example_patient_shows_stage_forecasts_and_events():
    at = _run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Research use only" in c.value for c in at.caption)
    labels = {m.label: m.value for m in at.metric}
    assert labels["Stage at the last visit"] in {"Preclinical", "MCI", "Mild dementia", "Moderate dementia", "Severe dementia"}
    events = table_with_column(at.dataframe, "90th percentile")
    readable = {"Untreated", "Donanemab 700 mg IV q4w x3, then 1400 mg q4w; stop when cleared"}
    assert set(events["regimen"]) == readable  # labels, not ids such as donanemab_standard
    assert set(table_with_column(at.dataframe, "median %")["regimen"]) == readable - {"Untreated"}
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert {t["name"] for t in chart["data"] if t.get("showlegend", True)} >= readable | {"80% band (shaded or hatched)", "95% limits (dotted, smoothed)"}


def test_headline_is_the_cdrsb_forecast_with_its_band():
    at = _run()
    headline = [m.value for m in at.markdown if "CDR-SB at" in m.value]
    assert len(headline) == 1
    # a value with its band, never a bare band width that reads like a score
    assert re.fullmatch(r"#### Untreated, CDR-SB at 1 year: \d+\.\d \(80% band \d+\.\d-\d+\.\d\)", headline[0]), headline
    assert not any("80% band of CDR-SB" in m.label for m in at.metric)


def test_benefit_at_18_months_summary_download_and_what_differs_from_the_explorer():
    at = AppTest.from_file(str(paths.ROOT / "pages/twin.py"), default_timeout=240)
    at.session_state["twin_regimens"] = ["lecanemab_q2w"]
    at.session_state["twin_horizon"] = 104
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    benefit = table_with_column(at.dataframe, DELAY_COLUMN)
    assert benefit["regimen"].tolist() == ["Lecanemab 10 mg/kg IV every 2 weeks"]
    assert any(h.value == "Benefit over untreated at 18 months" for h in at.subheader)
    assert re.fullmatch(r"-?\d+\.\d\d \(-?\d+\.\d\d to -?\d+\.\d\d\)", benefit[BENEFIT_COLUMN].iloc[0])
    note = next(e for e in at.expander if "explorer and the twin" in e.label).markdown[0].value
    assert "same computation" in note and "random effects" in note and "conditions on the patient's visits" in note
    assert any(b.proto.label == "Download patient summary (HTML)" for b in at.get("download_button"))


def test_aria_is_charted_in_the_tables_unit():
    at = _run()
    at.selectbox(key="twin_observable").set_value("aria_e_risk").run()
    assert not at.exception
    assert at.selectbox(key="twin_observable").format_func("aria_e_risk") == "Cumulative ARIA-E risk (%)"
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    label = "Donanemab 700 mg IV q4w x3, then 1400 mg q4w; stop when cleared"
    line = next(t for t in chart["data"] if t.get("name") == label)
    shown = table_with_column(at.dataframe, "median %").set_index("regimen").loc[label, "median %"]
    assert round(last_value(line["y"]), 1) == shown and "%" in chart["layout"]["yaxis"]["title"]["text"]


def test_choosing_another_example_and_an_observable():
    at = _run()
    at.selectbox(key="twin_example").set_value("ex-mild-003").run()
    assert not at.exception
    assert at.metric[0].value == "EX-MILD-003"
    at.selectbox(key="twin_observable").set_value("aria_e_risk").run()
    assert not at.exception


# ------------------------------------------------------------------ ML strata beside the twin


@pytest.fixture(scope="module")
def strat_models():
    """Small models as the Stratification page keeps them in st.session_state["strat_models"]."""
    from ml.cohort import CohortSettings, simulate_cohort
    from ml.models import train_task

    cohort = simulate_cohort(CohortSettings(n=300, seed=3))  # large enough for both models to pass their audit
    models = {task: train_task(cohort, task, seed=3) for task in ("progression", "responder", "aria")}
    assert models["progression"].metrics["audit_passed"] and models["responder"].metrics["audit_passed"]
    return models


def test_ml_strata_shown_equal_the_models_predictions(strat_models):
    at = AppTest.from_file(str(paths.ROOT / "pages/twin.py"), default_timeout=240)
    at.session_state["twin_regimens"] = []
    at.session_state["twin_horizon"] = 52
    at.session_state["strat_models"] = strat_models
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = table_with_column(at.dataframe, "probability").set_index("outcome")["probability"]
    # expected from the example's last visit (week 52), built here independently of the page
    patient = read_patient_csv(paths.TWIN_EXAMPLES_DIR / "ex-mci-001.csv")
    last = patient.visits.iloc[-1]
    frame = pd.DataFrame([{"age": patient.age + 52 / (365.25 / 7), "is_female": 1, "weight_kg": patient.weight_kg,
                           "apoe4_copies": patient.apoe4_copies, **{o: last[o] for o in FIT_OBSERVABLES}}])
    for task in ("progression", "responder"):
        model = strat_models[task]
        assert shown[model.label] == pytest.approx(round(float(model.predict(frame)[0]), 3), abs=1e-9)
    assert "aria_e_event" not in shown.index  # ARIA-E needs simulated exposure, not shown beside the twin


def test_ml_strata_get_intervals_when_an_ensemble_exists(strat_models):
    at = AppTest.from_file(str(paths.ROOT / "pages/twin.py"), default_timeout=240)
    at.session_state["twin_regimens"] = []
    at.session_state["twin_horizon"] = 52
    at.session_state["strat_models"] = strat_models
    m = strat_models["progression"]
    low, high = strat_models["responder"].model, m.model  # two different members: a non-zero spread
    at.session_state["strat_ensemble"] = {"progression": ([[low, high], [high, low]], m.features)}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    row = table_with_column(at.dataframe, "probability").set_index("outcome").loc[m.label]
    assert row["p10"] < row["p90"]


def test_without_models_the_page_says_where_to_train():
    at = _run()
    assert any("Stratification" in i.value for i in at.info)


# ------------------------------------------------------------------ saved twins


def test_save_list_load_delete_a_twin(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'twins.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    at = _run()
    assert TwinStore(url).list().empty  # nothing written before saving
    at.button(key="twin_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = TwinStore(url).list()
    assert len(saved) == 1
    twin_id = saved["twin_id"].iloc[0]
    assert any(twin_id in s.value for s in at.success)
    at.radio(key="twin_source").set_value("Saved twin").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[0].value == twin_id  # the loaded twin carries only its pseudonym
    at.button(key="twin_delete").click().run()
    assert not at.exception
    assert TwinStore(url).list().empty
    assert any("No saved twins yet" in i.value for i in at.info)


def test_with_sign_in_a_saved_twin_is_seen_by_its_owner_only(tmp_path, monkeypatch):
    from pages import _auth

    url = f"sqlite:///{tmp_path / 'twins.sqlite'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(_auth, "sign_in_enabled", lambda: True)  # no identity provider here: the identity is mocked
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: "alice@example.org")
    at = _run()
    assert any("visible to you only" in c.value for c in at.caption)
    at.button(key="twin_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(TwinStore(url, owner="alice@example.org").list()) == 1 and TwinStore(url).list().empty
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: "bob@example.org")
    bob = _run()
    bob.radio(key="twin_source").set_value("Saved twin").run()
    assert any("No saved twins yet" in i.value for i in bob.info)  # alice's twin does not exist for bob
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: None)
    nobody = _run()
    assert not [b for b in nobody.button if b.key == "twin_save"]  # signed out: no saving
    assert any("Sign in to save" in i.value for i in nobody.info)


def test_without_sign_in_the_save_dialog_says_everything_is_shared(tmp_path, monkeypatch):
    from pages import _auth

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'twins.sqlite'}")
    at = _run()
    assert not _auth.sign_in_enabled()
    assert any(_auth.SHARED_NOTICE in c.value for c in at.caption)
