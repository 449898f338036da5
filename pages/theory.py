"""Theory: the maths behind every algorithm, filled in with real numbers from rlviz.returns."""

import inspect
import textwrap
from pathlib import Path

import streamlit as st

from rlviz import returns, theory
from rlviz.agents.actor_critic import ActorCriticAgent, clipped_surrogate
from rlviz.agents.dqn import DQNAgent
from rlviz.config import run_label
from rlviz.plots import bias_variance_figure, clipped_objective_figure, gae_weights_figure, soft_update_figure
from rlviz.theory import latex_number as term
from rlviz.ui.router import require_router
from rlviz.ui.store import get_store, session_id, store_or_stop

require_router()

EXAMPLE = "example"


def num(value: float) -> str:
    """A result in LaTeX: no parentheses around a negative (``term`` brackets one inside a sum)."""
    return term(value, bracket_negative=False)


# --- where the numbers come from ---------------------------------------------------------------

@st.cache_resource(show_spinner="Training the example A2C agent on CartPole for 20,000 steps (a few seconds, once "
                                "per server)...")
def example_agent():
    config = theory.example_config()
    agent, finished = theory.train_agent(config)
    return config, agent, finished.final_mean_return


@st.cache_resource(show_spinner="Loading your run's trained networks...", max_entries=8)
def run_agent(run_dir: str):
    return theory.load_run_agent(Path(run_dir))


@st.cache_data(show_spinner="Playing a segment with the agent...", max_entries=16)
def worked_segment(source: str, _agent, env_id: str, reward_scale: float) -> theory.WorkedSegment:
    return theory.worked_segment(_agent, env_id, reward_scale=reward_scale)


@st.cache_data(show_spinner="Playing a few hundred episodes with the agent's policy...", max_entries=8)
def study_rollouts(source: str, _agent, env_id: str, reward_scale: float) -> theory.StudyRollouts:
    starts, rollouts, max_steps = theory.STUDY_SIZES[env_id]
    return theory.study_rollouts(_agent, env_id, starts=starts, rollouts_per_start=rollouts, max_steps=max_steps,
                                 reward_scale=reward_scale)


@st.cache_data(show_spinner=False, max_entries=64)
def bias_variance(source: str, rollouts: theory.StudyRollouts, gamma: float, blank_critic: bool) -> theory.BiasVariance:
    if blank_critic:
        rollouts = rollouts._replace(episodes=theory.without_critic(rollouts.episodes))
    return theory.bias_variance(rollouts, gamma)


def finished_session_runs() -> list[str]:
    """This browser's intact finished runs, newest first; one sent from the Runs page comes first."""
    store = store_or_stop()
    runs = [run_id for run_id in store.session_runs(session_id()) if store.status(run_id).state == "finished"]
    picked = st.session_state.pop("theory_pick", None)
    if picked in runs:
        runs.remove(picked)
        runs.insert(0, picked)
        st.session_state["theory_source"] = picked
    return runs


def use_example() -> None:
    st.session_state["theory_source"] = EXAMPLE


def source_label(run_id: str) -> str:
    if run_id == EXAMPLE:
        return "Example: A2C trained for 20,000 steps on CartPole-v1"
    return f"Your run: {run_label(get_store().config(run_id))}"


# --- rendering helpers (layout only) -----------------------------------------------------------

def derivation(steps: list[tuple[str, str]]) -> None:
    """Each step: one displayed equation, and beside it the sentence that says why."""
    for equation, why in steps:
        left, right = st.columns([3, 2], vertical_alignment="center", gap="medium")
        left.latex(equation)
        right.caption(why)


def with_numbers(label: str, equations: list[str]) -> None:
    st.markdown(f"**With the numbers of {label}**")
    for equation in equations:
        st.latex(equation)


def source(function, title: str, expanded: bool = True) -> None:
    """The function's own source, full width: its lines are up to 120 characters long."""
    with st.expander(f"The code that runs: `{title}`", expanded=expanded, icon=":material/code:"):
        st.code(textwrap.dedent(inspect.getsource(function)), language="python", wrap_lines=True)


# --- page ----------------------------------------------------------------------------------------

st.title("Theory: the maths, with real numbers")
st.markdown(
    "Every algorithm in rlviz rests on a few formulas: the return, the TD target, the n-step return, the "
    "advantage, GAE, the DQN target, PPO's clipped objective. Here each is derived step by step and then **filled in with real "
    "numbers**: an episode played by a trained agent, pushed through `rlviz.returns`, the same functions the "
    "agents train with. What you read is what runs."
)

runs = finished_session_runs()
choice = EXAMPLE
if runs:
    choice = st.selectbox("Whose play to compute with", [*runs, EXAMPLE], format_func=source_label, key="theory_source",
                          help="Your newest finished run comes first; the example agent is always there too.")
if choice == EXAMPLE:
    config, agent, example_return = example_agent()
    if not runs:
        st.info("You have no finished run in this session yet, so the numbers come from an **example A2C agent** "
                f"trained here for 20,000 steps on CartPole (mean return {example_return:.0f}: half-trained, and its "
                "critic is still learning). Train an agent on the **Train** page and come back: this page will use it.",
                icon=":material/school:")
else:
    try:
        config, agent = run_agent(str(get_store().run_dir(choice)))
    except (OSError, ValueError, RuntimeError, KeyError) as error:  # a damaged run: its weights cannot be read
        st.error(f"This run's trained networks cannot be loaded ({type(error).__name__}: {error}). Pick another run, "
                 "or train it again.", icon=":material/broken_image:")
        st.stop()
run = theory.run_targets(config)
who = "the example agent" if choice == EXAMPLE else "your run"
trained_header = f"{'example' if choice == EXAMPLE else 'your run'} trained on"
is_dqn = config.algo == "dqn"
st.caption(theory.source_note(run, who, config.env_id))

segment = worked_segment(choice, agent, config.env_id, run.reward_scale)
trajectory = segment.env_units  # what the page shows: env units

# The sliders start at the run's own gamma, n and lambda, again whenever another run is picked (and
# after a visit to another page, which drops their state).
run_settings = {"theory_gamma": min(max(round(run.gamma, 3), 0.80), 0.999), "theory_n": min(run.n, 64),
                "theory_lambda": run.lam if run.lam is not None else 0.95}
picked_another = st.session_state.get("theory_settings_of") != choice
st.session_state["theory_settings_of"] = choice
for key, value in run_settings.items():
    if picked_another or key not in st.session_state:
        st.session_state[key] = value

with st.sidebar:
    st.markdown("**The numbers on this page**")
    gamma = st.slider("Discount γ", 0.80, 0.999, step=0.001, format="%.3f", key="theory_gamma",
                      help=f"A reward k steps ahead counts γ^k. {who.capitalize()}: γ = {run.gamma:g}.")
    n_steps = st.slider("n (rewards before bootstrapping)", 1, 64, key="theory_n",
                        help=f"n = 1 is the TD target; n ≥ the episode's length is Monte Carlo. {who.capitalize()}: "
                             f"n = {run.n}.")
    lam = st.slider("GAE λ", 0.0, 1.0, step=0.05, key="theory_lambda",
                    help="λ = 0 is the TD error, λ = 1 the Monte Carlo advantage. " + (
                        f"{who.capitalize()}: λ = {run.lam:g}." if run.lam is not None
                        else f"{who.capitalize()} uses no λ."))
    if "theory_row" not in st.session_state or st.session_state["theory_row"] >= trajectory.length:
        st.session_state["theory_row"] = theory.interesting_row(trajectory)
    row = st.slider("Row t of the worked trajectory", 0, trajectory.length - 1, key="theory_row",
                    help="Or click a row in the table. The derivations quote this row's numbers.")
    st.caption("Every number on the page is recomputed by `rlviz.returns` when you move these.")
    moved = theory.moved_settings(run, gamma, n_steps, lam)
    settings_note = theory.settings_note(run, moved, who, trained_header)
    (st.warning if moved else st.caption)(settings_note)

numbers = theory.row_numbers(trajectory, gamma, n_steps, lam, row)
g = f"{gamma:g}"
row_label = f"row t = {row} of the worked trajectory (γ = {g})"

# 1 ------------------------------------------------------------------------------------------------
st.header("1. The discounted return", divider="gray")
derivation([
    (r"G_t = r_t + \gamma r_{t+1} + \gamma^2 r_{t+2} + \cdots = \sum_{k=0}^{\infty} \gamma^k r_{t+k}",
     "The return: every reward from t on, a reward k steps ahead discounted by $\\gamma^k$. Near rewards count "
     f"more and the sum stays finite; $1/(1-\\gamma)$ = {1 / (1 - gamma):.0f} steps is its effective horizon."),
    (r"G_t = r_t + \gamma \left( r_{t+1} + \gamma r_{t+2} + \cdots \right)",
     "Factor one $\\gamma$ out of every term after the first."),
    (r"G_t = r_t + \gamma\, G_{t+1}",
     "The bracket is the return from $t+1$: one reward plus the discounted return that follows. After a terminal "
     "state nothing follows: $G = 0$."),
    (r"V^\pi(s) = \mathbb{E}_\pi\!\left[ G_t \mid s_t = s \right] "
     r"= \mathbb{E}_\pi\!\left[ r_t + \gamma\, V^\pi(s_{t+1}) \mid s_t = s \right]",
     "Average over what the policy and the environment do: a state's value is the expected reward plus the "
     "discounted value of the next state (the Bellman equation). The critic $V$ learns this."),
])
if numbers.terminated:
    follows = rf"\underbrace{{0}}_{{s_{{{row + 1}}}\text{{ terminal}}}}"
elif numbers.truncated or row == trajectory.length - 1:
    follows = rf"\underbrace{{{term(numbers.next_return)}}}_{{V(s_{{{row + 1}}}):\text{{ cut, bootstrapped}}}}"
else:
    follows = term(numbers.next_return)
with_numbers(row_label, [
    rf"G_{{{row}}} = r_{{{row}}} + \gamma\, G_{{{row + 1}}} = {num(numbers.reward)} + {g} \times {follows} "
    rf"= {num(numbers.segment_return)}",
])
st.caption("G_t here is `n_step_targets` with n = the segment's length: the rewards to the episode's end, plus "
           "γ^m V(s) where the episode was cut by a time limit or the segment ends.")

# 2 ------------------------------------------------------------------------------------------------
st.header("2. The TD target and the TD error", divider="gray")
derivation([
    (r"V(s_t) \approx r_t + \gamma\, V(s_{t+1})",
     "Take one real step and let the critic guess the rest: $V(s_{t+1})$ stands in for the unknown $G_{t+1}$."),
    (r"y_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\, V(s_{t+1})",
     "The TD target. A terminal state has no future, so its value is 0 by definition, whatever the network "
     "would output there."),
    (r"\delta_t = y_t - V(s_t)",
     "The TD error: how much better the step went than the critic expected."),
    (r"\mathcal{L}_V = \tfrac{1}{2}\,\delta_t^2 \;\Rightarrow\; V(s_t) \leftarrow V(s_t) + \alpha\,\delta_t",
     "The critic's loss. With $y_t$ held fixed (detached), a gradient step moves $V(s_t)$ toward $y_t$."),
])
with_numbers(row_label, [
    rf"y_{{{row}}} = {num(numbers.reward)} + {g} \times (1 - {int(numbers.terminated)}) \times "
    rf"{term(numbers.next_value)} = {num(numbers.td_target)}",
    rf"\delta_{{{row}}} = {num(numbers.td_target)} - {term(numbers.value)} = {num(numbers.td_error)}",
])
source(returns.td_targets, "rlviz.returns.td_targets")
source(returns.td_errors, "rlviz.returns.td_errors")

# 3 ------------------------------------------------------------------------------------------------
st.header("3. The n-step return: from TD to Monte Carlo", divider="gray")
derivation([
    (r"G_t = r_t + \gamma r_{t+1} + \cdots + \gamma^{n-1} r_{t+n-1} + \gamma^n G_{t+n}",
     "Unroll $G_t = r_t + \\gamma G_{t+1}$ $n$ times."),
    (r"G_t^{(n)} = \sum_{k=0}^{n-1} \gamma^k r_{t+k} + \gamma^n\, V(s_{t+n})",
     "Keep n real rewards and let the critic stand in for the rest: the bootstrap."),
    (r"n = 1:\quad G_t^{(1)} = r_t + \gamma\, V(s_{t+1}) = y_t",
     "One real reward: the TD target. Little variance (one random step), but every error of $V$ goes straight "
     "into the target: bias."),
    (r"n \ge T - t:\quad G_t^{(n)} = \sum_{k=0}^{T-t-1} \gamma^k r_{t+k} = G_t",
     "Reach the terminal step $T$ and nothing is bootstrapped: the Monte Carlo return. No bias from $V$, but it "
     "sums every random reward to the end: variance."),
    (r"G_t^{(n)} = \sum_{k=0}^{m-1} \gamma^k r_{t+k} + \gamma^m\,(1 - \mathrm{terminated}_{t+m-1})\, V(s_{t+m})",
     "In code the sum stops early, after $m \\le n$ rewards, at an episode's end or at the end of the rollout, and "
     "bootstraps unless it stopped at a termination."),
])
with_numbers(row_label, [
    rf"G_{{{row}}}^{{(1)}} = {num(numbers.td_target)} \qquad G_{{{row}}}^{{({n_steps})}} = "
    rf"{num(numbers.n_step_target)} \qquad G_{{{row}}} = {num(numbers.segment_return)}",
])
st.caption("TD, your n and Monte Carlo for the same row. Section 6 writes the n-step sum out term by term.")
source(returns.n_step_targets, "rlviz.returns.n_step_targets")

# 4 ------------------------------------------------------------------------------------------------
st.header("4. The advantage, and why the TD error estimates it", divider="gray")
derivation([
    (r"A^\pi(s, a) = Q^\pi(s, a) - V^\pi(s)",
     "How much better taking $a$ in $s$ is than what the policy does in $s$ on average."),
    (r"Q^\pi(s_t, a_t) = \mathbb{E}\!\left[ r_t + \gamma\, V^\pi(s_{t+1}) \mid s_t, a_t \right]",
     "Take $a_t$, then follow $\\pi$: one step of the Bellman equation."),
    (r"\mathbb{E}\!\left[ \delta_t \mid s_t, a_t \right] = Q^\pi(s_t, a_t) - V^\pi(s_t) = A^\pi(s_t, a_t)",
     "So when $V = V^\\pi$ the TD error is an unbiased one-sample estimate of the advantage: no Q-network needed."),
    (r"\hat A_t^{(n)} = G_t^{(n)} - V(s_t) = \sum_{k=0}^{n-1} \gamma^k\, \delta_{t+k}",
     "The same holds for every $n$. Inside an episode the sum telescopes: each $V(s_{t+k})$ enters once with $+$ "
     "and once with $-$."),
    (r"\nabla_\theta J = \mathbb{E}\!\left[ \nabla_\theta \log \pi_\theta(a_t \mid s_t)\; \hat A_t \right]",
     "The actor's gradient: make actions with a positive advantage more likely. Subtracting $V(s_t)$, the "
     "baseline, lowers the variance and adds no bias."),
])
with_numbers(row_label, [
    rf"\hat A_{{{row}}}^{{(1)}} = \delta_{{{row}}} = {num(numbers.td_error)} \qquad "
    rf"\hat A_{{{row}}}^{{({n_steps})}} = {num(numbers.n_step_target)} - {term(numbers.value)} = "
    rf"{num(numbers.n_step_target - numbers.value)}",
])

# 5 ------------------------------------------------------------------------------------------------
st.header("5. GAE: a mix of every n", divider="gray")
derivation([
    (r"\hat A_t^{\mathrm{GAE}(\gamma,\lambda)} = (1-\lambda) \sum_{n=1}^{\infty} \lambda^{n-1}\, \hat A_t^{(n)}",
     "Do not pick one $n$: mix them all, with weights $(1-\\lambda)\\lambda^{n-1}$ that shrink geometrically and "
     "sum to 1."),
    (r"= (1-\lambda) \sum_{n=1}^{\infty} \lambda^{n-1} \sum_{k=0}^{n-1} \gamma^k \delta_{t+k} "
     r"= \sum_{k=0}^{\infty} (\gamma\lambda)^k\, \delta_{t+k}",
     "Insert the telescoped $n$-step advantages and collect each $\\delta_{t+k}$: its weights add up to $\\lambda^k$."),
    (r"\hat A_t = \delta_t + \gamma\lambda\,(1 - \mathrm{done}_t)\, \hat A_{t+1}",
     "So GAE is one backward pass over the rollout. It restarts after a step that ended the episode "
     "(done = terminated or truncated) and at the rollout's end."),
    (r"\lambda = 0:\ \hat A_t = \delta_t \qquad \lambda = 1:\ \hat A_t = \sum_k \gamma^k \delta_{t+k} = G_t - V(s_t)",
     "The two ends: $\\lambda = 0$ is the one-step TD advantage, $\\lambda = 1$ the Monte Carlo advantage (to the "
     "rollout's end, bootstrapped there). The critic trains on $\\hat A_t + V(s_t)$."),
])
mix = theory.gae_mix(trajectory, gamma, lam, row)
shown = list(zip(mix.weights, mix.n_step_advantages))
terms = [rf"{w:.3f} \times {term(a)}" for w, a in shown[:3]]
if len(shown) > 3:
    terms.append(r"\cdots")
ends_here = numbers.terminated or numbers.truncated or row == trajectory.length - 1
with_numbers(f"{row_label}, λ = {lam:g}", [
    rf"\hat A_{{{row}}} = \delta_{{{row}}} + \gamma\lambda\,(1 - \mathrm{{done}}_{{{row}}})\,\hat A_{{{row + 1}}} "
    rf"= {num(numbers.td_error)} + {g} \times {lam:g} \times {1 - int(ends_here)} \times "
    rf"{term(numbers.next_gae_advantage)} = {num(numbers.gae_advantage)}",
    rf"\sum_{{n=1}}^{{{len(shown)}}} w_n\, \hat A_{{{row}}}^{{(n)}} = " + " + ".join(terms) + rf" = {num(mix.total)}",
])
note_column, weights_column = st.columns([3, 2], gap="large", vertical_alignment="center")
note_column.caption(
    f"The first line is `gae`'s backward recursion. The second mixes the n-step advantages of row {row}, each from "
    f"`n_step_targets`, with the weights on the right; past the episode's or the segment's end ({len(shown)} steps "
    "away) every longer n gives the same return, so the remaining weight folds into the last term. Both give the "
    "number `gae` computes."
)
weights = theory.gae_weights(lam, 12)
weights_column.plotly_chart(gae_weights_figure(weights, 1.0 - float(weights.sum()), lam), width="stretch")
source(returns.gae, "rlviz.returns.gae")

# 6 ------------------------------------------------------------------------------------------------
st.header("6. A worked trajectory", divider="gray")
st.markdown(
    f"{segment.note} **Click a row** (or use the row slider in the sidebar) to see its n-step sum written out; "
    "the rows it reads are shaded blue, and the V it bootstraps from amber."
)
trained = theory.trained_on(segment, config, agent)
table = theory.worked_table(trajectory, gamma, n_steps, lam, segment.episode_steps, trained)
written = theory.n_step_sum(trajectory, gamma, n_steps, row)
window = {reward_term.index for reward_term in written.reward_terms}
bootstrap_row = written.reward_terms[-1].index if written.bootstrap else None


def shade(frame_row):
    """Blue: the rows the n-step sum of row t reads; amber: the V(s_t+1) it bootstraps from; green: the
    run's own targets."""
    styles = ["background-color: #dbeafe" if frame_row.name in window else "" for _ in frame_row.index]
    if frame_row.name == row:
        styles = ["background-color: #bfdbfe; font-weight: 600" for _ in frame_row.index]
    if frame_row.name == bootstrap_row:
        styles[list(frame_row.index).index("next_value")] = "background-color: #fde68a; font-weight: 600"
    trained_cell = list(frame_row.index).index("trained_on")
    styles[trained_cell] += "; color: #166534" if styles[trained_cell] else "background-color: #f0fdf4; color: #166534"
    return styles


def select_row() -> None:
    selected = st.session_state["theory_table"].selection.rows
    if selected:
        st.session_state["theory_row"] = selected[0]


float_columns = ["reward", "value", "next_value", "n_step_target", "trained_on", "n_step_advantage", "td_error",
                 "gae_advantage"]
styled = table.style.apply(shade, axis=1).format("{:.3f}", subset=float_columns).format("{:.0f}", subset=["update"])
units = " In env units." if run.reward_scale != 1.0 else ""
column = st.column_config
st.dataframe(
    styled, key="theory_table", on_select=select_row, selection_mode="single-row", hide_index=True, width="stretch",
    height=35 * (len(table) + 1) + 3, placeholder="—",  # a row the run learns only after the segment
    column_config={
        # Pixel widths: the whole table fits a 1280-pixel screen with the sidebar open.
        "t": column.NumberColumn("t", help="Row of the segment.", width=30),
        "episode_step": column.NumberColumn("ep. t", help="Where the row sits in its own episode.", width=42),
        "reward": column.NumberColumn("r_t", help=f"The reward of step t.{units}", width=52),
        "value": column.NumberColumn(
            "V(s_t)", width=60, help=f"The critic's value of the state at t.{units and ' In env units: ÷ reward scale.'}"),
        "next_value": column.NumberColumn(
            "V(s_t+1)", width=62,
            help=f"The critic's value of the real next state (the final one at an episode end).{units}"),
        "terminated": column.CheckboxColumn(
            "term.", width=50, help="Terminated: the episode ended in a terminal state at t, nothing to bootstrap."),
        "truncated": column.CheckboxColumn(
            "trunc.", width=52, help="Truncated: a time limit cut the episode at t, bootstrap with V(s_t+1)."),
        "n_step_target": column.NumberColumn(
            f"G_t^({n_steps})", width=62,
            help="The n-step target: n_step_targets(r, V(s'), terminated, truncated, γ, n)"),
        "trained_on": column.NumberColumn(
            trained_header, width=120,
            help=f"The target {who}'s learner regressed on for this row, with its own settings, computed by its own "
                 f"code: {'DQNAgent.td_target' if is_dqn else 'rollout_returns over its rollouts'}.{units}"),
        "update": None if is_dqn else column.NumberColumn(
            "update", width=50, help=f"Which of {who}'s updates (counted from the table's first row, one every "
                                     f"{run.n_steps} env steps) learned this row."),
        "n_step_advantage": column.NumberColumn(
            "G − V(s_t)", width=66, help=f"The n-step advantage G_t^({n_steps}) − V(s_t)."),
        "td_error": column.NumberColumn(
            "δ_t", width=52, help="The TD error: td_errors(...) = r + γ (1 − terminated) V(s') − V(s)"),
        "gae_advantage": column.NumberColumn(
            f"A_t (λ={lam:g})", width=72,
            help="The GAE advantage: gae(r, V(s), V(s'), terminated, truncated, γ, λ)"),
    },
)
stop_reason = {
    "n steps": f"after n = {n_steps} rewards, and bootstraps with the critic's value of the state it reached",
    "terminated": f"at the termination at step {written.reward_terms[-1].index}: the next state is terminal, worth 0, "
                  "so nothing is bootstrapped",
    "truncated": f"at the truncation at step {written.reward_terms[-1].index}: the time limit cut the episode but the "
                 "task went on, so it bootstraps",
    "segment end": "at the end of the segment and bootstraps there, as a rollout-end estimator does at the end of each "
                   "rollout (a fixed n-step learner waits for the next rollout's rewards instead)",
}[written.stopped_by]
(st.warning if moved else st.caption)(settings_note)
if table["trained_on"].isna().any():
    st.caption(theory.waiting_note(run))
with st.container(border=True):
    st.markdown(f"**Row t = {row}, n = {n_steps}:** the sum stops {stop_reason}.")
    for line in theory.n_step_sum_latex(written, gamma):
        st.latex(line)
    st.caption(f"The table's G_t^({n_steps}) for row {row}: {table['n_step_target'][row]:.6f}; the sum written out "
               f"here: {written.total:.6f}. The table comes from `n_step_targets`; the sum is spelled out to be read.")
if not is_dqn:
    source(returns.rollout_returns, f"rlviz.returns.rollout_returns: the “{trained_header}” column, computed once per rollout",
           expanded=False)

# 7 ------------------------------------------------------------------------------------------------
st.header("7. Bias and variance: what n and λ trade", divider="gray")
size = theory.STUDY_SIZES[config.env_id]
st.markdown(
    f"From each of {size[0]} start states the agent's policy plays {size[1]} episodes (same start, different "
    "random actions). From each episode we estimate the value of the start state with the n-step target "
    "$G_0^{(n)}$ (and the λ-return $\\hat A_0 + V(s_0)$), and compare with the **Monte Carlo return**, whose "
    "average over the episodes of a start state is an unbiased estimate of $V^\\pi(s_0)$. **Bias**: how far the "
    "estimate is off on average. **Spread**: how much it varies from episode to episode. **RMSE** combines both. "
    "All in env units."
)
rollouts = study_rollouts(choice, agent, config.env_id, run.reward_scale)
study = bias_variance(choice, rollouts, gamma, False)
if study.no_spread:  # a policy that never fails: every number below would be 0
    st.info(theory.no_spread_note(study, config.env_id, who), icon=":material/horizontal_rule:")
    if choice != EXAMPLE:
        st.button("Compute with the example agent", on_click=use_example, icon=":material/school:",
                  key="theory_use_example")
else:
    critic = st.radio("Bootstrap with", ["the agent's critic V", "a blank critic, V = 0"], horizontal=True,
                      key="theory_critic", help="A blank critic shows what bootstrapping costs when V knows nothing.")
    if critic.startswith("a blank"):
        study = bias_variance(choice, rollouts, gamma, True)
    st.plotly_chart(bias_variance_figure(study.by_n.to_frame(), study.by_lambda.to_frame(), study.monte_carlo_spread,
                                         n_steps, lam), width="stretch")
    bias_1, spread_1, _ = study.by_n.at(1)
    bias_n, spread_n, rmse_n = study.by_n.at(n_steps)
    bias_64, spread_64, _ = study.by_n.at(64)
    st.markdown(
        f"Reading it ({study.episodes} episodes, {study.mean_episode_length:.0f} steps long on average, γ = {g}, in "
        f"env units): at **n = 1** the estimate is off by {bias_1:+.2f} on average but varies by only {spread_1:.2f}; "
        f"at **n = 64** it is off by {bias_64:+.2f} and varies by {spread_64:.2f}. Your n = {n_steps}: bias "
        f"{bias_n:+.2f}, spread {spread_n:.2f}, RMSE {rmse_n:.2f}. The smallest RMSE is at "
        f"**n = {study.by_n.best:.0f}** and **λ = {study.by_lambda.best:g}**. Once n passes the episode's end, "
        "$G^{(n)}$ is the Monte Carlo return: bias 0 and the full spread."
    )

# 8 ------------------------------------------------------------------------------------------------
st.header("8. DQN: the max-Q target and the soft update", divider="gray")
derivation([
    (r"Q^*(s, a) = \mathbb{E}\!\left[ r + \gamma \max_{a'} Q^*(s', a') \right]",
     "Bellman optimality: act once, then act greedily forever."),
    (r"y = r + \gamma\,(1 - \mathrm{terminated})\,\max_{a'} Q_{\theta^-}(s', a')",
     "The DQN target: a one-step TD target whose $V(s')$ is $\\max_{a'} Q$ of the target network $\\theta^-$. "
     "In rlviz it is `td_targets` on a replayed minibatch, in `DQNAgent.td_target` (below)."),
    (r"\mathcal{L}(\theta) = \mathbb{E}_{(s,a,r,s') \sim \mathcal{D}}"
     r"\!\left[ \mathrm{Huber}\!\left( y - Q_\theta(s, a) \right) \right]",
     "Regress $Q$ toward $y$ on transitions replayed from the buffer $\\mathcal{D}$; $y$ is a fixed label "
     "(no gradient)."),
    (r"\theta^- \leftarrow \tau\,\theta + (1 - \tau)\,\theta^-",
     "The soft (Polyak) update at every sync: the target follows the online network slowly, so the label $y$ "
     "does not move with every gradient step."),
    (r"\theta^-_k = \sum_{j=0}^{k-1} \tau\,(1-\tau)^j\, \theta_{k-j} + (1-\tau)^k\, \theta^-_0",
     "Unrolled: an exponential moving average of the past online weights."),
    (r"\mathbb{E}[\text{age}] = \sum_{j \ge 0} j\,\tau\,(1-\tau)^j = \frac{1-\tau}{\tau} \approx \frac{1}{\tau}",
     "The target lags about $1/\\tau$ syncs behind. $\\tau = 1$ is a hard copy; the original DQN makes one every "
     "$C$ steps."),
    (r"\mathbb{E}[\text{age}_{\text{hard}}] = \frac{0 + 1 + \cdots + (C-1)}{C} = \frac{C-1}{2}",
     "A hard copy every $C$ syncs is $0$ syncs old right after a copy and $C-1$ just before the next: half the "
     "soft update's lag when $C = 1/\\tau$. It takes a copy every $\\approx 2/\\tau$ syncs to lag as much."),
])
plot_column, text_column = st.columns([3, 2], gap="large", vertical_alignment="center")
with text_column:
    sync = theory.sync_settings(config)
    tau_options = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]
    tau = st.select_slider("Soft update τ", tau_options, value=min(tau_options, key=lambda x: abs(x - sync.tau)),
                           key="theory_tau", help=f"{sync.describe()}.")
    demo = theory.soft_update_demo(tau)
    st.markdown(
        f"With τ = {tau:g} the target's weights are on average **{demo.mean_lag:.0f} syncs** old; weights older than "
        f"1/τ = {demo.copy_period} syncs still make up {demo.old_weight:.0%} of it (→ e⁻¹ ≈ 37% for small τ). "
        f"The amber hard copy every {demo.copy_period} syncs is on average **{demo.hard_mean_lag:.1f} syncs** old, "
        "half as much, but it jumps; with τ = 1 at every sync the target is the online network itself and holds "
        f"nothing still. {sync.describe()}."
    )
with plot_column:
    st.plotly_chart(soft_update_figure(demo.online, demo.soft, demo.hard, tau), width="stretch")
source(DQNAgent.td_target, "rlviz.agents.dqn.DQNAgent.td_target")
source(DQNAgent.learn, "rlviz.agents.dqn.DQNAgent.learn")
source(DQNAgent.sync_target, "rlviz.agents.dqn.DQNAgent.sync_target")

# 9 ------------------------------------------------------------------------------------------------
st.header("9. PPO: the clipped surrogate objective", divider="gray")
derivation([
    (r"\nabla_\theta J = \mathbb{E}_{\pi_\theta}\!\left[ \nabla_\theta \log \pi_\theta(a \mid s)\, A \right]",
     "The policy gradient: an expectation over the actions of the policy being trained. Once a gradient step "
     "changes $\\theta$, the rollout no longer comes from it, so A2C learns from each rollout once."),
    (r"\nabla_\theta J = \mathbb{E}_{\pi_\text{old}}\!\left[ \rho\, \nabla_\theta \log \pi_\theta(a \mid s)\, A \right]"
     r" = \mathbb{E}_{\pi_\text{old}}\!\left[ \nabla_\theta \rho\; A \right]",
     "Importance sampling: actions drawn by $\\pi_\\text{old}$, the policy that collected the rollout, weighted by "
     "$\\rho$, how much likelier $\\pi_\\theta$ makes them. Now one rollout can serve several gradient steps."),
    (r"L(\theta) = \mathbb{E}_{\pi_\text{old}}\!\left[ \rho_t\, \hat A_t \right], \qquad "
     r"\rho_t = \frac{\pi_\theta(a_t \mid s_t)}{\pi_\text{old}(a_t \mid s_t)}",
     "The surrogate objective whose gradient that is. At $\\theta = \\theta_\\text{old}$, $\\rho = 1$ and its gradient "
     "is the policy gradient itself."),
    (r"L^\text{CLIP}(\theta) = \mathbb{E}\!\left[ \min\!\left( \rho_t \hat A_t,\; "
     r"\operatorname{clip}(\rho_t, 1 - \epsilon, 1 + \epsilon)\, \hat A_t \right) \right]",
     "Pushed hard on the same data, $L$ drives $\\rho$ far from 1, where $\\hat A$, measured under $\\pi_\\text{old}$, no "
     "longer says anything. The clip stops the gain: at $1 + \\epsilon$ for a good action ($A > 0$), at $1 - \\epsilon$ "
     "for a bad one. The min keeps every change that makes things worse in full: a pessimistic bound."),
    (r"\frac{\partial L^\text{CLIP}_t}{\partial \theta} = 0 \quad \text{where the clip is active}",
     "A step whose ratio has left the region stops pushing; the others go on. The clip fraction (a diagnostic of "
     "every PPO run) is the share of such steps."),
    (r"\mathrm{KL}(\pi_\text{old} \,\|\, \pi_\theta) \approx \mathbb{E}_{\pi_\text{old}}\!\left[ (\rho - 1) - \log \rho "
     r"\right] \ \ge 0",
     "How far the policy moved, estimated from the same samples (the approximate KL diagnostic). With target_kl "
     "set, a rollout's remaining epochs are skipped once it passes 1.5 x target_kl."),
])
clip_whose, clip_of_run = theory.clip_settings(config)
plot_column, text_column = st.columns([3, 2], gap="large", vertical_alignment="center")
with text_column:
    clip_options = [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
    epsilon = st.select_slider("Clip range ε", clip_options, value=min(clip_options, key=lambda x: abs(x - clip_of_run)),
                               key="theory_clip", help=f"{clip_whose} uses ε = {clip_of_run:g}.")
    advantage = numbers.gae_advantage if abs(numbers.gae_advantage) > 1e-6 else 1.0
    clip = theory.clip_demo(config, advantage, epsilon)
    side = "good" if advantage > 0 else "bad"
    st.markdown(
        f"Row t = {row}'s advantage is **A = {advantage:.3f}** (GAE, λ = {lam:g}): a {side} action. Moving ρ "
        f"{'up' if advantage > 0 else 'down'} from 1 raises the objective until ρ = **{clip.flat_from:g}**, then the "
        "clipped line is flat: no gradient, however many epochs follow. Moving the other way counts in full. "
        f"{clip_whose} uses ε = {clip_of_run:g}."
    )
with plot_column:
    st.plotly_chart(clipped_objective_figure(clip.ratios, clip.unclipped, clip.clipped, epsilon, advantage), width="stretch")
with_numbers(f"row t = {row} (A = {advantage:.3f}, ε = {epsilon:g})", [
    rf"\rho = {ratio:g}:\quad \min\!\left({ratio:g} \times {term(advantage)},\ {clipped_ratio:g} \times {term(advantage)}\right)"
    rf" = {term(value)}" for ratio, clipped_ratio, value in clip.examples
])
source(clipped_surrogate, "rlviz.agents.actor_critic.clipped_surrogate")
source(ActorCriticAgent.gradient_step, "rlviz.agents.actor_critic.ActorCriticAgent.gradient_step", expanded=False)

# 10 -----------------------------------------------------------------------------------------------
st.header("10. Termination vs truncation", divider="gray")
derivation([
    (r"\mathrm{terminated}_t \;\Rightarrow\; G_{t+1} = 0 \;\Rightarrow\; y_t = r_t",
     "$s_{t+1}$ is terminal: the pole fell, the lander crashed. Nothing follows, so nothing is bootstrapped."),
    (r"\mathrm{truncated}_t \;\Rightarrow\; y_t = r_t + \gamma\, V(s_{t+1})",
     "A time limit cut the episode, but the task would go on: $\\mathbb{E}[G_{t+1}] = V^\\pi(s_{t+1})$, what the "
     "state is always worth. The limit is a fact about our training budget, not about the environment."),
    (r"y_t = r_t + \gamma\,(1 - \mathrm{terminated}_t)\, V(s_{t+1})",
     "So only terminated removes the bootstrap; truncated only stops a multi-step sum, because the next step "
     "belongs to a new episode."),
    (r"\mathrm{done}_t = \mathrm{terminated}_t \lor \mathrm{truncated}_t \;\Rightarrow\; y_t = r_t \ \ \text{(wrong)}",
     "The classic bug. The critic is told a state at the time limit is worth one reward, while the same state "
     "earlier is worth many; the time is not in the observation, so $V$ cannot fit both."),
])
done_targets = theory.worked_table(theory.with_done_as_terminal(trajectory), gamma, 1, lam)["n_step_target"]
td_targets = theory.worked_table(trajectory, gamma, 1, lam)["n_step_target"]
lines = []
for kind in ("terminated", "truncated"):
    flagged = table.index[table[kind]]
    if len(flagged):
        t = int(flagged[0])
        reward, next_value = trajectory.rewards[t], trajectory.next_values[t]
        if kind == "terminated":
            lines.append(rf"t = {t}\ (\text{{terminated}}):\quad y_{{{t}}} = {num(reward)} + {g} \times 0 \times "
                         rf"{term(next_value)} = {num(td_targets[t])}")
        else:
            lines.append(rf"t = {t}\ (\text{{truncated}}):\quad y_{{{t}}} = {num(reward)} + {g} \times "
                         rf"{term(next_value)} = {num(td_targets[t])} \qquad \text{{with done: }} "
                         rf"y_{{{t}}} = {num(done_targets[t])}")
if lines:
    with_numbers(f"the worked trajectory (γ = {g})", lines)
    st.caption("Targets from `n_step_targets(..., n=1)`; the wrong one passes done as terminated, as tutorial code "
               "with a bare `done` does.")
