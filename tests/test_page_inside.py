"""The Inside the agent page: pick a checkpoint and a step, and the frame and the numbers follow."""

import pytest
from apptest_helpers import open_page, shut_the_page_store

from rlviz.config import make_config
from rlviz.inside import episode_trace, run_checkpoints
from rlviz.plots import readable_number
from rlviz.rundir import write_run, write_status
from rlviz.theory import load_run_agent
from rlviz.trainer import train

PAGE = "pages/inside.py"


@pytest.fixture
def finished_run(runs_dir):
    """A finished a2c run in the app's run store, as the Train page leaves it: (run_id, run_dir)."""
    # Long enough that the last checkpoint balances the pole for a while: its episode has steps to scrub.
    config = make_config("a2c", "CartPole-v1", total_steps=60_000, seed=0, eval_episodes=0, stop_when_solved=False)
    run_dir = runs_dir / config.run_hash()
    for _ in write_run(config, run_dir, train(config)):
        pass
    write_status(run_dir, state="finished", env_steps=config.total_steps, total_steps=config.total_steps)
    yield config.run_hash(), run_dir
    shut_the_page_store()


def trace_at(run_dir, index):
    step, weights = run_checkpoints(run_dir)[index]
    config, agent = load_run_agent(run_dir, weights)
    return episode_trace(config, agent, step)


def tile(app, label):
    return next(metric.value for metric in app.metric if metric.label == label)


def step_slider(app):
    [slider] = [slider for slider in app.slider if slider.label == "Step t of the episode"]
    return slider


def frame(app):
    [image] = app.get("image")
    return image.value[0], image.captions[0]


def test_without_runs_the_page_says_where_to_get_one(runs_dir):
    app = open_page(PAGE)
    assert "Nothing to look inside yet" in app.info[0].value
    assert not app.select_slider


def test_a_checkpoint_and_a_step_choose_the_frame_and_the_numbers(finished_run):
    run_id, run_dir = finished_run
    app = open_page(PAGE)
    app.query_params["run"] = run_id
    app.run()
    assert not app.exception, app.exception
    checkpoint = app.select_slider(key=f"inside:{run_id}:checkpoint")
    assert len(checkpoint.options) == 21 and checkpoint.value == run_checkpoints(run_dir)[-1][0]  # the final weights first
    last = trace_at(run_dir, -1)
    assert last.length > 20
    assert any(f"lasted {last.length} steps" in text.value for text in app.markdown)
    assert tile(app, "V(s_t)") == readable_number(last.values[0])
    assert tile(app, "Return from t") == readable_number(last.returns_to_go[0])
    first_url, caption = frame(app)
    assert caption.startswith("s_0:")

    step_slider(app).set_value(15).run()  # a later step of the same episode
    assert not app.exception, app.exception
    url, caption = frame(app)
    assert caption.startswith("s_15:") and url != first_url
    for label, numbers in (("V(s_t)", last.values), ("Return from t", last.returns_to_go), ("TD error", last.td_errors),
                           ("Advantage", last.advantages), ("Target", last.targets)):
        assert tile(app, label) == readable_number(numbers[15]), label

    early = trace_at(run_dir, 1)  # an early checkpoint: another agent, another episode from the same start
    app.select_slider(key=f"inside:{run_id}:checkpoint").set_value(run_checkpoints(run_dir)[1][0]).run()
    assert not app.exception, app.exception
    assert any(f"Checkpoint at step {early.checkpoint_step:,}" in text.value for text in app.markdown)
    t = min(15, early.length - 1)  # the step stays where it was, within the shorter episode
    assert step_slider(app).value == t
    assert tile(app, "V(s_t)") == readable_number(early.values[t]) != readable_number(last.values[t])
    assert frame(app)[0] != url


def test_play_moves_the_step_on(finished_run):
    run_id, _ = finished_run
    app = open_page(PAGE)
    app.query_params["run"] = run_id
    app.run()
    app.button(key="inside:play").click().run()
    assert not app.exception, app.exception
    assert app.session_state["inside:playing"]
    assert step_slider(app).value > 0
    assert app.button(key="inside:play").label == "Pause"
