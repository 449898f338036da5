"""The learners, behind one small interface (``Agent``)."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from rlviz.buffers import Transition
from rlviz.config import ActorCriticConfig, Config, DQNConfig


class Agent(Protocol):
    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        """Exploratory actions (N,) for a batch of observations (N, obs_dim)."""

    def greedy_action(self, obs: np.ndarray) -> np.ndarray:
        """The policy's best actions (N,), for evaluation and videos."""

    def observe(self, step: Transition, env_step: int) -> dict[str, float] | None:
        """Store one vector step; learn if it is time. Returns the update's metrics, if any."""

    def state_dict(self) -> dict[str, Any]:
        """The network weights, for saving."""


def make_agent(config: Config, obs_dim: int, n_actions: int, rng: np.random.Generator) -> Agent:
    from rlviz.agents.actor_critic import ActorCriticAgent
    from rlviz.agents.dqn import DQNAgent

    if isinstance(config, DQNConfig):
        return DQNAgent(config, obs_dim, n_actions, rng)
    assert isinstance(config, ActorCriticConfig)
    return ActorCriticAgent(config, obs_dim, n_actions)
