"""In a real browser: Browse's temporal section shows subtraction, flicker and swipe."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, browser_page, runs, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TEMPORAL_IMAGES = """() => [...document.querySelectorAll('.js-plotly-plot')]
    .filter(p => (p.textContent || '').includes('recent −') || (p.textContent || '').includes('flicker'))
    .map(p => [...p.querySelectorAll('image')].map(i => (i.getAttribute('href') || '').length))"""


def _mode(page, name: str) -> None:
    radio = page.locator('[data-testid="stRadio"]').filter(has_text="Temporal view")
    runs(page).after(radio.get_by_text(name, exact=True).click, 90_000)


def test_browse_shows_subtraction_and_flicker(demo_app):
    with browser_page(1500, 3600) as page:
        page.goto(f"{demo_app.url}/browse", wait_until="networkidle")
        # Browse's images are in the reading viewer (not plotly): wait for the temporal section.
        page.get_by_text("Changes between rounds").wait_for(timeout=90_000)
        wait_for_app_idle(page)
        _mode(page, "subtraction")
        page.get_by_text("subtraction (recent − registered prior)").first.wait_for(timeout=90_000)
        # The case summary line and the registration's figures are shown.
        page.get_by_text("stable", exact=False).first.wait_for(timeout=30_000)
        page.get_by_text("similarity inside the breast", exact=False).first.wait_for()
        panels = page.evaluate(TEMPORAL_IMAGES)
        assert len(panels) == 2 and all(len(p) == 2 and min(p) > 1000 for p in panels)
        page.screenshot(path=str(ARTIFACTS / "browse-temporal-subtraction.png"), full_page=True)
        # Ticking a row of the tracked table zooms both panels onto it.
        tracked = page.locator('[data-testid="stDataFrame"]').nth(1)
        tracked.scroll_into_view_if_needed()
        box = tracked.bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
        page.wait_for_timeout(500)
        wait_for_app_idle(page)
        page.get_by_text("Zoomed on the", exact=False).first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "browse-temporal-row.png"), full_page=True)

        _mode(page, "flicker")
        page.get_by_text("flicker: registered prior ↔ recent").first.wait_for(timeout=60_000)
        button = page.get_by_text("▶ Flicker").first
        button.scroll_into_view_if_needed()
        before = page.evaluate(TEMPORAL_IMAGES)
        button.click()
        seen = set()
        for _ in range(40):  # 2 alternations per second: the right panel's picture changes
            page.wait_for_timeout(200)
            seen.add(tuple(page.evaluate(TEMPORAL_IMAGES)[0]))
            if len(seen) >= 2:
                break
        assert len(seen) >= 2, (before, seen)
        page.screenshot(path=str(ARTIFACTS / "browse-temporal-flicker.png"), full_page=True)
        page.get_by_text("■ Stop").first.click()

        _mode(page, "swipe")
        page.get_by_text("swipe: registered prior | recent").first.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "browse-temporal-swipe.png"), full_page=True)
