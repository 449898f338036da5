"""The numbers of the Theory page: real trajectories and what rlviz.returns makes of them.

Every target, TD error and advantage here is computed by ``rlviz.returns``, the functions the
agents train with; this module only plays episodes, arranges the inputs, and writes sums out term
by term so a student can check them. Nothing here imports Streamlit.

Shapes: a ``Trajectory`` holds arrays of shape (T,) for one segment, or (T, N) for N episodes side
by side (time is axis 0, as in rlviz.returns).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterable, NamedTuple, Sequence

import gymnasium as gym
import numpy as np
import pandas as pd
import torch

from rlviz.agents import Agent, load_agent
from rlviz.config import Config, config_from_dict, make_config
from rlviz.envs import env_info, make_env
from rlviz.returns import gae, n_step_targets, td_errors, td_targets
from rlviz.trainer import Finished, train

END_OF_TRAINING = 2**31  # env_step passed to Agent.act: DQN explores with its final epsilon


class Trajectory(NamedTuple):
    """What the return maths needs from a stretch of play, as in ``rlviz.returns``.

    rewards[t] = r_t, values[t] = V(s_t), next_values[t] = V(s_{t+1}) of the real next observation
    (the final one at an episode end), terminated[t] / truncated[t] = the episode ended at step t
    in a terminal state / by a time limit. All of shape (T,) or (T, N).
    """

    rewards: np.ndarray  # float64
    values: np.ndarray  # float64
    next_values: np.ndarray  # float64
    terminated: np.ndarray  # bool
    truncated: np.ndarray  # bool

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])


def concatenate(parts: Sequence[Trajectory]) -> Trajectory:
    """The parts one after the other along time: (T1,) + (T2,) -> (T1 + T2,)."""
    return Trajectory(*(np.concatenate(arrays) for arrays in zip(*parts)))


def stack_episodes(episodes: Sequence[Trajectory]) -> Trajectory:
    """N episodes of lengths T_i as columns of one (max T_i, N) trajectory.

    Rows after an episode's end are padding: reward 0, V 0, terminated. The return functions
    never read past the step that ended an episode, so the padding cannot leak into its targets.
    """
    horizon = max(episode.length for episode in episodes)
    count = len(episodes)
    rewards, values, next_values = (np.zeros((horizon, count)) for _ in range(3))
    terminated = np.ones((horizon, count), dtype=bool)
    truncated = np.zeros((horizon, count), dtype=bool)
    for column, episode in enumerate(episodes):
        length = episode.length
        rewards[:length, column] = episode.rewards
        values[:length, column] = episode.values
        next_values[:length, column] = episode.next_values
        terminated[:length, column] = episode.terminated
        truncated[:length, column] = episode.truncated
    return Trajectory(rewards, values, next_values, terminated, truncated)


# --- the agent whose play we study ---------------------------------------------------------------

def example_config() -> Config:
    """A2C on CartPole for 20,000 steps: a half-trained agent, for when the student has no run yet.

    The fields that shape it are pinned, so tuning the a2c preset does not change this example.
    Seed 2 gives a typical half-trained agent: episodes of 20 to 40 steps and a critic that is
    roughly right, so the bias-variance trade-off shows its textbook shape (the RMSE is smallest at
    an n in between). Trains in 2 to 3 s on one core.
    """
    return make_config("a2c", "CartPole-v1", total_steps=20_000, seed=2, n_envs=8, n_steps=16, gae_lambda=1.0,
                       learning_rate=7e-4, gamma=0.99, hidden_sizes=(64, 64), shared_network=True,
                       ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, normalize_advantage=False,
                       reward_scale=1.0, loss="mse", eval_episodes=0)


def train_agent(config: Config) -> tuple[Agent, Finished]:
    """Train ``config`` in this process (no run directory) and return the agent and its summary."""
    finished = next(event for event in train(config) if isinstance(event, Finished))
    return load_agent(config, finished.state_dict), finished


# --- playing episodes ----------------------------------------------------------------------------

def load_run_agent(run_dir: Path) -> tuple[Config, Agent]:
    """The config and trained agent of a finished run directory (config.json + model.pt)."""
    config = config_from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
    state = torch.load(Path(run_dir) / "model.pt", map_location="cpu", weights_only=True)
    return config, load_agent(config, state)


def play_episodes(
    agent: Agent,
    env_id: str,
    reset_seeds: Sequence[int],
    *,
    policy_seed: int = 0,
    time_limit: int | None = None,
    env_step: int = END_OF_TRAINING,
    reward_scale: float = 1.0,
) -> list[Trajectory]:
    """One episode per reset seed, all played in lockstep with the agent's own (exploring) policy.

    Each episode records r_t, V(s_t) and V(s_{t+1}) from ``agent.state_values`` (for DQN,
    max_a Q(s, a)). ``time_limit`` cuts episodes earlier than the env's own limit; a cut step is
    marked truncated, exactly like Gymnasium's TimeLimit. Equal reset seeds give equal start states,
    so the episodes differ only through the policy's random actions (seeded by ``policy_seed``).
    Rewards are recorded times ``reward_scale``, as the learner saw them (its critic learned V in
    those units). Returns one (T_i,) trajectory per seed.
    """
    limit = time_limit or env_info(env_id).max_episode_steps
    envs: list[gym.Env] = [make_env(env_id) for _ in reset_seeds]
    obs = np.stack([env.reset(seed=int(seed))[0] for env, seed in zip(envs, reset_seeds)])
    count = len(envs)
    records: list[list[tuple[float, float, float, bool, bool]]] = [[] for _ in range(count)]
    active = np.ones(count, dtype=bool)
    values = agent.state_values(obs).astype(np.float64)
    # Fork the RNG: the policy's samples are reproducible and the caller's torch state is untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(policy_seed)
        for step in range(limit):
            playing = np.flatnonzero(active)
            actions = agent.act(obs[playing], env_step)
            next_obs = obs[playing].copy()
            ends = np.zeros((len(playing), 2), dtype=bool)
            rewards = np.zeros(len(playing))
            for row, index in enumerate(playing):
                observation, reward, terminated, truncated, _ = envs[index].step(int(actions[row]))
                next_obs[row] = observation
                rewards[row] = reward * reward_scale
                ends[row] = terminated, truncated or (step == limit - 1 and not terminated)
            # V of the real next observation: at a time limit this is the state we bootstrap from.
            next_values = agent.state_values(next_obs).astype(np.float64)
            for row, index in enumerate(playing):
                records[index].append((rewards[row], values[index], next_values[row], *ends[row]))
            obs[playing] = next_obs
            values[playing] = next_values  # V(s_{t+1}) is next row's V(s_t): one forward pass, one number
            active[playing] = ~(ends[:, 0] | ends[:, 1])
            if not active.any():
                break
    for env in envs:
        env.close()
    return [_trajectory(rows) for rows in records]


def _trajectory(rows: list[tuple[float, float, float, bool, bool]]) -> Trajectory:
    rewards, values, next_values, terminated, truncated = zip(*rows)
    return Trajectory(np.array(rewards, dtype=np.float64), np.array(values, dtype=np.float64),
                      np.array(next_values, dtype=np.float64), np.array(terminated, dtype=bool),
                      np.array(truncated, dtype=bool))


class WorkedSegment(NamedTuple):
    """The segment of the worked table, with where each row sits in its episode."""

    trajectory: Trajectory  # (T,)
    episode_steps: np.ndarray  # (T,) int: the step index of row t inside its own episode
    note: str  # how the segment was made, in one or two sentences


def worked_segment(
    agent: Agent,
    env_id: str,
    *,
    seed: int = 0,
    tail_steps: int = 16,
    head_steps: int = 12,
    candidates: int = 8,
    env_step: int = END_OF_TRAINING,
    reward_scale: float = 1.0,
) -> WorkedSegment:
    """A short segment with both kinds of episode end: the last ``tail_steps`` steps of an episode
    that terminated, then the first ``head_steps`` steps of a new episode cut by a time limit.

    Plays ``candidates`` episodes and keeps the first that terminated; if the agent never fails
    (every episode reaches the env's time limit), the tail of a truncated episode is used instead.
    """
    episodes = play_episodes(agent, env_id, [seed + i for i in range(candidates)], policy_seed=seed,
                             env_step=env_step, reward_scale=reward_scale)
    ended_in_termination = [episode for episode in episodes if episode.terminated[-1]]
    first = ended_in_termination[0] if ended_in_termination else episodes[0]
    tail = Trajectory(*(array[-tail_steps:] for array in first))
    head = play_episodes(agent, env_id, [seed + candidates], policy_seed=seed + 1, time_limit=head_steps,
                         env_step=env_step, reward_scale=reward_scale)[0]
    limit = env_info(env_id).max_episode_steps
    if ended_in_termination:
        how = f"the last {tail.length} steps of an episode of {first.length} steps that **terminated**"
    else:
        how = (f"the last {tail.length} steps of an episode that reached {env_id}'s time limit of {limit} steps "
               f"(none of {candidates} episodes terminated: this agent does not fail)")
    cut = "**truncated**" if head.truncated[-1] else "terminated before the limit"
    note = (f"Rows are {how}, then the first {head.length} steps of a new episode, {cut} by a time limit of "
            f"{head_steps} steps, set this short so that a truncation fits in the table "
            f"({env_id}'s own limit is {limit}).")
    episode_steps = np.concatenate([np.arange(first.length - tail.length, first.length), np.arange(head.length)])
    return WorkedSegment(concatenate([tail, head]), episode_steps, note)


# --- the worked table and its written-out sums ---------------------------------------------------

TABLE_COLUMNS = ("t", "episode_step", "reward", "value", "next_value", "terminated", "truncated",
                 "n_step_target", "n_step_advantage", "td_error", "gae_advantage")


def worked_table(trajectory: Trajectory, gamma: float, n_steps: int, lam: float,
                 episode_steps: np.ndarray | None = None) -> pd.DataFrame:
    """One row per step t of a (T,) trajectory; every derived number comes from rlviz.returns:

    n_step_target    G_t^(n)  = n_step_targets(..., gamma, n_steps)
    n_step_advantage G_t^(n) - V(s_t)
    td_error         delta_t  = td_errors(..., gamma) = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
    gae_advantage    A_t      = gae(..., gamma, lam)
    """
    rewards, values, next_values, terminated, truncated = trajectory
    targets = n_step_targets(rewards, next_values, terminated, truncated, gamma, n_steps)
    steps = np.arange(trajectory.length) if episode_steps is None else episode_steps
    return pd.DataFrame({
        "t": np.arange(trajectory.length),
        "episode_step": steps,
        "reward": rewards,
        "value": values,
        "next_value": next_values,
        "terminated": terminated.astype(bool),
        "truncated": truncated.astype(bool),
        "n_step_target": targets,
        "n_step_advantage": targets - values,
        "td_error": td_errors(rewards, values, next_values, terminated, gamma),
        "gae_advantage": gae(rewards, values, next_values, terminated, truncated, gamma, lam),
    }, columns=list(TABLE_COLUMNS))


class SumTerm(NamedTuple):
    """One term gamma^k * x of a written-out sum: x is r_{t+k} or, for the bootstrap, V(s_{t+k})."""

    index: int  # t + k: the step of the reward, or the state of the bootstrap value
    power: int  # k
    discount: float  # gamma^k
    value: float  # r_{t+k} or V(s_{t+k})

    @property
    def contribution(self) -> float:
        return self.discount * self.value


class NStepSum(NamedTuple):
    """G_t^(n) written out: r_t + gamma r_{t+1} + ... + gamma^(m-1) r_{t+m-1}  [+ gamma^m V(s_{t+m})]."""

    t: int
    n_steps: int
    reward_terms: tuple[SumTerm, ...]  # m <= n terms
    bootstrap: SumTerm | None  # None when the sum stopped at a termination: a terminal state is worth 0
    stopped_by: str  # "n steps", "terminated", "truncated" or "segment end"

    @property
    def reward_sum(self) -> float:
        return math.fsum(term.contribution for term in self.reward_terms)

    @property
    def total(self) -> float:
        return self.reward_sum + (self.bootstrap.contribution if self.bootstrap else 0.0)


def n_step_sum(trajectory: Trajectory, gamma: float, n_steps: int, t: int) -> NStepSum:
    """The terms of the n-step target of row t of a (T,) trajectory, one by one.

    Walks forward from t: adds gamma^k r_{t+k}; stops after n rewards, at an episode end or at the
    segment's end; then adds gamma^m V(s_{t+m}) unless it stopped at a termination. Its ``total``
    equals ``n_step_targets(...)[t]`` (the tests check this); it exists to be read, not to train.
    """
    if not 0 <= t < trajectory.length:
        raise IndexError(f"row t={t} is outside the segment 0..{trajectory.length - 1}")
    reward_terms: list[SumTerm] = []
    stopped_by = "n steps"
    for power in range(n_steps):
        step = t + power
        reward_terms.append(SumTerm(step, power, gamma**power, float(trajectory.rewards[step])))
        if trajectory.terminated[step]:
            stopped_by = "terminated"
        elif trajectory.truncated[step]:
            stopped_by = "truncated"
        elif step == trajectory.length - 1 and power < n_steps - 1:
            stopped_by = "segment end"
        else:
            continue
        break
    last = reward_terms[-1]
    bootstrap = None
    if stopped_by != "terminated":
        bootstrap = SumTerm(last.index + 1, last.power + 1, gamma ** (last.power + 1),
                            float(trajectory.next_values[last.index]))
    return NStepSum(t, n_steps, tuple(reward_terms), bootstrap, stopped_by)


def latex_number(value: float, digits: int = 3, bracket_negative: bool = True) -> str:
    """A number for a LaTeX sum: fixed decimals; a negative term in parentheses so "+ (-2.1)" reads right."""
    text = f"{value:.{digits}f}"
    if float(text) == 0:
        return text.lstrip("-")
    return f"({text})" if bracket_negative and text.startswith("-") else text


def n_step_sum_latex(written: NStepSum, gamma: float, max_terms: int = 6) -> list[str]:
    """The sum as LaTeX lines: symbols, numbers, total. Long sums show their first and last terms.

    The bootstrap term is set apart with an underbrace; a sum cut by a termination says so.
    """
    terms = list(written.reward_terms)
    shown: list[SumTerm | None] = terms if len(terms) <= max_terms else [*terms[: max_terms - 2], None, *terms[-1:]]
    g = f"{gamma:g}"

    def symbol(term: SumTerm | None) -> str:
        if term is None:
            return r"\cdots"
        factor = "" if term.power == 0 else (r"\gamma " if term.power == 1 else rf"\gamma^{{{term.power}}} ")
        return f"{factor}r_{{{term.index}}}"

    def number(term: SumTerm | None) -> str:
        if term is None:
            return r"\cdots"
        if term.power == 0:
            return latex_number(term.value)
        power = "" if term.power == 1 else f"^{{{term.power}}}"
        return rf"{g}{power}\times {latex_number(term.value)}"

    def result(value: float) -> str:
        return latex_number(value, bracket_negative=False)

    t, n = written.t, written.n_steps
    head = rf"G_{{{t}}}^{{({n})}}"
    symbols = " + ".join(symbol(term) for term in shown)
    numbers = " + ".join(number(term) for term in shown)
    boot = written.bootstrap
    if boot is not None:
        label = {"n steps": f"bootstrap after n = {n} rewards", "truncated": "truncated: bootstrap",
                 "segment end": "segment ends: bootstrap"}[written.stopped_by]
        power = "" if boot.power == 1 else f"^{{{boot.power}}}"
        symbols += rf" + \underbrace{{\gamma{power} V(s_{{{boot.index}}})}}_{{\text{{{label}}}}}"
        numbers += rf" + \underbrace{{{g}{power}\times {latex_number(boot.value)}}}_{{\text{{bootstrap}}}}"
        total = (rf"= \underbrace{{{result(written.reward_sum)}}}_{{\text{{rewards}}}} + "
                 rf"\underbrace{{{latex_number(boot.contribution)}}}_{{\text{{bootstrap}}}} = {result(written.total)}")
    else:
        terminal = rf"\underbrace{{\;0\;}}_{{s_{{{terms[-1].index + 1}}}\text{{ terminal: no bootstrap}}}}"
        symbols += " + " + terminal
        numbers += " + " + terminal
        total = rf"= {result(written.reward_sum)} + 0 = {result(written.total)}"
    return [f"{head} = {symbols}", f"{head} = {numbers}", f"{head} {total}"]


def interesting_row(trajectory: Trajectory) -> int:
    """A row worth reading first: two steps before the first termination (its n-step sums get cut)."""
    ends = np.flatnonzero(trajectory.terminated)
    return max(0, int(ends[0]) - 2) if len(ends) else 0


class RowNumbers(NamedTuple):
    """The numbers of row t that the derivations quote, all from rlviz.returns."""

    reward: float  # r_t
    value: float  # V(s_t)
    next_value: float  # V(s_{t+1})
    terminated: bool
    truncated: bool
    td_target: float  # td_targets(...)[t] = r_t + gamma (1 - terminated_t) V(s_{t+1}) = n_step_targets(n=1)[t]
    td_error: float  # td_errors(...)[t]
    segment_return: float  # G_t: n_step_targets with n = T (to the episode's or the segment's end)
    next_return: float  # what follows r_t in G_t = r_t + gamma * next_return (0 after a termination)
    n_step_target: float
    gae_advantage: float  # A_t
    next_gae_advantage: float  # A_{t+1}, or 0 when the episode ended at t (the recursion restarts)


def row_numbers(trajectory: Trajectory, gamma: float, n_steps: int, lam: float, t: int) -> RowNumbers:
    """The quoted numbers of row t. G_t = r_t + gamma * next_return holds exactly (the tests check it)."""
    rewards, values, next_values, terminated, truncated = trajectory
    horizon = trajectory.length
    returns = n_step_targets(rewards, next_values, terminated, truncated, gamma, horizon)
    one_step_targets = td_targets(rewards, next_values, terminated, gamma)
    deltas = td_errors(rewards, values, next_values, terminated, gamma)
    advantages = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    targets = n_step_targets(rewards, next_values, terminated, truncated, gamma, n_steps)
    ends_here = bool(terminated[t] or truncated[t] or t == horizon - 1)
    if terminated[t]:
        next_return = 0.0
    elif ends_here:
        next_return = float(next_values[t])  # the future we bootstrap instead of playing
    else:
        next_return = float(returns[t + 1])
    return RowNumbers(
        float(rewards[t]), float(values[t]), float(next_values[t]), bool(terminated[t]), bool(truncated[t]),
        float(one_step_targets[t]), float(deltas[t]), float(returns[t]), next_return, float(targets[t]),
        float(advantages[t]), 0.0 if ends_here else float(advantages[t + 1]),
    )


class GaeMix(NamedTuple):
    """GAE of row t as a weighted mix of its n-step advantages, n = 1 .. m (m = steps to the end)."""

    weights: np.ndarray  # (m,): (1 - lam) lam^(n-1) for n < m, lam^(m-1) for n = m; they sum to 1
    n_step_advantages: np.ndarray  # (m,): G_t^(n) - V(s_t), from n_step_targets
    total: float  # sum(weights * n_step_advantages) == gae(...)[t]


def gae_mix(trajectory: Trajectory, gamma: float, lam: float, t: int) -> GaeMix:
    """A_t = (1 - lam) sum_n lam^(n-1) (G_t^(n) - V(s_t)), computed from n_step_targets.

    Past the end of row t's episode (or of the segment) every longer n gives the same G_t^(n), so
    the infinite mix folds into m terms: the last weight is the tail mass lam^(m-1).
    """
    rewards, values, next_values, terminated, truncated = trajectory
    ends = np.flatnonzero(terminated[t:] | truncated[t:])
    steps_to_end = int(ends[0]) + 1 if len(ends) else trajectory.length - t
    advantages = np.array([
        n_step_targets(rewards, next_values, terminated, truncated, gamma, n)[t] - values[t]
        for n in range(1, steps_to_end + 1)
    ])
    orders = np.arange(1, steps_to_end + 1)
    weights = (1.0 - lam) * lam ** (orders - 1.0)
    weights[-1] = lam ** (steps_to_end - 1.0)
    return GaeMix(weights, advantages, float(np.dot(weights, advantages)))


def gae_weights(lam: float, max_n: int) -> np.ndarray:
    """The weight (1 - lam) lam^(n-1) of each n-step advantage, n = 1 .. max_n (the rest: the tail)."""
    orders = np.arange(1, max_n + 1)
    return (1.0 - lam) * lam ** (orders - 1.0)


def without_critic(trajectory: Trajectory) -> Trajectory:
    """The same play with a blank critic V = 0: what bootstrapping does when V knows nothing."""
    zeros = np.zeros_like(trajectory.values)
    return trajectory._replace(values=zeros, next_values=zeros.copy())


def with_done_as_terminal(trajectory: Trajectory) -> Trajectory:
    """The common mistake: a bare done = terminated or truncated used as if every end were terminal."""
    done = trajectory.terminated | trajectory.truncated
    return trajectory._replace(terminated=done, truncated=np.zeros_like(done))


# --- bias and variance of the n-step estimate ----------------------------------------------------

# Rollouts per env: (start states, rollouts per start, step cap). LunarLander steps cost ~10x
# CartPole's and last up to 1000 steps, so it gets fewer, capped rollouts (gamma^300 < 0.05).
STUDY_SIZES: dict[str, tuple[int, int, int | None]] = {"CartPole-v1": (8, 24, None), "LunarLander-v3": (4, 16, 300)}


class StudyRollouts(NamedTuple):
    """Many episodes of one fixed policy, grouped by start state."""

    episodes: Trajectory  # (T_max, N), padded by stack_episodes
    start_groups: np.ndarray  # (N,) int: episodes with the same group began in the same start state


def study_rollouts(
    agent: Agent,
    env_id: str,
    *,
    starts: int = 8,
    rollouts_per_start: int = 24,
    seed: int = 0,
    max_steps: int | None = None,
    env_step: int = END_OF_TRAINING,
    reward_scale: float = 1.0,
) -> StudyRollouts:
    """``rollouts_per_start`` episodes from each of ``starts`` start states (equal reset seeds).

    Between episodes of one group only the policy's sampled actions differ: that is the variance
    the n-step estimate sees. ``max_steps`` caps long episodes (a truncation, bootstrapped).
    """
    reset_seeds = [seed + start for start in range(starts) for _ in range(rollouts_per_start)]
    episodes = play_episodes(agent, env_id, reset_seeds, policy_seed=seed, time_limit=max_steps,
                             env_step=env_step, reward_scale=reward_scale)
    groups = np.repeat(np.arange(starts), rollouts_per_start)
    return StudyRollouts(stack_episodes(episodes), groups)


class EstimatorStats(NamedTuple):
    """How estimates of V(s_0) from single rollouts scatter around the Monte Carlo mean.

    For each setting p (an n or a lambda), over start states s and rollouts i:
    bias[p]   = mean_s ( mean_i est_p(s, i) - mean_i MC(s, i) )
    spread[p] = sqrt( mean_s var_i est_p(s, i) )           the estimate's standard deviation
    rmse[p]   = sqrt( mean_{s,i} (est_p(s, i) - mean_i MC(s, i))^2 )
    """

    parameters: np.ndarray  # (P,)
    bias: np.ndarray  # (P,)
    spread: np.ndarray  # (P,)
    rmse: np.ndarray  # (P,)

    @property
    def best(self) -> float:
        """The setting with the smallest RMSE: the best compromise between bias and spread."""
        return float(self.parameters[int(np.argmin(self.rmse))])

    def at(self, parameter: float) -> tuple[float, float, float]:
        """(bias, spread, rmse) of the setting closest to ``parameter``."""
        index = int(np.argmin(np.abs(self.parameters - parameter)))
        return float(self.bias[index]), float(self.spread[index]), float(self.rmse[index])

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self._asdict())


class BiasVariance(NamedTuple):
    by_n: EstimatorStats  # n-step targets G_0^(n)
    by_lambda: EstimatorStats  # lambda-returns A_0^GAE(lambda) + V(s_0)
    monte_carlo_spread: float  # the spread of the Monte Carlo return itself
    mean_episode_length: float
    episodes: int
    starts: int


def _stats(parameters: Iterable[float], estimates: list[np.ndarray], reference: np.ndarray,
           groups: np.ndarray) -> EstimatorStats:
    labels = np.unique(groups)
    centre = np.array([reference[groups == g].mean() for g in groups])  # (N,) each episode's MC mean
    bias, spread, rmse = [], [], []
    for estimate in estimates:
        bias.append(np.mean([estimate[groups == g].mean() - reference[groups == g].mean() for g in labels]))
        spread.append(math.sqrt(np.mean([estimate[groups == g].var(ddof=1) for g in labels])))
        rmse.append(math.sqrt(np.mean((estimate - centre) ** 2)))
    return EstimatorStats(np.array(list(parameters), dtype=float), np.array(bias), np.array(spread), np.array(rmse))


def bias_variance(
    rollouts: StudyRollouts,
    gamma: float,
    n_values: Sequence[int] = tuple(range(1, 65)),
    lam_values: Sequence[float] = tuple(np.round(np.linspace(0.0, 1.0, 21), 2)),
) -> BiasVariance:
    """Bias and spread of the n-step target and the lambda-return at t = 0 against the MC return.

    The Monte Carlo return (n = the longest episode) is an unbiased sample of V_pi(s_0); its mean over
    the rollouts of a start state is the reference. Small n leans on the critic (bias when V is wrong,
    little variance); large n sums the sampled rewards (no bias, the full variance).
    """
    rewards, values, next_values, terminated, truncated = rollouts.episodes
    horizon = rollouts.episodes.length
    groups = rollouts.start_groups
    monte_carlo = n_step_targets(rewards, next_values, terminated, truncated, gamma, horizon)[0]
    by_n = [n_step_targets(rewards, next_values, terminated, truncated, gamma, n)[0] for n in n_values]
    by_lambda = [gae(rewards, values, next_values, terminated, truncated, gamma, lam)[0] + values[0]
                 for lam in lam_values]
    monte_carlo_spread = math.sqrt(np.mean([monte_carlo[groups == g].var(ddof=1) for g in np.unique(groups)]))
    lengths = (terminated | truncated).argmax(axis=0) + 1
    return BiasVariance(
        _stats(n_values, by_n, monte_carlo, groups),
        _stats(lam_values, by_lambda, monte_carlo, groups),
        monte_carlo_spread,
        float(lengths.mean()),
        int(rewards.shape[1]),
        int(len(np.unique(groups))),
    )


# --- the soft target update ----------------------------------------------------------------------

def online_parameter_path(syncs: int, seed: int = 0) -> np.ndarray:
    """A made-up online weight over ``syncs`` target syncs: it learns (rises and settles) and jitters
    with every minibatch, like a real weight. Shape (syncs + 1,), starting at 0."""
    rng = np.random.default_rng(seed)
    progress = np.arange(syncs + 1) / max(syncs, 1)
    trend = 1.0 - np.exp(-5.0 * progress)
    jitter = 0.08 * rng.standard_normal(syncs + 1)
    jitter[0] = 0.0
    return trend + jitter


def soft_update_curve(online: np.ndarray, tau: float, every: int = 1) -> np.ndarray:
    """theta_minus after each sync k, for an online weight path theta (K + 1,) -> (K + 1,).

    theta_minus <- tau theta + (1 - tau) theta_minus, applied at every ``every``-th sync with
    ``torch.lerp`` as DQNAgent.sync_target does; the target starts as a copy of the online weight.
    tau = 1 is a hard copy. Unrolled, theta_minus is an exponential moving average of past online
    weights whose mean age is (1 - tau) / tau syncs: the effective horizon ~ 1/tau.
    """
    path = torch.as_tensor(online, dtype=torch.float64)
    target = path[0].clone()
    curve = torch.empty_like(path)
    curve[0] = target
    for sync in range(1, len(path)):
        if sync % every == 0:
            target.lerp_(path[sync], tau)
        curve[sync] = target
    return curve.numpy()


class SoftUpdateDemo(NamedTuple):
    online: np.ndarray  # (K + 1,) one online weight over K syncs
    soft: np.ndarray  # (K + 1,) its Polyak target with tau
    hard: np.ndarray  # (K + 1,) a hard copy (tau = 1) every round(1 / tau) syncs
    copy_period: int  # round(1 / tau)
    mean_lag: float  # (1 - tau) / tau syncs: the mean age of the weights in the soft target
    old_weight: float  # (1 - tau)^(1 / tau): the share of weights older than 1 / tau syncs (~ e^-1)


def soft_update_demo(tau: float, seed: int = 0) -> SoftUpdateDemo:
    """The soft-update plot's data: about six horizons 1/tau long (60 to 6,000 syncs)."""
    syncs = int(min(6_000, max(60, math.ceil(6 / tau))))
    online = online_parameter_path(syncs, seed)
    period = max(1, round(1 / tau))
    return SoftUpdateDemo(online, soft_update_curve(online, tau), soft_update_curve(online, 1.0, every=period),
                          period, (1 - tau) / tau, (1 - tau) ** (1 / tau))
