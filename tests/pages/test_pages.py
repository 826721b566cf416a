"""AppTest: every page renders without exception; pages driven by widget keys show the core's numbers."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from qsp import paths

PAGES = sorted(str(p.relative_to(paths.ROOT)) for p in (paths.ROOT / "pages").glob("*.py") if not p.name.startswith("_"))


def _run(path, timeout=240):
    return AppTest.from_file(str(paths.ROOT / path), default_timeout=timeout).run()


@pytest.mark.parametrize("page", [p for p in PAGES if "credibility" not in p])
def test_every_page_renders_without_exception(page):
    at = _run(page)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Research use only" in c.value for c in at.caption)


def test_app_entry_point_renders_home():
    at = AppTest.from_file(str(paths.ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert at.title[0].value.startswith("Alzheimer")


def test_pages_list_matches_navigation():
    app = (paths.ROOT / "app.py").read_text()
    for page in PAGES:
        assert f'"{Path(page).as_posix()}"' in app, f"{page} is not in app.py's navigation"


def test_home_stage_onsets_follow_the_onset_age():
    from qsp.population.continuum import natural_history, stage_onsets

    at = _run("pages/home.py")
    at.slider(key="home_onset_age").set_value(60).run()
    assert not at.exception
    onsets = stage_onsets(natural_history(onset_age=60.0))
    text = next(m.value for m in at.markdown if m.value.startswith("Stage onsets"))
    assert f"**mci** {onsets['mci']:.1f}" in text


def test_the_server_start_up_import_logs_nothing():
    """`streamlit run app.py` imports app.py's start-up hook before the server runs; importing it through the pages'
    shared helpers logged "No runtime found, using MemoryCacheStorageManager" five times on every start."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import pages._navigation"], cwd=paths.ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "No runtime found" not in done.stderr, done.stderr[-2000:]
