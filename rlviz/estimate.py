"""How long a run, or a whole comparison, will take on this server: said before the click. No Streamlit.

The estimate is the config's env steps divided by a typical speed (env steps per second):
1. the median speed of earlier finished runs on this server with the same settings (seed, budget,
   "stop when solved" and the evaluation aside), else
2. the median speed of earlier finished runs of the same algorithm on the same env, else
3. ``MEASURED_STEPS_PER_SECOND``, a table measured for each preset on a 2-core VM.
A run that stops when solved usually ends early: the same earlier runs say at which step they
solved, and the estimate takes the median of those steps (a run that did not solve counts as one
that trains to the end).

Times are training time, what a finished run reports as "Finished in": the videos and the greedy
evaluation after training add a few seconds, and a queued run first waits for a free worker.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rlviz.config import ALGOS, Config, changed_fields

# Env steps per second of each preset alone on a core of the project's 2-core VM on 2026-11-29 (a slow day:
# dqn, whose code did not change, ran at half its 2026-11-22 speed), for a server that has not finished a
# run of that algorithm and env yet; the page says when a figure comes from here. CartPole: the median over
# seeds 10-19 of `bench/solve.py --workers 1` (dqn: `bench/profile_run.py`), one run at a time on an idle
# machine (ppo's settings of 2026-11-29's fifth session: beside another run on the other core). LunarLander:
# one run each with eval_episodes=0, at nice 10, beside other work (rough); ppo: the median of two idle
# 65,536-step runs.
MEASURED_STEPS_PER_SECOND: dict[tuple[str, str], float] = {
    ("dqn", "CartPole-v1"): 356, ("dqn", "LunarLander-v3"): 2_984,
    ("td-ac", "CartPole-v1"): 11_096, ("td-ac", "LunarLander-v3"): 1_337,
    ("a2c-1step", "CartPole-v1"): 3_701, ("a2c-1step", "LunarLander-v3"): 225,
    ("nstep-ac", "CartPole-v1"): 4_867, ("nstep-ac", "LunarLander-v3"): 829,
    ("a2c", "CartPole-v1"): 28_702, ("a2c", "LunarLander-v3"): 4_209,
    ("ppo", "CartPole-v1"): 10_540, ("ppo", "LunarLander-v3"): 2_474,
}
MEASURED_ON = "a 2-core VM on 2026-11-29"
# The median env step at which each preset solved (stop when solved), and over how many seeds
# (bench/RESULTS.md): what a run with exactly the preset's settings can expect before this server
# has solved runs of its own. CartPole: seeds 10-19, which no preset was tuned on; dqn: seeds 0-4
# (2026-11-22); LunarLander: seeds 0-4. A preset missing here was not measured, or rarely solves.
MEASURED_SOLVE_STEPS: dict[tuple[str, str], tuple[int, int]] = {
    ("dqn", "CartPole-v1"): (126_936, 5), ("td-ac", "CartPole-v1"): (110_580, 10),
    ("a2c-1step", "CartPole-v1"): (154_066, 10), ("nstep-ac", "CartPole-v1"): (93_329, 10),
    ("a2c", "CartPole-v1"): (245_490, 10), ("ppo", "CartPole-v1"): (72_196, 10),
    ("dqn", "LunarLander-v3"): (411_087, 5), ("nstep-ac", "LunarLander-v3"): (464_694, 5),
    ("ppo", "LunarLander-v3"): (848_694, 5),
}
# Settings that may differ from the preset's and leave MEASURED_SOLVE_STEPS telling.
NOT_LEARNING_SETTINGS = ("seed", "stop_when_solved", "eval_episodes")
# Settings that do not change how fast a run steps (they change how long, or what happens after it).
NOT_SPEED_SETTINGS = ("seed", "total_steps", "stop_when_solved", "eval_episodes")


@dataclass(frozen=True)
class EarlierRun:
    """What a finished run on this server tells about the next ones: its speed and when it solved."""

    algo: str
    env_id: str
    settings: dict[str, Any]  # every config field, as in its summary.json
    env_steps: int  # steps it trained
    steps_per_second: float
    solved_at_step: int | None


def earlier_run_from_summary(summary: dict[str, Any]) -> EarlierRun | None:
    """The EarlierRun of a run's summary.json, or None if the run did not train to its end.

    A stopped run (someone pressed Stop) or a diverged one ended early for a reason of its own;
    a run that stopped when solved did train to its end.
    """
    if summary.get("stopped") or summary.get("diverged"):
        return None
    try:
        speed = float(summary["steps_per_second"])
        run = EarlierRun(str(summary["algo"]), str(summary["env_id"]), dict(summary.get("config") or {}),
                         int(summary["env_steps"]), speed,
                         None if summary.get("solved_at_step") is None else int(summary["solved_at_step"]))
    except (KeyError, TypeError, ValueError):
        return None
    return run if speed > 0 and math.isfinite(speed) else None


def _speed_key(settings: dict[str, Any]) -> str:
    # JSON both ways: a config's tuples and a summary's lists compare equal.
    return json.dumps({name: value for name, value in settings.items() if name not in NOT_SPEED_SETTINGS},
                      sort_keys=True)


def format_duration(seconds: float) -> str:
    """A duration the way a person says it: "about 40 s", "about 1 min 40 s", "about 3 min", "about 1 h 10 min".

    Rounded more coarsely the longer it is (to 1 s below 10 s, 5 s below a minute, 10 s below
    10 minutes, a minute below an hour, 5 minutes beyond).
    """
    if seconds < 1:
        return "less than a second"
    step = 1 if seconds < 10 else 5 if seconds < 60 else 10 if seconds < 600 else 60 if seconds < 3_600 else 300
    rounded = math.floor(seconds / step + 0.5) * step  # halves round up
    if rounded < 60:
        return f"about {rounded} s"
    if rounded < 3_600:
        minutes, rest = divmod(rounded, 60)
        return f"about {minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(rounded, 3_600)
    return f"about {hours} h" + (f" {rest // 60} min" if rest else "")


@dataclass(frozen=True)
class RunEstimate:
    """The estimated training time of one config, and what it is based on."""

    algo: str
    env_id: str
    total_steps: int
    steps_per_second: float
    # "settings" (earlier runs, same settings), "algo" (earlier runs, same algo and env), "table" (the measured
    # table) or "guess" (the table has no figure for this algo and env: its slowest one)
    source: str
    earlier_runs: int  # how many earlier runs the speed is the median of (0 for the table)
    stop_when_solved: bool
    solve_step: int | None = None  # when it stops when solved: the median step earlier runs solved at (None: no data)
    solved_runs: int = 0  # of the earlier runs that tell, how many solved within total_steps
    telling_runs: int = 0  # earlier runs that solved, or trained at least total_steps without solving
    solve_seeds_in_table: int = 0  # > 0: solve_step is the preset's, MEASURED_SOLVE_STEPS' median over that many seeds

    @property
    def full_seconds(self) -> float:
        """All of total_steps."""
        return self.total_steps / self.steps_per_second

    @property
    def expected_seconds(self) -> float:
        """What to expect: up to the typical solve step when the run stops when solved, else all steps."""
        if self.solve_step is not None and self.solve_step < self.total_steps:
            return self.solve_step / self.steps_per_second
        return self.full_seconds

    def headline(self) -> str:
        """E.g. "about 25 s (stops when solved; at most 1 min 40 s for all 100,000 steps)"."""
        full = format_duration(self.full_seconds).removeprefix("about ")
        if not self.stop_when_solved:
            return format_duration(self.full_seconds)
        if self.solve_step is None:
            return f"{format_duration(self.full_seconds)} for all {self.total_steps:,} steps, less if it solves sooner"
        if self.solve_step < self.total_steps:
            return (f"{format_duration(self.expected_seconds)} (stops when solved; at most {full} for all "
                    f"{self.total_steps:,} steps)")
        return f"{format_duration(self.full_seconds)} (earlier runs mostly did not solve within {self.total_steps:,} steps)"

    def basis(self) -> str:
        """Where the figures come from, in a sentence or two."""
        speed = f"{self.steps_per_second:,.0f} env steps/s"
        runs = f"{self.earlier_runs} earlier run{'s' if self.earlier_runs != 1 else ''}"
        name = f"{ALGOS[self.algo].short_name} on {self.env_id}" if self.algo in ALGOS else f"{self.algo} on {self.env_id}"
        if self.source == "settings":
            text = f"From {runs} with these settings on this server: {speed} (median)."
        elif self.source == "algo":
            text = f"From {runs} of {name} on this server, with other settings: {speed} (median)."
        elif self.source == "table":
            text = (f"No run of {name} has finished on this server yet: {speed} is the preset's speed "
                    f"from a table measured on {MEASURED_ON}, not on this server.")
        else:  # "guess"
            text = (f"No run of {name} has finished on this server and the table has no figure for it: "
                    f"{speed} is the slowest preset's speed.")
        if self.solve_seeds_in_table and self.solve_step is not None:
            text += (f" With these settings the preset solved at step {self.solve_step:,} (the median over "
                     f"{self.solve_seeds_in_table} seeds, measured on {MEASURED_ON}).")
        if self.stop_when_solved and self.telling_runs:
            text += (f" {self.solved_runs} of {self.telling_runs} earlier runs solved within {self.total_steps:,} "
                     "steps" + (f", the median at step {self.solve_step:,}." if self.solve_step is not None
                                and self.solve_step < self.total_steps else "."))
        return text


def estimate_run(config: Config, earlier: Iterable[EarlierRun]) -> RunEstimate:
    """How long ``config`` trains, from the ``earlier`` finished runs of this server (see the module's docstring).

    Seconds = steps / speed, with the speed the median steps/s of the earlier runs with the same
    settings (apart from NOT_SPEED_SETTINGS), else of those with the same algo and env, else the
    measured table. With ``stop_when_solved`` the steps are the median over the same earlier runs
    of min(the step it solved at, total_steps), counting only runs that tell: those that solved, and
    those that trained at least total_steps without solving.
    """
    same_algo = [run for run in earlier if (run.algo, run.env_id) == (config.algo, config.env_id)]
    key = _speed_key(config.to_dict())
    same_settings = [run for run in same_algo if _speed_key(run.settings) == key]
    runs, source = (same_settings, "settings") if same_settings else (same_algo, "algo")
    if runs:
        speed = statistics.median(run.steps_per_second for run in runs)
    elif (config.algo, config.env_id) in MEASURED_STEPS_PER_SECOND:
        speed, source = MEASURED_STEPS_PER_SECOND[(config.algo, config.env_id)], "table"
    else:
        speed, source = min(MEASURED_STEPS_PER_SECOND.values()), "guess"
    estimate = RunEstimate(config.algo, config.env_id, config.total_steps, float(speed), source, len(runs),
                           config.stop_when_solved)
    if not config.stop_when_solved:
        return estimate
    # A run solved within this budget stops there; one that solved later, or never, trains all of it.
    telling = [run for run in runs if run.solved_at_step is not None or run.env_steps >= config.total_steps]
    if not telling:
        measured = _preset_solve(config)
        if measured is None:
            return estimate
        return dataclasses.replace(estimate, solve_step=measured[0], solve_seeds_in_table=measured[1])
    ends = [min(run.solved_at_step, config.total_steps) if run.solved_at_step is not None else config.total_steps
            for run in telling]
    solved = sum(run.solved_at_step is not None and run.solved_at_step <= config.total_steps for run in telling)
    return dataclasses.replace(estimate, solve_step=int(statistics.median(ends)), solved_runs=solved,
                               telling_runs=len(telling))


def _preset_solve(config: Config) -> tuple[int, int] | None:
    """MEASURED_SOLVE_STEPS' (step, seeds) when ``config`` has its preset's settings (seed and the like aside)."""
    measured = MEASURED_SOLVE_STEPS.get((config.algo, config.env_id))
    if measured is None:
        return None
    return None if set(changed_fields(config)) - set(NOT_LEARNING_SETTINGS) else measured


def typical_steps_per_second(earlier: Iterable[EarlierRun], algo: str, env_id: str) -> float:
    """The median speed of the earlier runs of ``algo`` on ``env_id``, else the table's figure (for queue waits)."""
    speeds = [run.steps_per_second for run in earlier if (run.algo, run.env_id) == (algo, env_id)]
    if speeds:
        return statistics.median(speeds)
    return MEASURED_STEPS_PER_SECOND.get((algo, env_id), min(MEASURED_STEPS_PER_SECOND.values()))


def schedule_seconds(durations: Sequence[float], workers: int) -> float:
    """When the last of ``durations`` ends if each, in order, starts on the worker that frees first.

    The store starts a session's runs in the order they were submitted, as workers free up.
    """
    free_at = [0.0] * max(1, workers)
    for duration in durations:
        heapq.heappush(free_at, heapq.heappop(free_at) + duration)
    return max(free_at)


@dataclass(frozen=True)
class ComparisonEstimate:
    seconds: float  # until the last run ends, all workers free at the start
    runs: int
    cached: int  # runs that come back from the cache at once
    workers: int
    from_table: int  # runs (not cached) whose speed comes from the measured table, not from this server

    def headline(self) -> str:
        """E.g. "about 6 min with 2 workers", or "back at once" when every run is cached."""
        if self.cached == self.runs:
            return "back at once"
        return f"{format_duration(self.seconds)} with {self.workers} worker{'s' if self.workers != 1 else ''}"

    def details(self) -> str:
        """E.g. "12 runs, 3 of them from the cache"."""
        if self.cached == self.runs:
            return f"all {self.runs} runs were trained before and come from the cache"
        cached = f", {self.cached} of them from the cache" if self.cached else ""
        trained = self.runs - self.cached
        table = ("" if not self.from_table else "; speeds from a measured table, not from this server"
                 if self.from_table == trained else "; some speeds from a measured table, not from this server")
        return f"{self.runs} runs{cached}{table}"


def estimate_comparison(runs: Sequence[Config], earlier: Sequence[EarlierRun], workers: int,
                        cached: Sequence[bool] = ()) -> ComparisonEstimate:
    """The time a comparison takes: each run's expected seconds (0 if ``cached``), in the order of
    ``runs`` (its start order), spread over ``workers`` by ``schedule_seconds``."""
    is_cached = list(cached) + [False] * (len(runs) - len(cached))
    estimates: dict[str, RunEstimate] = {}  # runs that differ only by seed share one estimate
    durations, from_table = [], 0
    for config, hit in zip(runs, is_cached):
        if hit:
            durations.append(0.0)
            continue
        key = json.dumps({**config.to_dict(), "seed": 0}, sort_keys=True)
        if key not in estimates:
            estimates[key] = estimate_run(config, earlier)
        durations.append(estimates[key].expected_seconds)
        from_table += estimates[key].source in ("table", "guess")
    return ComparisonEstimate(schedule_seconds(durations, workers), len(runs), sum(is_cached), workers, from_table)


def waiting_note(running: int, queued: int, workers: int) -> str:
    """" plus the wait for a free worker (...)" when every worker is taken now, else ""."""
    if running + queued < workers:
        return ""
    return (f" plus the wait for a free worker ({running} run{'s' if running != 1 else ''} training, "
            f"{queued} queued)")


# --- what the pages say, from a run store ------------------------------------------------------------

class StoreView(Protocol):
    """What the notes read from the run store (rlviz.runs.RunStore), all of it cheap."""

    @property
    def max_workers(self) -> int: ...

    def is_cached(self, config: Config) -> bool: ...

    def earlier_runs(self) -> Sequence[EarlierRun]: ...

    def counts(self) -> dict[str, int]: ...


def _wait(store: StoreView) -> str:
    counts = store.counts()
    return waiting_note(counts.get("running", 0), counts.get("queued", 0), store.max_workers)


def run_time_note(store: StoreView, config: Config) -> str:
    """The Train page's note before the click (Markdown): how long this run takes here, and from what."""
    if store.is_cached(config):
        return ("**This run: back at once.** It was trained before with exactly these settings and seed, so it "
                "loads from the cache.")
    estimate = estimate_run(config, store.earlier_runs())
    return f"**This run: {estimate.headline()}**{_wait(store)}.  \n{estimate.basis()}"


def comparison_time_note(store: StoreView, runs: Sequence[Config], title: str = "Whole comparison") -> str:
    """How long a comparison of ``runs`` (in start order) takes on this server's workers (Markdown)."""
    cached = [store.is_cached(config) for config in runs]
    estimate = estimate_comparison(runs, store.earlier_runs(), store.max_workers, cached)
    wait = _wait(store) if estimate.cached < estimate.runs else ""
    return f"**{title}: {estimate.headline()}** ({estimate.details()}){wait}."
