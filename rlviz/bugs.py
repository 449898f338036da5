"""The Bug lab's bugs: classic mistakes that the real agents can make on purpose, one switch each.

A config's ``bugs`` field (a tuple of the names below, empty by default) turns a bug on at the line
where tutorials get it wrong; the agents and the trainer read it through ``switches(config)``, and
nothing else does. Each ``Bug`` here says what it does, shows that line and its correct version (both
read from the source file that runs, so what the page shows is what trains), names the setup in
which its damage is clearest, what it does there (measured: bench/bugs.py), the diagnostic that
exposes it, and how to spot it in one's own code.

No torch here, and rlviz.config only inside ``lab_pair``: config.py imports this module to validate
``bugs`` with ``check``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DQN, ACTOR_CRITIC = "dqn", "actor-critic"
# What a student may predict before the paired runs; each bug's ``outcome`` is one of these.
PREDICTIONS = ("learns the same", "learns slower", "learns, then falls apart", "never learns")


@dataclass(frozen=True)
class CodeLine:
    """Lines of a source file of rlviz, quoted verbatim (tests check that they are there)."""

    path: str  # relative to the repository, e.g. "rlviz/agents/actor_critic.py"
    text: str  # one or more whole lines, without their common indentation

    def line_number(self) -> int | None:
        """Where ``text`` starts in the file today (1-based), or None if it is not there."""
        lines = (ROOT / self.path).read_text().splitlines()
        wanted = self.text.splitlines()
        for start in range(len(lines) - len(wanted) + 1):
            if all(lines[start + k].strip() == wanted[k].strip() for k in range(len(wanted))):
                return start + 1
        return None


@dataclass(frozen=True)
class Diagnostic:
    """A metric the learner reports (an Updated event's key) that exposes the bug, and how to read it."""

    metric: str
    title: str
    read: str  # what the correct and the buggy run show on it
    log_scale: bool = False  # the two runs differ by a factor: a log axis shows it


@dataclass(frozen=True)
class LabSetup:
    """The paired runs of the Bug lab: this algorithm's preset with ``overrides``, with and without the bug."""

    algo: str
    env_id: str
    overrides: dict[str, Any]
    seeds: int = 3


@dataclass(frozen=True)
class Bug:
    name: str
    title: str
    families: tuple[str, ...]  # which learners have the line: DQN, ACTOR_CRITIC
    what: str  # what the bug does, in two or three sentences
    seen_in: str  # where it was found: the tutorials behind the presets, issue trackers
    right: CodeLine
    wrong: CodeLine
    lab: LabSetup
    outcome: str  # one of PREDICTIONS: what the lab's pair shows, measured
    outcome_note: str  # the measured figures behind ``outcome`` (bench/RESULTS.md "Bug lab")
    diagnostic: Diagnostic
    spot: str  # how to find it in one's own code, two or three sentences


_AC = "rlviz/agents/actor_critic.py"
_TRAINER = "rlviz/trainer.py"

BUGS: dict[str, Bug] = {bug.name: bug for bug in (
    Bug(
        name="detached_log_probs",
        title="The actor learns from detached probabilities",
        families=(ACTOR_CRITIC,),
        what="The actor's loss -A log pi(a|s) is built from the log-probabilities stored when the action was "
             "taken. They were computed without a graph, so the loss has no path back to the actor's weights: "
             "its gradient is exactly zero and the policy stays where it started, while the critic learns as usual.",
        seen_in="Tutorial 000 (the nstep-ac preset's notebook) stores prob.detach() at act time and trains on it.",
        right=CodeLine(_AC, "log_probs = all_log_probs.gather(1, minibatch.actions.unsqueeze(1)).squeeze(1)"),
        wrong=CodeLine(_AC, "log_probs = minibatch.old_log_probs"),
        lab=LabSetup("nstep-ac", "CartPole-v1", dict(total_steps=60_000, stop_when_solved=False)),
        outcome="never learns",
        outcome_note="Over seeds 0-2: the buggy actor's gradient norm was exactly 0 at every update and its last-100 mean stayed at 22 (a random policy's), against 310 for the correct code, still climbing at 60k steps.",
        diagnostic=Diagnostic("actor_grad_norm", "The actor's gradient norm",
                              "Correct: small but never zero (0.01 to 0.1 here: the preset scales rewards by 0.01). "
                              "Buggy: exactly 0 from the first update to the last (the preset has no entropy bonus, the only other path)."),
        spot="Print the gradient norm of the actor's parameters after backward(): exactly 0 (or None) means the "
             "loss never reached them. Any tensor you stored from the acting step (probabilities, log-probs, "
             "values) was made without a graph; recompute it from the network inside the update.",
    ),
    Bug(
        name="truncation_as_termination",
        title="A time limit is treated as a terminal state",
        families=(DQN, ACTOR_CRITIC),
        what="CartPole stops every episode at 500 steps. That is a time limit (truncated), not a failure "
             "(terminated): the pole was still up and the future was still worth about 1/(1 - gamma). With "
             "done = terminated or truncated, the target at step 500 is the last reward alone, so the critic "
             "learns that a perfect state is worth 1, and the better the agent gets, the more often it is told so.",
        seen_in="Tutorials 000, 001 and 003; SB3 #1864, skrl #449, Spinning Up PR #233, gym #3102.",
        right=CodeLine("rlviz/returns.py", "return rewards + gamma * not_terminal * next_values"),
        wrong=CodeLine(_AC, "step = step._replace(terminated=step.terminated | step.truncated)"),
        lab=LabSetup("td-ac", "CartPole-v1", dict(total_steps=200_000, stop_when_solved=False)),
        outcome="learns slower",
        outcome_note="Over seeds 0-2 the buggy runs solved later (median 123,779 steps against 98,707) and one of "
                     "them fell from 500 to about 150 on the way; both variants end at 500 (last-100 means 496 and "
                     "495), so a final score hides the bug. The critic is wrong all the same: its TD error at "
                     "truncations is 190 times the correct one's. Other algorithms looked alike here (a2c-1step, "
                     "a2c and ppo ended at 500 with the bug too).",
        diagnostic=Diagnostic("td_error_at_truncation", "|TD error| at the time limit (step 500)", log_scale=True, read=
                              "Correct: tiny, since the target bootstraps from V(s') like at any other step. Buggy: "
                              "about V(s) itself, some 190 times larger here, at every truncation: the critic is told "
                              "that a perfect state is worth one reward."),
        spot="Search your code for `done = terminated or truncated` and for a single done flag in the "
             "replay buffer or the return: the bootstrap mask must be (1 - terminated) only. Then plot the TD "
             "error of truncated steps apart from the rest.",
    ),
    Bug(
        name="nstep_across_episodes",
        title="The n-step sum runs into the next episode",
        families=(ACTOR_CRITIC,),
        what="The n-step return sums the next n rewards and bootstraps from V n steps later. If the window is not "
             "cut at an episode's end, the last steps of an episode collect rewards from the next one and "
             "bootstrap from one of its states: a pole about to fall looks as good as a fresh start.",
        seen_in="Tutorial 000 keeps its n-step deque across episodes.",
        right=CodeLine(_AC, "terminated, truncated = segment.terminated, segment.truncated"),
        wrong=CodeLine(_AC, "terminated = truncated = torch.zeros_like(segment.terminated)"),
        lab=LabSetup("nstep-ac", "CartPole-v1", dict(total_steps=100_000, stop_when_solved=False)),
        outcome="never learns",
        outcome_note="Over seeds 0-2: a last-100 mean of 23 against 494 for the correct code after 100k steps; the buggy critic rates the last state before a fall at the full 1/(1 - gamma).",
        diagnostic=Diagnostic("value_at_termination", "V(s) at the last step before the pole falls",
                              "Correct: well below the value of a state far from failure, since nothing follows a "
                              "termination. Buggy: the 1/(1 - gamma) = 100 of a never-ending episode: no window "
                              "ever ends, so every state looks the same and the advantage says nothing."),
        spot="Feed your n-step function a short trajectory with an episode end in the middle and check by hand "
             "that no window sums past it. Clear the n-step buffer (or cut the sum) at every episode end.",
    ),
    Bug(
        name="bootstrap_from_reset_obs",
        title="Bootstrapping from the reset observation",
        families=(DQN, ACTOR_CRITIC),
        what="A vector env resets an env as soon as its episode ends. In Gymnasium's same-step autoreset mode the "
             "observation it returns for that step is already the next episode's first one (the real last one "
             "is in info['final_obs']); code that stores it as s' bootstraps a time limit from V of a fresh start.",
        seen_in="Gymnasium's autoreset modes; SB3 and CleanRL read info['final_observation'] for this reason.",
        right=CodeLine(_TRAINER, "envs = make_vector_env(config.env_id, n_envs)"),
        wrong=CodeLine(_TRAINER, "envs = make_vector_env(config.env_id, n_envs, same_step_autoreset=True)"),
        lab=LabSetup("a2c", "CartPole-v1", dict(total_steps=300_000, stop_when_solved=False)),
        outcome="learns the same",
        outcome_note="On CartPole a fresh start and the state at step 500 are worth about the same, so the wrong s' "
                     "costs little in returns: over seeds 0-2, last-100 means of 496 buggy and 497 correct, with a TD "
                     "error at truncations 10 times the correct one's. In an env whose start and end states differ in "
                     "value it would cost more.",
        diagnostic=Diagnostic("td_error_at_truncation", "|TD error| at the time limit (step 500)", log_scale=True, read=
                              "The buggy critic bootstraps from a state that does not follow: its TD error at "
                              "truncations is about 10 times the correct one's (note the log scale)."),
        spot="At an episode's end, check that the s' you store equals the env's last observation: assert it "
             "against info['final_obs'] in a test with a vector env.",
    ),
    Bug(
        name="target_with_grad",
        title="The TD target is not detached",
        families=(ACTOR_CRITIC,),
        what="The critic regresses V(s) on r + gamma V(s'). If V(s') keeps its graph, the loss also moves V(s') "
             "towards V(s): the critic chases its own target (the 'residual gradient'), and learns values "
             "more slowly and worse.",
        seen_in="Common in one-step actor-critic code: td_target = r + gamma * critic(s_next) without no_grad.",
        right=CodeLine(_AC, "target = self.targets(segment, values, all_values[batch:].detach().reshape(n_steps, n_envs))"),
        wrong=CodeLine(_AC, "returns = td_targets(segment.rewards, all_values[batch:].reshape(n_steps, n_envs), "
                            "segment.terminated, config.gamma).reshape(-1)"),
        lab=LabSetup("td-ac", "CartPole-v1", dict(total_steps=150_000, stop_when_solved=False)),
        outcome="learns slower",
        outcome_note="Over seeds 0-2: a last-100 mean of 359 against 499 after 150k steps, with V(s) at 57% of the correct critic's.",
        diagnostic=Diagnostic("value_mean", "Mean V(s)",
                              "Correct: V climbs with the returns the policy earns. Buggy: every update also pulls "
                              "V(s') towards V(s), so the values stay far too low (with gamma 0.999 on "
                              "a2c-1step: 0.44 against the correct 10, in scaled units)."),
        spot="Every target (TD target, n-step return, GAE advantage) should be computed under torch.no_grad() "
             "or end in .detach(); a test can assert target.requires_grad is False.",
    ),
    Bug(
        name="value_broadcast",
        title="V of shape (B, 1) against targets of shape (B,)",
        families=(ACTOR_CRITIC,),
        what="A value head returns (B, 1). Subtracted from targets of shape (B,), it broadcasts silently to a "
             "(B, B) matrix: every V(s_i) is pulled towards every target G_j, that is towards their mean. The "
             "critic learns one number for every state, and the advantage carries no information about s.",
        seen_in="Spinning Up's VPG once had it: ((v - ret)**2).mean() with v of shape (B, 1). Written by hand like "
                "that, nothing warns (PyTorch's own losses warn about the size mismatch; rlviz keeps the bug silent).",
        right=CodeLine(_AC, "critic_loss = (weight * loss_function(values, minibatch.returns, reduction=\"none\")).sum()"),
        wrong=CodeLine(_AC, "critic_loss = loss_function(values.unsqueeze(1), minibatch.returns)"),
        lab=LabSetup("td-ac", "CartPole-v1", dict(total_steps=150_000, stop_when_solved=False)),
        outcome="never learns",
        outcome_note="Over seeds 0-2: a last-100 mean of 23 against 499 after 150k steps; the critic's explained variance 0.02 against 0.59.",
        diagnostic=Diagnostic("explained_variance", "The critic's explained variance",
                              "Correct: climbs towards 1 as V learns the returns. Buggy: stays near 0, because V is "
                              "the same for every state."),
        spot="Assert the shapes right before the loss: values.shape == targets.shape. Squeeze a value head's last "
             "dimension where it is computed.",
    ),
    Bug(
        name="advantage_with_grad",
        title="The advantage keeps its graph to the critic",
        families=(ACTOR_CRITIC,),
        what="The actor's loss is -A log pi(a|s) with A = G - V(s). If A keeps its graph, the actor's loss "
             "also trains the critic: V(s) is pushed by log pi(a|s), a quantity that has nothing to do with "
             "values, so the critic's estimates drift and the advantages with them.",
        seen_in="Common when the advantage is computed from the same forward pass as the critic's loss.",
        right=CodeLine(_AC, "advantages = minibatch.advantages"),
        wrong=CodeLine(_AC, "advantages = minibatch.returns - values"),
        lab=LabSetup("td-ac", "CartPole-v1", dict(total_steps=150_000, stop_when_solved=False)),
        outcome="never learns",
        outcome_note="Over seeds 0-2: every buggy run diverged within 30k steps (its values past 10x anything CartPole pays), with a last-100 mean of 9; the correct code reached 499.",
        diagnostic=Diagnostic("value_mean", "Mean V(s)",
                              "Correct: V follows the returns the policy earns. Buggy: the actor's loss pushes every "
                              "V(s) up by -log pi(a|s) each update, so the values climb past anything CartPole can "
                              "pay until the run diverges."),
        spot="In the actor's loss, the advantage must be a constant: write advantages.detach() (or compute it "
             "under torch.no_grad()), and check that the critic's gradient is the same with and without the "
             "actor's loss.",
    ),
)}
BUG_NAMES = tuple(BUGS)


@dataclass(frozen=True)
class Switches:
    """One flag per bug: what the agents and the trainer read (``if self.bugs.value_broadcast:``)."""

    detached_log_probs: bool = False
    truncation_as_termination: bool = False
    nstep_across_episodes: bool = False
    bootstrap_from_reset_obs: bool = False
    target_with_grad: bool = False
    value_broadcast: bool = False
    advantage_with_grad: bool = False


assert tuple(f.name for f in dataclasses.fields(Switches)) == BUG_NAMES, "one switch per bug, in the same order"


def switches(config: Any) -> Switches:
    """The bugs ``config`` switches on."""
    return Switches(**{name: True for name in config.bugs})


def family(algo: str) -> str:
    return DQN if algo == "dqn" else ACTOR_CRITIC


def bugs_for(algo: str) -> tuple[str, ...]:
    """The bugs whose line ``algo``'s learner has."""
    return tuple(name for name, bug in BUGS.items() if family(algo) in bug.families)


def why_not(name: str, config: Any) -> str | None:
    """Why bug ``name`` cannot run with ``config``'s other settings (one line for a student), or None."""
    bug = BUGS[name]
    if family(config.algo) not in bug.families:
        where = " and ".join("DQN" if f == DQN else "the actor-critics" for f in bug.families)
        return f"bug {name} is in {where} only, not in {config.algo}"
    if name == "nstep_across_episodes" and config.n_step_return < 1:
        return "bug nstep_across_episodes is in the fixed n-step return: set n (n-step return) to 1 or more"
    if name == "target_with_grad":
        one_step_target = config.n_step_return == 1 or (config.n_step_return == 0 and config.gae_lambda == 0)
        if not one_step_target or config.n_epochs != 1 or config.batch_size != 0:
            return ("bug target_with_grad is in the one-step TD target learned in one gradient step: set n (n-step "
                    "return) to 1 or GAE lambda to 0, with 1 epoch and minibatch size 0")
    return None


def check(config: Any) -> str | None:
    """Why ``config``'s bugs cannot run with its other settings, or None."""
    return next((problem for name in config.bugs if (problem := why_not(name, config))), None)


def lab_pair(name: str) -> tuple[Any, Any]:
    """The Bug lab's two configurations for bug ``name``: its setup, correct and with the bug (seed 0)."""
    from rlviz.config import make_config  # config.py imports this module: import it when needed

    lab = BUGS[name].lab
    correct = make_config(lab.algo, lab.env_id, **lab.overrides)
    return correct, correct.replace(bugs=(name,))
