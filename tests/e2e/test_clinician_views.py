"""What only a browser shows on the clinician's pages (Home, Continuum explorer, Digital twin).

- Labels of a chart (titles, threshold and stage names, the legend) do not overlap each other, and threshold
  labels do not sit on the plotted lines (issue 14, item 8).
- After a new patient is uploaded, the twin's "Show" selector names what the chart draws (issue 14, item 1).
- The twin's headline (CDR-SB at the horizon with its band) and the patient id are shown whole, not cut off.
- Each page shows something useful within a few seconds of arrival.
Screenshots: tests/e2e/screenshots/clinician_*.png.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from qsp import paths
from qsp.plots.notice import RESEARCH_NOTICE
from tests.e2e.conftest import assert_no_exception, choose_option, screenshot, wait_for_app, wait_for_charts, widget

TWIN_TIMEOUT_MS = 240_000  # a twin fit plus treated simulations per regimen; about 10-30 s when idle
FIRST_CONTENT_S = 10.0  # "something useful within a few seconds", with room for a busy 2-core machine

# Boxes (page coordinates) of a chart's labels: title, annotations (subplot titles, thresholds), the legend, axis titles.
_LABEL_BOXES_JS = """
chart => {
  const box = el => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const out = [];
  chart.querySelectorAll('.gtitle, g.annotation, .g-xtitle, .g-ytitle').forEach(el => {
    const b = box(el); if (b[2] > b[0] && b[3] > b[1]) out.push({text: el.textContent.trim(), box: b});
  });
  const legend = chart.querySelector('g.legend');
  if (legend) out.push({text: 'legend', box: box(legend)});
  return out;
}
"""

# Points (page coordinates) along every plotted line of a chart (not the legend's samples).
_LINE_POINTS_JS = """
chart => {
  const pts = [];
  chart.querySelectorAll('.scatterlayer .trace path.js-line').forEach(path => {
    const n = path.getTotalLength(); const m = path.getScreenCTM();
    if (!n || !m) return;
    for (let i = 0; i <= 200; i++) {
      const p = path.getPointAtLength(n * i / 200); const q = new DOMPoint(p.x, p.y).matrixTransform(m);
      pts.push([q.x, q.y]);
    }
  });
  return pts;
}
"""


LABEL_GAP_PX = 2.0  # labels closer than this read as one run of text


def _overlap(a, b, gap: float = LABEL_GAP_PX) -> bool:
    """True when boxes (left, top, right, bottom) overlap or come closer than ``gap`` pixels."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def assert_labels_clear(page, name: str) -> None:
    """No two labels of any chart on the page overlap, and no annotation sits on a plotted line."""
    charts = page.locator(".js-plotly-plot")
    for i in range(charts.count()):
        chart = charts.nth(i).element_handle()
        labels = page.evaluate(_LABEL_BOXES_JS, chart)
        clashes = [(a["text"], b["text"]) for k, a in enumerate(labels) for b in labels[k + 1:] if _overlap(a["box"], b["box"])]
        assert not clashes, f"{name}, chart {i}: overlapping labels {clashes}"
        points = page.evaluate(_LINE_POINTS_JS, chart)
        for label in labels:
            if label["text"] in ("legend",) or not label["text"]:
                continue
            x0, y0, x1, y1 = label["box"]
            on = [p for p in points if x0 + 1 < p[0] < x1 - 1 and y0 + 1 < p[1] < y1 - 1]
            assert not on, f"{name}, chart {i}: label {label['text']!r} sits on a plotted line"


def _goto(page, url: str, ready: str, timeout_ms: int) -> float:
    """Open ``url`` and return the seconds until the element ``ready`` (a CSS selector) is visible."""
    start = time.monotonic()
    page.goto(url)
    page.locator(ready).first.wait_for(state="visible", timeout=timeout_ms)
    return time.monotonic() - start


def _shown_whole(page, selector: str) -> bool:
    """True when the element's text is not cut off (no overflow hidden by an ellipsis or a clip)."""
    return page.locator(selector).first.evaluate(
        "el => { const t = el.querySelector('div, p, span, h4') || el;"
        "        return el.scrollWidth <= el.clientWidth + 1 && t.scrollWidth <= t.clientWidth + 1; }")


@pytest.mark.parametrize(("path", "ready", "name"), [
    ("", ".js-plotly-plot", "home"),
    ("/explorer", '[data-testid="stMetric"]', "explorer"),
    ("/twin", '[data-testid="stMetric"]', "twin"),
])
def test_pages_show_something_within_seconds_and_their_labels_do_not_overlap(app_url, page, path, ready, name):
    page.goto(app_url + path)  # warm: the first visit compiles the model and imports the page's modules
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    seconds = _goto(page, app_url + path, ready, TWIN_TIMEOUT_MS)
    assert seconds < FIRST_CONTENT_S, f"{name}: nothing useful for {seconds:.1f} s"
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    assert_no_exception(page)
    wait_for_charts(page, 1, timeout_ms=TWIN_TIMEOUT_MS)
    page.wait_for_timeout(500)  # Plotly lays out its labels after the chart appears
    assert_labels_clear(page, name)
    screenshot(page, f"clinician_{name}")


def test_twin_show_selector_names_what_the_chart_draws_after_an_upload(app_url, page):
    page.goto(app_url + "/twin")
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    wait_for_charts(page, 1, timeout_ms=TWIN_TIMEOUT_MS)
    choose_option(page, "twin_observable", "Cumulative ARIA-E risk (%)")
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)

    # a new patient: the selector is left out of the run while no file is chosen, then drawn again
    widget(page, "twin_source").get_by_text("Upload PATIENT.csv", exact=True).click()
    wait_for_app(page)
    widget(page, "twin_upload").locator('input[type="file"]').set_input_files(str(paths.TWIN_EXAMPLES_DIR / "ex-mild-003.csv"))
    wait_for_app(page, timeout_ms=TWIN_TIMEOUT_MS)
    assert_no_exception(page)
    wait_for_charts(page, 1, timeout_ms=TWIN_TIMEOUT_MS)
    shown = widget(page, "twin_observable").locator("input").input_value()
    title = page.locator(".js-plotly-plot .gtitle").first.text_content()
    assert title.startswith(shown), f"'Show' says {shown!r} while the chart is {title!r}"

    # the headline is a value with its band, shown whole; so is the patient id
    headline = page.locator("h4").filter(has_text="CDR-SB at")
    assert re.search(r"CDR-SB at 2 years: \d+\.\d \(80% band \d+\.\d-\d+\.\d\)", headline.inner_text())
    assert _shown_whole(page, "h4:has-text('CDR-SB at')")
    patient = page.locator('[data-testid="stMetric"]').first.locator('[data-testid="stMetricValue"]')
    assert patient.inner_text().strip() == "EX-MILD-003"
    assert patient.evaluate("el => el.scrollWidth <= el.clientWidth + 1 && "
                            "[...el.querySelectorAll('*')].every(c => c.scrollWidth <= c.clientWidth + 1)")
    screenshot(page, "clinician_twin_uploaded")

    # the one-page summary downloads with the patient, the forecasts, the figure and the research-use notice
    with page.expect_download(timeout=TWIN_TIMEOUT_MS) as download:
        widget(page, "twin_summary_download").get_by_role("button", name=re.compile("Download patient summary")).click()
    summary = Path(download.value.path()).read_text(encoding="utf-8")
    assert RESEARCH_NOTICE in summary and "EX-MILD-003" in summary and "plotly-graph-div" in summary
    assert "Benefit over untreated" in summary and "SBML sha256" in summary
    page.set_content(summary)
    page.locator(".js-plotly-plot").first.wait_for(state="visible", timeout=60_000)
    screenshot(page, "clinician_twin_summary")
