"""The numpy forward pass that DQN acts with matches PyTorch's and follows every weight update."""

import numpy as np
import pytest
import torch

from rlviz.networks import NumpyForward, mlp


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_numpy_forward_matches_torch_and_tracks_in_place_updates(activation):
    torch.manual_seed(0)
    network = mlp(4, (16, 16), 3, activation)
    forward = NumpyForward(network)
    obs = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)

    def torch_output():
        with torch.no_grad():
            return network(torch.from_numpy(obs)).numpy()

    np.testing.assert_allclose(forward(obs), torch_output(), rtol=1e-5, atol=1e-6)
    before = forward(obs).copy()

    optimizer = torch.optim.Adam(network.parameters(), lr=0.1, fused=True)
    network(torch.from_numpy(obs)).square().mean().backward()
    optimizer.step()
    assert not np.allclose(forward(obs), before), "the optimizer's step shows up without rebuilding"
    np.testing.assert_allclose(forward(obs), torch_output(), rtol=1e-5, atol=1e-6)

    other = mlp(4, (16, 16), 3, activation)
    network.load_state_dict(other.state_dict())
    with torch.no_grad():
        expected = other(torch.from_numpy(obs)).numpy()
    np.testing.assert_allclose(forward(obs), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("algo", ["a2c", "nstep-ac"])  # shared trunk, separate actor
def test_actor_critic_acts_by_sampling_its_softmax_policy(algo):
    from rlviz.agents import make_agent
    from rlviz.config import make_config

    agent = make_agent(make_config(algo), 4, 2, np.random.default_rng(0))
    network = agent.network
    policy_out = network.policy_head if network.shared else network.actor[-1]
    with torch.no_grad():  # a policy away from uniform (initialised near it), so a wrong sampler shows
        policy_out.bias.copy_(torch.tensor([0.6, -0.6]))
        policy_out.weight.mul_(50.0)
    obs = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    with torch.no_grad():
        probs = torch.softmax(agent.network(torch.from_numpy(obs))[0], dim=1).numpy()
    draws = np.stack([agent.act(obs, 0) for _ in range(20_000)])  # (20000, 3)
    frequencies = np.stack([(draws == action).mean(axis=0) for action in range(2)], axis=1)  # (3, 2)
    assert ((probs > 0.1) & (probs < 0.9)).any(), "some state must have a policy worth sampling"
    np.testing.assert_allclose(frequencies, probs, atol=0.015)
    np.testing.assert_array_equal(agent.greedy_action(obs), probs.argmax(axis=1))
