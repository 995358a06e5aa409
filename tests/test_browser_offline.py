"""In a real browser: the app asks no host but its own server (a reading room's network is
often closed; a request to another host fails there and tells that host who reads)."""

from __future__ import annotations

import re

import pytest

from tests.browser import browser_page, open_app, wait_for_app_idle

pytestmark = [pytest.mark.browser]


def test_pages_ask_no_other_host(demo_app):
    """The pages' Material icons became the tab's icon, which Chromium fetched from
    fonts.gstatic.com on every page (and failed offline): the tab's icon is a file of the
    app's own now."""
    with browser_page(width=1300, height=900) as page:
        elsewhere: list[str] = []
        page.on(
            "request",
            lambda r: (
                None
                if r.url.startswith((demo_app.url, "data:", "blob:"))
                else elsewhere.append(r.url)
            ),
        )
        open_app(page, demo_app.url)
        page.get_by_role("link", name="Browse").first.click()
        # Browse names its case in the address (``?case=``) as soon as it draws it: a glob
        # of the bare path missed the page once that came first (CI, 7 December 20:12).
        page.wait_for_url(re.compile(r"/browse(\?.*)?$"))
        wait_for_app_idle(page)
        icons = page.evaluate(
            "Array.from(document.querySelectorAll('link[rel*=icon]')).map(l => l.href)"
        )
    assert elsewhere == []
    assert icons and all(href.startswith(demo_app.url) for href in icons)
