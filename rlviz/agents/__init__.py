"""The learners, behind one small interface (``Agent``)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rlviz.buffers import Transition
from rlviz.config import ActorCriticConfig, Config, DQNConfig


class Agent(Protocol):
    rng: np.random.Generator  # every random choice ``act`` makes is drawn from it

    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        """Exploratory actions (N,) for a batch of observations (N, obs_dim)."""

    def greedy_action(self, obs: np.ndarray) -> np.ndarray:
        """The policy's best actions (N,), for evaluation and videos."""

    def observe(self, step: Transition, env_step: int) -> list[dict[str, float]]:
        """Store one vector step; learn if it is time. Returns the metrics of each gradient update made (often none)."""

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        """V(s) for a batch of observations (N, obs_dim) -> (N,); for DQN, max_a Q(s, a)."""

    def action_outputs(self, obs: np.ndarray) -> np.ndarray:
        """What the agent says of each action, (N, obs_dim) -> (N, n_actions): pi(a|s) for an actor-critic, Q(s, a) for DQN."""

    def state_dict(self) -> dict[str, Any]:
        """The network weights, for saving."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore weights saved by ``state_dict`` (a run's model.pt)."""


def load_agent(config: Config, state: dict[str, Any]) -> Agent:
    """The trained agent of a run: its config plus the weights in its model.pt."""
    from rlviz.envs import make_env

    env = make_env(config.env_id)
    agent = make_agent(config, env.observation_space.shape[0], int(env.action_space.n), np.random.default_rng(config.seed))
    env.close()
    agent.load_state_dict(state)
    return agent


def make_agent(config: Config, obs_dim: int, n_actions: int, rng: np.random.Generator) -> Agent:
    from rlviz.agents.actor_critic import ActorCriticAgent
    from rlviz.agents.dqn import DQNAgent

    if isinstance(config, DQNConfig):
        return DQNAgent(config, obs_dim, n_actions, rng)
    assert isinstance(config, ActorCriticConfig)
    return ActorCriticAgent(config, obs_dim, n_actions, rng)
