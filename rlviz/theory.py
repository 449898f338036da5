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
from rlviz.agents.actor_critic import clipped_surrogate
from rlviz.buffers import ReplayBuffer, RolloutBuffer, Transition
from rlviz.config import Config, DQNConfig, config_from_dict, make_config
from rlviz.envs import env_info, make_env
from rlviz.returns import gae, n_step_targets, rollout_returns, td_errors, td_targets
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
                       learning_rate=7e-4, lr_schedule="constant", gamma=0.99, hidden_sizes=(64, 64), shared_network=True,
                       ent_coef=0.01, vf_coef=0.5, max_grad_norm=0.5, normalize_advantage=False,
                       reward_scale=1.0, loss="mse", eval_episodes=0)


def train_agent(config: Config) -> tuple[Agent, Finished]:
    """Train ``config`` in this process (no run directory) and return the agent and its summary."""
    finished = next(event for event in train(config) if isinstance(event, Finished))
    return load_agent(config, finished.state_dict), finished


# --- playing episodes ----------------------------------------------------------------------------

def load_run_agent(run_dir: Path, weights: Path | None = None) -> tuple[Config, Agent]:
    """The config and agent of a run directory: its config.json with its final weights (model.pt), or
    with ``weights``, one of its checkpoints (``rlviz.rundir.checkpoints``)."""
    config = config_from_dict(json.loads((Path(run_dir) / "config.json").read_text()))
    state = torch.load(weights or Path(run_dir) / "model.pt", map_location="cpu", weights_only=True)
    return config, load_agent(config, state)


class PlayedEpisode(NamedTuple):
    """One episode as played: the return maths' inputs, and what a learner stores of each step."""

    trajectory: Trajectory  # (T,): rewards times reward_scale and the critic's own V (the learner's units)
    obs: np.ndarray  # (T, obs_dim) float32: s_t
    actions: np.ndarray  # (T,) int64: a_t
    env_rewards: np.ndarray  # (T,): r_t as the env paid it (a learner scales it itself)
    next_obs: np.ndarray  # (T, obs_dim) float32: the real s_{t+1} (the final observation at an episode end)


def play(
    agent: Agent,
    env_id: str,
    reset_seeds: Sequence[int],
    *,
    policy_seed: int = 0,
    time_limit: int | None = None,
    env_step: int = END_OF_TRAINING,
    reward_scale: float = 1.0,
    greedy: bool = False,
) -> list[PlayedEpisode]:
    """One episode per reset seed, all played in lockstep with the agent's own (exploring) policy,
    or with its greedy one (``greedy``: the evaluation's policy, no random draws).

    Each episode records r_t, V(s_t) and V(s_{t+1}) from ``agent.state_values`` (for DQN,
    max_a Q(s, a)), evaluated after the episode in one forward pass. ``time_limit`` cuts episodes earlier than the env's own limit; a cut step is
    marked truncated, exactly like Gymnasium's TimeLimit. Equal reset seeds give equal start states,
    so the episodes differ only through the policy's random actions, drawn from a generator seeded
    with ``policy_seed``: the same call gives the same episodes. The trajectory's rewards are
    recorded times ``reward_scale``, as the learner saw them (its critic learned V in those units).
    """
    limit = time_limit or env_info(env_id).max_episode_steps
    envs: list[gym.Env] = [make_env(env_id) for _ in reset_seeds]
    obs = np.stack([env.reset(seed=int(seed))[0] for env, seed in zip(envs, reset_seeds)]).astype(np.float32)
    count = len(envs)
    records: list[list[tuple]] = [[] for _ in range(count)]
    active = np.ones(count, dtype=bool)
    # Agents draw their actions from their own numpy generator: lend them a seeded one for the
    # episodes, and give the agent its own stream back afterwards.
    own_rng = agent.rng
    agent.rng = np.random.default_rng(policy_seed)
    try:
        for step in range(limit):
            playing = np.flatnonzero(active)
            actions = agent.greedy_action(obs[playing]) if greedy else agent.act(obs[playing], env_step)
            next_obs = obs[playing].copy()
            ends = np.zeros((len(playing), 2), dtype=bool)
            rewards = np.zeros(len(playing))
            for row, index in enumerate(playing):
                observation, reward, terminated, truncated, _ = envs[index].step(int(actions[row]))
                next_obs[row] = observation
                rewards[row] = reward
                ends[row] = terminated, truncated or (step == limit - 1 and not terminated)
            for row, index in enumerate(playing):
                records[index].append((rewards[row] * reward_scale, *ends[row], obs[index].copy(), int(actions[row]),
                                       rewards[row], next_obs[row]))
            obs[playing] = next_obs
            active[playing] = ~(ends[:, 0] | ends[:, 1])
            if not active.any():
                break
    finally:
        agent.rng = own_rng
        for env in envs:
            env.close()
    return [_played(rows, agent) for rows in records]


def _played(rows: list[tuple], agent: Agent) -> PlayedEpisode:
    rewards, terminated, truncated, obs, actions, env_rewards, next_obs = zip(*rows)
    obs, next_obs = np.stack(obs), np.stack(next_obs)
    # V of s_0 .. s_T in one forward pass: V(s_{t+1}) of row t is row t+1's V(s_t), the same number,
    # and the last one is V of the real final observation (at a time limit, the state we bootstrap from).
    values = agent.state_values(np.concatenate([obs, next_obs[-1:]])).astype(np.float64)
    trajectory = Trajectory(np.array(rewards, dtype=np.float64), values[:-1], values[1:],
                            np.array(terminated, dtype=bool), np.array(truncated, dtype=bool))
    return PlayedEpisode(trajectory, obs, np.array(actions, dtype=np.int64),
                         np.array(env_rewards, dtype=np.float64), next_obs)


def play_episodes(agent: Agent, env_id: str, reset_seeds: Sequence[int], **options) -> list[Trajectory]:
    """The trajectories of ``play(agent, env_id, reset_seeds, **options)``: one (T_i,) per seed."""
    return [episode.trajectory for episode in play(agent, env_id, reset_seeds, **options)]


def in_env_units(trajectory: Trajectory, reward_scale: float) -> Trajectory:
    """The learner's numbers divided by its reward scale: rewards as the env paid them, V(s) in the
    env's returns. Every return function is linear in (r, V), so its outputs scale the same way."""
    return trajectory._replace(rewards=trajectory.rewards / reward_scale, values=trajectory.values / reward_scale,
                               next_values=trajectory.next_values / reward_scale)


def learner_stream(parts: Sequence[PlayedEpisode]) -> tuple[Transition, ...]:
    """Consecutive stretches of play as the trainer hands them to a learner: one Transition of
    one env (N = 1) per vector step.

    Gymnasium's NEXT_STEP autoreset puts a reset step after every step that ended an episode: its
    action is ignored, the trainer marks it invalid and learners store nothing of it, but it is a
    vector step, so it uses one of a rollout's n_steps.
    """
    steps: list[Transition] = []
    for part in parts:
        trajectory = part.trajectory
        for t in range(trajectory.length):
            one = slice(t, t + 1)
            steps.append(Transition(part.obs[one], part.actions[one], part.env_rewards[one], part.next_obs[one],
                                    trajectory.terminated[one], trajectory.truncated[one], np.ones(1, dtype=bool)))
            if trajectory.terminated[t] or trajectory.truncated[t]:
                steps.append(Transition(part.next_obs[one], part.actions[one], np.zeros(1), part.next_obs[one],
                                        np.zeros(1, dtype=bool), np.zeros(1, dtype=bool), np.zeros(1, dtype=bool)))
    return tuple(steps)


class WorkedSegment(NamedTuple):
    """The segment of the worked table: its numbers, where each row sits in its episode, and the
    same steps as the learner's stream."""

    trajectory: Trajectory  # (T,) in the learner's units: rewards times reward_scale, the critic's own V
    episode_steps: np.ndarray  # (T,) int: the step index of row t inside its own episode
    transitions: tuple[Transition, ...]  # the rows plus the reset step after each episode end (see learner_stream)
    reward_scale: float
    note: str  # how the segment was made, in one or two sentences

    @property
    def env_units(self) -> Trajectory:
        """The trajectory in the env's units: what the page shows."""
        return in_env_units(self.trajectory, self.reward_scale)


def _first(episodes: list[PlayedEpisode], wanted) -> PlayedEpisode | None:
    return next((episode for episode in episodes if wanted(episode.trajectory)), None)


def worked_segment(
    agent: Agent,
    env_id: str,
    *,
    seed: int = 0,
    tail_steps: int = 12,
    cut_steps: int = 6,
    head_steps: int = 6,
    candidates: int = 8,
    env_step: int = END_OF_TRAINING,
    reward_scale: float = 1.0,
) -> WorkedSegment:
    """A stretch of play, one episode after the other as a learner sees it, with each kind of step:

    1. the last ``tail_steps`` steps of an episode that terminated;
    2. a whole episode cut by a time limit of ``cut_steps`` steps: truncated, in mid-segment;
    3. the first ``head_steps`` steps of the next episode, which goes on past the segment's end.

    Each part is the first of ``candidates`` episodes that ends as wanted. If the agent never fails
    (every episode reaches the env's time limit), part 1 is the tail of a truncated episode.
    """
    limit = env_info(env_id).max_episode_steps
    seeds = [seed + i for i in range(candidates)]

    def episodes(offset: int, time_limit: int | None) -> list[PlayedEpisode]:
        return play(agent, env_id, [s + offset for s in seeds], policy_seed=seed + offset, time_limit=time_limit,
                    env_step=env_step, reward_scale=reward_scale)

    ended = episodes(0, None)
    first = _first(ended, lambda episode: episode.terminated[-1]) or ended[0]
    tail = PlayedEpisode(Trajectory(*(array[-tail_steps:] for array in first.trajectory)),
                         *(array[-tail_steps:] for array in first[1:]))
    cuts = episodes(candidates, cut_steps)
    cut = _first(cuts, lambda episode: episode.truncated[-1]) or cuts[0]
    heads = episodes(2 * candidates, head_steps)
    head = _first(heads, lambda episode: not episode.terminated[-1]) or heads[0]
    # The head's episode goes on after the segment: its last step is no time limit, just the segment's end.
    head = head._replace(trajectory=head.trajectory._replace(truncated=np.zeros(head.trajectory.length, dtype=bool)))
    parts = [tail, cut, head]

    length = first.trajectory.length
    if first.trajectory.terminated[-1]:
        how = (f"a whole episode of {length} steps" if tail.trajectory.length == length else
               f"the last {tail.trajectory.length} steps of an episode of {length} steps")
        how += " that **terminated**"
    else:
        how = (f"the last {tail.trajectory.length} steps of an episode that reached {env_id}'s time limit of {limit} "
               f"steps (none of {candidates} episodes terminated: this agent does not fail)")
    cut_how = ("**truncated** by a time limit of" if cut.trajectory.truncated[-1] else
               "which terminated before a time limit of")
    note = (f"Rows are {how}, then a whole episode {cut_how} {cut_steps} steps (set this short so that a truncation "
            f"fits in the table; {env_id}'s own limit is {limit}), then the first {head.trajectory.length} steps of the "
            "next episode, which goes on after the table.")
    episode_steps = np.concatenate([np.arange(length - tail.trajectory.length, length),
                                    *(np.arange(part.trajectory.length) for part in parts[1:])])
    trajectory = concatenate([part.trajectory for part in parts])
    return WorkedSegment(trajectory, episode_steps, learner_stream(parts), reward_scale, note)


# --- the worked table and its written-out sums ---------------------------------------------------

TABLE_COLUMNS = ("t", "episode_step", "reward", "value", "next_value", "terminated", "truncated",
                 "n_step_target", "trained_on", "update", "n_step_advantage", "td_error", "gae_advantage")


def worked_table(trajectory: Trajectory, gamma: float, n_steps: int, lam: float,
                 episode_steps: np.ndarray | None = None, trained: TrainedOn | None = None) -> pd.DataFrame:
    """One row per step t of a (T,) trajectory; every derived number comes from rlviz.returns:

    n_step_target    G_t^(n)  = n_step_targets(..., gamma, n_steps)
    trained_on       the target the run's learner used for row t (``trained_on``; NaN if none or not given)
    update           which of the run's updates learned it (NaN if none or not given)
    n_step_advantage G_t^(n) - V(s_t)
    td_error         delta_t  = td_errors(..., gamma) = r_t + gamma (1 - terminated_t) V(s_{t+1}) - V(s_t)
    gae_advantage    A_t      = gae(..., gamma, lam)
    """
    rewards, values, next_values, terminated, truncated = trajectory
    targets = n_step_targets(rewards, next_values, terminated, truncated, gamma, n_steps)
    steps = np.arange(trajectory.length) if episode_steps is None else episode_steps
    missing = np.full(trajectory.length, np.nan)
    return pd.DataFrame({
        "t": np.arange(trajectory.length),
        "episode_step": steps,
        "reward": rewards,
        "value": values,
        "next_value": next_values,
        "terminated": terminated.astype(bool),
        "truncated": truncated.astype(bool),
        "n_step_target": targets,
        "trained_on": missing if trained is None else trained.targets,
        "update": missing if trained is None else trained.updates,
        "n_step_advantage": targets - values,
        "td_error": td_errors(rewards, values, next_values, terminated, gamma),
        "gae_advantage": gae(rewards, values, next_values, terminated, truncated, gamma, lam),
    }, columns=list(TABLE_COLUMNS))


# --- what the run trained on ---------------------------------------------------------------------

class TrainedOn(NamedTuple):
    """The target a run's learner regresses on for each row of a worked segment (see ``trained_on``)."""

    targets: np.ndarray  # (T,) G_t in the env's units; NaN where the learner learns row t only after the segment
    updates: np.ndarray  # (T,) float: the update (1, 2, ... from the segment's start) that learns row t; NaN for DQN


def trained_on(segment: WorkedSegment, config: Config, agent: Agent) -> TrainedOn:
    """The target the run's learner computes for each row of ``segment``, by the learner's own code.

    Actor-critic: the segment's stream (``segment.transitions``, which starts at a rollout boundary)
    fills the learner's RolloutBuffer, n_steps vector steps per rollout (the reset step after an
    episode end uses one), and ``rollout_returns`` gives each rollout's returns with the run's
    gamma, n_step_return and gae_lambda from the critic's V(s_t) and V(s_{t+1}). As in
    ``ActorCriticAgent.learn``, learned rows leave the buffer and the others wait for the next
    rollout. A row gets no target (NaN) when its target needs steps after the segment: a fixed
    n-step return still missing rewards, or, with n_step_return = 0 and lambda > 0, a row of the
    unfinished last rollout whose episode goes on (it bootstraps at that rollout's end).

    DQN: ``DQNAgent.td_target`` on the segment's transitions, stored by its ReplayBuffer.
    Targets are computed in the learner's units (rewards times reward_scale), then divided by it.
    """
    trajectory = segment.trajectory
    horizon = trajectory.length
    obs_dim = segment.transitions[0].obs.shape[1]
    if isinstance(config, DQNConfig):
        replay = ReplayBuffer(len(segment.transitions), obs_dim, np.random.default_rng(0))
        for step in segment.transitions:
            replay.add(step)
        targets = agent.td_target(replay.batch(np.arange(replay.size)))  # type: ignore[attr-defined]
        return TrainedOn(targets.numpy().astype(np.float64), np.full(horizon, np.nan))

    targets, updates = np.full(horizon, np.nan), np.full(horizon, np.nan)
    # The critic's V(s_t), V(s_t+1) of each row, as the learner's float32 (its network's outputs).
    values = torch.as_tensor(trajectory.values, dtype=torch.float32)[:, None]
    next_values = torch.as_tensor(trajectory.next_values, dtype=torch.float32)[:, None]
    buffer = RolloutBuffer(config.n_steps, 1, obs_dim, carry_capacity=max(0, config.n_step_return - 1))
    first_row, update = 0, 0  # the segment row of the buffer's first row; updates so far
    for index, step in enumerate(segment.transitions):
        buffer.add(step, config.reward_scale)
        segment_ends = index == len(segment.transitions) - 1
        if not (buffer.full or segment_ends):
            continue
        rollout = buffer.take()
        length = int(rollout.lengths[0])
        if length == 0:  # only reset steps: the learner skips it too
            buffer.keep(rollout.lengths)
            continue
        rows = slice(first_row, first_row + length)
        returns, learned = rollout_returns(rollout.rewards, values[rows], next_values[rows], rollout.terminated,
                                           rollout.truncated, rollout.lengths, config.gamma, config.n_step_return,
                                           config.gae_lambda)
        known = learned[:, 0].numpy() > 0
        update += int(known.any())
        if not buffer.full and not config.n_step_return and config.gae_lambda > 0:
            # The rollout goes on after the segment and bootstraps at its end: only rows whose episode
            # ends within the segment (where GAE's recursion restarts) already have their target.
            ended = (rollout.terminated + rollout.truncated)[:, 0].numpy() > 0
            known &= np.flip(np.logical_or.accumulate(np.flip(ended)))
        known_rows = first_row + np.flatnonzero(known)
        targets[known_rows] = returns[:, 0].numpy()[known] / config.reward_scale
        updates[known_rows] = update
        first_kept = learned.sum(dim=0).numpy().astype(np.int64)  # learned rows are a prefix, as in learn()
        buffer.keep(first_kept)
        first_row += int(first_kept[0])
    return TrainedOn(targets, updates)


class RunTargets(NamedTuple):
    """Which return a run's learner regresses on, and the page's settings (gamma, n, lambda) that match it."""

    kind: str  # "n-step": a fixed n-step return; "rollout": GAE(lambda) bootstrapped at each rollout's end; "dqn"
    gamma: float
    n: int  # the page's n: the fixed n; 1 for a one-step target (lambda = 0, DQN); else the rollout length
    lam: float | None  # the run's GAE lambda ("rollout"); None where lambda plays no part
    n_steps: int | None  # env steps per update (actor-critic); None for DQN
    reward_scale: float

    @property
    def one_step(self) -> bool:
        return self.kind == "dqn" or self.lam == 0


def run_targets(config: Config) -> RunTargets:
    """The estimator of ``config`` (the design's "two return estimators", plus DQN's target)."""
    if isinstance(config, DQNConfig):
        return RunTargets("dqn", config.gamma, 1, None, None, 1.0)
    if config.n_step_return:
        return RunTargets("n-step", config.gamma, config.n_step_return, None, config.n_steps, config.reward_scale)
    n = 1 if config.gae_lambda == 0 else config.n_steps
    return RunTargets("rollout", config.gamma, n, config.gae_lambda, config.n_steps, config.reward_scale)


def _every(steps: int) -> str:
    return "every step" if steps == 1 else f"every {steps} steps"


def describe_targets(run: RunTargets) -> str:
    """What the run's learner regresses on, as the end of a sentence (Markdown)."""
    gamma = f"γ = {run.gamma:g}"
    if run.kind == "dqn":
        return (r"the DQN target $r_t + \gamma (1 - \mathrm{terminated}_t) \max_{a'} Q_{\theta^-}(s_{t+1}, a')$ "
                f"(`DQNAgent.td_target`, {gamma}) on every replayed transition")
    if run.kind == "n-step":
        return (f"exactly the {run.n}-step return of every step (`n_step_return` = {run.n}, {gamma}), learned once "
                f"its {run.n} rewards are in; an update {_every(run.n_steps)}")
    if run.lam == 0:
        return (r"the one-step TD target $r_t + \gamma (1 - \mathrm{terminated}_t) V(s_{t+1})$ "
                f"(`n_step_return` = 0, GAE λ = 0, {gamma}); an update {_every(run.n_steps)}")
    return (f"$\\hat A_t + V(s_t)$ with GAE λ = {run.lam:g}, bootstrapped at the end of every rollout of "
            f"{run.n_steps} steps (`n_step_return` = 0, {gamma})")


def source_note(run: RunTargets, who: str, env_id: str) -> str:
    """What the page's numbers come from: the run's targets, its V for DQN, and its units."""
    notes = [f"{who[0].upper()}{who[1:]} trained on {describe_targets(run)}."]
    if run.kind == "dqn":
        notes.append("A DQN run has no separate critic: here V(s) = max_a Q(s, a) of its Q-network. A run keeps only "
                     "its online network, so here the target network θ⁻ is a copy of it.")
    if run.reward_scale != 1.0:
        notes.append(f"It multiplies rewards by {run.reward_scale:g} before learning, so its critic learned values in "
                     f"those units. **Every value and return on this page is in env units**: rewards as {env_id} pays "
                     f"them, and the critic's values divided by {run.reward_scale:g} (times {1 / run.reward_scale:g}).")
    return " ".join(notes)


def _and_list(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def moved_settings(run: RunTargets, gamma: float, n: int, lam: float) -> list[str]:
    """The page's settings that are not the run's, e.g. ["n to 3 (from 8)"]; lambda only if the run has one."""
    moved = []
    if abs(gamma - run.gamma) > 5e-4:  # the slider's step is 0.001
        moved.append(f"γ to {gamma:g} (from {run.gamma:g})")
    if n != run.n:
        moved.append(f"n to {n} (from {run.n})")
    if run.lam is not None and abs(lam - run.lam) > 1e-9:
        moved.append(f"λ to {lam:g} (from {run.lam:g})")
    return moved


def settings_note(run: RunTargets, moved: Sequence[str], who: str = "your run",
                  column: str = "your run trained on") -> str:
    """Whether the page computes with the run's settings: if not (``moved``), its numbers differ from
    what the run trained on, while the "trained on" column (headed ``column``) keeps the run's settings."""
    if moved:
        return (f"**You moved {_and_list(moved)}: the numbers on this page now differ from what {who} trained "
                f"on.** The column “{column}” keeps {who}'s settings.")
    if run.kind == "rollout" and not run.one_step:
        return (f"These are {who}'s settings, but its targets bootstrap at the end of every rollout (the rows of one "
                f"update): they equal $\\hat A_t + V(s_t)$ of the table only where the episode ends inside the rollout.")
    return (f"These are {who}'s settings: the $G_t^{{({run.n})}}$ column equals “{column}” on every row it "
            "learned here.")


def waiting_note(run: RunTargets) -> str:
    """Why some rows of the "trained on" column are empty."""
    if run.kind == "n-step":
        return "Empty: learned in the next rollout, once its rewards exist."
    return ("Empty: its rollout ends after the table, and its target bootstraps from V at that rollout's end, a step "
            "the table does not show.")


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
    """A row worth reading first: two steps before the first termination (its n-step sums get cut),
    or, where nothing terminates, before the first truncation."""
    ends = np.flatnonzero(trajectory.terminated if trajectory.terminated.any() else trajectory.truncated)
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
    """``rollouts_per_start`` episodes from each of ``starts`` start states (equal reset seeds), in the
    env's units (the critic's values divided by the learner's ``reward_scale``).

    Between episodes of one group only the policy's sampled actions differ: that is the variance
    the n-step estimate sees. ``max_steps`` caps long episodes (a truncation, bootstrapped).
    """
    reset_seeds = [seed + start for start in range(starts) for _ in range(rollouts_per_start)]
    episodes = play_episodes(agent, env_id, reset_seeds, policy_seed=seed, time_limit=max_steps,
                             env_step=env_step, reward_scale=reward_scale)
    groups = np.repeat(np.arange(starts), rollouts_per_start)
    return StudyRollouts(in_env_units(stack_episodes(episodes), reward_scale), groups)


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
    reward_spread: float  # the spread of the discounted rewards alone (no bootstrap): 0 if every episode paid the same
    mean_episode_length: float
    episodes: int
    starts: int
    terminated: int  # episodes that ended in a termination (a failure, in CartPole)

    @property
    def no_spread(self) -> bool:
        """Every episode of a start state collected the same rewards: the policy's randomness changes
        nothing the return sees (a CartPole policy that never fails), so there is no variance to trade."""
        return self.reward_spread < 1e-9


def _spread(estimate: np.ndarray, groups: np.ndarray) -> float:
    """sqrt(mean_s var_i estimate(s, i)): the standard deviation within a start state, (N,) -> scalar."""
    return math.sqrt(np.mean([estimate[groups == g].var(ddof=1) for g in np.unique(groups)]))


def _stats(parameters: Iterable[float], estimates: list[np.ndarray], reference: np.ndarray,
           groups: np.ndarray) -> EstimatorStats:
    labels = np.unique(groups)
    centre = np.array([reference[groups == g].mean() for g in groups])  # (N,) each episode's MC mean
    bias, spread, rmse = [], [], []
    for estimate in estimates:
        bias.append(np.mean([estimate[groups == g].mean() - reference[groups == g].mean() for g in labels]))
        spread.append(_spread(estimate, groups))
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
    discounted_rewards = n_step_targets(rewards, np.zeros_like(next_values), terminated, truncated, gamma, horizon)[0]
    lengths = (terminated | truncated).argmax(axis=0) + 1
    return BiasVariance(
        _stats(n_values, by_n, monte_carlo, groups),
        _stats(lam_values, by_lambda, monte_carlo, groups),
        _spread(monte_carlo, groups),
        _spread(discounted_rewards, groups),
        float(lengths.mean()),
        int(rewards.shape[1]),
        int(len(np.unique(groups))),
        int(terminated[lengths - 1, np.arange(len(lengths))].sum()),
    )


def no_spread_note(study: BiasVariance, env_id: str, who: str = "your run") -> str:
    """Why the bias-variance plot is left out for a policy whose episodes all pay the same."""
    failures = ("none of them terminated: this policy never fails" if study.terminated == 0 else
                f"{study.terminated} of them terminated, each after the same rewards")
    return (f"**Nothing to trade here.** From each start state {who}'s policy played its episodes ({study.episodes} in "
            f"all, {study.mean_episode_length:.0f} steps long on average, on {env_id}) and {failures}. Every episode "
            "of a start state collected exactly the same rewards, so the Monte Carlo return has no spread: there is no "
            "variance for a longer n or a larger λ to add, and a plot of bias and spread would be a plot of zeros. A "
            "half-trained policy that still fails shows the trade-off: compute with the example agent.")


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
    hard: np.ndarray  # (K + 1,) a hard copy (tau = 1) every C = round(1 / tau) syncs
    copy_period: int  # C = round(1 / tau)
    mean_lag: float  # (1 - tau) / tau syncs: the mean age of the weights in the soft target
    hard_mean_lag: float  # (C - 1) / 2 syncs: a hard copy's age runs 0, 1, ..., C - 1, then it is copied again
    old_weight: float  # (1 - tau)^(1 / tau): the share of weights older than 1 / tau syncs (~ e^-1)


def soft_update_demo(tau: float, seed: int = 0) -> SoftUpdateDemo:
    """The soft-update plot's data: about six horizons 1/tau long (60 to 6,000 syncs)."""
    syncs = int(min(6_000, max(60, math.ceil(6 / tau))))
    online = online_parameter_path(syncs, seed)
    period = max(1, round(1 / tau))
    return SoftUpdateDemo(online, soft_update_curve(online, tau), soft_update_curve(online, 1.0, every=period),
                          period, (1 - tau) / tau, (period - 1) / 2, (1 - tau) ** (1 / tau))


class SyncSettings(NamedTuple):
    """The tau and sync interval the soft-update section quotes."""

    whose: str  # "Your run", or "DQN's CartPole-v1 preset"
    tau: float
    target_update_interval: int  # env steps between syncs

    def describe(self) -> str:
        interval = self.target_update_interval
        every = "every env step" if interval == 1 else f"every {interval} env steps"
        return f"{self.whose} uses τ = {self.tau:g}, with a sync {every}"


def sync_settings(config: Config) -> SyncSettings:
    """A DQN run's own tau and sync interval; for any other run, those of DQN's preset on its env."""
    if isinstance(config, DQNConfig):
        return SyncSettings("Your run", config.tau, config.target_update_interval)
    preset = make_config("dqn", config.env_id)
    return SyncSettings(f"DQN's {config.env_id} preset", preset.tau, preset.target_update_interval)


# --- PPO's clipped surrogate -----------------------------------------------------------------------

class ClipDemo(NamedTuple):
    """PPO's objective for one step against the probability ratio rho, computed by the learner's own
    ``clipped_surrogate``."""

    whose: str  # "Your run", or "PPO's CartPole-v1 preset"
    clip_range: float  # epsilon
    advantage: float  # A of the step
    ratios: np.ndarray  # (K,) rho from 0.5 to 1.5
    unclipped: np.ndarray  # (K,) rho A: the importance-sampled policy-gradient objective
    clipped: np.ndarray  # (K,) min(rho A, clip(rho, 1 - eps, 1 + eps) A)
    flat_from: float  # where the clipped objective stops rewarding a move: 1 + eps (A > 0) or 1 - eps (A < 0)
    examples: list[tuple[float, float, float]]  # (rho, clip(rho), objective) inside, at and past the clip


def clip_settings(config: Config) -> tuple[str, float]:
    """A PPO run's own clip range; for any other run, that of PPO's preset on its env."""
    if getattr(config, "clip_range", 0.0) > 0:
        return "Your run", config.clip_range
    return f"PPO's {config.env_id} preset", make_config("ppo", config.env_id).clip_range


def clip_demo(config: Config, advantage: float, clip_range: float | None = None) -> ClipDemo:
    """The clipped objective of a step with ``advantage``, for rho in [0.5, 1.5]."""
    whose, run_clip = clip_settings(config)
    epsilon = run_clip if clip_range is None else clip_range
    ratios = torch.linspace(0.5, 1.5, 201, dtype=torch.float64)
    advantages = torch.full_like(ratios, advantage)
    clipped = clipped_surrogate(ratios, advantages, epsilon)
    flat_from = 1 + epsilon if advantage >= 0 else 1 - epsilon
    direction = 1 if advantage >= 0 else -1
    picked = torch.tensor([1 + direction * epsilon / 2, flat_from, flat_from + direction * 0.1], dtype=torch.float64)
    values = clipped_surrogate(picked, torch.full_like(picked, advantage), epsilon)
    examples = [(round(float(ratio), 4), round(float(ratio.clamp(1 - epsilon, 1 + epsilon)), 4), float(value))
                for ratio, value in zip(picked, values)]
    return ClipDemo(whose, epsilon, advantage, ratios.numpy(), (ratios * advantages).numpy(), clipped.numpy(),
                    flat_from, examples)
