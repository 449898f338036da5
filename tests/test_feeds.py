"""The shared, bounded feed of a run: what every session draws, whatever the run's length."""

import gc
import json
import tracemalloc

import numpy as np
from streamlit.testing.v1 import AppTest

from rlviz.config import make_config
from rlviz.feeds import FEEDS, MAX_EPISODE_POINTS, FeedCache, RunFeed, Thinned
from rlviz.rundir import write_status


def episode(number: int, value: float) -> str:
    return json.dumps(dict(kind="episode", env_step=10 * number, episode=number, episode_return=value, length=10,
                           terminated=True, truncated=False, wall_seconds=number / 100, recent_mean=0.0))


def write_episodes(run_dir, values, attempt="a"):
    run_dir.mkdir(parents=True, exist_ok=True)
    write_status(run_dir, state="running", attempt=attempt)
    (run_dir / "events.jsonl").write_text("".join(episode(i, v) + "\n" for i, v in enumerate(values, 1)))


def test_thinning_keeps_every_kth_row_and_the_newest_within_capacity():
    rows = Thinned(columns=1, capacity=8)
    for number in range(100):
        rows.offer([number], payload=number)
    assert rows.size <= 8 and rows.stride == 16
    assert rows.table()[:, 0].tolist() == [0, 16, 32, 48, 64, 80, 96, 99]
    assert rows.payload_list() == [0, 16, 32, 48, 64, 80, 96, 99]


def test_the_mean_line_averages_every_episode_even_when_the_dots_are_thinned(tmp_path):
    values = np.random.default_rng(0).normal(size=3 * MAX_EPISODE_POINTS)
    write_episodes(tmp_path / "run", values)
    table = RunFeed(tmp_path / "run").refresh().episode_table()
    assert len(table["env_step"]) <= MAX_EPISODE_POINTS + 1
    kept = (table["episode"] - 1).astype(int)
    expected = [values[max(0, index - 99): index + 1].mean() for index in kept]
    np.testing.assert_allclose(table["mean_return"], expected, atol=1e-9)
    assert table["episode"][-1] == len(values), "the newest episode is always drawn"


def test_reads_only_complete_lines_skips_garbage_and_starts_over_on_a_new_attempt(tmp_path):
    run_dir = tmp_path / "run"
    write_episodes(run_dir, [5.0])
    run_feed = RunFeed(run_dir).refresh()
    with open(run_dir / "events.jsonl", "a") as file:
        file.write("not json\n" + episode(2, 7.0)[:20])  # a garbage line, then half a line mid-write
    assert run_feed.refresh().episode_table()["episode_return"].tolist() == [5.0]
    with open(run_dir / "events.jsonl", "a") as file:
        file.write(episode(2, 7.0)[20:] + "\n")
    assert run_feed.refresh().episode_table()["episode_return"].tolist() == [5.0, 7.0]
    write_episodes(run_dir, [9.0], attempt="b")  # retrained from scratch: a new attempt
    assert run_feed.refresh().episode_table()["episode_return"].tolist() == [9.0]


def test_sessions_share_one_feed_per_run_and_idle_feeds_are_dropped(tmp_path):
    write_episodes(tmp_path / "run", [1.0, 2.0])
    cache = FeedCache(max_feeds=2, idle_seconds=60)
    assert cache.get(tmp_path / "run") is cache.get(tmp_path / "run")
    for name in ("b", "c"):
        write_episodes(tmp_path / name, [1.0])
        cache.get(tmp_path / name)
    assert len(cache) == 2, "at most max_feeds are kept, the least recently used dropped"
    cache.idle_seconds = 0
    cache.get(tmp_path / "run")
    assert len(cache) == 1


def _watch_run(run_id: str) -> None:
    from rlviz.ui.run_view import run_panel

    run_panel(run_id, session="viewer")


def test_ten_sessions_watching_a_long_run_hold_one_bounded_copy(tmp_path, monkeypatch):
    """10 sessions viewing a run of 200k episodes grow memory by < 50 MB, released when they end."""
    runs = tmp_path / "runs"
    monkeypatch.setenv("RLVIZ_RUNS_DIR", str(runs))
    monkeypatch.setenv("RLVIZ_MAX_WORKERS", "1")
    config = make_config("a2c", total_steps=2_000_000)
    run_dir = runs / config.run_hash()
    write_episodes(run_dir, np.random.default_rng(1).normal(20, 5, size=200_000))
    write_status(run_dir, state="stopped", attempt="a", env_steps=2_000_000, total_steps=2_000_000)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
    def watch():
        return AppTest.from_function(_watch_run, args=(config.run_hash(),), default_timeout=300).run()

    warm_up = watch()  # the first session imports the page's modules: memory that no session owns
    assert not warm_up.exception, warm_up.exception
    del warm_up
    FEEDS.clear()
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        sessions = []
        for _ in range(10):
            app = watch()
            assert not app.exception, app.exception
            assert "200,000 episodes" in " ".join(caption.value for caption in app.caption)
            sessions.append(app)
        grown = tracemalloc.get_traced_memory()[0] - baseline
        assert grown < 50e6, f"10 sessions took {grown / 1e6:.1f} MB"
        assert len(FEEDS) == 1, "one feed for the run, shared by all ten"
        del sessions, app
        FEEDS.idle_seconds = 0  # nobody has looked for a while
        FEEDS._evict(float("inf"))
        gc.collect()
        left = tracemalloc.get_traced_memory()[0] - baseline
        assert left < 5e6, f"{left / 1e6:.1f} MB stayed after the sessions ended"
    finally:
        tracemalloc.stop()
        FEEDS.idle_seconds = 120.0
