"""Train: pick an algorithm and an environment, set the sliders, train, and watch it learn."""

import pandas as pd
import streamlit as st

from rlviz.config import ALGOS, DEFAULT_ALGO, DEFAULT_ENV, ConfigError, run_label
from rlviz.envs import ENVS
from rlviz.estimate import run_time_note
from rlviz.plots import reward_curve
from rlviz.runs import RunStoreError
from rlviz.ui.config_form import ALGO_KEY, ENV_KEY, config_form, prepare_form, reset_form, write_link
from rlviz.ui.run_view import run_panel, state_label
from rlviz.ui.store import session_id, store_or_stop
from rlviz.ui.router import require_router

require_router()

st.title("Train an agent")

# Before the widgets: a link's (or a loaded run's) configuration can only go into widgets not drawn yet.
form_problems = prepare_form()
if form_problems:
    st.warning("  \n".join(form_problems), icon=":material/link_off:")

sid = session_id()
store = store_or_stop()
controls, explanation = st.columns([2, 3], gap="large")
with controls:
    algo = st.selectbox("Algorithm", list(ALGOS), index=list(ALGOS).index(DEFAULT_ALGO),
                        format_func=lambda key: ALGOS[key].display_name, key=ALGO_KEY, persist_state="session",
                        help="Each algorithm starts from a preset that reproduces a classic tutorial, done correctly.")
    env_id = st.selectbox("Environment", list(ENVS), index=list(ENVS).index(DEFAULT_ENV), key=ENV_KEY,
                          persist_state="session",
                          help="; ".join(f"{env.env_id}: solved at {env.solve_threshold:g}" for env in ENVS.values()))
    st.caption(ENVS[env_id].description)
    if expectation := ALGOS[algo].expectations.get(env_id):  # measured, so a student knows before the click
        st.info(expectation, icon=":material/insights:")
with explanation:
    info = ALGOS[algo]
    st.markdown(f"**{info.display_name}**: {info.summary}")
    for equation in info.key_equations:
        st.latex(equation)
    st.code(info.pseudocode, language=None, wrap_lines=True)

with st.expander("Hyperparameters", expanded=True, icon=":material/tune:"):
    try:
        config = config_form(algo, env_id)
        config_error = None
        write_link(config)  # the address bar is now a link to this exercise
    except ConfigError as error:  # widgets keep values in range, but say so if one slips through
        config, config_error = None, str(error)
        st.error(config_error)
    if st.button("Reset to the preset", icon=":material/restart_alt:"):
        reset_form(algo, env_id)
        st.rerun()

# --- the runs of this browser ---------------------------------------------------------------------
# A run opened from the Runs page arrives as ?run=<id>: this browser watches it from now on.
opened = st.query_params.get("run")
if opened and opened != st.session_state.get("opened_run"):
    st.session_state["opened_run"] = opened
    if store.run_dir(opened).is_dir():
        store.watch(opened, sid)
        st.session_state["current_run"] = opened
run_ids = store.session_runs(sid)  # newest first; survives a reload (the id is in the URL)
current = st.session_state.get("current_run")
if current not in run_ids:
    current = run_ids[0] if run_ids else None
current_status = store.status(current) if current else None
can_stop = current_status is not None and not current_status.done and store.is_watching(current, sid)

train_column, stop_column, note_column = st.columns([1, 1, 4], vertical_alignment="center")
if train_column.button("Train", type="primary", icon=":material/play_arrow:", disabled=config is None, width="stretch"):
    try:
        submission = store.submit(config, sid)
    except RunStoreError as error:  # the queue is full for this student, or the runs folder cannot be written
        st.error(str(error), icon=":material/block:")
    else:
        st.session_state["current_run"] = current = submission.run_id
        cached_runs = st.session_state.setdefault("cached_runs", set())
        if submission.cached:
            cached_runs.add(submission.run_id)
            st.toast("Trained before with exactly these settings: loaded from the cache.", icon=":material/bolt:")
        else:
            cached_runs.discard(submission.run_id)
        if submission.joined:
            st.toast("Another session is already training exactly this run: you watch it together.",
                     icon=":material/group:")
        st.rerun()
if stop_column.button("Stop", icon=":material/stop:", disabled=not can_stop, width="stretch",
                      help="Stops the run for you. A run that other sessions also watch keeps training for them."):
    still_watching = store.stop(current, sid)
    if still_watching:
        st.toast(f"You stopped watching. The run keeps training for {still_watching} other "
                 f"session{'s' if still_watching > 1 else ''}.", icon=":material/group:")
    else:
        st.toast("Stopping after the current episode.")
    st.rerun()
workers = f"{store.max_workers} training worker{'s' if store.max_workers != 1 else ''}"
if config is not None:  # the time before the click, from this server's earlier runs
    note_column.caption(run_time_note(store, config))
note_column.caption(f"{workers} on this server; runs beyond that wait in a queue. "
                    "A configuration trained before (same settings and seed) comes back at once.")


def run_choice_label(run_id: str) -> str:
    try:
        label = run_label(store.config(run_id))
    except ConfigError:
        label = f"run {run_id[:6]} (unreadable settings)"
    return f"{label} · {state_label(store.status(run_id)).lower()}"


if current is not None:
    st.divider()
    if len(run_ids) > 1:
        current = st.selectbox("Your runs", run_ids, index=run_ids.index(current), format_func=run_choice_label,
                               help="Every run this browser started or opened, newest first. They stay after a reload.")
    st.session_state["current_run"] = current
    run_panel(current, sid, cached=current in st.session_state.get("cached_runs", set()))
else:
    st.info("Press **Train** to start. The reward curve appears here and grows while the agent learns.")
    # The empty axes show where the curve will grow, and load the chart library before the click.
    st.plotly_chart(reward_curve(pd.DataFrame(columns=["env_step", "episode_return"]), ENVS[env_id].solve_threshold),
                    width="stretch", key="curve:empty")
