"""Server start-up: make every session run app.py's navigation (kept apart from the pages' shared helpers, whose
cached functions would log "No runtime found" when imported before the server runs)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import streamlit as st


def use_app_navigation() -> None:
    """Make every session of this server run app.py's ``st.navigation``, the first one on a fresh server too.

    Streamlit 1.67 decides once per process, as its first session starts, whether the app is a legacy multipage
    app: a folder named ``pages/`` beside the entry script makes that session list the folder's files in the
    sidebar and run a page URL's file directly, until some session runs ``st.navigation`` (which clears the flag
    set here). Call it before the first session: app.py's st.App start-up hook does.
    """
    try:  # private: Streamlit 1.67 has no public switch (test_streamlit_still_decides_by_the_pages_flag checks it)
        from streamlit.runtime.pages_manager import PagesManager  # lazy: server start-up
    except ImportError:
        return
    PagesManager.uses_pages_directory = False


@contextlib.asynccontextmanager
async def navigation_from_start(_app: st.App) -> AsyncIterator[None]:
    """app.py's st.App lifespan: runs at server start-up, before the server answers any request."""
    use_app_navigation()
    yield
