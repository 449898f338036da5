"""DQN with a replay buffer, epsilon-greedy exploration and a soft (Polyak) target network.

    for every env step:
        act      a = random with probability epsilon, else argmax_a Q(s, a)
        step     s', r, terminated, truncated = env.step(a)
        store    (s, a, r, s', terminated) in the replay buffer
        learn    every train_freq steps: sample a batch,
                 y = r + gamma (1 - terminated) max_a' Q_target(s', a'),  minimise loss(Q(s, a) - y)
        sync     every target_update_interval steps: theta_target <- tau theta + (1 - tau) theta_target
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlviz.agents.optim import clip_grad_norm, set_learning_rate
from rlviz.bugs import switches
from rlviz.buffers import ReplayBatch, ReplayBuffer, Transition
from rlviz.config import DQNConfig
from rlviz.networks import NumpyForward, mlp
from rlviz.returns import td_targets


class DQNAgent:
    def __init__(self, config: DQNConfig, obs_dim: int, n_actions: int, rng: np.random.Generator) -> None:
        self.config = config
        self.bugs = switches(config)  # the Bug lab's switches: all off unless a run asks for a bug
        self.n_actions = n_actions
        self.rng = rng
        self.q_network = mlp(obs_dim, config.hidden_sizes, n_actions, config.activation)
        self.target_network = copy.deepcopy(self.q_network).requires_grad_(False)
        self.parameters = list(self.q_network.parameters())
        self.target_parameters = list(self.target_network.parameters())
        self.q_values = NumpyForward(self.q_network)  # acting: one small forward pass per env step
        # fused: one kernel updates every tensor (PyTorch only defaults to it on GPUs).
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, fused=True)
        self.buffer = ReplayBuffer(config.buffer_size, obs_dim, rng)
        # Every env step adds one transition, so the buffer holds a batch from env step batch_size on.
        self.next_train_step = max(config.learning_starts, config.batch_size)
        self.next_sync_step = config.learning_starts
        self.epsilon = config.exploration_initial_eps

    def epsilon_at(self, env_step: int) -> float:
        """Linear decay from the initial to the final epsilon over exploration_fraction of training."""
        config = self.config
        decay_steps = config.exploration_fraction * config.total_steps
        progress = min(1.0, env_step / decay_steps) if decay_steps > 0 else 1.0
        return config.exploration_initial_eps + progress * (config.exploration_final_eps - config.exploration_initial_eps)

    # --- act ---------------------------------------------------------------------------------
    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        self.epsilon = self.epsilon_at(env_step)
        n_envs = len(obs)
        explore = self.rng.random(n_envs) < self.epsilon
        if explore.all():  # skip the forward pass when every action is random anyway
            return self.rng.integers(0, self.n_actions, size=n_envs)
        random_actions = self.rng.integers(0, self.n_actions, size=n_envs)
        return np.where(explore, random_actions, self.greedy_action(obs))

    def greedy_action(self, obs: np.ndarray) -> np.ndarray:
        return self.q_values(obs).argmax(axis=1)

    def action_outputs(self, obs: np.ndarray) -> np.ndarray:
        """Q(s, a), (N, n_actions)."""
        return self.q_values(obs)

    # --- store, then learn and sync when due ----------------------------------------------------
    def observe(self, step: Transition, env_step: int) -> list[dict[str, float]]:
        if self.bugs.truncation_as_termination:  # Bug lab: done = terminated or truncated, stored as terminated
            step = step._replace(terminated=step.terminated | step.truncated)
        self.buffer.add(step)
        metrics = []
        # A vector step of n_envs envs may pass several due points: do them all, so the updates per
        # env step (and the target's pace) do not depend on n_envs.
        while env_step >= self.next_train_step:
            self.next_train_step += self.config.train_freq
            for _ in range(self.config.gradient_steps):
                metrics.append(self.learn(env_step))
        while env_step >= self.next_sync_step:
            self.next_sync_step += self.config.target_update_interval
            self.sync_target()
        return metrics

    def td_target(self, batch: ReplayBatch) -> torch.Tensor:
        """y = r + gamma (1 - terminated) max_a' Q_target(s', a') for each transition of ``batch``, shape (B,).

        A fixed regression label: computed without a graph, so no gradient flows through it.
        """
        with torch.no_grad():
            next_q_max = self.target_network(batch.next_obs).max(dim=1).values  # (B,)
            return td_targets(batch.rewards, next_q_max, batch.terminated, self.config.gamma)

    def learn(self, env_step: int) -> dict[str, float]:
        config = self.config
        batch = self.buffer.sample(config.batch_size)
        td_target = self.td_target(batch)
        q_taken = self.q_network(batch.obs).gather(1, batch.actions.unsqueeze(1)).squeeze(1)  # (B,)
        td_error = td_target - q_taken
        if config.loss == "huber":
            loss = F.smooth_l1_loss(q_taken, td_target)
        else:
            loss = F.mse_loss(q_taken, td_target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(self.parameters, config.max_grad_norm)
        set_learning_rate(self.optimizer, config.learning_rate_at(env_step))
        self.optimizer.step()
        with torch.no_grad():  # one conversion for all three: each .item() costs as much as a small op
            td_loss, mean_abs_td_error, q_mean = torch.stack((loss, td_error.abs().mean(), q_taken.mean())).tolist()
        return {"td_loss": td_loss, "mean_abs_td_error": mean_abs_td_error, "q_mean": q_mean,
                "grad_norm": grad_norm, "epsilon": self.epsilon}

    def sync_target(self) -> None:
        """Polyak averaging: theta_target <- theta_target + tau (theta - theta_target); tau = 1 copies."""
        with torch.no_grad():  # one fused call over all tensors: this runs as often as every env step
            torch._foreach_lerp_(self.target_parameters, self.parameters, self.config.tau)

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.q_network(torch.as_tensor(obs, dtype=torch.float32)).max(dim=1).values.numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"q_network": self.q_network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q_network.load_state_dict(state["q_network"])
        self.target_network.load_state_dict(state["q_network"])
