"""Browser journey through the Digital twin page: example patient, an added visit, forecasts under two regimens.

The visit is added by uploading the example's PATIENT.csv with one more row: the visits table is a
canvas-drawn data editor that Playwright cannot type into reliably, and the upload is the other way the
page takes visits. Screenshots are saved as tests/e2e/screenshots/twin_*.png.
"""

from __future__ import annotations

import re

from qsp import paths
from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app, wait_for_charts, widget

TWIN_TIMEOUT_MS = 240_000  # a twin fit plus 100 treated simulations per regimen; about 10-30 s when idle
EXAMPLE = "ex-mci-001"
EXTRA_VISIT = "EX-MCI-001,78,,,,,121,1.23,104,4.0,23\n"  # week 78: the visit added in the journey
REGIMENS = ("Lecanemab 10 mg/kg IV every 2 weeks", "Donanemab 700 mg IV q4w x3")  # the page's default comparison, by label


def open_twin_page(page, app_url: str) -> None:
    """From the app's root, follow the sidebar link to the Digital twin page and wait for the first fit."""
    page.goto(app_url)
    wait_for_app(page)
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Digital twin").click()
    page.wait_for_url(re.compile(r"/twin$"))
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    page.locator("h1").filter(has_text="Digital twin").wait_for(state="visible")


def metric_value(page, label: str) -> str:
    """The shown value of the st.metric whose label is exactly `label`."""
    box = page.locator('[data-testid="stMetric"]').filter(
        has=page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    return box.locator('[data-testid="stMetricValue"]').inner_text().strip()


def headline_band(page) -> tuple[float, float, float]:
    """(median, low, high) of the headline "Untreated, CDR-SB at 2 years: 4.1 (80% band 2.8-6.8)"."""
    text = page.locator("h4").filter(has_text="CDR-SB at").inner_text()
    match = re.search(r"CDR-SB at 2 years: (\d+\.\d) \(80% band (\d+\.\d)-(\d+\.\d)\)", text)
    assert match, text
    return tuple(float(v) for v in match.groups())


def legend_names(page) -> list[str]:
    """Trace names in the Plotly legends on the page."""
    return [(t or "").strip() for t in page.locator(".js-plotly-plot .legendtext").all_text_contents()]


def test_twin_journey_example_added_visit_two_regimens(app_url, page, tmp_path):
    open_twin_page(page, app_url)
    assert_no_exception(page)
    assert wait_for_charts(page, 1, timeout_ms=TWIN_TIMEOUT_MS) >= 1
    assert metric_value(page, "Patient") == EXAMPLE.upper()
    names = legend_names(page)
    assert all(any(r in n for n in names) for r in ("Untreated", *REGIMENS)), names
    assert "80% band (shaded or hatched)" in names and "95% limits (dotted, smoothed)" in names
    median, low, high = headline_band(page)
    assert low <= median <= high
    screenshot(page, "twin_example")

    # add a visit: the same patient with one more row, uploaded as PATIENT.csv
    csv = tmp_path / f"{EXAMPLE}.csv"
    csv.write_text((paths.TWIN_EXAMPLES_DIR / f"{EXAMPLE}.csv").read_text(encoding="utf-8").rstrip("\n") + "\n" + EXTRA_VISIT,
                   encoding="utf-8")
    widget(page, "twin_source").get_by_text("Upload PATIENT.csv", exact=True).click()
    wait_for_app(page)
    widget(page, "twin_upload").locator('input[type="file"]').set_input_files(str(csv))
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    assert_no_exception(page)
    assert wait_for_charts(page, 1, timeout_ms=TWIN_TIMEOUT_MS) >= 1
    assert metric_value(page, "Patient") == EXAMPLE.upper()
    names = legend_names(page)
    assert all(any(r in n for n in names) for r in ("Untreated", *REGIMENS)), names
    median, low, high = headline_band(page)
    assert low <= median <= high and high > low
    screenshot(page, "twin_added_visit")

    # save under a pseudonymous id
    widget(page, "twin_save").locator("button").click()
    wait_for_app(page)
    assert_no_exception(page)
    saved = page.locator('[data-testid="stAlertContentSuccess"]').inner_text()
    assert re.search(r"Saved as TW-[0-9a-f]{12}", saved) and EXAMPLE.upper() not in saved
    screenshot(page, "twin_saved")
