"""The Compare page in AppTest: it renders, refuses bad input, and runs a tiny 2 x 2 comparison to the end."""

import json
import time

from streamlit.testing.v1 import AppTest

from apptest_helpers import open_page, run_until_progress

PAGE = "pages/compare.py"


def open_compare() -> AppTest:
    return open_page(PAGE)


def button(app: AppTest, label: str):
    return next(b for b in app.button if b.label == label)


def test_page_renders_with_seeds_ready_made_comparisons_and_two_configurations(runs_dir):
    app = open_compare()
    assert app.title[0].value == "Compare configurations"
    seeds = app.number_input(key="cmp:seeds")
    assert seeds.label == "Seeds per configuration" and seeds.value == 3 and seeds.max == 5
    labels = [b.label for b in app.button]
    assert "n-step returns: n = 1 vs 5 vs 20" in labels and "Every algorithm on CartPole-v1" in labels
    assert app.selectbox(key="cmp:0:algo").value == "dqn" and app.selectbox(key="cmp:1:algo").value == "a2c"
    headers = [m.value for m in app.markdown if m.value.startswith(":")]
    assert headers == [":blue[**1. DQN (soft target)**]", ":orange[**2. A2C (parallel envs)**]"]
    assert not button(app, "Run comparison").disabled
    assert "Start a ready-made comparison" in app.info[0].value


def test_bad_inputs_get_a_clear_message_and_no_run(runs_dir):
    app = open_compare()
    # Two identical configurations compare nothing.
    app.selectbox(key="cmp:0:algo").set_value("a2c").run()
    assert any("Configurations 1 and 2 are identical" in w.value for w in app.warning)
    assert button(app, "Run comparison").disabled
    # Fewer than two configurations.
    next(b for b in app.button if b.key == "cmp:1:remove").click().run()
    assert any("at least 2 configurations" in w.value for w in app.warning)
    assert button(app, "Run comparison").disabled
    button(app, "Add a configuration").click().run()
    assert len([box for box in app.selectbox if box.label in ("Algorithm", "Environment")]) == 4  # two slots
    assert any("identical" in w.value for w in app.warning)  # the new slot is the A2C preset again
    app.select_slider(key="cmp:2:a2c:CartPole-v1:n_envs").set_value(4).run()
    assert not app.warning and not button(app, "Run comparison").disabled
    assert not runs_dir.exists() or not list(runs_dir.glob("[!.]*")), "nothing was trained"


def test_a_tiny_comparison_runs_to_the_end_with_both_curves_and_the_table(runs_dir):
    app = open_compare()
    app.number_input(key="cmp:seeds").set_value(2).run()
    app.selectbox(key="cmp:0:algo").set_value("a2c").run()
    for slot, n_envs in ((0, 4), (1, 8)):
        app.select_slider(key=f"cmp:{slot}:a2c:CartPole-v1:total_steps").set_value(1_000).run()
        app.select_slider(key=f"cmp:{slot}:a2c:CartPole-v1:n_envs").set_value(n_envs).run()
    labels = ["A2C (parallel envs) · n_envs=4", "A2C (parallel envs) · n_envs=8"]
    assert [m.value for m in app.markdown if m.value.startswith(":")][:2] == [f":blue[**1. {labels[0]}**]",
                                                                             f":orange[**2. {labels[1]}**]"]
    assert any("4 runs (2 configurations × 2 seeds), 4,000 env steps in all" in c.value for c in app.caption)

    button(app, "Run comparison").click().run()
    assert not app.exception, app.exception
    assert "of 4 runs done" in app.get("progress")[0].proto.text

    run_until_progress(app, "4 of 4 runs done", 180, "the comparison")

    assert not app.error, [e.value for e in app.error]
    spec = json.loads(app.get("plotly_chart")[0].proto.spec)
    names = [trace.get("name") for trace in spec["data"]]
    for label in labels:
        assert label in names, names  # the mean curve
        assert f"{label} (95% bootstrap CI)" in names, names  # its band
    mean_trace = next(trace for trace in spec["data"] if trace.get("name") == labels[0])
    assert mean_trace["x"], "the mean curve has points"

    table = app.dataframe[0].value
    assert list(table["Configuration"]) == labels
    assert list(table["Seeds finished"]) == ["2 / 2", "2 / 2"]
    assert all("[" in cell for cell in table["Final return, mean (95% CI)"])
    downloads = [b.label for b in app.get("download_button")]
    assert downloads == ["Episodes of every run (CSV)", "Mean curves and bands (CSV)"]
    assert len([path for path in runs_dir.iterdir() if (path / "summary.json").exists()]) == 4

    # The same comparison again: every run comes back from the cache at once.
    started = time.monotonic()
    button(app, "Run comparison").click().run()
    assert time.monotonic() - started < 10
    assert app.get("progress")[0].proto.text == "4 of 4 runs done · 0 running · 0 queued · 4 from the cache"


def test_add_my_last_train_run_copies_its_settings(runs_dir):
    from rlviz.config import make_config

    app = open_compare()
    assert button(app, "Add my last Train run").disabled, "no Train run yet"
    trained = make_config("a2c", "CartPole-v1", n_envs=4, ent_coef=0.05, seed=7)
    (runs_dir / "abc123def").mkdir(parents=True)
    (runs_dir / "abc123def" / "config.json").write_text(json.dumps(trained.to_dict()))
    app.session_state["current_run"] = "abc123def"  # what the Train page leaves behind
    app.run()
    button(app, "Add my last Train run").click().run()
    assert not app.exception, app.exception
    assert app.select_slider(key="cmp:2:a2c:CartPole-v1:n_envs").value == 4
    assert app.slider(key="cmp:2:a2c:CartPole-v1:ent_coef").value == 0.05
    headers = [m.value for m in app.markdown if m.value.startswith(":")]
    assert headers[2] == ":green[**3. your run abc123 (A2C (parallel envs))**]"
    assert any("changed from the preset: n_envs=4, ent_coef=0.05" in c.value for c in app.caption)


def test_a_ready_made_comparison_starts_with_one_click_and_can_be_stopped(runs_dir):
    app = open_compare()
    app.number_input(key="cmp:seeds").set_value(1).run()
    button(app, "DQN target: tau = 0.001 vs 0.01 vs 1").click().run()
    assert not app.exception, app.exception
    headers = [m.value for m in app.markdown if m.value.startswith(":")]
    assert headers == [":blue[**1. tau = 0.001**]", ":orange[**2. tau = 0.01**]", ":green[**3. tau = 1**]"]
    assert app.select_slider(key="cmp:4:dqn:CartPole-v1:tau").value == 1.0
    assert "of 3 runs done" in app.get("progress")[0].proto.text
    # 50,000 steps each is a class exercise, not a test: stop at once.
    button(app, "Stop").click().run()
    deadline = time.monotonic() + 60
    while not app.get("progress")[0].proto.text.startswith("3 of 3 runs done"):
        assert time.monotonic() < deadline, app.get("progress")[0].proto.text
        time.sleep(0.5)
        app.run()
    app.run()
    assert any("Some runs were stopped" in i.value for i in app.info)
    assert list(app.dataframe[0].value["Seeds finished"]) == ["0 / 1"] * 3
