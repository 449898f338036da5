"""PPO as options of the actor-critic engine: the clipped surrogate, epochs of shuffled minibatches, target_kl."""

import numpy as np
import pytest
import torch

from rlviz import theory
from rlviz.agents import make_agent
from rlviz.agents.actor_critic import clipped_surrogate
from rlviz.buffers import Transition
from rlviz.config import make_config


def test_the_clip_stops_the_gradient_only_on_the_side_that_gains():
    ratios = torch.tensor([0.7, 0.9, 1.0, 1.1, 1.3], dtype=torch.float64, requires_grad=True)
    for advantage, flat in ((2.0, [False, False, False, False, True]), (-2.0, [True, False, False, False, False])):
        ratios.grad = None
        clipped_surrogate(ratios, torch.full_like(ratios, advantage), 0.2).sum().backward()
        expected = [0.0 if is_flat else advantage for is_flat in flat]
        np.testing.assert_allclose(ratios.grad.numpy(), expected)
    # Inside the region the objective is rho A, the importance-sampled policy gradient's surrogate.
    inside = torch.tensor([0.85, 1.0, 1.15], dtype=torch.float64)
    np.testing.assert_allclose(clipped_surrogate(inside, torch.full_like(inside, 3.0), 0.2).numpy(), (inside * 3.0).numpy())


def test_the_theory_demo_is_the_learners_objective():
    demo = theory.clip_demo(make_config("ppo"), 1.5)
    assert (demo.whose, demo.clip_range, demo.flat_from) == ("Your run", 0.2, 1.2)
    past = demo.ratios > 1.2
    np.testing.assert_allclose(demo.clipped[past], 1.2 * 1.5)
    np.testing.assert_allclose(demo.clipped[~past], demo.unclipped[~past])
    assert [value for *_, value in demo.examples] == pytest.approx([1.1 * 1.5, 1.2 * 1.5, 1.2 * 1.5])
    assert theory.clip_demo(make_config("a2c"), -1.0).whose == "PPO's CartPole-v1 preset"


def rollout_of(agent, config):
    """Feed ``agent`` one rollout of made-up CartPole-shaped steps (no episode ends, so every step is
    learned now); returns the metrics of its updates."""
    rng = np.random.default_rng(1)
    n = config.n_envs
    metrics = []
    obs = rng.normal(scale=0.05, size=(n, 4)).astype(np.float32)
    for step in range(1, config.n_steps + 1):
        actions = agent.act(obs, step)
        next_obs = rng.normal(scale=0.05, size=(n, 4)).astype(np.float32)
        rewards = rng.normal(size=n).astype(np.float32)  # varied advantages, so the policy has something to learn
        no = np.zeros(n, dtype=bool)
        metrics += agent.observe(Transition(obs, actions, rewards, next_obs, no, no, ~no), step)
        obs = next_obs
    return metrics


def spied_agent(config):
    torch.manual_seed(0)
    agent = make_agent(config, 4, 2, np.random.default_rng(0))
    batches = []
    step = agent.gradient_step

    def spy(minibatch, logits, values, env_step):
        batches.append(minibatch.obs.clone())
        return step(minibatch, logits, values, env_step)

    agent.gradient_step = spy
    return agent, batches


def test_each_rollout_is_learned_n_epochs_times_in_shuffled_minibatches():
    config = make_config("ppo", n_envs=4, n_steps=32, batch_size=32, n_epochs=3)
    agent, batches = spied_agent(config)
    metrics = rollout_of(agent, config)
    assert len(metrics) == 1 and {"clip_fraction", "approx_kl"} <= metrics[0].keys()
    assert len(batches) == 3 * 4 and all(len(batch) == 32 for batch in batches)  # 128 steps: 4 minibatches, 3 epochs
    epochs = [torch.cat(batches[i:i + 4]) for i in (0, 4, 8)]
    rows = [{tuple(row) for row in epoch.numpy()} for epoch in epochs]
    assert rows[0] == rows[1] == rows[2] and len(rows[0]) == 128, "every epoch passes once over every step"
    assert not torch.equal(epochs[0], epochs[1]), "each epoch shuffles anew"
    # After several gradient steps on one rollout the policy has moved: the ratio is no longer 1 everywhere.
    assert metrics[0]["approx_kl"] > 0


def test_target_kl_skips_the_remaining_epochs():
    config = make_config("ppo", n_envs=4, n_steps=32, batch_size=32, n_epochs=10, target_kl=1e-9)
    agent, batches = spied_agent(config)
    rollout_of(agent, config)
    assert len(batches) == 4, "it stops after the first epoch (4 minibatches of 32), not the tenth"


def test_one_epoch_on_the_whole_rollout_is_the_plain_policy_gradient():
    """A2C's settings (clip_range 0, one epoch, no minibatches): one gradient step per rollout, no PPO metrics."""
    config = make_config("a2c", n_envs=4, n_steps=5)
    agent, batches = spied_agent(config)
    metrics = rollout_of(agent, config)
    assert len(batches) == 1 and len(metrics) == 1 and "clip_fraction" not in metrics[0]
