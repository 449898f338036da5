"""Run directories: where a run's events, summary, weights and videos are written.

Layout of a run directory:
    config.json      every config field
    events.jsonl     one JSON object per event, appended as training goes (kind = episode,
                     update, video or finished)
    episodes.csv     env_step,episode,return,length,terminated,truncated,wall_seconds
    summary.json     written at the end (see ``summary_of``)
    model.pt         the trained weights
    videos/          greedy episodes as H.264 mp4 (if recorded)
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO, Iterator

import torch

from rlviz.config import Config
from rlviz.trainer import EpisodeEnded, Event, Finished, event_to_dict

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
