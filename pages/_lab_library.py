"""Model lab: the model library (list, load, delete, save) and the diff of two models."""

import pandas as pd
import streamlit as st

from pages._common import cached_model_store, show_problems
from qsp.errors import QSPError
from qsp.lab.model_lab import change_counts, diff_models
from qsp.store.database import database_url


def _library():
    """The model library, or None (with the reason shown) when the database cannot be opened."""
    try:
        return cached_model_store(database_url())
    except QSPError as exc:
        show_problems(exc, "Model library: ")
        return None


def _entry_label(entry) -> str:
    return f"{entry.name} · {entry.sha256[:12]}"


def _load_into_editor(store, sha256: str) -> None:
    """Callback: put a library model into the SBML text box (before the widgets of the next run exist)."""
    st.session_state["lab_source"] = "Paste SBML"
    st.session_state["lab_sbml_text"] = store.load(sha256)


def library_expander():
    """The library's expander (list, load, delete); returns (store or None, entries)."""
    store = _library()
    entries = store.entries() if store else []
    with st.expander(f"Model library ({len(entries)} model{'' if len(entries) == 1 else 's'})", expanded=False):
        if store:
            st.dataframe(pd.DataFrame([{"name": e.name, "who": e.who, "saved (UTC)": e.saved_at, "sha256": e.sha256}
                                       for e in entries]), hide_index=True, key="lab_library_table")
            by_label = {_entry_label(e): e for e in entries}
            chosen = by_label[st.selectbox("Model", list(by_label), key="lab_library_pick")]
            c1, c2 = st.columns(2)
            c1.button("Load into the lab", key="lab_library_load", on_click=_load_into_editor, args=(store, chosen.sha256))
            if c2.button("Delete", key="lab_library_delete", disabled=chosen.builtin,
                         help="The built-in model cannot be deleted." if chosen.builtin else None):
                store.delete(chosen.sha256)
                st.rerun()
    return store, entries


def save_form(store, sbml: str) -> None:
    """The form that saves the checked model to the library."""
    if not store:
        return
    with st.form("lab_save_form"):
        st.markdown("**Save this model to the library**")
        c1, c2 = st.columns(2)
        save_name = c1.text_input("Name", "my model", max_chars=120, key="lab_save_name")
        save_who = c2.text_input("Uploaded by", "anonymous", max_chars=120, key="lab_save_who")
        if st.form_submit_button("Save to library", key="lab_save"):
            try:
                saved = store.save(sbml, save_name, save_who)
            except QSPError as exc:
                show_problems(exc, "Save: ")
            else:  # rerun so that the library list above shows the new entry
                st.session_state["lab_saved_message"] = f"Saved as {saved.name!r} by {saved.who} (sha256 {saved.sha256[:12]})."
                st.rerun()
        if "lab_saved_message" in st.session_state:
            st.success(st.session_state.pop("lab_saved_message"))


def diff_tab(store, entries, sbml: str) -> None:
    """The Diff tab: two models of the library (or the lab's) compared component by component."""
    if not store:
        st.info("The model library is unavailable, so there is nothing to compare.")
        return
    st.markdown("Compare two models of the library (or the model in the lab): components added, removed or changed.")
    current = "(the model in the lab)"
    options = [current] + [_entry_label(e) for e in entries]
    by_label = {_entry_label(e): e for e in entries}
    c1, c2 = st.columns(2)
    old_label = c1.selectbox("Old version", options, index=min(1, len(options) - 1), key="lab_diff_old")
    new_label = c2.selectbox("New version", options, index=0, key="lab_diff_new")
    texts = [sbml if label == current else store.load(by_label[label].sha256) for label in (old_label, new_label)]
    try:
        diff = diff_models(*texts)
    except QSPError as exc:
        show_problems(exc)
        return
    if diff.empty:
        st.success("No differences in compartments, species, parameters, reactions, rules, events or units.")
    else:
        st.markdown(" · ".join(f"**{n}** {change}" for change, n in change_counts(diff).items()))
        st.dataframe(diff, hide_index=True, key="lab_diff_table")
