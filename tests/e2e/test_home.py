"""Smoke test: the Home page renders its notice and the natural-history chart without an exception."""

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app


def test_home_renders(page, app_url):
    page.goto(app_url)
    wait_for_app(page)
    assert_no_exception(page)

    chart = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot, .js-plotly-plot').first
    chart.wait_for(state="visible", timeout=60_000)
    assert page.locator(".js-plotly-plot").count() >= 1

    assert page.get_by_text("Research use only", exact=False).count() >= 1
    path = screenshot(page, "home.png", always=True)
    assert path.is_file() and path.stat().st_size > 0
