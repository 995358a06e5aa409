"""Opening one page of the app in Streamlit's AppTest, for the page tests."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "app.py")


def open_page(page: str, timeout: float = 90) -> AppTest:
    """A fresh session of the app, switched to ``page`` (e.g. ``pages/train.py``) and run.

    Fails the test when the page raised, naming the exceptions.
    """
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
