"""The actor-critic engine behind td-ac, a2c-1step, nstep-ac and a2c.

    repeat:
        act      for n_steps steps in each of n_envs envs: a ~ pi(.|s), step, store
        learn    V(s), V(s') for the segment; the return G_t of each step by one of two estimators:
                   n_step_return = n >= 1: exactly the n-step return (a step whose n rewards are not
                     all in yet is carried into the next segment and learned there);
                   n_step_return = 0: bootstrapped at the segment's end, mixed by GAE(gamma, lambda)
                     (lambda = 0: the one-step TD target; lambda = 1: every reward to the end);
                 A_t = G_t - V(s_t)
                 for n_epochs passes, in minibatches of batch_size (default: one step on it all):
                   loss = L_pi + vf_coef * loss(V(s), G) - ent_coef * mean(entropy), with
                   L_pi = -mean(A log pi(a|s)), or with clip_range = eps > 0 (PPO) and rho = pi / pi_old:
                   L_pi = -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A))

The presets differ only in options: td-ac (shared net, one-step targets, an update every 10 steps),
a2c-1step (separate nets, one-step targets, an update every step), nstep-ac (separate nets, 8-step
returns, an update every 8 steps), a2c (shared net, many envs, 5-step rollouts, GAE lambda 1),
ppo (separate nets, many envs, GAE, the clipped ratio, 20 epochs of minibatches per rollout).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from rlviz.agents.optim import clip_grad_norm, set_learning_rate
from rlviz.bugs import switches
from rlviz.buffers import Rollout, RolloutBuffer, Transition
from rlviz.config import ActorCriticConfig
from rlviz.networks import ActorCriticNetwork
from rlviz.returns import rollout_returns, td_errors, td_targets


class Targets(NamedTuple):
    """What the learner regresses on for one segment, each (T, N)."""

    returns: torch.Tensor  # G_t: the critic's target
    advantages: torch.Tensor  # A_t = G_t - V(s_t), before any normalisation
    learned: torch.Tensor  # 1 where step t is learned now: real, and (fixed n) its return complete
    td_errors: torch.Tensor  # delta_t, for the diagnostics


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_range: float) -> torch.Tensor:
    """PPO's objective per step, to maximise: min(rho A, clip(rho, 1 - eps, 1 + eps) A).

    The smaller of the two: the gain from moving the ratio rho = pi(a|s) / pi_old(a|s) stops at
    1 + eps where A > 0 and at 1 - eps where A < 0, while a move that makes things worse counts in full.
    """
    return torch.min(ratio * advantages, ratio.clamp(1 - clip_range, 1 + clip_range) * advantages)


class Minibatch(NamedTuple):
    """Learned steps of a rollout, flattened, each (B, ...): what one gradient step trains on."""

    obs: torch.Tensor
    actions: torch.Tensor
    old_log_probs: torch.Tensor  # log pi_old(a|s), of the policy that acted (PPO's ratio)
    advantages: torch.Tensor  # A_t, before any normalisation
    returns: torch.Tensor  # G_t, the critic's target
    td_errors: torch.Tensor  # delta_t, for the diagnostics
    values: torch.Tensor  # V(s_t) when the rollout was collected, for the diagnostics

    def at(self, index: torch.Tensor) -> "Minibatch":
        return Minibatch(*(tensor[index] for tensor in self))


class ActorCriticAgent:
    def __init__(self, config: ActorCriticConfig, obs_dim: int, n_actions: int, rng: np.random.Generator) -> None:
        self.config = config
        self.bugs = switches(config)  # the Bug lab's switches: all off unless a run asks for a bug
        if self.bugs.value_broadcast:  # the bug is a silent one in the code it comes from: keep it silent here
            warnings.filterwarnings("ignore", message="Using a target size", category=UserWarning)
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

    def action_outputs(self, obs: np.ndarray) -> np.ndarray:
        """pi(a|s) = softmax(logits)_a, (N, n_actions)."""
        logits = self.policy_logits(obs).astype(np.float64)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))  # shifted by the max: no overflow
        return weights / weights.sum(axis=1, keepdims=True)

    # --- store, then learn once the rollout is full --------------------------------------------
    def observe(self, step: Transition, env_step: int) -> list[dict[str, float]]:
        if self.bugs.truncation_as_termination:  # Bug lab: done = terminated or truncated, stored as terminated
            step = step._replace(terminated=step.terminated | step.truncated)
        self.rollout.add(step, self.config.reward_scale)
        if not self.rollout.full:
            return []
        segment = self.rollout.take()
        metrics = self.learn(segment, env_step)
        return [metrics] if metrics is not None else []

    def targets(self, segment: Rollout, values: torch.Tensor, next_values: torch.Tensor) -> Targets:
        """The return G_t and advantage A_t of every step of ``segment`` (values detached, (T, N))."""
        config = self.config
        terminated, truncated = segment.terminated, segment.truncated
        if self.bugs.nstep_across_episodes:  # Bug lab: the n-step window is never cut at an episode's end
            terminated = truncated = torch.zeros_like(segment.terminated)
        returns, learned = rollout_returns(segment.rewards, values, next_values, terminated, truncated,
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
        # One gradient step on the whole rollout (A2C and kin) reuses this forward pass's graph;
        # PPO's minibatches run their own forward passes, so this one needs none.
        one_step = config.n_epochs == 1 and config.batch_size == 0
        # One forward pass over s_t and s_{t+1} together; only the s_t half is learned through.
        with torch.set_grad_enabled(one_step):
            logits, all_values = self.network(torch.cat((segment.obs.reshape(batch, -1),
                                                         segment.next_obs.reshape(batch, -1))))
        with torch.no_grad():  # targets and advantages are labels: no gradient flows through them
            values = all_values[:batch].detach().reshape(n_steps, n_envs)
            target = self.targets(segment, values, all_values[batch:].detach().reshape(n_steps, n_envs))
            # Learned steps are a prefix of each column; the rest (a fixed n-step return still waiting
            # for rewards) starts the next segment, moved there once this update is done with the buffer.
            first_kept = target.learned.sum(dim=0).numpy().astype(np.int64)
            learned = np.flatnonzero(target.learned.reshape(-1).numpy())  # positions in the flattened (T*N) rollout
            if not len(learned):
                self.rollout.keep(first_kept)
                return None
            actions = segment.actions.reshape(-1)
            # log pi_old(a|s): the policy that collected the rollout, PPO's reference for its ratio.
            old_log_probs = torch.log_softmax(logits[:batch].detach(), dim=1).gather(1, actions.unsqueeze(1)).squeeze(1)
        returns = target.returns.reshape(-1)
        if self.bugs.target_with_grad:  # Bug lab: r + gamma V(s') with V(s') still attached to the critic's graph
            returns = td_targets(segment.rewards, all_values[batch:].reshape(n_steps, n_envs), segment.terminated, config.gamma).reshape(-1)
        flat = Minibatch(segment.obs.reshape(batch, -1), actions, old_log_probs, target.advantages.reshape(-1),
                         returns, target.td_errors.reshape(-1), values.reshape(-1))
        rollout_metrics = self.rollout_diagnostics(segment, target, values, learned)

        metrics: list[dict[str, float]] = []
        size = config.batch_size or len(learned)
        for _ in range(config.n_epochs):
            order = learned if one_step else self.rng.permutation(learned)
            epoch = []
            for start in range(0, len(order), size):
                index = torch.from_numpy(order[start:start + size])
                if one_step:
                    minibatch_logits, minibatch_values = logits[index], all_values[index]
                else:
                    minibatch_logits, minibatch_values = self.network(flat.obs[index])
                epoch.append(self.gradient_step(flat.at(index), minibatch_logits, minibatch_values, env_step))
            metrics += epoch
            if config.target_kl and np.mean([m["approx_kl"] for m in epoch]) > 1.5 * config.target_kl:
                break  # the policy moved far enough from the one that collected the rollout
        self.rollout.keep(first_kept)
        return {**{name: float(np.mean([m[name] for m in metrics])) for name in metrics[0]}, **rollout_metrics}

    def rollout_diagnostics(self, segment: Rollout, target: Targets, values: torch.Tensor,
                            learned: np.ndarray) -> dict[str, float]:
        """What the critic knows, over the rollout's learned steps (before this update):

        explained_variance = 1 - Var(G - V) / Var(G) (1: V predicts the returns; 0: no better than their
        mean); value_at_termination, the mean V(s) of steps that ended in a termination; and
        td_error_at_truncation, the mean |delta| of steps cut by the time limit (each only when there is one).
        """
        # In numpy: on a few dozen numbers, torch's per-operation overhead would cost more than the update's
        # bookkeeping (this runs after every update: a2c-1step updates every env step).
        returns, values, td_errors, terminated, truncated = (
            tensor.numpy().reshape(-1)[learned]
            for tensor in (target.returns, values, target.td_errors, segment.terminated, segment.truncated))
        diagnostics = {}
        count = len(returns)
        centred = returns - returns.sum() / count  # sum / count: numpy's mean costs 4x as much on 16 numbers
        returns_variance = centred @ centred
        if count > 1 and returns_variance > 0:
            errors = returns - values
            errors = errors - errors.sum() / count
            diagnostics["explained_variance"] = float(1.0 - (errors @ errors) / returns_variance)
        if terminated.any():
            diagnostics["value_at_termination"] = float(values[terminated > 0].mean())
        if truncated.any():
            diagnostics["td_error_at_truncation"] = float(np.abs(td_errors[truncated > 0]).mean())
        return diagnostics

    def gradient_step(self, minibatch: Minibatch, logits: torch.Tensor, values: torch.Tensor,
                      env_step: int) -> dict[str, float]:
        """One optimizer step on ``minibatch``: the means of the actor's, the critic's and the entropy terms.

        clip_range = 0 (A2C and kin): L_pi = -A log pi(a|s). clip_range = eps > 0 (PPO), with the
        ratio rho = pi(a|s) / pi_old(a|s): L_pi = -min(rho A, clip(rho, 1 - eps, 1 + eps) A).
        At the first step on a rollout rho = 1 and both have the same gradient, A grad log pi.
        """
        config = self.config
        advantages = minibatch.advantages
        if self.bugs.advantage_with_grad:  # Bug lab: A = G - V(s) keeps V's graph, so the actor's loss trains the critic
            advantages = minibatch.returns - values
        if config.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
        all_log_probs = torch.log_softmax(logits, dim=1)  # (B, n_actions)
        # log pi(a|s) keeps its graph to the actor: this is the term the policy gradient flows through.
        log_probs = all_log_probs.gather(1, minibatch.actions.unsqueeze(1)).squeeze(1)
        if self.bugs.detached_log_probs:  # Bug lab: the log-probs stored when acting, made without a graph
            log_probs = minibatch.old_log_probs
        # Means over the minibatch, written as sums weighted 1/B: the arithmetic the presets trained with
        # before minibatches existed, so their runs stay the same to the last bit.
        weight = torch.ones(()) / len(advantages)
        entropy = (weight * -(all_log_probs.exp() * all_log_probs).sum(dim=1)).sum()
        ppo: dict[str, float] = {}
        if config.clip_range > 0:
            log_ratio = log_probs - minibatch.old_log_probs
            ratio = log_ratio.exp()
            actor_loss = -(weight * clipped_surrogate(ratio, advantages, config.clip_range)).sum()
            with torch.no_grad():
                ppo = {"clip_fraction": ((ratio - 1).abs() > config.clip_range).float().mean().item(),
                       # E[(rho - 1) - log rho] >= 0: an estimate of KL(pi_old || pi) without its bias
                       "approx_kl": ((ratio - 1) - log_ratio).mean().item()}
        else:
            actor_loss = -(weight * advantages * log_probs).sum()
        loss_function = F.smooth_l1_loss if config.loss == "huber" else F.mse_loss
        if self.bugs.value_broadcast:  # Bug lab: V (B, 1) against G (B,) broadcasts to (B, B), then the mean
            critic_loss = loss_function(values.unsqueeze(1), minibatch.returns)
        else:
            critic_loss = (weight * loss_function(values, minibatch.returns, reduction="none")).sum()
        # vf_coef weighs the critic against the actor where both losses shape one shared trunk;
        # separate networks have their own optimizers, and each loss reaches only its own network.
        value_weight = config.vf_coef if config.shared_network else 1.0
        loss = actor_loss + value_weight * critic_loss - config.ent_coef * entropy

        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norms = [clip_grad_norm(group, config.max_grad_norm) for group in self.parameter_groups]
        learning_rate = config.learning_rate_at(env_step)
        for optimizer in self.optimizers:
            set_learning_rate(optimizer, learning_rate)
            optimizer.step()
        with torch.no_grad():  # one conversion for all five: each .item() costs as much as a small op
            numbers = torch.stack((actor_loss, critic_loss, entropy, minibatch.td_errors.abs().mean(),
                                   minibatch.values.mean())).tolist()
        # With separate networks each has its own norm: an actor cut off from its loss shows a 0 here.
        own_norms = {} if config.shared_network else dict(zip(("actor_grad_norm", "critic_grad_norm"), grad_norms))
        return {
            **dict(zip(("actor_loss", "critic_loss", "entropy", "mean_abs_td_error", "value_mean"), numbers)),
            "grad_norm": float(np.sqrt(np.sum(np.square(grad_norms)))),
            **own_norms,
            **ppo,
        }

    def state_values(self, obs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network.value(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    def state_dict(self) -> dict[str, Any]:
        return {"network": self.network.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
