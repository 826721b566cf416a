"""Stratification page: train from the page, see the audits, score a CSV, send an enrichment."""

from streamlit.testing.v1 import AppTest

from qsp import paths
from tests.pages import table_with_column


def test_train_score_and_send_enrichment():
    at = AppTest.from_file(str(paths.ROOT / "pages/stratification.py"), default_timeout=300).run()
    at.number_input(key="strat_n").set_value(200)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = table_with_column(at.dataframe, "AUC (held-out)")
    assert set(metrics["model"]) == {"progression", "responder", "aria"}
    assert metrics["AUC with shuffled labels"].between(0.3, 0.7).all()
    at.button(key="strat_send").click().run()
    assert at.session_state["designer_enrichment"]["rule"] == "responder>0.5"
    assert any("Trial designer will enrol" in s.value for s in at.success)
