"""The actor-critic engine behind td-ac, a2c-1step, nstep-ac and a2c.

    repeat:
        act      for n_steps steps in each of n_envs envs: a ~ pi(.|s), step, store
        learn    V(s), V(s') for the segment; the return G_t of each step by one of two estimators:
                   n_step_return = n >= 1: exactly the n-step return (a step whose n rewards are not
                     all in yet is carried into the next segment and learned there);
                   n_step_return = 0: bootstrapped at the segment's end, mixed by GAE(gamma, lambda)
                     (lambda = 0: the one-step TD target; lambda = 1: every reward to the end);
                 A_t = G_t - V(s_t)
                 loss = -mean(A log pi(a|s)) + vf_coef * loss(V(s), G) - ent_coef * mean(entropy)

The presets differ only in options: td-ac (shared net, one-step targets, an update every 10 steps),
a2c-1step (separate nets, one-step targets, an update every step), nstep-ac (separate nets, 8-step
returns, an update every 8 steps), a2c (shared net, many envs, 5-step rollouts, GAE lambda 1).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from rlviz.agents.optim import clip_grad_norm, set_learning_rate
from rlviz.buffers import Rollout, RolloutBuffer, Transition
from rlviz.config import ActorCriticConfig
from rlviz.networks import ActorCriticNetwork
from rlviz.returns import rollout_returns, td_errors


class Targets(NamedTuple):
    """What the learner regresses on for one segment, each (T, N)."""

    returns: torch.Tensor  # G_t: the critic's target
    advantages: torch.Tensor  # A_t = G_t - V(s_t), before any normalisation
    learned: torch.Tensor  # 1 where step t is learned now: real, and (fixed n) its return complete
    td_errors: torch.Tensor  # delta_t, for the diagnostics


class ActorCriticAgent:
    def __init__(self, config: ActorCriticConfig, obs_dim: int, n_actions: int, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.network = ActorCriticNetwork(obs_dim, n_actions, config.hidden_sizes, config.activation, config.shared_network)
        self.policy_logits = self.network.numpy_logits()  # acting: one small forward pass per env step
        # One optimizer per network. With separate actor and critic, one Adam over the summed loss
        # would rescale each network's steps by its own gradient size anyway, so vf_coef would do
        # next to nothing; two optimizers make that explicit, and each network's gradient is clipped
        # on its own. fused: one kernel updates every tensor (PyTorch only defaults to it on GPUs).
        self.parameter_groups = [list(part.parameters()) for part in self.network.parts()]
        self.optimizers = [torch.optim.Adam(group, lr=config.learning_rate, fused=True) for group in self.parameter_groups]
        # A fixed n-step return carries up to n - 1 steps per env into the next segment.
        self.rollout = RolloutBuffer(config.n_steps, config.n_envs, obs_dim,
                                     carry_capacity=max(0, config.n_step_return - 1))

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
        segment = self.rollout.take()
        metrics = self.learn(segment, env_step)
        return [metrics] if metrics is not None else []

    def targets(self, segment: Rollout, values: torch.Tensor, next_values: torch.Tensor) -> Targets:
        """The return G_t and advantage A_t of every step of ``segment`` (values detached, (T, N))."""
        config = self.config
        returns, learned = rollout_returns(segment.rewards, values, next_values, segment.terminated, segment.truncated,
                                           segment.lengths, config.gamma, config.n_step_return, config.gae_lambda)
        deltas = td_errors(segment.rewards, values, next_values, segment.terminated, config.gamma)
        return Targets(returns, returns - values, learned, deltas)

    def learn(self, segment: Rollout, env_step: int) -> dict[str, float] | None:
        config = self.config
        if not segment.lengths.any():  # only autoreset steps: nothing real to learn from
            self.rollout.keep(segment.lengths)
            return None
        n_steps, n_envs = segment.rewards.shape
        batch = n_steps * n_envs
        # One forward pass over s_t and s_{t+1} together; only the s_t half keeps its graph.
        logits, all_values = self.network(torch.cat((segment.obs.reshape(batch, -1), segment.next_obs.reshape(batch, -1))))
        logits = logits[:batch]
        values = all_values[:batch].reshape(n_steps, n_envs)
        with torch.no_grad():  # targets and advantages are labels: no gradient flows through them
            detached_values = values.detach()
            target = self.targets(segment, detached_values, all_values[batch:].reshape(n_steps, n_envs).detach())
            learned_count = target.learned.sum()
            # Learned steps are a prefix of each column; the rest (a fixed n-step return still waiting
            # for rewards) starts the next segment, moved there once this update is done with the buffer.
            first_kept = target.learned.sum(dim=0).numpy().astype(np.int64)
            if learned_count == 0:
                self.rollout.keep(first_kept)
                return None
            advantages = target.advantages
            if config.normalize_advantage and learned_count > 1:
                mean = (target.learned * advantages).sum() / learned_count
                std = ((target.learned * (advantages - mean) ** 2).sum() / learned_count).sqrt()
                advantages = (advantages - mean) / (std + 1e-8)
        all_log_probs = torch.log_softmax(logits, dim=1)  # (T*N, n_actions)
        # log pi(a|s) keeps its graph to the actor: this is the term the policy gradient flows through.
        log_probs = all_log_probs.gather(1, segment.actions.reshape(-1, 1)).reshape(n_steps, n_envs)
        entropy = -(all_log_probs.exp() * all_log_probs).sum(dim=1).reshape(n_steps, n_envs)
        weights = target.learned / learned_count  # a mean over the steps learned now

        actor_loss = -(weights * advantages * log_probs).sum()
        if config.loss == "huber":
            value_errors = F.smooth_l1_loss(values, target.returns, reduction="none")
        else:
            value_errors = F.mse_loss(values, target.returns, reduction="none")
        critic_loss = (weights * value_errors).sum()
        mean_entropy = (weights * entropy).sum()
        # vf_coef weighs the critic against the actor where both losses shape one shared trunk;
        # separate networks have their own optimizers, and each loss reaches only its own network.
        value_weight = config.vf_coef if config.shared_network else 1.0
        loss = actor_loss + value_weight * critic_loss - config.ent_coef * mean_entropy

        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norms = [clip_grad_norm(group, config.max_grad_norm) for group in self.parameter_groups]
        learning_rate = config.learning_rate_at(env_step)
        for optimizer in self.optimizers:
            set_learning_rate(optimizer, learning_rate)
            optimizer.step()
        self.rollout.keep(first_kept)
        return {
            "actor_loss": actor_loss.item(),
            "critic_loss": critic_loss.item(),
            "entropy": mean_entropy.item(),
            "mean_abs_td_error": (weights * target.td_errors.abs()).sum().item(),
            "value_mean": (weights * detached_values).sum().item(),
            "grad_norm": float(np.sqrt(np.sum(np.square(grad_norms)))),
        }

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network.value(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
