"""Executors: where the run store's runs train. The store decides *which* run starts *when*; an
executor only runs what it is handed, reports how each job ended, and stops one on request.

    LocalExecutor   worker processes on this machine (the default)
    RayExecutor     actors on a Ray cluster (rlviz.ray_executor; RLVIZ_EXECUTOR=ray, an optional extra)

A fault stays in its job: a worker that dies (an out-of-memory kill, a crash in native code)
fails only the run it was training, and a new worker takes its place for the next one.
Nothing here imports torch; the workers do.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol


@dataclass(frozen=True)
class Job:
    """One run to train: its id, its config (``Config.to_dict()``) and the directory to write."""

    run_id: str
    config: dict[str, Any]
    run_dir: str


@dataclass(frozen=True)
class JobEnded:
    """How a job ended: ``error`` is None when the run wrote its own final state (finished,
    stopped, diverged or failed with a traceback), else what happened to its process."""

    run_id: str
    error: str | None = None


class Executor(Protocol):
    """What the run store needs from an executor."""

    slots: int  # how many jobs can train at once

    def start(self, job: Job) -> None:
        """Start ``job`` now; the store calls this only while fewer than ``slots`` jobs run."""

    def stop(self, run_id: str) -> None:
        """Ask a running job to stop; it ends after its current episode."""

    def poll(self) -> list[JobEnded]:
        """The jobs that ended since the last poll."""

    def running(self) -> set[str]:
        """The run ids of the jobs training now."""

    def where(self, run_id: str) -> str:
        """Where a job trains, for the page ("on this server")."""

    def shutdown(self) -> None:
        """End every job and worker now."""


EXECUTOR_ENV = "RLVIZ_EXECUTOR"  # "local" (the default) or "ray"


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def executor_from_env(max_workers: int | None = None) -> Executor:
    """The executor $RLVIZ_EXECUTOR names: ``local`` (the default) or ``ray`` (the Ray cluster at $RAY_ADDRESS).

    ``max_workers`` caps the jobs that train at once; by default one per core here, one per CPU of
    the cluster on Ray. Without Ray installed, ``ray`` trains here and ``where`` says why. Raises
    ValueError for any other name.
    """
    kind = os.environ.get(EXECUTOR_ENV, "").strip().lower() or "local"
    local_slots = max_workers or available_cores()
    if kind == "local":
        return LocalExecutor(local_slots)
    if kind != "ray":
        raise ValueError(f"{EXECUTOR_ENV} must be local or ray, not {kind!r}")
    try:
        from rlviz.ray_executor import RayExecutor  # Ray is an optional extra: imported only when asked for
    except ImportError as error:
        return LocalExecutor(local_slots, place=f"on this server ({EXECUTOR_ENV}=ray, but Ray cannot be imported: "
                                                f"{error}; pip install -r requirements-ray.txt)")
    return RayExecutor(max_jobs=max_workers, local_slots=local_slots)


# --- the local executor ---------------------------------------------------------------------------

IDLE_WORKER_SECONDS = 600.0  # an idle worker exits after this long: its memory goes back to the server
WORKER_NICE = 10  # training is batch work: a student's click on the server must not wait behind it


def lower_priority(nice: int = WORKER_NICE, group: bool = True) -> None:
    """Give this process's CPU to the server first when both want it.

    Two knobs, because Linux schedules by session group first (kernel.sched_autogroup_enabled)
    and a worker runs in a session of its own: the process's nice value, and its group's
    (/proc/self/autogroup). Both only matter under contention: an idle server costs nothing.
    ``group=False`` leaves the group alone, for a process whose session others share (a Ray
    worker's is Ray's, and the app's own when the app started the Ray cluster).
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, max(os.getpriority(os.PRIO_PROCESS, 0), nice))
    if group:
        with contextlib.suppress(OSError):  # absent where the kernel has no autogroups
            Path("/proc/self/autogroup").write_text(str(nice))


def _signal_name(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        return signal.Signals(-exitcode).name
    except ValueError:
        return f"signal {-exitcode}"


def death_message(exitcode: int | None) -> str:
    """What the page says when a worker died under a run."""
    if exitcode == -signal.SIGKILL:
        return "the training process died (killed by SIGKILL: out of memory?)"
    return f"the training process died ({_signal_name(exitcode)})"


def worker_main(conn: Connection) -> None:
    """A worker process: trains the jobs the parent sends, one at a time (see rlviz.worker).

    A listener thread takes messages ("run", "stop") from the parent. When the parent dies, the
    socket closes and the worker exits at once, so no orphan goes on writing a run directory.
    """
    lower_priority()
    jobs: queue.Queue[Job] = queue.Queue()
    stops: set[str] = set()  # run ids asked to stop; a stop may arrive before its job is picked up

    def listen() -> None:
        try:
            while True:
                kind, payload = conn.recv()
                if kind == "run":
                    stops.discard(payload.run_id)  # a late stop for an earlier attempt of the same run
                    jobs.put(payload)
                elif kind == "stop":
                    stops.add(payload)
        except (EOFError, OSError):
            os._exit(0)  # the server is gone

    threading.Thread(target=listen, daemon=True, name="rlviz-listener").start()
    from rlviz.runs import execute_run  # torch is imported here, in the worker, never in the server

    while True:
        job = jobs.get()
        execute_run(job.config, job.run_dir, stop_requested=lambda: job.run_id in stops)
        stops.discard(job.run_id)
        conn.send(("ended", job.run_id))


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    run_id: str | None = None
    idle_since: float = 0.0

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


class LocalExecutor:
    """Worker processes on this machine, started on first need, one job each at a time.

    A worker is kept for the next job; one that stays idle for IDLE_WORKER_SECONDS exits, so an
    idle server holds no worker's memory.
    """

    def __init__(self, slots: int, place: str = "on this server") -> None:
        self.slots = slots
        self.place = place  # what ``where`` says
        self._workers: list[_Worker] = []
        self._ended: list[JobEnded] = []
        self._lock = threading.Lock()
        atexit.register(self.shutdown)

    def _spawn(self) -> _Worker:
        """A fresh Python running rlviz.worker, talking over a socket pair. A new interpreter, not a
        fork (the server has threads) and not multiprocessing's spawn, which re-runs the parent's
        __main__ (the app's page script); its own session, so a Ctrl-C meant for the server does not
        interrupt a run: the worker ends when the server's end of the socket closes."""
        parent_end, child_end = socket.socketpair()
        package_root = str(Path(__file__).resolve().parent.parent)  # so the worker imports this rlviz
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        process = subprocess.Popen([sys.executable, "-m", "rlviz.worker", str(child_end.fileno())],
                                   pass_fds=[child_end.fileno()], env=env, start_new_session=True)
        child_end.close()  # only the worker holds it now: its end closes when the worker dies
        return _Worker(process, Connection(parent_end.detach()), idle_since=time.monotonic())

    def start(self, job: Job) -> None:
        with self._lock:
            self._reap()
            idle = [worker for worker in self._workers if worker.run_id is None]
            if idle:
                worker = idle[0]
            else:
                if len(self._workers) >= self.slots:
                    raise RuntimeError("no free worker: the store started more jobs than slots")
                worker = self._spawn()
                self._workers.append(worker)
            worker.run_id = job.run_id
            try:
                worker.conn.send(("run", job))
            except OSError:  # it died between the reap and now
                self._ended.append(JobEnded(job.run_id, death_message(worker.process.returncode)))
                worker.run_id = None

    def stop(self, run_id: str) -> None:
        with self._lock:
            for worker in self._workers:
                if worker.run_id == run_id:
                    with contextlib.suppress(OSError):
                        worker.conn.send(("stop", run_id))

    def poll(self) -> list[JobEnded]:
        with self._lock:
            self._reap()
            ended, self._ended = self._ended, []
        return ended

    def _reap(self) -> None:
        """Collect finished jobs, fail the jobs of dead workers, retire long-idle workers."""
        now = time.monotonic()
        alive = []
        for worker in self._workers:
            with contextlib.suppress(EOFError, OSError):
                while worker.conn.poll():
                    kind, run_id = worker.conn.recv()
                    if kind == "ended" and run_id == worker.run_id:
                        self._ended.append(JobEnded(run_id))
                        worker.run_id, worker.idle_since = None, now
            if not worker.alive:
                if worker.run_id is not None:
                    self._ended.append(JobEnded(worker.run_id, death_message(worker.process.returncode)))
                worker.conn.close()
                continue
            if worker.run_id is None and now - worker.idle_since > IDLE_WORKER_SECONDS:
                worker.conn.close()  # the worker sees the pipe close and exits
                continue
            alive.append(worker)
        self._workers = alive

    def running(self) -> set[str]:
        with self._lock:
            return {worker.run_id for worker in self._workers if worker.run_id is not None}

    def worker_pids(self) -> dict[str, int]:
        """The process id training each running job (tests kill one to check a fault stays in its run)."""
        with self._lock:
            return {worker.run_id: worker.process.pid for worker in self._workers if worker.run_id is not None}

    def where(self, run_id: str) -> str:
        return self.place

    def shutdown(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            if worker.alive:
                worker.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(timeout=5)
            worker.conn.close()
