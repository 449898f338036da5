"""Time estimates before the click: from earlier runs fed in (never from this machine's speed), or the table."""

import json

import pytest

from rlviz.config import make_config
from rlviz.estimate import (MEASURED_SOLVE_STEPS, MEASURED_STEPS_PER_SECOND, EarlierRun, earlier_run_from_summary, estimate_comparison,
                            estimate_run, format_duration, run_time_note, schedule_seconds, waiting_note)


def earlier(algo="dqn", env_id="CartPole-v1", steps_per_second=1_000.0, env_steps=100_000, solved_at_step=None,
            **changes) -> EarlierRun:
    settings = json.loads(json.dumps(make_config(algo, env_id, **changes).to_dict()))  # as read from summary.json
    return EarlierRun(algo, env_id, settings, env_steps, steps_per_second, solved_at_step)


@pytest.mark.parametrize("seconds, text", [
    (0.4, "less than a second"), (1, "about 1 s"), (7.4, "about 7 s"), (42, "about 40 s"), (58, "about 1 min"),
    (100, "about 1 min 40 s"), (183, "about 3 min"), (595, "about 10 min"), (1_530, "about 26 min"),
    (3_590, "about 1 h"), (4_150, "about 1 h 10 min"), (7_300, "about 2 h"),
])
def test_durations_read_the_way_people_say_them(seconds, text):
    assert format_duration(seconds) == text


def test_the_speed_is_the_median_of_earlier_runs_with_these_settings():
    config = make_config("dqn", "CartPole-v1", total_steps=100_000, seed=3, stop_when_solved=False)
    runs = [earlier(steps_per_second=speed, seed=seed, total_steps=50_000) for seed, speed in ((0, 900), (1, 1_000), (2, 2_000))]
    runs.append(earlier(steps_per_second=50.0, batch_size=1_024))  # other settings: ignored while these settings have runs
    estimate = estimate_run(config, runs)
    assert (estimate.source, estimate.earlier_runs, estimate.steps_per_second) == ("settings", 3, 1_000)
    assert estimate.expected_seconds == estimate.full_seconds == 100
    assert estimate.headline() == "about 1 min 40 s"
    assert estimate.basis() == "From 3 earlier runs with these settings on this server: 1,000 env steps/s (median)."


def test_other_settings_of_the_same_algorithm_and_env_come_next():
    config = make_config("dqn", "CartPole-v1", total_steps=40_000, batch_size=256, stop_when_solved=False)
    runs = [earlier(steps_per_second=500.0), earlier(steps_per_second=300.0, tau=0.01),
            earlier("a2c", steps_per_second=20_000.0), earlier("dqn", "LunarLander-v3", steps_per_second=9_000.0)]
    estimate = estimate_run(config, runs)
    assert (estimate.source, estimate.earlier_runs, estimate.steps_per_second) == ("algo", 2, 400)
    assert estimate.headline() == "about 1 min 40 s"
    assert "2 earlier runs of DQN on CartPole-v1 on this server, with other settings: 400 env steps/s" in estimate.basis()


def test_without_earlier_runs_the_measured_table_says_it_is_not_this_server():
    config = make_config("ppo", "LunarLander-v3", total_steps=200_000)
    estimate = estimate_run(config, [earlier("ppo", "CartPole-v1")])
    speed = MEASURED_STEPS_PER_SECOND[("ppo", "LunarLander-v3")]
    assert (estimate.source, estimate.earlier_runs, estimate.steps_per_second) == ("table", 0, speed)
    assert estimate.full_seconds == pytest.approx(200_000 / speed)
    assert "from a table measured on a 2-core VM on 2026-11-29, not on this server" in estimate.basis()


def test_every_preset_has_a_measured_speed():
    from rlviz.config import ALGOS
    from rlviz.envs import ENVS

    assert set(MEASURED_STEPS_PER_SECOND) == {(algo, env_id) for algo in ALGOS for env_id in ENVS}
    assert all(speed > 0 for speed in MEASURED_STEPS_PER_SECOND.values())


def test_a_run_that_stops_when_solved_takes_the_median_solve_step():
    config = make_config("dqn", "CartPole-v1", total_steps=100_000, stop_when_solved=True)
    runs = [earlier(solved_at_step=20_000, env_steps=20_000, stop_when_solved=True),
            earlier(solved_at_step=25_000, env_steps=100_000),  # solved without stopping: it tells as much
            earlier(solved_at_step=30_000, env_steps=30_000, stop_when_solved=True),
            earlier(solved_at_step=None, env_steps=100_000),  # trained it all without solving: counts as the end
            earlier(solved_at_step=None, env_steps=10_000, total_steps=10_000)]  # too short to tell
    estimate = estimate_run(config, runs)
    assert estimate.steps_per_second == 1_000 and estimate.earlier_runs == 5  # all 5 measure the speed
    assert (estimate.solve_step, estimate.solved_runs, estimate.telling_runs) == (27_500, 3, 4)
    assert estimate.expected_seconds == 27.5
    assert estimate.headline() == "about 30 s (stops when solved; at most 1 min 40 s for all 100,000 steps)"
    assert estimate.basis().endswith("3 of 4 earlier runs solved within 100,000 steps, the median at step 27,500.")


def test_stop_when_solved_without_a_solve_to_go_by_gives_the_whole_budget():
    config = make_config("dqn", "CartPole-v1", total_steps=100_000, stop_when_solved=True)
    assert estimate_run(config, []).headline().endswith("for all 100,000 steps, less if it solves sooner")
    late = [earlier(solved_at_step=150_000, env_steps=200_000), earlier(env_steps=200_000)]
    estimate = estimate_run(config, late)
    assert estimate.expected_seconds == estimate.full_seconds == 100
    assert estimate.headline() == "about 1 min 40 s (earlier runs mostly did not solve within 100,000 steps)"


def test_a_fresh_server_expects_the_measured_solve_step_of_an_unchanged_preset():
    preset = make_config("td-ac", "CartPole-v1", seed=12)  # another seed: still the preset's settings
    solve_step, seeds = MEASURED_SOLVE_STEPS[("td-ac", "CartPole-v1")]
    estimate = estimate_run(preset, [])
    assert estimate.source == "table" and estimate.solve_step == solve_step
    assert estimate.expected_seconds == solve_step / MEASURED_STEPS_PER_SECOND[("td-ac", "CartPole-v1")]
    assert f"the preset solved at step {solve_step:,} (the median over {seeds} seeds" in estimate.basis()
    assert "stops when solved" in estimate.headline()
    # Another learning rate learns at another pace: the table's solve step no longer tells.
    changed = estimate_run(preset.replace(learning_rate=1e-4), [])
    assert changed.solve_step is None and "less if it solves sooner" in changed.headline()


def test_a_summary_becomes_an_earlier_run_only_if_it_trained_to_its_end():
    summary = dict(algo="a2c", env_id="CartPole-v1", config=make_config("a2c").to_dict(), env_steps=30_000,
                   wall_seconds=10.0, steps_per_second=3_000.0, solved_at_step=29_000, stopped=False, diverged=None)
    run = earlier_run_from_summary(json.loads(json.dumps(summary)))
    assert run is not None and (run.steps_per_second, run.solved_at_step, run.env_steps) == (3_000.0, 29_000, 30_000)
    assert earlier_run_from_summary({**summary, "stopped": True}) is None
    assert earlier_run_from_summary({**summary, "diverged": "the values blew up"}) is None
    assert earlier_run_from_summary({**summary, "steps_per_second": 0}) is None
    assert earlier_run_from_summary({"algo": "a2c"}) is None


def test_runs_are_spread_over_the_workers_in_start_order():
    assert schedule_seconds([10, 10, 10, 10], workers=2) == 20
    assert schedule_seconds([30, 10, 10, 10], workers=2) == 30  # the three short ones share the second worker
    assert schedule_seconds([10, 10, 30], workers=2) == 40  # the long one starts last
    assert schedule_seconds([5, 5], workers=4) == 5
    assert schedule_seconds([], workers=2) == 0


def test_a_comparison_counts_every_seed_and_the_cache():
    configs = [make_config("dqn", total_steps=60_000), make_config("dqn", total_steps=60_000, tau=0.01)]
    runs = [config.replace(seed=seed) for seed in range(3) for config in configs]  # 6 runs of 60 s each
    estimate = estimate_comparison(runs, [earlier(steps_per_second=1_000.0)], workers=2)
    assert (estimate.seconds, estimate.runs, estimate.cached) == (180, 6, 0)
    assert (estimate.headline(), estimate.details()) == ("about 3 min with 2 workers", "6 runs")
    cached = estimate_comparison(runs, [earlier(steps_per_second=1_000.0)], workers=2, cached=[True, True])
    assert cached.seconds == 120 and cached.details() == "6 runs, 2 of them from the cache"
    everything = estimate_comparison(runs, [], workers=2, cached=[True] * 6)
    assert everything.headline() == "back at once"
    table = estimate_comparison(runs, [], workers=1)
    assert table.from_table == 6 and table.details() == "6 runs; speeds from a measured table, not from this server"
    partly = estimate_comparison([*runs, make_config("a2c")], [earlier(steps_per_second=1_000.0)], workers=1)
    assert partly.details() == "7 runs; some speeds from a measured table, not from this server"


def test_a_note_adds_the_wait_only_when_every_worker_is_taken():
    assert waiting_note(running=1, queued=0, workers=2) == ""
    assert waiting_note(running=2, queued=3, workers=2) == " plus the wait for a free worker (2 runs training, 3 queued)"


class FakeStore:
    max_workers = 2

    def __init__(self, runs, cached=(), counts=None):
        self.runs, self.cached, self._counts = runs, set(cached), counts or {"queued": 0, "running": 0}

    def is_cached(self, config):
        return config.run_hash() in self.cached

    def earlier_runs(self):
        return self.runs

    def counts(self):
        return self._counts


def test_the_train_note_says_how_long_or_that_the_cache_has_it():
    config = make_config("dqn", total_steps=100_000, stop_when_solved=False)
    busy = FakeStore([earlier()], counts={"queued": 0, "running": 2})
    assert run_time_note(busy, config).startswith(
        "**This run: about 1 min 40 s** plus the wait for a free worker (2 runs training, 0 queued).  \nFrom 1 earlier run")
    assert run_time_note(FakeStore([], cached=[config.run_hash()]), config).startswith("**This run: back at once.**")
