"""Return maths: pure functions on one trajectory segment.

The agents train with these functions and the Theory page fills its formulas with them, so what
a student reads is what runs.

Conventions (all functions):
- Time is axis 0. Inputs are 1-D arrays of length T, or (T, N) for N envs side by side; NumPy
  arrays or torch tensors, and the result is of the same kind.
- ``next_values[t]`` is V(s_{t+1}) of the *real* next observation (the final observation at a
  truncation), whatever happens after it.
- ``terminated[t]``: the episode ended at step t in a terminal state; nothing follows, V = 0.
  ``truncated[t]``: it was cut (time limit); the future exists, so we bootstrap with V(s_{t+1}).
  Both may be bools or 0/1 floats. Either one ends the sum: the next step belongs to a new episode.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _as_float(flags: Array | np.ndarray, like: Array) -> Array:
    """0/1 floats of ``like``'s kind and dtype, as a new array (safe to modify)."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(flags, device=like.device).to(like.dtype).clone()
    return np.array(flags, dtype=like.dtype)


def _float_array(values: Array) -> Array:
    if isinstance(values, torch.Tensor):
        return values if values.is_floating_point() else values.float()
    return np.asarray(values, dtype=np.float64)


def td_targets(rewards: Array, next_values: Array, terminated: Array, gamma: float) -> Array:
    """y_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}): the one-step target, ``n_step_targets`` with n = 1.

    Only a termination drops the bootstrap; a truncated step still has a future worth V(s_{t+1}).
    Every step stands alone, so rows need not be consecutive (a replay batch works too).
    """
    rewards = _float_array(rewards)
    not_terminal = 1.0 - _as_float(terminated, rewards)
    return rewards + gamma * not_terminal * next_values


def td_errors(rewards: Array, values: Array, next_values: Array, terminated: Array, gamma: float) -> Array:
    """delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t): the TD target minus V(s_t)."""
    return td_targets(rewards, next_values, terminated, gamma) - values


def n_step_targets(
    rewards: Array, next_values: Array, terminated: Array, truncated: Array, gamma: float, n: int
) -> Array:
    """The n-step return of every step in the segment.

    G_t^(n) = r_t + gamma r_{t+1} + ... + gamma^(m-1) r_{t+m-1} + gamma^m (1 - terminated_{t+m-1}) V(s_{t+m})

    where m <= n stops early at the step that ends the episode (terminated or truncated) or at the
    end of the segment. The bootstrap term is dropped only when the sum stopped at a termination.
    n = 1 is the TD target r_t + gamma (1 - terminated_t) V(s_{t+1}); n >= the episode length with a
    terminal end is the Monte Carlo return.

    Loops over the n offsets, each a vector operation over all t (O(n) array operations).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rewards = _float_array(rewards)
    horizon = rewards.shape[0]
    term = _as_float(terminated, rewards)
    trunc = _as_float(truncated, rewards)
    # cut[i] = 1 if a sum must stop after step i: the episode ended there, or the segment did.
    cut = term + trunc - term * trunc
    if horizon:
        cut[-1] = 1.0
    targets = rewards * 0.0
    still_summing = rewards * 0.0 + 1.0  # per start t: has the sum not stopped yet?
    for k in range(min(n, horizon)):
        span = horizon - k  # starts t = 0 .. span-1 reach step t + k
        i = slice(k, horizon)
        open_sums = still_summing[:span]
        targets[:span] += open_sums * gamma**k * rewards[i]
        stop = cut[i] if k < n - 1 else cut[i] * 0.0 + 1.0  # the n-th reward always ends the sum
        bootstrap = gamma ** (k + 1) * (1.0 - term[i]) * next_values[i]
        targets[:span] += open_sums * stop * bootstrap
        still_summing[:span] = open_sums * (1.0 - stop)
    return targets


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: float,
    lam: float,
) -> Array:
    """Generalised advantage estimates: A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}.

    delta_t is the TD error (see ``td_errors``); the recursion restarts after a step that ended
    the episode (terminated or truncated) and at the end of the segment. lam = 0 gives the TD
    errors; lam = 1 gives the n-step return to the segment's end minus V(s_t), so
    ``gae(..., lam=1) + values == n_step_targets(..., n=len(rewards))``.
    """
    rewards = _float_array(rewards)
    deltas = td_errors(rewards, values, next_values, terminated, gamma)
    term = _as_float(terminated, rewards)
    trunc = _as_float(truncated, rewards)
    continues = 1.0 - (term + trunc - term * trunc)
    advantages = deltas * 0.0
    running = deltas[0] * 0.0 if len(deltas) else 0.0
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * continues[t] * running
        advantages[t] = running
    return advantages



def n_step_complete(terminated: np.ndarray, truncated: np.ndarray, lengths: np.ndarray, n: int) -> np.ndarray:
    """Which steps of a (T, N) segment already have their whole n-step return, shape (T, N) bool.

    Column i holds ``lengths[i]`` real steps (rows after them are padding). Step t is complete
    when its sum needs nothing after the column's last step: n rewards follow within the column
    (t + n - 1 < length), or its episode ends within them. Only the last n - 1 steps after the
    column's last episode end are incomplete: they wait for rewards that have not happened yet.
    """
    horizon, columns = terminated.shape
    rows = np.arange(horizon)[:, None]
    ended = ((np.asarray(terminated) + np.asarray(truncated)) > 0) & (rows < lengths[None, :])
    last_end = np.where(ended.any(axis=0), horizon - 1 - np.argmax(ended[::-1], axis=0), -1)  # -1: no end
    first_incomplete = np.maximum(last_end + 1, lengths - (n - 1))
    return rows < first_incomplete[None, :]


def rollout_returns(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    lengths: np.ndarray,
    gamma: float,
    n_step_return: int,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The return G_t the actor-critic learner regresses on for each step of one rollout, and which
    steps it learns now: (returns, learned), each (T, N).

    Column i holds ``lengths[i]`` real steps of env i (rows after them are padding). Each column
    ends at its last real step: sums stop there and bootstrap, so padding never reaches a target.
    - ``n_step_return = n >= 1``: G_t = n_step_targets(..., n); a step is learned once its return
      is complete (``n_step_complete``), so the last steps wait for the next rollout;
    - ``n_step_return = 0``: G_t = gae(..., lam) + V(s_t), bootstrapped at the rollout's end;
      every real step is learned now.
    """
    # The sums run in numpy: on a few dozen numbers per rollout, torch's per-operation overhead cost
    # several times the arithmetic (n_step_targets was 15% of an nstep-ac run in torch).
    rewards_, values_, next_values_, terminated_, truncated_ = (
        array.numpy() for array in (rewards, values, next_values, terminated, truncated))
    horizon, columns = rewards_.shape
    segment_end = np.zeros_like(truncated_)
    segment_end[np.maximum(lengths - 1, 0), np.arange(columns)] = 1.0
    cut = np.maximum(truncated_, segment_end * (1.0 - terminated_))
    real = (np.arange(horizon)[:, None] < lengths[None, :]).astype(rewards_.dtype)
    if n_step_return:
        returns = n_step_targets(rewards_, next_values_, terminated_, cut, gamma, n_step_return)
        learned = real * n_step_complete(terminated_, truncated_, lengths, n_step_return)
    else:
        returns = gae(rewards_, values_, next_values_, terminated_, cut, gamma, lam) + values_
        learned = real
    return torch.from_numpy(returns.astype(rewards_.dtype)), torch.from_numpy(learned.astype(rewards_.dtype))
