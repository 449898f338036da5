"""The fixed n-step return mode of the actor-critic engine: what the learner really regresses on.

A stream of transitions with terminations, truncations and autoreset steps is fed to the agent
with its optimizers removed (the critic stays fixed), and every target the learner uses is
recorded per transition and checked against the n-step return of the whole stream.
"""

import numpy as np
import pytest
import torch

from rlviz.agents.actor_critic import ActorCriticAgent
from rlviz.buffers import Transition
from rlviz.config import make_config
from rlviz.returns import n_step_targets

OBS_DIM = 4
GAMMA = 0.9


def stream(n_envs: int = 2, steps: int = 60, seed: int = 0) -> list[Transition]:
    """Random transitions for ``n_envs`` envs: episodes end by termination or truncation, and the
    step after each end is an autoreset step (valid False), as Gymnasium's NEXT_STEP mode gives."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n_envs, OBS_DIM)).astype(np.float32)
    autoreset = np.zeros(n_envs, dtype=bool)
    transitions = []
    for _ in range(steps):
        next_obs = rng.normal(size=(n_envs, OBS_DIM)).astype(np.float32)
        ends = rng.random(n_envs)
        terminated = (ends < 0.08) & ~autoreset
        truncated = (ends > 0.92) & ~autoreset
        rewards = np.where(autoreset, 0.0, rng.normal(size=n_envs)).astype(np.float32)
        transitions.append(Transition(obs, rng.integers(0, 2, size=n_envs), rewards, next_obs, terminated, truncated,
                                      ~autoreset))
        autoreset = terminated | truncated
        obs = next_obs
    return transitions


def learned_targets(n: int, n_steps: int, transitions: list[Transition]) -> tuple[dict[bytes, float], ActorCriticAgent]:
    """Every target the learner used, by the transition's observation (unique in a random stream)."""
    config = make_config("nstep-ac", gamma=GAMMA, n_step_return=n, n_steps=n_steps, n_envs=transitions[0].obs.shape[0],
                         reward_scale=1.0, hidden_sizes=(8,))
    torch.manual_seed(0)  # the same critic for every call
    agent = ActorCriticAgent(config, OBS_DIM, 2, np.random.default_rng(0))
    agent.optimizers = []  # a fixed critic: targets depend on the data only
    seen: dict[bytes, float] = {}
    targets = agent.targets

    def spy(segment, values, next_values):
        result = targets(segment, values, next_values)
        for t, i in zip(*np.nonzero(result.learned.numpy())):
            key = segment.obs[t, i].numpy().tobytes()
            assert key not in seen, "a step is learned once"
            seen[key] = float(result.returns[t, i])
        return result

    agent.targets = spy
    for env_step, transition in enumerate(transitions, 1):
        agent.observe(transition, env_step)
    return seen, agent


def reference_targets(n: int, transitions: list[Transition], agent) -> dict[bytes, float]:
    """The n-step return of each real transition over the whole stream of its env, by rlviz.returns."""
    expected = {}
    for env in range(transitions[0].obs.shape[0]):
        real = [step for step in transitions if step.valid[env]]
        obs = np.stack([step.obs[env] for step in real])
        next_obs = torch.as_tensor(np.stack([step.next_obs[env] for step in real]))
        with torch.no_grad():
            next_values = agent.network.value(next_obs).numpy().astype(np.float64)
        rewards = np.array([step.rewards[env] for step in real], dtype=np.float64)
        terminated = np.array([step.terminated[env] for step in real])
        truncated = np.array([step.truncated[env] for step in real])
        targets = n_step_targets(rewards, next_values, terminated, truncated, GAMMA, n)
        ended = terminated | truncated
        last_end = np.flatnonzero(ended)[-1] if ended.any() else -1
        for t in range(len(real)):
            if t <= last_end or t + n - 1 < len(real):  # complete within the stream
                expected[obs[t].tobytes()] = float(targets[t])
    return expected


@pytest.mark.parametrize("n, n_steps", [(1, 1), (3, 2), (8, 8), (5, 13), (40, 4)])
def test_each_step_learns_exactly_its_n_step_return_across_rollout_boundaries(n, n_steps):
    transitions = stream()
    transitions = transitions[: len(transitions) // n_steps * n_steps]  # the agent learns at rollout ends only
    seen, agent = learned_targets(n, n_steps, transitions)
    expected = reference_targets(n, transitions, agent)
    # Every complete step is learned, once, with the target it would have in one long rollout.
    assert seen.keys() == expected.keys()
    np.testing.assert_allclose([seen[key] for key in expected], list(expected.values()), rtol=1e-5, atol=1e-6)


def test_n_1_is_the_td_target_and_a_long_n_is_the_monte_carlo_return():
    transitions = stream(n_envs=1, steps=80, seed=3)
    one_step, agent = learned_targets(1, 4, transitions)
    real = [step for step in transitions if step.valid[0]]
    with torch.no_grad():
        next_values = agent.network.value(torch.as_tensor(np.stack([s.next_obs[0] for s in real]))).numpy()
    for step, next_value in zip(real, next_values):
        td_target = step.rewards[0] + GAMMA * (1 - step.terminated[0]) * next_value
        assert one_step[step.obs[0].tobytes()] == pytest.approx(td_target, rel=1e-5, abs=1e-6)

    monte_carlo, _ = learned_targets(1_000, 4, transitions)
    episode = []
    for step in real:  # within each episode that terminated, G_t = r_t + gamma G_t+1, G = 0 after the end
        episode.append(step)
        if step.terminated[0] or step.truncated[0]:
            if step.terminated[0]:
                ret = 0.0
                for earlier in reversed(episode):
                    ret = earlier.rewards[0] + GAMMA * ret
                    assert monte_carlo[earlier.obs[0].tobytes()] == pytest.approx(ret, rel=1e-5, abs=1e-6)
            episode = []


def test_no_target_mixes_rewards_of_two_episodes():
    transitions = stream(n_envs=1, steps=90, seed=5)
    first_end = next(k for k, step in enumerate(transitions) if step.terminated[0] or step.truncated[0])
    # Every reward after the first episode's end moves by 100: no target of the first episode may move.
    shifted = [step._replace(rewards=step.rewards + 100.0) if k > first_end else step
               for k, step in enumerate(transitions)]
    before, _ = learned_targets(6, 5, transitions)
    after, _ = learned_targets(6, 5, shifted)
    first_episode = [step.obs[0].tobytes() for step in transitions[: first_end + 1]]
    assert all(after[key] == before[key] for key in first_episode)
    later = [step.obs[0].tobytes() for step in transitions[first_end + 2:] if step.obs[0].tobytes() in before]
    assert all(after[key] != before[key] for key in later)
