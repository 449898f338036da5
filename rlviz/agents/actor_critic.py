"""The actor-critic engine behind td-ac, a2c-1step, nstep-ac and a2c.

    repeat:
        act      for n_steps steps in each of n_envs envs: a ~ pi(.|s), step, store
        learn    V(s), V(s') for the rollout; advantages A = GAE(gamma, lambda) (lambda = 0: TD
                 error, lambda = 1: n-step return to the rollout's end minus V(s)); returns = A + V(s)
                 loss = -mean(A log pi(a|s)) + vf_coef * loss(V(s), returns) - ent_coef * mean(entropy)

The presets differ only in options: td-ac (shared net, n_steps 10, lambda 0), a2c-1step
(separate nets, n_steps 1), nstep-ac (separate nets, n_steps 8, lambda 1), a2c (shared net,
many envs, n_steps 5).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rlviz.agents.optim import clip_grad_norm, set_learning_rate
from rlviz.buffers import Rollout, RolloutBuffer, Transition
from rlviz.config import ActorCriticConfig
from rlviz.networks import ActorCriticNetwork
from rlviz.returns import gae, td_errors


class ActorCriticAgent:
    def __init__(self, config: ActorCriticConfig, obs_dim: int, n_actions: int, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.network = ActorCriticNetwork(obs_dim, n_actions, config.hidden_sizes, config.activation, config.shared_network)
        self.policy_logits = self.network.numpy_logits()  # acting: one small forward pass per env step
        self.parameters = list(self.network.parameters())
        # fused: one kernel updates every tensor (PyTorch only defaults to it on GPUs).
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, fused=True)
        self.rollout = RolloutBuffer(config.n_steps, config.n_envs, obs_dim)

    # --- act ---------------------------------------------------------------------------------
    def act(self, obs: np.ndarray, env_step: int) -> np.ndarray:
        # No graph here: log-probs are recomputed with their graph in learn(), batched over the rollout.
        logits = self.policy_logits(obs)
        # a ~ softmax(logits) by inverting the CDF: the first action whose cumulative weight passes a
        # uniform draw. Unnormalised weights exp(logit - max) scaled by their total give the same draw.
        cumulative = np.exp(logits - logits.max(axis=1, keepdims=True)).cumsum(axis=1)
        draws = self.rng.random((len(obs), 1)) * cumulative[:, -1:]
        return (cumulative < draws).sum(axis=1)

    def greedy_action(self, obs: np.ndarray) -> np.ndarray:
        return self.policy_logits(obs).argmax(axis=1)

    # --- store, then learn once the rollout is full --------------------------------------------
    def observe(self, step: Transition, env_step: int) -> list[dict[str, float]]:
        self.rollout.add(step, self.config.reward_scale)
        if not self.rollout.full:
            return []
        metrics = self.learn(self.rollout.take(), env_step)
        return [metrics] if metrics is not None else []

    def learn(self, rollout: Rollout, env_step: int) -> dict[str, float] | None:
        config = self.config
        n_steps, n_envs = rollout.rewards.shape
        valid_count = rollout.valid.sum()
        if valid_count == 0:  # only autoreset steps: nothing real to learn from
            return None
        batch = n_steps * n_envs
        # One forward pass over s_t and s_{t+1} together; only the s_t half keeps its graph.
        logits, all_values = self.network(torch.cat((rollout.obs.reshape(batch, -1), rollout.next_obs.reshape(batch, -1))))
        logits = logits[:batch]
        values = all_values[:batch].reshape(n_steps, n_envs)
        with torch.no_grad():  # targets and advantages are labels: no gradient flows through them
            next_values = all_values[batch:].reshape(n_steps, n_envs).detach()
            detached_values = values.detach()
            advantages = gae(rollout.rewards, detached_values, next_values, rollout.terminated, rollout.truncated, config.gamma, config.gae_lambda)
            returns = advantages + detached_values
            deltas = td_errors(rollout.rewards, detached_values, next_values, rollout.terminated, config.gamma)
            if config.normalize_advantage and valid_count > 1:
                mean = (rollout.valid * advantages).sum() / valid_count
                std = ((rollout.valid * (advantages - mean) ** 2).sum() / valid_count).sqrt()
                advantages = (advantages - mean) / (std + 1e-8)
        all_log_probs = torch.log_softmax(logits, dim=1)  # (T*N, n_actions)
        # log pi(a|s) keeps its graph to the actor: this is the term the policy gradient flows through.
        log_probs = all_log_probs.gather(1, rollout.actions.reshape(-1, 1)).reshape(n_steps, n_envs)
        entropy = -(all_log_probs.exp() * all_log_probs).sum(dim=1).reshape(n_steps, n_envs)
        weights = rollout.valid / valid_count  # a mean over the real transitions only

        actor_loss = -(weights * advantages * log_probs).sum()
        if config.loss == "huber":
            value_errors = F.smooth_l1_loss(values, returns, reduction="none")
        else:
            value_errors = F.mse_loss(values, returns, reduction="none")
        critic_loss = (weights * value_errors).sum()
        mean_entropy = (weights * entropy).sum()
        loss = actor_loss + config.vf_coef * critic_loss - config.ent_coef * mean_entropy

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = clip_grad_norm(self.parameters, config.max_grad_norm)
        set_learning_rate(self.optimizer, config.learning_rate_at(env_step))
        self.optimizer.step()
        return {
            "actor_loss": actor_loss.item(),
            "critic_loss": critic_loss.item(),
            "entropy": mean_entropy.item(),
            "mean_abs_td_error": (weights * deltas.abs()).sum().item(),
            "value_mean": (weights * detached_values).sum().item(),
            "grad_norm": grad_norm,
        }

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network.value(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
