import dataclasses

import pytest

from rlviz.config import (ALGOS, ActorCriticConfig, ConfigError, DQNConfig, changed_fields, config_from_dict,
                          config_from_query, config_to_query, field_spec, format_value, make_config, parse_value,
                          run_label)
from rlviz.envs import ENVS


@pytest.mark.parametrize("algo", list(ALGOS))
@pytest.mark.parametrize("env_id", list(ENVS))
def test_every_preset_is_valid_and_round_trips(algo, env_id):
    config = make_config(algo, env_id)
    assert config.algo == algo and config.env_id == env_id
    assert config_from_dict(config.to_dict()) == config
    for name in ALGOS[algo].sliders:
        assert field_spec(type(config), name).metadata["tunable"]


@pytest.mark.parametrize("config_class", [DQNConfig, ActorCriticConfig])
def test_every_field_documents_help_and_range(config_class):
    for f in dataclasses.fields(config_class):
        assert f.metadata["help"], f.name
        kind = type(f.default)
        if kind in (int, float) and f.metadata["tunable"]:
            assert f.metadata["low"] < f.metadata["high"], f.name


def test_presets_follow_the_tutorials():
    dqn = make_config("dqn", "LunarLander-v3")
    # The tutorial's network, soft target and buffer; its update schedule is sped up (see rlviz/config.py).
    assert (dqn.hidden_sizes, dqn.tau, dqn.buffer_size) == ((64, 64), 1e-3, 100_000)
    td_ac = make_config("td-ac")
    assert td_ac.shared_network and td_ac.n_steps == 10 and td_ac.gae_lambda == 0.0
    one_step = make_config("a2c-1step")
    assert one_step.n_steps == 1 and not one_step.shared_network and one_step.hidden_sizes == (128, 64)
    nstep = make_config("nstep-ac")
    assert nstep.hidden_sizes == (256, 256) and nstep.n_steps == 8 and nstep.gae_lambda == 1.0
    a2c = make_config("a2c")
    assert a2c.n_envs > 1 and a2c.n_steps == 5 and a2c.ent_coef > 0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"gamma": 1.5}, "gamma=1.5 is out of range: must be [0.8, 0.9999]"),
        ({"n_steps": 2.5}, "n_steps=2.5 is not an integer"),
        ({"learning_rate": float("nan")}, "learning_rate=nan is not a finite number"),
        ({"activation": "gelu"}, "activation='gelu' is not allowed: must be one of relu, tanh"),
        ({"hidden_sizes": (64, 0)}, "hidden_sizes=(64, 0) must be 1 to 4 layer widths"),
        ({"shared_network": 1}, "shared_network=1 is not a bool"),
        ({"tau": 0.5}, "unknown field 'tau' for a2c"),
    ],
)
def test_bad_values_name_the_field_value_and_range(overrides, message):
    with pytest.raises(ConfigError) as error:
        make_config("a2c", **overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_algorithm_and_env():
    with pytest.raises(ConfigError, match="unknown algorithm 'sarsa'"):
        make_config("sarsa")
    with pytest.raises(ConfigError, match="unknown env 'Pong'"):
        make_config("dqn", "Pong")


def test_parse_value_reads_command_line_text():
    assert parse_value(field_spec(DQNConfig, "buffer_size"), "1e5") == 100_000
    assert parse_value(field_spec(DQNConfig, "tau"), "0.005") == 0.005
    assert parse_value(field_spec(DQNConfig, "hidden_sizes"), "128,64") == (128, 64)
    assert parse_value(field_spec(DQNConfig, "stop_when_solved"), "true") is True
    with pytest.raises(ConfigError, match="batch_size='big' is not an integer"):
        parse_value(field_spec(DQNConfig, "batch_size"), "big")


def test_run_hash_covers_every_field_and_the_seed():
    base = make_config("dqn")
    assert base.run_hash() == make_config("dqn").run_hash()
    assert base.run_hash() != base.replace(seed=1).run_hash()
    assert base.run_hash() != base.replace(tau=0.01).run_hash()


def test_changed_fields_are_the_differences_from_the_preset_in_slider_order():
    config = make_config("dqn", "LunarLander-v3", hidden_sizes=(32,), tau=0.01, gamma=0.95, seed=3, learning_rate=1e-3)
    # Sliders first, in their display order (learning_rate, ..., gamma, ..., tau), then the other fields; no seed.
    assert changed_fields(config) == {"learning_rate": 1e-3, "gamma": 0.95, "tau": 0.01, "hidden_sizes": (32,)}
    assert changed_fields(make_config("a2c", "LunarLander-v3", seed=9)) == {}
    # The preset's own value is not a change, even where it differs from the dataclass default.
    assert changed_fields(make_config("a2c", "LunarLander-v3", gamma=0.999)) == {}


@pytest.mark.parametrize("config, label", [
    (make_config("a2c", gamma=0.9, learning_rate=1e-3), "A2C · lr 1e-3 · gamma 0.9 · seed 0"),
    (make_config("dqn", "LunarLander-v3", seed=1), "DQN · LunarLander-v3 · seed 1"),
    (make_config("td-ac", total_steps=200_000, stop_when_solved=False), "TD actor-critic · steps 200k · stop when solved off · seed 0"),
    (make_config("nstep-ac", seed=123_456, hidden_sizes=(64, 32)), "N-step AC · layers 64-32 · seed 123456"),
    (make_config("dqn", learning_rate=2.5e-4, gamma=0.9, total_steps=1_500_000, tau=0.01, batch_size=64,
                 exploration_final_eps=0.1), "DQN · lr 2.5e-4 · gamma 0.9 · steps 1.5M · tau 0.01 · +2 more · seed 0"),
    (make_config("a2c-1step", ent_coef=0.001), "One-step A2C · entropy 1e-3 · seed 0"),
])
def test_run_label_names_the_algorithm_the_changed_settings_and_the_seed(config, label):
    assert run_label(config) == label


@pytest.mark.parametrize("name, value, text", [
    ("learning_rate", 1e-3, "1e-3"), ("learning_rate", 8.3e-4, "8.3e-4"), ("tau", 0.005, "5e-3"), ("gamma", 0.9999, "0.9999"),
    ("ent_coef", 0.0, "0"), ("max_grad_norm", 10.0, "10"), ("total_steps", 200_000, "200k"), ("total_steps", 1_000_000, "1M"),
    ("buffer_size", 2_500, "2.5k"), ("total_steps", 1_234, "1,234"), ("n_envs", 32, "32"), ("seed", 20_000, "20000"),
    ("shared_network", True, "on"), ("hidden_sizes", (128, 64), "128-64"), ("activation", "tanh", "tanh"),
])
def test_format_value_is_short(name, value, text):
    assert format_value(name, value) == text


@pytest.mark.parametrize("algo", list(ALGOS))
def test_a_config_survives_its_query_string(algo):
    config = make_config(algo, "LunarLander-v3", gamma=0.93, learning_rate=3.3e-4, total_steps=123_000, seed=5,
                         hidden_sizes=(32, 16), stop_when_solved=True, activation="tanh", lr_schedule="linear")
    query = config_to_query(config)
    assert list(query)[:2] == ["algo", "env_id"] and all(isinstance(text, str) for text in query.values())
    assert config_from_query(query) == (config, [])
    assert config_to_query(make_config(algo)) == {"algo": algo, "env_id": "CartPole-v1"}, "a preset is just its names"


def test_config_to_query_names_only_what_differs_from_the_preset():
    assert config_to_query(make_config("dqn", gamma=0.95, tau=0.01, seed=2)) == {
        "algo": "dqn", "env_id": "CartPole-v1", "gamma": "0.95", "seed": "2", "tau": "0.01"}


def test_config_from_query_falls_back_to_the_preset_for_each_bad_parameter():
    config, problems = config_from_query({"algo": "dqn", "gamma": "5", "tau": "often", "n_steps": "8", "batch_size": "64",
                                          "sid": "browser-1", "run": "abc123"})
    assert config == make_config("dqn", batch_size=64)
    assert problems == [
        "The link's gamma=5.0 is out of range: must be [0.8, 0.9999]; using the preset's 0.99.",
        "The link's tau='often' is not a number; using the preset's 5e-3.",
        "The link's n_steps=8 is not a setting of DQN; ignoring it.",
    ]


def test_config_from_query_with_an_unknown_algorithm_or_env_uses_the_defaults():
    assert config_from_query({}) == (make_config("a2c", "CartPole-v1"), [])
    config, problems = config_from_query({"algo": "nope", "env_id": "Pong", "gamma": "0.9"})
    assert config == make_config("a2c", "CartPole-v1", gamma=0.9)
    assert problems == [
        "The link's algo=nope is unknown: must be one of dqn, td-ac, a2c-1step, nstep-ac, a2c, ppo; using a2c.",
        "The link's env_id=Pong is unknown: must be one of CartPole-v1, LunarLander-v3; using CartPole-v1.",
    ]
