"""The Theory page's numbers: every one comes from rlviz.returns, and the written-out sums add up."""

import math

import numpy as np
import pytest

from rlviz import theory
from rlviz.agents import load_agent
from rlviz.config import make_config
from rlviz.returns import gae, n_step_targets, td_errors
from rlviz.runs import write_run
from rlviz.theory import Trajectory
from rlviz.trainer import train

GAMMA = 0.9


def segment() -> Trajectory:
    """12 steps: an episode terminates at t = 4, the next is truncated at t = 8, the segment ends at t = 11.

    Values are consistent (V(s_{t+1}) of row t is V(s_t) of row t + 1 inside an episode); rewards vary
    in sign so that no sum can pass by luck.
    """
    rng = np.random.default_rng(7)
    rewards = rng.normal(1.0, 2.0, size=12)
    values = rng.normal(5.0, 3.0, size=12)
    next_values = np.append(values[1:], 4.5)
    next_values[4] = 123.0  # the terminal state's V: must never be used
    next_values[8] = -7.0  # the final observation at the time limit: must be used
    terminated = np.zeros(12, dtype=bool)
    truncated = np.zeros(12, dtype=bool)
    terminated[4] = True
    truncated[8] = True
    return Trajectory(rewards, values, next_values, terminated, truncated)


@pytest.mark.parametrize("gamma, n_steps, lam", [(0.9, 1, 0.0), (0.9, 3, 0.95), (0.99, 5, 1.0), (0.5, 12, 0.3)])
def test_every_number_in_the_table_is_the_returns_output(gamma, n_steps, lam):
    trajectory = segment()
    table = theory.worked_table(trajectory, gamma, n_steps, lam)
    rewards, values, next_values, terminated, truncated = trajectory
    assert list(table.columns) == list(theory.TABLE_COLUMNS)
    np.testing.assert_array_equal(table["reward"], rewards)
    np.testing.assert_array_equal(table["value"], values)
    np.testing.assert_array_equal(table["next_value"], next_values)
    np.testing.assert_array_equal(table["terminated"], terminated)
    np.testing.assert_array_equal(table["truncated"], truncated)
    targets = n_step_targets(rewards, next_values, terminated, truncated, gamma, n_steps)
    np.testing.assert_array_equal(table["n_step_target"], targets)
    np.testing.assert_array_equal(table["n_step_advantage"], targets - values)
    np.testing.assert_array_equal(table["td_error"], td_errors(rewards, values, next_values, terminated, gamma))
    advantages = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    np.testing.assert_array_equal(table["gae_advantage"], advantages)


def test_table_changes_with_gamma():
    trajectory = segment()
    low, high = theory.worked_table(trajectory, 0.5, 3, 0.9), theory.worked_table(trajectory, 0.99, 3, 0.9)
    assert not np.allclose(low["n_step_target"], high["n_step_target"])
    # Terminal rows have nothing to discount: r_t whatever gamma is.
    assert low["n_step_target"][4] == high["n_step_target"][4] == trajectory.rewards[4]


@pytest.mark.parametrize("n_steps", range(1, 14))
def test_written_out_sum_adds_up_to_the_table_target(n_steps):
    trajectory = segment()
    table = theory.worked_table(trajectory, GAMMA, n_steps, 0.9)
    for t in range(trajectory.length):
        written = theory.n_step_sum(trajectory, GAMMA, n_steps, t)
        assert written.total == pytest.approx(table["n_step_target"][t], abs=1e-12)
        assert len(written.reward_terms) <= n_steps
        assert [term.index for term in written.reward_terms] == list(range(t, t + len(written.reward_terms)))
        assert all(term.discount == pytest.approx(GAMMA**term.power) for term in written.reward_terms)


def test_written_out_sum_is_cut_at_a_termination_and_kept_at_a_truncation():
    trajectory = segment()
    r = trajectory.rewards
    # Row 2, n = 5: r_2 + g r_3 + g^2 r_4, then s_5 is terminal: no bootstrap, V = 123 never read.
    cut = theory.n_step_sum(trajectory, GAMMA, 5, 2)
    assert cut.stopped_by == "terminated" and cut.bootstrap is None
    assert cut.total == pytest.approx(r[2] + GAMMA * r[3] + GAMMA**2 * r[4])
    # Row 6, n = 5: r_6 + g r_7 + g^2 r_8, truncated at 8: bootstrap g^3 V(s_9) = g^3 * (-7).
    kept = theory.n_step_sum(trajectory, GAMMA, 5, 6)
    assert kept.stopped_by == "truncated"
    assert kept.bootstrap == theory.SumTerm(9, 3, pytest.approx(GAMMA**3), -7.0)
    assert kept.total == pytest.approx(r[6] + GAMMA * r[7] + GAMMA**2 * r[8] + GAMMA**3 * -7.0)
    # Row 9, n = 2: two rewards, then bootstrap from V(s_11) = values[11].
    full = theory.n_step_sum(trajectory, GAMMA, 2, 9)
    assert full.stopped_by == "n steps"
    assert full.total == pytest.approx(r[9] + GAMMA * r[10] + GAMMA**2 * trajectory.values[11])
    # Row 10, n = 5: the segment ends after step 11 and bootstraps with next_values[11] = 4.5.
    end = theory.n_step_sum(trajectory, GAMMA, 5, 10)
    assert end.stopped_by == "segment end"
    assert end.total == pytest.approx(r[10] + GAMMA * r[11] + GAMMA**2 * 4.5)


def test_written_out_sum_rejects_rows_outside_the_segment():
    with pytest.raises(IndexError):
        theory.n_step_sum(segment(), GAMMA, 3, 12)


def test_latex_lines_show_the_bootstrap_apart_and_the_right_total():
    trajectory = segment()
    kept = theory.n_step_sum(trajectory, GAMMA, 5, 6)
    symbols, numbers, total = theory.n_step_sum_latex(kept, GAMMA)
    assert symbols.startswith("G_{6}^{(5)} = r_{6} + \\gamma r_{7} + \\gamma^{2} r_{8}")
    assert r"\underbrace{\gamma^{3} V(s_{9})}_{\text{truncated: bootstrap}}" in symbols
    assert r"0.9^{3}\times (-7.000)" in numbers
    assert total.endswith(f"= {kept.total:.3f}")
    cut_lines = theory.n_step_sum_latex(theory.n_step_sum(trajectory, GAMMA, 5, 2), GAMMA)
    assert all("terminal: no bootstrap" in line for line in cut_lines[:2])
    # Long sums are shortened but keep their first and last reward.
    no_ends = trajectory._replace(terminated=np.zeros(12, dtype=bool), truncated=np.zeros(12, dtype=bool))
    long_symbols = theory.n_step_sum_latex(theory.n_step_sum(no_ends, GAMMA, 12, 0), GAMMA)[0]
    assert r"\cdots" in long_symbols and "r_{11}" in long_symbols and "r_{6}" not in long_symbols


def test_latex_number_brackets_negative_terms_only():
    assert theory.latex_number(-2.0) == "(-2.000)"
    assert theory.latex_number(-2.0, bracket_negative=False) == "-2.000"
    assert theory.latex_number(-0.0001) == "0.000"
    assert theory.latex_number(3.14159) == "3.142"


def test_row_numbers_satisfy_the_return_recursion():
    trajectory = segment()
    for t in range(trajectory.length):
        numbers = theory.row_numbers(trajectory, GAMMA, 3, 0.8, t)
        assert numbers.segment_return == pytest.approx(numbers.reward + GAMMA * numbers.next_return)
        assert numbers.td_error == pytest.approx(numbers.td_target - numbers.value)
        assert numbers.gae_advantage == pytest.approx(numbers.td_error + GAMMA * 0.8 * numbers.next_gae_advantage)
    assert theory.row_numbers(trajectory, GAMMA, 3, 0.8, 4).next_return == 0.0  # after a termination
    assert theory.row_numbers(trajectory, GAMMA, 3, 0.8, 8).next_return == -7.0  # a truncation bootstraps


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.95, 1.0])
def test_gae_is_the_weighted_mix_of_n_step_advantages(lam):
    trajectory = segment()
    advantages = gae(*trajectory, GAMMA, lam)
    for t in range(trajectory.length):
        mix = theory.gae_mix(trajectory, GAMMA, lam, t)
        assert mix.weights.sum() == pytest.approx(1.0)
        assert mix.total == pytest.approx(advantages[t], abs=1e-10)


def test_gae_weights_and_tail_sum_to_one():
    weights = theory.gae_weights(0.9, 12)
    assert weights[0] == pytest.approx(0.1) and weights[1] == pytest.approx(0.09)
    assert weights.sum() + 0.9**12 == pytest.approx(1.0)


def test_done_as_terminal_only_changes_the_truncated_step():
    trajectory = segment()
    right = n_step_targets(trajectory.rewards, trajectory.next_values, trajectory.terminated, trajectory.truncated,
                           GAMMA, 1)
    wrong_trajectory = theory.with_done_as_terminal(trajectory)
    wrong = n_step_targets(wrong_trajectory.rewards, wrong_trajectory.next_values, wrong_trajectory.terminated,
                           wrong_trajectory.truncated, GAMMA, 1)
    differs = np.flatnonzero(~np.isclose(right, wrong))
    assert differs.tolist() == [8]
    assert wrong[8] == trajectory.rewards[8]


def test_stacked_episodes_keep_their_own_targets():
    trajectory = segment()
    first = Trajectory(*(array[:5] for array in trajectory))  # ends terminated
    second = Trajectory(*(array[5:9] for array in trajectory))  # ends truncated
    stacked = theory.stack_episodes([first, second])
    assert stacked.rewards.shape == (5, 2)
    for n in (1, 3, 5):
        together = n_step_targets(stacked.rewards, stacked.next_values, stacked.terminated, stacked.truncated, GAMMA, n)
        for column, episode in enumerate((first, second)):
            alone = n_step_targets(episode.rewards, episode.next_values, episode.terminated, episode.truncated,
                                   GAMMA, n)
            np.testing.assert_allclose(together[:episode.length, column], alone)


# --- playing episodes: a fixed random policy with a crude critic ---------------------------------

class RandomPolicy:
    """A fixed policy (uniform over CartPole's two actions) with a crude hand-made critic."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        return self.rng.integers(0, 2, size=len(obs))

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        return 15.0 - 40.0 * np.abs(obs[:, 2])  # upright is worth more


def test_played_episodes_record_consistent_values_and_ends():
    episodes = theory.play_episodes(RandomPolicy(), "CartPole-v1", [0, 1, 2], time_limit=15, reward_scale=0.5)
    for episode in episodes:
        assert episode.length <= 15
        # V(s_{t+1}) of one row is V(s_t) of the next: one forward pass, one number.
        np.testing.assert_array_equal(episode.next_values[:-1], episode.values[1:])
        assert np.all(episode.rewards == 0.5)
        assert not (episode.terminated[:-1] | episode.truncated[:-1]).any()
        assert episode.terminated[-1] != episode.truncated[-1]
        assert episode.truncated[-1] == (episode.length == 15 and not episode.terminated[-1])


def test_worked_segment_has_a_termination_then_a_time_limit():
    made = theory.worked_segment(RandomPolicy(), "CartPole-v1", seed=3, tail_steps=6, head_steps=5)
    trajectory = made.trajectory
    assert trajectory.terminated[5] and not trajectory.terminated[:5].any()
    assert made.episode_steps[6] == 0 and np.all(np.diff(made.episode_steps[:6]) == 1)
    assert trajectory.truncated[-1] or trajectory.terminated[-1]
    assert "terminated" in made.note
    assert theory.interesting_row(trajectory) == 3


@pytest.fixture(scope="module")
def study_rollouts():
    return theory.study_rollouts(RandomPolicy(1), "CartPole-v1", starts=4, rollouts_per_start=16, seed=5)


def longest_episode(rollouts: theory.StudyRollouts) -> int:
    return int((rollouts.episodes.terminated | rollouts.episodes.truncated).argmax(axis=0).max()) + 1


def test_short_n_has_less_spread_than_long_n_on_a_fixed_policy(study_rollouts):
    longest = longest_episode(study_rollouts)
    study = theory.bias_variance(study_rollouts, 0.99, n_values=tuple(range(1, longest + 1)))
    _, spread_1, _ = study.by_n.at(1)
    bias_mc, spread_mc, _ = study.by_n.at(longest)
    assert spread_1 < 0.2 * spread_mc
    # n past every episode's end is the Monte Carlo return itself: no bias, the full spread.
    assert abs(bias_mc) < 1e-9
    assert spread_mc == pytest.approx(study.monte_carlo_spread)
    # lambda = 0 is the one-step target, lambda = 1 the Monte Carlo return.
    assert study.by_lambda.at(0.0) == pytest.approx(study.by_n.at(1))
    assert study.by_lambda.at(1.0) == pytest.approx(study.by_n.at(longest))


def test_with_a_blank_critic_the_error_shrinks_as_n_grows(study_rollouts):
    blank = study_rollouts._replace(episodes=theory.without_critic(study_rollouts.episodes))
    study = theory.bias_variance(blank, 0.99, n_values=tuple(range(1, longest_episode(study_rollouts) + 1)))
    bias = study.by_n.bias
    # Every missing reward is positive, so the estimate falls short by less with every extra reward.
    assert np.all(bias <= 1e-9)
    assert np.all(np.diff(bias) >= -1e-9)
    assert bias[0] < -5.0 and abs(bias[-1]) < 1e-9
    assert study.by_n.rmse[0] > 2 * study.by_n.rmse[-1]
    # Even here the RMSE is smallest short of Monte Carlo: the last few rewards add more spread than they remove bias.
    assert 1 < study.by_n.best <= study.by_n.parameters[-1]


def test_soft_update_follows_geometrically_and_tau_one_copies():
    online = np.ones(51)
    online[0] = 0.0  # the online weight jumps from 0 to 1 after sync 0
    curve = theory.soft_update_curve(online, 0.1)
    np.testing.assert_allclose(curve, 1.0 - 0.9 ** np.arange(51))
    np.testing.assert_array_equal(theory.soft_update_curve(online, 1.0), online)
    hard = theory.soft_update_curve(theory.online_parameter_path(30, seed=1), 1.0, every=10)
    assert len(np.unique(hard[1:10])) == 1 and len(np.unique(hard[10:20])) == 1
    demo = theory.soft_update_demo(0.01)
    assert demo.copy_period == 100 and demo.mean_lag == pytest.approx(99.0)
    assert demo.old_weight == pytest.approx(math.exp(-1), abs=0.01)


def test_a_finished_run_is_loaded_with_its_trained_critic(tmp_path):
    config = make_config("a2c", "CartPole-v1", total_steps=1_000, n_envs=2, eval_episodes=0)
    events = list(write_run(config, tmp_path / "run", train(config)))
    loaded_config, agent = theory.load_run_agent(tmp_path / "run")
    assert loaded_config == config
    # The weights in model.pt are the ones training finished with.
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = load_agent(config, events[-1].state_dict).state_values(obs)
    np.testing.assert_array_equal(agent.state_values(obs), expected)
