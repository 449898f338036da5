"""The return maths against hand-computed numbers and the identities DESIGN.md promises."""

import numpy as np
import pytest
import torch

from rlviz.returns import gae, n_step_targets, td_errors, td_targets

GAMMA = 0.5
# A 4-step segment: the episode terminates after step 2, a new one starts at step 3.
REWARDS = np.array([1.0, 2.0, 3.0, 4.0])
NEXT_VALUES = np.array([10.0, 20.0, 30.0, 40.0])
TERMINATED = np.array([False, False, True, False])
NOT_TRUNCATED = np.zeros(4, dtype=bool)


def test_one_step_targets_by_hand():
    targets = n_step_targets(REWARDS, NEXT_VALUES, TERMINATED, NOT_TRUNCATED, GAMMA, n=1)
    # r + gamma V(s'), except at the termination where V(s') is dropped.
    np.testing.assert_allclose(targets, [1 + 0.5 * 10, 2 + 0.5 * 20, 3, 4 + 0.5 * 40])


def test_td_targets_are_the_one_step_targets():
    np.testing.assert_allclose(td_targets(REWARDS, NEXT_VALUES, TERMINATED, GAMMA), [6, 12, 3, 24])
    # A truncated step (row 3 cut by a time limit) is bootstrapped all the same.
    truncated = np.array([False, False, False, True])
    np.testing.assert_array_equal(td_targets(REWARDS, NEXT_VALUES, TERMINATED, GAMMA),
                                  n_step_targets(REWARDS, NEXT_VALUES, TERMINATED, truncated, GAMMA, n=1))


def test_two_step_targets_by_hand():
    targets = n_step_targets(REWARDS, NEXT_VALUES, TERMINATED, NOT_TRUNCATED, GAMMA, n=2)
    expected = [
        1 + 0.5 * 2 + 0.25 * 20,  # two rewards, then bootstrap with V(s_2)
        2 + 0.5 * 3,  # the sum reaches the termination: no bootstrap
        3,  # terminal step
        4 + 0.5 * 40,  # the segment ends: bootstrap with V(s_4)
    ]
    np.testing.assert_allclose(targets, expected)


def test_long_horizon_is_cut_at_the_termination():
    targets = n_step_targets(REWARDS, NEXT_VALUES, TERMINATED, NOT_TRUNCATED, GAMMA, n=100)
    np.testing.assert_allclose(targets[:3], [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3])


def test_truncation_bootstraps_and_termination_does_not():
    rewards = np.array([1.0, 1.0])
    next_values = np.array([5.0, 7.0])
    ended, running = np.array([False, True]), np.array([False, False])
    truncated = n_step_targets(rewards, next_values, running, ended, 0.9, n=5)
    terminated = n_step_targets(rewards, next_values, ended, running, 0.9, n=5)
    np.testing.assert_allclose(truncated, [1 + 0.9 * 1 + 0.81 * 7, 1 + 0.9 * 7])
    np.testing.assert_allclose(terminated, [1 + 0.9 * 1, 1])


def test_truncation_stops_the_sum_before_the_next_episode():
    # Step 0 is truncated: step 1 belongs to a new episode and must not leak into target 0.
    rewards = np.array([1.0, 100.0])
    next_values = np.array([3.0, 0.0])
    targets = n_step_targets(rewards, next_values, [0, 0], [1, 0], 0.9, n=2)
    assert targets[0] == pytest.approx(1 + 0.9 * 3)


def test_n_equal_one_is_the_td_target():
    rng = np.random.default_rng(0)
    rewards, next_values = rng.normal(size=50), rng.normal(size=50)
    terminated, truncated = rng.random(50) < 0.2, rng.random(50) < 0.1
    expected = rewards + 0.97 * (1 - terminated) * next_values
    np.testing.assert_allclose(n_step_targets(rewards, next_values, terminated, truncated, 0.97, n=1), expected)


def test_full_length_with_terminal_end_is_the_monte_carlo_return():
    rng = np.random.default_rng(1)
    rewards = rng.normal(size=20)
    terminated = np.zeros(20)
    terminated[-1] = 1
    targets = n_step_targets(rewards, rng.normal(size=20), terminated, np.zeros(20), 0.9, n=20)
    monte_carlo = [sum(0.9**k * r for k, r in enumerate(rewards[t:])) for t in range(20)]
    np.testing.assert_allclose(targets, monte_carlo)


def _consistent_segment(rng, length):
    """Random rewards and values with next_values[t] = values[t+1] inside an episode."""
    values = rng.normal(size=length + 1)
    terminated = rng.random(length) < 0.15
    truncated = ~terminated & (rng.random(length) < 0.1)
    next_values = values[1:].copy()
    # after an episode ends the next row's value belongs to a new start state
    return rng.normal(size=length), values[:-1], next_values, terminated, truncated


def test_gae_lambda_zero_is_the_td_error():
    rewards, values, next_values, terminated, truncated = _consistent_segment(np.random.default_rng(2), 30)
    advantages = gae(rewards, values, next_values, terminated, truncated, 0.95, lam=0.0)
    np.testing.assert_allclose(advantages, td_errors(rewards, values, next_values, terminated, 0.95))


def test_gae_lambda_one_plus_values_is_the_segment_return():
    rewards, values, next_values, terminated, truncated = _consistent_segment(np.random.default_rng(3), 30)
    advantages = gae(rewards, values, next_values, terminated, truncated, 0.95, lam=1.0)
    returns = n_step_targets(rewards, next_values, terminated, truncated, 0.95, n=30)
    np.testing.assert_allclose(advantages + values, returns)


def test_gae_by_hand():
    # gamma = 0.5, lambda = 0.5, no episode end: A_1 = delta_1, A_0 = delta_0 + 0.25 delta_1
    rewards, values, next_values = np.array([1.0, 2.0]), np.array([0.5, 1.0]), np.array([1.0, 4.0])
    deltas = [1 + 0.5 * 1.0 - 0.5, 2 + 0.5 * 4.0 - 1.0]
    advantages = gae(rewards, values, next_values, [0, 0], [0, 0], 0.5, 0.5)
    np.testing.assert_allclose(advantages, [deltas[0] + 0.25 * deltas[1], deltas[1]])


def test_torch_and_numpy_agree_and_columns_are_independent_envs():
    rng = np.random.default_rng(4)
    columns = [_consistent_segment(rng, 12) for _ in range(3)]
    stacked = [np.stack(parts, axis=1) for parts in zip(*columns)]  # (T, N) per input
    rewards, values, next_values, terminated, truncated = stacked
    as_torch = [torch.tensor(array) for array in stacked]
    for n in (1, 3, 12):
        batched = n_step_targets(rewards, next_values, terminated, truncated, 0.9, n)
        by_torch = n_step_targets(as_torch[0], as_torch[2], as_torch[3], as_torch[4], 0.9, n)
        assert isinstance(by_torch, torch.Tensor)
        np.testing.assert_allclose(by_torch.numpy(), batched)
        for env, (r, _, nv, te, tr) in enumerate(columns):
            np.testing.assert_allclose(batched[:, env], n_step_targets(r, nv, te, tr, 0.9, n))
    advantages = gae(*as_torch, 0.9, 0.8)
    np.testing.assert_allclose(advantages.numpy(), gae(*stacked, 0.9, 0.8))


def test_bad_n_is_rejected():
    with pytest.raises(ValueError, match="n must be at least 1"):
        n_step_targets(REWARDS, NEXT_VALUES, TERMINATED, NOT_TRUNCATED, GAMMA, n=0)
