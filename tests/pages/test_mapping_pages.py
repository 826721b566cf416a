"""Observable mapping in the pages: map an uploaded model in the lab, then run it in the other views."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from qsp.engine.model import Model
from qsp.engine.observables import parse_mapping
from qsp.lab.adapt import adapt_model
from qsp.trial.run import run_trial
from qsp.trial.scenario import parse_scenario
from tests.pages import table_with_column

EXAMPLES = paths.ROOT / "models_sbml" / "examples"
MINI_ANT = (EXAMPLES / "mini_ad.ant").read_text(encoding="utf-8")
MINI_SBML = (EXAMPLES / "mini_ad.xml").read_text(encoding="utf-8")
MAPPING = {"observables": {"amyloid_cl": {"id": "Abeta"}, "tau_suvr": {"id": "Tau"}, "cdrsb": {"id": "Sev"}},
           "dose_target": {"id": "Drug"}, "time_unit": "week"}


def test_lab_maps_a_model_and_hands_it_to_the_dashboard(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    at = AppTest.from_file(str(paths.ROOT / "pages" / "model_lab.py"), default_timeout=120).run()
    at.text_area(key="lab_antimony").set_value(MINI_ANT).run()
    assert not at.exception, [e.value for e in at.exception]
    use = at.button(key="lab_map_use")
    assert use.disabled  # nothing mapped yet: a patient's state cannot be set
    caps = table_with_column(at.dataframe, "dashboard use")
    assert caps["status"].str.startswith("unavailable").all()
    form = next(k for k in at.session_state if str(k).startswith("lab_map_") and str(k).endswith("_amyloid_cl"))
    prefix = form.removesuffix("_amyloid_cl")
    at.selectbox(key=f"{prefix}_amyloid_cl").set_value("Abeta")
    at.selectbox(key=f"{prefix}_tau_suvr").set_value("Tau")
    at.selectbox(key=f"{prefix}_cdrsb").set_value("Sev")
    at.selectbox(key=f"{prefix}_dose").set_value("Drug")
    at.selectbox(key=f"{prefix}_unit").set_value("week")
    at.selectbox(key=f"{prefix}_weight_kg").set_value("BW")
    at.button(key="FormSubmitter:lab_mapping_form-Check mapping").click().run()
    assert not at.exception, [e.value for e in at.exception]
    caps = table_with_column(at.dataframe, "dashboard use").set_index("dashboard use")["status"]
    assert caps["treatment arms (a dose target)"] == "ready"
    assert caps["ARIA-E risk"].startswith("unavailable")
    at.button(key="lab_map_use").click().run()
    active = at.session_state["active_model"]
    assert active["mapping"]["observables"]["amyloid_cl"]["id"] == "Abeta" and active["mapping"]["time_unit"] == "week"
    assert active["mapping"]["covariates"] == {"weight_kg": "BW"}
    assert any("now run this model with this mapping" in s.value for s in at.success)
    at.selectbox(key=f"{prefix}_cdrsb").set_value("(not mapped)")
    at.button(key="FormSubmitter:lab_mapping_form-Check mapping").click().run()
    assert not any("now run this model" in s.value for s in at.success)  # another mapping on screen than the one in use


def test_bad_mapping_is_reported_in_the_lab(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    at = AppTest.from_file(str(paths.ROOT / "pages" / "model_lab.py"), default_timeout=120).run()
    at.text_area(key="lab_antimony").set_value(MINI_ANT).run()
    prefix = next(k for k in at.session_state if str(k).endswith("_amyloid_cl")).removesuffix("_amyloid_cl")
    at.selectbox(key=f"{prefix}_amyloid_cl").set_value("conc")  # an assignment-rule variable cannot hold a state
    at.button(key="FormSubmitter:lab_mapping_form-Check mapping").click().run()
    assert not at.exception
    assert any("a state observable must map to a species (or a parameter with a rate rule)" in e.value for e in at.error)
    assert at.button(key="lab_map_use").disabled


def test_trial_designer_runs_the_mapped_model_with_the_cores_numbers(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'designer.sqlite'}")
    at = AppTest.from_file(str(paths.ROOT / "pages/trial_designer.py"), default_timeout=300)
    at.session_state["active_model"] = {"name": "mini", "sbml": MINI_SBML, "mapping": MAPPING}
    at.run()
    assert any("Model: mini" in m.value for m in at.markdown)
    assert any("Unavailable in this model" in c.value and "iADRS" in c.value for c in at.caption)
    at.number_input(key="designer_n_per_arm").set_value(20)
    at.number_input(key="designer_n_arms").set_value(2)
    at.text_input(key="designer_weeks").set_value("24, 52")
    at.number_input(key="designer_duration").set_value(52).run()
    # endpoints and criteria the model does not provide are not offered
    assert at.selectbox(key="designer_endpoint").options == ["CDR-SB (points)", "Amyloid PET (CL)"]
    assert at.slider(key="designer_mmse").disabled
    at.button(key="designer_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    table = table_with_column(at.dataframe, "amyloid change (CL)")
    assert "iADRS change" not in table and "baseline mmse" not in table  # not provided by the model: not shown
    assert not any(c.startswith("ARIA-E % APOE4") for c in table)  # APOE4 is not mapped: no groups to tell apart
    charts = {c.key.removeprefix("designer_chart_") for c in at.get("plotly_chart") if c.key.startswith("designer_chart_")}
    assert charts == {"amyloid_cl_change", "amyloid_cleared_pct", "tau_suvr_change", "cdrsb_change"}  # no empty iADRS chart
    scenario = parse_scenario({
        "name": "my trial", "seed": 1, "n_per_arm": 20, "duration_weeks": 52, "assess_weeks": [24, 52],
        "measurement_noise": True, "dropout_pct_per_year": 10.0,
        "population": {"amyloid_cl": [37.0, None], "tau": ["low_medium", "high"], "age": [60, 85],
                       "apoe4_copies": [0, 1, 2], "stage": ["mci", "mild_dementia"]},
        "arms": [{"name": "placebo"}, {"name": "donanemab standard", "regimen": "donanemab_standard"}],
    })
    core = run_trial(scenario, model=adapt_model(Model(MINI_SBML, name="mini"), parse_mapping(MAPPING))).to_json()
    for _, row in table.iterrows():
        assert round(core["arms"][row["arm"]]["amyloid_cl_change"][-1], 2) == row["amyloid change (CL)"]


def _with_model(page: str) -> AppTest:
    at = AppTest.from_file(str(paths.ROOT / "pages" / page), default_timeout=300)
    at.session_state["active_model"] = {"name": "mini", "sbml": MINI_SBML, "mapping": MAPPING}
    return at


def test_explorer_runs_the_mapped_model_from_cdrsb():
    from qsp.population.profile import project_profile

    at = _with_model("explorer.py").run()
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="explorer_score_kind_mapped").options == ["CDR-SB"]  # the cross-walks are the built-in model's
    at.number_input(key="explorer_score_mapped").set_value(2.0)
    at.multiselect(key="explorer_regimens").set_value(["lecanemab_q2w"])
    at.slider(key="explorer_draws").set_value(10)
    at.slider(key="explorer_years").set_value(3)
    at.button(key="FormSubmitter:explorer_form-Project").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "MMSE (points)" not in at.selectbox(key="explorer_observable").options
    core = project_profile({"age": 72.0, "sex": "F", "weight_kg": 70.0, "apoe4_copies": 1, "amyloid_cl": 90.0, "tau_suvr": 1.3,
                            "cdrsb": 2.0}, {"lecanemab_q2w": "lecanemab_q2w"}, years=3.0, n_draws=10,
                           model=adapt_model(Model(MINI_SBML, name="mini"), parse_mapping(MAPPING)))
    assert at.metric[0].value == {"mci": "MCI", "mild_dementia": "Mild dementia"}[core.stage]


def test_twin_page_fits_on_the_mapped_model():
    at = _with_model("twin.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Model: mini" in m.value for m in at.markdown)
    assert "MMSE (points)" not in at.selectbox(key="twin_observable").options
    stage = next(m for m in at.metric if m.label == "Stage at the last visit")
    assert stage.value in ("Preclinical", "MCI", "Mild dementia", "Moderate dementia", "Severe dementia")
