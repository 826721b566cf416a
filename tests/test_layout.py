"""The layout holds: one package per concern, layered imports, no circles, short functions, thin pages."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 70
MAX_PAGE_LINES = 300


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


@pytest.fixture(scope="module")
def graph():
    sys.path.insert(0, str(ROOT))
    return grimp.build_graph("qsp", "ml", include_external_packages=False, cache_dir=None)


def _cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), over every import, in functions too."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_circles_among_qsp_and_ml_modules(graph):
    assert _cycles(graph) == []


def test_the_circle_finder_finds_a_circle():
    class Graph:
        modules = {"a", "b", "c"}

        def find_modules_directly_imported_by(self, m):
            return {"a": {"b"}, "b": {"a"}, "c": {"a"}}[m]

    assert _cycles(Graph()) == [["a", "b"]]


def test_import_linter_contracts_hold():
    done = subprocess.run(["lint-imports", "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def _function_imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.ImportFrom | ast.Import):
                    names = [sub.module or ""] if isinstance(sub, ast.ImportFrom) else [a.name for a in sub.names]
                    said = " ".join(lines[max(0, sub.lineno - 2):sub.lineno]).lower()
                    if any(n.split(".")[0] in ("qsp", "ml") for n in names) and "lazy" not in said:
                        yield f"{path.relative_to(ROOT)}:{sub.lineno}"


def test_project_imports_are_at_module_level_unless_marked_lazy():
    found = [hit for p in _modules("qsp", "ml") for hit in _function_imports(p)]
    assert found == []


def test_qsp_root_is_small_and_concerns_have_packages():
    root_modules = sorted(p.name for p in (ROOT / "qsp").glob("*.py"))
    packages = sorted(p.name for p in (ROOT / "qsp").iterdir() if (p / "__init__.py").exists())
    assert len(root_modules) <= 8, root_modules
    assert len(packages) >= 5, packages


def test_no_long_functions_in_the_core():
    long = []
    for path in _modules("qsp", "ml"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                if node.end_lineno - start + 1 > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.name} {node.end_lineno - start + 1} lines")
    assert long == []


def test_pages_are_thin():
    fat = [f"{p.name} {n} lines" for p in sorted((ROOT / "pages").glob("*.py"))
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_PAGE_LINES]
    assert fat == []


# pytest puts the running test's id in the environment (PYTEST_CURRENT_TEST); one over 128 KiB makes every process
# started during that test fail in execve (E2BIG): a Dask nanny or multiprocessing's resource tracker then "dies
# unexpectedly" and, through the session's shared cluster, every test of that xdist worker errors. A parametrized
# test whose parameter is a large upload needs an explicit short id. Checked in a separate collection (a check
# inside this session's collection would crash the xdist workers without saying why).
MAX_TEST_ID = 8000  # well under the limit; SBML snippets used as ids reach about 2,300 characters


def test_every_test_id_fits_in_the_environment(request):
    ids = [item.nodeid for item in request.session.items]  # a full run (each xdist worker) collected every test
    if len({i.split("::")[0] for i in ids}) < 10:  # run alone or with a few files: collect the whole suite
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider"],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
        ids = [line for line in out.stdout.splitlines() if "::" in line]
        assert len(ids) > 100, out.stdout[-2000:] + out.stderr[-2000:]
    too_long = [test_id[:120] + "..." for test_id in ids if len(test_id) > MAX_TEST_ID]
    assert not too_long, f"give these parametrized tests short ids (ids=...): {too_long}"
