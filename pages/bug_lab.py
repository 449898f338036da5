"""Bug lab: switch a classic bug on in the real code, predict, and watch what it does to learning."""

import streamlit as st

from rlviz.ui.bug_lab import describe, how_to_spot, pick_bug, predict, results, run_controls, seeds_input, setup_text
from rlviz.ui.router import require_router

require_router()

st.title("Bug lab")
st.markdown(
    "The tutorials behind rlviz's presets, and the issue trackers of every RL library, are full of the same few "
    "bugs. Each one below is a switch in the agents that train every other run: pick one, read the line it "
    "changes, **predict** what it will do, then train the correct and the buggy version side by side on the same "
    "seeds and read the diagnostic that gives it away."
)

bug = pick_bug()
describe(bug)

st.subheader("Predict, then run")
left, right = st.columns([4, 1], vertical_alignment="bottom")
with right:
    seeds = seeds_input(bug)
with left:
    st.markdown(setup_text(bug, seeds))
prediction = predict(bug)
comparison = run_controls(bug, seeds, prediction)

if comparison is not None:
    st.divider()
    results(bug, comparison, prediction)
how_to_spot(bug)
