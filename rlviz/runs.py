"""Runs: the run directory a run writes, and the store that trains runs in worker processes.

Layout of a run directory:
    config.json      every config field
    events.jsonl     one JSON object per event, appended as training goes (kind = episode,
                     update, video or finished)
    episodes.csv     env_step,episode,return,length,terminated,truncated,wall_seconds
    summary.json     written at the end (see ``summary_of``)
    model.pt         the trained weights
    videos/          greedy episodes as H.264 mp4 (if recorded)
    status.json      (store runs) queued / running / finished / stopped / failed, with progress
    stop             (store runs) present when a stop was requested
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import os
import shutil
import sys
import threading
import time
import types
import zipfile
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import torch

from rlviz.config import Config, config_from_dict, make_config
from rlviz.trainer import EpisodeEnded, Event, Finished, event_to_dict, train

EPISODE_COLUMNS = ("env_step", "episode", "return", "length", "terminated", "truncated", "wall_seconds")


class RunWriter:
    """Consumes the events of ``train(config)`` and writes them into ``run_dir``."""

    def __init__(self, config: Config, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
        self._events: IO[str] = open(run_dir / "events.jsonl", "w")
        self._episodes_file: IO[str] = open(run_dir / "episodes.csv", "w", newline="")
        self._episodes = csv.writer(self._episodes_file)
        self._episodes.writerow(EPISODE_COLUMNS)

    def write(self, event: Event) -> None:
        # Lines are flushed whole, so a reader polling the file never sees half an event.
        self._events.write(json.dumps(event_to_dict(event)) + "\n")
        self._events.flush()
        if isinstance(event, EpisodeEnded):
            self._episodes.writerow((event.env_step, event.episode, event.episode_return, event.length,
                                     int(event.terminated), int(event.truncated), round(event.wall_seconds, 3)))
        if isinstance(event, Finished):
            self._episodes_file.flush()
            torch.save(event.state_dict, self.run_dir / "model.pt")
            (self.run_dir / "summary.json").write_text(json.dumps(summary_of(self.config, event), indent=2))

    def close(self) -> None:
        self._events.close()
        self._episodes_file.close()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary_of(config: Config, finished: Finished) -> dict:
    return {
        "algo": config.algo,
        "env_id": config.env_id,
        "seed": config.seed,
        "config": config.to_dict(),
        "env_steps": finished.env_steps,
        "episodes": finished.episodes,
        "wall_seconds": round(finished.wall_seconds, 3),
        "steps_per_second": round(finished.steps_per_second, 1),
        "solved_at_step": finished.solved_at_step,
        "final_mean_return": finished.final_mean_return,
        "eval_mean_return": finished.eval_mean_return,
        "stopped": finished.stopped,
    }


def write_run(config: Config, run_dir: Path, events: Iterator[Event]) -> Iterator[Event]:
    """Write ``events`` into ``run_dir`` while passing each one on to the caller."""
    with RunWriter(config, run_dir) as writer:
        for event in events:
            writer.write(event)
            yield event


# --- the run store: cached runs, trained in worker processes ------------------------------------

RUNS_DIR_ENV = "RLVIZ_RUNS_DIR"
TERMINAL_STATES = ("finished", "stopped", "failed")
STATUS_INTERVAL_SECONDS = 0.25  # how often a worker rewrites status.json


def default_runs_dir() -> Path:
    """Where finished runs persist: $RLVIZ_RUNS_DIR, else ~/.cache/rlviz/runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or Path.home() / ".cache" / "rlviz" / "runs")


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    state: str  # queued, running, finished, stopped, failed, or interrupted (its server went away)
    env_steps: int = 0
    total_steps: int = 0
    episodes: int = 0
    steps_per_second: float = 0.0
    last_100_mean: float | None = None
    error: str | None = None
    queue_position: int | None = None  # 1 = next to start, when queued

    @property
    def done(self) -> bool:
        return self.state in TERMINAL_STATES or self.state == "interrupted"

    @property
    def progress(self) -> float:
        return min(1.0, self.env_steps / self.total_steps) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return max(0, self.total_steps - self.env_steps) / self.steps_per_second


def read_status(run_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((run_dir / "status.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_status(run_dir: Path, **status: Any) -> None:
    # Write then rename, so a reader never sees half a file.
    temporary = run_dir / "status.json.tmp"
    temporary.write_text(json.dumps(status))
    os.replace(temporary, run_dir / "status.json")


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete events appended after byte ``offset``, and the offset to read from next time."""
    try:
        with open(run_dir / "events.jsonl", "rb") as file:
            file.seek(offset)
            data = file.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    return [json.loads(line) for line in data[:end].splitlines()], offset + end


def execute_run(config_data: dict[str, Any], run_dir_name: str) -> str:
    """Worker-process entry point: train, write the run directory and keep status.json current."""
    run_dir = Path(run_dir_name)
    config = config_from_dict(config_data)
    stop_file = run_dir / "stop"
    progress: dict[str, Any] = dict(env_steps=0, total_steps=config.total_steps, episodes=0,
                                    steps_per_second=0.0, last_100_mean=None)
    if stop_file.exists():
        _write_status(run_dir, state="stopped", **progress)
        return "stopped"
    _write_status(run_dir, state="running", **progress)
    last_write = 0.0
    try:
        events = train(config, stop_requested=stop_file.exists, video_dir=run_dir / "videos")
        for event in write_run(config, run_dir, events):
            if isinstance(event, EpisodeEnded):
                progress.update(env_steps=event.env_step, episodes=event.episode, last_100_mean=event.recent_mean,
                                steps_per_second=event.env_step / max(event.wall_seconds, 1e-9))
            elif isinstance(event, Finished):
                progress.update(env_steps=event.env_steps, steps_per_second=event.steps_per_second)
                state = "stopped" if event.stopped else "finished"
                _write_status(run_dir, state=state, **progress)
                return state
            now = time.monotonic()
            if now - last_write >= STATUS_INTERVAL_SECONDS:
                last_write = now
                _write_status(run_dir, state="running", **progress)
    except Exception as error:  # the page shows the message; the store stays usable
        _write_status(run_dir, state="failed", error=f"{type(error).__name__}: {error}", **progress)
        return "failed"
    return "failed"


@contextlib.contextmanager
def _main_script_hidden() -> Iterator[None]:
    """A spawned process first re-runs the parent's ``__main__`` file. Under Streamlit that is the
    app's script (the script runner installs each run as ``__main__``), under AppTest a temporary
    file that may be gone: workers would import Streamlit and run a page, or fail to start. They
    need only rlviz, so a bare ``__main__`` stands in while they start."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _warm_up() -> None:
    """Runs once in each new worker: a throwaway second of training pays for the imports and
    PyTorch's first-call costs (about 1.2 s) before a student's first click, not after it."""
    for _ in train(make_config("a2c", total_steps=1_000, n_envs=4, eval_episodes=0)):
        pass


class RunStore:
    """Trains runs in a pool of worker processes and serves finished runs from disk.

    A run is identified by its config's hash (seed and rlviz version included). A finished run
    with the same hash comes back at once; otherwise the run is queued for the pool, which runs
    at most ``max_workers`` at a time (default: one per core).
    """

    def __init__(self, root: Path | None = None, max_workers: int | None = None) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_workers = max_workers or available_cores()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[str, Future] = {}  # insertion order = submission order
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None or getattr(self._pool, "_broken", False):
            self._pool = ProcessPoolExecutor(self.max_workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_warm_up)
            # The pool starts a worker per submit while none is idle: start them all now, with the
            # parent's script hidden, so no later submit starts one.
            with _main_script_hidden():
                for _ in range(self.max_workers):
                    self._pool.submit(time.sleep, 0)
            # At exit, concurrent.futures waits for running work; a training run can take minutes, so
            # end the workers first (hooks run last-registered first, so this one runs before that wait).
            threading._register_atexit(self.shutdown)
        return self._pool

    def warm_up(self) -> None:
        """Start the workers now, so the first run does not wait for them to import torch."""
        self._executor()

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def submit(self, config: Config) -> tuple[str, bool]:
        """Start (or find) the run of ``config``. Returns (run_id, cached)."""
        run_id = config.run_hash()
        run_dir = self.run_dir(run_id)
        with self._lock:
            status = read_status(run_dir)
            if status is not None and status["state"] == "finished" and (run_dir / "summary.json").exists():
                return run_id, True
            future = self._futures.get(run_id)
            if future is not None and not future.done():
                return run_id, False  # already queued or running, perhaps for another session
            if run_dir.exists():  # stopped, failed or orphaned by a restart: train it afresh
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True)
            (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
            _write_status(run_dir, state="queued", total_steps=config.total_steps)
            self._futures[run_id] = self._executor().submit(execute_run, config.to_dict(), str(run_dir))
        return run_id, False

    def stop(self, run_id: str) -> None:
        """Ask a run to stop: a queued run never starts, a running one stops after its current episode."""
        run_dir = self.run_dir(run_id)
        if not run_dir.exists():
            return
        (run_dir / "stop").touch()
        status = read_status(run_dir) or {}
        future = self._futures.get(run_id)
        # A queued run may already sit in the pool's hand-over queue, where it cannot be cancelled;
        # the worker that picks it up sees the stop file and ends it at once. Say so now.
        if (future is not None and future.cancel()) or status.get("state") == "queued":
            _write_status(run_dir, state="stopped", total_steps=status.get("total_steps", 0))

    def status(self, run_id: str) -> RunStatus:
        data = read_status(self.run_dir(run_id))
        if data is None:
            return RunStatus(run_id, "missing")
        fields = {name: data[name] for name in ("env_steps", "total_steps", "episodes", "steps_per_second",
                                                "last_100_mean", "error") if name in data}
        state = data["state"]
        future = self._futures.get(run_id)
        if state not in TERMINAL_STATES:
            if future is None:
                state = "interrupted"  # started by a server that is gone
            elif future.done() and future.exception() is not None:
                state, fields["error"] = "failed", f"worker died: {future.exception()!r}"
        position = None
        if state == "queued":
            queued = [rid for rid, fut in list(self._futures.items())
                      if not fut.done() and (read_status(self.run_dir(rid)) or {}).get("state") == "queued"]
            position = queued.index(run_id) + 1 if run_id in queued else None
        return RunStatus(run_id, state, queue_position=position, **fields)

    def counts(self) -> dict[str, int]:
        """How many of this server's runs are queued and running."""
        states = [self.status(run_id).state for run_id, future in list(self._futures.items()) if not future.done()]
        return {"queued": states.count("queued"), "running": states.count("running")}

    def config(self, run_id: str) -> Config:
        return config_from_dict(json.loads((self.run_dir(run_id) / "config.json").read_text()))

    def finished_runs(self) -> list[str]:
        """Ids of the finished runs on disk, newest first."""
        finished = [path for path in self.root.iterdir()
                    if (path / "summary.json").exists() and (read_status(path) or {}).get("state") == "finished"]
        return [path.name for path in sorted(finished, key=lambda path: path.stat().st_mtime, reverse=True)]

    def shutdown(self) -> None:
        """Stop the workers now; runs still training end as they are (not cached)."""
        if self._pool is None:
            return
        for process in list((self._pool._processes or {}).values()):
            process.terminate()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None


def bundle_zip(run_dir: Path) -> bytes:
    """The run as one zip: config, summary, episodes, events, weights and videos."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.name not in ("stop", "status.json.tmp"):
                archive.write(path, f"{run_dir.name}/{path.relative_to(run_dir)}")
    return buffer.getvalue()
