"""Comparing configurations over seeds: the statistics behind the Compare page.

A comparison trains every configuration with the same seeds (paired). For each configuration this
module turns the seeds' episode curves into one mean curve with a band:

1. each seed's returns are smoothed with a trailing moving average over episodes;
2. each smoothed curve is interpolated onto a common grid of env steps (or wall seconds), NaN
   outside the seed's own first and last episode, never extrapolated;
3. at each grid point the mean is taken over the seeds that have data there, and the band is
   either +- one sample standard deviation or a 95% percentile-bootstrap confidence interval of
   that mean (resampling seeds, with a fixed random seed so the band does not flicker between
   redraws).

It also builds the per-configuration summary table from each run's summary.json, the CSV
downloads, legend labels, and holds the ready-made comparisons. Pure: no Streamlit here.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from rlviz.config import ALGOS, Config, make_config
from rlviz.feeds import RunFeed
from rlviz.plots import in_env_units
from rlviz.rundir import read_events

MIN_CONFIGS = 2
MAX_CONFIGS = 6  # the issue asks for 2 to 4, but the ready-made "Every algorithm" needs one per algorithm
MAX_SEEDS = 5
GRID_POINTS = 200
BOOTSTRAP_SAMPLES = 1_000
BOOTSTRAP_SEED = 0
CONFIDENCE = 0.95
BANDS = {"ci": "95% bootstrap CI", "std": "± 1 std"}
X_AXES = {"env_step": "environment steps", "wall_seconds": "wall-clock seconds"}


# --- reading a run's episode curve ----------------------------------------------------------------

@dataclass
class EpisodeCurve:
    """One run's finished episodes in order; three arrays of shape (E,).

    ``stride`` > 1 when the curve keeps only every stride-th episode (a long run's shared feed,
    see rlviz.feeds): smoothing windows, counted in episodes, are divided by it.
    """

    env_step: np.ndarray
    wall_seconds: np.ndarray
    episode_return: np.ndarray
    stride: int = 1

    def __len__(self) -> int:
        return len(self.env_step)

    def x(self, axis: str) -> np.ndarray:
        """The x values for ``axis`` ("env_step" or "wall_seconds")."""
        if axis not in X_AXES:
            raise ValueError(f"unknown x axis '{axis}': choose one of {', '.join(X_AXES)}")
        return getattr(self, axis)

    def smoothed(self, window: int) -> np.ndarray:
        """The trailing moving average over ``window`` episodes (kept points when thinned)."""
        return moving_average(self.episode_return, max(1, round(window / self.stride)))

    @classmethod
    def empty(cls) -> "EpisodeCurve":
        return cls(np.zeros(0), np.zeros(0), np.zeros(0))


def metric_curve(updates: Sequence[Mapping[str, float]], metric: str, reward_scale: float = 1.0) -> EpisodeCurve:
    """One run's ``metric`` over env steps, from the updates that report it (rlviz.feeds' update table), as
    the diagnostics show it (rlviz.plots.in_env_units): a curve whose "returns" are that metric, for the
    same means and bands."""
    rows = [row for row in updates if metric in row]
    env_step = np.array([row["env_step"] for row in rows], dtype=float)
    values = in_env_units(metric, np.array([row[metric] for row in rows], dtype=float), reward_scale)
    return EpisodeCurve(env_step, np.full(len(rows), np.nan), values)


def feed_curve(run_feed: RunFeed) -> EpisodeCurve:
    """The curve a live run's shared feed holds (thinned beyond rlviz.feeds.MAX_EPISODE_POINTS episodes)."""
    table = run_feed.episode_table()
    return EpisodeCurve(table["env_step"], table["wall_seconds"], table["episode_return"], run_feed.episode_stride)


def read_curve(run_dir: Path) -> EpisodeCurve:
    """Every episode of a run, from episodes.csv (complete once the run has ended), else from its events."""
    run_dir = Path(run_dir)
    try:
        table = pd.read_csv(run_dir / "episodes.csv")
        return EpisodeCurve(table["env_step"].to_numpy(float), table["wall_seconds"].to_numpy(float),
                            table["return"].to_numpy(float))
    except (OSError, ValueError, KeyError):
        episodes = [event for event in read_events(run_dir)[0] if event["kind"] == "episode"]
        return EpisodeCurve(*(np.array([event.get(name, np.nan) for event in episodes], dtype=float)
                              for name in ("env_step", "wall_seconds", "episode_return")))


# --- smoothing, grid, interpolation ---------------------------------------------------------------

def moving_average(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over episodes, shape (E,) -> (E,).

    y_i = mean(x_j for max(0, i - window + 1) <= j <= i): the first episodes average what there is
    so far, so the curve starts at the first episode instead of after ``window`` of them.
    """
    if window < 1:
        raise ValueError(f"window={window} must be at least 1")
    values = np.asarray(values, dtype=float)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    start = np.maximum(0, index + 1 - window)
    return (sums[index + 1] - sums[start]) / (index + 1 - start)


def interpolate_to_grid(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation of the points (x, y), shape (E,), onto ``grid``, shape (G,) -> (G,).

    NaN before the first and after the last x: a seed that has not got there yet has no value,
    rather than a guessed one. ``x`` must be non-decreasing; where several episodes end at the
    same x (parallel envs), the last one (the average after all of them) is kept.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    grid = np.asarray(grid, dtype=float)
    if len(x) == 0:
        return np.full(grid.shape, np.nan)
    if np.any(np.diff(x) < 0):
        raise ValueError("x must be non-decreasing")
    last_of_each = np.append(x[1:] != x[:-1], True)
    return np.interp(grid, x[last_of_each], y[last_of_each], left=np.nan, right=np.nan)


def common_grid(curves: Sequence[EpisodeCurve], axis: str = "env_step", points: int = GRID_POINTS) -> np.ndarray:
    """``points`` evenly spaced x values, shape (G,), from the earliest first episode to the latest
    last episode of all ``curves`` (every seed of every configuration: one grid for the figure)."""
    starts = [curve.x(axis)[0] for curve in curves if len(curve)]
    ends = [curve.x(axis)[-1] for curve in curves if len(curve)]
    if not starts:
        return np.zeros(0)
    low, high = min(starts), max(ends)
    if high <= low:
        return np.array([low], dtype=float)
    return np.linspace(low, high, points)


def seed_matrix(curves: Sequence[EpisodeCurve], grid: np.ndarray, axis: str = "env_step",
                window: int = 1) -> np.ndarray:
    """The seeds' smoothed curves on ``grid``: shape (S, G), NaN where a seed has no data."""
    rows = [interpolate_to_grid(curve.x(axis), curve.smoothed(window), grid) for curve in curves]
    return np.array(rows, dtype=float).reshape(len(curves), len(grid))


# --- mean and band --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Band:
    """Per grid point, shape (G,) each: the mean over seeds, the band [low, high] and how many
    seeds had data. ``low``/``high`` are NaN where fewer than two seeds had data (one seed says
    nothing about the spread)."""

    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    count: np.ndarray


def mean_and_band(matrix: np.ndarray, band: str = "ci", samples: int = BOOTSTRAP_SAMPLES,
                  seed: int = BOOTSTRAP_SEED, confidence: float = CONFIDENCE) -> Band:
    """Mean over seeds and a band, for a (S, G) matrix of S seeds on G grid points (NaN = no data).

    With c_j seeds that have data at grid point j:
      mean_j = (1 / c_j) sum_i y_ij
      "std": mean_j -+ s_j, with s_j = sqrt(sum_i (y_ij - mean_j)^2 / (c_j - 1))
      "ci":  the 2.5th and 97.5th percentiles of the means of ``samples`` bootstrap resamples
             (c_j of the seeds drawn with replacement), rng seeded with ``seed``.
    """
    if band not in BANDS:
        raise ValueError(f"unknown band '{band}': choose one of {', '.join(BANDS)}")
    matrix = np.atleast_2d(np.asarray(matrix, dtype=float))
    seeds, points = matrix.shape
    present = ~np.isnan(matrix)
    count = present.sum(axis=0)
    total = np.where(present, matrix, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
    spread = count >= 2
    low = np.full(points, np.nan)
    high = np.full(points, np.nan)
    if not spread.any():
        return Band(mean, low, high, count)
    if band == "std":
        squares = np.where(present, (matrix - mean) ** 2, 0.0).sum(axis=0)
        std = np.sqrt(squares[spread] / (count[spread] - 1))
        low[spread], high[spread] = mean[spread] - std, mean[spread] + std
        return Band(mean, low, high, count)
    # Bootstrap: sort so each column's c_j values come first (NaN last), draw indices in [0, c_j)
    # and average only the first c_j draws, so every column resamples exactly its own seeds.
    ordered = np.sort(matrix, axis=0)
    rng = np.random.default_rng(seed)
    draws = np.floor(rng.random((samples, seeds, points)) * np.maximum(count, 1)).astype(int)
    values = ordered[draws, np.arange(points)]
    used = np.arange(seeds)[:, None] < count[None, :]
    resampled_means = np.where(used, values, 0.0).sum(axis=1) / np.maximum(count, 1)
    tail = (1 - confidence) / 2 * 100
    percentiles = np.percentile(resampled_means[:, spread], [tail, 100 - tail], axis=0)
    low[spread], high[spread] = percentiles[0], percentiles[1]
    return Band(mean, low, high, count)


def aggregate_curves(labels: Sequence[str], curves: Sequence[Sequence[EpisodeCurve]], axis: str = "env_step",
                     window: int = 1, band: str = "ci", points: int = GRID_POINTS) -> pd.DataFrame:
    """Every configuration's mean curve and band on one common grid.

    ``curves[c][s]`` is seed s of configuration c. Returns a long table with columns
    configuration, x, mean, low, high, seeds (seeds = how many had data at x), G rows per
    configuration; grid points where no seed of a configuration has data are left out.
    """
    grid = common_grid([curve for per_config in curves for curve in per_config], axis, points)
    frames = []
    for label, per_config in zip(labels, curves):
        stats = mean_and_band(seed_matrix(per_config, grid, axis, window), band)
        frame = pd.DataFrame({"configuration": label, "x": grid, "mean": stats.mean, "low": stats.low,
                              "high": stats.high, "seeds": stats.count})
        frames.append(frame[frame["seeds"] > 0])
    columns = ["configuration", "x", "mean", "low", "high", "seeds"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def seed_curves(labels: Sequence[str], seeds: Sequence[int], curves: Sequence[Sequence[EpisodeCurve]],
                axis: str = "env_step", window: int = 1) -> pd.DataFrame:
    """Each seed's smoothed curve at its own episodes: columns configuration, seed, x, y."""
    frames = [pd.DataFrame({"configuration": label, "seed": seed, "x": curve.x(axis),
                            "y": curve.smoothed(window)})
              for label, per_config in zip(labels, curves) for seed, curve in zip(seeds, per_config) if len(curve)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["configuration", "seed", "x", "y"])


# --- the summary table ----------------------------------------------------------------------------

def read_summary(run_dir: Path) -> dict[str, Any] | None:
    """summary.json of a run that trained to the end; None while running, or if it was stopped."""
    try:
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return None if summary.get("stopped") else summary


def seconds_to_solve(curve: EpisodeCurve, solved_at_step: int | None) -> float | None:
    """Wall seconds at the episode that solved the run (the first to end at ``solved_at_step``)."""
    if solved_at_step is None or not len(curve):
        return None
    index = int(np.searchsorted(curve.env_step, solved_at_step, side="left"))
    return float(curve.wall_seconds[index]) if index < len(curve) else None


def summary_row(label: str, summaries: Sequence[dict[str, Any] | None], curves: Sequence[EpisodeCurve],
                band: str = "ci") -> dict[str, Any]:
    """One configuration's row: over its finished seeds (``summaries[s]`` is None while seed s
    trains), the mean final return (mean of each seed's last 100 training episodes) and its band,
    how many solved, the median steps and seconds to solve, and the mean steps/s."""
    finished = [(summary, curve) for summary, curve in zip(summaries, curves) if summary is not None]
    finals = np.array([s["final_mean_return"] for s, _ in finished if s.get("final_mean_return") is not None],
                      dtype=float)
    solved = [(s["solved_at_step"], seconds_to_solve(c, s["solved_at_step"])) for s, c in finished
              if s.get("solved_at_step") is not None]
    solve_seconds = [seconds for _, seconds in solved if seconds is not None]
    if len(finals):
        stats = mean_and_band(finals[:, None], band)
        final, low, high = float(stats.mean[0]), float(stats.low[0]), float(stats.high[0])
    else:
        final = low = high = float("nan")
    return {
        "configuration": label,
        "seeds": len(summaries),
        "seeds finished": len(finished),
        "final return": final,
        "band low": low,
        "band high": high,
        "solved": len(solved),
        "median steps to solve": float(np.median([step for step, _ in solved])) if solved else float("nan"),
        "median seconds to solve": float(np.median(solve_seconds)) if solve_seconds else float("nan"),
        "steps/s": float(np.mean([s["steps_per_second"] for s, _ in finished])) if finished else float("nan"),
    }


def summary_table(configurations: Sequence[tuple[str, Sequence[Path]]], band: str = "ci",
                  curves: Mapping[Path, EpisodeCurve] | None = None) -> pd.DataFrame:
    """One row per (label, run dirs of its seeds), read from each run's summary.json; see
    ``summary_row``. Pass ``curves`` (by run dir) to reuse curves already read."""
    curves = curves or {}
    rows = []
    for label, run_dirs in configurations:
        summaries = [read_summary(run_dir) for run_dir in run_dirs]
        seed_curves_ = [curves[run_dir] if run_dir in curves else read_curve(run_dir) for run_dir in run_dirs]
        rows.append(summary_row(label, summaries, seed_curves_, band))
    return pd.DataFrame(rows)


def format_summary_table(table: pd.DataFrame, band: str = "ci") -> pd.DataFrame:
    """The summary table as a student reads it: text cells, '–' where there is nothing yet."""

    def number(value: float, fmt: str) -> str:
        return "–" if value is None or np.isnan(value) else format(value, fmt)

    def final(row: pd.Series) -> str:
        if np.isnan(row["final return"]):
            return "–"
        if np.isnan(row["band low"]):
            return f"{row['final return']:.1f}"
        if band == "std":
            return f"{row['final return']:.1f} ± {(row['band high'] - row['final return']):.1f}"
        return f"{row['final return']:.1f} [{row['band low']:.1f}, {row['band high']:.1f}]"

    band_name = "95% CI" if band == "ci" else "± std"
    return pd.DataFrame({
        "Configuration": table["configuration"],
        "Seeds finished": [f"{f} / {n}" for f, n in zip(table["seeds finished"], table["seeds"])],
        f"Final return, mean ({band_name})": [final(row) for _, row in table.iterrows()],
        "Seeds solved": [f"{s} / {f}" for s, f in zip(table["solved"], table["seeds finished"])],
        "Median steps to solve": [number(v, ",.0f") for v in table["median steps to solve"]],
        "Median seconds to solve": [number(v, ".1f") for v in table["median seconds to solve"]],
        "Steps/s": [number(v, ",.0f") for v in table["steps/s"]],
    })


# --- downloads ------------------------------------------------------------------------------------

def episodes_csv(labels: Sequence[str], seeds: Sequence[int], run_ids: Sequence[Sequence[str]],
                 curves: Sequence[Sequence[EpisodeCurve]]) -> str:
    """Every episode of every run: configuration, seed, run_id, episode, env_step, wall_seconds, episode_return."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("configuration", "seed", "run_id", "episode", "env_step", "wall_seconds", "episode_return"))
    for label, ids, per_config in zip(labels, run_ids, curves):
        for seed, run_id, curve in zip(seeds, ids, per_config):
            rows = zip(curve.env_step, curve.wall_seconds, curve.episode_return)
            for episode, (step, seconds, value) in enumerate(rows, 1):
                writer.writerow((label, seed, run_id, episode, int(step), round(float(seconds), 3), float(value)))
    return buffer.getvalue()


def mean_curves_csv(aggregated: pd.DataFrame, axis: str) -> str:
    """The plotted mean curves and bands (``aggregate_curves``' table), x named after ``axis``."""
    return aggregated.rename(columns={"x": axis}).to_csv(index=False, float_format="%.6g")


# --- labels ---------------------------------------------------------------------------------------

_NOT_COMPARED = ("algo", "env_id", "seed")


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def config_labels(configs: Sequence[Config], max_fields: int = 3) -> list[str]:
    """Short legend labels that name what differs between the configurations.

    Each label is the algorithm's display name, plus the env when the envs differ, plus
    ``name=value`` for the fields that differ among the configurations of the same algorithm.
    """
    envs_differ = len({config.env_id for config in configs}) > 1
    labels = []
    for config in configs:
        same_algo = [other for other in configs if other.algo == config.algo]
        differing = [f.name for f in dataclasses.fields(config) if f.name not in _NOT_COMPARED
                     and len({getattr(other, f.name) for other in same_algo}) > 1]
        parts = [ALGOS[config.algo].display_name]
        if envs_differ:
            parts.append(config.env_id)
        shown = [f"{name}={_format_value(getattr(config, name))}" for name in differing[:max_fields]]
        if len(differing) > max_fields:
            shown.append("…")
        if shown:
            parts.append(", ".join(shown))
        labels.append(" · ".join(parts))
    return labels


def same_settings(first: Config, second: Config) -> bool:
    """Whether two configs differ in nothing but the seed (so comparing them is pointless)."""
    return first.to_dict() | {"seed": 0} == second.to_dict() | {"seed": 0}


# --- ready-made comparisons -----------------------------------------------------------------------

@dataclass(frozen=True)
class ReadyMade:
    """A comparison a student starts with one click. Each entry is (label, algo, env_id, overrides)."""

    name: str
    question: str
    entries: tuple[tuple[str, str, str, dict[str, Any]], ...]

    def configs(self) -> list[Config]:
        return [make_config(algo, env_id, **overrides) for _, algo, env_id, overrides in self.entries]

    @property
    def labels(self) -> list[str]:
        return [label for label, *_ in self.entries]

    def describe(self) -> str:
        """The question it answers and what it costs."""
        steps = sorted({config.total_steps for config in self.configs()})
        budget = " or ".join(f"{value:,}" for value in steps)
        return f"{self.question} {len(self.entries)} configurations, {budget} env steps per run."


READY_MADE: list[ReadyMade] = [
    ReadyMade(
        "n-step returns: n = 1 vs 5 vs 20",
        "How far should the return look ahead before it bootstraps from V? Every step learns from exactly "
        "n rewards plus V after them: n = 1 is the one-step TD target (biased by V, low variance); larger n "
        "sums more real rewards (less bias, more variance). All three update every 8 steps.",
        tuple((f"n = {n}", "nstep-ac", "CartPole-v1", dict(n_step_return=n, total_steps=50_000)) for n in (1, 5, 20)),
    ),
    ReadyMade(
        "DQN target: tau = 0.001 vs 0.01 vs 1",
        "How fast should the target network follow the online one? tau = 1 copies it at every sync: "
        "the targets move with every gradient step. Small tau keeps them still, but slow to improve.",
        tuple((f"tau = {tau:g}", "dqn", "CartPole-v1", dict(tau=tau, total_steps=50_000))
              for tau in (0.001, 0.01, 1.0)),
    ),
    ReadyMade(
        "A2C: 1 vs 8 vs 32 parallel envs",
        "More parallel envs give bigger, less correlated batches per update and more steps per "
        "second; per env step, they also mean fewer updates.",
        tuple((f"{n} env{'s' if n > 1 else ''}", "a2c", "CartPole-v1", dict(n_envs=n, total_steps=100_000))
              for n in (1, 8, 32)),
    ),
    ReadyMade(
        "A2C vs PPO on LunarLander-v3",
        "Same rollouts and advantages, but PPO learns from each rollout many times, in minibatches, with a "
        "clipped ratio that keeps every update close to the policy that collected the data. Which one lands, "
        "within 1M steps? (Long: minutes per run.)",
        tuple((ALGOS[key].short_name, key, "LunarLander-v3", {}) for key in ("a2c", "ppo")),
    ),
    ReadyMade(
        "Every algorithm on CartPole-v1",
        "Each algorithm's preset, given the same 50,000 env steps: which learns most per step, and "
        "which per second?",
        tuple((info.display_name, key, "CartPole-v1", dict(total_steps=50_000)) for key, info in ALGOS.items()),
    ),
]
