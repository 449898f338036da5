"""The Theory page in AppTest: it renders its equations and a worked table whose numbers are
rlviz.returns outputs for the table's own inputs, and the sliders recompute them."""

from pathlib import Path

import numpy as np
import pytest
from apptest_helpers import shut_the_page_store
from streamlit.testing.v1 import AppTest

from rlviz.config import ALGOS, make_config
from rlviz.returns import gae, n_step_targets, td_errors
from rlviz.rundir import write_run, write_status
from rlviz.runs import RUNS_DIR_ENV, RunStore
from rlviz.theory import TABLE_COLUMNS
from rlviz.trainer import train

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "pages" / "theory.py")
SESSION = "browser-1"  # the id a browser keeps in its URL
TIMEOUT = 120  # the first run trains the example agent (a few seconds) and plays a few hundred episodes


def open_page(**session) -> AppTest:
    app = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    for key, value in session.items():
        app.session_state[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def worked_table(app: AppTest):
    [table] = [frame.value for frame in app.dataframe if list(frame.value.columns) == list(TABLE_COLUMNS)]
    return table


def assert_table_is_the_returns_output(table, gamma: float, n_steps: int, lam: float) -> None:
    """Recompute every derived column from the table's own inputs with rlviz.returns."""
    rewards, values, next_values = (table[name].to_numpy(float) for name in ("reward", "value", "next_value"))
    terminated, truncated = table["terminated"].to_numpy(bool), table["truncated"].to_numpy(bool)
    targets = n_step_targets(rewards, next_values, terminated, truncated, gamma, n_steps)
    deltas = td_errors(rewards, values, next_values, terminated, gamma)
    advantages = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    for name, expected in (("n_step_target", targets), ("n_step_advantage", targets - values), ("td_error", deltas),
                           ("gae_advantage", advantages)):
        np.testing.assert_allclose(table[name], expected, rtol=0, atol=1e-12, err_msg=name)


def bias_variance_charts(app: AppTest) -> list:
    return [chart for chart in app.get("plotly_chart") if "|bias|" in chart.proto.spec]


def latex_text(app: AppTest) -> str:
    return "\n".join(element.value for element in app.latex)


def test_the_page_renders_equations_table_and_plots():
    app = open_page()
    assert len(app.latex) >= 6
    table = worked_table(app)
    assert len(table) >= 10 and table["terminated"].any() and table["truncated"].any()
    assert "example A2C agent" in " ".join(info.value for info in app.info)
    headers = [header.value for header in app.header]
    assert any("Bias and variance" in header for header in headers)
    assert any("soft update" in header for header in headers)
    assert bias_variance_charts(app)
    code = [block.value for block in app.code]
    assert any(block.startswith("def n_step_targets(") for block in code)
    assert any(block.startswith("def gae(") for block in code)
    assert any(block.startswith("def td_errors(") for block in code)
    assert_table_is_the_returns_output(table, app.slider(key="theory_gamma").value, app.slider(key="theory_n").value,
                                       app.slider(key="theory_lambda").value)


def test_the_router_lists_and_opens_the_theory_page():
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    app.run()
    app.switch_page("pages/theory.py").run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Theory: the maths, with real numbers"
    assert len(app.latex) >= 6


def test_the_gamma_slider_changes_the_table_numbers():
    app = open_page()
    before = worked_table(app)
    app.slider(key="theory_gamma").set_value(0.9).run()
    assert not app.exception, app.exception
    after = worked_table(app)
    # Same play, new discount: the inputs stay, the targets move.
    np.testing.assert_array_equal(after["reward"], before["reward"])
    assert not np.allclose(after["n_step_target"], before["n_step_target"])
    assert not np.allclose(after["td_error"], before["td_error"])
    n_steps, lam = app.slider(key="theory_n").value, app.slider(key="theory_lambda").value
    assert_table_is_the_returns_output(after, 0.9, n_steps, lam)
    assert r"0.9\times" in latex_text(app)


def test_n_lambda_and_row_sliders_rewrite_the_sum():
    app = open_page()
    app.slider(key="theory_n").set_value(3)
    app.slider(key="theory_lambda").set_value(0.5)
    app.slider(key="theory_row").set_value(1).run()
    assert not app.exception, app.exception
    table = worked_table(app)
    assert_table_is_the_returns_output(table, app.slider(key="theory_gamma").value, 3, 0.5)
    text = latex_text(app)
    assert "G_{1}^{(3)} = r_{1} + \\gamma r_{2} + \\gamma^{2} r_{3}" in text
    # The written-out total is the table's target for that row.
    assert f"= {table['n_step_target'][1]:.3f}" in text


@pytest.fixture(params=["a2c", "dqn"])
def finished_run(request, tmp_path, monkeypatch):
    """A finished run in a fresh run store, as the Train page leaves it."""
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv("RLVIZ_MAX_WORKERS", "1")
    overrides = {"a2c": dict(n_envs=4), "dqn": dict(learning_starts=500)}.get(request.param, {})
    config = make_config(request.param, "CartPole-v1", total_steps=2_000, gamma=0.97, eval_episodes=0, **overrides)
    run_id = config.run_hash()
    run_dir = tmp_path / "runs" / run_id
    for _ in write_run(config, run_dir, train(config)):
        pass
    write_status(run_dir, state="finished", total_steps=config.total_steps)
    RunStore(tmp_path / "runs", max_workers=1).watch(run_id, SESSION)  # a run of this browser, as Train leaves it
    yield run_id, config
    shut_the_page_store()


def test_the_students_latest_finished_run_is_used(finished_run):
    run_id, config = finished_run
    app = open_page(sid=SESSION)
    choice = app.selectbox(key="theory_source")
    assert choice.value == run_id
    assert choice.options[0].startswith(f"Your run: {ALGOS[config.algo].short_name} · gamma 0.97")
    assert choice.options[1].startswith("Example")
    assert not app.info  # no "you have no run yet" note
    # The run's own settings start the sliders: its gamma, and the n and lambda of its estimator.
    # A2C bootstraps at the end of each 5-step rollout with lambda 1; DQN's target is one-step, without lambda.
    n_steps, lam = (5, 1.0) if config.algo == "a2c" else (1, 0.95)
    assert app.slider(key="theory_gamma").value == pytest.approx(0.97)
    assert app.slider(key="theory_n").value == n_steps
    assert app.slider(key="theory_lambda").value == lam
    table = worked_table(app)
    assert_table_is_the_returns_output(table, 0.97, n_steps, lam)
    assert "These are your run's settings" in text(app)
    if config.algo == "dqn":
        assert "max_a Q(s, a)" in " ".join(caption.value for caption in app.caption)
        # One-step targets with V = max_a Q (the target network is the saved online one): the n = 1 column.
        np.testing.assert_allclose(table["trained_on"], table["n_step_target"], rtol=1e-5)


def text(app: AppTest) -> str:
    return "\n".join(element.value for element in [*app.markdown, *app.caption, *app.warning])


@pytest.mark.parametrize("finished_run", ["nstep-ac"], indirect=True)
def test_after_an_n_step_run_the_page_uses_its_n_and_its_targets_are_the_n_step_column(finished_run):
    _, config = finished_run
    assert (config.n_step_return, config.reward_scale) == (8, 0.01)
    app = open_page(sid=SESSION)
    assert app.slider(key="theory_n").value == 8
    table = worked_table(app)
    trained = table["trained_on"]
    learned = trained.notna().to_numpy()
    # Rows learned here have exactly the n = 8 column's target; the last rows of the segment, whose 8 rewards
    # are not all in yet, are empty, and say why.
    assert learned.sum() >= len(table) // 2 and not learned[np.argmin(learned):].any()
    np.testing.assert_allclose(trained[learned], table["n_step_target"][learned], rtol=1e-5)
    assert "learned in the next rollout, once its rewards exist" in text(app)
    # In env units: CartPole's rewards of 1, though the run learned from rewards times 0.01.
    assert (table["reward"] == 1.0).all()
    assert "in env units" in text(app)
    # Moving n changes the page's numbers, not what the run trained on, and the page says so.
    assert "now differ" not in text(app)
    app.slider(key="theory_n").set_value(3).run()
    assert not app.exception, app.exception
    moved = worked_table(app)
    assert "n to 3 (from 8): the numbers on this page now differ from what your run trained on" in text(app)
    np.testing.assert_array_equal(moved["trained_on"], trained)
    assert not np.allclose(moved["n_step_target"][learned], trained[learned])


@pytest.mark.parametrize("finished_run", ["td-ac"], indirect=True)
def test_after_a_td_run_the_page_uses_n_1_and_its_targets_are_the_td_targets(finished_run):
    app = open_page(sid=SESSION)
    assert app.slider(key="theory_n").value == 1
    assert app.slider(key="theory_lambda").value == 0.0
    table = worked_table(app)
    assert table["trained_on"].notna().all()  # a one-step target needs nothing after its own step
    np.testing.assert_allclose(table["trained_on"], table["n_step_target"], rtol=1e-5)
    app.slider(key="theory_lambda").set_value(0.5).run()
    assert "λ to 0.5 (from 0): the numbers on this page now differ" in text(app)


@pytest.mark.parametrize("finished_run", ["a2c"], indirect=True)
def test_a_policy_that_never_fails_gets_no_plot_of_zeros_but_the_example_agent(finished_run, monkeypatch):
    import streamlit as st

    from rlviz import theory

    class Balancer:
        """Never drops the pole: every episode pays the same rewards."""

        rng = np.random.default_rng(0)

        def act(self, obs, env_step):
            return (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)

        def state_values(self, obs):
            return 20.0 - 40.0 * np.abs(obs[:, 2])

    steady = theory.study_rollouts(Balancer(), "CartPole-v1", starts=2, rollouts_per_start=3, max_steps=30)
    monkeypatch.setattr(theory, "study_rollouts", lambda *args, **kwargs: steady)
    st.cache_data.clear()  # the page caches its rollouts per source
    app = open_page(sid=SESSION)
    notes = " ".join(info.value for info in app.info)
    assert "never fails" in notes and "no spread" in notes
    assert not bias_variance_charts(app)
    app.button(key="theory_use_example").click().run()
    assert not app.exception, app.exception
    assert app.selectbox(key="theory_source").value == "example"
    st.cache_data.clear()


def test_the_ppo_section_draws_the_learners_clipped_objective_and_follows_the_clip_slider():
    app = open_page()
    assert any("PPO: the clipped surrogate objective" in header.value for header in app.header)
    assert any(block.value.startswith("def clipped_surrogate(") for block in app.code)
    clip = app.select_slider(key="theory_clip")
    assert clip.value == 0.2  # the example is an A2C agent: PPO's preset clip range
    text = latex_text(app)
    assert r"\rho = 1.2" in text or r"\rho = 0.8" in text
    clip.set_value(0.1).run()
    assert not app.exception, app.exception
    text = latex_text(app)
    assert r"\rho = 1.1" in text or r"\rho = 0.9" in text
    charts = [chart for chart in app.get("plotly_chart") if "ratio" in chart.proto.spec and "clip(" in chart.proto.spec]
    assert charts and "[0.9, 1.1]" in charts[0].proto.spec
