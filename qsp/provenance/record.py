"""Provenance records: what is needed to re-run a result to the same numbers."""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from importlib import metadata

from qsp import __version__
from qsp.engine.model import load_builtin_model

PACKAGES = ("libroadrunner", "antimony", "python-libsbml", "numpy", "numba", "scipy", "pandas", "pydantic", "lightgbm", "scikit-learn")


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    out = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return tuple(out)


def package_versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the numbers (read once per process)."""
    return dict(_versions())


def data_sha256(obj) -> str:
    """sha256 of a JSON-serialisable object (sorted keys), for data hashes."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _uploaded(model) -> bool:

    return model.mapping is not None or model.sha256 != load_builtin_model().sha256


def provenance_record(model, seed: int | None, scenario: dict | None, parameters: dict[str, float], **extra) -> dict:
    """The provenance block stored with every result."""

    return {
        "sbml_sha256": model.sha256,
        "model_name": model.name,
        "parameters": parameters,
        "seed": seed,
        "scenario": scenario,
        "versions": {"qsp": __version__, **package_versions()},
        "solver": model.solver.model_dump(),
        # an uploaded model (and its mapping) travels with its result, so that the run can be repeated anywhere
        **({"model_sbml": model.sbml} if _uploaded(model) else {}),
        **({"mapping": model.mapping.model_dump(mode="json")} if model.mapping is not None else {}),
        **extra,
    }
