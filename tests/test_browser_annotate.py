"""In a real browser: click two calcifications onto an image, save, reload, find them again."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.marking import breast_region
from mcalc.store import MarkStore
from mcalc.viewer import DisplayOptions, prepare_view
from tests.browser import ARTIFACTS, browser_page, require_chromium, running_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

READER = "Dr Browser"


def _targets(demo, tmp_path) -> tuple[str, list[tuple[float, float]]]:
    """The page's first image and two display points well inside its breast."""
    rec = open_dataset(demo).cases[0].image("CC", "recent")
    view = prepare_view(ImageCache(tmp_path / "probe"), rec, DisplayOptions(show_annotations=False))
    inner = ndimage.binary_erosion(breast_region(view), iterations=8)
    pts = np.argwhere(inner)
    centre = pts.mean(axis=0)
    a = pts[np.argmin(np.abs(pts - centre).sum(axis=1))]
    b = pts[np.argmax(np.abs(pts[:, 1] - a[1]) * (np.abs(pts[:, 0] - a[0]) < 5))]
    chosen = [(a[0] + 0.5) / view.scale, (a[1] + 0.5) / view.scale]
    other = [(b[0] + 0.5) / view.scale, (b[1] + 0.5) / view.scale]
    return rec.key, [tuple(chosen), tuple(other)]


def _name_and_wait(page) -> None:
    field = page.get_by_label("Your name", exact=False)
    field.wait_for(timeout=90_000)  # first run of the page on a busy 2-core machine
    field.fill(READER)
    field.press("Enter")
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    wait_for_app_idle(page)


def _click_at(page, row: float, col: float) -> None:
    """Click the figure where display (row, col) is drawn, using plotly's own axis maps."""
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    px, py = page.evaluate(
        """([r, c]) => { const l = document.querySelector('.js-plotly-plot')._fullLayout;
                        return [l.xaxis.l2p(c), l.yaxis.l2p(r)]; }""",
        [row, col],
    )
    page.mouse.move(box["x"] + px, box["y"] + py)
    page.wait_for_timeout(200)  # plotly picks the click target on hover
    page.mouse.click(box["x"] + px, box["y"] + py)
    page.wait_for_timeout(500)
    wait_for_app_idle(page)


def _reader_points(page) -> int:
    return page.evaluate(
        """() => { const t = document.querySelector('.js-plotly-plot').data
                     .find(d => d.name === "reader-points"); return t ? t.customdata.length : 0; }"""
    )


def test_click_two_marks_save_reload_and_find_them(app_env, tmp_path):
    require_chromium()
    key, points = _targets(app_env, tmp_path)
    store_dir = tmp_path / "store"
    env = {
        "MCALC_DEMO_DIR": str(app_env),
        "MCALC_CACHE": str(tmp_path / "cache"),
        "MCALC_STORE": str(store_dir),
    }
    with running_app(env) as url, browser_page(width=1400, height=1800) as page:
        # A deep link on a fresh server: the page draws the app's frame itself.
        page.goto(f"{url}/annotate", wait_until="networkidle")
        wait_for_app_idle(page)
        _name_and_wait(page)

        for n, (row, col) in enumerate(points, start=1):
            _click_at(page, row, col)
            page.get_by_text(f"Your marks: {n} calcification(s)").wait_for(timeout=30_000)
        assert _reader_points(page) == 2

        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Saved as version 1").wait_for(timeout=30_000)

        page.reload(wait_until="networkidle")
        wait_for_app_idle(page)
        _name_and_wait(page)
        page.get_by_text("Your marks: 2 calcification(s)").wait_for(timeout=30_000)
        assert _reader_points(page) == 2
        page.screenshot(path=str(ARTIFACTS / "annotate.png"), full_page=False)

    state = MarkStore(store_dir).load(key, READER)
    assert state.version == 1 and len(state.marks.points) == 2
    assert all(p.reader == READER for p in state.marks.points)
