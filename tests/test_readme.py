"""Every `python -m qsp` and `python -m ml` example of the README runs as written (issue 14, item 5).

Each command runs in a copy of the repository in a temporary directory (so that `calibrate --write` and
`compile-model` write into the copy), in README order: a command that reads an earlier command's output
(`rerun result.json`, `predict --models models/`) runs that command first. Long commands are marked slow
(run them with `pytest -m slow`).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("qsp", "ml", "data", "models_sbml", "README.md", "pyproject.toml")
SLOW = ("calibrate", "validate-targets", "compile-model", "--backend dask", "ml train", "ml predict", "ml trial")  # minutes
EXIT_CODES = {"check-sbml": (0,)}  # every example must succeed


def readme_commands(text: str) -> list[str]:
    """The `python -m qsp|ml` commands of the README's bash blocks, continuation lines joined, comments dropped.

    >>> readme_commands("```bash\\npython -m qsp a \\\\\\n  --b c   # note\\n# python -m qsp no\\n```\\n")
    ['python -m qsp a --b c']
    """
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words[:3] in (["python", "-m", "qsp"], ["python", "-m", "ml"]):
                commands.append(shlex.join(words))
    return commands


COMMANDS = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def _out(command: str) -> str | None:
    words = shlex.split(command)
    return words[words.index("--out") + 1].rstrip("/") if "--out" in words else None


def _slow(command: str) -> bool:
    return any(mark in command for mark in SLOW)


def _reads(command: str) -> set[str]:
    words = shlex.split(command)
    return {w.rstrip("/") for i, w in enumerate(words) if words[i - 1] != "--out"}


def _covered_by_a_later_example(command: str) -> bool:
    """True when a later fast example reads this command's output, so runs (and checks) it first anyway."""
    out = _out(command)
    later = COMMANDS[COMMANDS.index(command) + 1:]
    only_writer = [_out(c) for c in COMMANDS].count(out) == 1  # else a slow writer may run first in its place
    return out is not None and only_writer and any(out in _reads(c) and not _slow(c) for c in later)


def _params():
    for command in COMMANDS:
        if _covered_by_a_later_example(command) and not _slow(command):
            continue  # e.g. `trial --out result.json` runs as the first step of `rerun result.json`
        yield pytest.param(command, marks=[pytest.mark.slow] if _slow(command) else [], id=command[10:70])


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A copy of the repository the examples run in (one per test worker)."""
    root = tmp_path_factory.mktemp("readme")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy(source, root / name)
    return root


def _run(command: str, workdir: Path) -> subprocess.CompletedProcess:
    """Run a README command in ``workdir`` after the earlier commands whose outputs it reads."""
    words = shlex.split(command)
    inputs = _reads(command)
    for earlier in COMMANDS[:COMMANDS.index(command)]:
        out = _out(earlier)
        if out in inputs and not (workdir / out).exists():
            done = _run(earlier, workdir)
            assert done.returncode == 0 and "Traceback" not in done.stderr, f"{earlier}\n{done.stderr[-2000:]}"
    env = {**os.environ, "PYTHONPATH": str(workdir)}
    return subprocess.run([sys.executable, *words[1:]], cwd=workdir, env=env, capture_output=True, text=True, timeout=3600)


def test_every_fast_example_is_run_by_a_test_of_its_own_or_of_the_example_reading_its_output():
    tested = [p.values[0] for p in _params()]
    for command in COMMANDS:
        if command not in tested:
            reader = next(c for c in tested if _out(command) in _reads(c))
            assert COMMANDS.index(reader) > COMMANDS.index(command) and not _slow(reader), (command, reader)


def test_the_readme_has_examples_of_both_tools():
    assert any(c.startswith("python -m qsp trial") for c in COMMANDS)
    assert any(c.startswith("python -m ml predict") for c in COMMANDS)


@pytest.mark.parametrize("command", list(_params()))
def test_readme_example_runs_as_written(command, workdir):
    done = _run(command, workdir)
    allowed = next((codes for name, codes in EXIT_CODES.items() if name in command), (0,))
    assert done.returncode in allowed, f"{command}\nexit {done.returncode}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr
    if "--backend dask" in command:
        assert "killing" not in done.stderr  # issue 14, item 8: a clean LocalCluster shutdown
