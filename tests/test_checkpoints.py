"""Weight checkpoints through a run: about 20, written by the app's and the CLI's runs alike, loadable with
weights_only=True into the agent they came from."""

import subprocess
import sys

import numpy as np
import torch

from rlviz.agents import load_agent
from rlviz.config import make_config
from rlviz.rundir import checkpoints, write_run
from rlviz.trainer import CHECKPOINTS, train


def test_a_run_keeps_about_20_checkpoints_that_load_into_its_agent(tmp_path):
    config = make_config("a2c", total_steps=20_000, n_envs=8, stop_when_solved=False, eval_episodes=1)
    finished = [event for event in write_run(config, tmp_path, train(config)) if event.kind == "finished"][0]
    saved = checkpoints(tmp_path)
    steps = [step for step, _ in saved]
    assert len(saved) == CHECKPOINTS + 1 and steps[-1] == finished.env_steps
    for k, step in enumerate(steps[:-1]):  # the first vector step at or after k / 20 of the budget
        assert k * config.total_steps / CHECKPOINTS <= step < k * config.total_steps / CHECKPOINTS + config.n_envs
    weights = [torch.load(path, weights_only=True) for _, path in saved]
    final = torch.load(tmp_path / "model.pt", weights_only=True)
    assert all(torch.equal(weights[-1]["network"][name], final["network"][name]) for name in final["network"])
    assert not all(torch.equal(weights[0]["network"][name], final["network"][name]) for name in final["network"])
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    first, last = (load_agent(config, state) for state in (weights[0], weights[-1]))
    assert first.state_values(obs).shape == (16,) and not np.allclose(first.state_values(obs), last.state_values(obs))


def test_the_command_line_writes_checkpoints_too(tmp_path):
    out = tmp_path / "run"
    subprocess.run([sys.executable, "-m", "rlviz", "train", "--algo", "dqn", "--env", "CartPole-v1", "--seed", "0",
                    "--total-steps", "2000", "--out", str(out)], check=True, capture_output=True)
    saved = checkpoints(out)
    assert len(saved) == CHECKPOINTS + 1 and saved[0][0] == 0
    state = torch.load(saved[-1][1], weights_only=True)
    assert set(state) == {"q_network"}


def test_the_videos_show_the_weights_of_checkpoints(tmp_path):
    config = make_config("a2c", total_steps=4_000, n_envs=4, stop_when_solved=False, eval_episodes=0)
    events = list(train(config, video_dir=tmp_path))
    checkpoint_steps = {event.env_step for event in events if event.kind == "checkpoint"}
    video_steps = [event.env_step for event in events if event.kind == "video"]
    assert len(video_steps) == 4 and set(video_steps) <= checkpoint_steps
