"""Trial designer page: run a trial by widget keys; numbers equal the core's; scenarios save and load."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.trial.run import run_trial
from qsp.trial.scenario import parse_scenario
from tests.pages import table_with_column


def _page(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'designer.sqlite'}")
    at = AppTest.from_file(str(paths.ROOT / "pages/trial_designer.py"), default_timeout=300).run()
    at.number_input(key="designer_n_per_arm").set_value(30)
    at.number_input(key="designer_n_arms").set_value(3)
    at.text_input(key="designer_weeks").set_value("24, 52")
    at.number_input(key="designer_duration").set_value(52).run()
    return at


def test_three_arm_trial_shows_the_cores_numbers(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    assert at.multiselect(key="designer_tau").options == ["Very low", "Low/medium", "High"]  # labels, not ids
    assert "Mild dementia" in at.multiselect(key="designer_stage").options and "mci" not in at.multiselect(key="designer_stage").options
    assert not at.error, [e.value for e in at.error]
    at.button(key="designer_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = table_with_column(at.dataframe, "iADRS change")
    assert list(table["arm"]) == ["placebo", "donanemab standard", "donanemab modified titration"]
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Download scenario (YAML)" in labels and any(label.startswith("Results (JSON") for label in labels)
    # the same scenario through the core gives the same endpoints
    scenario = parse_scenario({
        "name": "my trial", "seed": 1, "n_per_arm": 30, "duration_weeks": 52, "assess_weeks": [24, 52],
        "measurement_noise": True, "dropout_pct_per_year": 10.0,
        "population": {"amyloid_cl": [37.0, None], "tau": ["low_medium", "high"], "mmse": [20, 28], "age": [60, 85],
                       "apoe4_copies": [0, 1, 2], "stage": ["mci", "mild_dementia"]},
        "arms": [{"name": "placebo"}, {"name": "donanemab standard", "regimen": "donanemab_standard"},
                 {"name": "donanemab modified titration", "regimen": "donanemab_modified_titration"}],
    })
    core = run_trial(scenario).to_json()
    for _, row in table.iterrows():
        arm = core["arms"][row["arm"]]
        assert round(arm["iadrs_change"][-1], 2) == row["iADRS change"]
        assert round(arm["aria_e_pct"][-1], 2) == row["ARIA-E %"]
    power = table_with_column(at.dataframe, "comparison")
    assert len(power) == 2 and power["power"].between(0, 1).all()


def test_bad_design_is_reported_and_nothing_runs(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    at.text_input(key="designer_weeks").set_value("24, 80").run()
    assert not at.exception
    assert any("assess_weeks" in e.value and "after duration_weeks" in e.value for e in at.error)
    at.text_input(key="designer_weeks").set_value("soon").run()
    assert any("write weeks as numbers" in e.value for e in at.error)


def test_save_and_load_scenario_through_the_database(tmp_path, monkeypatch):
    at = _page(tmp_path, monkeypatch)
    at.text_input(key="designer_name").set_value("saved design").run()
    at.button(key="designer_save").click().run()
    from qsp.store.database import ScenarioStore

    store = ScenarioStore(f"sqlite:///{tmp_path / 'designer.sqlite'}")
    assert store.names() == ["saved design"]
    saved = store.load("saved design")
    assert saved.n_per_arm == 30 and saved.assess_weeks == (24.0, 52.0)
    # change the form, then load the saved scenario back
    at.number_input(key="designer_n_per_arm").set_value(99).run()
    at.selectbox(key="designer_saved").set_value("saved design").run()
    at.button(key="designer_load_db").click().run()
    assert at.number_input(key="designer_n_per_arm").value == 30


def test_unreachable_scheduler_is_reported_not_a_hang(tmp_path, monkeypatch):
    from qsp.trial import design

    chosen = design.executor_settings  # the page's settings, with a 2-second connect timeout instead of 10
    monkeypatch.setattr(design, "executor_settings", lambda *a: chosen(*a).model_copy(update={"connect_timeout_s": 2.0}))
    at = _page(tmp_path, monkeypatch)
    at.radio(key="designer_backend").set_value("Dask scheduler").run()  # enables the address field
    at.text_input(key="designer_scheduler").set_value("tcp://127.0.0.1:9").run()
    at.button(key="designer_run").click().run()
    assert not at.exception
    assert any("cannot reach a Dask scheduler" in e.value for e in at.error)



def test_with_sign_in_scenarios_belong_to_the_signed_in_user(tmp_path, monkeypatch):
    from pages import _auth
    from qsp.store.database import ScenarioStore

    url = f"sqlite:///{tmp_path / 'designer.sqlite'}"
    monkeypatch.setattr(_auth, "sign_in_enabled", lambda: True)  # the identity is mocked: no identity provider here
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: "alice@example.org")
    at = _page(tmp_path, monkeypatch)
    at.text_input(key="designer_name").set_value("alice design").run()
    at.button(key="designer_save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert ScenarioStore(url, owner="alice@example.org").names() == ["alice design"] and ScenarioStore(url).names() == []
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: "bob@example.org")
    bob = _page(tmp_path, monkeypatch)
    assert bob.selectbox(key="designer_saved").options == []  # alice's scenario is not listed for bob
    monkeypatch.setattr(_auth, "signed_in_identity", lambda: None)
    nobody = _page(tmp_path, monkeypatch)
    assert nobody.button(key="designer_save").disabled and any("Sign in to save" in i.value for i in nobody.info)


def test_without_sign_in_the_designer_says_saved_scenarios_are_shared(tmp_path, monkeypatch):
    from pages import _auth

    at = _page(tmp_path, monkeypatch)
    assert any(_auth.SHARED_NOTICE in c.value for c in at.caption)
