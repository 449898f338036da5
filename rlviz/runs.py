"""The run store: runs that sessions watch, queued fairly, trained through an executor, cached on disk.

A class shares one server, so the store keeps these promises:
- a run is identified by its config's hash (seed and rlviz version included): a finished run with
  that hash comes back at once, for whoever asks;
- a run has watchers, the sessions that started or joined it. Stop removes one session's interest;
  the run stops only when nobody watches it any more;
- queued runs start round-robin across sessions, so one student's 25-run comparison does not hold
  back a classmate's single run; a session may have at most ``max_queued_per_session`` waiting;
- a session (a browser, by the id in its URL) finds its runs again after a reload or a restart;
- a fault stays in its run: a dead worker fails only its own run (see rlviz.executors).

The run directory's format lives in rlviz.rundir. This module does not import torch: the server
process never needs it; ``execute_run`` imports the trainer inside the worker.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import threading
import time
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rlviz.config import Config, ConfigError, config_from_dict
from rlviz.estimate import EarlierRun, earlier_run_from_summary, typical_steps_per_second
from rlviz.executors import Executor, Job, JobEnded, LocalExecutor, available_cores
from rlviz.rundir import (INCOMING_FILE, LOCK_FILE, RunDirError, damage, is_being_written, read_json, read_status,
                          write_run, write_status)

RUNS_DIR_ENV = "RLVIZ_RUNS_DIR"
TERMINAL_STATES = ("finished", "stopped", "failed", "diverged")
CACHEABLE_STATES = ("finished", "diverged")  # deterministic outcomes: the same config would end the same way
STATUS_INTERVAL_SECONDS = 0.25  # how often a worker rewrites status.json
DISPATCH_SECONDS = 0.1  # how often the store looks for ended jobs and free slots
MAX_QUEUED_PER_SESSION = 10
SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{4,32}$")
SESSIONS_DIR = ".sessions"  # under the runs directory: each browser's list of runs


class RunStoreError(RuntimeError):
    """The store cannot do what was asked (a runs directory it cannot write, a full queue). One line."""


class QueueFull(RunStoreError):
    pass


def default_runs_dir() -> Path:
    """Where runs persist: $RLVIZ_RUNS_DIR, else ~/.cache/rlviz/runs."""
    return Path(os.environ.get(RUNS_DIR_ENV) or Path.home() / ".cache" / "rlviz" / "runs")


def new_session_id() -> str:
    """A short random id for a browser (kept in its URL): no login, yet a reload finds its runs."""
    return secrets.token_urlsafe(6)


@dataclass(frozen=True)
class RunStatus:
    run_id: str
    # queued, running, finished, stopped, failed, diverged; interrupted (its server went away),
    # damaged (its files are incomplete or corrupt) or missing
    state: str
    env_steps: int = 0
    total_steps: int = 0
    episodes: int = 0
    steps_per_second: float = 0.0
    last_100_mean: float | None = None
    error: str | None = None  # why it failed, diverged or is damaged: one or two sentences
    queue_position: int | None = None  # 1 = next to start, when queued
    wait_seconds: float | None = None  # estimated wait before a queued run starts
    watchers: int = 0  # sessions watching it now
    where: str = ""  # where it trains, while it does
    attempt: str = ""  # changes each time the run is (re)trained, so readers know to start over

    @property
    def done(self) -> bool:
        return self.state not in ("queued", "running")

    @property
    def progress(self) -> float:
        return min(1.0, self.env_steps / self.total_steps) if self.total_steps else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.steps_per_second <= 0:
            return None
        return max(0, self.total_steps - self.env_steps) / self.steps_per_second


@dataclass(frozen=True)
class Submission:
    run_id: str
    cached: bool  # finished before: loaded from disk, nothing to train
    joined: bool = False  # already queued or training for another session: this one watches it too


@dataclass(frozen=True)
class RunRecord:
    """One run in the store's library (the Runs page)."""

    run_id: str
    config: Config | None  # None if config.json is unreadable
    state: str
    env_steps: int
    created: float  # when the run was queued (seconds since the epoch)
    final_mean_return: float | None = None
    solved_at_step: int | None = None
    problem: str | None = None  # what is wrong with a damaged run


def execute_run(config_data: dict[str, Any], run_dir_name: str,
                stop_requested: Callable[[], bool] = lambda: False) -> str:
    """Worker entry point: train, write the run directory and keep status.json current.

    Returns the final state. Every exception ends as a "failed" status with its message: the
    worker itself survives for the next run.
    """
    from rlviz.trainer import train  # torch loads here, in the worker

    run_dir = Path(run_dir_name)
    attempt = (read_status(run_dir) or {}).get("attempt", "")
    progress: dict[str, Any] = dict(env_steps=0, total_steps=config_data.get("total_steps", 0), episodes=0,
                                    steps_per_second=0.0, last_100_mean=None, attempt=attempt)
    try:
        config = config_from_dict(config_data)
        if stop_requested():
            write_status(run_dir, state="stopped", **progress)
            return "stopped"
        write_status(run_dir, state="running", **progress)
        last_write = 0.0
        final: dict[str, Any] | None = None
        events = write_run(config, run_dir, train(config, stop_requested=stop_requested, video_dir=run_dir / "videos"))
        try:
            for event in events:
                if event.kind == "episode":
                    progress.update(env_steps=event.env_step, episodes=event.episode, last_100_mean=event.recent_mean,
                                    steps_per_second=event.env_step / max(event.wall_seconds, 1e-9))
                elif event.kind == "finished":
                    progress.update(env_steps=event.env_steps, steps_per_second=event.steps_per_second)
                    state = "diverged" if event.diverged else "stopped" if event.stopped else "finished"
                    final = dict(state=state, error=event.diverged)
                    break
                now = time.monotonic()
                if now - last_write >= STATUS_INTERVAL_SECONDS:
                    last_write = now
                    write_status(run_dir, state="running", **progress)
        finally:
            events.close()  # the writer closes its files and drops its lock before the final status says so
        if final is not None:
            write_status(run_dir, **final, **progress)
            return final["state"]
    except Exception as error:  # the page shows the message; the worker stays usable
        message = str(error) if isinstance(error, (ConfigError, RunDirError)) else f"{type(error).__name__}: {error}"
        try:
            write_status(run_dir, state="failed", error=message, **progress)
        except OSError:
            pass  # the directory itself is gone or unwritable: the store reports the job's end
        return "failed"
    write_status(run_dir, state="failed", error="the training loop ended without a result", **progress)
    return "failed"


class RunStore:
    """The runs of one server: watched by sessions, queued fairly, trained by an executor.

    ``executor`` defaults to worker processes on this machine, at most one per core.
    """

    def __init__(self, root: Path | str | None = None, max_workers: int | None = None,
                 executor: Executor | None = None, max_queued_per_session: int = MAX_QUEUED_PER_SESSION) -> None:
        self.root = Path(root) if root is not None else default_runs_dir()
        try:
            (self.root / SESSIONS_DIR).mkdir(parents=True, exist_ok=True)
            probe = self.root / f".probe-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise RunStoreError(f"The runs directory {self.root} cannot be written ({error.strerror or error}). "
                                f"Set {RUNS_DIR_ENV} to a folder this app may write.") from None
        self.executor: Executor = executor or LocalExecutor(max_workers or available_cores())
        self.max_queued_per_session = max_queued_per_session
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queues: dict[str, deque[str]] = {}  # session -> its queued run ids, oldest first
        self._turns: deque[str] = deque()  # sessions in the order they get their next start
        self._jobs: dict[str, Job] = {}  # queued runs
        self._owner: dict[str, str] = {}  # queued run -> the session whose queue holds it
        self._watchers: dict[str, set[str]] = {}  # queued or running run -> sessions watching it
        self._stopping: set[str] = set()  # running runs asked to stop
        self._restart: set[str] = set()  # stopping runs that somebody asked for again
        self._started_by: dict[str, str] = {}  # running run -> the session whose queue it came from
        self._starts: dict[str, int] = {}  # session -> how many of its runs this store has started
        self._sessions: dict[str, list[str]] = {}  # session -> its runs, oldest first
        self._earlier: tuple[EarlierRun, ...] | None = None  # read from the finished runs' summaries when first asked
        self._dispatcher: threading.Thread | None = None
        self._closed = False

    @property
    def max_workers(self) -> int:
        return self.executor.slots

    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    # --- submitting, watching, stopping -------------------------------------------------------------

    def submit(self, config: Config, session: str = "") -> Submission:
        """Start (or find) the run of ``config`` for ``session``, which then watches it.

        Raises QueueFull when the session already has its maximum of runs waiting, and
        RunStoreError when the run cannot be written.
        """
        run_id = config.run_hash()
        run_dir = self.run_dir(run_id)
        with self._lock:
            status = read_status(run_dir)
            if run_id in self._watchers:  # queued or training already, perhaps for another session
                if status is not None and status["state"] in TERMINAL_STATES:  # it has just ended, not yet reaped
                    if _is_cached(run_dir, status):
                        self._remember(session, run_id)
                        return Submission(run_id, cached=True)
                    self._restart.add(run_id)  # train it again once its worker has let go of it
                joined = bool(self._watchers[run_id] - {session})
                self._watchers[run_id].add(session)
                if run_id in self._stopping:
                    self._restart.add(run_id)  # it is ending: train it again once it has
                self._remember(session, run_id)
                return Submission(run_id, cached=False, joined=joined)
            if _is_cached(run_dir, status):
                self._remember(session, run_id)
                return Submission(run_id, cached=True)
            if is_being_written(run_dir):
                raise RunStoreError("This run is being written by another process (a server that was restarted?); "
                                    "try again in a minute.")
            if len(self._queues.get(session, ())) >= self.max_queued_per_session:
                raise QueueFull(f"You already have {self.max_queued_per_session} runs waiting in the queue: wait for "
                                "one to start, or stop one, before adding more.")
            self._prepare(config, run_dir)
            self._enqueue(Job(run_id, config.to_dict(), str(run_dir)), session)
            self._watchers[run_id] = {session}
            self._remember(session, run_id)
            self._start_dispatcher()
            self._wake.notify()
        return Submission(run_id, cached=False)

    def is_cached(self, config: Config) -> bool:
        """Whether ``submit(config)`` would come back at once from the cache (a few small file reads)."""
        run_dir = self.run_dir(config.run_hash())
        return _is_cached(run_dir, read_status(run_dir))

    def _prepare(self, config: Config, run_dir: Path) -> None:
        """A fresh directory for a (re)trained run: its config and a queued status."""
        try:
            if run_dir.exists():  # stopped, failed, damaged or left by a restart: train it afresh
                shutil.rmtree(run_dir)
            run_dir.mkdir(parents=True)
            (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
            write_status(run_dir, state="queued", total_steps=config.total_steps, attempt=secrets.token_hex(4))
        except OSError as error:
            raise RunStoreError(f"Cannot write the run into {self.root} ({error.strerror or error}). "
                                f"Set {RUNS_DIR_ENV} to a folder this app may write.") from None

    def _enqueue(self, job: Job, session: str) -> None:
        queue = self._queues.setdefault(session, deque())
        if not queue and session not in self._turns:
            self._turns.append(session)
        queue.append(job.run_id)
        self._jobs[job.run_id] = job
        self._owner[job.run_id] = session

    def watch(self, run_id: str, session: str) -> None:
        """``session`` watches a run that is queued or training (a reload, or a run opened from the library)."""
        with self._lock:
            if run_id in self._watchers:
                self._watchers[run_id].add(session)
            self._remember(session, run_id)

    def stop(self, run_id: str, session: str = "") -> int:
        """``session`` no longer wants the run. Returns how many sessions still watch it.

        The run itself stops only when that is 0: a queued run never starts, a running one stops
        after its current episode.
        """
        with self._lock:
            watchers = self._watchers.get(run_id)
            if watchers is None:
                return 0
            watchers.discard(session)
            if watchers:
                return len(watchers)
            self._restart.discard(run_id)
            if run_id in self._jobs:  # still queued: it never starts
                self._dequeue(run_id)
                del self._watchers[run_id]
                status = read_status(self.run_dir(run_id)) or {}
                self._write_status_safely(run_id, state="stopped", total_steps=status.get("total_steps", 0),
                                          attempt=status.get("attempt", ""))
            else:
                self._stopping.add(run_id)
                self.executor.stop(run_id)
            return 0

    def _dequeue(self, run_id: str) -> None:
        session = self._owner.pop(run_id)
        self._jobs.pop(run_id)
        self._queues[session].remove(run_id)

    def watchers(self, run_id: str) -> set[str]:
        with self._lock:
            return set(self._watchers.get(run_id, ()))

    def is_watching(self, run_id: str, session: str) -> bool:
        with self._lock:
            return session in self._watchers.get(run_id, ())

    # --- sessions ------------------------------------------------------------------------------------

    def _session_file(self, session: str) -> Path | None:
        return self.root / SESSIONS_DIR / f"{session}.json" if SESSION_ID.match(session) else None

    def _remember(self, session: str, run_id: str) -> None:
        runs = self._session_runs(session)
        if run_id in runs:
            runs.remove(run_id)
        runs.append(run_id)
        path = self._session_file(session)
        if path is not None:
            try:
                path.write_text(json.dumps(runs[-200:]))
            except OSError:
                pass  # the list still lives in memory; only a restart would forget it

    def _session_runs(self, session: str) -> list[str]:
        if session not in self._sessions:
            path = self._session_file(session)
            saved = read_json_list(path) if path is not None else []
            self._sessions[session] = [run_id for run_id in saved if isinstance(run_id, str)]
        return self._sessions[session]

    def session_runs(self, session: str) -> list[str]:
        """The runs ``session`` started or opened, newest first, that still have a directory."""
        with self._lock:
            runs = list(self._session_runs(session))
        return [run_id for run_id in reversed(runs) if self.run_dir(run_id).is_dir()]

    # --- the dispatcher: ended jobs out, queued jobs in ------------------------------------------

    def _start_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True, name="rlviz-dispatcher")
            self._dispatcher.start()

    def _dispatch_loop(self) -> None:
        with self._lock:
            while not self._closed:
                try:
                    self.dispatch()
                except Exception:  # never let one bad run stop the queue for everyone
                    pass
                self._wake.wait(DISPATCH_SECONDS)

    def dispatch(self) -> None:
        """Handle ended jobs, then start queued runs round-robin while slots are free."""
        with self._lock:
            for ended in self.executor.poll():
                self._job_ended(ended)
            while self._turns and len(self.executor.running()) < self.executor.slots:
                session = self._next_session(self._turns, self._running_per_session(), self._starts)
                self._turns.remove(session)
                self._starts[session] = self._starts.get(session, 0) + 1
                run_id = self._queues[session][0]
                job = self._jobs[run_id]
                self._dequeue(run_id)
                if self._queues[session]:
                    self._turns.append(session)  # its next run waits for everyone else's turn
                self._started_by[run_id] = session
                try:
                    self.executor.start(job)
                except Exception as error:  # the executor could not take it: this run fails, the queue goes on
                    self._job_ended(JobEnded(run_id, f"the run could not be started ({error})"))

    def _next_session(self, turns: deque[str], running: dict[str, int], starts: dict[str, int]) -> str:
        """Whose run starts next: the session with the fewest runs training now, then the one that has
        started the fewest runs so far, then the earliest in turn. A student with nothing running goes
        before one whose earlier run still trains, and a newcomer before a student who had many."""
        return min(turns, key=lambda session: (running.get(session, 0), starts.get(session, 0)))

    def _running_per_session(self) -> dict[str, int]:
        running: dict[str, int] = {}
        for run_id in self.executor.running():
            session = self._started_by.get(run_id, "")
            running[session] = running.get(session, 0) + 1
        return running

    def _job_ended(self, ended: JobEnded) -> None:
        run_id = ended.run_id
        self._started_by.pop(run_id, None)
        status = read_status(self.run_dir(run_id)) or {}
        if ended.error is not None or status.get("state") not in TERMINAL_STATES:
            error = ended.error or "the run ended without writing its result"
            self._write_status_safely(run_id, **{**status, "state": "failed", "error": error})
        self._stopping.discard(run_id)
        watchers = self._watchers.pop(run_id, set())
        if run_id in self._restart and watchers:
            self._restart.discard(run_id)
            config = self.config(run_id)
            session = next(iter(watchers))
            self._prepare(config, self.run_dir(run_id))
            self._enqueue(Job(run_id, config.to_dict(), str(self.run_dir(run_id))), session)
            self._watchers[run_id] = watchers
        elif status.get("state") == "finished":
            self._earlier = None  # a new measurement: recompute the estimates

    def _write_status_safely(self, run_id: str, **status: Any) -> None:
        try:
            write_status(self.run_dir(run_id), **status)
        except OSError:
            pass

    # --- reading ---------------------------------------------------------------------------------

    def status(self, run_id: str) -> RunStatus:
        run_dir = self.run_dir(run_id)
        data = read_status(run_dir)
        if data is None:
            if not run_dir.is_dir():
                return RunStatus(run_id, "missing")
            return RunStatus(run_id, "damaged", error="its status.json is missing or not valid JSON")
        fields = {name: data[name] for name in ("env_steps", "total_steps", "episodes", "steps_per_second",
                                                "last_100_mean", "error", "attempt") if data.get(name) is not None}
        state = data["state"]
        with self._lock:
            watchers = len(self._watchers.get(run_id, ()))
            active = run_id in self._watchers
            plan = self._queue_plan() if run_id in self._jobs else {}
            where = self.executor.where(run_id) if active and run_id not in self._jobs else ""
        if state == "queued" and active and run_id not in self._jobs:
            state = "running"  # handed to a worker that has not written its first status yet
        elif state in ("queued", "running") and not active:
            state = "running elsewhere" if is_being_written(run_dir) else "interrupted"
        elif state in CACHEABLE_STATES:
            problem = damage(run_dir)
            if problem is not None:
                state, fields["error"] = "damaged", problem
        position, wait = plan.get(run_id, (None, None))
        return RunStatus(run_id, state, queue_position=position, wait_seconds=wait, watchers=watchers, where=where,
                         **fields)

    def _queue_plan(self) -> dict[str, tuple[int, float]]:
        """Each queued run's place in the start order and its estimated wait in seconds.

        The order replays the round-robin; the wait gives each run the slot that frees first,
        from the running runs' remaining steps and each queued run's estimated duration.
        """
        queues = {session: list(queue) for session, queue in self._queues.items()}
        turns = deque(self._turns)
        running = self._running_per_session()
        starts = dict(self._starts)
        order = []
        while turns:
            session = self._next_session(turns, running, starts)
            turns.remove(session)
            order.append(queues[session].pop(0))
            # As if it had started at once: the replay is an estimate of the order, not a schedule.
            running[session] = running.get(session, 0) + 1
            starts[session] = starts.get(session, 0) + 1
            if queues[session]:
                turns.append(session)
        free_at = [self._remaining_seconds(run_id) for run_id in self.executor.running()]
        free_at += [0.0] * max(0, self.executor.slots - len(free_at))
        plan = {}
        for position, run_id in enumerate(order, start=1):
            slot = min(range(len(free_at)), key=free_at.__getitem__)
            plan[run_id] = (position, free_at[slot])
            free_at[slot] += self._estimated_seconds(run_id, 0)
        return plan

    def _remaining_seconds(self, run_id: str) -> float:
        status = read_status(self.run_dir(run_id)) or {}
        return self._estimated_seconds(run_id, int(status.get("env_steps", 0)))

    def _estimated_seconds(self, run_id: str, done_steps: int) -> float:
        config = read_json(self.run_dir(run_id) / "config.json") or {}
        total = int(config.get("total_steps", 0))
        return max(0, total - done_steps) / self.steps_per_second(config.get("algo", ""), config.get("env_id", ""))

    def steps_per_second(self, algo: str, env_id: str) -> float:
        """The typical speed of ``algo`` on ``env_id`` here: the median of this server's finished runs,
        else the figure measured for the project (for time estimates)."""
        return typical_steps_per_second(self.earlier_runs(), algo, env_id)

    def earlier_runs(self) -> tuple[EarlierRun, ...]:
        """What this server's finished runs say about the speed of the next ones (see rlviz.estimate).

        Read from their summaries once, and again after a run of this store finishes.
        """
        with self._lock:
            if self._earlier is None:
                summaries = (read_json(path / "summary.json") for path in self._run_dirs())
                self._earlier = tuple(run for run in map(earlier_run_from_summary, filter(None, summaries)) if run)
            return self._earlier

    def counts(self) -> dict[str, int]:
        """How many runs are queued and running on this server."""
        with self._lock:
            return {"queued": len(self._jobs), "running": len(self._watchers) - len(self._jobs)}

    def config(self, run_id: str) -> Config:
        """The run's config; ConfigError (one line) if its config.json is missing or invalid."""
        data = read_json(self.run_dir(run_id) / "config.json")
        if data is None:
            raise ConfigError(f"run {run_id}: its config.json is missing or not valid JSON")
        try:
            return config_from_dict(data)
        except (ConfigError, TypeError) as error:
            raise ConfigError(f"run {run_id}: its config.json does not describe a valid run ({error})") from None

    def _run_dirs(self) -> list[Path]:
        try:
            return [path for path in self.root.iterdir() if path.is_dir() and not path.name.startswith(".")]
        except OSError:
            return []

    def runs(self) -> list[RunRecord]:
        """Every run on this server (the class's shared library), newest first."""
        records = []
        for path in self._run_dirs():
            run_id = path.name
            try:
                config: Config | None = self.config(run_id)
                problem = None
            except ConfigError as error:
                config, problem = None, str(error).removeprefix(f"run {run_id}: ")
            status = self.status(run_id)
            summary = read_json(path / "summary.json") or {}
            try:
                created = (path / "config.json").stat().st_mtime
            except OSError:
                created = path.stat().st_mtime
            records.append(RunRecord(run_id, config, "damaged" if problem else status.state, status.env_steps, created,
                                     summary.get("final_mean_return"), summary.get("solved_at_step"),
                                     problem or (status.error if status.state == "damaged" else None)))
        return sorted(records, key=lambda record: record.created, reverse=True)

    def finished_runs(self) -> list[str]:
        """Ids of the intact finished runs on disk, newest first."""
        return [record.run_id for record in self.runs() if record.state == "finished"]

    def shutdown(self) -> None:
        """Stop the workers now; runs still training end as they are (not cached)."""
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self.executor.shutdown()


def _is_cached(run_dir: Path, status: dict[str, Any] | None) -> bool:
    """The run directory holds an intact result that the same config would reproduce (finished or diverged)."""
    return status is not None and status["state"] in CACHEABLE_STATES and damage(run_dir) is None


def read_json_list(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return data if isinstance(data, list) else []


def bundle_zip(run_dir: Path) -> bytes:
    """The run as one zip: config, summary, episodes, events, weights (final and checkpoints) and videos."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(run_dir.rglob("*")):
            if path.is_file() and path.name not in (LOCK_FILE, INCOMING_FILE, "status.json.tmp"):
                archive.write(path, f"{run_dir.name}/{path.relative_to(run_dir)}")
    return buffer.getvalue()


