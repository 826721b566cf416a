"""Model lab in a real browser: drop in a COMBINE archive, see its plot and report, download them as CSV.

Screenshots go to tests/e2e/screenshots/ with names starting ``model_lab_archive_``.
"""

from __future__ import annotations

from tests.e2e.conftest import assert_no_exception, screenshot, wait_for_app, widget
from tests.e2e.test_model_lab_journey import CHECK_TIMEOUT_MS, chart_in, open_model_lab
from tests.qsp.lab.test_omex import archive


def test_an_uploaded_archive_is_listed_run_and_plotted(page, app_url, tmp_path):
    path = tmp_path / "decay.omex"
    path.write_bytes(archive())  # SBML + SED-ML with a report and a plot2D
    open_model_lab(page, app_url)
    widget(page, "lab_source").get_by_text("COMBINE archive / SED-ML").click()
    wait_for_app(page)
    widget(page, "lab_archive_upload").locator('input[type="file"]').set_input_files(str(path))
    wait_for_app(page, timeout_ms=CHECK_TIMEOUT_MS)
    assert_no_exception(page)
    assert page.get_by_text("Contents").count() >= 1
    chart_in(page, "lab_archive_chart_1")  # the plot2D drawn with Plotly
    for name in ("report1", "plot1"):
        assert page.get_by_role("button", name=f"Download {name}.csv").count() == 1
    screenshot(page, "model_lab_archive_01_outputs")


def test_a_bare_sedml_runs_with_the_model_files_it_names(page, app_url, tmp_path):
    from tests.qsp.lab.test_omex import DECAY, sedml

    (tmp_path / "sim.sedml").write_bytes(sedml())
    (tmp_path / "model.xml").write_bytes(DECAY)
    open_model_lab(page, app_url)
    widget(page, "lab_source").get_by_text("COMBINE archive / SED-ML").click()
    wait_for_app(page)
    widget(page, "lab_archive_kind").get_by_text("SED-ML file with its models").click()
    wait_for_app(page)
    widget(page, "lab_sedml_models").locator('input[type="file"]').set_input_files(str(tmp_path / "model.xml"))
    wait_for_app(page)
    widget(page, "lab_sedml_upload").locator('input[type="file"]').set_input_files(str(tmp_path / "sim.sedml"))
    wait_for_app(page, timeout_ms=CHECK_TIMEOUT_MS)
    assert_no_exception(page)
    chart_in(page, "lab_archive_chart_1")
    assert page.get_by_role("button", name="Download report1.csv").count() == 1
    screenshot(page, "model_lab_archive_02_sedml")
