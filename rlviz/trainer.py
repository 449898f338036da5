"""The one training loop: ``train(config)`` steps the envs, feeds the agent and yields events.

Everything that watches a run (the command line, the worker processes of the app, the tests)
consumes these events; none of them steps an environment itself.
"""

from __future__ import annotations

import copy
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Union

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from rlviz.agents import Agent, load_agent, make_agent
from rlviz.bugs import switches
from rlviz.buffers import Transition
from rlviz.config import Config, make_config
from rlviz.envs import SOLVE_WINDOW, env_info, make_env, make_vector_env
from rlviz.video import record_episode

VIDEO_FRACTIONS = (0.0, 0.25, 0.5, 1.0)  # of total_steps; the last is recorded after training
# Weight checkpoints at k / CHECKPOINTS of total_steps (k = 0 .. CHECKPOINTS - 1) and at the end: about 20
# points to scrub through, each a copy of the networks' state (kilobytes for 64-64, ~0.5 MB for 256-256).
CHECKPOINTS = 20

# A run has diverged when its mean value estimate (in the env's reward units) passes this many times
# the largest |return| the env can pay. A critic that is learning may overshoot the bound early on,
# by far less than 10x; a diverging one grows geometrically, so a larger factor would only end the
# run a few updates later.
DIVERGENCE_FACTOR = 10.0
# From here on the horizon 1/(1 - gamma) is 200+ steps, so a value bootstraps on a long chain of its
# own estimates and their errors compound: worth naming when the values blew up.
GAMMA_NEAR_ONE = 0.995
# What a student reads for each metric an agent reports, in the order a divergence message names them.
METRIC_WORDS = {
    "value_mean": "the critic's values",
    "q_mean": "the Q-values",
    "critic_loss": "the critic's loss",
    "td_loss": "the TD loss",
    "actor_loss": "the actor's loss",
    "grad_norm": "the gradient norm",
    "mean_abs_td_error": "the TD error",
    "entropy": "the policy's entropy",
}
VALUE_METRICS = ("value_mean", "q_mean")  # V(s) for actor-critics, Q(s, a) for DQN; in scaled reward units


@dataclass(frozen=True)
class EpisodeEnded:
    kind: ClassVar[str] = "episode"
    env_step: int
    episode: int
    episode_return: float
    length: int
    terminated: bool
    truncated: bool
    wall_seconds: float
    recent_mean: float  # mean return of the latest SOLVE_WINDOW episodes, this one included


@dataclass(frozen=True)
class Updated:
    """Learner metrics averaged over the updates since the previous Updated event."""

    kind: ClassVar[str] = "update"
    env_step: int
    updates: int  # gradient updates so far
    wall_seconds: float
    metrics: dict[str, float]


@dataclass(frozen=True)
class VideoRecorded:
    kind: ClassVar[str] = "video"
    env_step: int
    label: str
    path: str
    episode_return: float
    length: int


@dataclass(frozen=True)
class CheckpointTaken:
    """The agent's weights at ``env_step``: CHECKPOINTS of them through a run, and the last ones."""

    kind: ClassVar[str] = "checkpoint"
    env_step: int
    state_dict: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Finished:
    kind: ClassVar[str] = "finished"
    env_steps: int
    episodes: int
    wall_seconds: float
    steps_per_second: float
    solved_at_step: int | None
    final_mean_return: float | None
    eval_mean_return: float | None
    stopped: bool  # ended early by a stop request
    state_dict: dict[str, Any] = field(repr=False, compare=False)  # the trained weights
    diverged: str | None = None  # why the run was ended as diverged (see ``divergence_message``)


Event = Union[EpisodeEnded, Updated, CheckpointTaken, VideoRecorded, Finished]


def event_to_dict(event: Event) -> dict[str, Any]:
    """The JSON-ready form of an event (weights excluded), tagged with its kind."""
    data = {"kind": event.kind, **asdict(event)}
    data.pop("state_dict", None)
    return data


def metrics_interval(total_steps: int) -> int:
    """Env steps between Updated events: about 200 points per run, never more often than 100 steps."""
    return int(np.clip(total_steps // 200, 100, 2_000))


def divergence_message(config: Config, env_step: int, metrics: dict[str, float]) -> str | None:
    """Why the update that reported ``metrics`` at ``env_step`` shows the run has diverged, or None if it has not.

    Diverged: a metric is NaN or infinite, or the mean value estimate divided by the reward scale
    passes DIVERGENCE_FACTOR times the env's return bound. The message (two sentences, for a
    student) names the step, what blew up and the setting to change. It runs after every update,
    so the common case is a few float comparisons.
    """
    non_finite = [name for name, value in metrics.items() if not math.isfinite(value)]
    value_name = next((name for name in VALUE_METRICS if name in metrics), None)
    reward_scale: float | None = getattr(config, "reward_scale", None)  # only actor-critics scale rewards
    bound = env_info(config.env_id).return_bound
    value = 0.0 if value_name is None else metrics[value_name] / (1.0 if reward_scale is None else reward_scale)
    value_too_big = math.isfinite(value) and abs(value) > DIVERGENCE_FACTOR * bound
    if not non_finite and not value_too_big:
        return None

    # Once one number breaks, most follow: name the three that tell most (METRIC_WORDS' order).
    named = ([name for name in METRIC_WORDS if name in non_finite] + sorted(set(non_finite) - set(METRIC_WORDS)))[:3]
    became_infinite = [METRIC_WORDS.get(name, name) for name in named if not math.isnan(metrics[name])]
    became_nan = [METRIC_WORDS.get(name, name) for name in named if math.isnan(metrics[name])]
    what = []
    if value_too_big:
        what.append(f"{METRIC_WORDS[value_name]} reached {_compact(value)} ({config.env_id}'s returns stay within ±{bound:,.0f})")
    if became_infinite:
        what.append(f"{_and_list(became_infinite)} became infinite")
    if became_nan:
        what.append(f"{_and_list(became_nan)} became NaN")

    if config.bugs:  # switched on to see this kind of damage: the learning rate is not the first suspect
        return (f"Diverged at step {env_step:,}: {_and_list(what)}. This run trains with the bug "
                f"{_and_list(list(config.bugs))} switched on, on purpose: the Bug lab page shows what it does.")
    preset_learning_rate = make_config(config.algo, config.env_id).learning_rate
    if preset_learning_rate < config.learning_rate:
        remedies = [f"try the preset's {_compact(preset_learning_rate)} or lower"]
    else:
        remedies = [f"try {_compact(config.learning_rate / 10)} or lower"]
    if reward_scale is not None:
        remedies.append(f"a smaller reward scale (now {_compact(reward_scale)})")
    if config.gamma >= GAMMA_NEAR_ONE and (value_too_big or value_name in non_finite):
        remedies.append(f"a gamma further from 1 (now {config.gamma:g})")
    return (f"Diverged at step {env_step:,}: {_and_list(what)}. "
            f"The learning rate ({_compact(config.learning_rate)}) is likely too high; {', or '.join(remedies)}.")


def _compact(value: float) -> str:
    """``value`` for a sentence: 6,012 up to a million, else two significant digits (6.1e11, 0.003, 1e-5)."""
    if 1 <= abs(value) < 1e6:
        return f"{value:,.0f}"
    mantissa, _, exponent = f"{value:.2g}".partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _and_list(items: list[str]) -> str:
    """``items`` as English: "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def train(
    config: Config,
    *,
    stop_requested: Callable[[], bool] | None = None,
    video_dir: Path | None = None,
) -> Iterator[Event]:
    """Train ``config`` and yield its events, ending with one ``Finished``.

    ``stop_requested`` is polled whenever an episode ends. After every update the agent's metrics are
    checked (``divergence_message``): a diverged run ends at once, with ``Finished.diverged`` saying
    why and no greedy evaluation. With ``video_dir``, a greedy episode is recorded there for each of
    VIDEO_FRACTIONS of training reached: the weights are copied at each checkpoint and the videos
    encoded after training, so recording never holds up the live curve. The last video shows the
    final weights, a diverged run's too: what its broken policy does is worth seeing. A
    ``CheckpointTaken`` comes at each k / CHECKPOINTS of total_steps and with the final weights.
    """
    # Small networks run fastest on one thread, and one thread keeps results independent of the core count.
    # Acting runs in numpy, so its BLAS gets the same limit: on busy cores (parallel runs, a shared host)
    # its threads fight for them (a2c with 256-256 networks on a loaded 2-core machine: 985 steps/s
    # with numpy's default threads, 1,888 and 1,968 with one).
    torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    info = env_info(config.env_id)
    n_envs = config.n_envs
    same_step_reset = switches(config).bootstrap_from_reset_obs
    if same_step_reset:
        # Bug lab: in same-step autoreset, next_obs at an episode's end is already the next episode's first
        # observation (the real last one is in info["final_obs"]), and this loop stores it as s'.
        envs = make_vector_env(config.env_id, n_envs, same_step_autoreset=True)
    else:
        envs = make_vector_env(config.env_id, n_envs)
    obs, _ = envs.reset(seed=config.seed)
    agent = make_agent(config, envs.single_observation_space.shape[0], int(envs.single_action_space.n), rng)

    start = time.perf_counter()
    env_step = episodes = updates = 0
    episode_returns = np.zeros(n_envs)
    episode_lengths = np.zeros(n_envs, dtype=np.int64)
    autoreset = np.zeros(n_envs, dtype=bool)  # env i's next step is Gymnasium's reset step
    recent_returns: deque[float] = deque(maxlen=SOLVE_WINDOW)
    solved_at_step: int | None = None
    stopped = False
    diverged: str | None = None
    metric_sums: dict[str, float] = {}
    metric_counts: dict[str, int] = {}  # per metric: some are reported only by updates that saw an episode end
    interval = metrics_interval(config.total_steps)
    next_metrics_step = interval
    video_steps = [round(fraction * config.total_steps) for fraction in VIDEO_FRACTIONS[:-1]]
    snapshots: list[tuple[int, dict[str, Any]]] = []  # (env step, weights) at each video's checkpoint
    checkpoint_steps = [round(k * config.total_steps / CHECKPOINTS) for k in range(CHECKPOINTS)]

    while env_step < config.total_steps:
        if checkpoint_steps and env_step >= checkpoint_steps[0]:
            while checkpoint_steps and env_step >= checkpoint_steps[0]:  # a vector step may pass several
                checkpoint_steps.pop(0)
            weights = copy.deepcopy(agent.state_dict())
            yield CheckpointTaken(env_step, weights)
            # The videos' fractions (0, 1/4, 1/2) are checkpoints too: their weights are these.
            if video_dir is not None and video_steps and env_step >= video_steps[0]:
                video_steps.pop(0)
                snapshots.append((env_step, weights))

        # act, step
        if not autoreset.all():  # when every env is on its reset step the actions are ignored: reuse the last ones
            actions = agent.act(obs, env_step)
        next_obs, rewards, terminated, truncated, _ = envs.step(actions)
        valid = ~autoreset
        env_step += int(valid.sum())

        # store and learn
        for metrics in agent.observe(Transition(obs, actions, rewards, next_obs, terminated, truncated, valid), env_step):
            updates += 1
            for name, value in metrics.items():
                metric_sums[name] = metric_sums.get(name, 0.0) + value
                metric_counts[name] = metric_counts.get(name, 0) + 1
            diverged = divergence_message(config, env_step, metrics)
            if diverged is not None:
                break
        if (env_step >= next_metrics_step or diverged is not None) and metric_counts:  # a diverged run shows its last update
            next_metrics_step = env_step + interval
            mean_metrics = {name: total / metric_counts[name] for name, total in metric_sums.items()}
            yield Updated(env_step, updates, time.perf_counter() - start, mean_metrics)
            metric_sums, metric_counts = {}, {}

        # episode accounting
        episode_returns += np.where(valid, rewards, 0.0)
        episode_lengths += valid
        ended = (terminated | truncated) & valid
        for i in np.flatnonzero(ended):
            episodes += 1
            recent_returns.append(float(episode_returns[i]))
            recent_mean = float(np.mean(recent_returns))
            yield EpisodeEnded(env_step, episodes, float(episode_returns[i]), int(episode_lengths[i]),
                               bool(terminated[i]), bool(truncated[i]), time.perf_counter() - start, recent_mean)
            if solved_at_step is None and len(recent_returns) == SOLVE_WINDOW and recent_mean >= info.solve_threshold:
                solved_at_step = env_step
        episode_returns[ended] = 0.0
        episode_lengths[ended] = 0
        if not same_step_reset:
            autoreset = terminated | truncated
        obs = next_obs

        if diverged is not None:
            break
        if ended.any():
            if config.stop_when_solved and solved_at_step is not None:
                break
            if stop_requested is not None and stop_requested():
                stopped = True
                break
    envs.close()
    train_seconds = time.perf_counter() - start
    yield CheckpointTaken(env_step, copy.deepcopy(agent.state_dict()))  # the final weights (a diverged run's too)

    if video_dir is not None:
        for snapshot_step, weights in snapshots:
            yield _record(load_agent(config, weights), config, video_dir, snapshot_step)
        yield _record(agent, config, video_dir, env_step)
    # A stopped run is unfinished and a diverged one's weights are broken: neither gets a greedy evaluation.
    evaluated = not stopped and diverged is None
    eval_mean = evaluate(agent, config.env_id, config.eval_episodes, seed=config.seed + 1_000_000) if evaluated else None
    yield Finished(
        env_steps=env_step,
        episodes=episodes,
        wall_seconds=train_seconds,
        steps_per_second=env_step / max(train_seconds, 1e-9),
        solved_at_step=solved_at_step,
        final_mean_return=float(np.mean(recent_returns)) if recent_returns else None,
        eval_mean_return=eval_mean,
        stopped=stopped,
        state_dict=agent.state_dict(),
        diverged=diverged,
    )


def evaluate(agent: Agent, env_id: str, episodes: int, seed: int) -> float | None:
    """Mean return of ``episodes`` greedy episodes (None for zero episodes)."""
    if episodes == 0:
        return None
    env = make_env(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(agent.greedy_action(obs[None])[0]))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def _record(agent: Agent, config: Config, video_dir: Path, env_step: int) -> VideoRecorded:
    percent = round(100 * env_step / config.total_steps)
    label = f"step {env_step:,} ({percent}%)"
    path = video_dir / f"step_{env_step:08d}.mp4"
    episode_return, length = record_episode(agent.greedy_action, config.env_id, path, seed=config.seed + env_step)
    return VideoRecorded(env_step, label, str(path), episode_return, length)
