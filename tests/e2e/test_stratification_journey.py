"""Browser journey: train on the Stratification page, upload a patient CSV, see strata, send an enrichment
to the trial designer and run an enriched trial."""

from __future__ import annotations

import re

from qsp import paths
from tests.e2e.conftest import assert_no_exception, click_button, screenshot, set_number, wait_for_app, wait_for_charts

TRAIN_TIMEOUT_MS = 180_000
TRIAL_TIMEOUT_MS = 180_000


def _go(page, app_url: str, title: str, path: str) -> None:
    page.goto(app_url)
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).click()
    page.wait_for_url(re.compile(rf"/{path}$"))
    wait_for_app(page)


def test_train_upload_score_and_enrich(page, app_url):
    _go(page, app_url, "Stratification", "stratification")
    set_number(page, "strat_n", 300)
    set_number(page, "strat_seed", 3)  # a cohort whose responder model passes its audit (tests/ml)
    page.get_by_role("button", name="Simulate cohort and train").click()
    wait_for_app(page, timeout_ms=TRAIN_TIMEOUT_MS)
    assert_no_exception(page)
    page.get_by_text("Validation", exact=True).wait_for(state="visible")
    assert wait_for_charts(page, 2) >= 2  # ROC, PR, calibration, importance
    screenshot(page, "strat_01_trained")

    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(paths.DATA_DIR / "example_patients.csv"))
    wait_for_app(page, timeout_ms=TRAIN_TIMEOUT_MS)
    assert_no_exception(page)
    page.get_by_text("Score your patients", exact=True).wait_for(state="visible")
    page.locator('[data-testid="stDataFrame"]').filter(has_text="probability").first.wait_for(state="visible")
    screenshot(page, "strat_02_scored")

    click_button(page, "strat_send")
    page.get_by_text("Trial designer will enrol only patients with responder>0.5").wait_for(state="visible")
    screenshot(page, "strat_03_sent")

    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Trial designer").click()
    page.wait_for_url(re.compile(r"/trial_designer$"))
    wait_for_app(page)
    assert page.get_by_text("Enrol only patients with responder>0.5").count() >= 1
    set_number(page, "designer_n_per_arm", 20)
    set_number(page, "designer_n_arms", 2)
    click_button(page, "designer_run", timeout_ms=TRIAL_TIMEOUT_MS)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"Enriched enrolment: \d+ patients screened for 40 enrolled")).wait_for(state="visible")
    page.get_by_text("Enrichment against all-comers enrolment", exact=True).wait_for(state="visible", timeout=TRIAL_TIMEOUT_MS)
    screenshot(page, "strat_04_enriched_trial")
