"""In a real browser: the Evaluate page's detection tab draws the FROC curves of two models
on one chart, the cluster FROC and the summary table; screenshot.

The two models are the committed demo model and the shared server's hand-made ``spot``
(its detection costs 1.6 CPU-s where the demo model's costs 8-9: until 7 December the
second model was the demo model again under another id, ``demo-copy``)."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, browser_page, choose, open_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_detection_tab_shows_froc_of_two_models(demo_app):
    with browser_page(width=1400, height=2600) as page:
        open_app(page, f"{demo_app.url}/evaluate")
        page.get_by_text("Registered models", exact=True).wait_for(timeout=60_000)
        choose(page, "Models to compare", ["demo-custom", "spot"])
        page.get_by_role("tab", name="Detection").click()
        button = page.get_by_role("button", name="Detect with 2 models")
        button.wait_for(timeout=60_000)
        wait_for_app_idle(page)
        button.click()
        page.get_by_text("Detection summary").wait_for(timeout=180_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=60_000
        )
        wait_for_app_idle(page)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "evaluate-detection.png"), full_page=True)
        legend = page.eval_on_selector_all(
            ".js-plotly-plot .legendtext", "els => els.map(e => e.textContent || '')"
        )
        assert legend.count("demo-custom") == 2 and legend.count("spot") == 2, legend
        titles = page.eval_on_selector_all(
            ".js-plotly-plot .gtitle", "els => els.map(e => e.textContent || '')"
        )
        assert any("individual calcifications" in t for t in titles), titles
        assert any("clusters" in t for t in titles), titles
        assert page.get_by_role("button", name="Detected").is_disabled()
        widths = page.eval_on_selector_all(
            "[data-testid='stDataFrame'] .dvn-scroller",
            "els => els.map(e => [e.scrollWidth, e.clientWidth])",
        )
        assert all(sw <= cw + 1 for sw, cw in widths), widths
