"""The view of one run: progress, the live reward curve, diagnostics, videos and the download."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from rlviz.config import Config
from rlviz.envs import env_info
from rlviz.plots import MAX_POINTS, METRIC_LABELS, diagnostics_figure, reward_curve, thinning_stride
from rlviz.runs import RunStatus, bundle_zip, read_events
from rlviz.ui.store import get_store

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
AC_METRICS = ("actor_loss", "critic_loss", "entropy", "mean_abs_td_error", "value_mean", "grad_norm")


@dataclass
class RunEvents:
    """The events of one run read so far; each poll reads only what was appended since."""

    offset: int = 0
    episodes: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    videos: list[dict[str, Any]] = field(default_factory=list)
    finished: dict[str, Any] | None = None

    def refresh(self, run_dir: Path) -> "RunEvents":
        events, self.offset = read_events(run_dir, self.offset)
        for event in events:
            kind = event["kind"]
            if kind == "episode":
                self.episodes.append(event)
            elif kind == "update":
                self.updates.append({"env_step": event["env_step"], **event["metrics"]})
            elif kind == "video":
                self.videos.append(event)
            elif kind == "finished":
                self.finished = event
        return self


def run_events(run_id: str, run_dir: Path) -> RunEvents:
    cache = st.session_state.setdefault("run_events", {})
    return cache.setdefault(run_id, RunEvents()).refresh(run_dir)


def run_panel(run_id: str, cached: bool = False) -> None:
    """Everything about one run; polls while it trains, then shows its results."""
    store = get_store()
    status = store.status(run_id)
    if status.state == "missing":
        st.warning("This run's files are gone (its directory was removed). Train it again.")
        return
    config = store.config(run_id)
    if status.done:
        _finished_view(run_id, config, status, cached)
    else:
        _live_view(run_id, config)


@st.fragment(run_every=POLL_SECONDS)
def _live_view(run_id: str, config: Config) -> None:
    store = get_store()
    status = store.status(run_id)
    if status.done:
        st.rerun()  # the whole page redraws once, as the finished view, and polling stops
    _progress(status, store.counts())
    run_dir = store.run_dir(run_id)
    first_draw = run_id not in st.session_state.get("run_events", {})  # run_events caches each run it reads
    data = run_events(run_id, run_dir)
    if first_draw:
        deadline = time.monotonic() + FIRST_POINTS_WAIT_SECONDS
        while not data.episodes and time.monotonic() < deadline:
            time.sleep(0.02)
            data.refresh(run_dir)
    _curve(data, config, run_id, max_points=LIVE_MAX_POINTS)
    _diagnostics(data, config, run_id)


def _progress(status: RunStatus, counts: dict[str, int]) -> None:
    if status.state == "queued":
        position = f"position {status.queue_position}" if status.queue_position else "waiting"
        st.progress(0.0, text=f"Queued ({position}): all {counts['running']} workers are busy; it starts when one is free.")
        return
    eta = f"ETA {status.eta_seconds:,.0f} s" if status.eta_seconds is not None else "starting…"
    mean = f" · last-100 mean {status.last_100_mean:.1f}" if status.last_100_mean is not None else ""
    st.progress(status.progress, text=f"Training: {status.env_steps:,} / {status.total_steps:,} env steps · "
                                      f"{status.steps_per_second:,.0f} steps/s · {eta}{mean}")


def _curve(data: RunEvents, config: Config, run_id: str, max_points: int = MAX_POINTS) -> None:
    episodes = pd.DataFrame(data.episodes, columns=["env_step", "episode_return"])
    threshold = env_info(config.env_id).solve_threshold
    st.plotly_chart(reward_curve(episodes, threshold, max_points=max_points), width="stretch", key=f"curve:{run_id}")
    stride = thinning_stride(len(episodes), max_points)
    if not data.episodes:
        st.caption("The curve gains a point each time an episode ends.")
    elif stride > 1:
        st.caption(f"{len(episodes):,} episodes: the dots show every {_ordinal(stride)} one, to keep the chart quick to draw; "
                   f"the mean line averages all of them.")


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _diagnostics(data: RunEvents, config: Config, run_id: str) -> None:
    metrics = DQN_METRICS if config.algo == "dqn" else AC_METRICS
    # on_change="rerun" makes the expander report whether it is open: its charts are built and sent
    # only then, not on every poll of a live run nobody is looking at.
    panel = st.expander("Diagnostics: losses, entropy, TD error, gradient norm", key=f"diagnostics:{run_id}", on_change="rerun")
    if not panel.open:
        return
    with panel:
        if not data.updates:
            st.caption("No update yet: the learner has not started (DQN waits for learning_starts steps).")
            return
        latest = data.updates[-1]
        tiles = st.columns(len(metrics))
        for tile, name in zip(tiles, metrics):
            if name in latest:
                tile.metric(METRIC_LABELS[name], f"{latest[name]:.4g}")
        st.plotly_chart(diagnostics_figure(pd.DataFrame(data.updates), metrics), width="stretch", key=f"diag:{run_id}")


def _finished_view(run_id: str, config: Config, status: RunStatus, cached: bool) -> None:
    store = get_store()
    run_dir = store.run_dir(run_id)
    data = run_events(run_id, run_dir)
    if status.state == "failed":
        st.error(f"Training failed: {status.error}")
    elif status.state == "interrupted":
        st.warning("This run was interrupted when the app restarted. Press Train to run it again.")
    elif status.state == "stopped":
        st.info(f"Stopped at step {status.env_steps:,} of {status.total_steps:,}. Stopped runs are not cached.")
    finished = data.finished
    if finished is not None:
        badge = " · :green-badge[cached: trained before, loaded from disk]" if cached else ""
        st.markdown(f"**{status.state.capitalize()}** in {finished['wall_seconds']:.1f} s "
                    f"({finished['steps_per_second']:,.0f} steps/s){badge}")
        tiles = st.columns(4)
        solved = finished["solved_at_step"]
        tiles[0].metric("Solved at step", f"{solved:,}" if solved is not None else "not solved")
        final_mean = finished["final_mean_return"]
        tiles[1].metric("Mean of last 100 episodes", f"{final_mean:.1f}" if final_mean is not None else "-")
        eval_mean = finished["eval_mean_return"]
        tiles[2].metric(f"Greedy evaluation ({config.eval_episodes} episodes)", f"{eval_mean:.1f}" if eval_mean is not None else "-")
        tiles[3].metric("Episodes", f"{finished['episodes']:,}")
    _curve(data, config, run_id)
    _videos(data)
    _diagnostics(data, config, run_id)
    if finished is not None:
        # A callable: the zip is built when the student clicks, not on every rerun of the page.
        st.download_button("Download this run (.zip)", data=lambda: bundle_zip(run_dir), file_name=f"rlviz-{config.algo}-"
                           f"{config.env_id}-seed{config.seed}-{run_id}.zip", mime="application/zip",
                           icon=":material/download:", key=f"download:{run_id}", on_click="ignore")


def _videos(data: RunEvents) -> None:
    if not data.videos:
        return
    st.subheader("The greedy policy through training")
    columns = st.columns(len(data.videos))
    for column, video in zip(columns, data.videos):
        with column:
            st.video(video["path"])
            st.caption(f"{video['label']}: return {video['episode_return']:.1f} over {video['length']} steps")
