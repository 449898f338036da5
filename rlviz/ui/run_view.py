"""The view of one run: its settings, progress, the live reward curve, diagnostics, videos and the download."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from rlviz.config import Config, ConfigError, changed_fields, format_value, run_label
from rlviz.envs import env_info
from rlviz.feeds import RunFeed, feed
from rlviz.plots import (MAX_POINTS, diagnostics_figure, in_env_units, metric_label, readable_number, reward_curve,
                         thinning_stride)
from rlviz.runs import RunStatus, bundle_zip
from rlviz.ui.config_form import load_into_form
from rlviz.ui.store import get_store, session_id

# The live view reruns this often: over once a second for the curve, and each redraw of the
# chart costs the browser real CPU that a run on the same cores would otherwise get.
POLL_SECONDS = 0.8
# The live curve shows at most this many dots; the finished run's curve shows up to plots.MAX_POINTS.
# Without a GPU the browser paints the SVG dots in software on every poll: beside a live a2c
# LunarLander run chromium took 41-66% of a core with up to 2,000 dots, 37% with 500 (bench/RESULTS.md).
LIVE_MAX_POINTS = 500
# The first draw of a run waits at most this long for its first episodes, so a fresh run's curve
# starts with points instead of one poll later.
FIRST_POINTS_WAIT_SECONDS = 0.5
DQN_METRICS = ("td_loss", "mean_abs_td_error", "q_mean", "epsilon", "grad_norm")
AC_METRICS = ("actor_loss", "critic_loss", "entropy", "mean_abs_td_error", "value_mean", "grad_norm",
              "explained_variance", "actor_grad_norm",  # the actor's own norm only with separate networks
              "clip_fraction", "approx_kl")  # the last two only where a clipped ratio is used (PPO)
STATE_NAMES = {"queued": "Queued", "running": "Training", "finished": "Finished", "stopped": "Stopped",
               "failed": "Failed", "diverged": "Diverged", "interrupted": "Interrupted", "damaged": "Damaged",
               "running elsewhere": "Training elsewhere", "missing": "Missing"}


def state_label(status: RunStatus) -> str:
    return STATE_NAMES.get(status.state, status.state.capitalize())


def run_panel(run_id: str, session: str, cached: bool = False) -> None:
    """Everything about one run; polls while it trains, then shows its results."""
    store = get_store()
    status = store.status(run_id)
    if status.state == "missing":
        st.warning("This run's files are gone (its directory was removed). Train it again.")
        return
    try:
        config = store.config(run_id)
    except ConfigError as error:
        st.error(f"This run cannot be shown: {error}. Train it again from the form.", icon=":material/broken_image:")
        return
    _settings(config, run_id)
    if status.done:
        _finished_view(run_id, config, status, cached)
    else:
        _live_view(run_id, config, session)


def _settings(config: Config, run_id: str) -> None:
    """The run's name and its settings, the ones that differ from the preset first."""
    changed = changed_fields(config)
    st.markdown(f"#### {run_label(config)}")
    summary = ", ".join(f"{name} = {format_value(name, value)}" for name, value in changed.items())
    with st.expander(f"Settings: {'changed from the preset: ' + summary if changed else 'the preset'}",
                     icon=":material/tune:"):
        order = [*changed, *(name for name in config.to_dict() if name not in changed and name != "algo")]
        rows = [{"setting": name, "value": format_value(name, getattr(config, name)), "changed": name in changed}
                for name in order]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                     column_config={"changed": st.column_config.CheckboxColumn("changed from the preset")})
        st.button("Load these settings into the form", icon=":material/input:", key=f"load:{run_id}",
                  on_click=load_into_form, args=(config,),
                  help="The form above takes this run's algorithm, environment and every setting, to train a variant.")


@st.fragment(run_every=POLL_SECONDS)
def _live_view(run_id: str, config: Config, session: str) -> None:
    store = get_store()
    status = store.status(run_id)
    if status.done:
        st.rerun()  # the whole page redraws once, as the finished view, and polling stops
    _progress(status, store.is_watching(run_id, session))
    run_feed = feed(store.run_dir(run_id))
    if run_feed.episode_count == 0 and status.state == "running":
        deadline = time.monotonic() + FIRST_POINTS_WAIT_SECONDS
        while run_feed.episode_count == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
            run_feed.refresh()
    _curve(run_feed, config, run_id, max_points=LIVE_MAX_POINTS)
    _diagnostics(run_feed, config, run_id)


def _progress(status: RunStatus, watching: bool) -> None:
    # The progress bar comes first and the notes after it, so a note that comes or goes never
    # moves the bar (a moved element is drawn twice while the page redraws).
    if status.state == "queued":
        wait = f", about {_duration(status.wait_seconds)} to wait" if status.wait_seconds is not None else ""
        position = f"number {status.queue_position} in the queue" if status.queue_position else "waiting"
        st.progress(0.0, text=f"Queued: {position}{wait}. Every worker is busy; queued runs start in turn, a "
                              "student with nothing training first.")
    elif status.steps_per_second <= 0:
        st.progress(0.0, text=f"Starting{' ' + status.where if status.where else ''}: loading the networks and "
                              "the environment…")
    else:
        eta = f"ETA {_duration(status.eta_seconds)}" if status.eta_seconds is not None else ""
        mean = f" · last-100 mean {status.last_100_mean:.1f}" if status.last_100_mean is not None else ""
        where = f" {status.where}" if status.where else ""
        st.progress(status.progress, text=f"Training{where}: {status.env_steps:,} / {status.total_steps:,} env steps · "
                                          f"{status.steps_per_second:,.0f} steps/s · {eta}{mean}")
    others = status.watchers - (1 if watching else 0)
    if not watching:
        st.info(f"You stopped watching this run. It keeps training because {others} other session"
                f"{'s watch' if others != 1 else ' watches'} it; its result will be in the Runs library.",
                icon=":material/group:")
    elif others > 0:
        st.caption(f":material/group: Shared: also watched by {others} other session{'s' if others > 1 else ''}. "
                   "Your Stop only stops it for you while someone else still watches.")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


def _curve(run_feed: RunFeed, config: Config, run_id: str, max_points: int = MAX_POINTS) -> None:
    table = run_feed.episode_table()
    episodes = pd.DataFrame({name: table[name] for name in ("env_step", "episode_return", "mean_return")})
    threshold = env_info(config.env_id).solve_threshold
    st.plotly_chart(reward_curve(episodes, threshold, max_points=max_points), width="stretch", key=f"curve:{run_id}")
    stride = thinning_stride(len(episodes), max_points) * run_feed.episode_stride
    if not len(episodes):
        st.caption("The curve gains a point each time an episode ends.")
    elif stride > 1:
        st.caption(f"{run_feed.episode_count:,} episodes: the dots show every {_ordinal(stride)} one, to keep the "
                   "chart quick to draw; the mean line averages all of them.")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _diagnostics(run_feed: RunFeed, config: Config, run_id: str) -> None:
    metrics = DQN_METRICS if config.algo == "dqn" else AC_METRICS
    # on_change="rerun" makes the expander report whether it is open: its charts are built and sent
    # only then, not on every poll of a live run nobody is looking at.
    panel = st.expander("Diagnostics: losses, entropy, TD error, gradient norm", key=f"diagnostics:{run_id}", on_change="rerun")
    if not panel.open:
        return
    with panel:
        updates = run_feed.update_table()
        if not updates:
            st.caption("No update yet: the learner has not started (DQN waits for learning_starts steps).")
            return
        latest = run_feed.latest_metrics
        reward_scale = getattr(config, "reward_scale", 1.0)  # only actor-critics scale rewards
        shown = [name for name in metrics if name in latest]
        # Three tiles a row, as the panels below: the labels carry their units and need the width.
        for start in range(0, len(shown), 3):
            for tile, name in zip(st.columns(3), shown[start:start + 3]):
                tile.metric(metric_label(name, reward_scale), readable_number(in_env_units(name, latest[name], reward_scale)))
        st.plotly_chart(diagnostics_figure(pd.DataFrame(updates), metrics, reward_scale), width="stretch",
                        key=f"diag:{run_id}")


def _finished_view(run_id: str, config: Config, status: RunStatus, cached: bool) -> None:
    store = get_store()
    run_dir = store.run_dir(run_id)
    run_feed = feed(run_dir)
    if status.state == "failed":
        st.error(f"Training failed: {status.error}", icon=":material/error:")
    elif status.state == "diverged":
        st.error(f"**Diverged.** {status.error}", icon=":material/trending_up:")
    elif status.state == "interrupted":
        st.warning("This run was interrupted when the app restarted. Press Train to run it again.")
    elif status.state == "damaged":
        st.warning(f"This run's files are damaged: {status.error}. Press Train with the same settings to train it "
                   "again.", icon=":material/broken_image:")
    elif status.state == "running elsewhere":
        st.info("Another process is writing this run (a server that was restarted?). Its results appear when it ends.")
    elif status.state == "stopped":
        st.info(f"Stopped at step {status.env_steps:,} of {status.total_steps:,}. Stopped runs are not cached.")
    finished = run_feed.finished if status.state in ("finished", "stopped", "diverged") else None
    if finished is not None:
        badge = " · :green-badge[cached: trained before, loaded from disk]" if cached else ""
        st.markdown(f"**{state_label(status)}** in {finished['wall_seconds']:.1f} s "
                    f"({finished['steps_per_second']:,.0f} steps/s){badge}")
        tiles = st.columns(4)
        solved = finished["solved_at_step"]
        tiles[0].metric("Solved at step", f"{solved:,}" if solved is not None else "not solved")
        final_mean = finished["final_mean_return"]
        tiles[1].metric("Mean of last 100 episodes", readable_number(final_mean) if final_mean is not None else "-")
        eval_mean = finished["eval_mean_return"]
        tiles[2].metric(f"Greedy evaluation ({config.eval_episodes} episodes)",
                        readable_number(eval_mean) if eval_mean is not None else "-")
        tiles[3].metric("Episodes", f"{finished['episodes']:,}")
    _curve(run_feed, config, run_id)
    if finished is not None and status.state != "diverged":  # a diverged run's weights hold NaNs
        if st.button("Look inside this agent", icon=":material/visibility:", key=f"inside:{run_id}",
                     help="Scrub through its checkpoints: play an episode and read V(s), pi(a|s) and the TD error "
                          "at every step, and see the value and policy maps form."):
            st.switch_page("pages/inside.py", query_params={"run": run_id, "sid": session_id()})
    _videos(run_feed)
    _diagnostics(run_feed, config, run_id)
    if finished is not None:
        # A callable: the zip is built when the student clicks, not on every rerun of the page.
        st.download_button("Download this run (.zip)", data=lambda: bundle_zip(run_dir), file_name=f"rlviz-{config.algo}-"
                           f"{config.env_id}-seed{config.seed}-{run_id}.zip", mime="application/zip",
                           icon=":material/download:", key=f"download:{run_id}", on_click="ignore")


def _videos(run_feed: RunFeed) -> None:
    if not run_feed.videos:
        return
    st.subheader("The greedy policy through training")
    columns = st.columns(len(run_feed.videos))
    for column, video in zip(columns, run_feed.videos):
        with column:
            st.video(video["path"])
            st.caption(f"{video['label']}: return {video['episode_return']:.1f} over {video['length']} steps")
