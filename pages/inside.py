"""Inside the agent: scrub through a run's checkpoints and watch V(s), pi(a|s) and the TD error step by step."""

import streamlit as st

from rlviz.ui.inside import inside_view, pick_run
from rlviz.ui.router import require_router
from rlviz.ui.store import session_id, store_or_stop

require_router()

st.title("Inside the agent")
st.markdown("Pick a point of training, play the agent's episode from a fixed start, and read what its networks say "
            "at every step: the value it expects, the action probabilities, the TD error, and the return it really got.")
sid = session_id()
store = store_or_stop()
run_id = pick_run(store, sid)
if run_id is not None:
    inside_view(store, run_id)
