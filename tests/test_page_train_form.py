"""The Train page's form keeps its state for the session, and its configuration travels in the URL."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rlviz.config import make_config

APP = Path(__file__).resolve().parent.parent / "app.py"
PRESET = make_config("dqn", "CartPole-v1")


def open_train(link: dict[str, str] | None = None) -> AppTest:
    """The Train page as a browser opens it from a link with ``link`` in its query string."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.query_params.update(link or {})
    app.run()
    app.switch_page("pages/train.py").run()
    assert not app.exception, app.exception
    return app


def switch_to(app: AppTest, page: str) -> None:
    app.query_params.clear()  # a browser clears the query string on a page switch; AppTest does not
    app.switch_page(page).run()
    assert not app.exception, app.exception


def hp(app: AppTest, name: str, algo: str = "dqn", env_id: str = "CartPole-v1"):
    return app.get_by_key(f"hp:{algo}:{env_id}:{name}")


def link_messages(app: AppTest) -> list[str]:
    return [element.value for element in [*app.warning, *app.error] if "link" in element.value]


def config_params(app: AppTest) -> dict[str, str]:
    """The URL's query, without the browser id that other code keeps there."""
    return {name: value for name, value in app.query_params.items() if name not in ("sid", "run")}


def test_a_link_opens_train_with_its_settings(runs_dir):
    app = open_train({"algo": "dqn", "env_id": "CartPole-v1", "gamma": "0.95", "tau": "0.01"})
    assert app.selectbox(key="algo").value == "dqn" and app.selectbox(key="env_id").value == "CartPole-v1"
    assert (hp(app, "gamma").value, hp(app, "tau").value) == (0.95, 0.01)
    assert hp(app, "batch_size").value == PRESET.batch_size
    assert link_messages(app) == []
    assert config_params(app) == {"algo": "dqn", "env_id": "CartPole-v1", "gamma": "0.95", "tau": "0.01"}


def test_a_link_value_between_the_slider_ticks_is_shown_and_selectable(runs_dir):
    app = open_train({"algo": "dqn", "gamma": "0.93", "total_steps": "123000"})
    assert hp(app, "gamma").value == 0.93 and hp(app, "total_steps").value == 123_000
    assert "0.93" in hp(app, "gamma").options and "0.99" in hp(app, "gamma").options  # the preset stays on the slider
    assert "123k" in hp(app, "total_steps").options
    hp(app, "gamma").set_value(0.95).run()
    assert hp(app, "gamma").value == 0.95 and config_params(app)["gamma"] == "0.95"


@pytest.mark.parametrize("link, named, widget, preset_value", [
    ({"algo": "dqn", "gamma": "5"}, "gamma=5", "hp:dqn:CartPole-v1:gamma", 0.99),
    ({"algo": "dqn", "tau": "often"}, "tau='often' is not a number", "hp:dqn:CartPole-v1:tau", PRESET.tau),
    ({"algo": "nope"}, "algo=nope", "algo", "a2c"),
    ({"algo": "dqn", "env_id": "Pong"}, "env_id=Pong", "env_id", "CartPole-v1"),
    ({"algo": "a2c", "tau": "0.01"}, "tau=0.01 is not a setting of A2C", "hp:a2c:CartPole-v1:gamma", 0.99),
])
def test_a_bad_link_parameter_shows_one_message_naming_it_and_uses_the_preset(runs_dir, link, named, widget, preset_value):
    app = open_train(link)
    messages = link_messages(app)
    assert len(messages) == 1 and named in messages[0], messages
    assert app.get_by_key(widget).value == preset_value
    bad_name = named.split("=")[0]
    assert bad_name in ("algo", "env_id") or bad_name not in config_params(app), "the bad value leaves the URL"
    app.run()  # once applied, the link is the widgets' business: no message again
    assert link_messages(app) == [] and not app.exception


def test_values_survive_a_switch_to_another_page_and_back(runs_dir):
    app = open_train()
    app.selectbox(key="algo").set_value("dqn").run()
    app.selectbox(key="env_id").set_value("LunarLander-v3").run()
    hp(app, "tau", env_id="LunarLander-v3").set_value(0.01).run()
    hp(app, "stop_when_solved", env_id="LunarLander-v3").set_value(False).run()
    switch_to(app, "pages/home.py")
    switch_to(app, "pages/train.py")
    assert (app.selectbox(key="algo").value, app.selectbox(key="env_id").value) == ("dqn", "LunarLander-v3")
    assert hp(app, "tau", env_id="LunarLander-v3").value == 0.01
    assert hp(app, "stop_when_solved", env_id="LunarLander-v3").value is False
    assert config_params(app) == {"algo": "dqn", "env_id": "LunarLander-v3", "stop_when_solved": "false", "tau": "0.01"}


def test_switching_algorithm_and_back_keeps_each_algorithms_values(runs_dir):
    app = open_train()
    hp(app, "gamma", algo="a2c").set_value(0.95).run()
    hp(app, "ent_coef", algo="a2c").set_value(0.05).run()
    app.selectbox(key="algo").set_value("dqn").run()
    assert hp(app, "gamma").value == PRESET.gamma, "another algorithm starts from its own preset"
    hp(app, "gamma").set_value(0.9).run()
    app.selectbox(key="algo").set_value("a2c").run()
    assert (hp(app, "gamma", algo="a2c").value, hp(app, "ent_coef", algo="a2c").value) == (0.95, 0.05)
    assert config_params(app) == {"algo": "a2c", "env_id": "CartPole-v1", "gamma": "0.95", "ent_coef": "0.05"}
    app.selectbox(key="algo").set_value("dqn").run()
    assert hp(app, "gamma").value == 0.9


def test_reset_to_the_preset_resets_the_form_and_the_link(runs_dir):
    app = open_train({"algo": "dqn", "gamma": "0.95", "seed": "7"})
    hp(app, "tau").set_value(0.01).run()
    next(button for button in app.button if button.label == "Reset to the preset").click().run()
    assert (hp(app, "gamma").value, hp(app, "tau").value, hp(app, "seed").value) == (PRESET.gamma, PRESET.tau, 0)
    assert app.selectbox(key="algo").value == "dqn", "the reset keeps the algorithm"
    assert config_params(app) == {"algo": "dqn", "env_id": "CartPole-v1"}


def _form_with_a_load_button() -> None:
    """The Train page's form, and a button below it that loads a finished run's settings."""
    import streamlit as st

    from rlviz.config import ALGOS, make_config
    from rlviz.envs import ENVS
    from rlviz.ui.config_form import ALGO_KEY, ENV_KEY, config_form, load_into_form, prepare_form, write_link

    for problem in prepare_form():
        st.warning(problem)
    algo = st.selectbox("Algorithm", list(ALGOS), key=ALGO_KEY, persist_state="session")
    env_id = st.selectbox("Environment", list(ENVS), key=ENV_KEY, persist_state="session")
    write_link(config_form(algo, env_id))
    if st.button("Load"):
        load_into_form(make_config("td-ac", "LunarLander-v3", gamma=0.93, learning_rate=1e-3, hidden_sizes=(32,)))
        st.rerun()


def test_a_run_loaded_below_the_form_fills_it_and_the_link():
    app = AppTest.from_function(_form_with_a_load_button, default_timeout=60)
    app.query_params["sid"] = "browser-1"
    app.run()
    next(button for button in app.button if button.label == "Load").click().run()
    assert not app.exception, app.exception
    assert (app.selectbox(key="algo").value, app.selectbox(key="env_id").value) == ("td-ac", "LunarLander-v3")
    assert hp(app, "gamma", "td-ac", "LunarLander-v3").value == 0.93
    assert hp(app, "learning_rate", "td-ac", "LunarLander-v3").value == 1e-3
    assert [w.value for w in app.warning] == [
        "The loaded run's hidden_sizes=32 cannot be set on this page; using the preset's 256."]
    assert dict(app.query_params) == {"sid": "browser-1", "algo": "td-ac", "env_id": "LunarLander-v3",
                                      "learning_rate": "0.001", "gamma": "0.93"}
