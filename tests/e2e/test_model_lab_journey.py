"""Model lab journey in a real browser: upload a corpus model, read the report, simulate, global sensitivity,
map its observables and run it in the trial designer.

Screenshots go to tests/e2e/screenshots/ with names starting ``model_lab_``. The corpus is looked up at
$SBML_CORPUS, ../shared/sbml-corpus beside the checkout, or /work/shared/sbml-corpus; the test is skipped
(saying where it looked) when none exists.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    REPO_ROOT,
    assert_no_exception,
    choose_option,
    click_button,
    screenshot,
    set_number,
    wait_for_app,
    widget,
)
from tests.e2e.test_journeys import dataframe_with_column

CORPUS_MODEL = "models/bsim_BIOMD0000000012.xml"  # Elowitz repressilator: small, simulates, 9 assignment rules
GSA_TIMEOUT_MS = 60_000  # a few hundred evaluations of a small model; seconds when the machine is idle
CHECK_TIMEOUT_MS = 90_000  # sandboxed check of an uploaded model
TRIAL_TIMEOUT_MS = 180_000  # 2 arms x 20 patients of a small model; seconds when the machine is idle


def corpus_dir() -> Path | None:
    """The SBML corpus, from $SBML_CORPUS, beside the checkout, or the shared folder."""
    candidates = [os.environ.get("SBML_CORPUS"), REPO_ROOT.parent / "shared" / "sbml-corpus", "/work/shared/sbml-corpus"]
    for candidate in candidates:
        if candidate and (Path(candidate) / CORPUS_MODEL).is_file():
            return Path(candidate)
    return None


def open_model_lab(page, app_url: str) -> None:
    """From the app's root, follow the sidebar link to the Model lab, as a user does."""
    page.goto(app_url)
    wait_for_app(page)
    assert_no_exception(page)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Model lab").click()
    page.wait_for_url(re.compile(r"/model_lab$"))
    wait_for_app(page)
    assert page.locator("h1").filter(has_text="Model lab").count() == 1


def open_tab(page, title: str) -> None:
    page.get_by_role("tab", name=title).click()
    page.wait_for_timeout(300)


def assert_no_error(page) -> None:
    errors = page.locator('[data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.all_inner_texts()


def chart_in(page, key: str):
    """The drawn Plotly plot of the st.plotly_chart with this key."""
    plot = widget(page, key).locator(".js-plotly-plot .main-svg").first
    plot.wait_for(state="visible", timeout=GSA_TIMEOUT_MS)
    return plot


def test_upload_check_simulate_and_global_sensitivity(page, app_url):
    corpus = corpus_dir()
    if corpus is None:
        pytest.skip(f"SBML corpus not found ($SBML_CORPUS, {REPO_ROOT.parent / 'shared' / 'sbml-corpus'}, /work/shared/sbml-corpus)")
    open_model_lab(page, app_url)
    screenshot(page, "model_lab_01_open")

    widget(page, "lab_source").get_by_text("Upload SBML").click()
    wait_for_app(page)
    widget(page, "lab_upload").locator('input[type="file"]').set_input_files(str(corpus / CORPUS_MODEL))
    wait_for_app(page, timeout_ms=CHECK_TIMEOUT_MS)
    assert_no_exception(page)
    report = page.locator('[data-testid="stMarkdown"]').filter(has_text="Verdict:")
    assert "simulatable" in report.inner_text()
    assert page.locator("h3").filter(has_text="Validation report").count() == 1
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2  # component counts and the issue list
    screenshot(page, "model_lab_02_report")

    # Simulate tab is open first: the time course of the uploaded model is drawn
    chart_in(page, "lab_chart")
    screenshot(page, "model_lab_03_simulate")

    open_tab(page, "Global sensitivity")
    widget(page, "lab_gsa_method").get_by_text("Morris").click()
    wait_for_app(page)
    set_number(page, "lab_gsa_budget", 120)
    click_button(page, "lab_gsa_run", timeout_ms=GSA_TIMEOUT_MS)
    assert_no_exception(page)
    open_tab(page, "Global sensitivity")
    screenshot(page, "model_lab_04_morris")
    assert_no_error(page)
    chart_in(page, "lab_gsa_chart")
    caption = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="evaluations in")
    assert re.search(r"Morris of \S+ at time \S+: \d+ evaluations in", caption.inner_text())
    screenshot(page, "model_lab_04_morris")

    widget(page, "lab_gsa_method").get_by_text("Sobol").click()
    wait_for_app(page)
    click_button(page, "lab_gsa_run", timeout_ms=GSA_TIMEOUT_MS)
    assert_no_exception(page)
    open_tab(page, "Global sensitivity")
    chart_in(page, "lab_gsa_chart")
    assert "Sobol of" in page.locator('[data-testid="stCaptionContainer"]').filter(has_text="evaluations in").inner_text()
    screenshot(page, "model_lab_05_sobol")

    # map the model's proteins to the dashboard's state observables and a dose target, then run a trial on it
    open_tab(page, "Observable mapping")
    amyloid = page.locator('[class*="st-key-lab_map_"][class*="_amyloid_cl"]').first
    prefix = next(c for c in amyloid.get_attribute("class").split() if c.startswith("st-key-lab_map_")).removeprefix("st-key-")
    prefix = prefix.removesuffix("_amyloid_cl")
    for observable, species in (("amyloid_cl", "PX"), ("tau_suvr", "PY"), ("cdrsb", "PZ"), ("dose", "X")):
        choose_option(page, f"{prefix}_{observable}", species)
    page.get_by_role("button", name="Check mapping").click()
    wait_for_app(page)
    open_tab(page, "Observable mapping")
    assert_no_error(page)
    screenshot(page, "model_lab_06_mapping")
    click_button(page, "lab_map_use")
    open_tab(page, "Observable mapping")
    page.get_by_role("link", name="Open the trial designer").click()
    page.wait_for_url(re.compile(r"/trial_designer$"))
    wait_for_app(page)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(r"Model: .*uploaded in the Model lab")).count() == 1
    assert "iADRS" in page.locator('[data-testid="stCaptionContainer"]').filter(has_text="Unavailable in this model").inner_text()
    # the repressilator's numbers are not on the built-in model's scales: admit every patient
    page.get_by_role("button", name="Clear the enrolment criteria").first.click()
    wait_for_app(page)
    set_number(page, "designer_n_per_arm", 20)
    set_number(page, "designer_n_arms", 2)
    screenshot(page, "model_lab_07_designer_with_the_mapped_model")
    click_button(page, "designer_run", timeout_ms=TRIAL_TIMEOUT_MS)
    assert_no_exception(page)
    page.locator("h3").filter(has_text="Results").wait_for(state="visible", timeout=TRIAL_TIMEOUT_MS)
    assert_no_error(page)
    assert page.locator("h3").filter(has_text="Power and sample size").count() == 1
    results = dataframe_with_column(page, "measure")  # the compact table: one column per arm
    results.first.wait_for(state="visible")
    headers = [h.strip() for h in results.first.locator('[role="columnheader"]').all_inner_texts()]
    assert "placebo" in headers and "donanemab standard" in headers, headers
    screenshot(page, "model_lab_08_trial_on_the_mapped_model")

    # back in the lab: it names the model in use and keeps the chosen source (an uploaded file cannot be kept)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Model lab").click()
    page.wait_for_url(re.compile(r"/model_lab$"))
    wait_for_app(page)
    assert_no_exception(page)
    assert page.locator('[data-testid="stCaptionContainer"]').filter(has_text="now run").count() == 1
    assert widget(page, "lab_source").get_by_role("radio", name="Upload SBML").is_checked()
