"""The reading viewer's interactions (components/viewer), for ``bench/browser.py``.

Measured in the same Chromium session as the other browser figures, on Browse, each from
the user's action until the viewer's state (its ``data-*`` attributes) shows the result,
against the page's idle round trip:

- wheel zoom: one wheel step on a panel until every synchronised partner's zoom changed
  (client-side: no rerun);
- W/L drag: with the right button held, one drag move until the window of the panel and
  its partners changed (client-side; each move of a drag timed, not the press and release);
- keyboard next case: ``P``/``N`` in turn on the viewer until the next case's panels are drawn and the
  page settled (one rerun);
- full-resolution arrival (:func:`fullres_times`, its own app on a full-size 4096x3328
  synthetic set, not in ``--quick``): from the viewer's request (a zoom near the preview's
  scale) until every panel has drawn its full-resolution image (texture upload included),
  by the viewer's own clock (``data-fullres-ms``; the channel's fragment answers with every
  image ready, each a media URL the viewer's workers fetch and decode; the time to the
  first image is logged too, ``data-fullres-first-ms``, and each image's way: ready or
  not on the server, the request's wait, fetch, inflate).

Adding a mark is ``bench/browser.py``'s Annotate figure (the same viewer).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VIEWER = "[data-testid='mcalc-viewer']"
#: Client-side interactions: at most this share of the idle round trip (300 ms for the
#: 2 s round trip of this machine: "instant" for a reader).
AIM_LOCAL = 0.15
AIM_NEXT = 1.3
#: One fragment run, then ~27 MB per image to move (raw16 on this machine).
AIM_FULLRES = 2.0


def renderer_script() -> str:
    """An init script forcing the viewer's drawing path when ``MCALC_BENCH_RENDERER`` is
    ``cpu`` or ``webgl`` (components/viewer/src/renderer.ts); else the viewer's choice."""
    import os

    path = os.environ.get("MCALC_BENCH_RENDERER", "")
    if path not in ("cpu", "webgl"):
        return ""
    return f"try {{ localStorage.setItem('mcalc-renderer', '{path}'); }} catch (e) {{}}"


def _state(page: Any, expr: str) -> Any:
    return page.evaluate(f"() => {expr}")


def _panel_centre(page: Any, index: int = 0) -> tuple[float, float]:
    frame = next(f for f in page.frames if "viewer" in f.url)
    box = frame.eval_on_selector_all(
        ".panel",
        "(els, i) => { const r = els[i].getBoundingClientRect();"
        " return [r.x, r.y, r.width, r.height]; }",
        index,
    )
    iframe = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
    return iframe["x"] + box[0] + box[2] / 2, iframe["y"] + box[1] + box[3] / 2


def _noting(cond: str, state: str) -> str:
    """``cond``, noting the viewer's ``data-input-ms`` (``state``: its dataset; its own
    input-to-drawn time, see components/viewer/src/interact.ts) when it first holds: a
    later frame may overwrite it."""
    return f"({cond}) && ((window.__mcInputMs = {state}.inputMs), true)"


def _input_ms(page: Any, out: dict[str, list[float]], name: str) -> None:
    """Append the input-to-drawn seconds noted by :func:`_noting` to ``out[name]``."""
    ms = page.evaluate(
        "() => { const ms = window.__mcInputMs; window.__mcInputMs = null; return ms; }"
    )
    if ms:
        out.setdefault(name, []).append(float(ms) / 1000.0)


def viewer_times(
    page: Any,
    repeat: int,
    timed: Callable[..., float],
    state: str,
    out: dict[str, list[float]],
    step: Callable[[dict[str, list[float]], str, Any, Callable[[], list[float]]], None],
    suffix: str = "",
) -> None:
    """Wheel zoom, W/L drag and keyboard next case on the Browse page already open.

    ``timed(page, action, cond, ran=...)`` and ``step`` are ``bench/browser.py``'s; ``state``
    its JavaScript expression of the viewer's ``dataset``; the steps' input-to-drawn times
    on the page's clock go to ``out["viewer_wheel_input" + suffix]`` (and ``_wl_``)."""

    def wheel() -> list[float]:
        x, y = _panel_centre(page)
        page.mouse.move(x, y)
        times = []
        for _ in range(repeat):
            before = _state(page, f"{state}.zoom")
            zooms = f"JSON.parse({state}.zoom || '[]')"
            was = f"JSON.parse({json.dumps(before)})"
            cond = f"{zooms}.length > 1 && {zooms}.every((z, i) => z !== {was}[i])"
            times.append(
                timed(page, lambda: page.mouse.wheel(0, -120), _noting(cond, state), ran=False)
            )
            _input_ms(page, out, f"viewer_wheel_input{suffix}")
        return times

    def window_level() -> list[float]:
        # One move of a drag with the right button held, as a reader feels each move: the
        # press and release are not timed. (Until 2 December 2026 the press, three moves and
        # the release were timed as one action: three frames and five input round trips.)
        x, y = _panel_centre(page)
        page.mouse.move(x, y)
        page.mouse.down(button="right")
        times = []
        try:
            for k in range(repeat):
                before = _state(page, f"{state}.window")
                wins = f"JSON.parse({state}.window || '[]')"
                was = f"JSON.parse({json.dumps(before)})"
                cond = (
                    f"{wins}.length > 1 && {wins}.every((w, i) =>"
                    f" JSON.stringify(w) !== JSON.stringify({was}[i]))"
                )
                to = (x + 8 * (k + 1), y + 6 * (k + 1))
                times.append(
                    timed(page, lambda to=to: page.mouse.move(*to), _noting(cond, state), ran=False)
                )
                _input_ms(page, out, f"viewer_wl_input{suffix}")
        finally:
            page.mouse.up(button="right")
        return times

    def next_case() -> list[float]:
        # P then N, in turn. Where the viewer starts is not known: after bench/browser.py's
        # Browse steps it shows the last case (no next), alone (this file's main) the first
        # (no previous: P changed nothing, the wait for a new case waited 300 s). One N,
        # not timed, first: then there is a previous case either way (the one N left, or
        # the last case, where N did nothing), and P, N, P... stay on two real cases.
        frame = next(f for f in page.frames if "viewer" in f.url)
        frame.focus(VIEWER)
        timed(page, lambda: frame.press(VIEWER, "n"))  # settled after its rerun
        times = []
        for k in range(repeat):
            frame = next(f for f in page.frames if "viewer" in f.url)
            frame.focus(VIEWER)
            before = _state(page, f"{state}.case")
            cond = f"{state}.case && {state}.case !== {json.dumps(before)}"
            key = "p" if k % 2 == 0 else "n"
            times.append(timed(page, lambda f=frame, key=key: f.press(VIEWER, key), cond))
        return times

    step(out, "viewer_wheel", page, wheel)
    step(out, "viewer_wl", page, window_level)
    step(out, "viewer_next", page, next_case)


def _loopback(nbytes: int) -> float:
    """Seconds to move ``nbytes`` through a local socket pair (send and receive)."""
    import socket
    import threading

    a, b = socket.socketpair()
    payload = memoryview(bytearray(nbytes))
    buf = bytearray(1 << 20)
    try:
        t = time.perf_counter()
        sender = threading.Thread(target=a.sendall, args=(payload,))
        sender.start()
        got = 0
        while got < nbytes:
            n = b.recv_into(buf)
            if not n:
                break
            got += n
        sender.join()
        return time.perf_counter() - t
    finally:
        a.close()
        b.close()


def fullres_floor(demo: Path, case_id: str, nbytes: int) -> float:
    """The full-resolution arrival's floor, in this process: the raw decode of the case's
    DICOMs (pydicom, as ``bench/viewer.py``'s floor) plus moving the bytes the viewer got
    (``nbytes``, as encoded) through a local socket. What it leaves out is the app's own
    work: encoding, Streamlit's path (fragment run, websocket, page, channel) and
    inflating in the browser. (Until 3 December 2026 the row compared with the page's idle
    round trip, which says nothing about moving 60 MB.)"""
    import pydicom

    from mcalc.dataset import open_dataset

    recs = list(open_dataset(demo).case(case_id).images)
    t = time.perf_counter()
    for rec in recs:
        _ = pydicom.dcmread(rec.image_path).pixel_array
    return time.perf_counter() - t + _loopback(nbytes)


def fullres_times(
    repeat: int,
    timed: Callable[..., float],
    settle: Callable[..., float],
    state: str,
    observer: str,
    app_env: Callable[[Path], dict[str, str]],
    floors: list[float] | None = None,
    at_full: dict[str, list[float]] | None = None,
) -> list[float]:
    """Seconds from a zoom past the preview to every panel at full resolution, on an app of
    its own over a 3-case full-size (4096x3328) synthetic set; one case per repeat. With
    ``floors``, each case's :func:`fullres_floor` is appended there (measured after the
    browser is closed, in the same run). With ``at_full``, a wheel step and W/L drag moves
    are timed on the first case once its full images are shown (``viewer_wheel_full``,
    ``viewer_wl_full``): the CPU path's cost grows with the image's pixels, WebGL's with
    the panel's (components/viewer/src/renderer.ts)."""
    from playwright.sync_api import sync_playwright

    from mcalc.synthetic import generate_demo
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-fullres-"))
    generate_demo(tmp / "demo", cases=3, seed=1, size="full")
    times: list[float] = []
    firsts: list[float] = []
    shown_cases: list[tuple[str, int]] = []  # case, bytes the viewer got
    with running_app(app_env(tmp), timeout=180) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1900})
            context.add_init_script(observer)
            context.add_init_script(renderer_script())
            context.set_default_timeout(300_000)
            page = context.new_page()
            page.goto(f"{url}/browse", wait_until="networkidle")
            for k in range(min(repeat, 3)):
                settle(page, 0.0, f"!!{state}.case", ran=False)
                x, y = _panel_centre(page)
                page.mouse.move(x, y)
                # Every panel full and drawn (the viewer's clock stops at the draw).
                full = (
                    f"JSON.parse({state}.fullres || '[]').every(s => s === 'full')"
                    f" && +({state}.fullresMs || -1) > 0"
                )
                # Zoom step by step until the viewer asks (one preview pixel near one
                # screen pixel: the panels' size decides how many steps), then wait.
                for _ in range(80):
                    if "preview" not in _state(page, f"{state}.fullres || 'preview'"):
                        break
                    page.mouse.wheel(0, -120)
                    page.wait_for_timeout(40)
                page.wait_for_function(f"() => {full}", timeout=600_000)
                # The viewer's own clock: from its request to the last full image shown.
                times.append(float(_state(page, f"{state}.fullresMs")) / 1000.0)
                firsts.append(float(_state(page, f"{state}.fullresFirstMs || -1")) / 1000.0)
                timing = json.loads(_state(page, f"{state}.fullresTiming || '{{}}'"))
                if at_full is not None and k == 0:

                    def local_only(out: dict[str, list[float]], name: str, *rest: Any) -> None:
                        if name != "viewer_next":
                            out[f"{name}_full"] = rest[1]()

                    viewer_times(page, repeat, timed, state, at_full, local_only, "_full")
                _log_breakdown(timing)
                shown_cases.append(
                    (
                        str(_state(page, f"{state}.case")).split("|")[0],
                        sum(int(im.get("bytes", 0)) for im in timing.get("images") or []),
                    )
                )
                if k + 1 < min(repeat, 3):
                    frame = next(f for f in page.frames if "viewer" in f.url)
                    before = _state(page, f"{state}.case")
                    timed(
                        page,
                        lambda f=frame: f.press(VIEWER, "n"),
                        f"{state}.case !== {json.dumps(before)}",
                    )
        finally:
            browser.close()
    if floors is not None:
        for case_id, nbytes in shown_cases:
            floors.append(fullres_floor(tmp / "demo", case_id, nbytes))
        print(
            "[bench/browser] viewer_fullres floor (raw decode + loopback of the same bytes) "
            + " ".join(f"{v:.2f}" for v in floors),
            file=sys.stderr,
        )
    shutil.rmtree(tmp, ignore_errors=True)  # ~0.7 GB of full-size DICOMs and caches
    print(
        "[bench/browser] viewer_fullres first image " + " ".join(f"{v:.2f}" for v in firsts),
        file=sys.stderr,
    )
    return times


def _log_breakdown(t: dict[str, Any]) -> None:
    """One arrival's breakdown (the viewer's ``data-fullres-timing``, epoch ms) on stderr:
    per image the server's load and encode, when its bytes reached the viewer after the
    request, the worker's inflate and the caching, then the first and last image shown, and
    each draw of a full image that windowed anew (CPU path)."""
    asked = t.get("asked")
    if not isinstance(asked, (int, float)):
        return
    parts = []
    for im in t.get("images") or []:
        server = im.get("server") or {}
        ready = {True: " (ready)", False: " (not ready)"}.get(server.get("ready"), "")
        fetched = f" fetch {im['fetchMs']} ms," if im.get("fetchMs") is not None else ""
        parts.append(
            f"{im.get('key')}: {im.get('bytes', 0) / 1e6:.1f} MB load {server.get('load_ms')}"
            f" encode {server.get('encode_ms')} ms{ready} waited {server.get('wait_ms')} ms,"
            f" answered +{im.get('answered', im.get('arrived', asked)) - asked} ms,{fetched}"
            f" here +{im.get('arrived', asked) - asked} ms, inflate {im.get('inflateMs')} ms,"
            f" cache {im.get('cacheMs')} ms"
        )
    # The CPU path's draws of full images that windowed anew (src/visible.ts): when, and
    # its allocation, window lookups and putImageData.
    for r in t.get("renders") or []:
        if r.get("windowMs"):
            split = "/".join(str(v) for v in r.get("split") or [])
            parts.append(
                f"draw {str(r.get('id', '')).split(':')[-2]} +{r.get('at', asked) - asked} ms:"
                f" {r['windowMs']} ms (alloc/window/put {split})"
            )
    first = t.get("first", asked) - asked
    shown = t.get("shown", asked) - asked
    # Asked ahead (fullres.ts prefetch: once the case was drawn), this long before the zoom.
    ahead = t.get("prefetched")
    lead = f" (asked ahead {asked - ahead} ms before the zoom)" if ahead is not None else ""
    if t.get("aheadFailed"):  # fetched ahead, failed (a media file gone), asked at the zoom
        lead += f" (fetch ahead failed: {t['aheadFailed']})"
    print(
        f"[bench/browser] viewer_fullres breakdown{lead}: first shown +{first} ms, all shown"
        f" +{shown} ms; " + "; ".join(parts),
        file=sys.stderr,
    )


def viewer_rows(
    med: Callable[[str], float], idle: float, row: Callable[..., dict[str, Any]]
) -> list[dict[str, Any]]:
    """The viewer's figures (``row`` is ``bench/browser.py``'s ``_row``); full resolution
    against :func:`fullres_floor` (``viewer_fullres_floor``)."""
    floor = med("viewer_fullres_floor")
    full = [
        row(f"viewer: {what}, full resolution shown", med(name), idle, AIM_LOCAL)
        for what, name in [
            ("wheel zoom, partners follow", "viewer_wheel_full"),
            ("W/L drag, one move", "viewer_wl_full"),
            ("wheel zoom, input to drawn (page clock)", "viewer_wheel_input_full"),
            ("W/L one move, input to drawn (page clock)", "viewer_wl_input_full"),
        ]
        if med(name) == med(name)  # measured (full mode only)
    ]
    arrives = []
    fullres = med("viewer_fullres")
    if fullres == fullres:  # measured unless --quick (a row without a value reads "not met")
        fallback = floor if floor == floor else idle  # NaN: no floor measured (older caller)
        arrives.append(
            row("viewer: full resolution arrives (4096x3328)", fullres, fallback, AIM_FULLRES)
        )
    return [
        row("viewer: wheel zoom, partners follow", med("viewer_wheel"), idle, AIM_LOCAL),
        row("viewer: W/L drag, one move (right button held)", med("viewer_wl"), idle, AIM_LOCAL),
        # The same steps on the page's clock: the input's own time stamp to the frame that
        # drew it, without the bench's command to the browser and its polling.
        row(
            "viewer: wheel zoom, input to drawn (page clock)",
            med("viewer_wheel_input"),
            idle,
            AIM_LOCAL,
        ),
        row(
            "viewer: W/L one move, input to drawn (page clock)",
            med("viewer_wl_input"),
            idle,
            AIM_LOCAL,
        ),
        row("viewer: keyboard next case (N)", med("viewer_next"), idle, AIM_NEXT),
        *arrives,
        *full,
    ]


def main() -> int:
    """``python bench/browser_viewer.py [--quick] [--json]``: the viewer's figures alone
    (idle round trip, wheel, W/L, next case; full resolution unless ``--quick``)."""
    import argparse
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import browser as b
    from mcalc.synthetic import generate_demo
    from tests.browser import running_app

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    repeat = 3 if args.quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-viewer-"))
    generate_demo(tmp / "demo", cases=6, seed=0)

    os.environ.pop("MCALC_DATA", None)
    m: dict[str, list[float]] = {}
    from playwright.sync_api import sync_playwright

    with running_app(b.app_env(tmp), timeout=180) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=b.CHROMIUM, args=b.CHROMIUM_ARGS, headless=True)
        try:
            context = b.new_context(browser, renderer_script())
            page = context.new_page()
            page.goto(url, wait_until="networkidle")
            b._settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            demo = page.get_by_role("button", name="Demo data")
            b._timed(page, demo.click)
            b._step(m, "idle", page, lambda: [b._timed(page, demo.click) for _ in range(repeat)])
            page.goto(f"{url}/browse", wait_until="networkidle")
            b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
            viewer_times(page, repeat, b._timed, b.VIEWER_STATE, m, b._step)
        finally:
            browser.close()
    shutil.rmtree(tmp, ignore_errors=True)  # the demo set and the app's caches
    if not args.quick:
        m["viewer_fullres"] = fullres_times(
            repeat,
            b._timed,
            b._settle,
            b.VIEWER_STATE,
            b.OBSERVER,
            b.app_env,
            floors=m.setdefault("viewer_fullres_floor", []),
            at_full=m,
        )
        for name in ("viewer_wheel_full", "viewer_wl_full"):
            if name in m:
                b._log(name, m[name])
        b._log("viewer_fullres", m["viewer_fullres"])
    idle = b._median(m["idle"])

    def med(name: str) -> float:
        return b._median(m[name]) if m.get(name) else float("nan")

    rows = [b._row("browser: idle round trip (Home rerun)", idle, idle, 1.0)]
    rows += viewer_rows(med, idle, b._row)
    print(json.dumps({"figures": rows}) if args.json else b._table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
