"""Streamlit entry point: navigation only."""

import streamlit as st

st.set_page_config(page_title="AD continuum QSP", page_icon=":material/neurology:", layout="wide")

pages = [
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
]
st.navigation(pages).run()
