"""Streamlit entry point: navigation only."""

import streamlit as st

st.set_page_config(page_title="AD continuum QSP", page_icon=":material/neurology:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/explorer.py", title="Continuum explorer", icon=":material/person_search:"),
    st.Page("pages/trial_designer.py", title="Trial designer", icon=":material/science:"),
    st.Page("pages/twin.py", title="Digital twin", icon=":material/person_pin:"),
    st.Page("pages/model_lab.py", title="Model lab", icon=":material/biotech:"),
    st.Page("pages/stratification.py", title="Stratification", icon=":material/groups:"),
    st.Page("pages/credibility.py", title="Credibility", icon=":material/verified:"),
]
st.navigation(pages).run()
