"""Train: pick an algorithm and an environment, set the sliders, train, and watch it learn."""

import pandas as pd
import streamlit as st

from rlviz.config import ALGOS, DEFAULT_ALGO, DEFAULT_ENV, ConfigError
from rlviz.envs import ENVS
from rlviz.plots import reward_curve
from rlviz.ui.config_form import ALGO_KEY, ENV_KEY, config_form, prepare_form, reset_form, write_link
from rlviz.ui.run_view import run_panel
from rlviz.ui.store import get_store, remember_run, session_run_ids
from rlviz.ui.router import require_router

require_router()

st.title("Train an agent")

# Before the widgets: a link's (or a loaded run's) configuration can only go into widgets not drawn yet.
form_problems = prepare_form()
if form_problems:
    st.warning("  \n".join(form_problems), icon=":material/link_off:")

store = get_store()
controls, explanation = st.columns([2, 3], gap="large")
with controls:
    algo = st.selectbox("Algorithm", list(ALGOS), index=list(ALGOS).index(DEFAULT_ALGO),
                        format_func=lambda key: ALGOS[key].display_name, key=ALGO_KEY, persist_state="session",
                        help="Each algorithm starts from a preset that reproduces a classic tutorial, done correctly.")
    env_id = st.selectbox("Environment", list(ENVS), index=list(ENVS).index(DEFAULT_ENV), key=ENV_KEY,
                          persist_state="session",
                          help="; ".join(f"{env.env_id}: solved at {env.solve_threshold:g}" for env in ENVS.values()))
    st.caption(ENVS[env_id].description)
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

run_ids = session_run_ids()
# Not a widget key: Streamlit forgets widget state on other pages, and the session must not.
current = st.session_state.get("current_run")
current_status = store.status(current) if current else None
busy = current_status is not None and not current_status.done

train_column, stop_column, note_column = st.columns([1, 1, 4], vertical_alignment="center")
if train_column.button("Train", type="primary", icon=":material/play_arrow:", disabled=config is None, width="stretch"):
    run_id, cached = store.submit(config)
    remember_run(run_id)
    st.session_state["current_run"] = run_id
    cached_runs = st.session_state.setdefault("cached_runs", set())
    if cached:
        cached_runs.add(run_id)
        st.toast("Trained before with exactly these settings: loaded from the cache.", icon=":material/bolt:")
    else:
        cached_runs.discard(run_id)
    st.rerun()
if stop_column.button("Stop", icon=":material/stop:", disabled=not busy, width="stretch"):
    store.stop(current)
    st.toast("Stopping after the current episode.")
note_column.caption(f"{store.max_workers} training workers on this server; runs beyond that wait in a queue. "
                    "A configuration trained before (same settings and seed) comes back at once.")


def run_label(run_id: str) -> str:
    config = store.config(run_id)
    return f"{ALGOS[config.algo].display_name} on {config.env_id}, seed {config.seed} · run {run_id[:6]}"


if run_ids:
    st.divider()
    if len(run_ids) > 1:
        newest_first = list(reversed(run_ids))
        current = st.selectbox("Your runs in this session", newest_first, index=newest_first.index(current),
                               format_func=run_label)
        st.session_state["current_run"] = current
    run_panel(current, cached=current in st.session_state.get("cached_runs", set()))
else:
    st.info("Press **Train** to start. The reward curve appears here and grows while the agent learns.")
    # The empty axes show where the curve will grow, and load the chart library before the click.
    st.plotly_chart(reward_curve(pd.DataFrame(columns=["env_step", "episode_return"]), ENVS[env_id].solve_threshold),
                    width="stretch", key="curve:empty")
