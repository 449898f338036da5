"""Compare: several configurations over several seeds, their mean curves with bands, live."""

import streamlit as st

from rlviz.compare import MAX_CONFIGS, READY_MADE
from rlviz.ui.compare_form import (add_buttons, comparison_size, comparison_view, configurations_form,
                                   current_comparison, display_controls, is_running, load_ready_made, ready_made_size,
                                   seeds_form, start_comparison, stop_comparison)
from rlviz.ui.router import require_router

require_router()

st.title("Compare configurations")
st.markdown(
    "One run is one draw: the same settings with another seed can learn much faster or not at all. "
    f"Here 2 to {MAX_CONFIGS} configurations each train with the **same seeds**, and the figure shows "
    "every configuration's mean curve over its seeds with a band, so you can tell a real difference from luck."
)

seeds = seeds_form()

st.subheader("Start from a ready-made comparison")
st.caption("One click loads the configurations below and starts them with the seeds above.")
ready_columns = st.columns(2)
for index, ready in enumerate(READY_MADE):
    with ready_columns[index % 2], st.container(border=True):
        if st.button(ready.name, key=f"cmp:ready:{index}", width="stretch", icon=":material/play_arrow:"):
            start_comparison(ready.labels, load_ready_made(ready), seeds)
        st.caption(f"{ready.describe()} {ready_made_size(ready, seeds)}")

st.subheader("Or build your own")
add_buttons()
labels, configs, problems = configurations_form()

for problem in problems:
    st.warning(problem, icon=":material/error:")
comparison = current_comparison()
run_column, stop_column, note_column = st.columns([1, 1, 4], vertical_alignment="center")
if run_column.button("Run comparison", type="primary", icon=":material/play_arrow:", disabled=bool(problems),
                     width="stretch", key="cmp:run",
                     help="Trains every configuration with every seed. A comparison still running keeps its runs "
                          "going: press Stop first to free the workers."):
    comparison = start_comparison(labels, configs, seeds)
if stop_column.button("Stop", icon=":material/stop:", disabled=not is_running(comparison), width="stretch",
                      key="cmp:stop", help="Stop every run of this comparison that is still queued or training."):
    stop_comparison(comparison)
    st.toast("Stopping: queued runs will not start, running ones stop after their current episode.")
if not problems:
    note_column.caption(comparison_size(configs, seeds))

st.divider()
if comparison is None:
    st.info("Start a ready-made comparison, or set up your configurations and press **Run comparison**. "
            "The curves appear here and grow while the runs train.")
else:
    st.subheader("Results")
    comparison_view(comparison, display_controls())
