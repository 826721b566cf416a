"""Files of the repository a fresh clone relies on (issue 14, item 8)."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_streamlit_usage_statistics_are_off():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["browser"]["gatherUsageStats"] is False


def test_readme_outputs_are_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    for output in ("/result.json", "/again.json", "/cohort.csv", "/twin.json", "/scores.csv", "/enriched.json", "/models/"):
        assert output in ignored, output
