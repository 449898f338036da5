"""Opening the app in Streamlit's AppTest, for the page tests."""

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
