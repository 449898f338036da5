import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from rlviz.config import ALGOS, make_config
from rlviz.trainer import DIVERGENCE_FACTOR, EpisodeEnded, Finished, Updated, divergence_message, train


def _run(config):
    """The events of a run that must not diverge: every config here is a sound one."""
    events = list(train(config))
    assert isinstance(events[-1], Finished) and events[-1].diverged is None, events[-1].diverged
    return events


@pytest.mark.parametrize("algo", list(ALGOS))
def test_same_config_and_seed_give_identical_returns(algo):
    config = make_config(algo, total_steps=3_000, learning_starts=500, eval_episodes=1) if algo == "dqn" \
        else make_config(algo, total_steps=3_000, eval_episodes=1)
    first = [e.episode_return for e in _run(config) if isinstance(e, EpisodeEnded)]
    second = [e.episode_return for e in _run(config) if isinstance(e, EpisodeEnded)]
    other_seed = [e.episode_return for e in _run(config.replace(seed=1)) if isinstance(e, EpisodeEnded)]
    assert len(first) > 10 and first == second
    assert other_seed != first


@pytest.mark.parametrize("n_envs", [1, 7])
def test_episode_accounting_with_vector_envs(n_envs):
    """On CartPole the return equals the length; the reset steps of autoreset are never counted."""
    config = make_config("a2c", n_envs=n_envs, n_steps=5, total_steps=4_000, eval_episodes=0)
    events = _run(config)
    episodes = [e for e in events if isinstance(e, EpisodeEnded)]
    finished = events[-1]
    assert [e.episode for e in episodes] == list(range(1, len(episodes) + 1))
    assert all(e.episode_return == e.length for e in episodes)
    assert all(e.terminated != e.truncated for e in episodes)
    steps = [e.env_step for e in episodes]
    assert steps == sorted(steps)
    # Every counted step belongs to a finished episode or to one still running in some env.
    assert sum(e.length for e in episodes) <= finished.env_steps < sum(e.length for e in episodes) + n_envs * 500
    assert finished.env_steps >= config.total_steps


@pytest.mark.parametrize("n_envs", [1, 4])
def test_dqn_updates_per_env_step_do_not_depend_on_n_envs(n_envs):
    """One gradient step per train_freq env steps after learning_starts, however many envs step at once."""
    config = make_config("dqn", n_envs=n_envs, total_steps=4_000, learning_starts=1_000, train_freq=4, eval_episodes=0)
    updated = [e for e in _run(config) if isinstance(e, Updated)]
    assert len(updated) > 10
    for event in updated:  # due at env steps 1000, 1004, 1008, ...
        assert event.updates == (event.env_step - 1_000) // 4 + 1


def test_stop_request_ends_the_run_early():
    config = make_config("a2c", total_steps=100_000, eval_episodes=0)
    events = list(train(config, stop_requested=lambda: True))
    finished = events[-1]
    assert finished.stopped and finished.env_steps < 5_000


def test_training_runs_numpy_and_torch_on_one_thread():
    threadpool_limits(2, user_api="blas")  # as if numpy's BLAS had started with two threads
    _run(make_config("a2c", total_steps=1_000, eval_episodes=0))
    blas_threads = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas_threads and set(blas_threads) == {1}
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("algo", ["dqn", "a2c"])
def test_lunar_lander_smoke(algo):
    config = make_config(algo, "LunarLander-v3", total_steps=4_000, learning_starts=1_000, eval_episodes=1) if algo == "dqn" \
        else make_config(algo, "LunarLander-v3", total_steps=4_000, n_envs=4, eval_episodes=1)
    events = _run(config)
    updates = [e for e in events if isinstance(e, Updated)]
    assert updates, "no learner metrics were reported"
    for update in updates:
        assert all(math.isfinite(value) for value in update.metrics.values()), update
    finished = events[-1]
    assert finished.env_steps >= 4_000 and math.isfinite(finished.eval_mean_return)
    assert any(isinstance(e, EpisodeEnded) for e in events)


def test_update_metrics_name_what_the_diagnostics_panel_shows():
    dqn = [e for e in _run(make_config("dqn", total_steps=3_000, learning_starts=500, eval_episodes=0)) if isinstance(e, Updated)]
    assert {"td_loss", "mean_abs_td_error", "epsilon", "grad_norm", "q_mean"} <= set(dqn[-1].metrics)
    assert dqn[0].metrics["epsilon"] > dqn[-1].metrics["epsilon"]
    ac = [e for e in _run(make_config("nstep-ac", total_steps=2_000, eval_episodes=0)) if isinstance(e, Updated)]
    assert {"actor_loss", "critic_loss", "entropy", "mean_abs_td_error", "grad_norm"} <= set(ac[-1].metrics)
    assert 0 < ac[-1].metrics["entropy"] <= np.log(2) + 1e-6


def test_importing_rlviz_does_not_import_streamlit():
    code = "import sys, rlviz, rlviz.trainer, rlviz.runs, rlviz.returns; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_learners_never_see_an_autoreset_observation_as_next_obs(monkeypatch):
    """At a termination the stored next_obs is the real final state (pole fallen or cart out),
    not the fresh start state that Gymnasium's autoreset returns one step later."""
    from rlviz.agents.actor_critic import ActorCriticAgent

    seen = []
    original = ActorCriticAgent.observe

    def spy(self, step, env_step):
        seen.append(step)
        return original(self, step, env_step)

    monkeypatch.setattr(ActorCriticAgent, "observe", spy)
    list(train(make_config("a2c", n_envs=3, total_steps=3_000, eval_episodes=0)))
    final_states = np.concatenate([step.next_obs[step.terminated & step.valid] for step in seen])
    assert len(final_states) > 20
    fallen = (np.abs(final_states[:, 0]) > 2.4) | (np.abs(final_states[:, 2]) > 0.2094)
    assert fallen.all()
    # Each episode end is followed by one reset step, marked invalid: its obs is the final state.
    reset_obs = np.concatenate([step.obs[~step.valid] for step in seen])
    episode_ends = sum(int(((step.terminated | step.truncated) & step.valid).sum()) for step in seen)
    assert episode_ends - 3 <= len(reset_obs) <= episode_ends  # the last ends may have no reset step yet
    assert ((np.abs(reset_obs[:, 0]) > 2.4) | (np.abs(reset_obs[:, 2]) > 0.2094)).all()


def test_a_diverging_run_ends_at_once_as_diverged_and_names_the_learning_rate():
    # Adam steps of 0.1 on raw CartPole rewards, one transition each, blow the critic up within a few dozen steps.
    config = make_config("a2c-1step", n_envs=1, learning_rate=0.1, reward_scale=1.0, total_steps=100_000)
    events = list(train(config))
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.diverged is not None
    assert 0 < finished.env_steps < 1_000
    assert f"Diverged at step {finished.env_steps:,}" in finished.diverged
    assert "learning rate (0.1)" in finished.diverged and "reward scale (now 1)" in finished.diverged
    assert finished.eval_mean_return is None and not finished.stopped  # broken weights get no greedy evaluation
    # The update that diverged is reported, so the diagnostics show the blow-up.
    assert [e for e in events if isinstance(e, Updated)][-1].env_step == finished.env_steps


NAN, INF = float("nan"), float("inf")
SOUND_AC_METRICS = dict(actor_loss=0.1, critic_loss=0.5, entropy=0.6, mean_abs_td_error=0.3, value_mean=0.4, grad_norm=2.0)


@pytest.mark.parametrize(
    "config, metrics, says, not_said",
    [
        (make_config("dqn"), dict(td_loss=NAN, mean_abs_td_error=1.0, q_mean=3.0, grad_norm=1.0, epsilon=0.5),
         ["the TD loss became NaN", "learning rate (0.0001)", "try 1e-5 or lower"], ["reward scale", "gamma"]),
        (make_config("a2c"), {**SOUND_AC_METRICS, "grad_norm": INF},
         ["the gradient norm became infinite", "learning rate", "reward scale (now 1)"], ["NaN", "gamma"]),
        # reward_scale 0.01: a mean V of 60 is 6,000 in CartPole's units, past 10 x 500.
        (make_config("td-ac"), {**SOUND_AC_METRICS, "value_mean": 60.0},
         ["the critic's values reached 6,000", "±500", "learning rate (0.0005)", "reward scale (now 0.01)"], ["gamma"]),
        (make_config("a2c", "LunarLander-v3", learning_rate=0.01), {**SOUND_AC_METRICS, "value_mean": 6.1e11},
         ["the critic's values reached 6.1e11", "±1,000", "try the preset's", "gamma further from 1 (now 0.999)"], []),
        (make_config("dqn", learning_rate=0.05), dict(td_loss=1e30, mean_abs_td_error=1.0, q_mean=-2e4, grad_norm=1.0, epsilon=0.1),
         ["the Q-values reached -20,000", "try the preset's 0.0001 or lower"], ["reward scale"]),
    ],
)
def test_divergence_message_names_what_blew_up_and_the_setting_to_change(config, metrics, says, not_said):
    message = divergence_message(config, 12_345, metrics)
    assert message is not None and message.startswith("Diverged at step 12,345: ")
    for words in says:
        assert words in message, message
    for words in not_said:
        assert words not in message, message


def test_values_within_the_bound_in_env_units_are_not_divergence():
    config = make_config("td-ac")  # rewards / 100
    below = DIVERGENCE_FACTOR * 500 * config.reward_scale * 0.9
    assert divergence_message(config, 100, {**SOUND_AC_METRICS, "value_mean": below}) is None
    assert divergence_message(config, 100, {**SOUND_AC_METRICS, "value_mean": -below}) is None
    assert divergence_message(config, 100, {**SOUND_AC_METRICS, "value_mean": -2 * below}) is not None
