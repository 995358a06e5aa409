"""The full-resolution swap in the browser alone: the built viewer, no Streamlit.

``bench/browser_viewer.py`` times a full-resolution arrival through the whole app (the
channel's fragment run, Streamlit's media route, the browser); on this 2-core machine,
shared with other benches, its noise hides what the page itself costs. This bench opens the
built viewer (``components/viewer/dist``) alone in Debian's Chromium on the CPU path, draws
four panels of 1024x832 previews, waits ``--look-ms`` (the reader looking at the case),
then zooms until the viewer wants its full images. Every ask of the viewer (at that zoom,
or ahead of it where the viewer prefetches) is answered ``WAIT_MS`` later, in the page,
with the asked 4096x3328 ``raw16`` images by URL from a local static server (Python's
own: no Streamlit in the way). It reads the viewer's clock (``data-fullres-ms``: from the
zoom's ask, or the zoom itself when the images were asked ahead, to the last full image
drawn; ``WAIT_MS`` included when the ask is the zoom's) and its breakdown (fetch and
caching per image, each CPU draw that windowed anew where the tree records them).

    python bench/viewer_fullres_page.py [--base OTHER_CHECKOUT] [--repeat N] [--look-ms MS]
        [--ignore-ahead]

With ``--base`` it alternates A (``--base``'s dist) and B (this checkout's) for every
repeat, in fresh browser contexts of one Chromium, and prints both medians.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcalc.imaging import downsample  # noqa: E402
from mcalc.present.fullres import RAW16, encode_answer  # noqa: E402
from mcalc.present.reading import encode_pixels  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

ROWS, COLS = 3328, 4096
#: From the viewer's request to the answer (the channel's run, in the app).
WAIT_MS = 300
#: Answers every ask WAIT_MS later (the page's own stand-in for the channel), by URL.
_ANSWERING = """([base, rows, cols, wait, ignoreAhead]) => {
  window.__asks = 0;
  window.addEventListener('message', e => {
    const d = e.data;
    if (!d || d.type !== 'mcalc:fullres-ask' || d.inline || (ignoreAhead && d.prefetch)) return;
    window.__asks += 1;
    const index = d.keys.map(k => ({key: k, rows, cols, spacing: [0.07, 0.07],
      codec: 'raw16', offset: 0, length: rows * cols * 2, url: `${base}/${k}.raw`}));
    setTimeout(() => window.postMessage({type: 'mcalc:fullres-answer', case: d.case, index,
      data: new Uint8Array(0)}, '*'), wait);
  });
}"""
_RENDER = "([a]) => window.postMessage({type: 'streamlit:render', args: a}, '*')"
_FULL = """() => { const d = document.getElementById('root').dataset;
  return JSON.parse(d.fullres || '[]').every(s => s === 'full') && +d.fullresMs > 0; }"""


def _images(root: Path) -> list[np.ndarray]:
    """Four seeded 12-bit 4096x3328 images, written as ``img<k>.raw`` (raw16) in ``root``."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:ROWS, 0:COLS]
    out = []
    for k in range(4):
        base = 1500 + 1200 * np.sin(xx / (300 + 50 * k)) * np.cos(yy / 400)
        img = np.clip(base + rng.normal(0, 60, base.shape), 0, 4095).astype(np.uint16)
        (root / f"img{k}.raw").write_bytes(encode_answer(img, RAW16))
        out.append(img)
    return out


def _args(images: list[np.ndarray]) -> dict[str, Any]:
    previews = [downsample(img.astype(np.float32), 1024) for img in images]
    scale = previews[0].shape[1] / COLS
    hang = [("CC", "prior"), ("CC", "recent"), ("MLO", "prior"), ("MLO", "recent")]
    panels = [
        {"key": f"img{k}", "label": f"L {view} {time}", "view": view, "time": time,
         "rows": p.shape[0], "cols": p.shape[1], "scale": scale,
         "spacing": [0.07 / scale, 0.07 / scale], "window": [2048, 4096], "presets": {},
         "invert": False, "pixels": encode_pixels(p), "points": [], "outlines": []}
        for k, ((view, time), p) in enumerate(zip(hang, previews, strict=True))
    ]  # fmt: skip
    return {"case_key": "c1", "panels": panels, "height": 620, "editable": None,
            "marks_version": 0, "labels": []}  # fmt: skip


def _once(
    browser: Any, url: str, base: str, args: dict[str, Any], look_ms: int, ignore_ahead: bool
) -> tuple[float, str]:
    """One arrival on a fresh page: the viewer's clock (ms) and a line of its breakdown."""
    context = browser.new_context(viewport={"width": 1500, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{url}/index.html?renderer=cpu")
        page.evaluate(_ANSWERING, [base, ROWS, COLS, WAIT_MS, ignore_ahead])
        page.evaluate(_RENDER, [args])
        page.wait_for_function("() => document.getElementById('root').dataset.zoom")
        page.wait_for_timeout(look_ms)
        box = page.locator(".panel").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(80):  # until the viewer wants its full images (no panel "preview")
            if "preview" not in page.eval_on_selector(
                "#root", "e => e.dataset.fullres || 'preview'"
            ):
                break
            page.mouse.wheel(0, -120)
            page.wait_for_timeout(40)
        page.wait_for_function(_FULL, timeout=120_000)
        d = page.eval_on_selector("#root", "e => ({...e.dataset})")
        t = json.loads(d.get("fullresTiming") or "{}")
        got = " ".join(
            f"fetch {im.get('fetchMs')} cache {im.get('cacheMs')}" for im in t.get("images", [])
        )
        draws = " ".join(
            f"{r['windowMs']} ({'/'.join(map(str, r.get('split', [])))})"
            for r in t.get("renders", [])
            if r.get("windowMs")
        )
        ahead = t.get("prefetched")
        line = f"first {d.get('fullresFirstMs')} ms | asks {page.evaluate('() => window.__asks')}"
        if isinstance(ahead, (int, float)) and isinstance(t.get("asked"), (int, float)):
            line += f" (ahead {t['asked'] - ahead:.0f} ms before the zoom)"
        line += f" | {got}" + (f" | draws {draws}" if draws else "")
        if d.get("fullresError"):
            line += f" | error {d['fullresError']}"
        return float(d["fullresMs"]), line
    finally:
        context.close()


def main() -> int:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=Path, help="another checkout: its dist is side A")
    ap.add_argument("--repeat", type=int, default=4)
    ap.add_argument("--look-ms", type=int, default=800, help="from the case drawn to the zoom")
    ap.add_argument(
        "--ignore-ahead",
        action="store_true",
        help="leave asks ahead of the zoom unanswered (an answer lost: only the zoom's counts)",
    )
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-page-"))
    sides = {"B": REPO / "components" / "viewer" / "dist"}
    if a.base is not None:
        sides = {"A": a.base / "components" / "viewer" / "dist", **sides}
    for side, dist in sides.items():
        shutil.copytree(dist, root / side)
    args = _args(_images(root))
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    ms: dict[str, list[float]] = {side: [] for side in sides}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                for k in range(a.repeat):
                    for side in sides:
                        v, line = _once(
                            browser, f"{base}/{side}", base, args, a.look_ms, a.ignore_ahead
                        )
                        ms[side].append(v)
                        print(f"{side} {k}: {v:.0f} ms; {line}", file=sys.stderr, flush=True)
            finally:
                browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    for side, values in ms.items():
        print(
            f"{side} {sides[side]}: median {statistics.median(values):.0f} ms "
            f"(ask or zoom to all four drawn, look {a.look_ms} ms, answer wait {WAIT_MS} ms) of "
            + " ".join(f"{v:.0f}" for v in values)
        )
    return 0


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
