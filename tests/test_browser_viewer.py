"""In a real browser: the reading workstation (components/viewer) on Browse and Annotate.

The component mirrors its state on ``[data-testid=mcalc-viewer]`` (inside its iframe), so
these tests check synchronisation, window/level and marking from data attributes.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.browser import (
    ARTIFACTS,
    VIEWER,
    browser_page,
    viewer_frame,
    wait_for_app_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _state(frame) -> dict[str, str]:
    return frame.eval_on_selector(VIEWER, "e => ({...e.dataset})")


def _panel_box(page, frame, index: int) -> dict[str, float]:
    """The page-coordinates box of panel ``index`` of the viewer."""
    iframe = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
    inner = frame.eval_on_selector_all(
        ".panel",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return {x: r.x, y: r.y, width: r.width, height: r.height}; })",
    )[index]
    assert iframe is not None
    return {**inner, "x": iframe["x"] + inner["x"], "y": iframe["y"] + inner["y"]}


def test_browse_viewer_panels_sync_window_and_next_case(demo_app):
    with browser_page(1600, 1200) as page:
        page.goto(f"{demo_app.url}/browse", wait_until="networkidle")
        wait_for_app_idle(page)
        frame = viewer_frame(page)
        state = _state(frame)
        assert state["panels"] == "4"
        labels = json.loads(state["labels"])
        assert {lab.split(" ")[1] for lab in labels} == {"CC", "MLO"}
        assert any("prior" in lab for lab in labels) and any("recent" in lab for lab in labels)
        page.screenshot(path=str(ARTIFACTS / "viewer-browse.png"))
        first_case = state["case"]

        # A wheel on panel 0 zooms every panel synchronised with it (all four by default).
        zoom0 = json.loads(state["zoom"])
        box = _panel_box(page, frame, 0)
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(3):
            page.mouse.wheel(0, -120)
            page.wait_for_timeout(100)
        page.wait_for_timeout(300)
        zoom1 = json.loads(_state(frame)["zoom"])
        assert zoom1[0] > zoom0[0] * 1.05, (zoom0, zoom1)
        for i in range(1, 4):
            assert zoom1[i] > zoom0[i] * 1.05, f"panel {i} did not follow: {zoom0} -> {zoom1}"

        # Right-button drag sets window/level in the browser: no Streamlit rerun happens.
        runs_before = page.evaluate("() => performance.getEntriesByType('resource').length")
        win0 = json.loads(_state(frame)["window"])
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down(button="right")
        for k in range(1, 8):
            page.mouse.move(cx + 10 * k, cy + 8 * k)
        page.mouse.up(button="right")
        page.wait_for_timeout(300)
        win1 = json.loads(_state(frame)["window"])
        assert win1[0] != win0[0], (win0, win1)
        assert win1[1] == win1[0], "the window of the synchronised partner did not follow"
        assert page.locator("[data-testid='stStatusWidget']").count() == 0
        runs_after = page.evaluate("() => performance.getEntriesByType('resource').length")
        assert runs_after == runs_before, "the W/L drag fetched something from the server"
        page.screenshot(path=str(ARTIFACTS / "viewer-browse-zoom-wl.png"))

        # Ruler (R): a drag measures in mm, from the pixel spacing sent with the panel.
        frame.focus(VIEWER)  # may scroll the page: aim again
        frame.press(VIEWER, "r")
        box = _panel_box(page, frame, 0)
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx - 40, cy)
        page.mouse.down()
        for k in range(1, 9):
            page.mouse.move(cx - 40 + 10 * k, cy)
        page.mouse.up()
        page.wait_for_timeout(300)
        measures = json.loads(_state(frame)["measures"])
        assert [m["unit"] for m in measures] == ["mm"], measures
        assert measures[0]["value"] > 0
        # Probe (V): the value under the pointer; magnifier (Z) while the button is held.
        frame.press(VIEWER, "v")
        page.mouse.move(cx + 5, cy + 5, steps=4)
        page.wait_for_timeout(100)
        state = _state(frame)
        assert "value" in state["probe"], state
        frame.press(VIEWER, "z")
        page.mouse.move(cx, cy + 30)
        page.mouse.down()
        page.mouse.move(cx + 4, cy + 34, steps=3)
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "viewer-ruler-magnifier.png"))
        assert frame.locator(".magnifyTool").count() == 1
        page.mouse.up()
        # One panel fills the width (F), and back.
        frame.press(VIEWER, "f")
        assert _state(frame)["layout"] == "one"
        page.screenshot(path=str(ARTIFACTS / "viewer-one-panel.png"))
        frame.press(VIEWER, "f")
        frame.press(VIEWER, "g")

        # Help overlay, then the keyboard's next case goes to Python as an event.
        frame.focus(VIEWER)
        frame.press(VIEWER, "?")
        assert _state(frame)["help"] == "true"
        page.screenshot(path=str(ARTIFACTS / "viewer-help.png"))
        frame.press(VIEWER, "Escape")
        frame.press(VIEWER, "n")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            frame = viewer_frame(page)
            if _state(frame)["case"] != first_case:
                break
            page.wait_for_timeout(300)
        assert _state(frame)["case"] != first_case
        wait_for_app_idle(page)
        page.get_by_text("(2 of", exact=False).first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "viewer-browse-next.png"))


def test_annotate_marks_in_the_browser_and_saves_to_the_store(demo_app):
    from mcalc.store import MarkStore

    store_dir = demo_app.path("MCALC_STORE")
    with browser_page(1500, 1300) as page:
        page.goto(f"{demo_app.url}/annotate", wait_until="networkidle")
        field = page.get_by_label("Your name", exact=False)
        field.wait_for(timeout=90_000)
        field.fill("Viewer Tester")
        field.press("Enter")
        wait_for_app_idle(page)
        frame = viewer_frame(page)
        state = _state(frame)
        assert state["marks"] == "0"
        editable = frame.eval_on_selector_all(".panel", "els => els.map(e => e.dataset.key)")
        key = state["case"].split("|")[0]
        index = editable.index(key)

        frame.focus(VIEWER)  # may scroll the page: aim after it
        frame.press(VIEWER, "a")  # the mark tool
        assert _state(frame)["tool"] == "mark"
        box = _panel_box(page, frame, index)
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        runs_before = page.evaluate("() => performance.getEntriesByType('resource').length")
        latencies = []
        for k, (dx, dy) in enumerate([(-20, -30), (15, 10), (-5, 40)], start=1):
            # The viewer measures in the page: the click's event timestamp to the mark drawn.
            page.mouse.click(cx + dx, cy + dy)
            page.wait_for_timeout(50)
            state = _state(frame)
            assert state["marks"] == str(k), state
            latencies.append(float(state["lastMarkMs"]))
        assert max(latencies) < 100, f"click-to-mark took {latencies} ms"
        runs_after = page.evaluate("() => performance.getEntriesByType('resource').length")
        assert runs_after == runs_before, "marking fetched something from the server"
        # Undo (Ctrl+Z) removes the last mark, in the browser.
        frame.press(VIEWER, "Control+z")
        assert _state(frame)["marks"] == "2"
        # A cluster outline: the outline tool (C), a freehand lasso round the centre.
        frame.press(VIEWER, "c")
        assert _state(frame)["tool"] == "outline"
        page.mouse.move(cx - 40, cy - 40)
        page.mouse.down()
        for dx, dy in [(0, -40), (40, -40), (40, 0), (40, 40), (0, 40), (-40, 40), (-40, 0)]:
            page.mouse.move(cx + dx, cy + dy, steps=3)
        page.mouse.up()
        state = _state(frame)
        assert state["outlines"] == "1" and state["selectedOutline"], state
        assert runs_after == page.evaluate(
            "() => performance.getEntriesByType('resource').length"
        ), "drawing an outline fetched something from the server"
        page.screenshot(path=str(ARTIFACTS / "viewer-annotate-marks.png"))
        (ARTIFACTS / "viewer-click-latency-ms.txt").write_text(
            " ".join(f"{v:.2f}" for v in latencies) + "\n"
        )

        frame.press(VIEWER, "Control+s")
        page.get_by_text("Saved as version 1").wait_for(timeout=60_000)
        stored = MarkStore(store_dir).load(key, "Viewer Tester").marks
        assert len(stored.points) == 2
        rows, cols = stored.image_shape or (0, 0)
        assert all(p.row >= 0 and p.col >= 0 for p in stored.points)
        assert all(p.row < rows and p.col < cols for p in stored.points)
        assert len({(round(p.row), round(p.col)) for p in stored.points}) == 2
        (outline,) = stored.regions
        assert outline.kind == "cluster" and len(outline.polygon) >= 3
        assert all(0 <= r < rows and 0 <= c < cols for r, c in outline.polygon)
        frame = viewer_frame(page)
        assert _state(frame)["marks"] == "2" and _state(frame)["outlines"] == "1"
        page.screenshot(path=str(ARTIFACTS / "viewer-annotate-saved.png"))
