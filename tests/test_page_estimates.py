"""Train and Compare say how long a run or a comparison takes before the click, from earlier runs put on disk here."""

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from rlviz.config import Config, make_config
from rlviz.rundir import write_status
from tests.apptest_helpers import open_page


def finished_run(runs_dir: Path, config: Config, steps_per_second: float, env_steps: int,
                 solved_at_step: int | None = None, complete: bool = False) -> None:
    """A finished run's summary.json as a worker writes it (and, if ``complete``, all a cached run needs)."""
    run_dir = runs_dir / config.run_hash()
    run_dir.mkdir(parents=True)
    summary = dict(algo=config.algo, env_id=config.env_id, seed=config.seed, config=config.to_dict(),
                   env_steps=env_steps, episodes=100, wall_seconds=env_steps / steps_per_second,
                   steps_per_second=steps_per_second, solved_at_step=solved_at_step, final_mean_return=480.0,
                   eval_mean_return=500.0, stopped=False, diverged=None)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    if complete:
        (run_dir / "config.json").write_text(json.dumps(config.to_dict()))
        (run_dir / "model.pt").write_bytes(b"")
        finished = {"kind": "finished", **{name: summary[name] for name in ("env_steps", "episodes", "wall_seconds",
                                                                             "steps_per_second", "solved_at_step")}}
        (run_dir / "events.jsonl").write_text(json.dumps(finished) + "\n")
        write_status(run_dir, state="finished", env_steps=env_steps, total_steps=config.total_steps)


def captions(app: AppTest) -> str:
    return "\n".join(caption.value for caption in app.caption)


def set_train_form(app: AppTest, total_steps: int, stop_when_solved: bool) -> None:
    app.select_slider(key="hp:a2c:CartPole-v1:total_steps").set_value(total_steps).run()
    app.toggle(key="hp:a2c:CartPole-v1:stop_when_solved").set_value(stop_when_solved).run()
    assert not app.exception, app.exception


def test_train_shows_the_time_of_this_run_from_earlier_runs_of_these_settings(runs_dir):
    for seed, speed in ((10, 900.0), (11, 1_000.0), (12, 4_000.0)):
        finished_run(runs_dir, make_config("a2c", "CartPole-v1", seed=seed), speed, env_steps=300_000)
    app = open_page("pages/train.py")
    set_train_form(app, 100_000, stop_when_solved=False)
    assert ("**This run: about 1 min 40 s**.  \n"
            "From 3 earlier runs with these settings on this server: 1,000 env steps/s (median).") in captions(app)


def test_train_says_when_a_run_stops_when_solved_and_when_it_comes_from_the_cache(runs_dir):
    for seed, solved in ((10, 20_000), (11, 25_000), (12, 30_000)):
        finished_run(runs_dir, make_config("a2c", "CartPole-v1", seed=seed, stop_when_solved=True), 1_000.0,
                     env_steps=solved, solved_at_step=solved)
    cached = make_config("a2c", "CartPole-v1", total_steps=100_000, stop_when_solved=False)
    finished_run(runs_dir, cached, 1_000.0, env_steps=100_000, complete=True)
    app = open_page("pages/train.py")
    set_train_form(app, 100_000, stop_when_solved=True)
    # The cached run trained all 100,000 steps without solving: it counts as one that would not have stopped.
    assert "**This run: about 30 s (stops when solved; at most 1 min 40 s for all 100,000 steps)**" in captions(app)
    assert "3 of 4 earlier runs solved within 100,000 steps, the median at step 27,500." in captions(app)

    set_train_form(app, 100_000, stop_when_solved=False)  # exactly the run on disk: nothing to train
    assert "**This run: back at once.** It was trained before with exactly these settings and seed" in captions(app)


def test_train_falls_back_to_the_measured_table_and_says_so(runs_dir):
    app = open_page("pages/train.py")
    set_train_form(app, 100_000, stop_when_solved=False)
    assert "No run of A2C on CartPole-v1 has finished on this server yet" in captions(app)
    assert "from a table measured on a 2-core VM on 2026-11-29, not on this server." in captions(app)


def test_compare_shows_the_time_of_the_whole_comparison_and_of_each_ready_made_one(runs_dir):
    finished_run(runs_dir, make_config("dqn", "CartPole-v1", seed=50), 1_000.0, env_steps=100_000)
    finished_run(runs_dir, make_config("a2c", "CartPole-v1", seed=50), 10_000.0, env_steps=100_000)
    app = open_page("pages/compare.py")
    for algo in ("dqn", "a2c"):
        slot = 0 if algo == "dqn" else 1
        app.select_slider(key=f"cmp:{slot}:{algo}:CartPole-v1:total_steps").set_value(50_000).run()
    # Seeds 0, 1, 2 of each, one worker: 3 x (50 s of DQN + 5 s of A2C) = 165 s.
    assert ("6 runs (2 configurations × 3 seeds), 300,000 env steps in all.  \n"
            "**Whole comparison: about 2 min 50 s with 1 worker** (6 runs).") in captions(app)
    # The ready-made DQN comparison: 3 taus x 3 seeds x 50,000 steps at the 1,000 steps/s of the earlier DQN run.
    assert "**With 3 seeds: about 7 min 30 s with 1 worker** (9 runs)." in captions(app)

    app.number_input(key="cmp:seeds").set_value(1).run()
    assert "**Whole comparison: about 55 s with 1 worker** (2 runs)." in captions(app)
    assert "**With 1 seed: about 2 min 30 s with 1 worker** (3 runs)." in captions(app)
    assert not list(runs_dir.glob("*/status.json")), "nothing was trained"


def test_the_store_reads_earlier_runs_from_their_summaries_and_knows_what_is_cached(tmp_path):
    from rlviz.runs import RunStore

    runs_dir = tmp_path / "runs"
    cached = make_config("dqn", "CartPole-v1", total_steps=20_000)
    finished_run(runs_dir, cached, 500.0, env_steps=20_000, solved_at_step=None, complete=True)
    finished_run(runs_dir, make_config("ppo", "LunarLander-v3"), 2_000.0, env_steps=1_000_000, solved_at_step=400_000)
    (runs_dir / "notes").mkdir()  # a folder without a summary is not a finished run
    store = RunStore(runs_dir, max_workers=1)
    try:
        earlier = sorted(store.earlier_runs(), key=lambda run: run.algo)
        assert [(run.algo, run.env_id, run.steps_per_second, run.solved_at_step) for run in earlier] == [
            ("dqn", "CartPole-v1", 500.0, None), ("ppo", "LunarLander-v3", 2_000.0, 400_000)]
        assert store.steps_per_second("dqn", "CartPole-v1") == 500.0  # the queue's waits use the same figures
        assert store.is_cached(cached) and store.submit(cached, "alice").cached
        assert not store.is_cached(cached.replace(seed=1))
    finally:
        store.shutdown()
