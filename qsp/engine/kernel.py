"""The batch integrator's right-hand side compiled to machine code with numba, one loop over the patients.

Why: the numpy right-hand side of :mod:`qsp.engine.batch` costs about 60 µs for 300 patients, nearly all of
it numpy's per-operation overhead (about 100 operations of 0.4 µs on short arrays); it is 80% of a treated
trial. The same formulas in one compiled loop cost about 10 µs.

How: the generated numpy source of ``_rates`` (one line per formula, see ``BatchModel._generate``) is
rewritten line by line into a scalar loop body: ``y[k]`` -> ``y[k, i]``, ``P['name']`` -> a row of one
parameter array, ``np.where`` -> a scalar choice (both branches evaluated, as numpy does), ``x ** p`` ->
``_pow`` (products for the exponents 2, 3 and 4). Nothing is translated twice: the formulas come from the
SBML through the same translator. Each patient is computed on its own, so a patient's numbers do not depend
on the batch. The compiled code is cached on disk (``$QSP_KERNEL_DIR``, default ``~/.ad_qsp/kernels``;
``off``: compile in memory each process) so that a new process loads it instead of compiling (about 1 s).

When numba is missing or cannot compile a model's formulas, :func:`compile_kernel` returns None and the
numpy right-hand side is used: the same equations, rounding may differ in the last bit.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import stat
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_DIR = Path.home() / ".ad_qsp" / "kernels"

_HELPERS = '''
@numba.njit(error_model="numpy", cache=CACHE)
def _where(c, a, b):
    return a if c else b


@numba.njit(error_model="numpy", cache=CACHE)
def _bool(x):
    return x != 0


@numba.njit(error_model="numpy", cache=CACHE)
def _pow(x, p):
    if p == 2.0:
        return x * x
    if p == 3.0:
        return x * x * x
    if p == 4.0:
        x2 = x * x
        return x2 * x2
    return x ** p
'''

# the only names a rewritten line may call: numpy's elementwise functions numba compiles for scalars
_ALLOWED_CALLS = {"_where", "_bool", "_pow", "np.sqrt", "np.square", "np.exp", "np.log", "np.log10", "np.abs",
                  "np.floor", "np.ceil", "np.maximum", "np.minimum"}


class KernelSource:
    """The loop source of a ``_rates`` function and the parameter names its rows hold, in order."""

    def __init__(self, rates_source: str):
        lines = rates_source.strip().splitlines()
        if not lines or not lines[0].startswith("def _rates(t, y, P):"):
            raise ValueError("not a generated _rates function")
        body = lines[1:]
        self.parameters = tuple(dict.fromkeys(re.findall(r"P\['(\w+)'\]", "\n".join(body))))
        row = {name: k for k, name in enumerate(self.parameters)}
        out = ["@numba.njit(error_model=\"numpy\", cache=CACHE)", "def rates(t, y, P, dy):", "    for i in range(y.shape[1]):"]
        for line in body:
            s = line.strip()
            if s.startswith("dy = np.empty(") or s == "return dy":
                continue
            s = re.sub(r"P\['(\w+)'\]", lambda m: f"P[{row[m.group(1)]}, i]", s)
            s = re.sub(r"\by\[(\d+)\]", r"y[\1, i]", s)
            s = re.sub(r"^dy\[(\d+)\] =", r"dy[\1, i] =", s)
            s = re.sub(r"\(([\w\[\], ]+) \*\* ([\w\[\], .]+)\)", r"_pow(\1, \2)", s)
            s = s.replace("np.where(", "_where(").replace("_b(", "_bool(")
            calls = set(re.findall(r"([\w.]+)\(", s))
            if not calls <= _ALLOWED_CALLS:
                raise ValueError(f"cannot compile: {sorted(calls - _ALLOWED_CALLS)}")
            out.append("        " + s)
        self.source = "import numba\nimport numpy as np\n\nCACHE = CACHED\n" + _HELPERS + "\n\n" + "\n".join(out) + "\n"

    def parameter_array(self, P: dict, n: int) -> np.ndarray:
        """(parameters, n) array of the kernel's parameters (scalars broadcast, flags as 0/1)."""
        return np.array([np.broadcast_to(np.asarray(P[name], dtype=float), (n,)) for name in self.parameters], dtype=float)


def kernel_dir() -> Path | None:
    """Where compiled kernels are cached; None when ``$QSP_KERNEL_DIR`` is ``off``."""
    value = os.environ.get("QSP_KERNEL_DIR", "").strip()
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else DEFAULT_DIR


def compile_kernel(rates_source: str, n_moving: int, n_state: int):
    """A compiled ``rates(t, y, P, dy)`` for the generated ``_rates`` source with its :class:`KernelSource`, or None."""
    try:
        import numba  # noqa: F401  (optional at import time: the numpy right-hand side works without it)
    except ImportError:
        return None
    try:
        ks = KernelSource(rates_source)
        module = _load(ks.source)
        fn = module.rates
        fn(0.0, np.ones((n_state, 1)), np.ones((len(ks.parameters), 1)), np.empty((n_moving, 1)))  # compile now
    except Exception as exc:  # any failure to compile leaves the numpy right-hand side in place
        log.warning("batch kernel not compiled, numpy right-hand side used: %s", exc)
        return None
    return fn, ks


_LOAD_LOCK = threading.Lock()  # one thread writes and imports a kernel module at a time


def _private(folder: Path) -> bool:
    """Whether ``folder`` belongs to this user and nobody else may write in it (numba's cache files are pickles:
    code planted there would run)."""
    info = folder.stat()
    return info.st_uid == os.getuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _cached_file(folder: Path, name: str, text: str) -> Path | None:
    """The kernel's file in a private ``folder``, written (atomically) unless it already holds exactly ``text``."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(folder):
        log.warning("kernel cache %s is not private to this user: compiling in memory", folder)
        return None
    path = folder / f"{name}.py"
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    return path


def _load(source: str):
    """The kernel module: from a file in the kernel directory (numba caches its machine code beside it) or in memory."""
    with _LOAD_LOCK:
        return _load_locked(source)


def _load_locked(source: str):
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"qsp_kernel_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    folder = kernel_dir()
    path = None
    if folder is not None:
        try:
            path = _cached_file(folder, name, source.replace("CACHE = CACHED", "CACHE = True"))
        except OSError as exc:
            log.info("kernel cache directory not usable (%s): compiling in memory", exc)
            path = None
    if path is not None:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = type(sys)(name)
        exec(compile(source.replace("CACHE = CACHED", "CACHE = False"), f"<{name}>", "exec"), module.__dict__)  # whitelisted math only
    sys.modules[name] = module
    return module
