"""A download of the explorer's patient as a COMBINE archive (model as run, SED-ML, results) that tellurium re-runs."""

import streamlit as st

from qsp import constants as C
from qsp.errors import QSPError
from qsp.lab.export import profile_archive


def _archive(profile: dict, regimen: str | None, years: float, model) -> bytes:
    try:
        return profile_archive(profile, regimen, float(years), model)
    except QSPError as exc:  # shown in the file: the button cannot show an error on the page
        return f"The archive could not be written: {exc}\n".encode()


def explorer_omex_download(profile: dict, labels: dict[str, str], years: float, model=None) -> None:
    """Pick a regimen; download the typical patient of ``profile`` under it as ``.omex`` (``model``: None, built-in)."""
    c1, c2 = st.columns([2, 1])
    regimen = c1.selectbox("Regimen of the archive", list(labels), format_func=labels.get, key="explorer_omex_regimen",
                           help="The typical patient of this profile (random effects 0): the model as run, with dosing.")
    c2.download_button("Download as COMBINE archive (.omex)",
                       lambda: _archive(profile, None if regimen == C.UNTREATED else regimen, years, model),
                       file_name="explorer_patient.omex", mime="application/zip", key="explorer_omex_download")
