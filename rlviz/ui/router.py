"""Keep every page under app.py's router, even on a deep link to a freshly started server."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_router() -> None:
    """Call first on every page.

    Until app.py has called st.navigation once, Streamlit treats a folder named pages/ as an
    old-style multipage app: a first request for /train runs pages/train.py alone, without the
    router's page config and navigation. Switch that mode off and rerun once, so app.py runs.
    (Once per session: AppTest switches the mode back on before every run of a test.)
    """
    if PagesManager.uses_pages_directory and not st.session_state.get("_router_checked"):
        st.session_state["_router_checked"] = True
        PagesManager.uses_pages_directory = False
        st.rerun()
