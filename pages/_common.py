"""Streamlit adapter: caching and shared widgets for the pages (the core stays UI-free)."""

from __future__ import annotations

import hashlib
import json

import streamlit as st

from qsp.errors import QSPError

RESEARCH_NOTICE = (
    "Research use only. This is a research tool, not a medical device: it must not be used to "
    "diagnose, treat or make decisions about any patient."
)


def notice() -> None:
    """The research-use-only notice, on every page."""
    st.caption(RESEARCH_NOTICE)


def show_problems(exc: QSPError, where: str = "") -> None:
    """Show each problem of a rejected input as its own error line."""
    problems = getattr(exc, "problems", None) or [str(exc)]
    for line in problems:
        st.error(f"{where}{line}", icon=":material/error:")


def key_of(obj) -> str:
    """A stable hash of JSON-able input, used as a cache key."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=64)
def cached_projection(profile: dict, regimens: tuple[str, ...], years: float, n_draws: int) -> dict:
    from qsp.explorer import project_profile

    proj = project_profile(profile, {name: name for name in regimens}, years=years, n_draws=n_draws)
    return {"stage": proj.stage, "severity": proj.severity, "trajectories": proj.trajectories, "next_stage": proj.next_stage}


@st.cache_data(show_spinner=False)
def cached_library() -> dict:
    from qsp.regimen import regimen_descriptions, regimen_library

    desc = regimen_descriptions()
    return {name: {"describe": r.describe(), "label": desc[name]["label"], "source": desc[name]["source"]} for name, r in regimen_library().items()}
