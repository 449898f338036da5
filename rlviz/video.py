"""Record greedy episodes as browser-playable H.264 (yuv420p) mp4.

Frames stream straight into the encoder: a 1000-step LunarLander episode held in memory as raw
frames would take ~700 MB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import imageio.v2 as imageio
import numpy as np

from rlviz.envs import make_env

# Rendering to arrays needs no display; tell SDL (pygame) so, or it complains on headless machines.
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

Policy = Callable[[np.ndarray], np.ndarray]  # (N, obs_dim) -> (N,) actions


def record_episode(policy: Policy, env_id: str, path: Path, seed: int, fps: int = 50) -> tuple[float, int]:
    """Play one episode with ``policy``, writing it to ``path``; return (episode return, length)."""
    env = make_env(env_id, render_mode="rgb_array")
    path.parent.mkdir(parents=True, exist_ok=True)
    # libx264 + yuv420p is what every browser decodes; macro_block_size=2 keeps 600x400 unscaled.
    writer = imageio.get_writer(
        path, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2, ffmpeg_log_level="error"
    )
    try:
        obs, _ = env.reset(seed=seed)
        writer.append_data(env.render())
        episode_return, length, done = 0.0, 0, False
        while not done:
            action = int(policy(obs[None])[0])
            obs, reward, terminated, truncated, _ = env.step(action)
            writer.append_data(env.render())
            episode_return += float(reward)
            length += 1
            done = terminated or truncated
    finally:
        writer.close()
        env.close()
    return episode_return, length
