"""Alzheimer's disease continuum QSP core: model, regimens, populations, trials.

Plain Python (no Streamlit): the CLI, the dashboard pages, Dask workers and
tests all call the same functions.
"""

__version__ = "0.1.0"

# libsedml (SED-ML, COMBINE archives) imported after libsbml makes libsbml's ASTNode.getType() return raw SWIG
# pointers ("unhashable type: SwigPyObject"): both register the ASTNodeType_t enum in SWIG's shared type table and
# the later one wins. Every libsbml user here (model checks, the batch integrator's translator) reads AST types, so
# libsedml is imported first, before any module of this package imports libsbml (measured: 0.05 s).
try:
    import libsedml  # noqa: F401
except ImportError:  # pragma: no cover - in requirements; without it only COMBINE archives are unavailable
    pass
