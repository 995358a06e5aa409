"""In a real browser, on the classic marking figure: clicks land where aimed, saved marks
come back after a reload, a download keeps the page (the reading viewer's marking:
tests/test_browser_viewer.py)."""

from __future__ import annotations

import numpy as np
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from scipy import ndimage

from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.store import MarkStore
from mcalc.store.placement import breast_region
from mcalc.viewer import DisplayOptions, annotation_for, prepare_view
from tests.browser import ARTIFACTS, browser_page, open_app, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

READER = "Dr Browser"


def _name_and_wait(page) -> None:
    field = page.get_by_label("Your name", exact=False)
    field.wait_for(timeout=90_000)  # first run of the page on a busy 2-core machine
    field.fill(READER)
    field.press("Enter")
    # These tests drive the classic marking figure (the browser viewer: test_browser_viewer).
    toggle = page.get_by_text("Mark in the reading viewer", exact=False)
    toggle.wait_for(timeout=60_000)
    wait_for_app_idle(page)
    toggle.click()
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    wait_for_app_idle(page)


def _click_at(page, row: float, col: float, box: dict | None = None) -> None:
    """Click the figure where display (row, col) is drawn, using plotly's own axis maps.

    ``box``: the plot area's bounding box to aim from (default: where it is now).
    """
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=60_000)
    box = box or page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
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


def _calcification_targets(demo, tmp_path, n: int = 3) -> tuple[str, list, object, tuple]:
    """``n`` dataset calcifications (full-resolution centroids) well inside the breast and
    far apart, on the page's first image, with its view and pixel spacing (mm)."""
    rec = open_dataset(demo).cases[0].image("CC", "recent")
    cache = ImageCache(tmp_path / "probe")
    view = prepare_view(cache, rec, DisplayOptions(show_annotations=False))
    _, summary, _ = annotation_for(cache, rec, view.full_shape, view.spacing_mm)
    assert summary is not None, "the demo's first image has no annotation"
    inner = ndimage.binary_erosion(breast_region(view), iterations=4)
    chosen: list[tuple[float, float]] = []
    for calc in summary.calcifications:
        r, c = calc.centroid
        if not inner[min(int(r * view.scale), inner.shape[0] - 1)][
            min(int(c * view.scale), inner.shape[1] - 1)
        ]:
            continue
        if all(np.hypot(r - r2, c - c2) > 15 for r2, c2 in chosen):
            chosen.append((r, c))
    assert len(chosen) >= n, f"only {len(chosen)} separate calcifications inside the breast"
    return rec.key, chosen[:n], view, view.spacing_mm


def test_clicks_land_on_the_calcifications_save_reload_and_downloads_keep_the_page(
    demo_app, tiny_demo, tmp_path
):
    """Three clicks without reloading: the image must not move between them (messages
    were drawn above it and pushed it down), so each mark lands on its calcification.
    Saved, the marks come back after a reload. Then a download must not rerun the page
    (it closed the expanders)."""
    key, targets, view, (sr, sc) = _calcification_targets(tiny_demo, tmp_path)
    store_dir = demo_app.path("MCALC_STORE")
    with browser_page(width=1400, height=1800) as page:
        # A deep link: the page draws the app's frame itself.
        open_app(page, f"{demo_app.url}/annotate")
        _name_and_wait(page)
        # Aim every click from where the figure was before the first one, as a user does:
        # if anything above it changes height, the clicks land elsewhere.
        box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        for n, (row, col) in enumerate(targets, start=1):
            _click_at(page, *view.to_display(row, col), box=box)
            page.get_by_text(f"Your marks: {n} calcification(s)").wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "annotate_three_clicks.png"), full_page=False)
        assert _reader_points(page) == 3
        page.get_by_role("button", name="Save", exact=True).click()
        page.get_by_text("Saved as version 1").wait_for(timeout=30_000)

        open_app(page, "", reload=True)
        _name_and_wait(page)
        page.get_by_text("Your marks: 3 calcification(s)").wait_for(timeout=30_000)
        assert _reader_points(page) == 3
        page.screenshot(path=str(ARTIFACTS / "annotate.png"), full_page=False)

        wait_for_app_idle(page)
        csv = page.get_by_role("button", name="Points CSV", exact=True)
        # A rerun that is still replacing the page can swallow the click on the expander's
        # header (it is drawn again closed): open it until its buttons show.
        for _ in range(4):
            page.get_by_text("Export and import", exact=True).last.click()
            try:
                csv.wait_for(timeout=8_000)
                break
            except PlaywrightTimeout:
                wait_for_app_idle(page)
        csv.wait_for(timeout=10_000)
        with page.expect_download(timeout=30_000):
            csv.click()
        page.wait_for_timeout(1500)
        wait_for_app_idle(page)
        for name in ("COCO JSON", "Marks JSON", "All points CSV"):
            assert page.get_by_role("button", name=name, exact=True).is_visible(), name
        page.screenshot(path=str(ARTIFACTS / "annotate_after_download.png"), full_page=True)

    state = MarkStore(store_dir).load(key, READER)
    assert state.version == 1 and all(p.reader == READER for p in state.marks.points)
    marks = state.marks.points
    assert len(marks) == 3
    for mark, (row, col) in zip(marks, targets, strict=True):
        off_mm = float(np.hypot((mark.row - row) * sr, (mark.col - col) * sc))
        assert off_mm < 1.5, f"mark at ({mark.row:.1f}, {mark.col:.1f}) is {off_mm:.2f} mm off"
