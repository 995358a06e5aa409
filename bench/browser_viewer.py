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


class ProtocolInput:
    """The harness's way in: Playwright's mouse, which sends each wheel step and move as a
    DevTools-protocol command (``Input.dispatchMouseEvent``). Chromium holds a protocol wheel
    until the renderer's next frame before the page gets it, which a real wheel does not
    have (docs/measurements.md, "where the wheel's page clock goes")."""

    def __init__(self, page: Any) -> None:
        self.page = page

    def point(self, x: float, y: float) -> None:
        self.page.mouse.move(x, y)

    def wheel_in(self) -> None:
        self.page.mouse.wheel(0, -120)

    def right(self, down: bool) -> None:
        if down:
            self.page.mouse.down(button="right")
        else:
            self.page.mouse.up(button="right")


class RealInput:
    """A reader's mouse: the X server's XTest extension (``bench/xinput.py``) on the headed
    browser's display; page coordinates become the screen's through ``offset`` (the
    window's content origin on the screen)."""

    def __init__(self, xtest: Any, offset: tuple[float, float]) -> None:
        self.xtest = xtest
        self.offset = offset

    def point(self, x: float, y: float) -> None:
        self.xtest.move(x + self.offset[0], y + self.offset[1])

    def wheel_in(self) -> None:
        from bench.xinput import WHEEL_UP

        self.xtest.click(WHEEL_UP)  # one wheel click away from the reader: zoom in

    def right(self, down: bool) -> None:
        from bench.xinput import RIGHT

        self.xtest.button(RIGHT, down)


#: In every frame: the last pointer position seen (client and screen coordinates).
POINTER = """
addEventListener('mousemove', e => { window.__mcPointer = [e.clientX, e.clientY, e.screenX,
  e.screenY]; }, {capture: true, passive: true});
"""

#: The real-input session's screen, and its window's content size (the headless benches'
#: viewport, so the panels have the same size).
REAL_SCREEN = (1700, 2300)
REAL_VIEWPORT = (1500, 1900)


def real_input_times(
    url: str,
    repeat: int,
    timed: Callable[..., float],
    settle: Callable[..., float],
    step: Callable[[dict[str, list[float]], str, Any, Callable[[], list[float]]], None],
    state: str,
    observer: str,
    out: dict[str, list[float]],
) -> str | None:
    """The wheel and W/L steps of :func:`viewer_times` from a real input device, on the app
    at ``url``: headed Chromium on an X server of its own (Xvfb) at the headless benches'
    viewport, Browse's page, the same steps and the same poll, each wheel click and move sent
    through XTest (``out["viewer_wheel_xtest"]``, ``viewer_wl_xtest`` and their page-clock
    ``viewer_wheel_input_xtest``, ``viewer_wl_input_xtest``); then the same steps through
    the DevTools protocol in that browser (``*_headed``: how much of the difference is the
    way in, how much headed against headless). Returns why it was not measured (Xvfb or
    libXtst absent), else None."""
    import os

    from playwright.sync_api import sync_playwright

    from bench import xinput
    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    lacking = xinput.missing()
    if lacking:
        return (
            f"real input not measured: {', '.join(lacking)} absent (apt-get install xvfb xdotool)"
        )
    args = [a for a in CHROMIUM_ARGS if a != "--headless"] + [
        "--window-position=0,0",
        f"--window-size={REAL_VIEWPORT[0]},{REAL_VIEWPORT[1]}",
    ]
    with xinput.Xvfb(*REAL_SCREEN) as display, sync_playwright() as p:
        env = {**os.environ, "DISPLAY": display}
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=False, env=env)
        xtest = xinput.XTest(display)
        try:
            context = browser.new_context(no_viewport=True)
            for script in (observer, renderer_script(), POINTER):
                context.add_init_script(script)
            context.set_default_timeout(180_000)
            page = context.new_page()
            # The window's content to the headless viewport's size: the same panels.
            cdp = context.new_cdp_session(page)
            win = cdp.send("Browser.getWindowForTarget")["windowId"]
            dx, dy = page.evaluate("() => [outerWidth - innerWidth, outerHeight - innerHeight]")
            bounds = {"left": 0, "top": 0, "width": REAL_VIEWPORT[0] + dx}
            bounds["height"] = REAL_VIEWPORT[1] + dy
            cdp.send("Browser.setWindowBounds", {"windowId": win, "bounds": bounds})
            page.goto(f"{url}/browse", wait_until="networkidle")
            settle(page, 0.0, f"!!{state}.case", ran=False)
            size = page.evaluate("() => [innerWidth, innerHeight]")
            if tuple(size) != REAL_VIEWPORT:
                raise RuntimeError(
                    f"the headed window's content is {size[0]}x{size[1]}, expected"
                    f" {REAL_VIEWPORT[0]}x{REAL_VIEWPORT[1]} (the headless viewport):"
                    f" is the Xvfb screen ({REAL_SCREEN[0]}x{REAL_SCREEN[1]}) large enough?"
                )
            # Where the page's (0, 0) is on the screen: a pointer move over the page's own
            # document (its top-left corner, not the viewer's frame), read back.
            xtest.move(dx + 5, dy + 5)
            got = page.wait_for_function("() => window.__mcPointer").json_value()
            offset = (got[2] - got[0], got[3] - got[1])
            real = RealInput(xtest, offset)
            x, y = _panel_centre(page)
            real.point(x, y)
            frame = next(f for f in page.frames if "viewer" in f.url)
            seen = frame.wait_for_function("() => window.__mcPointer").json_value()
            box = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
            at = (seen[0] + box["x"], seen[1] + box["y"])
            if abs(at[0] - x) > 2 or abs(at[1] - y) > 2:
                raise RuntimeError(
                    f"an XTest move to the panel's centre ({x:.0f}, {y:.0f}) reached the page"
                    f" at ({at[0]:.0f}, {at[1]:.0f}): the window is not where the bench"
                    " placed it (a window manager on this display?)"
                )
            viewer_times(page, repeat, timed, state, out, step, "_xtest", real, next_case=False)
            viewer_times(page, repeat, timed, state, out, step, "_headed", next_case=False)
        finally:
            xtest.close()
            browser.close()
    return None


def viewer_times(
    page: Any,
    repeat: int,
    timed: Callable[..., float],
    state: str,
    out: dict[str, list[float]],
    step: Callable[[dict[str, list[float]], str, Any, Callable[[], list[float]]], None],
    suffix: str = "",
    way: Any = None,
    next_case: bool = True,
) -> None:
    """Wheel zoom, W/L drag and keyboard next case on the Browse page already open.

    ``timed(page, action, cond, ran=...)`` and ``step`` are ``bench/browser.py``'s; ``state``
    its JavaScript expression of the viewer's ``dataset``; the steps' input-to-drawn times
    on the page's clock go to ``out["viewer_wheel_input" + suffix]`` (and ``_wl_``). ``way``
    sends the wheel and the drag: :class:`ProtocolInput` (the default: the DevTools
    protocol, the harness's way in) or :class:`RealInput` (XTest); the same steps, the same
    poll either way. ``next_case=False`` leaves out the keyboard's next case."""
    way = way or ProtocolInput(page)

    def wheel() -> list[float]:
        x, y = _panel_centre(page)
        way.point(x, y)
        times = []
        for _ in range(repeat):
            before = _state(page, f"{state}.zoom")
            zooms = f"JSON.parse({state}.zoom || '[]')"
            was = f"JSON.parse({json.dumps(before)})"
            cond = f"{zooms}.length > 1 && {zooms}.every((z, i) => z !== {was}[i])"
            times.append(timed(page, way.wheel_in, _noting(cond, state), ran=False))
            _input_ms(page, out, f"viewer_wheel_input{suffix}")
        return times

    def window_level() -> list[float]:
        # One move of a drag with the right button held, as a reader feels each move: the
        # press and release are not timed. (Until 2 December 2026 the press, three moves and
        # the release were timed as one action: three frames and five input round trips.)
        x, y = _panel_centre(page)
        way.point(x, y)
        way.right(True)
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
                    timed(page, lambda to=to: way.point(*to), _noting(cond, state), ran=False)
                )
                _input_ms(page, out, f"viewer_wl_input{suffix}")
        finally:
            way.right(False)
        return times

    def next_keyboard() -> list[float]:
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

    step(out, f"viewer_wheel{suffix}", page, wheel)
    step(out, f"viewer_wl{suffix}", page, window_level)
    if next_case:
        step(out, "viewer_next", page, next_keyboard)


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
                        out[name] = rest[1]()  # name: viewer_wheel_full, viewer_wl_full

                    viewer_times(
                        page, repeat, timed, state, at_full, local_only, "_full", next_case=False
                    )
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


#: The ways a wheel step or drag move is sent, as the rows name them: (key suffix, label).
WAYS = [
    ("", "[protocol: the harness's way in]"),
    ("_xtest", "[XTest: a real mouse, headed]"),
    ("_headed", "[protocol, headed]"),
]


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
    # The wheel and W/L steps by each way in: the DevTools protocol in the headless session
    # (the harness's way in, as every other row), then, where Xvfb and libXtst exist
    # (:func:`real_input_times`), a real mouse through XTest in a headed browser and the
    # protocol again in that browser. The aim is the reader's: the XTest rows carry it where
    # they are measured (README, "Benchmarks").
    local = []
    for suffix, label in WAYS:
        if suffix and med(f"viewer_wheel{suffix}") != med(f"viewer_wheel{suffix}"):
            continue  # not measured (no X server here): no row rather than a row "not met"
        local += [
            row(f"viewer: wheel zoom, partners follow {label}", med(f"viewer_wheel{suffix}"),
                idle, AIM_LOCAL),
            row(f"viewer: W/L drag, one move (right button held) {label}",
                med(f"viewer_wl{suffix}"), idle, AIM_LOCAL),
            # The same steps on the page's clock: the input's own time stamp to the frame
            # that drew it, without the bench's command to the browser and its polling.
            row(f"viewer: wheel zoom, input to drawn (page clock) {label}",
                med(f"viewer_wheel_input{suffix}"), idle, AIM_LOCAL),
            row(f"viewer: W/L one move, input to drawn (page clock) {label}",
                med(f"viewer_wl_input{suffix}"), idle, AIM_LOCAL),
        ]  # fmt: skip
    return [
        *local,
        row("viewer: keyboard next case (N)", med("viewer_next"), idle, AIM_NEXT),
        *arrives,
        *full,
    ]


def main() -> int:
    """``python bench/browser_viewer.py [--quick] [--json] [--protocol-only]``: the viewer's
    figures alone (idle round trip, wheel, W/L, next case; the wheel and W/L again from a real
    mouse where Xvfb and libXtst exist, unless ``--protocol-only``; full resolution unless
    ``--quick``)."""
    import argparse
    import os

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench import browser as b
    from mcalc.synthetic import generate_demo
    from tests.browser import running_app

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument(
        "--protocol-only",
        action="store_true",
        help="no real-input (XTest, headed on Xvfb) session after the headless one",
    )
    args = ap.parse_args()
    repeat = 3 if args.quick else 5
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-viewer-"))
    generate_demo(tmp / "demo", cases=6, seed=0)

    os.environ.pop("MCALC_DATA", None)
    m: dict[str, list[float]] = {}
    from playwright.sync_api import sync_playwright

    with running_app(b.app_env(tmp), timeout=180) as url:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=b.CHROMIUM, args=b.CHROMIUM_ARGS, headless=True
            )
            try:
                context = b.new_context(browser, renderer_script())
                page = context.new_page()
                page.goto(url, wait_until="networkidle")
                sidebar = "!!document.querySelector('[data-testid=stSidebar]')"
                b._settle(page, 0.0, sidebar, ran=False)
                demo = page.get_by_role("button", name="Demo data")
                b._timed(page, demo.click)
                b._step(
                    m, "idle", page, lambda: [b._timed(page, demo.click) for _ in range(repeat)]
                )
                page.goto(f"{url}/browse", wait_until="networkidle")
                b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
                viewer_times(page, repeat, b._timed, b.VIEWER_STATE, m, b._step)
            finally:
                browser.close()
        if not args.protocol_only:
            try:  # a failure here loses the real-input rows, not the others
                why = real_input_times(
                    url, repeat, b._timed, b._settle, b._step, b.VIEWER_STATE, b.OBSERVER, m
                )
            except Exception as exc:
                why = f"viewer real input FAILED ({str(exc).splitlines()[0]})"
            if why:
                b._log(why)
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
