"""Keep every page under app.py's router, even on a deep link to a freshly started server."""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_router() -> None:
    """Call first on every page.

    Until app.py has called st.navigation once, Streamlit treats a folder named pages/ as an
    old-style multipage app: a first request for /train runs pages/train.py alone, without the
    router's page config and navigation. Switch that mode off and rerun, so app.py runs.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
