"""Hyperparameters: one frozen dataclass per algorithm family, and the six presets.

Field names follow Stable-Baselines3 where SB3 has one, so a student who moves on meets the same
words. Every field carries its help text and valid range in ``metadata``; the app builds its
sliders from them, the command line validates ``--set`` with them, and constructing a config
with a bad value raises ``ConfigError`` naming the field, the value and the range.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from rlviz import __version__
from rlviz.bugs import BUG_NAMES, check as check_bugs
from rlviz.envs import ENVS


class ConfigError(ValueError):
    """A hyperparameter is unknown, malformed or out of range. The message is one line."""


def hyper(
    default: Any,
    help: str,
    low: float | None = None,
    high: float | None = None,
    *,
    label: str = "",
    choices: tuple[Any, ...] | None = None,
    log: bool = False,
    ticks: tuple[float, ...] | None = None,
    tunable: bool = True,
) -> Any:
    """A config field with its help text and valid range (``low <= value <= high``).

    ``log`` marks a range best explored on a log scale (learning rates, tau); ``ticks`` lists the
    values a slider offers when neither a linear nor a log scale fits (gamma);
    ``tunable=False`` marks bookkeeping fields that are not hyperparameters.
    """
    meta = dict(help=help, low=low, high=high, label=label, choices=choices, log=log, ticks=ticks, tunable=tunable)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class BaseConfig:
    """What every algorithm shares."""

    algo: str = hyper("", "Algorithm key.", tunable=False)
    env_id: str = hyper("CartPole-v1", "Gymnasium environment.", choices=tuple(ENVS), tunable=False)
    seed: int = hyper(0, "Seeds the networks, the exploration and the environments: same seed, same run.", 0, 2**31 - 1, label="Seed")
    total_steps: int = hyper(100_000, "Environment steps to train for (summed over parallel envs).", 1_000, 5_000_000, label="Total env steps", log=True)
    learning_rate: float = hyper(1e-3, "Adam step size.", 1e-5, 0.1, label="Learning rate", log=True)
    lr_schedule: str = hyper("constant", "Keep the learning rate, or decay it linearly to 0 at the last step (SB3's lin_ schedules).",
                             choices=("constant", "linear"), label="Learning-rate schedule")
    n_envs: int = hyper(1, "Environments stepped in lockstep; each vector step gives one transition per env (an actor-critic rollout has n_envs * n_steps).",
                        1, 64, label="Parallel envs", ticks=(1, 2, 4, 8, 16, 32, 64))
    gamma: float = hyper(0.99, "Discount factor: a reward k steps ahead counts gamma^k. Effective horizon ~ 1/(1 - gamma).", 0.8, 0.9999, label="Discount gamma",
                         ticks=(0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9999))
    max_grad_norm: float = hyper(10.0, "Gradients are rescaled so their global norm is at most this.", 0.1, 100.0, label="Max gradient norm", log=True)
    hidden_sizes: tuple[int, ...] = hyper((64, 64), "Widths of the hidden layers, e.g. 64,64.", 1, 1024, label="Hidden layers")
    activation: str = hyper("relu", "Nonlinearity between hidden layers.", choices=("relu", "tanh"), label="Activation")
    stop_when_solved: bool = hyper(True, "Stop as soon as the mean of the last 100 episode returns reaches the env's threshold, so a "
                                   "solved run frees its worker for the next one. Turn it off to watch what happens after solving.",
                                   label="Stop when solved")
    eval_episodes: int = hyper(10, "Greedy episodes played after training to measure the final policy.", 0, 100, label="Evaluation episodes")
    bugs: tuple[str, ...] = hyper((), "Classic bugs switched on, on purpose, at the line where tutorials get it wrong (the Bug lab "
                                  "page explains each). None: the correct code.", choices=BUG_NAMES, label="Bugs (on purpose)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _checked(f, getattr(self, f.name)))
        if self.algo not in ALGOS or not isinstance(self, ALGOS[self.algo].config_class):
            raise ConfigError(f"algo='{self.algo}' does not belong to {type(self).__name__}")
        if problem := check_bugs(self):
            raise ConfigError(problem)

    def replace(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied and validated; unknown names raise ConfigError."""
        names = {f.name for f in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ConfigError(f"unknown field '{name}' for {self.algo}: choose from {', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes)

    def inert_fields(self) -> frozenset[str]:
        """Fields that have no effect with this config's other settings (the form hides them)."""
        return frozenset()

    def learning_rate_at(self, env_step: int) -> float:
        """The step size after ``env_step`` env steps, under ``lr_schedule``."""
        if self.lr_schedule == "linear":
            return self.learning_rate * max(0.0, 1.0 - env_step / self.total_steps)
        return self.learning_rate

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def run_hash(self) -> str:
        """Identifies a run: every field (seed included) plus the rlviz version."""
        fields = self.to_dict()
        if not fields["bugs"]:  # a run without bugs keeps the hash it had before the field existed
            del fields["bugs"]
        payload = json.dumps({"version": __version__, **fields}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DQNConfig(BaseConfig):
    """Deep Q-learning with a replay buffer, epsilon-greedy exploration and a Polyak target network."""

    buffer_size: int = hyper(100_000, "Transitions kept in the replay buffer (oldest dropped first).", 1_000, 1_000_000, label="Replay buffer size", log=True)
    batch_size: int = hyper(64, "Transitions sampled from the replay buffer per gradient step.", 8, 1024, label="Batch size", log=True)
    learning_starts: int = hyper(1_000, "Env steps of pure exploration before the first gradient step.", 0, 100_000, label="Learning starts",
                                 ticks=(0, 100, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000))
    train_freq: int = hyper(4, "Env steps between gradient steps.", 1, 256, label="Train frequency", log=True)
    gradient_steps: int = hyper(1, "Gradient steps each time training is due.", 1, 64, label="Gradient steps", log=True)
    tau: float = hyper(1e-3, "Polyak factor: target <- tau * online + (1 - tau) * target. 1 is a hard copy; the target lags ~1/tau syncs.", 1e-4, 1.0, label="Soft update tau", log=True)
    target_update_interval: int = hyper(4, "Env steps between target-network syncs.", 1, 100_000, label="Target update interval", log=True)
    exploration_initial_eps: float = hyper(1.0, "Probability of a random action at the start.", 0.0, 1.0, label="Initial epsilon")
    exploration_final_eps: float = hyper(0.01, "Probability of a random action after the decay.", 0.0, 1.0, label="Final epsilon")
    exploration_fraction: float = hyper(0.1, "Fraction of total steps over which epsilon decays linearly.", 0.0, 1.0, label="Exploration fraction")
    loss: str = hyper("huber", "Loss on the TD error: squared (mse) or Huber, which caps the gradient of large errors.", choices=("mse", "huber"), label="TD loss")


@dataclass(frozen=True)
class ActorCriticConfig(BaseConfig):
    """The actor-critic engine behind td-ac, a2c-1step, nstep-ac and a2c.

    An update comes after every rollout of ``n_steps`` steps from each of ``n_envs`` envs. The
    return each step learns from is one of two estimators:
    - ``n_step_return = n >= 1``: exactly the n-step return of ``rlviz.returns.n_step_targets``; a
      step whose n rewards reach past the rollout is learned in the next one;
    - ``n_step_return = 0``: bootstrapped at the rollout's end and mixed by GAE(gamma, gae_lambda):
      gae_lambda = 0 gives one-step TD targets r + gamma V(s'), 1 every reward to the rollout's end.
    """

    n_steps: int = hyper(5, "Env steps per env between updates. With n = 0, returns bootstrap from V at the rollout's end.", 1, 2048,
                         label="Rollout length (steps per update)",
                           ticks=(1, 2, 3, 4, 5, 8, 10, 16, 20, 32, 64, 128, 256, 512, 1024, 2048))
    n_step_return: int = hyper(0, "Every step learns from exactly n rewards plus gamma^n V(s_t+n) (cut at a termination, bootstrapped at a "
                               "truncation); 0 = bootstrap at the rollout's end, mixed by GAE lambda.", 0, 2048,
                               label="n (n-step return)", ticks=(0, 1, 2, 3, 4, 5, 8, 10, 16, 20, 32, 64, 128, 256, 512))
    gae_lambda: float = hyper(1.0, "GAE lambda (when n = 0): 0 = one-step TD targets, 1 = every reward to the rollout's end.", 0.0, 1.0, label="GAE lambda")
    ent_coef: float = hyper(0.0, "Weight of the entropy bonus that keeps the policy exploring.", 0.0, 0.1, label="Entropy coefficient")
    vf_coef: float = hyper(0.5, "Weight of the critic's loss against the actor's in a shared network (separate networks have an optimizer each).",
                           0.05, 2.0, label="Value-loss coefficient")
    shared_network: bool = hyper(False, "One trunk with policy and value heads, instead of separate actor and critic networks.", label="Shared network")
    normalize_advantage: bool = hyper(False, "Standardise the advantages of each gradient step's batch (PPO's minibatch, else the whole rollout) to mean 0 "
                                "and std 1 (needs more than one transition). Off, a step shrinks as the advantages do.",
                                label="Normalise advantages")
    reward_scale: float = hyper(1.0, "Rewards are multiplied by this before learning (reported returns are not).", 0.001, 1.0, label="Reward scale", log=True)
    loss: str = hyper("mse", "Critic loss on the TD error: squared (mse) or Huber (smooth L1).", choices=("mse", "huber"), label="Value loss")
    # PPO's options: several gradient steps per rollout, kept near the policy that collected it.
    clip_range: float = hyper(0.0, "PPO: the probability ratio pi(a|s) / pi_old(a|s) is clipped to [1 - clip_range, 1 + clip_range] in the "
                              "surrogate objective, so one rollout cannot push the policy far; 0 = no ratio, the plain policy gradient.",
                              0.0, 0.5, label="Clip range")
    n_epochs: int = hyper(1, "Passes over each rollout, each in shuffled minibatches (PPO reuses a rollout; 1 = learn from it once).",
                          1, 50, label="Epochs per rollout")
    batch_size: int = hyper(0, "Transitions per gradient step: a minibatch of the rollout; 0 = the whole rollout in one step.", 0, 4096,
                            label="Minibatch size", ticks=(0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096))
    target_kl: float = hyper(0.0, "Skip a rollout's remaining epochs once an epoch's mean approximate KL between the old and the new "
                             "policy passes 1.5 x this; 0 = never.", 0.0, 0.5, label="Target KL")

    def inert_fields(self) -> frozenset[str]:
        inert = set()
        if not self.shared_network:
            inert.add("vf_coef")  # each network has its own optimizer: the weight between the losses is moot
        if self.n_step_return:
            inert.add("gae_lambda")  # a fixed n-step return mixes nothing
        if self.n_epochs == 1:
            inert.add("target_kl")  # checked between epochs: with one there is no later epoch to skip
        return frozenset(inert)


Config = Union[DQNConfig, ActorCriticConfig]


@dataclass(frozen=True)
class AlgoInfo:
    key: str
    display_name: str
    short_name: str  # names a run in labels and legends
    config_class: type
    summary: str
    sliders: tuple[str, ...]  # the fields a student tunes for this algorithm, in display order
    defaults: dict[str, Any]  # preset values for every env
    env_defaults: dict[str, dict[str, Any]]  # per-env tweaks on top of ``defaults``
    key_equations: tuple[str, ...]  # LaTeX, one display line each
    pseudocode: str
    expectations: dict[str, str] = field(default_factory=dict)  # per env: what the preset's default run does, measured


_COMMON_SLIDERS = ("learning_rate", "lr_schedule", "gamma", "total_steps", "seed", "stop_when_solved")
_AC_SLIDERS = ("ent_coef", "vf_coef", "max_grad_norm", "reward_scale")
# Separate actor and critic have an optimizer each: the value-loss coefficient would do nothing there.
_SEPARATE_AC_SLIDERS = ("ent_coef", "max_grad_norm", "reward_scale")
# The tutorials' actor-critics step one env. On CartPole they step several in lockstep (one forward
# pass acts for all, each update learns from more, less correlated transitions, so it can take a
# larger step), which solves several times faster per second; on LunarLander they keep the tutorials' one.
_AC_BUDGETS = {"CartPole-v1": dict(total_steps=400_000), "LunarLander-v3": dict(total_steps=1_000_000)}

ALGOS: dict[str, AlgoInfo] = {
    "dqn": AlgoInfo(
        key="dqn",
        display_name="DQN (soft target)",
        short_name="DQN",
        config_class=DQNConfig,
        summary="A Q-network learns Q(s, a) from replayed transitions; a slowly following target network keeps its targets still.",
        sliders=_COMMON_SLIDERS + ("n_envs", "tau", "target_update_interval", "batch_size", "buffer_size", "learning_starts",
                                   "train_freq", "exploration_initial_eps", "exploration_final_eps", "exploration_fraction"),
        defaults=dict(hidden_sizes=(64, 64), learning_rate=5e-4, gamma=0.99, buffer_size=100_000, batch_size=100,
                      learning_starts=1_000, train_freq=4, tau=1e-3, target_update_interval=4, max_grad_norm=10.0),
        env_defaults={
            # The tutorial's LunarLander settings never held a last-100 mean of 475 on CartPole here (best 285
            # at 200k steps); PyTorch's own DQN tutorial settings do: a smaller step, a learning step and a soft
            # sync every env step, a small recent replay buffer.
            "CartPole-v1": dict(total_steps=200_000, hidden_sizes=(128, 128), learning_rate=1e-4, batch_size=128,
                                buffer_size=10_000, train_freq=1, target_update_interval=1, tau=5e-3,
                                exploration_fraction=0.1, exploration_final_eps=0.05),
            # The tutorial's network, buffer and soft target, trained faster (bench/RESULTS.md): 8 envs share
            # one forward pass per step, and one gradient step on 256 transitions every 16 env steps replaces
            # the tutorial's 100 every 4. Gradient steps cost most of a run's time, and this takes a quarter
            # of them, each on a bigger batch, at lr 1.5e-3 (fewer env steps to solve than 1e-3 or 2e-3 over
            # 5 seeds); epsilon falls to 0.01 within 30k steps.
            "LunarLander-v3": dict(total_steps=1_000_000, n_envs=8, train_freq=16, batch_size=256, learning_rate=1.5e-3,
                                   exploration_fraction=0.03),
        },
        key_equations=(r"y = r + \gamma\,(1 - \mathrm{terminated})\,\max_{a'} Q_{\theta^-}(s', a')",
                       r"\theta^- \leftarrow \tau\,\theta + (1-\tau)\,\theta^-"),
        pseudocode=(
            "for each env step:\n"
            "    act    a = random with probability epsilon, else argmax_a Q(s, a)\n"
            "    store  (s, a, r, s', terminated) in the replay buffer\n"
            "    learn  every train_freq steps: sample a batch, minimise loss(Q(s, a) - y)\n"
            "    sync   every target_update_interval steps: theta- <- tau theta + (1 - tau) theta-"
        ),
    ),
    "td-ac": AlgoInfo(
        key="td-ac",
        display_name="TD Actor-Critic",
        short_name="TD actor-critic",
        config_class=ActorCriticConfig,
        summary="A shared trunk with a policy head and a value head, trained on one-step TD targets r + gamma V(s') every few steps.",
        sliders=_COMMON_SLIDERS + ("n_envs", "n_steps") + _AC_SLIDERS,
        defaults=dict(hidden_sizes=(256,), shared_network=True, learning_rate=2e-4, gamma=0.98, n_steps=10, gae_lambda=0.0,
                      reward_scale=0.01, loss="huber", vf_coef=1.0, ent_coef=0.0, max_grad_norm=10.0),
        # On CartPole, 8 envs: 80 transitions per update instead of 10 take a step of 5e-4. Over seeds 10-19 it
        # solved at a median of 111k steps in 10.6 s, about 6x faster than one env on the same day (bench/RESULTS.md).
        env_defaults={"CartPole-v1": dict(_AC_BUDGETS["CartPole-v1"], n_envs=8, learning_rate=5e-4),
                      "LunarLander-v3": _AC_BUDGETS["LunarLander-v3"]},
        key_equations=(r"\delta_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\,V(s_{t+1}) - V(s_t)",
                       r"L = \frac{1}{NT}\sum_{i,t} \left[ -\delta_{i,t} \log \pi(a_{i,t} \mid s_{i,t}) + c_v\,\mathrm{Huber}(\delta_{i,t}) \right]"),
        pseudocode=(
            "repeat:\n"
            "    act    step all n_envs envs n_steps times: a ~ pi(.|s), store (s, a, r, s', terminated, truncated)\n"
            "    learn  delta = r + gamma (1 - terminated) V(s') - V(s)   (one-step TD error)\n"
            "           loss = -delta log pi(a|s) + vf_coef * huber(delta)  on the shared network"
        ),
    ),
    "a2c-1step": AlgoInfo(
        key="a2c-1step",
        display_name="One-step A2C",
        short_name="One-step A2C",
        config_class=ActorCriticConfig,
        summary="Separate actor and critic networks updated after every step of the envs with the one-step advantage "
                "r + gamma V(s') - V(s).",
        sliders=_COMMON_SLIDERS + ("n_envs",) + _SEPARATE_AC_SLIDERS,
        # The tutorial's lr 1e-3 collapsed to a last-100 mean of 9 here (as its own log did, 175 -> 9): one sample
        # per update needs a small step. Rewards / 100 keep the critic's targets near 1.
        defaults=dict(hidden_sizes=(128, 64), shared_network=False, learning_rate=1e-4, gamma=0.99, n_steps=1, gae_lambda=0.0,
                      ent_coef=0.0, vf_coef=1.0, max_grad_norm=10.0, reward_scale=0.01),
        # On CartPole, 16 envs: each update learns from 16 transitions, one per env, not 1, with a step of
        # 5e-4 decaying linearly to 0 (at a constant step one tuning seed of five did not solve). Over seeds
        # 10-19 it solved at a median of 154k steps in 42 s, 11x faster than one env on the same day.
        env_defaults={"CartPole-v1": dict(total_steps=300_000, n_envs=16, learning_rate=5e-4, lr_schedule="linear"),
                      "LunarLander-v3": _AC_BUDGETS["LunarLander-v3"]},
        key_equations=(r"A_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\,V(s_{t+1}) - V(s_t)",
                       r"L_\pi = -\frac{1}{N}\sum_i A_{i,t} \log \pi(a_{i,t} \mid s_{i,t}), \qquad "
                       r"L_V = \frac{1}{N}\sum_i \left( V(s_{i,t}) - r_{i,t} - \gamma\,(1 - \mathrm{terminated}_{i,t})\,V(s_{i,t+1}) \right)^2"),
        pseudocode=(
            "for each step of the n_envs envs:\n"
            "    act    a ~ pi(.|s) in every env; step them all\n"
            "    learn  A = r + gamma (1 - terminated) V(s') - V(s)   (one per env)\n"
            "           actor:  minimise -mean(A log pi(a|s)) - ent_coef * mean(entropy)\n"
            "           critic: minimise mean((V(s) - (r + gamma (1 - terminated) V(s')))^2)"
        ),
    ),
    "nstep-ac": AlgoInfo(
        key="nstep-ac",
        display_name="N-step Actor-Critic",
        short_name="N-step AC",
        config_class=ActorCriticConfig,
        summary="Separate actor and critic; every step learns from exactly n rewards plus gamma^n V(s_t+n), cut at the episode's end.",
        sliders=_COMMON_SLIDERS + ("n_envs", "n_step_return", "n_steps") + _SEPARATE_AC_SLIDERS,
        # The tutorial's lr 5e-4 with clip 0.5 never solved CartPole here (last-100 mean ~100 at 400k steps):
        # one env gives 8 correlated samples per update, so a smaller step, rewards / 100 and no entropy bonus.
        defaults=dict(hidden_sizes=(256, 256), shared_network=False, learning_rate=1e-4, gamma=0.99, n_steps=8,
                      n_step_return=8, ent_coef=0.0, vf_coef=1.0, max_grad_norm=10.0, reward_scale=0.01),
        # On CartPole, 16 envs: 128 transitions per update instead of 8 take a step of 5e-4. Over seeds 10-19
        # it solved at a median of 93k steps in 19.6 s, against 70 s for one env (bench/RESULTS.md).
        env_defaults={"CartPole-v1": dict(_AC_BUDGETS["CartPole-v1"], n_envs=16, learning_rate=5e-4),
                      "LunarLander-v3": _AC_BUDGETS["LunarLander-v3"]},
        key_equations=(r"G_t^{(n)} = \sum_{k=0}^{m-1} \gamma^k r_{t+k} + \gamma^m (1 - \mathrm{terminated}_{t+m-1})\, V(s_{t+m}),"
                       r"\quad m = \min(n, \text{steps to the episode's end})",
                       r"A_t = G_t^{(n)} - V(s_t), \qquad L_\pi = -A_t \log \pi(a_t \mid s_t), \qquad L_V = (V(s_t) - G_t^{(n)})^2"),
        pseudocode=(
            "repeat:\n"
            "    act    step all n_envs envs n_steps times: a ~ pi(.|s), store\n"
            "    learn  for every step t whose n rewards are all in (the others wait for the next rollout):\n"
            "           G_t = r_t + gamma r_t+1 + ... + gamma^(m-1) r_t+m-1 + gamma^m V(s_t+m)\n"
            "                 (m = n, or fewer at the episode's end; no V after a termination)\n"
            "           A_t = G_t - V(s_t)\n"
            "           actor:  minimise -A log pi(a|s) - ent_coef * entropy\n"
            "           critic: minimise (V(s) - G)^2"
        ),
    ),
    "a2c": AlgoInfo(
        key="a2c",
        display_name="A2C (parallel envs)",
        short_name="A2C",
        config_class=ActorCriticConfig,
        summary="Synchronous advantage actor-critic: n-step rollouts from many envs at once, an entropy bonus and clipped gradients.",
        sliders=_COMMON_SLIDERS + ("n_envs", "n_steps", "gae_lambda") + _AC_SLIDERS,
        defaults=dict(hidden_sizes=(64, 64), shared_network=True, learning_rate=3e-3, gamma=0.99, n_steps=5, gae_lambda=1.0,
                      n_envs=32, ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5),
        env_defaults={
            # The step size decays linearly to 0 over 400k steps: at a constant 3e-3 the policy solved and then
            # collapsed (greedy evaluation 183 after 300k steps); decaying, seeds 10-19 all solved (median 245k
            # steps, 8.7 s), 9 of 10 with greedy evaluations of 500 (bench/RESULTS.md).
            "CartPole-v1": dict(total_steps=400_000, lr_schedule="linear"),
            # The RL Zoo's LunarLander settings (separate tanh networks, lr 8.3e-4) with two changes (bench/RESULTS.md).
            # gamma 0.999 instead of 0.995: discounted hard, hovering until the time limit (fuel, about -0.3 a
            # step) looks better than risking a -100 crash, and the policy got stuck hovering. 16 envs instead
            # of 8: less noisy gradients. It solved 2 of 5 seeds within 1M steps, and 0 of 5 once acting drew from another
            # random stream (bench/RESULTS.md): A2C is not reliable here yet. Stable-Baselines3's A2C with the
            # same settings solved 0 of 5 too, and none of the variants tried solved more than 2 of 5.
            "LunarLander-v3": dict(total_steps=1_000_000, shared_network=False, activation="tanh", n_envs=16,
                                   gamma=0.999, learning_rate=8.3e-4, ent_coef=1e-5),
        },
        key_equations=(r"\hat A_{i,t} = \sum_{k \ge 0} (\gamma\lambda)^k \delta_{i,t+k} \ \text{(to the rollout's end)}, \qquad G_{i,t} = \hat A_{i,t} + V(s_{i,t})",
                       r"L = \frac{1}{NT}\sum_{i,t} \left[ -\hat A_{i,t} \log \pi(a_{i,t} \mid s_{i,t})"
                       r" + c_v\,(V(s_{i,t}) - G_{i,t})^2 - c_e\,\mathcal{H}[\pi(\cdot \mid s_{i,t})] \right]"),
        pseudocode=(
            "repeat:\n"
            "    act    step all n_envs envs n_steps times: a ~ pi(.|s)\n"
            "    learn  advantages A = GAE(gamma, lambda) per env, returns G = A + V(s)\n"
            "           loss = -mean(A log pi) + vf_coef mean((V - G)^2) - ent_coef mean(entropy)\n"
            "           clip the gradient norm to max_grad_norm; one Adam step"
        ),
        expectations={
            "LunarLander-v3": "A2C rarely reaches 200 within 1M steps here: 0 of 5 seeds did, as with Stable-Baselines3's "
                              "A2C (bench/RESULTS.md). Its curve climbs, then wanders below the threshold. Compare it "
                              "with PPO (Compare: \"A2C vs PPO on LunarLander-v3\"), which reuses each rollout.",
        },
    ),
    "ppo": AlgoInfo(
        key="ppo",
        display_name="PPO (clipped surrogate)",
        short_name="PPO",
        config_class=ActorCriticConfig,
        summary="A2C's rollouts and GAE, learned from many times over in minibatches; a clipped probability ratio keeps each "
                "policy close to the one that collected the data.",
        sliders=_COMMON_SLIDERS + ("n_envs", "n_steps", "gae_lambda", "clip_range", "n_epochs", "batch_size", "target_kl",
                                   "normalize_advantage") + _SEPARATE_AC_SLIDERS,
        # Stable-Baselines3's PPO defaults (separate tanh networks of 64, 64; advantages normalised per
        # minibatch; clipped gradients) with the RL Zoo's CartPole-v1 settings (a constant clip range
        # where the Zoo decays it); on CartPole, faster settings below.
        defaults=dict(hidden_sizes=(64, 64), shared_network=False, activation="tanh", learning_rate=1e-3, lr_schedule="linear",
                      gamma=0.98, gae_lambda=0.8, n_envs=8, n_steps=32, batch_size=256, n_epochs=20, clip_range=0.2,
                      ent_coef=0.0, vf_coef=0.5, max_grad_norm=0.5, normalize_advantage=True),
        env_defaults={
            # Fewer, larger gradient steps: 5 epochs on the whole rollout of 16 x 32 steps, one gradient step
            # per ~100 env steps where the Zoo's settings take one per 13, at 4x the steps per second. Raw
            # advantages let it take a step of 2e-2: normalised to std 1, every rate from 2e-3 up collapsed
            # to a last-100 mean of about 100; raw, an update shrinks as the advantages do. Over seeds 10-19
            # it solved 9 of 10 (median 72k steps, about 7 s), against 27 s for the Zoo's (bench/RESULTS.md).
            "CartPole-v1": dict(total_steps=150_000, n_envs=16, n_steps=32, batch_size=512, n_epochs=5,
                                learning_rate=2e-2, gamma=0.99, gae_lambda=0.95, normalize_advantage=False),
            # The RL Zoo's LunarLander-v2 settings.
            "LunarLander-v3": dict(total_steps=1_000_000, learning_rate=3e-4, lr_schedule="constant", gamma=0.999,
                                   gae_lambda=0.98, n_envs=16, n_steps=1024, batch_size=64, n_epochs=4, ent_coef=0.01),
        },
        key_equations=(r"\rho_t(\theta) = \frac{\pi_\theta(a_t \mid s_t)}{\pi_{\theta_\text{old}}(a_t \mid s_t)}",
                       r"\hat A_t = \sum_{k \ge 0} (\gamma\lambda)^k \delta_{t+k}\ \text{(to the rollout's end)}",
                       r"L^\text{CLIP} = -\frac{1}{B}\sum_{t} \min\!\left(\rho_t \hat A_t,\ "
                       r"\operatorname{clip}(\rho_t, 1 \pm \epsilon)\, \hat A_t\right)",
                       r"L_V = \frac{1}{B}\sum_t \left(V(s_t) - (\hat A_t + V_\text{old}(s_t))\right)^2"),
        pseudocode=(
            "repeat:\n"
            "    act    step all n_envs envs n_steps times: a ~ pi_old(.|s), store\n"
            "    learn  advantages A = GAE(gamma, lambda) per env, returns G = A + V_old(s)\n"
            "           for n_epochs passes: shuffle the rollout, cut it into minibatches of batch_size\n"
            "               rho = pi(a|s) / pi_old(a|s);  A normalised within the minibatch if normalize_advantage\n"
            "               actor:  minimise -mean(min(rho A, clip(rho, 1 - eps, 1 + eps) A)) - ent_coef * entropy\n"
            "               critic: minimise mean((V(s) - G)^2)\n"
            "           stop the passes early if the approximate KL passes 1.5 * target_kl (when set)"
        ),
        expectations={
            "LunarLander-v3": "PPO solved LunarLander on 4 of 5 seeds here within 1M steps (at 678k to 902k steps, 4 to "
                              "6 minutes on a free core; the fifth ended at a last-100 mean of 131), where A2C solved "
                              "none of 5 (bench/RESULTS.md). Expect the curve to cross 200 late.",
        },
    ),
}


def make_config(algo: str, env_id: str = "CartPole-v1", **overrides: Any) -> Config:
    """The preset for ``algo`` on ``env_id``, with ``overrides`` applied and validated."""
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm '{algo}': choose one of {', '.join(ALGOS)}")
    if env_id not in ENVS:
        raise ConfigError(f"unknown env '{env_id}': choose one of {', '.join(ENVS)}")
    info = ALGOS[algo]
    preset_values = {**info.defaults, **info.env_defaults.get(env_id, {})}  # the env's tweaks win
    preset = info.config_class(algo=algo, env_id=env_id, **preset_values)
    return preset.replace(**overrides) if overrides else preset


def config_from_dict(data: dict[str, Any]) -> Config:
    """Inverse of ``Config.to_dict`` (JSON turns tuples into lists; this turns them back)."""
    data = dict(data)
    algo = data.pop("algo", None)
    if algo not in ALGOS:
        raise ConfigError(f"unknown algorithm '{algo}': choose one of {', '.join(ALGOS)}")
    return make_config(algo, data.pop("env_id", "CartPole-v1"), **data)


def field_spec(config_class: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(config_class):
        if f.name == name:
            return f
    names = ", ".join(sorted(f.name for f in dataclasses.fields(config_class)))
    raise ConfigError(f"unknown field '{name}': choose from {names}")


def parse_value(f: dataclasses.Field, text: str) -> Any:
    """Turn command-line text into the field's type: '1e5' -> 100000, 'true' -> True, '64,64' -> (64, 64)."""
    kind = type(f.default)
    text = text.strip()
    try:
        if kind is bool:
            lowered = text.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return lowered in ("true", "1", "yes")
        if kind is int:
            number = float(text)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if kind is float:
            return float(text)
        if kind is tuple and f.metadata["choices"]:  # names: "a,b"
            return tuple(part.strip() for part in text.split(",") if part.strip())
        if kind is tuple:
            return tuple(int(part) for part in text.split(",") if part.strip())
        return text
    except ValueError:
        expected = {bool: "true or false", int: "an integer", float: "a number", tuple: "integers separated by commas"}[kind]
        raise ConfigError(f"{f.name}={text!r} is not {expected}") from None


def describe_range(f: dataclasses.Field) -> str:
    meta = f.metadata
    if meta["choices"] and type(f.default) is tuple:
        return "none or several of " + ", ".join(str(c) for c in meta["choices"])
    if meta["choices"]:
        return "one of " + ", ".join(str(c) for c in meta["choices"])
    if type(f.default) is bool:
        return "true or false"
    if meta["low"] is None:
        return "any value"
    return f"[{meta['low']:g}, {meta['high']:g}]"


def _checked(f: dataclasses.Field, value: Any) -> Any:
    """Validate (and normalise: int -> float, list -> tuple) one field value."""
    kind = type(f.default)
    meta = f.metadata

    def fail(reason: str) -> ConfigError:
        return ConfigError(f"{f.name}={value!r} {reason}: must be {describe_range(f)}")

    if kind is bool:
        if not isinstance(value, bool):
            raise fail("is not a bool")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("is not an integer")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise fail("is not a finite number")
        value = float(value)
    elif kind is tuple and meta["choices"]:  # a set of names, kept in the order of the choices (one hash per set)
        if not isinstance(value, (tuple, list)) or any(name not in meta["choices"] for name in value):
            raise fail("is not allowed")
        return tuple(name for name in meta["choices"] if name in value)
    elif kind is tuple:
        if not isinstance(value, (tuple, list)) or not 1 <= len(value) <= 4:
            raise ConfigError(f"{f.name}={value!r} must be 1 to 4 layer widths, each in [1, 1024]")
        value = tuple(value)
        if not all(isinstance(width, int) and not isinstance(width, bool) and 1 <= width <= 1024 for width in value):
            raise ConfigError(f"{f.name}={value!r} must be 1 to 4 layer widths, each in [1, 1024]")
        return value
    if meta["choices"] and value not in meta["choices"]:
        raise fail("is not allowed")
    if meta["low"] is not None and kind in (int, float) and not meta["low"] <= value <= meta["high"]:
        raise fail("is out of range")
    return value


# --- naming a configuration, and carrying it in a link ----------------------------------------------

DEFAULT_ALGO = "a2c"  # what the Train page opens on, and what a link without algo means
DEFAULT_ENV = field_spec(BaseConfig, "env_id").default
QUERY_KEYS_OF_OTHERS = ("sid", "run")  # the browser's id and an opened run: other code owns them
_LABEL_FIELDS = 4  # a label names at most this many changed fields, then "+N more"
# Labels say "lr 1e-3", not "learning_rate 0.001"; a field not listed loses only its underscores.
_SHORT_NAMES = {
    "learning_rate": "lr", "total_steps": "steps", "n_envs": "envs", "n_steps": "n-steps", "gae_lambda": "lambda",
    "ent_coef": "entropy", "vf_coef": "value coef", "max_grad_norm": "grad clip", "hidden_sizes": "layers",
    "buffer_size": "buffer", "batch_size": "batch", "train_freq": "train every", "target_update_interval": "sync every",
    "exploration_initial_eps": "initial eps", "exploration_final_eps": "final eps", "exploration_fraction": "eps decay",
    "normalize_advantage": "normalised adv",
}


def format_value(name: str, value: Any) -> str:
    """A setting's value, short and readable: 1e-3, 0.99, 200k, 1.5M, 2,500 (not a round number), on, 128-64."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.01:  # learning rates and tau, written the way papers write them
            mantissa, exponent = f"{value:.5e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"
        return f"{value:g}"
    if isinstance(value, int):
        if name == "seed":  # a seed is a name, not an amount
            return str(value)
        for unit, suffix in ((1_000_000, "M"), (1_000, "k")):
            if abs(value) >= unit and value % (unit // 100) == 0:  # at most two decimals: 1.5M, 2.25k
                return f"{value / unit:g}{suffix}"
        return f"{value:,}"
    if isinstance(value, tuple) and name == "bugs":
        return " + ".join(value) if value else "none"
    if isinstance(value, tuple):
        return "-".join(str(width) for width in value)
    return str(value)


def _differences(config: Config, exclude: tuple[str, ...]) -> dict[str, Any]:
    """The fields of ``config`` that differ from its preset, the algorithm's sliders first, in their order."""
    preset = make_config(config.algo, config.env_id)
    sliders = ALGOS[config.algo].sliders
    names = [*sliders, *(f.name for f in dataclasses.fields(config) if f.name not in sliders)]
    return {name: getattr(config, name) for name in names
            if name not in exclude and getattr(config, name) != getattr(preset, name)}


def changed_fields(config: Config) -> dict[str, Any]:
    """What a student changed: the fields that differ from the preset of the same algo and env, seed aside."""
    return _differences(config, exclude=("algo", "env_id", "seed"))


def run_label(config: Config) -> str:
    """A run's settings in a few words, e.g. 'A2C · gamma 0.9 · lr 1e-3 · seed 0' (the env only when not CartPole)."""
    parts = [ALGOS[config.algo].short_name]
    if config.env_id != DEFAULT_ENV:
        parts.append(config.env_id)
    changed = list(changed_fields(config).items())
    parts += [f"{_SHORT_NAMES.get(name, name.replace('_', ' '))} {format_value(name, value)}"
              for name, value in changed[:_LABEL_FIELDS]]
    if len(changed) > _LABEL_FIELDS:
        parts.append(f"+{len(changed) - _LABEL_FIELDS} more")
    parts.append(f"seed {format_value('seed', config.seed)}")
    return " · ".join(parts)


def _query_text(value: Any) -> str:
    """Text that ``parse_value`` reads back to exactly ``value``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    return repr(value) if isinstance(value, float) else str(value)  # repr: the shortest exact float


def config_to_query(config: Config) -> dict[str, str]:
    """The URL query of ``config``: algo, env_id, and each field (seed included) that differs from the preset."""
    changed = _differences(config, exclude=("algo", "env_id"))
    return {"algo": config.algo, "env_id": config.env_id, **{name: _query_text(value) for name, value in changed.items()}}


def config_from_query(params: Mapping[str, str]) -> tuple[Config, list[str]]:
    """The config a link describes, and one line per bad parameter (each falls back to the preset).

    The inverse of ``config_to_query``; no algo or env_id means the defaults, and the keys of
    ``QUERY_KEYS_OF_OTHERS`` are skipped. Never raises: a link is typed or pasted by people.
    """
    problems: list[str] = []
    algo = params.get("algo", DEFAULT_ALGO)
    if algo not in ALGOS:
        problems.append(f"The link's algo={algo} is unknown: must be one of {', '.join(ALGOS)}; using {DEFAULT_ALGO}.")
        algo = DEFAULT_ALGO
    env_id = params.get("env_id", DEFAULT_ENV)
    if env_id not in ENVS:
        problems.append(f"The link's env_id={env_id} is unknown: must be one of {', '.join(ENVS)}; using {DEFAULT_ENV}.")
        env_id = DEFAULT_ENV
    config = make_config(algo, env_id)
    for name, text in params.items():
        if name in ("algo", "env_id", *QUERY_KEYS_OF_OTHERS):
            continue
        try:
            spec = field_spec(type(config), name)
        except ConfigError:
            problems.append(f"The link's {name}={text} is not a setting of {ALGOS[algo].short_name}; ignoring it.")
            continue
        try:
            config = config.replace(**{name: parse_value(spec, text)})
        except ConfigError as error:  # its message names the field, the value and the valid range
            problems.append(f"The link's {error}; using the preset's {format_value(name, getattr(config, name))}.")
    return config, problems
