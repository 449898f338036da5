"""The reward curve stays light for long runs without losing what it shows."""

import numpy as np
import pandas as pd
import pytest

from rlviz.plots import MAX_POINTS, diagnostics_figure, readable_number, reward_curve
from rlviz.ui.run_view import LIVE_MAX_POINTS


@pytest.mark.parametrize("max_points", [MAX_POINTS, LIVE_MAX_POINTS])
def test_a_long_run_is_thinned_but_keeps_the_newest_episode_and_an_exact_moving_average(max_points):
    returns = np.random.default_rng(0).normal(100.0, 30.0, size=10_001)
    episodes = pd.DataFrame({"env_step": np.arange(1, len(returns) + 1) * 50, "episode_return": returns})
    dots, mean_line = reward_curve(episodes, solve_threshold=475.0, max_points=max_points).data
    assert max_points / 2 < len(dots.x) <= max_points + 1 and len(mean_line.x) == len(dots.x)
    assert dots.x[0] == 50 and dots.x[-1] == episodes["env_step"].iloc[-1]
    # The moving average is taken over every episode before thinning: its last point is the true last-100 mean.
    assert np.isclose(mean_line.y[-1], returns[-100:].mean())
    # Kept dots stay put as the run grows: all but the newest are shown again one episode later.
    grown = pd.concat([episodes, pd.DataFrame({"env_step": [10**7], "episode_return": [0.0]})], ignore_index=True)
    kept_before = list(dots.x[:-1])
    assert list(reward_curve(grown, None, max_points=max_points).data[0].x[:len(kept_before)]) == kept_before


def test_a_short_run_shows_every_episode():
    episodes = pd.DataFrame({"env_step": [10, 30, 45], "episode_return": [10.0, 20.0, 15.0]})
    dots, mean_line = reward_curve(episodes, None).data
    assert list(dots.y) == [10.0, 20.0, 15.0]
    assert list(mean_line.y) == [10.0, 15.0, 15.0]


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0123, "0.0123"), (123.456, "123.5"), (1.0, "1"), (0.0, "0"), (999.96, "1,000"), (12345.6, "12,346"),
        (-12345.6, "-12,346"), (1_234_567.0, "1.2e6"), (9.606e23, "9.6e23"), (1e10, "1e10"), (-3.2e-7, "-3.2e-7"),
        (float("inf"), "∞"), (float("-inf"), "-∞"), (float("nan"), "NaN"),
    ],
)
def test_readable_number_fits_a_metric_tile(value, text):
    assert readable_number(value) == text
    assert len(text) <= 7


def test_diagnostics_show_values_of_returns_in_env_units_and_label_scaled_losses():
    updates = pd.DataFrame({"env_step": [100, 200], "critic_loss": [0.02, 0.01], "value_mean": [0.5, 0.9],
                            "mean_abs_td_error": [0.03, 0.01], "entropy": [0.69, 0.6]})
    metrics = ["critic_loss", "entropy", "mean_abs_td_error", "value_mean"]
    figure = diagnostics_figure(updates, metrics, reward_scale=0.01)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert titles == ["Critic loss (rewards × 0.01)", "Policy entropy", "Mean |TD error|, env units",
                      "Mean V(s), env units"]
    by_title = {trace.name: list(trace.y) for trace in figure.data}
    assert by_title["Mean V(s), env units"] == pytest.approx([50.0, 90.0])  # the critic's values / 0.01
    assert by_title["Mean |TD error|, env units"] == pytest.approx([3.0, 1.0])
    assert by_title["Critic loss (rewards × 0.01)"] == [0.02, 0.01]  # a loss stays in the learner's units
    assert by_title["Policy entropy"] == [0.69, 0.6]
    # Every panel says what its x axis is.
    axes = [figure.layout[f"xaxis{index if index > 1 else ''}"] for index in range(1, len(metrics) + 1)]
    assert all(axis.title.text == "environment steps" for axis in axes)
    # Unscaled rewards: no scale in the labels.
    assert diagnostics_figure(updates, ["critic_loss"]).layout.annotations[0].text == "Critic loss"
