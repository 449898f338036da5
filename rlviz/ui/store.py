"""The run store shared by every session of this server."""

from __future__ import annotations

import os

import streamlit as st

from rlviz.runs import RunStore, default_runs_dir

MAX_WORKERS_ENV = "RLVIZ_MAX_WORKERS"


def get_store() -> RunStore:
    """The store of this server's runs directory ($RLVIZ_RUNS_DIR), workers capped by $RLVIZ_MAX_WORKERS."""
    workers = int(os.environ[MAX_WORKERS_ENV]) if os.environ.get(MAX_WORKERS_ENV) else None
    return _store(str(default_runs_dir()), workers)


@st.cache_resource(show_spinner=False)
def _store(root: str, max_workers: int | None) -> RunStore:
    """One store (and one worker pool) per server, warmed up so the first run starts at once."""
    store = RunStore(root, max_workers=max_workers)
    store.warm_up()
    return store


def session_run_ids() -> list[str]:
    """This session's runs, oldest first. Survives leaving the page and coming back."""
    return st.session_state.setdefault("run_ids", [])


def remember_run(run_id: str) -> None:
    run_ids = session_run_ids()
    if run_id in run_ids:
        run_ids.remove(run_id)
    run_ids.append(run_id)
