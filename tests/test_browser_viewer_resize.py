"""The viewer draws a new frame's panels once: the frame's first height is no resize of them.

A page visit makes a new viewer frame; the viewer builds its case, draws it and sets its
frame's height to its content (``streamlit:setFrameHeight``). That height resizes the
frame's window, but not the panels (their height is the grid's, in CSS pixels): the panels
are not resized and drawn again for it (``components/viewer/src/index.ts``
``onWindowResize``). A width change still resizes them.
"""

from __future__ import annotations

import json

import pytest

from tests.browser import VIEWER, browser_page, open_app, viewer_frame, wait_for_app_idle

pytestmark = pytest.mark.browser


def _state(frame) -> dict[str, str]:
    return frame.eval_on_selector(VIEWER, "e => ({...e.dataset})")


def test_a_new_frame_draws_its_panels_once_and_a_narrower_window_resizes_them(demo_app):
    with browser_page(1300, 1400) as page:
        open_app(page, f"{demo_app.url}/browse")
        frame = viewer_frame(page)
        state = f"document.querySelector({json.dumps(VIEWER)}).dataset"
        frame.wait_for_function(f"() => +{state}.imagesMade >= 4")
        # Every panel drawn (a busy machine draws them later than their images are made),
        # then the frame's height set and any resize it brings.
        frame.wait_for_function(
            f"() => JSON.parse({state}.draws || '{{}}').exact >= +{state}.panels", timeout=60_000
        )
        wait_for_app_idle(page)
        page.wait_for_timeout(1000)
        got = _state(frame)
        height = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()["height"]
        assert height > 500, f"the viewer's frame is {height} px high: its height was never set"
        # Each panel drawn once: the case's own draw; the frame's new height drew none again.
        draws = json.loads(got["draws"])
        assert draws["exact"] == int(got["panels"]), (draws, got["panels"], got.get("resizes"))
        resizes = int(got["resizes"])
        width = json.loads(got["zoom"])
        page.set_viewport_size({"width": 1000, "height": 1400})
        frame.wait_for_function(f"() => +{state}.resizes > {resizes}")
        # Drawn again, on the frame's own time (a fixed 500 ms before).
        frame.wait_for_function(
            f"() => JSON.parse({state}.draws).exact > {draws['exact']}", timeout=60_000
        )
        after = _state(frame)
        assert len(json.loads(after["zoom"])) == len(width)  # every panel still shown
