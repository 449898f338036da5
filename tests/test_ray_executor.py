"""The Ray executor (issue 18): a run trained on a Ray cluster writes the run directory a local run
writes, Stop reaches it, a killed Ray worker fails only its run, and a lost cluster leaves the app
training on its own workers.

Ray is an optional extra: this module is skipped without it, and its tests (marked ``ray``) are
left out of the default suite, which they would lengthen by about 5 minutes on two busy cores (a
Ray cluster takes 10-15 s to start, and each test trains on it). Run them with:

    python -m pip install -r requirements-ray.txt
    python -m pytest -n 0 -m ray tests/test_ray_executor.py
"""

import csv
import json
import os
import signal
import time

import pytest

ray = pytest.importorskip("ray")

import torch  # noqa: E402

from rlviz.config import make_config  # noqa: E402
from rlviz.executors import WORKER_NICE  # noqa: E402
from rlviz.feeds import RunFeed  # noqa: E402
from rlviz.ray_executor import PACKAGE_DIR, RayExecutor, connect, runtime_env  # noqa: E402
from rlviz.rundir import checkpoints, read_events  # noqa: E402
from rlviz.runs import RunStore  # noqa: E402

from test_runs import long_run, wait_for, wait_for_progress  # noqa: E402

pytestmark = pytest.mark.ray

TIMING_FIELDS = {"wall_seconds", "steps_per_second"}  # the only numbers that differ between two runs of a seed


@pytest.fixture(scope="module")
def ray_module():
    yield
    ray.shutdown()


@pytest.fixture
def cluster(ray_module):
    """A local Ray cluster of two CPUs, started once for the module (again after a test took it down)."""
    connect(num_cpus=2, include_dashboard=False, log_to_driver=False)


def timeless(data):
    return {name: value for name, value in data.items() if name not in TIMING_FIELDS}


def episode_rows(run_dir):
    with open(run_dir / "episodes.csv") as file:
        return [timeless(row) for row in csv.DictReader(file)]


def same_weights(one, other):
    """Two state dicts (nested: an agent saves one per network) hold equal tensors."""
    if isinstance(one, dict):
        return one.keys() == other.keys() and all(same_weights(one[name], other[name]) for name in one)
    return torch.equal(one, other) if isinstance(one, torch.Tensor) else one == other


def files(run_dir):
    return sorted(path.relative_to(run_dir).as_posix() for path in run_dir.rglob("*") if path.is_file()
                  and path.name not in (".lock", "status.json.tmp"))


def test_rlviz_travels_to_a_cluster_elsewhere_and_not_to_one_started_here(tmp_path, monkeypatch):
    shipped = {"py_modules": [PACKAGE_DIR]}
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(os.path.dirname(PACKAGE_DIR))  # the repository: Ray puts it on its local workers' path
    assert runtime_env({"num_cpus": 2}) is None
    assert runtime_env({"address": "ray://head:10001"}) == shipped
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert runtime_env({}) == shipped
    monkeypatch.delenv("RAY_ADDRESS")
    monkeypatch.chdir(tmp_path)  # started elsewhere: the workers' directory holds no rlviz
    assert runtime_env({"num_cpus": 2}) == shipped


def test_a_run_on_ray_writes_what_a_local_run_writes(cluster, tmp_path):
    config = make_config("a2c", seed=3, total_steps=6_000, n_envs=4, eval_episodes=2)
    local = RunStore(tmp_path / "local", max_workers=1)
    on_ray = RunStore(tmp_path / "ray", executor=RayExecutor())
    try:
        run_id = local.submit(config, "alice").run_id
        assert on_ray.submit(config, "alice").run_id == run_id
        assert wait_for(local, run_id, {"finished", "failed"}, seconds=300).state == "finished"
        assert wait_for(on_ray, run_id, {"finished", "failed"}, seconds=300).state == "finished"
    finally:
        local.shutdown()
        on_ray.shutdown()
    here, there = local.run_dir(run_id), on_ray.run_dir(run_id)

    assert files(there) == files(here)
    assert episode_rows(there) == episode_rows(here) and len(episode_rows(here)) > 20
    assert (there / "config.json").read_text() == (here / "config.json").read_text()
    summaries = [timeless(json.loads((run_dir / "summary.json").read_text())) for run_dir in (here, there)]
    assert summaries[0] == summaries[1]
    # Events: the same, but for timings and where the videos were recorded (the Ray node's scratch directory).
    events = [[timeless({**event, "path": os.path.basename(event.get("path", ""))}) for event in read_events(run_dir)[0]]
              for run_dir in (here, there)]
    assert events[0] == events[1]
    for local_file, ray_file in [(here / "model.pt", there / "model.pt"),
                                 *zip([path for _, path in checkpoints(here)], [path for _, path in checkpoints(there)])]:
        assert same_weights(torch.load(local_file, weights_only=True), torch.load(ray_file, weights_only=True))
    videos = RunFeed(there).refresh().videos
    assert len(videos) == 4 and all(os.path.getsize(video["path"]) > 1_000 for video in videos), \
        "the videos came back with the run, and the page finds them in its run directory"
    status = json.loads((there / "status.json").read_text())
    assert status["state"] == "finished" and status["env_steps"] >= 6_000


def test_stop_reaches_a_run_on_the_cluster(cluster, tmp_path):
    store = RunStore(tmp_path / "runs", executor=RayExecutor())
    own_group = open("/proc/self/autogroup").read() if os.path.exists("/proc/self/autogroup") else None
    try:
        run_id = store.submit(long_run(), "alice").run_id
        wait_for_progress(store, run_id, seconds=300)
        deadline = time.monotonic() + 30
        while not store.status(run_id).where.startswith("on the cluster, node "):
            assert time.monotonic() < deadline, store.status(run_id).where
            time.sleep(0.05)
        # The Ray worker trains at a lower priority, without lowering its session's group: on a local
        # cluster that group is this process's (the app's).
        assert os.getpriority(os.PRIO_PROCESS, store.executor.worker_pids()[run_id]) >= WORKER_NICE
        if own_group is not None:
            assert open("/proc/self/autogroup").read() == own_group
        store.stop(run_id, "alice")
        stopped = wait_for(store, run_id, {"stopped", "failed"}, seconds=120)
        assert stopped.state == "stopped" and 0 < stopped.env_steps < 300_000
        assert (store.run_dir(run_id) / "model.pt").exists(), "a stopped run's weights come back too"
    finally:
        store.shutdown()


def test_a_killed_ray_worker_fails_only_its_own_run(cluster, tmp_path):
    store = RunStore(tmp_path / "runs", executor=RayExecutor())
    try:
        doomed = store.submit(long_run(0), "alice").run_id
        survivor = store.submit(make_config("a2c", total_steps=20_000, n_envs=4, eval_episodes=0), "bob").run_id
        wait_for_progress(store, doomed, seconds=300)
        wait_for_progress(store, survivor, seconds=300)
        os.kill(store.executor.worker_pids()[doomed], signal.SIGKILL)  # what an out-of-memory kill does

        failed = wait_for(store, doomed, {"failed"}, seconds=120)
        assert failed.error.startswith("the Ray worker training this run on node ") and "died" in failed.error
        assert wait_for(store, survivor, {"finished", "failed"}, seconds=300).state == "finished"
        assert store.status(survivor).env_steps >= 20_000
    finally:
        store.shutdown()


def test_when_the_cluster_goes_away_the_app_trains_on_its_own_workers(cluster, tmp_path):
    store = RunStore(tmp_path / "runs", executor=RayExecutor(local_slots=1))
    try:
        on_cluster = store.submit(long_run(0), "alice").run_id
        wait_for_progress(store, on_cluster, seconds=300)
        ray.shutdown()  # the cluster goes away under a training run

        failed = wait_for(store, on_cluster, {"failed"}, seconds=60)
        assert "the Ray cluster went away" in failed.error
        here = store.submit(make_config("a2c", total_steps=2_000, n_envs=4, eval_episodes=0), "bob").run_id
        assert wait_for(store, here, {"running", "finished"}).where.startswith("on this server (the Ray cluster went away")
        assert not ray.is_initialized(), "no new Ray instance was started in the lost one's place"
        assert wait_for(store, here, {"finished", "failed"}, seconds=300).state == "finished"
    finally:
        store.shutdown()


def test_without_ray_address_the_app_trains_here_and_says_why(monkeypatch, tmp_path):
    # The app does not start a cluster of its own: from a Streamlit script run it died, and the app with it.
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    ray.shutdown()
    executor = RayExecutor(local_slots=1)
    try:
        assert not ray.is_initialized()
        assert executor.where("x") == "on this server (RLVIZ_EXECUTOR=ray, but RAY_ADDRESS does not say where " \
                                      "the Ray cluster is)"
    finally:
        executor.shutdown()
