"""The run directory: what a run writes, and how every reader (pages, CLI, compare, tests) reads it.

Layout:
    config.json      every config field
    events.jsonl     one JSON object per event, appended as training goes (kind = episode,
                     update, video or finished); the last line of a complete run is its "finished"
    episodes.csv     env_step,episode,return,length,terminated,truncated,wall_seconds
    summary.json     written at the end (see ``summary_of``)
    model.pt         the trained weights
    videos/          greedy episodes as H.264 mp4 (if recorded)
    status.json      (store runs) queued / running / finished / stopped / failed / diverged, with progress
    .lock            held (flock) by the one process writing the run, while it writes

Nothing here imports torch: the app's server reads run directories, only writers save weights.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import IO, Any, Iterator, Protocol

try:
    import fcntl
except ImportError:  # not on a POSIX system: no writer lock
    fcntl = None  # type: ignore[assignment]

EPISODE_COLUMNS = ("env_step", "episode", "return", "length", "terminated", "truncated", "wall_seconds")
# What a run writes; an earlier run's copies are removed before a new run writes into the directory.
CHECKPOINT_DIR = "checkpoints"  # the weights through training (rlviz.trainer.CHECKPOINTS), one file each
# What training writes (RunWriter clears them first), and with the settings and the store's status, all of a run.
RESULT_FILES = ("events.jsonl", "episodes.csv", "summary.json", "model.pt", "videos", CHECKPOINT_DIR)
RUN_FILES = ("config.json", *RESULT_FILES, "status.json", "status.json.tmp")
LOCK_FILE = ".lock"
APPENDED_FILES = ("events.jsonl", "episodes.csv")  # grow by whole appends while a run trains
INCOMING_FILE = ".incoming"  # a copied file on its way in (see apply_changes)


class RunDirError(OSError):
    """A run directory cannot be written, or is not what it should be. The message is one line."""


class _Event(Protocol):
    kind: str


class RunLock:
    """An exclusive lock on a run directory, held while one process writes it: a run has one writer.

    The operating system drops the lock when its process dies, so a crashed writer never leaves the
    directory locked.
    """

    def __init__(self, run_dir: Path) -> None:
        self._file = open(run_dir / LOCK_FILE, "a")
        if fcntl is not None:
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._file.close()
                raise RunDirError(f"{run_dir} is being written by another process") from None

    def release(self) -> None:
        self._file.close()  # closing the file drops the lock


def is_being_written(run_dir: Path) -> bool:
    """Whether a live process holds the run directory's writer lock."""
    if fcntl is None or not (run_dir / LOCK_FILE).exists():
        return False
    try:
        RunLock(run_dir).release()
    except RunDirError:
        return True
    except OSError:
        return False
    return False


def clear_run_files(run_dir: Path) -> None:
    """Remove an earlier run's files from ``run_dir`` (and nothing else)."""
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def looks_like_run_dir(path: Path) -> bool:
    """An rlviz run directory (complete or not): it has a config.json or an events.jsonl."""
    return (path / "config.json").exists() or (path / "events.jsonl").exists()


def checkpoint_name(env_step: int) -> str:
    """The file of the weights at ``env_step`` in a run's CHECKPOINT_DIR: step_00012345.pt."""
    return f"step_{env_step:08d}.pt"


def checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """A run's weight checkpoints, (env step, file) in step order; load one with torch.load(weights_only=True)."""
    found = []
    for path in (run_dir / CHECKPOINT_DIR).glob("step_*.pt"):
        try:
            found.append((int(path.stem.removeprefix("step_")), path))
        except ValueError:
            continue  # not one of ours
    return sorted(found)


class RunWriter:
    """Consumes the events of ``train(config)`` and writes them into ``run_dir``, as its one writer."""

    def __init__(self, config: Any, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            self._lock = RunLock(run_dir)
        except RunDirError:
            raise
        except OSError as error:
            raise RunDirError(f"cannot write the run directory {run_dir}: {error.strerror or error}") from None
        try:
            for name in RESULT_FILES:
                path = run_dir / name  # a previous run's results must not mix with this one's
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
            self._events: IO[str] = open(run_dir / "events.jsonl", "w")
            self._episodes_file: IO[str] = open(run_dir / "episodes.csv", "w", newline="")
        except OSError as error:
            self._lock.release()
            raise RunDirError(f"cannot write the run directory {run_dir}: {error.strerror or error}") from None
        self._episodes = csv.writer(self._episodes_file)
        self._episodes.writerow(EPISODE_COLUMNS)

    def write(self, event: Any) -> None:
        from rlviz.trainer import event_to_dict  # the writer runs where training runs (torch is loaded)

        # Lines are flushed whole, so a reader polling the file never sees half an event.
        if event.kind == "episode":
            self._episodes.writerow((event.env_step, event.episode, event.episode_return, event.length,
                                     int(event.terminated), int(event.truncated), round(event.wall_seconds, 3)))
        if event.kind == "checkpoint":
            import torch

            folder = self.run_dir / CHECKPOINT_DIR
            folder.mkdir(exist_ok=True)
            torch.save(event.state_dict, folder / checkpoint_name(event.env_step))
        if event.kind == "finished":
            import torch

            self._episodes_file.flush()
            torch.save(event.state_dict, self.run_dir / "model.pt")
            (self.run_dir / "summary.json").write_text(json.dumps(summary_of(self.config, event), indent=2))
        # The finished event goes last, after the files it vouches for: a reader that sees it sees them.
        self._events.write(json.dumps(event_to_dict(event)) + "\n")
        self._events.flush()

    def close(self) -> None:
        self._events.close()
        self._episodes_file.close()
        self._lock.release()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def summary_of(config: Any, finished: Any) -> dict[str, Any]:
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
        "diverged": getattr(finished, "diverged", None),
    }


def write_run(config: Any, run_dir: Path, events: Iterator[Any]) -> Iterator[Any]:
    """Write ``events`` into ``run_dir`` while passing each one on to the caller."""
    with RunWriter(config, run_dir) as writer:
        for event in events:
            writer.write(event)
            yield event


# --- copying a run directory as it is written (a run trained on another machine) --------------------

Change = tuple[str, int | None, bytes]  # (path in the run directory, offset to append at or None for the whole file, data)


class RunDirChanges:
    """What changed in a run directory since the last ``collect``, to copy it elsewhere while it is written.

    The appended files (events.jsonl, episodes.csv) travel as their new bytes, every other file
    whole when its size or time changed. ``collect`` reads status.json first and the files that
    events.jsonl vouches for last, so a copy applied in order (see ``apply_changes``) never shows a
    status or a "finished" event before the files they announce.
    """

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        # path -> (size, mtime_ns) of the copy last sent; for an appended file, (bytes sent, 0)
        self._sent: dict[str, tuple[int, int]] = {}

    def collect(self) -> list[Change]:
        status = self._whole("status.json")
        changes = [self._appended(name) for name in APPENDED_FILES]
        for path in sorted(self.run_dir.rglob("*")):
            name = path.relative_to(self.run_dir).as_posix()
            if path.is_file() and name not in (*APPENDED_FILES, "status.json", "status.json.tmp", LOCK_FILE):
                changes.append(self._whole(name))
        changes.append(status)
        return [change for change in changes if change is not None]

    def _appended(self, name: str) -> Change | None:
        try:
            with open(self.run_dir / name, "rb") as file:
                size = file.seek(0, os.SEEK_END)
                offset = self._sent.get(name, (0, 0))[0]
                if size < offset:  # started over
                    offset = 0
                file.seek(offset)
                data = file.read(size - offset)
        except OSError:
            return None
        if not data and name in self._sent:
            return None
        self._sent[name] = (offset + len(data), 0)
        return name, offset, data

    def _whole(self, name: str) -> Change | None:
        try:
            with open(self.run_dir / name, "rb") as file:
                stat = os.fstat(file.fileno())
                if self._sent.get(name) == (stat.st_size, stat.st_mtime_ns):
                    return None
                data = file.read()
        except OSError:  # gone, or replaced between the listing and now: the next collect sees it
            return None
        self._sent[name] = (stat.st_size, stat.st_mtime_ns)
        return name, None, data


def apply_changes(run_dir: Path, changes: list[Change]) -> None:
    """Write ``changes`` (from ``RunDirChanges.collect``) into ``run_dir``, in their order.

    A whole file replaces the old one at once (written beside it, then renamed), so a reader sees
    either copy, never half of one; appended bytes land where they were appended.
    """
    for name, offset, data in changes:
        path = run_dir / name
        if run_dir.resolve() not in path.resolve().parents:
            raise RunDirError(f"{name} is not a path inside the run directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        if offset is None:
            incoming = run_dir / INCOMING_FILE
            incoming.write_bytes(data)
            os.replace(incoming, path)
        else:
            with open(path, "r+b" if offset and path.exists() else "wb") as file:
                file.seek(offset)
                file.write(data)
                file.truncate()


# --- reading ----------------------------------------------------------------------------------------

def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None if the file is missing, unreadable or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_status(run_dir: Path) -> dict[str, Any] | None:
    status = read_json(run_dir / "status.json")
    return status if status is not None and isinstance(status.get("state"), str) else None


def write_status(run_dir: Path, **status: Any) -> None:
    # Write then rename, so a reader never sees half a file.
    temporary = run_dir / "status.json.tmp"
    temporary.write_text(json.dumps(status))
    os.replace(temporary, run_dir / "status.json")


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The complete events appended after byte ``offset``, and the offset to read from next time.

    A line that is not a JSON event (a damaged file) is skipped, not fatal: the rest still reads.
    """
    try:
        with open(run_dir / "events.jsonl", "rb") as file:
            file.seek(offset)
            data = file.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
    events = []
    for line in data[:end].splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("kind"), str):
            events.append(event)
    return events, offset + end


def last_event(run_dir: Path) -> dict[str, Any] | None:
    """The last complete event of events.jsonl, read from the file's end (cheap for any length)."""
    try:
        with open(run_dir / "events.jsonl", "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - 65_536))
            tail = file.read()
    except OSError:
        return None
    lines = tail.rstrip(b"\n").rsplit(b"\n", 1)
    try:
        event = json.loads(lines[-1])
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def damage(run_dir: Path) -> str | None:
    """Why a run directory that claims to be complete is not, or None if it is intact.

    Complete means: config.json and summary.json parse, model.pt exists, and events.jsonl ends with
    the run's "finished" event (a truncated file does not).
    """
    if read_json(run_dir / "config.json") is None:
        return "its config.json is missing or not valid JSON"
    if read_json(run_dir / "summary.json") is None:
        return "its summary.json is missing or not valid JSON"
    if not (run_dir / "model.pt").exists():
        return "its model.pt (the trained weights) is missing"
    last = last_event(run_dir)
    if last is None or last.get("kind") != "finished":
        return "its events.jsonl is cut short (it does not end with the run's last event)"
    return None
