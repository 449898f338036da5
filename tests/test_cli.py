import csv
import json
import subprocess
import sys

import imageio_ffmpeg
import pytest

REQUIRED_SUMMARY = {"algo", "env_id", "seed", "config", "env_steps", "episodes", "wall_seconds", "steps_per_second",
                    "solved_at_step", "final_mean_return", "eval_mean_return"}


def rlviz(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rlviz", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--algo", "ppo"], "invalid choice: 'ppo'"),
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
