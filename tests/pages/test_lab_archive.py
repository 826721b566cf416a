"""AppTest of the model lab's archive features: run an archive's SED-ML, download runs as .omex and Antimony."""

import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths

PAGE = str(paths.ROOT / "pages" / "model_lab.py")


def _labels(at) -> list[str]:
    return [b.proto.label for b in at.get("download_button")]


@pytest.fixture
def at(monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'lab.sqlite'}")
    app = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def _archive_outputs_script():
    from pages._lab_archive import _show_listing, _show_outputs
    from qsp.lab.omex import run_archive
    from tests.qsp.lab.test_omex import archive

    run = run_archive(archive())
    _show_listing(run.listing)
    _show_outputs(run)


def test_an_archive_is_listed_and_its_outputs_shown_as_figures_tables_and_csv():
    at = AppTest.from_function(_archive_outputs_script, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    entries, documents = at.dataframe[0].value, at.dataframe[1].value
    assert {"manifest.xml", "model.xml"} <= set(entries["location"])
    assert documents["outputs"].str.contains("plot1 \\(plot2D\\)").all()
    assert len(at.get("plotly_chart")) == 1  # the plot2D as a figure; the report as a table
    assert {"Download report1.csv", "Download plot1.csv"} <= set(_labels(at))


def test_the_archive_source_shows_its_limits_and_how_to_raise_them(at):
    at.radio(key="lab_source").set_value("COMBINE archive / SED-ML").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Upload an archive" in i.value for i in at.info)
    assert any("QSP_LAB_ARCHIVE_MAX_BYTES" in c.value and "--max-archive-bytes" in c.value for c in at.caption)
    at.radio(key="lab_archive_kind").set_value("SED-ML file with its models").run()
    assert not at.exception


def test_pasted_antimony_runs_in_the_sandbox_and_may_not_read_files(at):
    at.text_area(key="lab_antimony").set_value('import "/etc/passwd"\nmodel m\n A = 1\nend').run()
    assert any("'import' statements read files" in e.value for e in at.error)


def test_the_lab_run_and_the_model_download_as_omex_and_antimony(at):
    labels = _labels(at)
    assert "Download as COMBINE archive (.omex)" in labels and "Download Antimony" in labels
    assert any("per component" in m.value for m in at.markdown)  # the check's time limit grows with the model


def test_the_explorer_offers_its_patient_as_an_omex(monkeypatch):
    app = AppTest.from_file(str(paths.ROOT / "pages" / "explorer.py"), default_timeout=120).run()
    assert not app.exception, [e.value for e in app.exception]
    assert "Download as COMBINE archive (.omex)" in _labels(app)
    assert app.selectbox(key="explorer_omex_regimen").options[0] == "Untreated"
