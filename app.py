"""rlviz: the router. Each page lives in pages/ and stays thin; the work is done by rlviz/."""

import streamlit as st

st.set_page_config(page_title="rlviz: deep RL you can watch", page_icon=":material/neurology:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/train.py", title="Train", icon=":material/play_circle:"),
        st.Page("pages/theory.py", title="Theory", icon=":material/functions:"),
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    ]
)
navigation.run()
