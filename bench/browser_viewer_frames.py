"""Where a wheel step and a W/L move of the reading viewer go, frame by frame, against the
same steps on a page that does nothing with them.

``bench/browser_viewer.py`` times a step from the bench's command until the first frame of
the app's page whose state shows every panel changed. This bench splits that time, on the
same Browse page and the same steps (Playwright's protocol wheel and a move with the right
button held), headless:

- Chromium's own account of each input event (its ``EventLatency`` trace events, category
  ``input``): from the event's creation to the presentation of the frame that shows its
  effect, in stages (delivery to the renderer, the wait for the renderer's next main frame,
  the page's handlers, the rest of that frame up to its commit and activation, the display
  compositor's draw);
- the page's own clocks: the event's time stamp to the viewer frame's first listener, that
  listener to the viewer's published state (every panel drawn, ``data-*``), and that
  publication to the first ``requestAnimationFrame`` of the app's top document after it,
  where the harness's poll (Playwright's ``wait_for_function``, polled per animation frame)
  can see it.

The floors: the same steps on a page of the same viewport whose listeners (``wheel``
non-passive, as the viewer's) draw a 2x2 square in the next animation frame (what Chromium
alone takes from input to presentation on this machine), or every pixel of four opaque
canvases the size of the bench's panels (the least that changing four panels costs).

Throughout, the top documents run an animation-frame loop, as the harness's poll does while
it waits: so each step waits for the page's frame cadence, as in ``bench/browser_viewer.py``
and as during a drag, whose moves keep the frames coming. ``--idle`` leaves the loop out:
on a page otherwise idle, headless Chromium starts a frame as soon as an input comes.

``python bench/browser_viewer_frames.py [--steps N] [--json] [--repo TREE] [--idle] [--keep]``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: Chromium's stages of an ``EventLatency``, grouped as this bench reports them (names as in
#: Chromium's cc/metrics/event_latency_tracing_recorder.cc; a stage absent from an event,
#: e.g. no compositor processing, counts 0).
STAGES: dict[str, tuple[str, ...]] = {
    "delivery (browser to the renderer)": (
        "GenerationToBrowserMain",
        "BrowserMainToRendererCompositor",
        "RendererCompositorQueueingDelay",
        "RendererCompositorProcessing",
    ),
    "wait for the renderer's main frame": ("RendererCompositorToMain",),
    "the page's input handlers": ("RendererMainProcessing",),
    "the rest of the frame to activation": (
        "RendererMainFinishedToCommit",
        "Commit",
        "EndCommitToActivation",
        "Activation",
        "EndActivateToSubmitCompositorFrame",
    ),
    "display compositor (submit to presentation)": (
        "SubmitCompositorFrameToPresentationCompositorFrame",
    ),
}
TOTAL = "input to presentation (EventLatency)"
#: Chromium's event types of the steps (``event_latency.event_type``).
TYPES = {"wheel": "MOUSE_WHEEL", "wl": "MOUSE_DRAGGED"}

#: In every frame: the top document's animation frames (a loop of its own, LOOP), and in the
#: viewer's frame the stamp and the time of each wheel step or drag move (first listener,
#: capture) and of each publication of its zoom or window (a MutationObserver: the microtask
#: after ``publish()``). Times on one clock (``performance.timeOrigin`` + ``now()``, ms).
PAGE_CLOCKS = r"""
(() => {
  const L = (window.__mcFrames = []);
  const t = () => performance.timeOrigin + performance.now();
  if (window === window.top) {
    const loop = () => { L.push(['frame', t()]); requestAnimationFrame(loop); };
    if (LOOP) requestAnimationFrame(loop);
    return;
  }
  const at = e => performance.timeOrigin + e.timeStamp;
  addEventListener('wheel', e => L.push(['input', at(e), t()]), {capture: true, passive: true});
  addEventListener('mousemove', e => { if (e.buttons) L.push(['input', at(e), t()]); },
    {capture: true, passive: true});
  const seen = new MutationObserver(ms => {
    if (ms.some(m => m.attributeName === 'data-zoom' || m.attributeName === 'data-window'))
      L.push(['published', t()]);
  });
  const hook = () => {
    const el = document.querySelector("[data-testid='mcalc-viewer']");
    if (el) seen.observe(el, {attributes: true}); else setTimeout(hook, 50);
  };
  hook();
})();
"""

#: The floors' page: four canvases the size of the bench's panels (opaque), a non-passive
#: wheel listener that prevents scrolling and a move listener. Each event has the next
#: animation frame draw (as the viewer draws in its animation frame): with FULL false a 2x2
#: pixel square of the first canvas (a frame must show something for Chromium to present
#: it), else every pixel of the four canvases (one ``putImageData`` each: the least a
#: change of four panels costs the compositor).
FLOOR_PAGE = """<!doctype html><html><body style="margin:0;background:#0e1117">
<div style="display:flex;gap:4px;padding:60px 200px">
<canvas width=254 height=616></canvas><canvas width=254 height=616></canvas>
<canvas width=254 height=616></canvas><canvas width=254 height=616></canvas></div>
<script>
const ctxs = [...document.querySelectorAll('canvas')].map(c => c.getContext('2d', {alpha: false}));
const data = [0, 1].map(k => { const d = new ImageData(254, 616);
  for (let i = 0; i < d.data.length; i += 4) d.data.fill(k ? 200 : (i >> 6) & 255, i, i + 3), d.data[i + 3] = 255;
  return d; });
let k = 0;
const draw = () => {
  k++;
  if (FULL) for (const ctx of ctxs) ctx.putImageData(data[k % 2], 0, 0);
  else { ctxs[0].fillStyle = (k % 2) ? '#fff' : '#000'; ctxs[0].fillRect(0, 0, 2, 2); }
};
const tick = () => requestAnimationFrame(draw);
addEventListener('wheel', e => { e.preventDefault(); tick(); }, {passive: false});
addEventListener('mousemove', e => { if (e.buttons) tick(); });
</script></body></html>"""
#: The pages measured: the viewer, and the floors' page drawing a square or four panels.
PAGES = {"viewer": None, "floor": "false", "floor, four panels drawn": "true"}


def event_latencies(events: list[dict[str, Any]]) -> dict[str, list[dict[str, float]]]:
    """Chromium's ``EventLatency`` trace events, per event type: each presented event's
    total (ms, :data:`TOTAL`) and its stages (ms, Chromium's names), from a trace's
    ``traceEvents``. An event whose frame was never presented (no
    ``SubmitCompositorFrameToPresentationCompositorFrame`` stage) is left out.

    The stages are async slices of the same id on the same thread as their event, between
    its begin and end; ids are reused, so each stream is cut at its ``EventLatency`` slices.

    >>> ev = [
    ...     {"name": "EventLatency", "ph": "b", "ts": 0, "pid": 1, "tid": 2,
    ...      "cat": "input", "id2": {"local": "0x1"},
    ...      "args": {"event_latency": {"event_type": "MOUSE_WHEEL"}}},
    ...     {"name": "SubmitCompositorFrameToPresentationCompositorFrame", "ph": "b",
    ...      "ts": 1000, "pid": 1, "tid": 2, "cat": "input", "id2": {"local": "0x1"}},
    ...     {"name": "SubmitCompositorFrameToPresentationCompositorFrame", "ph": "e",
    ...      "ts": 4000, "pid": 1, "tid": 2, "cat": "input", "id2": {"local": "0x1"}},
    ...     {"name": "EventLatency", "ph": "e", "ts": 4000, "pid": 1, "tid": 2,
    ...      "cat": "input", "id2": {"local": "0x1"}},
    ... ]
    >>> event_latencies(ev)["MOUSE_WHEEL"][0][TOTAL]
    4.0
    """
    streams: dict[tuple[Any, Any, str], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if "input" in e.get("cat", "") and "id2" in e and e.get("ph") in ("b", "e"):
            streams[(e["pid"], e["tid"], json.dumps(e["id2"], sort_keys=True))].append(e)
    out: dict[str, list[dict[str, float]]] = defaultdict(list)
    for stream in streams.values():
        # At one time stamp an EventLatency begins before its stages and ends after them.
        def order(e: dict[str, Any]) -> tuple[float, int]:
            top = e["name"] == "EventLatency"
            return (e["ts"], (0 if e["ph"] == "b" else 2) if top else 1)

        kind: str | None = None
        start = 0.0
        stages: dict[str, float] = {}
        opened: dict[str, float] = {}
        for e in sorted(stream, key=order):
            if e["name"] == "EventLatency":
                if e["ph"] == "b":
                    info = e.get("args", {}).get("event_latency", {})
                    kind, start, stages, opened = info.get("event_type"), e["ts"], {}, {}
                elif kind is not None:
                    if "SubmitCompositorFrameToPresentationCompositorFrame" in stages:
                        out[kind].append({**stages, TOTAL: (e["ts"] - start) / 1000.0})
                    kind = None
            elif kind is not None:
                if e["ph"] == "b":
                    opened[e["name"]] = e["ts"]
                elif e["name"] in opened:
                    stages[e["name"]] = (e["ts"] - opened.pop(e["name"])) / 1000.0
    return dict(out)


def grouped(samples: list[dict[str, float]]) -> dict[str, float]:
    """Medians (ms) of :data:`TOTAL` and of each group of :data:`STAGES` over ``samples``
    (:func:`event_latencies`' entries of one type)."""
    if not samples:
        return {}
    med = {TOTAL: statistics.median(s[TOTAL] for s in samples)}
    for group, names in STAGES.items():
        med[group] = statistics.median(sum(s.get(n, 0.0) for n in names) for s in samples)
    return med


def page_split(viewer: list[list[Any]], top: list[list[Any]]) -> dict[str, float] | None:
    """One step's page clocks (ms) from :data:`PAGE_CLOCKS`' notes in the viewer's frame
    (``viewer``) and the top document (``top``): the stamp to the first listener, that to
    the first publication after it, and (where the top document's frames are noted) that to
    its next animation frame, where the harness's per-frame poll can first see it. None
    when the input or the publication was not noted."""
    inputs = [n for n in viewer if n[0] == "input"]
    if not inputs:
        return None
    stamp, heard = inputs[0][1], inputs[0][2]
    published = [n[1] for n in viewer if n[0] == "published" and n[1] >= heard]
    if not published:
        return None
    split = {
        "stamp to the viewer's listener": heard - stamp,
        "listener to published (every panel drawn)": published[0] - heard,
    }
    shown = [n[1] for n in top if n[0] == "frame" and n[1] >= published[0]]
    if shown:
        split["published to the top document's next frame"] = shown[0] - published[0]
    return split


def _steps(
    page: Any, frames: list[Any], x: float, y: float, steps: int, state: str | None
) -> list[dict[str, float]]:
    """``steps`` wheel steps then ``steps`` moves with the right button held, at (x, y), each
    waited for (the viewer's ``state`` changed, then 150 ms; 270 ms on a floor's page); the
    page split of each where ``state`` is given."""
    splits: list[dict[str, float]] = []

    def one(send: Any, key: str) -> None:
        for f in frames:
            f.evaluate("() => { (window.__mcFrames || []).length = 0; }")
        if state:
            before = page.evaluate(f"() => {state}.{key}")
            send()
            page.wait_for_function(f"() => {state}.{key} !== {json.dumps(before)}")
            page.wait_for_timeout(150)
            top = page.evaluate("() => window.__mcFrames")
            got = page_split(frames[1].evaluate("() => window.__mcFrames"), top)
            if got:
                splits.append({"step": 0.0 if key == "zoom" else 1.0, **got})
        else:
            send()
            page.wait_for_timeout(270)

    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    for _ in range(steps):
        one(lambda: page.mouse.wheel(0, -120), "zoom")
    page.mouse.down(button="right")
    try:
        for k in range(steps):
            to = (x + 8 * (k + 1), y + 6 * (k + 1))
            one(lambda to=to: page.mouse.move(*to), "window")
    finally:
        page.mouse.up(button="right")
    return splits


def measure(steps: int, repo: Path, loop: bool = True, keep: bool = False) -> dict[str, Any]:
    """The viewer on Browse (the app of ``repo`` on a 6-case demo of its own) and the floor's
    page, each in a headless Chromium of its own under a trace, with (``loop``) or without
    an animation-frame loop in the top document; see the module's doc. The traces and the
    demo set are removed afterwards unless ``keep`` (their folder: ``result["kept"]``)."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(repo))
    from bench import browser as b
    from bench.browser_viewer import _panel_centre
    from mcalc.synthetic import generate_demo
    from tests.browser import running_app

    categories = ["input", "cc", "benchmark", "viz", "latencyInfo"]
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-frames-"))
    generate_demo(tmp / "demo", cases=6, seed=0)
    os.environ.pop("MCALC_DATA", None)
    result: dict[str, Any] = {"loop": loop}
    clocks = PAGE_CLOCKS.replace("LOOP", "true" if loop else "false")
    with running_app(b.app_env(tmp), timeout=180, repo=repo) as url, sync_playwright() as p:
        for name, full in PAGES.items():
            browser = p.chromium.launch(
                executable_path=b.CHROMIUM, args=b.CHROMIUM_ARGS, headless=True
            )
            try:
                trace = tmp / f"{name}.json"
                if name == "viewer":
                    page = b.new_context(browser, clocks).new_page()
                    page.goto(f"{url}/browse", wait_until="networkidle")
                    b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
                    viewer = next(f for f in page.frames if "viewer" in f.url)
                    x, y = _panel_centre(page)
                    frames, state = [page.main_frame, viewer], b.VIEWER_STATE
                else:
                    page = b.new_context(browser, clocks).new_page()
                    page.set_content(FLOOR_PAGE.replace("FULL", str(full)))
                    x, y = 200 + 127, 60 + 308
                    frames, state = [page.main_frame], None
                browser.start_tracing(page=page, path=str(trace), categories=categories)
                splits = _steps(page, frames, x, y, steps, state)
                browser.stop_tracing()
            finally:
                browser.close()
            events = json.loads(trace.read_text())["traceEvents"]
            lat = event_latencies(events)
            result[name] = {
                step: {"n": len(lat.get(kind, [])), **grouped(lat.get(kind, []))}
                for step, kind in TYPES.items()
            }
            if splits:
                for step, code in (("wheel", 0.0), ("wl", 1.0)):
                    mine = [s for s in splits if s["step"] == code]
                    keys = [k for k in mine[0] if k != "step"] if mine else []
                    result[name][step].update(
                        {k: statistics.median(s[k] for s in mine) for k in keys}
                    )
    if keep:
        result["kept"] = str(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def main() -> int:
    """``python bench/browser_viewer_frames.py [--steps N] [--json] [--repo TREE] [--idle] [--keep]``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app runs")
    ap.add_argument(
        "--idle",
        action="store_true",
        help="no animation-frame loop in the top documents (the harness's poll has one)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the traces (their folder printed)")
    args = ap.parse_args()
    result = measure(args.steps, args.repo.resolve(), loop=not args.idle, keep=args.keep)
    if args.json:
        print(json.dumps(result))
        return 0
    if args.keep:
        print(f"traces: {result['kept']}")
    names = list(PAGES)
    print(f"medians, ms; columns: {' | '.join(names)}")
    for step, label in (("wheel", "wheel step (protocol)"), ("wl", "W/L move, right button held")):
        got = [result[n][step] for n in names]
        print(f"{label} (events: {', '.join(str(g['n']) for g in got)})")
        keys = [TOTAL, *STAGES, *(k for k in got[0] if k not in STAGES and k not in (TOTAL, "n"))]
        for key in keys:
            cells = " | ".join("-" if g.get(key) is None else f"{g[key]:5.1f}" for g in got)
            print(f"  {key:<48} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
