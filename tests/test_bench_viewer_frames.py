"""bench/browser_viewer_frames.py's reading of Chromium's trace and of the page's clocks."""

from __future__ import annotations

import pytest

from bench.browser_viewer_frames import STAGES, TOTAL, event_latencies, grouped, page_split


def _slice(name: str, begin: float, end: float, tid: int = 2, ident: str = "0x1", **args) -> list:
    common = {"pid": 1, "tid": tid, "cat": "cc,benchmark,input", "id2": {"local": ident}}
    return [
        {**common, "name": name, "ph": "b", "ts": begin * 1000, "args": args},
        {**common, "name": name, "ph": "e", "ts": end * 1000, "args": {}},
    ]


def _event(kind: str, start: float, stages: dict[str, float], **kw) -> list:
    """An EventLatency of ``kind`` at ``start`` (ms) whose stages follow one another."""
    out, t = [], start
    for name, ms in stages.items():
        out += _slice(name, t, t + ms, **kw)
        t += ms
    return _slice("EventLatency", start, t, event_latency={"event_type": kind}, **kw) + out


def test_event_latencies_cut_reused_ids_and_leave_out_events_never_presented() -> None:
    shown = {
        "GenerationToBrowserMain": 1.0,
        "RendererCompositorToMain": 6.0,
        "RendererMainProcessing": 2.0,
        "RendererMainFinishedToCommit": 7.0,
        "SubmitCompositorFrameToPresentationCompositorFrame": 4.0,
    }
    dropped = {"RendererMainProcessing": 0.5, "RendererMainFinishedToTermination": 3.0}
    events = (
        _event("MOUSE_DRAGGED", 0.0, shown)
        + _event("MOUSE_DRAGGED", 100.0, dropped)  # the same id again: no frame presented
        + _event("MOUSE_DRAGGED", 200.0, {**shown, "RendererCompositorToMain": 10.0})
        + _event("MOUSE_WHEEL", 0.0, shown, tid=3)  # another thread, same id
    )
    got = event_latencies(events)
    assert sorted(got) == ["MOUSE_DRAGGED", "MOUSE_WHEEL"]
    assert [e[TOTAL] for e in got["MOUSE_DRAGGED"]] == [20.0, 24.0]
    assert got["MOUSE_DRAGGED"][1]["RendererCompositorToMain"] == 10.0
    med = grouped(got["MOUSE_DRAGGED"])
    assert med[TOTAL] == 22.0
    assert med["wait for the renderer's main frame"] == 8.0
    assert med["the rest of the frame to activation"] == 7.0
    assert sum(med[g] for g in STAGES) == pytest.approx(med[TOTAL])
    assert grouped([]) == {}


def test_page_split_from_the_first_input_to_its_publication_and_the_next_frame() -> None:
    viewer = [["published", 5.0], ["input", 10.0, 17.0], ["input", 12.0, 18.0], ["published", 21.0]]
    top = [["frame", 16.0], ["frame", 32.7], ["frame", 49.4]]
    assert page_split(viewer, top) == {
        "stamp to the viewer's listener": 7.0,
        "listener to published (every panel drawn)": 4.0,
        "published to the top document's next frame": pytest.approx(11.7),
    }
    assert "published to the top document's next frame" not in page_split(viewer, [])
    assert page_split([["input", 10.0, 17.0]], top) is None
    assert page_split([["published", 5.0]], top) is None
