"""The Ray executor: the store's runs train on a Ray cluster (RLVIZ_EXECUTOR=ray, the cluster at RAY_ADDRESS).

Each job trains in a ``RunTrainer`` actor (one CPU by default) that runs the same ``execute_run`` as
a local worker, into a scratch run directory on its own node. The app copies that directory as it
grows (``rundir.RunDirChanges`` there, ``rundir.apply_changes`` here): the cluster shares no
filesystem with the app, and every page, the cache and the download read the app's copy as they
read a local run, weights and videos included. A stop request is a call on the actor. An actor is
kept for the next job, like a local worker, so a run does not wait for torch to load again.

Faults stay in their runs: a Ray worker or node that dies fails the job it trained, with a message.
If the cluster cannot be reached, at the start or later, its jobs fail, new jobs train on this
server's own worker processes (a LocalExecutor), and ``where`` says so.

Only this module imports ray, and the app imports it only when RLVIZ_EXECUTOR=ray.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from rlviz.executors import IDLE_WORKER_SECONDS, Job, JobEnded, LocalExecutor, lower_priority
from rlviz.rundir import Change, RunDirChanges, RunLock, apply_changes, read_status, write_status

PACKAGE_DIR = str(Path(__file__).resolve().parent)  # shipped to the cluster: its nodes need no copy of rlviz
COPY_SECONDS = 0.25  # an actor answers the app's copy request within this (the local worker's status interval)
CLUSTER_SECONDS = 10.0  # how often the app reads the cluster's size (nodes may join or leave)
# What a call into Ray raises when the cluster is gone: an exception, or SystemExit from a call that was
# waiting when this process's connection shut down.
RAY_GONE = (Exception, SystemExit)
log = logging.getLogger(__name__)


def cluster_elsewhere(init_options: dict[str, Any]) -> bool:
    """Whether ``ray.init(**init_options)`` joins an existing cluster (an address, given or in $RAY_ADDRESS)
    rather than starting one in this process."""
    return "address" in init_options or bool(os.environ.get("RAY_ADDRESS"))


def runtime_env(init_options: dict[str, Any]) -> dict[str, Any] | None:
    """What travels with the job: rlviz itself to a cluster elsewhere (Ray's ``py_modules``), so every node
    trains this server's version. A cluster this process starts runs its workers here, in this directory,
    with it on their path (Ray's rule for a driver's working directory): from the repository rlviz is there
    already, and shipping it would cost every new actor a fresh worker process (1.2 s, bench/RESULTS.md)."""
    if not cluster_elsewhere(init_options) and Path.cwd().resolve() == Path(PACKAGE_DIR).parent:
        return None
    return {"py_modules": [PACKAGE_DIR]}


def connect(**init_options: Any) -> None:
    """Join the Ray cluster at $RAY_ADDRESS unless this process already has (without it, start one here:
    for tests and benchmarks, from their main thread)."""
    if not ray.is_initialized():
        ray.init(runtime_env=runtime_env(init_options), **init_options)


def check_connected() -> None:
    """Raise ConnectionError if this process's connection to Ray was shut down (a Ray call would
    otherwise start a new local cluster in its place)."""
    if not ray.is_initialized():
        raise ConnectionError("this process's connection to the Ray cluster was shut down")


def first_line(error: BaseException) -> str:
    """An error's first line, short enough for the page."""
    line = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return line if len(line) <= 160 else line[:157] + "..."


def actor_death_message(error: BaseException, host: str | None) -> str:
    """What the page says when the Ray worker training a run died (its process, or its whole node)."""
    lines = str(error).splitlines()
    reason = next((line.strip() for line in lines if line.strip().startswith("The actor is dead because")), "")
    reason = reason.split(". ")[0].rstrip(".").replace("The actor is dead because ", "")  # its first sentence, no ids
    on = f" on node {host}" if host else ""
    return f"the Ray worker training this run{on} died" + (f" ({reason})" if reason else "")


class RunTrainer:
    """A Ray actor that trains the jobs it is handed, one at a time, in a scratch run directory on its node."""

    def __init__(self) -> None:
        lower_priority(group=False)  # a node may also serve other work (the app itself, on a cluster it started)
        self.run_dir: Path | None = None
        self.changes: RunDirChanges | None = None
        self.thread: threading.Thread | None = None
        self.stop_requested = threading.Event()

    def node(self) -> tuple[str, int]:
        """The name of this actor's node and the id of its process."""
        return socket.gethostname(), os.getpid()

    def start(self, job: Job, status: dict[str, Any]) -> None:
        """Train ``job`` in a thread; ``status`` is the app's status.json (it carries the run's attempt)."""
        from rlviz.runs import execute_run  # it loads torch here, on the node, never in the app

        self.run_dir = Path(tempfile.mkdtemp(prefix="rlviz-run-")) / job.run_id
        self.run_dir.mkdir()
        write_status(self.run_dir, **status)
        self.changes = RunDirChanges(self.run_dir)
        self.stop_requested = threading.Event()
        self.thread = threading.Thread(target=execute_run, args=(job.config, str(self.run_dir)),
                                       kwargs={"stop_requested": self.stop_requested.is_set}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stop_requested.set()

    def collect(self, wait: float = 0.0) -> tuple[list[Change], bool]:
        """What the job wrote since the last call, and whether it has ended (then this is the last of it).

        Waits up to ``wait`` seconds for the job to end first, so the app hears of it at once and
        the next run starts without waiting for another call.
        """
        self.thread.join(timeout=wait)
        ended = not self.thread.is_alive()  # asked first: all the job wrote before it ended is in this batch
        changes = self.changes.collect()
        if ended:
            shutil.rmtree(self.run_dir.parent, ignore_errors=True)  # the app has its copy now
        return changes, ended


@dataclass
class _Trainer:
    actor: Any  # a handle on a RunTrainer actor
    node: Any  # a Ray reference to its ``node()``: (host name, process id)
    host: str | None = None  # the node's name, once known
    pid: int | None = None
    job: Job | None = None
    lock: RunLock | None = None  # on the app's copy of the job's run directory, held while it is written
    pending: Any = None  # a Ray reference to a ``collect()`` not yet answered
    idle_since: float = 0.0


class RayExecutor:
    """Runs on a Ray cluster, one actor per job at a time, at most ``max_jobs`` at once (default: the
    cluster's CPUs / ``cpus_per_run``). ``local_slots`` sizes this server's pool for when the cluster
    cannot be reached. ``init_options`` go to ``ray.init`` if this process has not joined Ray yet."""

    def __init__(self, max_jobs: int | None = None, cpus_per_run: float = 1.0, local_slots: int = 1,
                 **init_options: Any) -> None:
        self.max_jobs = max_jobs
        self.cpus_per_run = cpus_per_run
        self.local_slots = local_slots
        self.problem: str | None = None  # why the cluster is not used, once it is not
        self._trainers: list[_Trainer] = []
        self._ended: list[JobEnded] = []
        self._local: LocalExecutor | None = None  # this server's workers, once the cluster is out of reach
        self._cluster_cpus = 0.0
        self._lock = threading.Lock()
        self._closed = False
        try:
            if not ray.is_initialized() and not cluster_elsewhere(init_options):
                # Not a cluster of our own: started from a Streamlit script run, its processes died within
                # a minute (seen under AppTest), and Ray ends a driver whose cluster is gone: the app with it.
                raise ConnectionError("RAY_ADDRESS is not set")
            connect(**init_options)
            self._cluster_cpus = ray.cluster_resources().get("CPU", 0.0)
            self._remote_trainer = ray.remote(RunTrainer).options(num_cpus=cpus_per_run)
        except Exception as error:  # refused, unreachable, misconfigured: the app goes on without it
            address = os.environ.get("RAY_ADDRESS")
            self._lose_cluster(f"the Ray cluster at {address} cannot be reached" if address else
                               "RLVIZ_EXECUTOR=ray, but RAY_ADDRESS does not say where the Ray cluster is", error)
        self._copier = threading.Thread(target=self._copy_loop, daemon=True, name="rlviz-ray-copier")
        self._copier.start()
        atexit.register(self.shutdown)

    @property
    def slots(self) -> int:
        if self._local is not None:
            return self._local.slots
        return self.max_jobs or max(1, int(self._cluster_cpus // self.cpus_per_run))

    def start(self, job: Job) -> None:
        with self._lock:
            if self._local is not None:
                self._local.start(job)
                return
            trainer = next((trainer for trainer in self._trainers if trainer.job is None), None)
            if trainer is None and len(self._trainers) >= self.slots:
                raise RuntimeError("no free worker: the store started more jobs than slots")
            run_dir = Path(job.run_dir)
            lock = RunLock(run_dir)  # this server writes the app's copy, as a local worker writes its run
            try:
                check_connected()
                if trainer is None:
                    actor = self._remote_trainer.remote()
                    trainer = _Trainer(actor, actor.node.remote())
                    self._trainers.append(trainer)
                trainer.actor.start.remote(job, read_status(run_dir) or {})
            except RAY_GONE as error:  # Ray itself failed: the cluster is gone
                lock.release()
                lost = error
            else:
                trainer.job, trainer.lock = job, lock
                return
        self._lose_cluster("the Ray cluster went away", lost)
        self.start(job)  # on this server's own workers now

    def stop(self, run_id: str) -> None:
        with self._lock:
            if self._local is not None:
                self._local.stop(run_id)
            for trainer in self._trainers:
                if trainer.job is not None and trainer.job.run_id == run_id:
                    with contextlib.suppress(*RAY_GONE):  # a dead actor's job ends through the copier
                        check_connected()
                        trainer.actor.stop.remote()

    def poll(self) -> list[JobEnded]:
        with self._lock:
            ended, self._ended = self._ended, []
            local = self._local
        return ended + (local.poll() if local is not None else [])

    def running(self) -> set[str]:
        with self._lock:
            running = {trainer.job.run_id for trainer in self._trainers if trainer.job is not None}
            local = self._local
        return running | (local.running() if local is not None else set())

    def where(self, run_id: str) -> str:
        with self._lock:
            for trainer in self._trainers:
                if trainer.job is not None and trainer.job.run_id == run_id:
                    return f"on the cluster, node {trainer.host}" if trainer.host else "on the cluster"
            local = self._local
        return local.where(run_id) if local is not None else ""

    def worker_pids(self) -> dict[str, int]:
        """The process id training each job on the cluster (tests kill one to check a fault stays in its run)."""
        with self._lock:
            trainers = [trainer for trainer in self._trainers if trainer.job is not None]
        return {trainer.job.run_id: ray.get(trainer.node, timeout=60)[1] for trainer in trainers}

    # --- the copier: brings what each run writes into the app's run directory ----------------------

    def _copy_loop(self) -> None:
        last_size_check = time.monotonic()
        while not self._closed:
            if self._local is not None:
                return  # the cluster is out of reach: nothing more to copy
            try:
                check_connected()
                busy = self._copy_round()
                if time.monotonic() - last_size_check > CLUSTER_SECONDS:
                    last_size_check = time.monotonic()
                    self._cluster_cpus = ray.cluster_resources().get("CPU", 0.0)
            except RAY_GONE as error:  # Ray itself failed, not one actor: the cluster is gone
                if not self._closed:
                    self._lose_cluster("the Ray cluster went away", error)
                return
            if not busy:
                time.sleep(COPY_SECONDS)  # a busy round waits on the actors' answers instead

    def _copy_round(self) -> bool:
        """Ask every busy actor for what its run wrote (each answers within COPY_SECONDS), then write the
        answers that came back into the app's copies. Returns whether any actor was busy."""
        now = time.monotonic()
        with self._lock:
            busy = [trainer for trainer in self._trainers if trainer.job is not None]
            for trainer in busy:
                if trainer.pending is None:
                    trainer.pending = trainer.actor.collect.remote(COPY_SECONDS)
            for trainer in [trainer for trainer in self._trainers if trainer.job is None]:
                if now - trainer.idle_since > IDLE_WORKER_SECONDS:  # its CPU goes back to the cluster
                    self._trainers.remove(trainer)
                    ray.kill(trainer.actor)
        if not busy:
            return False
        pending = [trainer.pending for trainer in busy]
        ray.wait(pending, num_returns=1, timeout=2 * COPY_SECONDS)  # until the first answer
        check_connected()  # the connection may have been shut down meanwhile
        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0)  # and every other one already in
        for trainer in busy:
            if trainer.host is None and ray.wait([trainer.node], timeout=0)[0]:
                with contextlib.suppress(ray.exceptions.RayError):
                    trainer.host, trainer.pid = ray.get(trainer.node)
            if trainer.pending not in ready:
                continue
            try:
                changes, ended = ray.get(trainer.pending)
            except ray.exceptions.RayActorError as error:  # its process or its node died
                self._end(trainer, actor_death_message(error, trainer.host), retire=True)
                continue
            except ray.exceptions.RayError as error:  # collect itself failed: the copy cannot go on
                self._end(trainer, f"its files could not be brought back from the cluster ({first_line(error)})",
                          retire=True)
                continue
            trainer.pending = None
            try:
                apply_changes(Path(trainer.job.run_dir), changes)
            except OSError as error:
                self._end(trainer, f"its run directory cannot be written ({error})", retire=True)
                continue
            if ended:
                self._end(trainer, None)
        return True

    def _end(self, trainer: _Trainer, error: str | None, retire: bool = False) -> None:
        """The trainer's job has ended (``error`` says why, if it did not end by itself); a retired
        trainer's actor is dead or unusable and is let go."""
        with self._lock:
            if trainer not in self._trainers or trainer.job is None:
                return  # the cluster was lost meanwhile, and the job with it
            if trainer.lock is not None:
                trainer.lock.release()
            self._ended.append(JobEnded(trainer.job.run_id, error))
            trainer.job, trainer.lock, trainer.pending = None, None, None
            trainer.idle_since = time.monotonic()
            if retire:
                self._trainers.remove(trainer)
                with contextlib.suppress(*RAY_GONE):
                    check_connected()
                    ray.kill(trainer.actor)

    def _lose_cluster(self, problem: str, error: BaseException) -> None:
        """Fail the cluster's jobs and train from now on here. The page gets ``problem``, the server's log
        Ray's own words."""
        log.warning("%s; training on this server from now on (%s)", problem, first_line(error))
        with self._lock:
            self.problem = problem
            for trainer in self._trainers:
                if trainer.job is not None:
                    if trainer.lock is not None:
                        trainer.lock.release()
                    self._ended.append(JobEnded(trainer.job.run_id, f"{problem} (while this run trained on it)"))
            self._trainers = []
            if self._local is None:
                self._local = LocalExecutor(self.local_slots, place=f"on this server ({problem})")

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            trainers, self._trainers = self._trainers, []
            local = self._local
        for trainer in trainers:
            if trainer.lock is not None:
                trainer.lock.release()
            with contextlib.suppress(*RAY_GONE):  # the cluster may be gone already
                check_connected()
                ray.kill(trainer.actor)
        if local is not None:
            local.shutdown()
