"""Fixtures shared by the page tests."""

import pytest

from rlviz.runs import RUNS_DIR_ENV


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """An empty runs directory for the app under test, trained by one worker."""
    monkeypatch.setenv(RUNS_DIR_ENV, str(tmp_path / "runs"))
    monkeypatch.setenv("RLVIZ_MAX_WORKERS", "1")
    return tmp_path / "runs"
