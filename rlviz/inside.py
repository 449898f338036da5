"""Inside the agent: a checkpoint's greedy episode, what its networks said at every step, and maps
of its value and policy over the state space.

A run keeps its weights at about 20 points of training (``rlviz.rundir.checkpoints``). For one of
them, ``episode_trace`` plays one greedy evaluation episode from a seeded start (the same start for
every checkpoint) and records at each step t the network's V(s_t) (DQN: max_a Q(s_t, a)), its
pi(.|s_t) (DQN: Q(s_t, .)), the TD error, the target and advantage the run's own learner computes
(``rlviz.theory.trained_on``, so the numbers are the training code's) and the return actually
collected from t on. ``EpisodeReplay`` renders the frame of any step; ``policy_map`` evaluates the
networks on a grid of states. Nothing here imports Streamlit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rlviz.agents import Agent
from rlviz.config import Config, DQNConfig
from rlviz.envs import make_env
from rlviz.returns import gae, td_errors
from rlviz.rundir import checkpoints
from rlviz.theory import WorkedSegment, in_env_units, learner_stream, play, trained_on

EPISODE_SEED = 0  # the default start state of the inspected episode: the same for every checkpoint


def run_checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """A run's weights through training, (env step, file) in step order.

    A run trained before checkpoints existed has only its final weights (model.pt), at its last step.
    """
    found = checkpoints(run_dir)
    if found or not (run_dir / "model.pt").exists():
        return found
    summary = run_dir / "summary.json"
    last_step = json.loads(summary.read_text()).get("env_steps", 0) if summary.exists() else 0
    return [(int(last_step), run_dir / "model.pt")]


class EpisodeTrace(NamedTuple):
    """One greedy episode of a checkpoint, step by step. Values and returns are in the env's units
    (an actor-critic that learned on rewards times reward_scale has its V divided by it)."""

    checkpoint_step: int  # the env step of training at which the weights were taken
    seed: int  # the episode's reset seed
    observations: np.ndarray  # (T, obs_dim): s_t
    actions: np.ndarray  # (T,): a_t, the greedy action
    rewards: np.ndarray  # (T,): r_t
    values: np.ndarray  # (T,): V(s_t); DQN: max_a Q(s_t, a)
    next_values: np.ndarray  # (T,): V(s_t+1) of the real next observation
    action_outputs: np.ndarray  # (T, n_actions): pi(a|s_t); DQN: Q(s_t, a)
    td_errors: np.ndarray  # (T,): r_t + gamma (1 - terminated_t) V(s_t+1) - V(s_t)
    targets: np.ndarray  # (T,): the target the run's learner regresses V(s_t) (DQN: Q(s_t, a_t)) on
    advantages: np.ndarray  # (T,): targets - V(s_t) as the actor-critic's actor uses it; DQN: NaN (it has no actor)
    returns_to_go: np.ndarray  # (T,): r_t + gamma r_t+1 + ... to the episode's end, no bootstrap
    terminated: bool  # the episode ended in a terminal state (else the time limit cut it)

    @property
    def length(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def episode_return(self) -> float:
        return float(self.rewards.sum())


def episode_trace(config: Config, agent: Agent, checkpoint_step: int, seed: int = EPISODE_SEED) -> EpisodeTrace:
    """Play one greedy episode of ``agent`` from reset seed ``seed`` and record what it said at each step."""
    scale = getattr(config, "reward_scale", 1.0)  # DQN learns on the env's rewards
    played = play(agent, config.env_id, [seed], reward_scale=scale, greedy=True)[0]
    trajectory = in_env_units(played.trajectory, scale)
    rewards, values, next_values, terminated, truncated = trajectory
    # The learner's own targets for these steps: the episode as its stream, through its buffers and return maths.
    segment = WorkedSegment(played.trajectory, np.arange(trajectory.length), learner_stream([played]), scale, note="")
    targets = trained_on(segment, config, agent).targets
    is_dqn = isinstance(config, DQNConfig)
    return EpisodeTrace(
        checkpoint_step=checkpoint_step,
        seed=seed,
        observations=played.obs,
        actions=played.actions,
        rewards=rewards,
        values=values,
        next_values=next_values,
        action_outputs=agent.action_outputs(played.obs).astype(np.float64),
        td_errors=td_errors(rewards, values, next_values, terminated, config.gamma),
        targets=targets,
        advantages=np.full(trajectory.length, np.nan) if is_dqn else targets - values,
        # G_t = r_t + gamma G_t+1 to the episode's end: GAE with lambda = 1 over a critic that says 0.
        returns_to_go=gae(rewards, np.zeros_like(rewards), np.zeros_like(rewards), terminated, truncated, config.gamma, 1.0),
        terminated=bool(terminated[-1]),
    )


class EpisodeReplay:
    """The frames of a traced episode, rendered on demand.

    A Gymnasium env replays exactly from its reset seed and the same actions, so frame t comes from
    stepping a fresh env through actions[:t]; it moves forward from the last frame shown and starts
    over only to go back. Keeping every frame of a 1,000-step episode would cost ~700 MB.
    """

    def __init__(self, env_id: str, seed: int, actions: np.ndarray) -> None:
        self.env = make_env(env_id, render_mode="rgb_array")
        self.seed = seed
        self.actions = actions
        self.position = -1  # the step the env is at; -1 before the first reset
        self.observation: np.ndarray | None = None

    def seek(self, t: int) -> np.ndarray:
        """Put the env in state s_t; returns its observation."""
        if not 0 <= t <= len(self.actions):
            raise IndexError(f"step {t} is outside the episode's 0 to {len(self.actions)}")
        if t < self.position or self.position < 0:
            self.observation, _ = self.env.reset(seed=self.seed)
            self.position = 0
        while self.position < t:
            self.observation, *_ = self.env.step(int(self.actions[self.position]))
            self.position += 1
        return self.observation

    def frame(self, t: int) -> np.ndarray:
        """The rendered frame of s_t, (height, width, 3) uint8."""
        self.seek(t)
        return self.env.render()

    def close(self) -> None:
        self.env.close()


# --- maps of V and pi over two dimensions of the state ----------------------------------------------

class MapAxes(NamedTuple):
    """Two observation dimensions to sweep; the others stay at ``base``."""

    x_index: int
    x_label: str
    x_range: tuple[float, float]
    y_index: int
    y_label: str
    y_range: tuple[float, float]
    base: tuple[float, ...]  # the whole observation the grid varies two entries of
    held: str  # what the other dimensions are held at, in words


MAP_AXES = {
    # The pole angle's range is the termination angle, +-12 degrees; the cart stands still in the middle.
    "CartPole-v1": MapAxes(2, "pole angle (rad)", (-0.21, 0.21), 3, "pole angular velocity (rad/s)", (-2.5, 2.5),
                           base=(0.0, 0.0, 0.0, 0.0), held="the cart at rest in the centre (x = 0, x velocity = 0)"),
    # A lander hovering: level, still, legs up; x and y swept over the screen (the pad is at 0, 0).
    "LunarLander-v3": MapAxes(0, "x (the pad is at 0)", (-1.0, 1.0), 1, "height y", (0.0, 1.5),
                              base=(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
                              held="a hovering lander: still (velocities 0), level (angle 0), legs off the ground"),
}
ACTION_NAMES = {
    "CartPole-v1": ("push left", "push right"),
    "LunarLander-v3": ("do nothing", "left engine", "main engine", "right engine"),
}


class PolicyMap(NamedTuple):
    axes: MapAxes
    xs: np.ndarray  # (nx,)
    ys: np.ndarray  # (ny,)
    values: np.ndarray  # (ny, nx): V(s) in env units; DQN: max_a Q(s, a)
    outputs: np.ndarray  # (ny, nx, n_actions): pi(a|s); DQN: Q(s, a)


def policy_map(config: Config, agent: Agent, resolution: int = 61) -> PolicyMap:
    """V and pi (DQN: Q) on a grid over the env's two mapped dimensions, one batched forward pass."""
    axes = MAP_AXES[config.env_id]
    xs = np.linspace(*axes.x_range, resolution)
    ys = np.linspace(*axes.y_range, resolution)
    grid = np.tile(np.asarray(axes.base, dtype=np.float32), (resolution * resolution, 1))
    grid_y, grid_x = np.meshgrid(ys, xs, indexing="ij")
    grid[:, axes.x_index] = grid_x.ravel()
    grid[:, axes.y_index] = grid_y.ravel()
    scale = getattr(config, "reward_scale", 1.0)
    values = agent.state_values(grid).astype(np.float64) / scale
    outputs = agent.action_outputs(grid).astype(np.float64)
    return PolicyMap(axes, xs, ys, values.reshape(resolution, resolution),
                     outputs.reshape(resolution, resolution, -1))


# --- what to look for ------------------------------------------------------------------------------

def reading_guide(config: Config) -> dict[str, str]:
    """A short note per view: what it shows and what a right or a wrong picture looks like."""
    dqn = isinstance(config, DQNConfig)
    value = "max_a Q(s, a)" if dqn else "V(s)"
    cartpole = config.env_id == "CartPole-v1"
    guide = {
        "checkpoints": "Each dot on the curve is a checkpoint: the weights the run had at that step. Pick one with the "
                       "slider or click near a point of the curve. Every checkpoint plays the same start state, so "
                       "what changes between them is only what the agent has learned.",
        "numbers": (f"{value} is the agent's guess of the discounted return from here; **return from t** is what it "
                    "really collected from this step on (no guess, the rewards summed with γ). A good critic tracks "
                    "it. The TD error is the surprise of one step: r + γ V(s') − V(s)."
                    + ("" if dqn else " The advantage is what the actor is pushed by: positive makes the action taken "
                       "more likely.")),
        "timeline": (f"Read {value} against the return from t. In CartPole every step pays +1, so a pole about to fall "
                     "should see its value drop towards 0 before the end; **a value that rises just before the pole falls "
                     "is wrong**. At a time limit (step 500) the return from t falls to 0 while the state is as good as "
                     "ever: the critic is right not to follow it there, because the episode was cut, not ended."
                     if cartpole else
                     f"Read {value} against the return from t: it should rise as the lander nears the pad and come "
                     "out close to the landing's +100 before the legs touch. TD errors that spike at one step show "
                     "what the agent did not see coming (a crash, a leg contact)."),
        "actions": ("Q(s, a) of each action: the greedy agent takes the largest. Close bars mean it hardly cares."
                    if dqn else "pi(a|s): the probability of each action; the greedy agent takes the most probable. A "
                    "policy near 50/50 is still unsure."),
    }
    if cartpole:
        guide["map"] = (f"Each pixel is one state: the pole's angle (x) and its angular velocity (y), {MAP_AXES[config.env_id].held}. "
                        "The right policy pushes the cart under the pole: right when the pole leans or falls right. **A "
                        "policy map split along a diagonal, angle + velocity, is right**: a pole leaning left but "
                        "swinging back fast needs a push the other way. The value map should be high in the middle and "
                        "fall towards the corners the agent cannot recover from. The line is the episode's path. An "
                        "episode that ends with the pole upright ended because the cart left the track (|x| > 2.4): "
                        "these maps hold the cart in the centre, so they cannot show that danger.")
    else:
        guide["map"] = (f"Each pixel is one position of the lander over the screen, {MAP_AXES[config.env_id].held}. The "
                        "value should be highest near the pad (0, 0) and fall off to the sides; the action map shows "
                        "which engine the policy fires where. The line is the episode's path (drawn at the positions "
                        "it passed through, whatever its speed and angle there).")
    return guide
