"""Copying a run directory while it is written (how a run trained on a Ray cluster reaches the app):
the copy ends equal to the original, and a reader of the copy never sees a status or a last event
before the files they vouch for."""

import threading

from rlviz.config import make_config
from rlviz.rundir import RunDirChanges, apply_changes, damage, read_status, write_status
from rlviz.runs import execute_run


def test_a_copy_made_while_the_run_trains_equals_the_run(tmp_path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    original.mkdir()
    copy.mkdir()
    write_status(original, state="queued", attempt="abcd")
    config = make_config("a2c", seed=1, total_steps=3_000, n_envs=4, eval_episodes=1)
    training = threading.Thread(target=execute_run, args=(config.to_dict(), str(original)))
    changes = RunDirChanges(original)
    training.start()
    while True:
        ended = not training.is_alive()
        apply_changes(copy, changes.collect())
        status = read_status(copy)
        if status is not None and status["state"] == "finished":  # the status comes after what it announces
            assert damage(copy) is None
        if ended:
            break
    assert read_status(copy) == read_status(original) and read_status(copy)["attempt"] == "abcd"
    written = sorted(path.relative_to(original) for path in original.rglob("*") if path.is_file())
    assert sorted(path.relative_to(copy) for path in copy.rglob("*") if path.is_file()) == \
        [path for path in written if path.name != ".lock"]
    for path in written:
        if path.name != ".lock":
            assert (copy / path).read_bytes() == (original / path).read_bytes(), path
    assert not changes.collect(), "nothing new once it is all copied"
