"""What the pages draw of a run, held once per run for every session, in bounded memory.

A class of 30 may watch the same long run: if each session kept every episode, a run that
collapsed into 250k short episodes would cost gigabytes. A ``RunFeed`` reads events.jsonl
incrementally (only the bytes appended since its last read) and keeps:

- episodes thinned to at most ``MAX_EPISODE_POINTS``: every k-th episode, k doubling whenever the
  buffer fills, with the 100-episode moving average computed over *all* episodes as they stream
  in, plus the newest episode, so the curve always ends where the run is;
- update metrics thinned the same way (at most ``MAX_UPDATE_POINTS``);
- the videos and the finished event.

``feed(run_dir)`` hands every caller the same feed; feeds nobody asked for in ``IDLE_SECONDS`` are
dropped, and at most ``MAX_FEEDS`` are kept. A run that is retrained (a new ``attempt`` in its
status) starts its feed over.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

import numpy as np

from rlviz.envs import SOLVE_WINDOW
from rlviz.rundir import read_events, read_status

MAX_EPISODE_POINTS = 4_096
MAX_UPDATE_POINTS = 1_024
MAX_FEEDS = 64
IDLE_SECONDS = 120.0
EPISODE_COLUMNS = ("env_step", "episode", "wall_seconds", "episode_return", "mean_return")


class Thinned:
    """Rows of floats (each with an optional payload), keeping every ``stride``-th row offered;
    ``stride`` doubles whenever the buffer fills, so at most ``capacity`` rows are held however
    many are offered."""

    def __init__(self, columns: int, capacity: int) -> None:
        self.rows = np.zeros((capacity, columns))
        self.payloads: list[Any] = []
        self.size = 0
        self.offered = 0
        self.stride = 1
        self.newest: tuple[np.ndarray, Any] | None = None  # the latest row offered, kept or not

    def offer(self, row: list[float], payload: Any = None) -> None:
        self.newest = (np.asarray(row, dtype=float), payload)
        if self.offered % self.stride == 0 and self.size == len(self.rows):
            # Full: keep every other row (offers 0, 2s, 4s, ...) and double the stride.
            self.size = len(self.rows[::2])
            self.rows[: self.size] = self.rows[::2].copy()
            self.payloads = self.payloads[::2]
            self.stride *= 2
        if self.offered % self.stride == 0:
            self.rows[self.size] = self.newest[0]
            self.payloads.append(payload)
            self.size += 1
        self.offered += 1

    def _newest_is_extra(self) -> bool:
        return self.newest is not None and (self.offered - 1) % self.stride != 0

    def table(self) -> np.ndarray:
        """The kept rows, plus the newest row if it was not kept: shape (rows, columns)."""
        kept = self.rows[: self.size]
        if self._newest_is_extra():
            return np.vstack((kept, self.newest[0]))
        return kept.copy()

    def payload_list(self) -> list[Any]:
        """The kept rows' payloads, plus the newest one's, in the order of ``table``."""
        return self.payloads + [self.newest[1]] if self._newest_is_extra() else list(self.payloads)


class RunFeed:
    """The bounded, incrementally read view of one run (see the module docstring)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.lock = threading.Lock()
        self._start_over(attempt=None)

    def _start_over(self, attempt: str | None) -> None:
        self.attempt = attempt
        self.offset = 0
        self.episodes = Thinned(len(EPISODE_COLUMNS), MAX_EPISODE_POINTS)
        self.updates = Thinned(1, MAX_UPDATE_POINTS)  # env_step, with the metrics' dict as payload
        self.latest_metrics: dict[str, float] = {}
        self.videos: list[dict[str, Any]] = []
        self.finished: dict[str, Any] | None = None
        self._window: deque[float] = deque(maxlen=SOLVE_WINDOW)
        self._window_sum = 0.0

    @property
    def episode_count(self) -> int:
        return self.episodes.offered

    def refresh(self) -> "RunFeed":
        """Read what the run appended since the last refresh."""
        with self.lock:
            attempt = (read_status(self.run_dir) or {}).get("attempt")
            if attempt != self.attempt:
                self._start_over(attempt)
            events, self.offset = read_events(self.run_dir, self.offset)
            for event in events:
                self._take(event)
        return self

    def _take(self, event: dict[str, Any]) -> None:
        kind = event["kind"]
        try:
            if kind == "episode":
                episode_return = float(event["episode_return"])
                if len(self._window) == self._window.maxlen:
                    self._window_sum -= self._window[0]
                self._window.append(episode_return)
                self._window_sum += episode_return
                if self.episodes.offered % 1_000 == 0:  # re-add exactly now and then: no drift over millions
                    self._window_sum = float(sum(self._window))
                self.episodes.offer([event["env_step"], event["episode"], event["wall_seconds"], episode_return,
                                     self._window_sum / len(self._window)])
            elif kind == "update":
                metrics = {name: float(value) for name, value in event["metrics"].items()}
                self.latest_metrics = metrics
                self.updates.offer([event["env_step"]], metrics)
            elif kind == "video":
                # A video lives in its run directory's videos/ wherever it was recorded (a run trained
                # on a Ray cluster recorded it on another machine).
                self.videos.append({**event, "path": str(self.run_dir / "videos" / Path(event["path"]).name)})
            elif kind == "finished":
                self.finished = event
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # a malformed event is skipped like an unreadable line

    def episode_table(self) -> dict[str, np.ndarray]:
        """The kept episodes as columns (see EPISODE_COLUMNS), oldest first, the newest last."""
        with self.lock:
            table = self.episodes.table()
        return {name: table[:, index] for index, name in enumerate(EPISODE_COLUMNS)}

    @property
    def episode_stride(self) -> int:
        return self.episodes.stride

    def update_table(self) -> list[dict[str, float]]:
        """The kept update metrics, each with its env_step, oldest first."""
        with self.lock:
            steps = self.updates.table()[:, 0]
            payloads = self.updates.payload_list()
        return [{"env_step": int(step), **metrics} for step, metrics in zip(steps, payloads)]


class FeedCache:
    """One feed per run directory for the whole server; idle feeds are dropped."""

    def __init__(self, max_feeds: int = MAX_FEEDS, idle_seconds: float = IDLE_SECONDS) -> None:
        self.max_feeds = max_feeds
        self.idle_seconds = idle_seconds
        self._feeds: OrderedDict[str, tuple[RunFeed, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_dir: Path) -> RunFeed:
        """The run's feed, refreshed with what was appended since anyone last asked."""
        key = str(run_dir)
        now = time.monotonic()
        with self._lock:
            entry = self._feeds.pop(key, None)
            run_feed = entry[0] if entry else RunFeed(Path(run_dir))
            self._feeds[key] = (run_feed, now)
            self._evict(now)
        return run_feed.refresh()

    def _evict(self, now: float) -> None:
        for key in [key for key, (_, used) in self._feeds.items() if now - used > self.idle_seconds]:
            del self._feeds[key]
        while len(self._feeds) > self.max_feeds:
            self._feeds.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._feeds.clear()

    def __len__(self) -> int:
        return len(self._feeds)


FEEDS = FeedCache()


def feed(run_dir: Path) -> RunFeed:
    """The shared feed of the run in ``run_dir``."""
    return FEEDS.get(run_dir)
