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
        return self.batch(self.rng.integers(0, self.size, size=batch_size))

    def batch(self, index: np.ndarray) -> ReplayBatch:
        """The stored transitions at ``index`` (B,), as tensors."""
        return ReplayBatch(
            torch.from_numpy(self.obs[index]),
            torch.from_numpy(self.actions[index]),
            torch.from_numpy(self.rewards[index]),
            torch.from_numpy(self.next_obs[index]),
            torch.from_numpy(self.terminated[index]),
        )


class Rollout(NamedTuple):
    """A segment of T steps for N envs, as tensors of shape (T, N, ...).

    Column i holds env i's real transitions in order (the reset steps of autoreset are left out),
    starting with any steps carried over from the previous segment. Columns differ in length: rows
    at and after ``lengths[i]`` are padding, ``real`` is 0 there.
    """

    obs: torch.Tensor  # (T, N, obs_dim)
    actions: torch.Tensor  # (T, N) int64
    rewards: torch.Tensor  # (T, N)
    next_obs: torch.Tensor  # (T, N, obs_dim)
    terminated: torch.Tensor  # (T, N) float 0/1
    truncated: torch.Tensor  # (T, N) float 0/1
    real: torch.Tensor  # (T, N) float 0/1
    lengths: np.ndarray  # (N,) int: real rows per column


class RolloutBuffer:
    """Collects ``n_steps`` vector steps per env, then hands them out as one Rollout.

    ``carry_capacity`` rows per env may be kept for the next rollout (``keep``): a step whose
    fixed n-step return still needs rewards that have not happened yet waits for them there.
    """

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, carry_capacity: int = 0) -> None:
        self.n_steps = n_steps
        self.n_envs = n_envs
        capacity = n_steps + carry_capacity
        self.obs = np.zeros((capacity, n_envs, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((capacity, n_envs, obs_dim), dtype=np.float32)
        self.actions = np.zeros((capacity, n_envs), dtype=np.int64)
        self.rewards = np.zeros((capacity, n_envs), dtype=np.float32)
        self.terminated = np.zeros((capacity, n_envs), dtype=np.float32)
        self.truncated = np.zeros((capacity, n_envs), dtype=np.float32)
        self.lengths = np.zeros(n_envs, dtype=np.int64)  # real rows per env
        self.steps_added = 0  # vector steps since the last ``keep``

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return self.obs, self.actions, self.rewards, self.next_obs, self.terminated, self.truncated

    def add(self, step: Transition, reward_scale: float = 1.0) -> None:
        """Append each env's transition to its column; an env on its autoreset step adds nothing."""
        envs = np.flatnonzero(step.valid)
        rows = self.lengths[envs]
        self.obs[rows, envs] = step.obs[envs]
        self.next_obs[rows, envs] = step.next_obs[envs]
        self.actions[rows, envs] = step.actions[envs]
        self.rewards[rows, envs] = step.rewards[envs] * reward_scale
        self.terminated[rows, envs] = step.terminated[envs]
        self.truncated[rows, envs] = step.truncated[envs]
        self.lengths[envs] += 1
        self.steps_added += 1

    @property
    def full(self) -> bool:
        return self.steps_added == self.n_steps

    def take(self) -> Rollout:
        """The collected segment, T = the longest column. The tensors share memory with the buffer
        (no copy): use them before the next ``keep`` or ``add``."""
        horizon = int(self.lengths.max())
        real = (np.arange(horizon)[:, None] < self.lengths[None, :]).astype(np.float32)
        return Rollout(*(torch.from_numpy(array[:horizon]) for array in self._arrays()), torch.from_numpy(real),
                       self.lengths.copy())

    def keep(self, first_kept: np.ndarray) -> None:
        """Start the next segment with rows ``first_kept[i]`` onwards of each env's column (none if
        ``first_kept[i]`` is its length)."""
        for env, first in enumerate(first_kept):
            kept = int(self.lengths[env] - first)
            if kept and first:
                for array in self._arrays():
                    array[:kept, env] = array[first : first + kept, env].copy()
            self.lengths[env] = kept
        self.steps_added = 0
