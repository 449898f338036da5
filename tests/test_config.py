import dataclasses

import pytest

from rlviz.config import ALGOS, ActorCriticConfig, ConfigError, DQNConfig, config_from_dict, field_spec, make_config, parse_value
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
    with pytest.raises(ConfigError, match="unknown algorithm 'ppo'"):
        make_config("ppo")
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
