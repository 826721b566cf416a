"""Stratification page: train from the page, see the audits, score a CSV, send an enrichment."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from tests.pages import table_with_column


def test_train_score_and_send_enrichment():
    at = AppTest.from_file(str(paths.ROOT / "pages/stratification.py"), default_timeout=300).run()
    at.number_input(key="strat_n").set_value(300)
    at.number_input(key="strat_seed").set_value(3)  # a cohort whose responder model passes its audit (tests/ml)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = table_with_column(at.dataframe, "AUC (held-out)")
    assert set(metrics["model"]) == {"progression", "responder", "aria"}
    assert metrics["AUC with shuffled labels"].between(0.3, 0.7).all()
    assert set(metrics["outcome"]) == {"fast progressor", "responder", "ARIA-E event"}  # names, not column ids
    audit = table_with_column(at.dataframe, "observed rate")
    assert list(audit.loc[audit["group"] == "age", "level"]) == [lv for lv in ["<65", "65-74", ">=75"] if lv in set(audit["level"])]
    assert {"sex", "age", "APOE4 copies"} == set(audit["group"])
    at.button(key="strat_send").click().run()
    assert at.session_state["designer_enrichment"]["rule"] == "responder>0.5"
    assert any("Trial designer will enrol" in s.value for s in at.success)


def test_a_model_no_better_than_its_shuffled_twin_fails_visibly_and_is_not_sent(monkeypatch):
    """Issue 14: the ARIA-E model (AUC 0.38, shuffled 0.53) was reported as "shuffle check passed" and fed the twin."""
    import ml.stratify

    real = ml.stratify.train_task

    def worse_than_chance(cohort, task, seed=1):
        model = real(cohort, task, seed)
        if task in ("aria", "responder"):
            model.metrics.update(auc=0.38, auc_shuffled=0.53)
        return model

    monkeypatch.setattr(ml.stratify, "train_task", worse_than_chance)
    at = AppTest.from_file(str(paths.ROOT / "pages/stratification.py"), default_timeout=300).run()
    at.number_input(key="strat_n").set_value(100)
    at.number_input(key="strat_seed").set_value(7)  # a cohort no other test caches
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = table_with_column(at.dataframe, "audit").set_index("model")
    assert metrics.loc["aria", "audit"] == "FAILED (not used)" and "shuffle check" not in metrics
    assert any("ARIA-E model: audit FAILED" in e.value for e in at.error)  # the model's name, not its id
    assert set(at.session_state["strat_models"]) <= {"progression"}  # what the twin reads
    at.button(key="strat_send").click().run()  # the default rule is responder>0.5
    assert "designer_enrichment" not in at.session_state
    assert any("the responder model failed its audit" in e.value for e in at.error)


def test_the_page_shows_trained_models_on_arrival_without_a_button_press():
    """Issue 14: Stratification was empty until a 30-second button press."""
    at = AppTest.from_file(str(paths.ROOT / "pages/stratification.py"), default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = table_with_column(at.dataframe, "AUC (held-out)")
    assert set(metrics["model"]) == {"progression", "responder", "aria"}
    assert not any("Press" in i.value for i in at.info)
