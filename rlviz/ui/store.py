"""The run store shared by every session of this server, and who this browser is."""

from __future__ import annotations

import os

import streamlit as st

from rlviz.executors import executor_from_env
from rlviz.runs import SESSION_ID, RunStore, RunStoreError, default_runs_dir, new_session_id

MAX_WORKERS_ENV = "RLVIZ_MAX_WORKERS"
SESSION_PARAM = "sid"  # the browser's id in the URL: a reload or a bookmark keeps it


def get_store() -> RunStore:
    """The store of this server's runs directory ($RLVIZ_RUNS_DIR), workers capped by $RLVIZ_MAX_WORKERS.

    Raises RunStoreError (one line) if the runs directory cannot be written; ``store_or_stop``
    shows that message on the page instead.
    """
    workers = int(os.environ[MAX_WORKERS_ENV]) if os.environ.get(MAX_WORKERS_ENV) else None
    return _store(str(default_runs_dir()), workers)


@st.cache_resource(show_spinner=False)
def _store(root: str, max_workers: int | None) -> RunStore:
    """One store per server, training where $RLVIZ_EXECUTOR says (see rlviz.executors.executor_from_env).
    Its workers start when the first run needs them, not before."""
    try:
        executor = executor_from_env(max_workers)
    except ValueError as error:
        raise RunStoreError(str(error)) from None
    return RunStore(root, executor=executor)


def store_or_stop() -> RunStore:
    """The store, or a clear message on the page (and nothing more of it) when it cannot work."""
    try:
        return get_store()
    except RunStoreError as error:
        st.error(str(error), icon=":material/folder_off:")
        st.stop()
        raise  # st.stop() does not return


def session_id() -> str:
    """This browser's id: from the URL if it has a valid one, else a new one written into the URL.

    Called on every run by app.py, because a page switch clears the query string.
    """
    sid = st.session_state.get(SESSION_PARAM)
    if sid is None:
        from_url = st.query_params.get(SESSION_PARAM, "")
        sid = from_url if SESSION_ID.match(from_url) else new_session_id()
        st.session_state[SESSION_PARAM] = sid
    if st.query_params.get(SESSION_PARAM) != sid:
        st.query_params[SESSION_PARAM] = sid
    return sid
