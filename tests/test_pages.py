"""Every page renders in AppTest; the Train page trains a tiny run end to end."""

import json
import time

from streamlit.testing.v1 import AppTest

from rlviz.config import make_config
from tests.apptest_helpers import open_page


def test_home_renders():
    app = open_page("pages/home.py")
    text = " ".join(m.value for m in app.markdown)
    assert "How to read a learning curve" in " ".join(h.value for h in app.subheader)
    assert "moving average of the last 100 episodes" in text


def test_train_page_shows_only_the_sliders_of_the_chosen_algorithm(runs_dir):
    app = open_page("pages/train.py")
    algo = app.selectbox(key="algo")
    assert algo.options == ["DQN (soft target)", "TD Actor-Critic", "One-step A2C", "N-step Actor-Critic", "A2C (parallel envs)",
                            "PPO (clipped surrogate)"]
    labels = {w.label for w in [*app.slider, *app.select_slider]}
    assert {"Parallel envs", "Rollout length (steps per update)", "Entropy coefficient", "Discount gamma"} <= labels
    assert "Soft update tau" not in labels
    algo.set_value("dqn").run()
    labels = {w.label for w in [*app.slider, *app.select_slider]}
    assert {"Soft update tau", "Final epsilon", "Replay buffer size"} <= labels
    assert "Entropy coefficient" not in labels
    assert app.select_slider(key="hp:dqn:CartPole-v1:tau").value == make_config("dqn", "CartPole-v1").tau
    assert len(app.latex) >= 1 and "max_{a'}" in app.latex[0].value
    algo.set_value("ppo").run()
    labels = {w.label for w in [*app.slider, *app.select_slider]}
    assert {"Clip range", "Epochs per rollout", "Minibatch size", "Target KL", "GAE lambda"} <= labels
    assert "Value-loss coefficient" not in labels, "separate networks: vf_coef does nothing"
    assert app.slider(key="hp:ppo:CartPole-v1:clip_range").value == 0.2
    assert any(r"\operatorname{clip}" in latex.value for latex in app.latex)


def _press(app: AppTest, label: str) -> None:
    next(button for button in app.button if button.label == label).click().run()


def _wait_until(app: AppTest, done, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.run()
        assert not app.exception, app.exception
        if done(app):
            return
        time.sleep(0.5)
    raise AssertionError("the page did not reach the expected state in time")


def test_a_tiny_run_trains_and_shows_its_curve_and_videos_then_comes_back_cached(runs_dir):
    app = open_page("pages/train.py")
    app.select_slider(key="hp:a2c:CartPole-v1:total_steps").set_value(2_000).run()
    app.select_slider(key="hp:a2c:CartPole-v1:n_envs").set_value(4).run()
    assert app.select_slider(key="hp:a2c:CartPole-v1:n_envs").value == 4
    _press(app, "Train")
    _wait_until(app, lambda a: len(a.get("video")) == 4)
    assert len(app.get("plotly_chart")) == 1, "only the reward curve: the diagnostics panel is closed"
    assert any("Solved at step" == m.label for m in app.metric)
    assert [c.value for c in app.caption if c.value.startswith("step 0 (0%)")], "the first video is labelled"
    run_dirs = list(runs_dir.glob("[!.]*"))
    assert len(run_dirs) == 1 and (run_dirs[0] / "summary.json").exists()
    # The finished run leads inside the agent: its checkpoints on their own page.
    app.button(key=f"inside:{run_dirs[0].name}").click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Inside the agent"
    assert any(text.value.startswith("**Checkpoint at step 2,0") for text in app.markdown)  # the last vector step
    app.switch_page("pages/train.py").run()

    # Opening the diagnostics panel builds its charts and the latest value of each metric.
    app.session_state[f"diagnostics:{run_dirs[0].name}"] = True
    app.run()
    assert len(app.get("plotly_chart")) == 2
    assert {"Actor loss", "Policy entropy", "Gradient norm"} <= {m.label for m in app.metric}

    # The same settings again: served from disk at once, and marked so.
    started = time.monotonic()
    _press(app, "Train")
    assert time.monotonic() - started < 5
    assert any("cached" in m.value for m in app.markdown)
    assert len(app.get("video")) == 4


def test_the_download_bundle_holds_the_whole_run(runs_dir):
    import io
    import zipfile

    from rlviz.runs import RunStore, bundle_zip

    store = RunStore(runs_dir, max_workers=1)
    try:
        run_id = store.submit(make_config("a2c", total_steps=1_000, n_envs=4, eval_episodes=1)).run_id
        _wait_until_done(store, run_id)
        names = zipfile.ZipFile(io.BytesIO(bundle_zip(store.run_dir(run_id)))).namelist()
    finally:
        store.shutdown()
    assert {f"{run_id}/{name}" for name in ("config.json", "episodes.csv", "summary.json", "model.pt")} <= set(names)
    assert len([name for name in names if name.endswith(".mp4")]) == 4


def _wait_until_done(store, run_id, seconds=90):
    deadline = time.monotonic() + seconds
    while not store.status(run_id).done:
        assert time.monotonic() < deadline, "the run did not finish in time"
        time.sleep(0.2)
    assert store.status(run_id).state == "finished"


def _live_curve_of_a_long_run(run_dir: str):
    from rlviz.config import make_config
    from rlviz.feeds import RunFeed
    from rlviz.ui.run_view import LIVE_MAX_POINTS, _curve

    _curve(RunFeed(run_dir).refresh(), make_config("a2c", "CartPole-v1"), "run", max_points=LIVE_MAX_POINTS)


def test_a_long_live_curve_draws_every_kth_dot_and_says_so(tmp_path):
    import base64

    import numpy as np

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_text("".join(json.dumps(dict(kind="episode", env_step=50 * i, episode=i,
                                                                  episode_return=float(i % 7), wall_seconds=i / 10))
                                                  + "\n" for i in range(1, 1_201)))
    app = AppTest.from_function(_live_curve_of_a_long_run, args=(str(run_dir),)).run()
    assert not app.exception, app.exception
    x = json.loads(app.get("plotly_chart")[0].proto.spec)["data"][0]["x"]  # Plotly sends arrays as typed binary
    steps = np.frombuffer(base64.b64decode(x["bdata"]), dtype=x["dtype"])
    assert list(steps[:3]) == [50, 200, 350] and len(steps) == 401  # episodes 1, 4, 7, ..., 1,198 and the newest
    assert [c.value for c in app.caption] == [
        "1,200 episodes: the dots show every 3rd one, to keep the chart quick to draw; the mean line averages all of them."]
