"""The parts of the Inside the agent page: pick a run and a checkpoint, step through its episode, map V and pi."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from rlviz.config import Config, ConfigError, DQNConfig, run_label
from rlviz.envs import env_info
from rlviz.feeds import feed
from rlviz.inside import (
    ACTION_NAMES,
    EPISODE_SEED,
    EpisodeReplay,
    EpisodeTrace,
    PolicyMap,
    episode_trace,
    policy_map,
    reading_guide,
    run_checkpoints,
)
from rlviz.plots import checkpoint_curve, episode_timeline, readable_number, state_maps
from rlviz.runs import RunStore
from rlviz.theory import load_run_agent

RUN_KEY = "inside:run"
STEP_KEY = "inside:t"  # one step slider for every episode: t stays put when the checkpoint changes
PLAYING_KEY = "inside:playing"
REPLAY_KEY = "inside:replay"  # this session's frame renderer: (episode, EpisodeReplay)
# The timeline and the maps charts; in KEY + ":figure", this session's (episode, go.Figure): a figure is
# built once per episode (Plotly takes ~0.1 s to build each), not again when a click on the timeline reruns the page.
TIMELINE_KEY = "inside:timeline"
MAPS_KEY = "inside:maps"
PLAY_SECONDS = 0.25  # one frame of the playback per tick
PLAY_TICKS = 120  # a whole episode plays in about this many ticks (30 s), whatever its length


def pick_run(store: RunStore, session: str) -> str | None:
    """The run to look inside: ?run=<id> (from Train or Runs), else one of this browser's ended runs."""
    opened = st.query_params.get("run")
    if opened and opened != st.session_state.get("inside:opened") and store.run_dir(opened).is_dir():
        st.session_state["inside:opened"] = opened
        store.watch(opened, session)  # it joins this browser's runs
        st.session_state[RUN_KEY] = opened
    runs = [run_id for run_id in store.session_runs(session)
            if store.status(run_id).done and run_checkpoints(store.run_dir(run_id))]
    if not runs:
        st.info("Nothing to look inside yet: train a run on **Train** (it keeps its weights at 20 points of training), "
                "or open one from the **Runs** library, then come back. A run shows here once it has ended.",
                icon=":material/visibility:")
        return None
    if st.session_state.get(RUN_KEY) not in runs:
        st.session_state[RUN_KEY] = runs[0]
    run_id = st.selectbox("Run", runs, key=RUN_KEY, format_func=lambda rid: _run_name(store, rid),
                          help="The runs this browser trained or opened that have ended, newest first.")
    st.query_params["run"] = run_id  # a reload or a shared link comes back to this run
    return run_id


def _run_name(store: RunStore, run_id: str) -> str:
    try:
        return f"{run_label(store.config(run_id))} · {store.status(run_id).state}"
    except ConfigError:
        return f"run {run_id[:6]} (unreadable settings)"


@st.cache_data(max_entries=32, show_spinner=False)
def inspect_checkpoint(run_dir: str, weights: str, written_ns: int, step: int, seed: int) -> tuple[EpisodeTrace, PolicyMap]:
    """One checkpoint's greedy episode and maps, shared by every session. ``written_ns``, the file's
    modification time, is part of the key: a stopped run trained again rewrites its checkpoints."""
    config, agent = load_run_agent(Path(run_dir), Path(weights))
    return episode_trace(config, agent, step, seed), policy_map(config, agent)


def inside_view(store: RunStore, run_id: str) -> None:
    run_dir = store.run_dir(run_id)
    points = run_checkpoints(run_dir)
    steps = [step for step, _ in points]
    checkpoint_key = f"inside:{run_id}:checkpoint"
    if st.session_state.get(checkpoint_key) not in steps:
        st.session_state[checkpoint_key] = steps[-1]

    # --- the curve and the checkpoint ---------------------------------------------------------
    config = store.config(run_id)
    guide = reading_guide(config)
    table = feed(run_dir).episode_table()
    episodes = pd.DataFrame({name: table[name] for name in ("env_step", "episode_return", "mean_return")})
    means = np.interp(steps, episodes["env_step"], episodes["mean_return"]) if len(episodes) else np.zeros(len(steps))
    curve_key = f"inside:{run_id}:curve"
    st.plotly_chart(checkpoint_curve(episodes, steps, means.tolist(), st.session_state[checkpoint_key],
                                     env_info(config.env_id).solve_threshold),
                    key=curve_key, on_select=partial(_select_nearest_checkpoint, curve_key, checkpoint_key, steps),
                    selection_mode="points", width="stretch")
    slider_column, seed_column = st.columns([4, 1], vertical_alignment="bottom")
    step = slider_column.select_slider(
        "Checkpoint", steps, key=checkpoint_key,
        format_func=lambda s: f"step {s:,} ({steps.index(s) + 1} of {len(steps)})",
        help="The weights the run had at that point of training. Clicking a point of the curve picks the nearest one.")
    seed = seed_column.number_input("Start state (seed)", 0, 9_999, EPISODE_SEED, key="inside:seed",
                                    help="The episode's reset seed: every checkpoint plays from this same start.")
    st.caption(guide["checkpoints"])
    if store.status(run_id).state == "diverged":
        st.warning("This run diverged: the checkpoints after its values or gradients turned non-finite show NaN. "
                   "The earlier ones show how it got there.", icon=":material/trending_up:")
    if len(points) == 1:
        st.caption("This run was trained before rlviz kept checkpoints: only its final weights are here. Train it again "
                   "to scrub through its training.")

    weights = dict(points)[step]
    written_ns = weights.stat().st_mtime_ns
    trace, maps = inspect_checkpoint(str(run_dir), str(weights), written_ns, step, int(seed))
    st.markdown(f"**Checkpoint at step {step:,}**: the greedy policy's episode from seed {seed} lasted "
                f"{trace.length} steps and returned {trace.episode_return:.1f} "
                f"({'it ended in a terminal state' if trace.terminated else 'the time limit cut it'}).")
    playing = st.session_state.get(PLAYING_KEY, False)
    episode = f"{run_dir}:{step}:{written_ns}:{seed}"  # names this episode in the session's renderer and figures
    st.fragment(_episode_view, run_every=PLAY_SECONDS if playing else None)(config, trace, guide, episode)

    # The whole episode at once, outside the fragment: redrawing this chart at every step took ~0.2 s of
    # the browser's time (bench/inside_timing.py). Built once per episode; a click on it moves t there.
    dqn = isinstance(config, DQNConfig)
    timeline = _session_held(TIMELINE_KEY + ":figure", episode, lambda: episode_timeline(
        np.arange(trace.length), trace.values, trace.returns_to_go, trace.td_errors, None if dqn else trace.advantages,
        trace.rewards, "max_a Q(s_t, a)" if dqn else "V(s_t)"))
    st.plotly_chart(timeline, width="stretch", key=TIMELINE_KEY, on_select=partial(_jump_to_step, TIMELINE_KEY),
                    selection_mode="points")
    st.caption(guide["timeline"] + " Click a dot of the blue line to move step t there.")

    st.subheader("The value and the policy over the state space")
    maps_figure = _session_held(MAPS_KEY + ":figure", episode, lambda: _maps_figure(config, trace, maps))
    st.plotly_chart(maps_figure, width="stretch", key=MAPS_KEY)
    st.caption(guide["map"])


def _select_nearest_checkpoint(curve_key: str, checkpoint_key: str, steps: list[int]) -> None:
    points = st.session_state[curve_key].selection.points
    if points:
        clicked = points[0]["x"]
        st.session_state[checkpoint_key] = min(steps, key=lambda step: abs(step - clicked))


def _session_held(slot: str, episode: str, make):
    """This session's object for ``episode`` in ``slot``, made (and the previous one dropped) when the episode changes."""
    held = st.session_state.get(slot)
    if held is not None and held[0] == episode:
        return held[1]
    if held is not None and hasattr(held[1], "close"):
        held[1].close()
    made = make()
    st.session_state[slot] = (episode, made)
    return made


def _episode_view(config: Config, trace: EpisodeTrace, guide: dict[str, str], episode: str) -> None:
    """The frame at step t and the numbers at t; a fragment, so moving t redraws only this."""
    last = trace.length - 1
    playing = st.session_state.get(PLAYING_KEY, False)
    wanted = st.session_state.get(STEP_KEY, 0)
    if playing:  # one tick of the playback
        wanted += max(1, trace.length // PLAY_TICKS)
    st.session_state[STEP_KEY] = wanted = min(wanted, last)
    # A slider's state is reset when its range changes, so the step lives in STEP_KEY and each episode
    # length has its own slider, set from it: t stays put when another checkpoint is picked.
    slider_key = f"{STEP_KEY}:{last}"
    st.session_state[slider_key] = wanted
    dqn = isinstance(config, DQNConfig)
    names = ACTION_NAMES[config.env_id]

    frame_column, numbers_column = st.columns(2, gap="large")
    with frame_column:
        slider_column, button_column = st.columns([3, 1], vertical_alignment="bottom")
        t = min(last, slider_column.slider("Step t of the episode", 0, max(last, 1), key=slider_key, disabled=last == 0,
                                           on_change=_keep_step, args=(slider_key,)))
        if button_column.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                                key="inside:play", width="stretch", on_click=_toggle_playback, args=(t >= last,),
                                help="Play the episode from step t, about 4 frames a second."):
            st.rerun()  # the whole page, so the fragment starts or stops its timer
        replay = _session_held(REPLAY_KEY, episode, lambda: EpisodeReplay(config.env_id, trace.seed, trace.actions))
        st.image(replay.frame(t), caption=f"s_{t}: the state at step {t} of {trace.length}", width="stretch")
    with numbers_column:
        value_name = "max_a Q(s_t, a)" if dqn else "V(s_t)"
        tiles = [(value_name, trace.values[t], "The network's estimate of the return from here."),
                 ("Return from t", trace.returns_to_go[t], "What the episode really paid from step t on, discounted by γ."),
                 ("Reward", trace.rewards[t], "r_t: what the env paid for this step."),
                 ("TD error", trace.td_errors[t], "δ_t = r_t + γ V(s_t+1) − V(s_t): this step's surprise."),
                 ("Advantage", None if dqn else trace.advantages[t],
                  "DQN has no actor and no advantage: the greedy action's Q minus max Q is 0." if dqn else
                  "A_t: the learner's target for this step minus V(s_t), what pushes the actor."),
                 ("Target", trace.targets[t],
                  "What the run's own learner trains " + ("Q(s_t, a_t)" if dqn else "V(s_t)") + " towards at this step.")]
        for row in range(0, len(tiles), 3):
            for column, (label, number, help_text) in zip(st.columns(3), tiles[row:row + 3]):
                column.metric(label, "-" if number is None else readable_number(float(number)), help=help_text)
        _action_bars(trace.action_outputs[t], names, int(trace.actions[t]), t, dqn)
        st.caption(guide["actions"])
    st.caption(guide["numbers"])
    if playing and t >= last:  # the episode's end: stop the timer
        st.session_state[PLAYING_KEY] = False
        st.rerun()


def _action_bars(outputs: np.ndarray, names: tuple[str, ...], taken: int, t: int, dqn: bool) -> None:
    """One bar per action: pi(a|s_t), or Q(s_t, a) as a share of the largest |Q|; the taken one says so.
    Progress bars, not a chart: they redraw at once as t moves."""
    st.markdown(f"**Q(s_{t}, a)**, bars scaled to the largest" if dqn else f"**pi(a | s_{t})**")
    largest = max(float(np.abs(outputs).max()), 1e-12)
    for action, (name, output) in enumerate(zip(names, outputs)):
        share = abs(float(output)) / largest if dqn else float(output)
        label = f"{name}: {'Q' if dqn else 'pi'} = {readable_number(float(output))}"
        st.progress(min(1.0, max(0.0, share)), text=f"**{label} ← taken**" if action == taken else label)


def _jump_to_step(chart_key: str) -> None:
    points = st.session_state[chart_key].selection.points
    if points:
        st.session_state[STEP_KEY] = int(points[0]["x"])


def _keep_step(slider_key: str) -> None:
    st.session_state[STEP_KEY] = st.session_state[slider_key]


def _toggle_playback(at_the_end: bool) -> None:
    playing = not st.session_state.get(PLAYING_KEY, False)
    st.session_state[PLAYING_KEY] = playing
    if playing and at_the_end:  # play again from the start
        st.session_state[STEP_KEY] = 0


def _maps_figure(config: Config, trace: EpisodeTrace, maps: PolicyMap):
    axes = maps.axes
    dqn = isinstance(config, DQNConfig)
    names = ACTION_NAMES[config.env_id]
    if len(names) == 2 and dqn:
        policy = maps.outputs[..., 1] - maps.outputs[..., 0]
        policy_title = "Q(s, push right) − Q(s, push left)"
        colors = dict(colorscale="RdBu", zmid=0.0, colorbar=dict(title="right − left", thickness=12))
    elif len(names) == 2:
        policy = maps.outputs[..., 1]
        policy_title = "pi(push right | s)"
        colors = dict(colorscale="RdBu", zmin=0.0, zmax=1.0, colorbar=dict(title="pi(right)", thickness=12))
    else:  # several actions: the one the policy prefers, one colour each
        policy = maps.outputs.argmax(axis=-1)
        policy_title = "the action it prefers" + (" (largest Q)" if dqn else " (most probable)")
        palette = ("#e5e7eb", "#2563eb", "#dc2626", "#16a34a")[:len(names)]  # nothing grey, engines in colour
        count = len(names)
        scale = [[edge, color] for i, color in enumerate(palette) for edge in (i / count, (i + 1) / count)]
        colors = dict(colorscale=scale, zmin=-0.5, zmax=len(names) - 0.5,
                      colorbar=dict(tickvals=list(range(len(names))), ticktext=list(names), thickness=12))
    value_title = ("max_a Q(s, a)" if dqn else "V(s)") + ", env units"
    return state_maps(maps.xs, maps.ys, maps.values, policy, axes.x_label, axes.y_label, value_title, policy_title,
                      colors, trace.observations[:, axes.x_index], trace.observations[:, axes.y_index])
