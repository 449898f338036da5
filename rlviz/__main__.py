"""Command line: ``python -m rlviz train --algo a2c --env CartPole-v1 --out runs/a2c``.

Bad input exits with status 2 and one line on stderr that says what is wrong.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import NoReturn, TextIO

from rlviz.config import ALGOS, ConfigError, field_spec, make_config, parse_value
from rlviz.envs import ENVS
from rlviz.rundir import RunDirError, looks_like_run_dir

# Config fields that have their own option: ``--set`` on them would contradict that option.
SET_BY_OPTION = {"algo": "--algo", "env_id": "--env"}


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"rlviz: error: {message}\n")


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose a config; ``config_from_args`` reads them (the bench scripts share them)."""
    parser.add_argument("--algo", required=True, choices=list(ALGOS))
    parser.add_argument("--env", default="CartPole-v1", choices=list(ENVS))
    parser.add_argument("--seed", type=int, default=None, help="default 0")
    parser.add_argument("--total-steps", type=int, default=None, help="env steps (default: the preset's)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a hyperparameter (SB3 names), e.g. --set gamma=0.98; repeatable")
    parser.add_argument("--stop-when-solved", action=argparse.BooleanOptionalAction, default=None,
                        help="stop once the last-100 mean reaches the threshold (the presets do; --no-stop-when-solved trains to the end)")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m rlviz", description="Train deep RL agents and write their runs.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    train = commands.add_parser("train", help="train one agent and write its run directory")
    add_config_arguments(train)
    train.add_argument("--video", action="store_true", help="record greedy episodes at 0, 25, 50 and 100%% of training")
    train.add_argument("--out", required=True, type=_nonempty_path,
                       help="run directory to write: a new or empty directory, or an earlier run's (its files are replaced)")
    return parser


def _nonempty_path(text: str) -> Path:
    """``--out``'s value as a path; an empty one is refused (``Path("")`` would quietly mean ".")."""
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return Path(text)


def check_out_dir(out: Path) -> None:
    """Raise ConfigError unless ``out`` may hold a run: a new or empty directory, or an earlier run's.

    Writing a run removes an earlier run's files there, so a filesystem root, the home directory
    and any other directory with files of its own are refused.
    """
    resolved = out.resolve()
    if resolved.parent == resolved or resolved == Path.home().resolve():
        raise ConfigError(f"--out {out} is {'a filesystem root' if resolved.parent == resolved else 'your home directory'}: "
                          "choose a directory for this run, e.g. runs/a2c")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} exists and is not a directory")
    try:
        has_files = out.is_dir() and any(out.iterdir())
    except OSError as error:
        raise ConfigError(f"--out {out} cannot be read: {error.strerror or error}") from None
    if has_files and not looks_like_run_dir(out):
        raise ConfigError(f"--out {out} is a directory with other files in it, not an rlviz run: choose a new or empty directory")


def parse_settings(algo: str, assignments: list[str]) -> dict:
    """``--set NAME=VALUE`` items as config overrides for ``algo``, each parsed by its field's type."""
    config_class = ALGOS[algo].config_class
    overrides = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigError(f"--set expects NAME=VALUE, got {item!r}")
        if name in SET_BY_OPTION:
            raise ConfigError(f"--set cannot change {name}: use {SET_BY_OPTION[name]} {text.strip() or '...'}")
        overrides[name] = parse_value(field_spec(config_class, name), text)
    return overrides


def config_from_args(args: argparse.Namespace):
    overrides = parse_settings(args.algo, args.set)
    if args.seed is not None:
        overrides["seed"] = args.seed
    if args.total_steps is not None:
        overrides["total_steps"] = args.total_steps
    if args.stop_when_solved is not None:
        overrides["stop_when_solved"] = args.stop_when_solved
    return make_config(args.algo, args.env, **overrides)


class ProgressBar:
    """One line of progress on a terminal; a line per 10% when the output is a log file."""

    def __init__(self, total_steps: int, stream: TextIO = sys.stderr) -> None:
        self.total = total_steps
        self.stream = stream
        self.interactive = stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.next_tenth = 0.1
        self.recent_mean: float | None = None

    def update(self, env_step: int, recent_mean: float | None = None, final: bool = False) -> None:
        if recent_mean is not None:
            self.recent_mean = recent_mean
        now = time.perf_counter()
        fraction = min(1.0, env_step / self.total)
        if self.interactive:
            if not final and now - self.last_draw < 0.2:
                return
        elif fraction < self.next_tenth:  # a log gets one line per tenth, the last one included
            return
        self.last_draw = now
        self.next_tenth = (int(fraction * 10) + 1) / 10
        elapsed = now - self.start
        rate = env_step / elapsed if elapsed > 0 else 0.0
        eta = max(0.0, self.total - env_step) / rate if rate > 0 else 0.0
        mean = f"{self.recent_mean:8.1f}" if self.recent_mean is not None else "       -"
        bar = "#" * int(fraction * 24)
        line = (f"[{bar:<24}] {fraction:4.0%} {env_step:>9,}/{self.total:,} steps  {rate:7,.0f} steps/s  "
                f"last-100 mean {mean}  ETA {eta:5.0f}s")
        self.stream.write(("\r" + line) if self.interactive else line + "\n")
        if final and self.interactive:
            self.stream.write("\n")
        self.stream.flush()


def run_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    out: Path = args.out
    check_out_dir(out)
    # Imported once the input is known to be good: torch takes seconds to load, a refusal should not.
    from rlviz.rundir import write_run
    from rlviz.trainer import EpisodeEnded, Finished, Updated, train

    progress = ProgressBar(config.total_steps)
    video_dir = out / "videos" if args.video else None
    for event in write_run(config, out, train(config, video_dir=video_dir)):
        if isinstance(event, EpisodeEnded):
            progress.update(event.env_step, event.recent_mean)
        elif isinstance(event, Updated):
            progress.update(event.env_step)
        elif isinstance(event, Finished):
            progress.update(event.env_steps, final=True)
            if event.diverged is not None:  # an outcome, not an error: the run directory is written
                outcome = event.diverged
            else:
                solved = f"solved at step {event.solved_at_step:,}" if event.solved_at_step is not None else "not solved"
                final_mean = f"{event.final_mean_return:.1f}" if event.final_mean_return is not None else "-"
                eval_mean = f"{event.eval_mean_return:.1f}" if event.eval_mean_return is not None else "-"
                outcome = (f"{solved}; last-100 mean {final_mean}; greedy eval {eval_mean}; {event.env_steps:,} steps "
                           f"in {event.wall_seconds:.1f} s ({event.steps_per_second:,.0f} steps/s).")
            print(f"{config.algo} on {config.env_id}, seed {config.seed}: {outcome} Wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return run_train(args)
    except (ConfigError, RunDirError) as error:  # both carry a one-line message
        print(f"rlviz: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nrlviz: interrupted", file=sys.stderr)
        return 130
    return 1


if __name__ == "__main__":
    sys.exit(main())
