"""In a real browser: run a prediction on the Predict page, see the overlay on prior and
recent, click a region and see it at full resolution; screenshots go to tests/artifacts/."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, browser_page, select, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES = "() => document.querySelectorAll('.js-plotly-plot image').length"
#: Screen position of the first square of the recent panel's regions trace (plotly keeps
#: each trace's SVG group in its calcdata).
FIRST_REGION = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const i = gd._fullData.findIndex(t => t.name === 'regions-2');
  const point = gd.calcdata[i][0].node3.node().querySelector('.points path');
  const r = point.getBoundingClientRect();
  return [r.x + r.width / 2, r.y + r.height / 2];
}"""


def test_prediction_overlay_and_region_zoom_in_chromium(demo_app) -> None:
    with browser_page(width=1500, height=1900) as page:
        page.goto(f"{demo_app.url}/predict", wait_until="networkidle")
        page.get_by_text("Predict and explain").first.wait_for(timeout=90_000)
        wait_for_app_idle(page, 120_000)
        # The hand-made detector (the shared server's default model).
        model = page.get_by_role("combobox", name="Model", exact=True).input_value()
        assert model.startswith("spot "), model
        # The first visit runs by itself in the background: let it finish first.
        page.get_by_text("normal-1/CC_recent").first.wait_for(state="attached", timeout=180_000)
        wait_for_app_idle(page, 120_000)
        select(page, "Case", "suspicious-1", 120_000)
        # A new case waits for Run (the last result stays on screen meanwhile).
        page.get_by_role("button", name="Run").first.click()
        page.get_by_text("suspicious-1/CC_recent").first.wait_for(state="attached", timeout=180_000)
        wait_for_app_idle(page, 120_000)
        page.wait_for_function(f"{IMAGES} >= 2", timeout=90_000)
        titles = page.eval_on_selector_all(
            ".js-plotly-plot .annotation-text", "els => els.map(e => e.textContent || '')"
        )
        assert any("CC prior" in t for t in titles) and any("CC recent" in t for t in titles)
        assert any("calcification" in t for t in titles)
        page.screenshot(path=str(ARTIFACTS / "predict.png"), full_page=True)
        sources = page.eval_on_selector_all(
            ".js-plotly-plot image", "els => els.map(e => e.getAttribute('href') || '')"
        )
        assert all(s.startswith("data:image/jpeg;base64,") and len(s) > 1000 for s in sources[:2])

        # Click the recent image's first region square: it appears at full resolution.
        x, y = page.evaluate(FIRST_REGION)
        page.mouse.click(x, y)
        page.wait_for_timeout(500)
        wait_for_app_idle(page, 120_000)
        page.get_by_text("Region 1 of suspicious-1/CC_recent").first.wait_for(timeout=60_000)
        page.wait_for_function(f"{IMAGES} >= 4", timeout=60_000)
        crop = page.locator(".js-plotly-plot").nth(1)
        crop.scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        crop.screenshot(path=str(ARTIFACTS / "predict-region.png"))
