"""Runs: every run trained on this server, the class's shared library."""

import streamlit as st

from rlviz.config import ALGOS
from rlviz.envs import ENVS
from rlviz.library import filter_table, library_table
from rlviz.ui.compare_form import send_runs_to_compare
from rlviz.ui.router import require_router
from rlviz.ui.store import session_id, store_or_stop

require_router()

sid = session_id()
store = store_or_stop()
st.title("Runs on this server")
st.markdown(
    "Every run anyone in your class trained here, newest first. A finished run comes back at once when someone "
    "trains the same settings and seed, so this is also a library: open a run to watch it, or send runs to "
    "**Compare** or **Theory**."
)

table = library_table(store.runs(), set(store.session_runs(sid)))
algo_column, env_column, mine_column = st.columns([2, 2, 1], vertical_alignment="bottom")
algorithms = algo_column.multiselect("Algorithm", [info.short_name for info in ALGOS.values()], key="runs:algos",
                                     persist_state="session", placeholder="all algorithms")
environments = env_column.multiselect("Environment", list(ENVS), key="runs:envs", persist_state="session",
                                      placeholder="all environments")
only_mine = mine_column.toggle("Only mine", key="runs:mine", persist_state="session",
                               help="The runs this browser started or opened.")
shown = filter_table(table, algorithms, environments, only_mine)

if shown.empty:
    st.info("No run yet. Train one on the **Train** page: it appears here for the whole class."
            if table.empty else "No run matches these filters.")
    st.stop()

column = st.column_config
selection = st.dataframe(
    shown, key="runs:table", on_select="rerun", selection_mode="multi-row", hide_index=True, width="stretch",
    column_order=[name for name in shown.columns if name != "run_id"],
    column_config={
        "changed settings": column.TextColumn(help="The settings that differ from the algorithm's preset."),
        "state": column.TextColumn(help="queued, running, finished, stopped, failed, diverged, interrupted (the "
                                        "server restarted) or damaged (its files are incomplete)."),
        "env steps": column.NumberColumn(format="localized"),
        "final mean": column.TextColumn(help="Mean return of the last 100 training episodes, once the run has ended."),
        "solved at step": column.TextColumn(help="The step at which the last-100 mean reached the env's threshold."),
        "mine": column.CheckboxColumn(help="Started or opened by this browser."),
    },
)
picked = [shown["run_id"][row] for row in selection.selection.rows]
st.caption(f"{len(shown)} of {len(table)} runs shown. Select rows (the boxes on the left) to act on them.")

open_column, inside_column, compare_column, theory_column = st.columns(4)
if open_column.button("Open in Train", icon=":material/play_circle:", disabled=len(picked) != 1, width="stretch",
                      help="Watch this run on the Train page: its curve, its videos, and Stop if it is training."):
    st.switch_page("pages/train.py", query_params={"run": picked[0], "sid": sid})
if compare_column.button("Send to Compare", icon=":material/compare_arrows:", disabled=not picked, width="stretch",
                         help="Each distinct setting becomes a configuration on Compare, with the picked runs' seeds."):
    problem = send_runs_to_compare(picked)
    if problem:
        st.warning(problem)
    else:
        st.switch_page("pages/compare.py", query_params={"sid": sid})
finished = len(picked) == 1 and store.status(picked[0]).state == "finished"
if inside_column.button("Look inside", icon=":material/visibility:", disabled=not finished, width="stretch",
                        help="Scrub through this run's checkpoints and read its V(s), pi(a|s) and TD errors step by step."):
    st.switch_page("pages/inside.py", query_params={"run": picked[0], "sid": sid})
if theory_column.button("Open in Theory", icon=":material/functions:", disabled=not finished, width="stretch",
                        help="Fill the Theory page's formulas with this run's trained networks (finished runs)."):
    store.watch(picked[0], sid)  # it joins this browser's runs, which Theory offers
    st.session_state["theory_pick"] = picked[0]
    st.switch_page("pages/theory.py", query_params={"sid": sid})
