"""Files of the repository a fresh clone relies on (issue 14, item 8)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_streamlit_usage_statistics_are_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["browser"]["gatherUsageStats"] is False


def test_the_first_start_does_not_wait_for_an_email_address():
    """On a desktop (not headless) with no Streamlit credentials, the README's start command stopped at an e-mail prompt."""
    from streamlit import config as streamlit_config

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["showEmailPrompt"] is False
    assert "server.showEmailPrompt" in streamlit_config._config_options_template  # an option this Streamlit reads


def test_readme_outputs_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for output in ("/result.json", "/again.json", "/cohort.csv", "/twin.json", "/scores.csv", "/enriched.json", "/models/"):
        assert output in ignored, output


def test_every_benchmark_starts_from_any_directory(tmp_path):
    """The README's `python bench/bench_X.py`: bench_twin.py could not import the project outside the repository's root."""
    import subprocess
    import sys

    benches = [str(b) for b in sorted((ROOT / "bench").glob("bench_*.py"))]
    code = ("import runpy, sys\n"
            f"for path in {benches!r}:\n"
            f"    sys.path[:] = [p for p in sys.path if p != {str(ROOT)!r}]  # what the previous bench added\n"
            "    for name in [m for m in sys.modules if m.split('.')[0] in ('qsp', 'ml', 'pages')]:\n"
            "        del sys.modules[name]\n"
            "    sys.argv = [path]\n"
            "    runpy.run_path(path, run_name='imported')  # top level only: the imports, not the measurements\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-1500:]
