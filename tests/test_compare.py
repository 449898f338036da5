"""The Compare page's statistics on data with known answers: smoothing, grid, mean, bands, table."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rlviz.compare import (MAX_CONFIGS, MIN_CONFIGS, READY_MADE, EpisodeCurve, aggregate_curves,
                           common_grid, config_labels, episodes_csv, format_summary_table, interpolate_to_grid,
                           mean_and_band, mean_curves_csv, moving_average, read_curve, same_settings, seconds_to_solve,
                           seed_matrix, summary_table)
from rlviz.config import make_config
from rlviz.plots import compare_figure


def curve(steps, returns, seconds=None) -> EpisodeCurve:
    steps = np.asarray(steps, dtype=float)
    seconds = steps / 100 if seconds is None else np.asarray(seconds, dtype=float)
    return EpisodeCurve(steps, seconds, np.asarray(returns, dtype=float))


# --- smoothing ------------------------------------------------------------------------------------

def test_moving_average_of_a_step_function_ramps_over_the_window():
    step = np.array([0, 0, 0, 0, 9, 9, 9, 9], dtype=float)
    np.testing.assert_allclose(moving_average(step, 3), [0, 0, 0, 0, 3, 6, 9, 9])
    np.testing.assert_allclose(moving_average(step, 1), step)


def test_moving_average_starts_with_what_there_is():
    # Fewer episodes than the window: the running mean of all so far.
    np.testing.assert_allclose(moving_average([2, 4, 6, 8], 100), [2, 3, 4, 5])
    assert len(moving_average([], 5)) == 0
    with pytest.raises(ValueError):
        moving_average([1.0], 0)


# --- the grid and interpolation ---------------------------------------------------------------------

def test_interpolation_is_linear_inside_and_nan_outside():
    grid = np.array([0, 10, 15, 25, 30, 40])
    values = interpolate_to_grid([10, 20, 30], [0, 10, 40], grid)
    np.testing.assert_allclose(values, [np.nan, 0, 5, 25, 40, np.nan])


def test_interpolation_keeps_the_last_of_episodes_that_end_at_the_same_step():
    # Parallel envs: two episodes end at step 20; the later value is the one the curve passes through.
    values = interpolate_to_grid([10, 20, 20, 30], [0, 1, 5, 5], [10, 15, 20])
    np.testing.assert_allclose(values, [0, 2.5, 5])


def test_interpolation_of_no_episodes_is_all_nan_and_unsorted_x_is_refused():
    assert np.isnan(interpolate_to_grid([], [], [1, 2, 3])).all()
    with pytest.raises(ValueError):
        interpolate_to_grid([3, 2, 1], [0, 0, 0], [1, 2])


def test_common_grid_spans_every_seed_from_first_to_last_episode():
    curves = [curve([20, 50, 100], [1, 2, 3]), curve([10, 300], [1, 2]), EpisodeCurve.empty()]
    grid = common_grid(curves, "env_step", points=30)
    assert len(grid) == 30 and grid[0] == 10 and grid[-1] == 300
    np.testing.assert_allclose(np.diff(grid), 10)
    seconds = common_grid(curves, "wall_seconds", points=5)
    assert seconds[0] == pytest.approx(0.1) and seconds[-1] == pytest.approx(3.0)
    assert len(common_grid([EpisodeCurve.empty()])) == 0


def test_seed_matrix_smooths_each_seed_then_interpolates():
    seeds = [curve([10, 20, 30, 40], [0, 0, 10, 10]), curve([10, 20], [4, 4])]
    matrix = seed_matrix(seeds, np.array([10.0, 20, 30, 40]), "env_step", window=2)
    np.testing.assert_allclose(matrix[0], [0, 0, 5, 10])
    np.testing.assert_allclose(matrix[1], [4, 4, np.nan, np.nan])


# --- mean and band --------------------------------------------------------------------------------

def test_mean_and_std_band_by_hand():
    matrix = np.array([[1.0, 2.0, 3.0, np.nan],
                       [3.0, 4.0, 7.0, 6.0]])
    band = mean_and_band(matrix, "std")
    np.testing.assert_allclose(band.mean, [2, 3, 5, 6])
    # Sample std of two values a, b is |a - b| / sqrt(2).
    spread = np.array([2, 2, 4]) / math.sqrt(2)
    np.testing.assert_allclose(band.low[:3], band.mean[:3] - spread)
    np.testing.assert_allclose(band.high[:3], band.mean[:3] + spread)
    assert np.isnan(band.low[3]) and np.isnan(band.high[3]), "one seed says nothing about the spread"
    np.testing.assert_array_equal(band.count, [2, 2, 2, 1])


def test_all_nan_column_has_no_mean():
    band = mean_and_band(np.array([[np.nan, 1.0], [np.nan, 3.0]]), "ci")
    assert np.isnan(band.mean[0]) and band.mean[1] == 2
    assert band.count[0] == 0


def test_bootstrap_ci_contains_the_mean_and_stays_within_the_seeds():
    rng = np.random.default_rng(7)
    matrix = rng.normal(100, 20, size=(5, 50))
    band = mean_and_band(matrix, "ci")
    assert np.all(band.low <= band.mean) and np.all(band.mean <= band.high)
    assert np.all(band.low >= matrix.min(axis=0)) and np.all(band.high <= matrix.max(axis=0))
    assert np.all(band.high - band.low > 0)
    again = mean_and_band(matrix, "ci")
    np.testing.assert_array_equal(band.low, again.low)  # fixed rng seed: the band does not flicker


def test_bootstrap_ci_shrinks_with_more_seeds_like_one_over_root_n():
    rng = np.random.default_rng(3)
    widths = {}
    for seeds in (4, 40):
        band = mean_and_band(rng.normal(0, 1, size=(seeds, 200)), "ci")
        widths[seeds] = float(np.mean(band.high - band.low))
    assert widths[40] < 0.5 * widths[4]
    # Normal theory: the 95% interval of a mean of 40 unit-variance values is 2 * 1.96 / sqrt(40) wide.
    assert widths[40] == pytest.approx(2 * 1.96 / math.sqrt(40), rel=0.15)


def test_bootstrap_resamples_only_the_seeds_that_have_data():
    # Two seeds, 1 and 3: resample means are 1, 2 or 3, so the 95% interval is [1, 3]. A missing
    # third seed must not count as a value (a zero would pull the low end below 1).
    band = mean_and_band(np.array([[1.0], [np.nan], [3.0]]), "ci")
    assert band.mean[0] == 2 and band.low[0] == 1 and band.high[0] == 3


def test_unknown_band_is_refused():
    with pytest.raises(ValueError, match="unknown band"):
        mean_and_band(np.ones((2, 2)), "iqr")


def test_aggregate_curves_puts_every_configuration_on_one_grid():
    steps = np.arange(10, 101, 10)
    first = [curve(steps, steps / 10), curve(steps, steps / 10 + 2)]
    second = [curve(steps[:5], np.full(5, 7.0)), curve(steps[:5], np.full(5, 9.0))]
    table = aggregate_curves(["A", "B"], [first, second], "env_step", window=1, band="std", points=10)
    a = table[table["configuration"] == "A"]
    b = table[table["configuration"] == "B"]
    np.testing.assert_allclose(a["x"], steps)
    np.testing.assert_allclose(a["mean"], steps / 10 + 1)
    np.testing.assert_allclose(a["high"] - a["mean"], math.sqrt(2))
    # B's seeds end at step 50: its curve stops there instead of being extrapolated.
    np.testing.assert_allclose(b["x"], steps[:5])
    np.testing.assert_allclose(b["mean"], 8)
    assert set(table["seeds"]) == {2}


# --- reading runs and the summary table -----------------------------------------------------------

def write_run(run_dir: Path, episodes: list[tuple[int, float, float]], summary: dict | None) -> Path:
    """A fake run directory: episode events (env_step, wall_seconds, return) and maybe a summary."""
    run_dir.mkdir(parents=True)
    with open(run_dir / "events.jsonl", "w") as file:
        for number, (step, seconds, value) in enumerate(episodes, 1):
            file.write(json.dumps(dict(kind="episode", env_step=step, episode=number, episode_return=value, length=10,
                                       terminated=True, truncated=False, wall_seconds=seconds)) + "\n")
            update = dict(kind="update", env_step=step, updates=1, wall_seconds=seconds, metrics={})
            file.write(json.dumps(update) + "\n")
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def summary(final: float, solved_at: int | None, steps_per_second: float, stopped: bool = False) -> dict:
    return dict(final_mean_return=final, solved_at_step=solved_at, steps_per_second=steps_per_second,
                wall_seconds=10.0, stopped=stopped)


def test_summary_table_from_run_directories(tmp_path):
    episodes = [(100, 1.0, 10.0), (200, 2.0, 20.0), (300, 3.5, 30.0), (400, 4.0, 40.0)]
    a = [write_run(tmp_path / "a0", episodes, summary(100.0, 200, 1000.0)),
         write_run(tmp_path / "a1", episodes, summary(200.0, 400, 3000.0)),
         write_run(tmp_path / "a2", episodes, summary(300.0, None, 2000.0)),
         write_run(tmp_path / "a3", episodes[:2], None)]  # still training: not counted
    b = [write_run(tmp_path / "b0", episodes, summary(50.0, None, 500.0)),
         write_run(tmp_path / "b1", episodes, summary(999.0, 100, 500.0, stopped=True))]  # stopped: not counted
    table = summary_table([("A", a), ("B", b)], band="std")
    assert list(table["configuration"]) == ["A", "B"]
    row = table.iloc[0]
    assert row["seeds"] == 4 and row["seeds finished"] == 3
    assert row["final return"] == pytest.approx(200.0)
    assert row["band high"] - row["final return"] == pytest.approx(100.0)  # sample std of 100, 200, 300
    assert row["solved"] == 2
    assert row["median steps to solve"] == pytest.approx(300.0)  # median of 200 and 400
    assert row["median seconds to solve"] == pytest.approx(3.0)  # median of 2.0 and 4.0 s
    assert row["steps/s"] == pytest.approx(2000.0)
    row = table.iloc[1]
    assert row["seeds finished"] == 1 and row["final return"] == 50.0 and np.isnan(row["band low"])
    assert row["solved"] == 0 and np.isnan(row["median steps to solve"])

    shown = format_summary_table(table, "std")
    assert list(shown.iloc[0])[1:] == ["3 / 4", "200.0 ± 100.0", "2 / 3", "300", "3.0", "2,000"]
    assert list(shown.iloc[1])[1:] == ["1 / 2", "50.0", "0 / 1", "–", "–", "500"]
    ci = format_summary_table(summary_table([("A", a)], band="ci"), "ci")
    assert ci.iloc[0, 2].startswith("200.0 [") and "95% CI" in ci.columns[2]


def test_seconds_to_solve_is_the_time_of_the_solving_episode():
    run = curve([10, 20, 20, 30], [1, 2, 3, 4], seconds=[0.5, 0.9, 1.0, 1.5])
    assert seconds_to_solve(run, 20) == 0.9
    assert seconds_to_solve(run, None) is None
    assert seconds_to_solve(run, 99) is None


def test_read_curve_from_events_or_from_episodes_csv(tmp_path):
    run = write_run(tmp_path / "run", [(10, 0.1, 5.0), (25, 0.2, 8.0)], None)
    from_events = read_curve(run)
    np.testing.assert_allclose(from_events.env_step, [10, 25])
    np.testing.assert_allclose(from_events.episode_return, [5, 8])
    csv_only = tmp_path / "csv"
    csv_only.mkdir()
    (csv_only / "episodes.csv").write_text("env_step,episode,return,length,terminated,truncated,wall_seconds\n"
                                           "10,1,5.0,10,1,0,0.1\n25,2,8.0,15,1,0,0.2\n")
    from_csv = read_curve(csv_only)
    np.testing.assert_allclose(from_csv.env_step, [10, 25])
    np.testing.assert_allclose(from_csv.wall_seconds, [0.1, 0.2])
    np.testing.assert_allclose(from_csv.episode_return, [5, 8])


# --- downloads, labels, ready-made comparisons, the figure -----------------------------------------

def test_csv_downloads():
    curves = [[curve([10, 20], [1, 2]), curve([15], [3])], [curve([5], [4]), EpisodeCurve.empty()]]
    text = episodes_csv(["A", "B"], [0, 1], [["a0", "a1"], ["b0", "b1"]], curves)
    table = pd.read_csv(__import__("io").StringIO(text))
    assert list(table.columns) == ["configuration", "seed", "run_id", "episode", "env_step", "wall_seconds",
                                   "episode_return"]
    assert len(table) == 4
    assert table.iloc[2].tolist() == ["A", 1, "a1", 1, 15, 0.15, 3.0]
    mean = mean_curves_csv(aggregate_curves(["A", "B"], curves, "wall_seconds", band="std", points=5), "wall_seconds")
    assert mean.splitlines()[0] == "configuration,wall_seconds,mean,low,high,seeds"


def test_labels_name_what_differs():
    configs = [make_config("a2c", n_envs=1), make_config("a2c", n_envs=8), make_config("dqn")]
    assert config_labels(configs) == ["A2C (parallel envs) · n_envs=1", "A2C (parallel envs) · n_envs=8",
                                      "DQN (soft target)"]
    mixed = config_labels([make_config("a2c"), make_config("a2c", "LunarLander-v3")])
    assert mixed[0].startswith("A2C (parallel envs) · CartPole-v1") and "LunarLander-v3" in mixed[1]
    assert same_settings(make_config("dqn", seed=1), make_config("dqn", seed=2))
    assert not same_settings(make_config("dqn"), make_config("dqn", tau=0.01))


@pytest.mark.parametrize("ready", READY_MADE, ids=lambda ready: ready.name)
def test_ready_made_comparisons_are_valid_and_distinct(ready):
    assert MIN_CONFIGS <= len(ready.entries) <= MAX_CONFIGS and ready.question
    configs = [make_config(algo, env_id, **overrides) for _, algo, env_id, overrides in ready.entries]
    labels = [label for label, *_ in ready.entries]
    assert len(set(labels)) == len(labels)
    for i in range(len(configs)):
        for j in range(i + 1, len(configs)):
            assert not same_settings(configs[i], configs[j])
    # A class on 2 cores: every CartPole run stays within 100k env steps; LunarLander's 1M says it is long.
    for config in configs:
        assert config.total_steps <= (100_000 if config.env_id == "CartPole-v1" else 1_000_000)
    if any(config.env_id != "CartPole-v1" for config in configs):
        assert "Long" in ready.question


def test_ready_made_comparisons_cover_the_issue():
    names = " ".join(ready.name for ready in READY_MADE)
    assert "n = 1 vs 5 vs 20" in names and "tau = 0.001 vs 0.01 vs 1" in names and "1 vs 8 vs 32" in names
    lunar = next(ready for ready in READY_MADE if "A2C vs PPO on LunarLander" in ready.name)
    assert [(algo, env_id) for _, algo, env_id, _ in lunar.entries] == [("a2c", "LunarLander-v3"), ("ppo", "LunarLander-v3")]
    every = next(ready for ready in READY_MADE if "Every algorithm" in ready.name)
    assert {algo for _, algo, *_ in every.entries} == {"dqn", "td-ac", "a2c-1step", "nstep-ac", "a2c", "ppo"}


def test_compare_figure_has_a_mean_and_a_band_per_configuration_and_the_threshold():
    steps = np.arange(10, 101, 10)
    curves = [[curve(steps, steps), curve(steps, steps + 20)], [curve(steps, steps / 2), curve(steps, steps / 2 + 5)]]
    aggregated = aggregate_curves(["A", "B"], curves, band="std", points=10)
    figure = compare_figure(aggregated, ["A", "B"], {"CartPole-v1 solved at 475": 475.0})
    means = [trace for trace in figure.data if trace.fill is None]
    bands = [trace for trace in figure.data if trace.fill == "toself"]
    assert [trace.name for trace in means] == ["A", "B"]
    assert len(bands) == 2
    # The band's outline runs along the top and back along the bottom: 2 * 10 points.
    assert len(bands[0].x) == 20 and bands[0].y[0] == pytest.approx(10 + 10 + 10 * math.sqrt(2))
    assert figure.layout.shapes[0].y0 == 475
    single = compare_figure(aggregate_curves(["A"], [curves[0][:1]], points=10), ["A"], {})
    assert not [trace for trace in single.data if trace.fill == "toself"], "one seed: no band"
