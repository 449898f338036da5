"""Inside the agent: a checkpoint's episode shows the networks' own numbers, and the returns' own maths."""

import numpy as np
import pytest
import torch

from rlviz.config import make_config
from rlviz.inside import MAP_AXES, EpisodeReplay, episode_trace, policy_map, run_checkpoints
from rlviz.rundir import write_run
from rlviz.theory import load_run_agent
from rlviz.trainer import train


@pytest.fixture(scope="module", params=["a2c", "dqn"])
def run(request, tmp_path_factory):
    """A short CartPole run with its checkpoints: (run_dir, config)."""
    overrides = {"a2c": dict(n_envs=4, reward_scale=0.1, gamma=0.97), "dqn": dict(learning_starts=500, train_freq=8, gamma=0.97)}[request.param]
    config = make_config(request.param, "CartPole-v1", total_steps=6_000, seed=1, eval_episodes=0,
                         stop_when_solved=False, **overrides)
    run_dir = tmp_path_factory.mktemp(request.param)
    for _ in write_run(config, run_dir, train(config)):
        pass
    return run_dir, config


def final_trace(run_dir, seed=0):
    step, weights = run_checkpoints(run_dir)[-1]
    config, agent = load_run_agent(run_dir, weights)
    return config, agent, episode_trace(config, agent, step, seed)


def test_every_checkpoint_loads_and_the_last_is_the_final_model(run):
    run_dir, config = run
    points = run_checkpoints(run_dir)
    assert len(points) == 21 and points[0][0] == 0
    final = torch.load(run_dir / "model.pt", weights_only=True)
    last = torch.load(points[-1][1], weights_only=True)
    assert all(torch.equal(a, b) for a, b in zip(_tensors(final), _tensors(last)))


def _tensors(state):
    return [tensor for network in state.values() for tensor in network.values()]


def test_the_numbers_of_each_step_are_the_networks_outputs_for_its_observation(run):
    run_dir, _ = run
    config, agent, trace = final_trace(run_dir)
    obs = torch.as_tensor(trace.observations)
    with torch.no_grad():
        if config.algo == "dqn":
            q = agent.q_network(obs).numpy()
            np.testing.assert_allclose(trace.values, q.max(axis=1), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(trace.action_outputs, q, rtol=1e-5, atol=1e-6)
            assert np.isnan(trace.advantages).all()  # DQN has no actor
        else:
            logits, values = agent.network(obs)
            # The critic learned on rewards x 0.1: the page shows V in the env's units.
            np.testing.assert_allclose(trace.values, values.squeeze(-1).numpy() / config.reward_scale, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(trace.action_outputs, torch.softmax(logits, dim=-1).numpy(), rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(trace.advantages, trace.targets - trace.values)
    # The greedy episode takes the argmax of those outputs at every step.
    np.testing.assert_array_equal(trace.actions, trace.action_outputs.argmax(axis=1))
    # V(s_t+1) of step t is V(s_t) of step t + 1, and the TD error is built from them.
    np.testing.assert_array_equal(trace.next_values[:-1], trace.values[1:])
    end = np.zeros(trace.length)
    end[-1] = trace.terminated
    expected = trace.rewards + config.gamma * (1 - end) * trace.next_values - trace.values
    np.testing.assert_allclose(trace.td_errors, expected, atol=1e-9)


def test_the_return_from_t_is_the_discounted_sum_of_the_rewards_that_followed(run):
    run_dir, _ = run
    config, _, trace = final_trace(run_dir)
    for t in (0, trace.length // 2, trace.length - 1):
        expected = sum(config.gamma ** k * reward for k, reward in enumerate(trace.rewards[t:]))
        assert trace.returns_to_go[t] == pytest.approx(expected)


def test_the_same_checkpoint_and_seed_play_the_same_episode(run):
    run_dir, _ = run
    *_, first = final_trace(run_dir, seed=3)
    *_, again = final_trace(run_dir, seed=3)
    for name, array in first._asdict().items():
        np.testing.assert_array_equal(array, getattr(again, name), err_msg=name)
    *_, other = final_trace(run_dir, seed=4)
    assert not np.array_equal(first.observations[0], other.observations[0])


def test_the_replay_renders_the_states_the_trace_recorded(run):
    run_dir, config = run
    *_, trace = final_trace(run_dir)
    replay = EpisodeReplay(config.env_id, trace.seed, trace.actions)
    try:
        for t in (trace.length - 1, 3, 0, trace.length // 2):  # forward, back, and forward again
            np.testing.assert_array_equal(replay.seek(t), trace.observations[t])
        frame = replay.frame(2)
        assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8
        with pytest.raises(IndexError):
            replay.seek(trace.length + 1)
    finally:
        replay.close()


def test_the_map_is_the_networks_outputs_on_states_varied_along_two_dimensions(run):
    run_dir, _ = run
    config, agent, _ = final_trace(run_dir)
    grid = policy_map(config, agent, resolution=9)
    axes = MAP_AXES["CartPole-v1"]
    assert grid.values.shape == (9, 9) and grid.outputs.shape == (9, 9, 2)
    row, column = 2, 7
    state = np.array(axes.base, dtype=np.float32)
    state[axes.x_index], state[axes.y_index] = grid.xs[column], grid.ys[row]
    scale = getattr(config, "reward_scale", 1.0)
    assert grid.values[row, column] == pytest.approx(agent.state_values(state[None])[0] / scale, rel=1e-5)
    np.testing.assert_allclose(grid.outputs[row, column], agent.action_outputs(state[None])[0], rtol=1e-5)


def test_an_early_checkpoint_differs_from_the_last(run):
    run_dir, _ = run
    points = run_checkpoints(run_dir)
    config, first_agent = load_run_agent(run_dir, points[0][1])
    _, last_agent = load_run_agent(run_dir, points[-1][1])
    start = episode_trace(config, first_agent, points[0][0]).observations[:1]
    assert not np.allclose(first_agent.action_outputs(start), last_agent.action_outputs(start))


def test_a_run_without_checkpoints_offers_its_final_weights(tmp_path):
    config = make_config("a2c", "CartPole-v1", total_steps=1_000, n_envs=4, eval_episodes=0)
    for _ in write_run(config, tmp_path, train(config)):
        pass
    for path in (tmp_path / "checkpoints").iterdir():
        path.unlink()
    (tmp_path / "checkpoints").rmdir()
    assert run_checkpoints(tmp_path) == [(1_000, tmp_path / "model.pt")]
