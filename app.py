"""rlviz: the router. Each page lives in pages/ and stays thin; the work is done by rlviz/."""

import multiprocessing

import streamlit as st

from rlviz.ui.store import get_store

st.set_page_config(page_title="rlviz: deep RL you can watch", page_icon=":material/neurology:", layout="wide")
# Start and warm the training workers (once per server) while the student reads. The store starts
# them without this file (rlviz.runs hides it); the guard keeps a worker from ever starting workers.
if multiprocessing.current_process().name == "MainProcess":
    get_store()

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("pages/theory.py", title="Theory", icon=":material/functions:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ]
)
navigation.run()
