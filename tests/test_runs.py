"""The run store: watchers, the fair queue, faults that stay in their run, damaged run directories."""

import json
import os
import signal
import sys
import time
import types

import pytest

from rlviz.config import make_config
from rlviz.rundir import read_events
from rlviz.runs import QueueFull, RunStore, RunStoreError

TINY = dict(total_steps=1_000, n_envs=4, eval_episodes=1)


def tiny(seed: int = 0):
    return make_config("a2c", seed=seed, **TINY)


def long_run(seed: int = 0):
    return make_config("dqn", seed=seed, total_steps=300_000, eval_episodes=0)


def wait_for(store, run_id, states, seconds=120):
    deadline = time.monotonic() + seconds
    while store.status(run_id).state not in states:
        assert time.monotonic() < deadline, f"still {store.status(run_id)}"
        time.sleep(0.05)
    return store.status(run_id)


def wait_for_progress(store, run_id, seconds=120):
    """Until the run has trained some steps (a run handed to a worker reads "running" at once)."""
    deadline = time.monotonic() + seconds
    while store.status(run_id).env_steps == 0:
        assert time.monotonic() < deadline, f"still {store.status(run_id)}"
        time.sleep(0.05)
    return store.status(run_id)


@pytest.fixture
def store(tmp_path):
    store = RunStore(tmp_path / "runs", max_workers=1)
    yield store
    store.shutdown()


def test_queue_cache_restart_and_stop(store, tmp_path):
    long = store.submit(long_run(), "alice")
    assert not long.cached
    small = store.submit(tiny(), "alice")
    wait_for_progress(store, long.run_id)
    queued = store.status(small.run_id)
    assert queued.state == "queued" and queued.queue_position == 1 and queued.wait_seconds > 0
    assert store.counts() == {"queued": 1, "running": 1}

    assert store.stop(long.run_id, "alice") == 0  # nobody else watches: it stops after its current episode
    stopped = wait_for(store, long.run_id, {"stopped"})
    assert 0 < stopped.env_steps < 300_000
    finished = wait_for(store, small.run_id, {"finished"})
    assert finished.env_steps >= 1_000 and finished.episodes > 0
    kinds = {event["kind"] for event in read_events(store.run_dir(small.run_id))[0]}
    assert kinds == {"episode", "update", "checkpoint", "video", "finished"}

    started = time.monotonic()
    assert store.submit(tiny(), "bob").cached, "a finished run comes back from the cache, for anyone"
    assert time.monotonic() - started < 0.1
    restarted = RunStore(tmp_path / "runs", max_workers=1)  # a new server over the same directory
    assert restarted.submit(tiny(), "carol").cached
    assert restarted.finished_runs() == [small.run_id]
    assert restarted.status(long.run_id).state == "stopped", "a stopped run is kept, not served as cached"
    assert restarted.session_runs("alice") == [small.run_id, long.run_id], "a browser finds its runs after a restart"


def test_a_worker_gives_the_server_the_cpu_first(store):
    """A student's click must not wait behind training: workers run at a lower priority, both as a
    process and as a scheduling group (Linux groups processes by session, and a worker has its own)."""
    from rlviz.executors import WORKER_NICE

    run = store.submit(long_run(), "alice")
    wait_for_progress(store, run.run_id)
    pid = store.executor.worker_pids()[run.run_id]
    assert os.getpriority(os.PRIO_PROCESS, pid) >= WORKER_NICE > os.getpriority(os.PRIO_PROCESS, 0)
    if os.path.exists(f"/proc/{pid}/autogroup"):
        assert open(f"/proc/{pid}/autogroup").read().split()[-1] == str(WORKER_NICE)
        assert open("/proc/self/autogroup").read() != open(f"/proc/{pid}/autogroup").read()
    store.stop(run.run_id, "alice")


def test_stop_only_stops_a_run_nobody_else_watches(store):
    first = store.submit(long_run(), "alice")
    second = store.submit(long_run(), "bob")
    assert second == first.__class__(first.run_id, cached=False, joined=True)
    wait_for_progress(store, first.run_id)
    assert store.status(first.run_id).watchers == 2

    assert store.stop(first.run_id, "alice") == 1, "bob still watches"
    steps = store.status(first.run_id).env_steps
    deadline = time.monotonic() + 60
    while store.status(first.run_id).env_steps < steps + 2_000:
        assert time.monotonic() < deadline and store.status(first.run_id).state == "running"
        time.sleep(0.05)
    assert not store.is_watching(first.run_id, "alice") and store.is_watching(first.run_id, "bob")

    assert store.stop(first.run_id, "bob") == 0
    wait_for(store, first.run_id, {"stopped"})


def test_stopped_then_trained_again_restarts_cleanly(store):
    run = store.submit(long_run(), "alice")
    wait_for(store, run.run_id, {"running"})
    store.stop(run.run_id, "alice")
    again = store.submit(long_run(), "alice")  # before the stop has landed
    assert again.run_id == run.run_id
    status = wait_for(store, run.run_id, {"running"})
    attempt = status.attempt
    # The stop lands, then the run starts over with a new attempt (a reader starts its curve over).
    deadline = time.monotonic() + 60
    while store.status(run.run_id).attempt == attempt:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert wait_for(store, run.run_id, {"running"}).watchers == 1
    store.stop(run.run_id, "alice")
    wait_for(store, run.run_id, {"stopped"})


def test_queued_runs_start_round_robin_across_sessions(tmp_path):
    store = RunStore(tmp_path / "runs", max_workers=1)
    try:
        busy = store.submit(long_run(), "alice")
        wait_for(store, busy.run_id, {"running"})
        alice = [store.submit(tiny(seed), "alice").run_id for seed in (1, 2, 3)]
        bob = store.submit(tiny(10), "bob").run_id
        positions = {run_id: store.status(run_id).queue_position for run_id in [*alice, bob]}
        # Bob has nothing training, so his one run goes before Alice's second and third.
        assert positions == {alice[0]: 2, alice[1]: 3, alice[2]: 4, bob: 1}, positions
        store.stop(busy.run_id, "alice")
        order = []
        deadline = time.monotonic() + 120
        while len(order) < 4:
            assert time.monotonic() < deadline
            for run_id in [*alice, bob]:
                if run_id not in order and store.status(run_id).state != "queued":
                    order.append(run_id)
            time.sleep(0.02)
        assert order[0] == bob
    finally:
        store.shutdown()


def test_a_session_may_queue_at_most_its_cap(tmp_path):
    store = RunStore(tmp_path / "runs", max_workers=1, max_queued_per_session=2)
    try:
        store.submit(long_run(), "alice")
        wait_for(store, long_run().run_hash(), {"running"})
        store.submit(tiny(1), "alice")
        store.submit(tiny(2), "alice")
        with pytest.raises(QueueFull, match="2 runs waiting"):
            store.submit(tiny(3), "alice")
        assert not store.submit(tiny(4), "bob").cached, "the cap is per session"
    finally:
        store.shutdown()


def test_a_killed_worker_fails_only_its_own_run(tmp_path):
    store = RunStore(tmp_path / "runs", max_workers=2)
    try:
        doomed = store.submit(long_run(0), "alice").run_id
        survivor = store.submit(make_config("a2c", total_steps=60_000, n_envs=4, eval_episodes=0), "bob").run_id
        queued = store.submit(tiny(5), "carol").run_id
        wait_for_progress(store, doomed)
        wait_for_progress(store, survivor)
        os.kill(store.executor.worker_pids()[doomed], signal.SIGKILL)  # what an out-of-memory kill does

        failed = wait_for(store, doomed, {"failed"})
        assert "training process died" in failed.error and "out of memory" in failed.error
        assert wait_for(store, survivor, {"finished"}).env_steps >= 60_000
        assert wait_for(store, queued, {"finished"}).state == "finished", "a new worker takes the next run"
    finally:
        store.shutdown()


def test_damaged_run_directories_give_messages_and_are_trained_again(store):
    run = store.submit(tiny(), "alice")
    wait_for(store, run.run_id, {"finished"})
    run_dir = store.run_dir(run.run_id)

    with open(run_dir / "events.jsonl", "a") as events:  # a garbage line is skipped, not fatal
        events.write("this is not json\n")
    assert read_events(run_dir)[0], "the good lines still read"

    lines = (run_dir / "events.jsonl").read_text().splitlines()
    (run_dir / "events.jsonl").write_text("\n".join(lines[: len(lines) // 2]) + "\n")  # cut short
    damaged = store.status(run.run_id)
    assert damaged.state == "damaged" and "cut short" in damaged.error
    assert not store.submit(tiny(), "alice").cached, "a truncated run is not served as cached"
    wait_for(store, run.run_id, {"finished"})

    (run_dir / "model.pt").unlink()
    assert "model.pt" in store.status(run.run_id).error
    (run_dir / "config.json").write_text("{not json")
    [record] = store.runs()
    assert record.state == "damaged" and "config.json" in record.problem
    (run_dir / "status.json").unlink()
    assert store.status(run.run_id).state == "damaged"


def test_a_runs_directory_that_cannot_be_written_says_so(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(RunStoreError, match="cannot be written.*RLVIZ_RUNS_DIR"):
        RunStore(blocker / "runs", max_workers=1)


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
        run_id = store.submit(tiny(), "alice").run_id
        assert wait_for(store, run_id, {"finished", "failed"}).state == "finished"
    finally:
        store.shutdown()
    assert sys.modules["__main__"] is page, "the parent's __main__ is put back"
    assert not (tmp_path / "ran").exists()


def test_the_server_process_never_imports_torch():
    import subprocess

    code = ("import sys, rlviz.runs, rlviz.feeds, rlviz.rundir, rlviz.ui.run_view, rlviz.compare; "
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=os.path.dirname(os.path.dirname(__file__)))
    assert result.stdout.strip() == "False"


def test_workers_exit_when_their_server_dies(tmp_path):
    import subprocess

    script = f"""
import sys, time
sys.path.insert(0, {os.getcwd()!r})
from rlviz.config import make_config
from rlviz.runs import RunStore
store = RunStore({str(tmp_path / 'runs')!r}, max_workers=1)
run = store.submit(make_config("dqn", total_steps=300_000, eval_episodes=0), "alice")
while store.status(run.run_id).env_steps == 0:
    time.sleep(0.05)
print(store.executor.worker_pids()[run.run_id], flush=True)
time.sleep(600)
"""
    server = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    worker_pid = int(server.stdout.readline())
    server.kill()  # SIGKILL: no exit handler runs
    server.wait()
    deadline = time.monotonic() + 30
    while _alive(worker_pid):
        assert time.monotonic() < deadline, "the worker outlived its server"
        time.sleep(0.05)
    run_dir = next((tmp_path / "runs").glob("[0-9a-f]*"))
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "running", "it was killed mid-run; a new server reports it as interrupted"
    # The lock goes with the last of the worker's threads, which can outlive the main thread's zombie
    # by a moment: wait for what a new server sees.
    new_server = RunStore(tmp_path / "runs", max_workers=1)
    while (state := new_server.status(run_dir.name).state) != "interrupted":
        assert state == "running elsewhere" and time.monotonic() < deadline, f"a new server sees {state}"
        time.sleep(0.05)
    new_server.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"


def test_a_diverging_run_ends_as_diverged_with_its_step_and_is_cached(store):
    diverging = make_config("a2c-1step", n_envs=1, learning_rate=0.1, reward_scale=1.0, total_steps=50_000, eval_episodes=0)
    run = store.submit(diverging, "alice")
    status = wait_for(store, run.run_id, {"diverged", "finished", "failed"})
    assert status.state == "diverged" and 0 < status.env_steps < 50_000
    assert f"Diverged at step {status.env_steps:,}" in status.error and "learning rate" in status.error
    assert store.submit(diverging, "bob").cached, "the same config would diverge the same way: no need to retrain"


def test_the_executor_is_chosen_by_rlviz_executor(monkeypatch):
    from rlviz.executors import EXECUTOR_ENV, LocalExecutor, executor_from_env

    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    default = executor_from_env(3)
    assert isinstance(default, LocalExecutor) and default.slots == 3 and default.where("x") == "on this server"
    monkeypatch.setenv(EXECUTOR_ENV, "spark")
    with pytest.raises(ValueError, match="must be local or ray"):
        executor_from_env()
    # Without Ray installed, "ray" trains here and says why.
    monkeypatch.setenv(EXECUTOR_ENV, "ray")
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "rlviz.ray_executor", raising=False)
    fallback = executor_from_env(1)
    assert isinstance(fallback, LocalExecutor) and "requirements-ray.txt" in fallback.where("x")
