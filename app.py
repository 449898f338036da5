"""rlviz: the router. Each page lives in pages/ and stays thin; the work is done by rlviz/."""

import streamlit as st
import torch

from rlviz.ui.store import session_id

st.set_page_config(page_title="rlviz: deep RL you can watch", page_icon=":material/neurology:", layout="wide")
# This browser's id lives in the URL (?sid=...), so a reload finds its runs; a page switch clears the
# query string, so it is written back on every run. Training workers start when the first run needs them.
session_id()
# The server's own forward passes (Theory, Inside the agent) are small: one thread each, so that
# sessions and the training workers on the same cores do not wait on each other's thread pools.
torch.set_num_threads(1)

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("pages/runs.py", title="Runs", icon=":material/list_alt:"),
        st.Page("pages/inside.py", title="Inside the agent", icon=":material/visibility:"),
        st.Page("pages/theory.py", title="Theory", icon=":material/functions:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
        st.Page("pages/bug_lab.py", title="Bug lab", icon=":material/bug_report:"),
    ]
)
navigation.run()
