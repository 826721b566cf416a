"""Model lab caches and background work: Antimony, archives, and the SBML check run off the page's thread.

A check of a large model may take minutes (the limit grows with the model): it runs in a shared thread
pool, the page shows its progress, and a rerun (the user changed the model or the limits) moves on while
the old check finishes on its own and stays cached.
"""

import hashlib
import json
import time
from concurrent.futures import Future, ThreadPoolExecutor

import streamlit as st

from qsp.engine.model import Model
from qsp.engine.observables import parse_mapping
from qsp.lab.adapt import adapt_model, observable_range_issues
from qsp.lab.check import LabLimits, check_sbml, check_time_limit_of
from qsp.lab.issues import SbmlReport
from qsp.lab.model_lab import related_parameters
from qsp.lab.omex import ArchiveLimits, export_antimony, import_antimony, inspect_archive, inspect_sedml, run_archive, run_sedml

MAX_JOBS = 32  # finished checks kept for reruns


@st.cache_data(show_spinner=False, max_entries=32)
def cached_import_antimony(text: str, limits: dict) -> str:
    """Pasted Antimony as SBML, translated in the sandbox (``import "file"`` refused)."""
    return import_antimony(text, LabLimits(**limits))


@st.cache_data(show_spinner=False, max_entries=32)
def cached_export_antimony(sbml: str, limits: dict) -> str:
    """Any SBML (simulatable or not) as Antimony, translated in the sandbox."""
    return export_antimony(sbml, LabLimits(**limits))


@st.cache_data(show_spinner=False, max_entries=64)
def cached_related_parameters(sha256: str, output: str, _model) -> list[str]:
    """The parameters ``output`` of the model (by its sha256) depends on, nearest first."""
    return related_parameters(_model, output)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_range_issues(sbml: str, mapping_json: str) -> list:
    """Warnings for mapped observables outside their scales (the mapped model run untreated for a year)."""
    return observable_range_issues(adapt_model(Model(sbml, name="lab"), parse_mapping(json.loads(mapping_json))))


@st.cache_data(show_spinner=False, max_entries=8)
def cached_archive(data: bytes, limits: dict, archive_limits: dict, run: bool):
    """The listing (``run`` False) or the run (True) of a COMBINE archive's bytes."""
    args = (data, ArchiveLimits(**archive_limits), LabLimits(**limits))
    return run_archive(*args) if run else inspect_archive(*args)


@st.cache_data(show_spinner=False, max_entries=8)
def cached_sedml(sedml: bytes, files: tuple[tuple[str, bytes], ...], name: str, limits: dict, archive_limits: dict, run: bool):
    """The listing or the run of a bare SED-ML file with its model files."""
    args = (sedml, dict(files), ArchiveLimits(**archive_limits), LabLimits(**limits), name)
    return run_sedml(*args) if run else inspect_sedml(*args)


@st.cache_resource(show_spinner=False)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-check")


@st.cache_resource(show_spinner=False)
def _jobs() -> dict:
    return {}  # (sha256, limits JSON) -> (future, started monotonic, time limit s)


def check_in_background(sbml: str, limits: LabLimits) -> SbmlReport:
    """The check report of ``sbml``, computed in the background with a progress bar while the page waits."""
    key = (hashlib.sha256(sbml.encode("utf-8")).hexdigest(), limits.model_dump_json())
    jobs = _jobs()
    job = jobs.get(key)
    if job is None or (job[0].done() and job[0].exception() is not None):
        future: Future = _pool().submit(check_sbml, sbml, limits)
        job = jobs[key] = (future, time.monotonic(), check_time_limit_of(sbml, limits))
        while len(jobs) > MAX_JOBS:
            jobs.pop(next(iter(jobs)))
    future, started, budget = job
    slot = st.empty()  # on every run, so that the elements below keep their place (tabs keep the open one)
    while not future.done():
        elapsed = time.monotonic() - started
        slot.progress(min(elapsed / budget, 1.0), text=f"Checking and compiling the model in a separate process: "
                      f"{elapsed:.0f} s of at most {budget:.0f} s (large models take longer; change the model or "
                      "the limits to move on)")
        time.sleep(0.3)
    slot.empty()
    return future.result()
