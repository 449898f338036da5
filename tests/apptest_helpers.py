"""Opening the app in Streamlit's AppTest, for the page tests."""

import logging
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "app.py"


def open_page(page: str) -> AppTest:
    """The app, switched to ``page`` (e.g. "pages/train.py"), rendered without an exception."""
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    return app


def run_until_progress(app: AppTest, done_text: str, seconds: float, what: str) -> None:
    """Rerun ``app`` about every second (as its live fragment would) until its progress bar's text
    starts with ``done_text``, then once more for the final, non-polling view. Waits on what the page
    shows, for at most ``seconds`` (generous: a loaded 2-core machine trains slowly)."""
    deadline = time.monotonic() + seconds
    while True:
        app.run()
        assert not app.exception, app.exception
        progress = app.get("progress")[0].proto.text
        if progress.startswith(done_text):
            break
        assert time.monotonic() < deadline, f"{what} did not finish in time: {progress}"
        time.sleep(1.0)
    app.run()


def shut_the_page_store() -> None:
    """Stop the worker pool of the store a page built for this test's runs directory. Outside a script
    run Streamlit warns about the missing runtime, which is expected here: quiet it meanwhile."""
    from rlviz.ui.store import get_store

    logger = logging.getLogger("streamlit")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        get_store().shutdown()
    finally:
        logger.setLevel(level)
