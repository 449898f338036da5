import argparse
import csv
import json
import os
import subprocess
import sys

import imageio_ffmpeg
import pytest

from rlviz.__main__ import add_config_arguments, config_from_args, main

REQUIRED_SUMMARY = {"algo", "env_id", "seed", "config", "env_steps", "episodes", "wall_seconds", "steps_per_second",
                    "solved_at_step", "final_mean_return", "eval_mean_return"}


def rlviz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rlviz", *args], capture_output=True, text=True, cwd=cwd)


TINY_RUN = ["--algo", "a2c", "--total-steps", "1000", "--set", "n_envs=4", "--set", "eval_episodes=0"]


def train_in_process(args, capsys):
    """``python -m rlviz train *args`` in this process: its exit status, stdout and stderr."""
    try:
        status = main(["train", *args])
    except SystemExit as exit:  # argparse's errors exit
        status = exit.code
    output = capsys.readouterr()
    return status, output.out, output.err


@pytest.mark.parametrize(
    "args, says",
    [
        (["--algo", "sarsa"], "invalid choice: 'sarsa'"),
        (["--algo", "dqn", "--env", "Pong-v5"], "invalid choice: 'Pong-v5'"),
        (["--algo", "dqn", "--set", "colour=blue"], "unknown field 'colour'"),
        (["--algo", "dqn", "--set", "gamma=1.2"], "gamma=1.2 is out of range: must be [0.8, 0.9999]"),
        (["--algo", "dqn", "--set", "batch_size=many"], "batch_size='many' is not an integer"),
        (["--algo", "dqn", "--total-steps", "lots"], "invalid int value: 'lots'"),
        (["--algo", "dqn", "--total-steps", "10"], "total_steps=10 is out of range"),
        (["--algo", "dqn", "--set", "gamma"], "--set expects NAME=VALUE"),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(args, says, tmp_path):
    result = rlviz("train", *args, "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_train_writes_summary_episodes_and_videos(tmp_path):
    out = tmp_path / "run"
    result = rlviz("train", "--algo", "a2c", "--env", "CartPole-v1", "--seed", "3", "--total-steps", "3000",
                   "--set", "n_envs=4", "--video", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "steps/s" in result.stderr and "last-100 mean" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert REQUIRED_SUMMARY <= set(summary)
    assert summary["seed"] == 3 and summary["config"]["n_envs"] == 4 and summary["env_steps"] >= 3000
    with open(out / "episodes.csv") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["env_step", "episode", "return", "length", "terminated", "truncated", "wall_seconds"]
    assert len(rows) == summary["episodes"]
    videos = sorted((out / "videos").glob("*.mp4"))
    assert len(videos) == 4
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(videos[-1])], capture_output=True, text=True)
    assert "h264" in probe.stderr and "yuv420p" in probe.stderr
    assert (out / "model.pt").stat().st_size > 0


@pytest.mark.parametrize(
    "out, says",
    [
        ("/", "--out / is a filesystem root"),
        ("", "argument --out: must not be empty"),
        ("notes", "is a directory with other files in it, not an rlviz run"),
        ("home", "is your home directory"),
        ("notes/todo.txt/run", "cannot write the run directory"),  # a path through a file
    ],
)
def test_out_that_is_no_place_for_a_run_is_refused_in_one_line(out, says, tmp_path, monkeypatch, capsys):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    status, _, err = train_in_process([*TINY_RUN, "--out", out], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlviz: error: ") and says in lines[0], err
    assert sorted(os.listdir(tmp_path / "notes")) == ["todo.txt"] and not os.listdir(tmp_path / "home")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_run_directory_under_a_read_only_directory_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "locked").mkdir(mode=0o555)
    status, _, err = train_in_process([*TINY_RUN, "--out", str(tmp_path / "locked" / "run")], capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1 and "cannot write the run directory" in err


@pytest.mark.parametrize("setting, option", [("algo=dqn", "use --algo dqn"), ("env_id=LunarLander-v3", "use --env LunarLander-v3")])
def test_set_on_a_field_with_its_own_option_points_to_the_option(setting, option, tmp_path, capsys):
    status, _, err = train_in_process([*TINY_RUN, "--set", setting, "--out", str(tmp_path / "run")], capsys)
    assert status == 2 and err.strip().splitlines() == [f"rlviz: error: --set cannot change {setting.split('=')[0]}: {option}"]
    assert not (tmp_path / "run").exists()


def test_reusing_a_run_directory_leaves_none_of_the_earlier_runs_files(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train_in_process([*TINY_RUN, "--video", "--out", out], capsys)[0] == 0
    assert len(list((tmp_path / "run" / "videos").glob("*.mp4"))) == 4
    status, stdout, _ = train_in_process([*TINY_RUN, "--seed", "1", "--out", out], capsys)
    assert status == 0 and "Wrote" in stdout
    assert not (tmp_path / "run" / "videos").exists()
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["seed"] == 1
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert "video" not in {event["kind"] for event in events}


def test_a_diverged_run_prints_why_and_still_writes_its_directory(tmp_path, capsys):
    out = tmp_path / "run"
    status, stdout, _ = train_in_process(["--algo", "a2c-1step", "--set", "n_envs=1", "--set", "learning_rate=0.1", "--set", "reward_scale=1",
                                          "--out", str(out)], capsys)
    assert status == 0
    assert "Diverged at step" in stdout and "learning rate" in stdout and "solved" not in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"].startswith("Diverged at step") and summary["eval_mean_return"] is None


@pytest.mark.parametrize("flag, stops", [([], True), (["--stop-when-solved"], True), (["--no-stop-when-solved"], False)])
def test_runs_stop_when_solved_unless_told_not_to(flag, stops):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    assert config_from_args(parser.parse_args(["--algo", "dqn", *flag])).stop_when_solved is stops
