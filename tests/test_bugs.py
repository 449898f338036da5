"""The Bug lab's bugs: each is a real option of the real code, shown as it runs, with damage of its own kind."""

import copy

import numpy as np
import pytest
import torch

from rlviz.__main__ import parse_settings
from rlviz.agents.actor_critic import ActorCriticAgent
from rlviz.agents.dqn import DQNAgent
from rlviz.bugs import BUG_NAMES, BUGS, PREDICTIONS, ROOT, bugs_for, lab_pair
from rlviz.buffers import Transition
from rlviz.config import ConfigError, make_config
from rlviz.trainer import Finished, Updated, train

OBS_DIM, N_ACTIONS = 4, 2


# --- the field -------------------------------------------------------------------------------------

def test_bugs_are_validated_hashed_and_set_from_the_command_line():
    assert make_config("a2c").bugs == ()
    assert len(BUG_NAMES) >= 6 and len(bugs_for("a2c")) >= 6 and "truncation_as_termination" in bugs_for("dqn")
    with pytest.raises(ConfigError, match="none or several of"):
        make_config("a2c", bugs=("no_such_bug",))
    with pytest.raises(ConfigError, match="actor-critics only, not in dqn"):
        make_config("dqn", bugs=("value_broadcast",))
    with pytest.raises(ConfigError, match="set n \\(n-step return\\) to 1 or more"):
        make_config("a2c", bugs=("nstep_across_episodes",))
    with pytest.raises(ConfigError, match="one-step TD target"):
        make_config("ppo", bugs=("target_with_grad",))
    # One set, one hash: the order a student picks them in does not matter.
    one = make_config("a2c", bugs=("value_broadcast", "advantage_with_grad"))
    other = make_config("a2c", bugs=["advantage_with_grad", "value_broadcast"])
    assert one.bugs == other.bugs and one.run_hash() == other.run_hash() != make_config("a2c").run_hash()
    assert parse_settings("a2c", ["bugs=value_broadcast,advantage_with_grad"]) == {"bugs": ("value_broadcast", "advantage_with_grad")}


def test_every_bug_shows_lines_that_are_in_the_code_and_has_a_lab_it_can_run():
    for name, bug in BUGS.items():
        assert bug.outcome in PREDICTIONS and bug.spot and bug.what and bug.outcome_note, name
        for line in (bug.right, bug.wrong):
            assert line.line_number() is not None, f"{name}: {line.text!r} is not in {line.path}"
        # The wrong line runs only behind its own switch, a few lines above it.
        source = (ROOT / bug.wrong.path).read_text().splitlines()
        start = bug.wrong.line_number()
        assert any(name in above for above in source[max(0, start - 6):start - 1]), name
        correct, buggy = lab_pair(name)
        assert correct.bugs == () and buggy.bugs == (name,) and not correct.stop_when_solved
        assert correct.env_id == "CartPole-v1" and correct.total_steps <= 300_000


# --- helpers: two agents with the same weights, one with the bug ------------------------------------

def agent_pair(algo: str, bug: str, **overrides):
    """The correct and the buggy agent of ``algo`` (with ``overrides``), with the same initial weights."""
    config = make_config(algo, **overrides)
    torch.manual_seed(0)
    correct = (DQNAgent if algo == "dqn" else ActorCriticAgent)(config, OBS_DIM, N_ACTIONS, np.random.default_rng(0))
    buggy = (DQNAgent if algo == "dqn" else ActorCriticAgent)(config.replace(bugs=(bug,)), OBS_DIM, N_ACTIONS,
                                                              np.random.default_rng(0))
    buggy.load_state_dict(copy.deepcopy(correct.state_dict()))
    return correct, buggy


def transitions(steps: int, n_envs: int, seed: int = 0, end_every: int = 7) -> list[Transition]:
    """Made-up vector steps: each env's episode ends every ``end_every`` steps, alternately truncated and terminated."""
    rng = np.random.default_rng(seed)
    result = []
    for t in range(steps):
        ends = (t + 1 + np.arange(n_envs)) % end_every == 0
        truncated = ends & ((t // end_every + np.arange(n_envs)) % 2 == 0)
        terminated = ends & ~truncated
        result.append(Transition(rng.normal(size=(n_envs, OBS_DIM)).astype(np.float32), rng.integers(0, 2, n_envs),
                                 np.ones(n_envs, dtype=np.float32), rng.normal(size=(n_envs, OBS_DIM)).astype(np.float32),
                                 terminated, truncated, np.ones(n_envs, dtype=bool)))
    return result


def stored_segment(agent: ActorCriticAgent, steps: list[Transition]):
    """Feed ``steps`` through ``observe`` (where the bugs that change what is stored act) with learning held off."""
    agent.learn = lambda segment, env_step: agent.rollout.keep(np.zeros(agent.config.n_envs, dtype=np.int64))
    kept = []
    original_take = agent.rollout.take

    def take():
        segment = original_take()
        kept.append(copy.deepcopy(segment))
        return segment

    agent.rollout.take = take
    for env_step, step in enumerate(steps, start=1):
        agent.observe(step, env_step)
    return kept[0]


def targets_of(agent: ActorCriticAgent, segment):
    with torch.no_grad():
        n_steps, n_envs = segment.rewards.shape
        _, values = agent.network(segment.obs.reshape(n_steps * n_envs, -1))
        _, next_values = agent.network(segment.next_obs.reshape(n_steps * n_envs, -1))
        return agent.targets(segment, values.reshape(n_steps, n_envs), next_values.reshape(n_steps, n_envs))


# --- each bug's damage, of its own kind ---------------------------------------------------------------

def test_detached_log_probs_leave_the_actor_without_gradient_and_the_policy_unlearned():
    config = make_config("nstep-ac", total_steps=10_000, stop_when_solved=False, eval_episodes=0,
                         bugs=("detached_log_probs",))
    updates, finished = [], None
    for event in train(config):
        if isinstance(event, Updated):
            updates.append(event.metrics)
        elif isinstance(event, Finished):
            finished = event
    assert updates and all(metrics["actor_grad_norm"] == 0.0 for metrics in updates)
    assert all(metrics["critic_grad_norm"] > 0 for metrics in updates)  # the critic still learns
    # Adam with zero gradients moves nothing: the actor is exactly the one it started with.
    torch.manual_seed(config.seed)
    initial = ActorCriticAgent(config, OBS_DIM, N_ACTIONS, np.random.default_rng(config.seed)).state_dict()["network"]
    actor = {name: tensor for name, tensor in finished.state_dict["network"].items() if name.startswith("actor")}
    assert actor and all(torch.equal(tensor, initial[name]) for name, tensor in actor.items())
    assert finished.final_mean_return < 40  # a random policy balances about 20 steps


def test_truncation_as_termination_changes_the_targets_at_truncated_steps_and_nowhere_else():
    correct, buggy = agent_pair("td-ac", "truncation_as_termination", n_envs=4, n_steps=30)
    steps = transitions(30, 4)
    right, wrong = (targets_of(agent, stored_segment(agent, steps)) for agent in (correct, buggy))
    truncated = np.stack([step.truncated for step in steps])
    changed = ~np.isclose(right.returns.numpy(), wrong.returns.numpy())
    assert truncated.any() and np.array_equal(changed, truncated)
    # At a truncation the buggy target is the reward alone (scaled), the correct one bootstraps from V(s').
    assert np.allclose(wrong.returns.numpy()[truncated], correct.config.reward_scale)


def test_dqn_with_truncation_as_termination_stores_truncations_as_terminal_and_nothing_else():
    correct, buggy = agent_pair("dqn", "truncation_as_termination", learning_starts=10_000)
    steps = transitions(40, 1)
    for env_step, step in enumerate(steps, start=1):
        correct.observe(step, env_step)
        buggy.observe(step, env_step)
    truncated = np.concatenate([step.truncated for step in steps])
    terminated = np.concatenate([step.terminated for step in steps])
    assert np.array_equal(correct.buffer.terminated[:40] > 0, terminated)
    assert np.array_equal(buggy.buffer.terminated[:40] > 0, terminated | truncated)
    index = np.arange(40)
    changed = ~np.isclose(correct.td_target(correct.buffer.batch(index)).numpy(), buggy.td_target(buggy.buffer.batch(index)).numpy())
    assert np.array_equal(changed, truncated)


def test_nstep_across_episodes_changes_targets_only_where_a_window_crosses_an_episode_end():
    n = 4
    correct, buggy = agent_pair("nstep-ac", "nstep_across_episodes", n_envs=3, n_steps=40, n_step_return=n)
    steps = transitions(40, 3)
    right, wrong = (targets_of(agent, stored_segment(agent, steps)) for agent in (correct, buggy))
    ended = np.stack([step.terminated | step.truncated for step in steps])
    terminated = np.stack([step.terminated for step in steps])
    horizon = len(steps)
    both = (right.learned * wrong.learned).numpy() > 0
    crosses = np.zeros_like(ended)
    for t in range(horizon):
        last = min(t + n - 1, horizon - 1)
        # An end before the window's last reward, or a termination at it (whose bootstrap the bug keeps).
        crosses[t] = ended[t:last].any(axis=0) | terminated[last]
    changed = ~np.isclose(right.returns.numpy(), wrong.returns.numpy())
    assert not (changed & both & ~crosses).any(), "a target changed where no window crosses an episode end"
    assert (changed & both & crosses).sum() >= 10


def test_bootstrap_from_reset_obs_stores_the_next_episodes_first_observation_as_s_prime(monkeypatch):
    import rlviz.trainer as trainer

    def recorded(config):
        steps = []
        real_make_agent = trainer.make_agent

        def make_agent(*args):
            agent = real_make_agent(*args)
            observe = agent.observe
            agent.observe = lambda step, env_step: (steps.append(copy.deepcopy(step)), observe(step, env_step))[1]
            return agent

        monkeypatch.setattr(trainer, "make_agent", make_agent)
        for _ in train(config):
            pass
        return steps

    config = make_config("a2c", n_envs=4, total_steps=3_000, eval_episodes=0, stop_when_solved=False)
    for bugged in (False, True):
        steps = recorded(config.replace(bugs=("bootstrap_from_reset_obs",) if bugged else ()))
        ends = 0
        for now, later in zip(steps, steps[1:]):
            for env in np.flatnonzero((now.terminated | now.truncated) & now.valid):
                ends += 1
                if bugged:  # the step after an end already plays the next episode, from the s' stored here
                    assert later.valid[env] and np.array_equal(now.next_obs[env], later.obs[env])
                else:  # the step after an end is the reset step: skipped, and it returns the reset observation
                    assert not later.valid[env] and not np.array_equal(now.next_obs[env], later.next_obs[env])
        assert ends >= 50


def test_target_with_grad_changes_only_the_critics_update():
    correct, buggy = agent_pair("a2c-1step", "target_with_grad", n_envs=8)
    step = transitions(1, 8)[0]
    for agent in (correct, buggy):
        agent.observe(step, 1)  # one step fills a2c-1step's rollout: one update
    right, wrong = correct.network, buggy.network
    assert all(torch.equal(a, b) for a, b in zip(right.actor.parameters(), wrong.actor.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(right.critic.parameters(), wrong.critic.parameters()))


def test_advantage_with_grad_lets_the_actors_loss_move_the_critic():
    correct, buggy = agent_pair("a2c-1step", "advantage_with_grad", n_envs=8)
    step = transitions(1, 8)[0]
    metrics = [agent.observe(step, 1)[0] for agent in (correct, buggy)]
    assert metrics[0]["actor_grad_norm"] == pytest.approx(metrics[1]["actor_grad_norm"])  # same actor gradient
    assert metrics[0]["critic_grad_norm"] != pytest.approx(metrics[1]["critic_grad_norm"])
    assert all(torch.equal(a, b) for a, b in zip(correct.network.actor.parameters(), buggy.network.actor.parameters()))


def test_value_broadcast_leaves_the_critic_explaining_nothing():
    explained = {}
    for bugs in ((), ("value_broadcast",)):
        config = make_config("td-ac", total_steps=30_000, stop_when_solved=False, eval_episodes=0, bugs=bugs)
        values = [event.metrics["explained_variance"] for event in train(config)
                  if isinstance(event, Updated) and "explained_variance" in event.metrics]
        explained[bugs] = np.mean(values[-len(values) // 4:])
    assert explained[()] > 0.5
    assert abs(explained[("value_broadcast",)]) < 0.1


def test_a_diverged_bug_run_names_its_bug_not_the_learning_rate():
    from rlviz.trainer import divergence_message

    message = divergence_message(make_config("td-ac", bugs=("advantage_with_grad",)), 1_000, {"value_mean": 1e9})
    assert "Diverged at step 1,000" in message and "advantage_with_grad" in message
    assert "learning rate" not in message
    assert "learning rate" in divergence_message(make_config("td-ac"), 1_000, {"value_mean": 1e9})
