"""Environment registry and factories.

Every vector env runs in Gymnasium's NEXT_STEP autoreset mode, set explicitly: the step that ends
an episode returns the real final observation, and the *following* step of that sub-env is a
reset step (reward 0, action ignored) that the trainer marks invalid. So no learner ever
bootstraps from an observation that an autoreset returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv


SOLVE_WINDOW = 100  # "solved" is judged on the mean return of this many latest training episodes


@dataclass(frozen=True)
class EnvInfo:
    env_id: str
    display_name: str
    solve_threshold: float  # mean return of the last SOLVE_WINDOW training episodes that counts as solved
    max_episode_steps: int
    description: str
    return_bound: float  # episode returns stay within +- this: a value estimate far beyond it has diverged


ENVS: dict[str, EnvInfo] = {
    "CartPole-v1": EnvInfo(
        "CartPole-v1",
        "CartPole",
        475.0,
        500,
        "Balance a pole on a cart by pushing left or right. +1 per step, at most 500 steps.",
        return_bound=500.0,  # +1 per step for at most 500 steps
    ),
    "LunarLander-v3": EnvInfo(
        "LunarLander-v3",
        "Lunar Lander",
        200.0,
        1000,
        "Land between the flags with four discrete engine actions. 200 or more is a good landing.",
        # Returns lie within about [-1000, 400]: a landing pays a few hundred at most, while a lander
        # that flips, flies off or burns fuel for its 1000 steps can lose about a thousand.
        return_bound=1000.0,
    ),
}

# Gymnasium ships a NumPy-vectorised CartPole: one step moves every sub-env at once.
_VECTOR_ENTRY_POINT = {"CartPole-v1"}


def env_info(env_id: str) -> EnvInfo:
    try:
        return ENVS[env_id]
    except KeyError:
        raise ValueError(f"unknown env '{env_id}': choose one of {', '.join(ENVS)}") from None


def make_vector_env(env_id: str, n_envs: int, same_step_autoreset: bool = False) -> VectorEnv:
    """``n_envs`` copies of ``env_id`` stepping in lockstep, NEXT_STEP autoreset.

    ``same_step_autoreset`` is for the Bug lab only (bootstrap_from_reset_obs): SAME_STEP autoreset,
    where the step that ends an episode already returns the next episode's first observation.
    """
    env_info(env_id)
    if same_step_autoreset:
        return gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="sync",
                            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP})
    if env_id in _VECTOR_ENTRY_POINT and n_envs > 1:  # for one env the plain env steps 2.5x faster
        envs = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point")
    else:
        envs = gym.make_vec(
            env_id,
            num_envs=n_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
        )
    # The trainer's episode accounting depends on this mode; fail loudly if Gymnasium changes it.
    assert envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    return envs


def make_env(env_id: str, render_mode: str | None = None) -> gym.Env:
    """One plain env, for evaluation and video recording."""
    env_info(env_id)
    return gym.make(env_id, render_mode=render_mode)
