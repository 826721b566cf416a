"""Home: what the app is for and the continuum of a typical patient on the built-in model."""

import streamlit as st

from pages._common import notice
from qsp.plots.trial import continuum_figure
from qsp.population.continuum import natural_history, stage_onsets

st.title("Alzheimer's disease continuum: QSP model")
notice()
st.markdown(
    "A mechanistic model of amyloid plaque, tau PET, clinical decline (iADRS, CDR-SB, MMSE), "
    "anti-amyloid antibody pharmacokinetics and ARIA-E risk, calibrated to CLARITY AD and TRAILBLAZER-ALZ 2.\n\n"
    "- **Clinicians**: *Continuum explorer* places a patient on the continuum and projects their course "
    "untreated and under each antibody regimen.\n"
    "- **Trial designers**: *Trial designer* runs virtual trials comparing dosing schedules and enrolment "
    "criteria, with endpoints, ARIA-E, power and sample size.\n"
    "- **Clinicians with visit data**: *Digital twin* fits a patient's own model from their visits and forecasts "
    "it with predictive bands.\n"
    "- **Modellers**: *Model lab* checks, explores and analyses your own SBML model; once its ids are mapped to "
    "the dashboard's observables it runs in the explorer, trial designer and twin.\n"
    "- **ML**: *Stratification* trains LightGBM models of fast progression, response and ARIA-E on simulated "
    "patients, with leakage and bias audits.\n"
    "- **Everyone**: *Credibility* shows the model against every published result it was calibrated on.\n\n"
    "Below: the untreated course of a typical patient from amyloid onset on the built-in model."
)


@st.cache_data(show_spinner=False)
def _history(onset_age: float):
    return natural_history(onset_age=onset_age)


onset = st.slider(
    "Age at amyloid onset (years)", 35, 80, 50, key="home_onset_age",
    help="APOE4 carriers reach amyloid positivity about 15 years earlier than non-carriers, with similar "
    "rates afterwards (AIBL): move the onset to see the same course earlier or later in life.",
)
history = _history(float(onset))
st.plotly_chart(continuum_figure(history), width="stretch", key="home_continuum")
onsets = stage_onsets(history)
st.markdown(
    "Stage onsets (years after amyloid onset): "
    + ", ".join(f"**{name.replace('_', ' ')}** {value:.1f}" for name, value in onsets.items() if value == value)
)
