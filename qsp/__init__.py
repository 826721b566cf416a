"""Alzheimer's disease continuum QSP core: model, regimens, populations, trials.

Plain Python (no Streamlit): the CLI, the dashboard pages, Dask workers and
tests all call the same functions.
"""

__version__ = "0.1.0"
