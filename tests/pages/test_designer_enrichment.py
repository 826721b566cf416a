"""Trial designer with an enrichment from the Stratification page: enriched run beside its all-comers twin."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from tests.pages import table_with_column


class CarriersOnly:
    """A stand-in 'responder' model: probability 1 for APOE4 carriers, 0 otherwise."""

    label = "responder"

    def predict(self, frame):
        return (frame["apoe4_copies"] > 0).to_numpy(dtype=float)


def test_enriched_trial_shows_screening_and_the_all_comers_comparison(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'designer.sqlite'}")
    at = AppTest.from_file(str(paths.ROOT / "pages/trial_designer.py"), default_timeout=300)
    at.session_state["designer_enrichment"] = {"rule": "responder>0.5", "models": {"responder": CarriersOnly()}}
    at.run()
    at.number_input(key="designer_n_per_arm").set_value(20)
    at.number_input(key="designer_n_arms").set_value(2)
    at.text_input(key="designer_weeks").set_value("24, 52")
    at.number_input(key="designer_duration").set_value(52).run()
    assert at.checkbox(key="designer_apply_enrichment").value
    at.button(key="designer_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Enriched enrolment" in i.value and "screened for 40 enrolled" in i.value for i in at.info)
    both = table_with_column(at.dataframe, "power (enriched)")
    assert list(both["comparison"]) == ["donanemab standard vs placebo"]
    assert {"power (all comers)", "screened per enrolled"} <= set(both.columns)
    assert both["screened per enrolled"].iloc[0] > 1  # non-carriers were screened out
    # unticking the enrichment shows the all-comers trial that already ran (no second run needed)
    at.checkbox(key="designer_apply_enrichment").uncheck().run()
    assert at.button(key="designer_run").disabled
    assert not any("Enriched enrolment" in i.value for i in at.info)
