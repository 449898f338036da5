"""The run store: worker processes, the queue, the cache across restarts, stop requests."""

import sys
import time
import types

import pytest

from rlviz.config import make_config
from rlviz.runs import RunStore, read_events


def wait_for(store, run_id, states, seconds=120):
    deadline = time.monotonic() + seconds
    while store.status(run_id).state not in states:
        assert time.monotonic() < deadline, f"still {store.status(run_id).state}"
        time.sleep(0.1)
    return store.status(run_id)


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs", max_workers=1)
    yield store
    store.shutdown()


def test_queue_cache_restart_and_stop(store, tmp_path):
    tiny = make_config("a2c", total_steps=1_000, n_envs=4, eval_episodes=1)
    long = make_config("dqn", total_steps=200_000, eval_episodes=0)

    long_id, cached = store.submit(long)
    assert not cached
    tiny_id, _ = store.submit(tiny)
    assert store.submit(long) == (long_id, False), "the same config joins the run already going"
    wait_for(store, long_id, {"running"})
    queued = store.status(tiny_id)
    assert queued.state == "queued" and queued.queue_position == 1
    assert store.counts() == {"queued": 1, "running": 1}

    store.stop(long_id)  # a running run stops after its current episode; the queued one then starts
    stopped = wait_for(store, long_id, {"stopped"})
    assert 0 < stopped.env_steps < long.total_steps
    finished = wait_for(store, tiny_id, {"finished"})
    assert finished.env_steps >= tiny.total_steps and finished.episodes > 0
    kinds = {event["kind"] for event in read_events(store.run_dir(tiny_id))[0]}
    assert kinds == {"episode", "update", "video", "finished"}

    started = time.monotonic()
    assert store.submit(tiny) == (tiny_id, True), "a finished run comes back from the cache"
    assert time.monotonic() - started < 0.1
    restarted = RunStore(tmp_path / "runs", max_workers=1)  # a new server over the same directory
    assert restarted.submit(tiny) == (tiny_id, True)
    assert restarted.finished_runs() == [tiny_id]
    assert restarted.status(long_id).state == "stopped", "a stopped run is kept, not served as cached"


def test_a_queued_run_that_is_stopped_never_starts(store):
    first, _ = store.submit(make_config("dqn", total_steps=100_000, eval_episodes=0))
    second, _ = store.submit(make_config("a2c", total_steps=1_000, n_envs=4, eval_episodes=0))
    store.stop(second)
    assert wait_for(store, second, {"stopped"}).env_steps == 0
    store.stop(first)
    wait_for(store, first, {"stopped"})


def test_workers_start_without_rerunning_the_parents_main_script(tmp_path, monkeypatch):
    # Under Streamlit the parent's __main__ is the app's script; under AppTest a temporary file.
    # A spawned worker re-runs it unless the store hides it: this one would leave a mark and fail.
    script = tmp_path / "page.py"
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nraise SystemExit('a worker ran the page')\n")
    page = types.ModuleType("__main__")
    page.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", page)
    store = RunStore(tmp_path / "runs", max_workers=2)
    try:
        run_id, _ = store.submit(make_config("a2c", total_steps=1_000, n_envs=4, eval_episodes=0))
        assert wait_for(store, run_id, {"finished", "failed"}).state == "finished"
    finally:
        store.shutdown()
    assert sys.modules["__main__"] is page, "the parent's __main__ is put back"
    assert not (tmp_path / "ran").exists()
