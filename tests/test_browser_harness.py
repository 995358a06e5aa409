"""The browser tests' harness itself: a failed browser test says what its page showed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import browser_page, open_app

pytestmark = [pytest.mark.browser]


def test_a_failed_browser_test_reports_its_page(demo_app):
    """A browser test that fails under load in CI (a wait that timed out) used to say only
    which wait: the failure now carries the page's address, its last lines of text, console
    messages, requests, script runs and the server's log, and a screenshot is saved."""
    with pytest.raises(AssertionError) as failed, browser_page(width=900, height=700) as page:
        open_app(page, f"{demo_app.url}/browse")
        raise AssertionError("a wait that timed out")
    notes = "\n".join(getattr(failed.value, "__notes__", []))
    assert "address: " + demo_app.url + "/browse" in notes
    assert "Browse" in notes  # the page's own text
    assert "script runs: " in notes and "last requests:" in notes
    assert "the app server's log" in notes
    shot = next(line for line in notes.splitlines() if line.startswith("screenshot: "))
    assert Path(shot.removeprefix("screenshot: ")).stat().st_size > 1000
