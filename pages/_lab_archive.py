"""Model lab, source "COMBINE archive / SED-ML": list an archive's contents, run its SED-ML, show and download the outputs."""

import pandas as pd
import streamlit as st

from pages._common import show_problems
from pages._lab_cache import cached_archive, cached_sedml
from pages._lab_format import number_columns
from qsp.errors import QSPError
from qsp.lab.check import LabLimits
from qsp.lab.omex import DEFAULT_ARCHIVE_LIMITS, ArchiveListing, ArchiveRun
from qsp.plots.omex import sed_plot_figure

INTRO = ("Upload a **COMBINE archive** (`.omex`: models, SED-ML simulation descriptions, data), or a bare **SED-ML** "
         "file with the model files it names. Its tasks run with tellurium in the same time- and memory-limited "
         "process as the SBML check. Nothing is fetched: a model given by URL, BioModels URN or absolute path is "
         "refused by name; zip entries outside the archive, symlinks and zip bombs are refused.")
ENV_HINT = ("Archive limits are settings: `QSP_LAB_ARCHIVE_MAX_BYTES`, `QSP_LAB_ARCHIVE_MAX_ENTRIES`, "
            "`QSP_LAB_ARCHIVE_MAX_POINTS` (environment) or `--max-archive-bytes`, `--max-archive-entries`, "
            "`--max-points` of `python -m qsp run-omex`.")


def _upload(limits: LabLimits):
    """(listing, run) of what the user uploaded, or None while nothing is uploaded; problems shown, then None."""
    kind = st.radio("Upload", ["COMBINE archive (.omex)", "SED-ML file with its models"], horizontal=True,
                    key="lab_archive_kind")
    settings = (limits.model_dump(), DEFAULT_ARCHIVE_LIMITS.model_dump())
    if kind.startswith("COMBINE"):
        upload = st.file_uploader("COMBINE archive", type=["omex", "zip"], key="lab_archive_upload")
        if upload is None:
            return None
        data = upload.getvalue()
        call = lambda run: cached_archive(data, *settings, run)  # noqa: E731
    else:
        sed = st.file_uploader("SED-ML file", type=["sedml", "xml"], key="lab_sedml_upload")
        models = st.file_uploader("Model files it names (SBML)", type=["xml", "sbml"], accept_multiple_files=True,
                                  key="lab_sedml_models")
        if sed is None:
            return None
        files = tuple((f.name, f.getvalue()) for f in models or [])
        call = lambda run: cached_sedml(sed.getvalue(), files, sed.name, *settings, run)  # noqa: E731
    try:
        listing = call(False)
        with st.spinner("Running the SED-ML with tellurium (in the sandbox)..."):
            run = call(True)
    except QSPError as exc:
        show_problems(exc, "Archive: ")
        return None
    return listing, run


def _show_listing(listing: ArchiveListing) -> None:
    st.markdown("**Contents**")
    st.dataframe(listing.entries_frame(), hide_index=True, key="lab_archive_entries")
    rows = [{"document": d.location, "models": ", ".join(m.id for m in d.models),
             "simulations": ", ".join(f"{s.id} ({s.kind})" for s in d.simulations),
             "tasks": ", ".join(t.id for t in d.tasks), "outputs": ", ".join(f"{o.id} ({o.kind})" for o in d.outputs)}
            for d in listing.documents]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="lab_archive_documents")
    for note in listing.notes:
        st.info(note, icon=":material/info:")


def _show_outputs(run: ArchiveRun) -> None:
    st.markdown(f"**Outputs** ({len(run.outputs)})")
    for message in run.messages:
        st.caption(f"tellurium: {message}")
    for n, (key, frame) in enumerate(run.outputs.items()):
        output = run.output_of(key)
        with st.container(border=True):
            name = output.name if output is not None and output.name else ""
            st.markdown(f"**{name or key}**" + (f" · `{key}`" if name else "") + f" ({run.kinds.get(key, 'report')})")
            if output is not None and output.kind in ("plot2D", "plot3D"):
                st.plotly_chart(sed_plot_figure(output, frame), key=f"lab_archive_chart_{n}")
            st.dataframe(frame, hide_index=True, column_config=number_columns(frame), key=f"lab_archive_table_{n}")
            st.download_button(f"Download {key}.csv", frame.to_csv(index=False, float_format="%.17g"), f"{key}.csv",
                               mime="text/csv", key=f"lab_archive_csv_{n}")


def archive_section(limits: LabLimits) -> None:
    """The whole archive view: upload, contents, outputs."""
    st.markdown(INTRO)
    with st.expander("Limits applied to archives", expanded=False):
        for line in DEFAULT_ARCHIVE_LIMITS.describe():
            st.markdown(f"- {line}")
        st.caption(ENV_HINT)
    got = _upload(limits)
    if got is None:
        st.info("Upload an archive (or a SED-ML file) to run it.")
        return
    listing, run = got
    _show_listing(listing)
    _show_outputs(run)
