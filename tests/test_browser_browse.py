"""In a real browser: open the app, go to Browse, switch case, see prior and recent images."""

from __future__ import annotations

import pytest

from tests.browser import ARTIFACTS, browser_page, require_chromium, running_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_browse_renders_prior_and_recent_and_switches_case(app_env, tmp_path):
    require_chromium()
    env = {
        "MCALC_DEMO_DIR": str(app_env),
        "MCALC_CACHE": str(tmp_path / "cache"),
        "MCALC_STORE": str(tmp_path / "store"),
    }
    with running_app(env) as url, browser_page() as page:
        page.goto(url, wait_until="networkidle")
        wait_for_app_idle(page)
        assert page.get_by_text("Synthetic demo data").first.is_visible()
        page.screenshot(path=str(ARTIFACTS / "home.png"), full_page=True)

        page.goto(f"{url}/browse", wait_until="networkidle")
        wait_for_app_idle(page)
        # Two plotly figures (CC and MLO), each with a prior and a recent image.
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot image').length >= 4",
            timeout=60_000,
        )
        titles = page.locator(".js-plotly-plot .gtitle").all_inner_texts()
        assert any("CC prior" in t for t in titles) and any("CC recent" in t for t in titles)
        assert any("MLO prior" in t for t in titles) and any("MLO recent" in t for t in titles)
        first_case = page.get_by_text("Case ", exact=False).filter(has_text="of").first.inner_text()

        page.get_by_role("button", name="Next ▶").click()
        page.wait_for_timeout(500)
        wait_for_app_idle(page)
        page.wait_for_function(
            "() => document.querySelectorAll('.js-plotly-plot image').length >= 4",
            timeout=60_000,
        )
        second_case = (
            page.get_by_text("Case ", exact=False).filter(has_text="of").first.inner_text()
        )
        assert second_case != first_case
        page.screenshot(path=str(ARTIFACTS / "browse.png"), full_page=True)
        # Every image element carries a real JPEG.
        sources = page.eval_on_selector_all(
            ".js-plotly-plot image", "els => els.map(e => e.getAttribute('href') || '')"
        )
        assert all(s.startswith("data:image/jpeg;base64,") and len(s) > 1000 for s in sources[:4])
