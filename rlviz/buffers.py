"""Storage for transitions: a replay buffer for DQN, a rollout buffer for actor-critic. No maths."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch


class Transition(NamedTuple):
    """One vector-env step for N envs. Arrays of shape (N, ...).

    ``valid[i]`` is False on the reset step that follows the end of an episode in env i (NEXT_STEP
    autoreset): its action was ignored and its reward is 0, so learners must skip it.
    """

    obs: np.ndarray  # (N, obs_dim)
    actions: np.ndarray  # (N,)
    rewards: np.ndarray  # (N,)
    next_obs: np.ndarray  # (N, obs_dim), the real next observation (final one at an episode end)
    terminated: np.ndarray  # (N,) bool
    truncated: np.ndarray  # (N,) bool
    valid: np.ndarray  # (N,) bool


class ReplayBatch(NamedTuple):
    obs: torch.Tensor  # (B, obs_dim)
    actions: torch.Tensor  # (B,) int64
    rewards: torch.Tensor  # (B,)
    next_obs: torch.Tensor  # (B, obs_dim)
    terminated: torch.Tensor  # (B,) float 0/1


class ReplayBuffer:
    """A ring buffer of single transitions, preallocated; the oldest is overwritten first (O(1))."""

    def __init__(self, capacity: int, obs_dim: int, rng: np.random.Generator) -> None:
        self.capacity = capacity
        self.rng = rng
        self.obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        # Only termination is stored: a truncated transition is bootstrapped like any other.
        self.terminated = np.zeros(capacity, dtype=np.float32)
        self.position = 0
        self.size = 0

    def add(self, step: Transition) -> None:
        """Store the valid rows of one vector step, all at once."""
        rows = np.flatnonzero(step.valid)
        slots = (self.position + np.arange(len(rows))) % self.capacity
        self.obs[slots] = step.obs[rows]
        self.actions[slots] = step.actions[rows]
        self.rewards[slots] = step.rewards[rows]
        self.next_obs[slots] = step.next_obs[rows]
        self.terminated[slots] = step.terminated[rows]
        self.position = (self.position + len(rows)) % self.capacity
        self.size = min(self.size + len(rows), self.capacity)

    def sample(self, batch_size: int) -> ReplayBatch:
        index = self.rng.integers(0, self.size, size=batch_size)
        return ReplayBatch(
            torch.from_numpy(self.obs[index]),
            torch.from_numpy(self.actions[index]),
            torch.from_numpy(self.rewards[index]),
            torch.from_numpy(self.next_obs[index]),
            torch.from_numpy(self.terminated[index]),
        )


class Rollout(NamedTuple):
    """T steps of N envs, as tensors of shape (T, N, ...)."""

    obs: torch.Tensor  # (T, N, obs_dim)
    actions: torch.Tensor  # (T, N) int64
    rewards: torch.Tensor  # (T, N)
    next_obs: torch.Tensor  # (T, N, obs_dim)
    terminated: torch.Tensor  # (T, N) float 0/1
    truncated: torch.Tensor  # (T, N) float 0/1
    valid: torch.Tensor  # (T, N) float 0/1


class RolloutBuffer:
    """Collects ``n_steps`` vector steps into preallocated arrays, then hands them out as a Rollout."""

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int) -> None:
        self.n_steps = n_steps
        self.obs = np.zeros((n_steps, n_envs, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((n_steps, n_envs, obs_dim), dtype=np.float32)
        self.actions = np.zeros((n_steps, n_envs), dtype=np.int64)
        self.rewards = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.terminated = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.truncated = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.valid = np.zeros((n_steps, n_envs), dtype=np.float32)
        self.step = 0

    def add(self, step: Transition, reward_scale: float = 1.0) -> None:
        t = self.step
        self.obs[t] = step.obs
        self.next_obs[t] = step.next_obs
        self.actions[t] = step.actions
        self.rewards[t] = step.rewards * reward_scale
        self.terminated[t] = step.terminated
        self.truncated[t] = step.truncated
        self.valid[t] = step.valid
        self.step += 1

    @property
    def full(self) -> bool:
        return self.step == self.n_steps

    def take(self) -> Rollout:
        """The collected rollout; the buffer starts over.

        The tensors share memory with the buffer (no copy): use them before the next ``add``.
        """
        self.step = 0
        arrays = (self.obs, self.actions, self.rewards, self.next_obs, self.terminated, self.truncated, self.valid)
        return Rollout(*(torch.from_numpy(array) for array in arrays))
