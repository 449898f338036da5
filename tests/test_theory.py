"""The Theory page's numbers: every one comes from rlviz.returns, and the written-out sums add up."""

import copy
import math

import numpy as np
import pytest
import torch

from rlviz import theory
from rlviz.buffers import ReplayBatch, Transition
from rlviz.agents import load_agent, make_agent
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


def test_worked_segment_has_a_termination_and_a_truncation_in_mid_segment():
    made = theory.worked_segment(RandomPolicy(), "CartPole-v1", seed=3, tail_steps=6, cut_steps=5, head_steps=4,
                                 reward_scale=0.5)
    trajectory = made.trajectory
    assert np.flatnonzero(trajectory.terminated).tolist() == [5]
    assert np.flatnonzero(trajectory.truncated).tolist() == [10]  # a whole 5-step episode cut by its time limit
    assert made.episode_steps.tolist()[5:] == [26, 0, 1, 2, 3, 4, 0, 1, 2, 3]  # the last episode goes on
    assert "terminated" in made.note and "truncated" in made.note
    assert theory.interesting_row(trajectory) == 3
    # In env units: rewards as CartPole pays them, V divided by the learner's reward scale.
    assert np.all(made.env_units.rewards == 1.0)
    np.testing.assert_array_equal(made.env_units.values, trajectory.values / 0.5)
    # The learner's stream: the rows in order, and Gymnasium's reset step (invalid) after each episode end.
    valid = [bool(step.valid[0]) for step in made.transitions]
    assert valid == [True] * 6 + [False] + [True] * 5 + [False] + [True] * 4
    rows = [step for step in made.transitions if step.valid[0]]
    np.testing.assert_array_equal([step.terminated[0] for step in rows], trajectory.terminated)
    np.testing.assert_array_equal([step.truncated[0] for step in rows], trajectory.truncated)
    assert all(step.rewards[0] == 1.0 for step in rows)  # the env's reward: the learner scales it itself


def test_the_policy_seed_makes_play_reproducible_and_leaves_the_agents_generator_alone():
    agent = make_agent(make_config("a2c"), 4, 2, np.random.default_rng(0))
    before = agent.rng.bit_generator.state

    def lengths(policy_seed: int) -> list[int]:
        return [episode.length for episode in theory.play_episodes(agent, "CartPole-v1", [0] * 6,
                                                                    policy_seed=policy_seed)]

    first = lengths(5)
    assert lengths(5) == first
    assert len(set(first)) > 1  # one start state: only the sampled actions differ
    assert lengths(6) != first
    assert agent.rng.bit_generator.state == before


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
    assert study.by_n.rmse[0] > 1.5 * study.by_n.rmse[-1]  # 1.95 to 2.6 over policy seeds 0-7
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


@pytest.mark.parametrize("tau", [0.005, 0.02, 0.1])
def test_a_hard_copy_every_1_over_tau_syncs_lags_half_as_much_as_the_soft_update(tau):
    demo = theory.soft_update_demo(tau)
    period = demo.copy_period
    # An online weight that grows by 1 per sync: the target's value k - age tells its age in syncs.
    syncs = np.arange(40 * period + 1, dtype=float)
    soft_age = syncs - theory.soft_update_curve(syncs, tau)
    hard_age = syncs - theory.soft_update_curve(syncs, 1.0, every=period)
    assert soft_age[-1] == pytest.approx(demo.mean_lag, rel=1e-6)
    assert hard_age[period:-1].mean() == pytest.approx(demo.hard_mean_lag)  # whole periods: 0, 1, ..., C - 1
    assert demo.hard_mean_lag == pytest.approx(demo.mean_lag / 2, rel=0.02)


def test_sync_settings_quote_the_run_or_the_dqn_preset():
    run = make_config("dqn", tau=0.02, target_update_interval=4)
    assert theory.sync_settings(run).describe() == "Your run uses τ = 0.02, with a sync every 4 env steps"
    preset = make_config("dqn")
    quoted = theory.sync_settings(make_config("a2c"))
    assert (quoted.tau, quoted.target_update_interval) == (preset.tau, preset.target_update_interval) == (5e-3, 1)
    assert quoted.describe() == "DQN's CartPole-v1 preset uses τ = 0.005, with a sync every env step"


class Balancer(RandomPolicy):
    """A hand-made controller that never drops CartPole's pole, with the crude critic."""

    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)


def test_a_policy_that_never_fails_has_no_spread_to_trade(study_rollouts):
    steady = theory.study_rollouts(Balancer(), "CartPole-v1", starts=3, rollouts_per_start=4, max_steps=40)
    study = theory.bias_variance(steady, 0.99, n_values=(1, 2, 40))
    assert study.no_spread and study.terminated == 0 and study.mean_episode_length == 40
    assert "never fails" in theory.no_spread_note(study, "CartPole-v1")
    failing = theory.bias_variance(study_rollouts, 0.99, n_values=(1, 2))
    assert not failing.no_spread and failing.terminated == failing.episodes


def test_a_finished_run_is_loaded_with_its_trained_critic(tmp_path):
    config = make_config("a2c", "CartPole-v1", total_steps=1_000, n_envs=2, eval_episodes=0)
    events = list(write_run(config, tmp_path / "run", train(config)))
    loaded_config, agent = theory.load_run_agent(tmp_path / "run")
    assert loaded_config == config
    # The weights in model.pt are the ones training finished with.
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    expected = load_agent(config, events[-1].state_dict).state_values(obs)
    np.testing.assert_array_equal(agent.state_values(obs), expected)


# --- what the run trained on: the Theory table against the learner itself ------------------------

def segment_of(agent, config) -> theory.WorkedSegment:
    """A real CartPole segment played by ``agent``: a termination, a truncation in mid-segment, and
    an episode that goes on past the end."""
    made = theory.worked_segment(agent, "CartPole-v1", seed=1, tail_steps=7, cut_steps=5, head_steps=8,
                                 reward_scale=getattr(config, "reward_scale", 1.0))
    assert made.trajectory.terminated[:-1].any() and made.trajectory.truncated[:-1].any()
    return made


def future(segment: theory.WorkedSegment, steps: int, reward: float) -> list[Transition]:
    """Steps after the segment: its last episode goes on, paying ``reward`` a step, in made-up states."""
    rng = np.random.default_rng(int(reward))
    obs = segment.transitions[-1].next_obs
    later = []
    for _ in range(steps):
        next_obs = rng.normal(scale=0.05, size=obs.shape).astype(np.float32)
        later.append(Transition(obs, np.zeros(1, dtype=np.int64), np.full(1, reward), next_obs,
                                np.zeros(1, dtype=bool), np.zeros(1, dtype=bool), np.ones(1, dtype=bool)))
        obs = next_obs
    return later


def learner_targets(agent, transitions: list[Transition]) -> dict[bytes, float]:
    """Every target the actor-critic learner regresses on (its own units), by the step's observation."""
    agent.optimizers = []  # the critic stays fixed: targets depend on the data only
    seen: dict[bytes, float] = {}
    targets = agent.targets

    def spy(rollout, values, next_values):
        result = targets(rollout, values, next_values)
        for t, i in zip(*np.nonzero(result.learned.numpy())):
            seen[rollout.obs[t, i].numpy().tobytes()] = float(result.returns[t, i])
        return result

    agent.targets = spy
    for env_step, step in enumerate(transitions, 1):
        agent.observe(step, env_step)
    return seen


@pytest.mark.parametrize("algo", ["td-ac", "a2c-1step", "nstep-ac", "a2c", "ppo"])
def test_the_trained_on_column_is_what_the_actor_critic_learner_used(algo):
    config = make_config(algo, "CartPole-v1")
    torch.manual_seed(0)
    # One env: each env is a column of its own in the learner's rollouts, so one is enough.
    agent = make_agent(config.replace(n_envs=1), 4, 2, np.random.default_rng(0))
    segment = segment_of(agent, config)
    trained = theory.trained_on(segment, config, agent)
    table = theory.worked_table(segment.env_units, config.gamma, 1, 0.5, segment.episode_steps, trained)
    column = table["trained_on"].to_numpy()
    rows = [step.obs[0].tobytes() for step in segment.transitions if step.valid[0]]
    assert len(rows) == len(column)
    # The learner learns the segment's last rows only with steps after it: two different futures.
    padding = config.n_steps + config.n_step_return
    by_future = [learner_targets(copy.deepcopy(agent), [*segment.transitions, *future(segment, padding, reward)])
                 for reward in (1.0, 7.0)]
    for learned in by_future:  # every row is learned exactly once by then
        assert set(rows) <= learned.keys()
    used = np.array([by_future[0][key] for key in rows]) / config.reward_scale
    depends_on_the_future = np.array([by_future[0][key] != by_future[1][key] for key in rows])
    # Where the column has a number, it is the learner's target (in env units); it is empty exactly
    # where the learner's target depends on steps the segment does not hold.
    np.testing.assert_array_equal(np.isnan(column), depends_on_the_future)
    np.testing.assert_allclose(column[~depends_on_the_future], used[~depends_on_the_future], rtol=1e-5, atol=1e-5)
    assert np.isfinite(column).sum() >= len(column) // 2
    updates = table["update"].to_numpy()
    assert np.all(np.diff(updates[np.isfinite(updates)]) >= 0)  # rows are learned in order


def test_the_trained_on_column_is_the_dqn_target_of_each_transition():
    config = make_config("dqn", "CartPole-v1")
    torch.manual_seed(0)
    agent = make_agent(config, 4, 2, np.random.default_rng(0))
    with torch.no_grad():  # a target network that differs from the online one: the target must use it
        for parameter in agent.target_network.parameters():
            parameter.add_(0.05)
    segment = segment_of(agent, config)
    table = theory.worked_table(segment.env_units, config.gamma, 1, 0.5, segment.episode_steps,
                                theory.trained_on(segment, config, agent))
    rows = [step for step in segment.transitions if step.valid[0]]
    batch = ReplayBatch(*(torch.as_tensor(np.concatenate([getattr(step, name) for step in rows]), dtype=dtype)
                          for name, dtype in (("obs", torch.float32), ("actions", torch.int64),
                                              ("rewards", torch.float32), ("next_obs", torch.float32),
                                              ("terminated", torch.float32))))
    np.testing.assert_allclose(table["trained_on"], agent.td_target(batch).numpy(), rtol=1e-6)
    assert table["update"].isna().all()
    # ... and td_target is what learn() regresses on.
    used = []
    td_target = agent.td_target
    agent.td_target = lambda sampled: used.append(td_target(sampled)) or used[-1]
    for step in segment.transitions:
        agent.buffer.add(step)
    agent.learn(env_step=1)
    assert len(used) == 1


@pytest.mark.parametrize("algo, kind, n, lam", [("dqn", "dqn", 1, None), ("td-ac", "rollout", 1, 0.0),
                                                ("a2c-1step", "rollout", 1, 0.0), ("nstep-ac", "n-step", 8, None),
                                                ("a2c", "rollout", 5, 1.0), ("ppo", "rollout", 32, 0.95)])
def test_each_preset_starts_the_page_at_its_own_estimator(algo, kind, n, lam):
    config = make_config(algo)
    run = theory.run_targets(config)
    assert (run.kind, run.n, run.lam, run.gamma) == (kind, n, lam, config.gamma)
    assert run.reward_scale == getattr(config, "reward_scale", 1.0)
    assert theory.moved_settings(run, config.gamma, n, 0.5 if lam is None else lam) == []
    moved = theory.moved_settings(run, 0.9, n + 1, 0.5)
    assert moved[:2] == [f"γ to 0.9 (from {config.gamma:g})", f"n to {n + 1} (from {n})"]
    assert len(moved) == (2 if lam is None else 3)  # lambda counts only where the run has one
    assert "now differ from what your run trained on" in theory.settings_note(run, moved)
