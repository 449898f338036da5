"""Home: what rlviz teaches, how to read a learning curve, where to start."""

import streamlit as st

from rlviz.config import ALGOS
from rlviz.envs import ENVS
from rlviz.ui.router import require_router

require_router()

st.title("rlviz: deep reinforcement learning you can watch")
st.markdown(
    "Train real PyTorch agents on Gymnasium environments, watch them learn live, read the maths "
    "filled in with the numbers of your own run, and compare algorithms side by side."
)

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Where to start")
    st.markdown(
        "1. Open **Train**, keep the preset *A2C (parallel envs)* on *CartPole-v1* and press **Train**. "
        "Its 32 envs solve CartPole after about 250,000 steps, some 10 seconds on a free core: the run stops "
        "as soon as its last 100 episodes average 475, and 10 greedy episodes then score it (500 on 9 of 10 "
        "seeds we measured). Turn *Stop when solved* off to see what can happen after solving.\n"
        "2. Watch the videos under the curve: the same network at the start, a quarter of the way, "
        "halfway and at the end.\n"
        "3. Change one slider (the discount gamma, the number of envs, the entropy coefficient) and "
        "train again. A configuration you already trained comes back at once from the cache."
    )
    st.page_link("pages/train.py", label="Go to Train", icon=":material/play_circle:")
    st.markdown(
        "4. Press **Look inside this agent** under the finished run's curve: pick a point of training and "
        "step through an episode while the agent's V(s), its action probabilities and its TD errors change "
        "frame by frame, and watch its value and policy maps take shape from checkpoint to checkpoint."
    )
    st.page_link("pages/inside.py", label="Go to Inside the agent", icon=":material/visibility:")
    st.markdown(
        "5. Then break it on purpose in the **Bug lab**: switch on a bug that tutorials really make (a time "
        "limit treated as a terminal state, a value of shape (B, 1) against targets of shape (B,), ...), "
        "predict what it will do, and train the correct and the buggy code side by side."
    )
    st.page_link("pages/bug_lab.py", label="Go to the Bug lab", icon=":material/bug_report:")

    st.subheader("How to read a learning curve")
    st.markdown(
        "- Each **dot** is one training episode: its return (the sum of its rewards) against the "
        "environment step at which it ended.\n"
        "- The **line** is the moving average of the last 100 episodes. Single episodes are noisy, "
        "especially while the agent still explores; the average is what to judge.\n"
        "- The dashed **threshold** is where the environment counts as solved (475 on CartPole, 200 on "
        "LunarLander): the run is *solved* when the 100-episode average crosses it.\n"
        "- A curve that rises then **collapses** is a lesson too: a learning rate too high, targets "
        "that move too fast (DQN with tau = 1), or a policy that stopped exploring."
    )
with right:
    st.subheader("The algorithms")
    for info in ALGOS.values():
        st.markdown(f"**{info.display_name}**: {info.summary}")
    st.subheader("The environments")
    for env in ENVS.values():
        st.markdown(f"**{env.env_id}**: {env.description} Solved at {env.solve_threshold:g}.")
