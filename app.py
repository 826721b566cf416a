"""Streamlit entry point: navigation only.

Every session runs this file as ``__main__`` (the navigation below). ``streamlit run app.py`` also imports it once,
at server start-up, and serves it through ``app`` (st.App), whose start-up hook makes the very first session run
this navigation too, not Streamlit's legacy ``pages/`` folder menu.
"""

import streamlit as st

if __name__ == "__main__":  # a session's script run
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
else:  # imported by `streamlit run app.py` (which finds `app` here) before the server accepts a connection
    from pages._navigation import navigation_from_start  # lazy: server start-up only

    app = st.App(__file__, lifespan=navigation_from_start)
