"""Helpers for browser tests: app servers on free ports, driven by Debian's Chromium.

Starting Streamlit (and the TensorFlow import of its first Predict, Train or Evaluate run)
is the largest cost of a browser test, so the tests share: one app server per set of
settings (:func:`shared_app`, started on first use and stopped after the last browser test,
see ``tests/conftest.py``), one Chromium per session, and a fresh browser context (cookies,
storage, viewport) per test (:func:`browser_page`). Tests that share a server keep out of
each other's way by what they write: each reader name, model id and job is its own.
"""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = os.environ.get("MCALC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: What the session started, for the terminal summary (``tests/conftest.py``).
COUNTS = {"servers": 0, "browsers": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_app(
    env: dict[str, str], timeout: float = 90.0, repo: Path = REPO, *, as_installed: bool = False
) -> Iterator[str]:
    """Run ``streamlit run app.py`` on localhost; yields its base URL; stops it afterwards.
    ``repo``: the checkout whose app runs (a bench's A/B against another tree).

    Tests run it without Streamlit's file watcher (nothing edits the scripts meanwhile);
    ``as_installed`` keeps the app's own settings (``.streamlit/config.toml``: the polling
    watcher), as ``streamlit run app.py`` runs it for a user: the benches. Without a watcher
    the server also skips its look at every imported module after each new session's
    first run, which cost 0.6-0.7 s of the event loop per session until 6 December 2026
    (:func:`pages.server_tuning.share_watched_module_paths`), and no bench saw it.

    Prefer :func:`shared_app`: a server of its own costs a test 10-30 s on this machine.
    """
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(repo / "app.py"),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
    ]
    if not as_installed:  # nothing edits the scripts during a test: no watcher polling them
        cmd.append("--server.fileWatcherType=none")
    log = ARTIFACTS / f"streamlit-{port}.log"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    COUNTS["servers"] += 1
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=repo, env={**os.environ, **env}, stdout=fh, stderr=fh)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited early; see {log}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"streamlit did not answer within {timeout} s; see {log}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class App:
    """A running app server and the folders it was started with."""

    url: str
    env: dict[str, str]
    root: Path

    def path(self, variable: str) -> Path:
        """The folder of setting ``variable`` (``MCALC_STORE``, ``MCALC_MODELS``...)."""
        return Path(self.env[variable])


class _Shared:
    """Servers and the browser kept for the whole run of the browser tests."""

    def __init__(self) -> None:
        self.stack = contextlib.ExitStack()
        self.apps: dict[str, App] = {}
        self.browser = None

    def app(self, name: str, prepare: Callable[[], tuple[Path, dict[str, str]]]) -> App:
        if name not in self.apps:
            root, env = prepare()
            url = self.stack.enter_context(running_app(env))
            self.apps[name] = App(url, env, root)
        return self.apps[name]

    def chromium(self):
        if self.browser is None:
            from playwright.sync_api import sync_playwright

            playwright = self.stack.enter_context(sync_playwright())
            self.browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            self.stack.callback(self.browser.close)
            COUNTS["browsers"] += 1
        return self.browser

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            self.stack = contextlib.ExitStack()
            self.apps.clear()
            self.browser = None


_SHARED = _Shared()


def shared_app(name: str, prepare: Callable[[], tuple[Path, dict[str, str]]]) -> App:
    """The server ``name``, started on first use with ``prepare()``'s (root, env)."""
    require_chromium()
    return _SHARED.app(name, prepare)


def stop_shared() -> None:
    """Stop the shared servers and the browser (after the last browser test)."""
    _SHARED.close()


def prepare_demo_app(demo: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """Folders and settings of the shared demo server: the tiny demo set, its own cache,
    store and runs, and a registry of two models, newest first: ``spot`` (the hand-made
    detector, Predict's default) and ``demo-custom`` (the committed demo model, evaluated on
    Evaluate; with ``spot``, the two models Evaluate's detection tab compares).
    ``data/`` is the one allowed data root besides the demo (a path under it that does not
    exist is a dataset that cannot be opened)."""
    import json

    from tests.explain_fixtures import register, spot_model

    models = root / "models"
    shutil.copytree(REPO / "models" / "demo-custom", models / "demo-custom")
    card_file = models / "demo-custom" / "card.json"
    card = json.loads(card_file.read_text())
    card.update(created="2024-06-02T00:00:00+00:00")
    card_file.write_text(json.dumps(card))
    register(models, "spot", spot_model())
    (root / "data").mkdir()
    env = {
        "MCALC_DEMO_DIR": str(demo),
        "MCALC_CACHE": str(root / "cache"),
        "MCALC_STORE": str(root / "store"),
        "MCALC_RUNS": str(root / "runs"),
        "MCALC_MODELS": str(models),
        "MCALC_USERS": str(root / "users.yaml"),  # none: demo mode, no sign-in
        "MCALC_DATA_ROOTS": str(root / "data"),
        "MCALC_ANALYSE_AHEAD": "1",  # as shipped (the tests' own process turns it off)
    }
    return root, env


def require_chromium() -> None:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    import playwright.sync_api  # noqa: F401  (requirements-dev: its absence must fail)


class Runs:
    """The script runs of one page, read from its websocket: what a test waits on instead of
    a sleep. Counts the full runs the page asked for (``BackMsg.rerun_script``: the first
    load, a widget, a component's value) and knows whether the run started after the last
    request has finished (``ForwardMsg.new_session`` then ``script_finished``)."""

    def __init__(self, page) -> None:
        self.page = page
        self._frames: list[tuple[bool, bytes]] = []  # (sent by the page?, payload), unread
        self._requests, self._started, self._done = 0, False, False
        page.on("websocket", self._socket)

    def _socket(self, ws) -> None:
        if "_stcore/stream" in ws.url:
            # Only keep the bytes here: the handler runs inside Playwright's dispatch.
            ws.on("framesent", lambda p: self._frames.append((True, p)))
            ws.on("framereceived", lambda p: self._frames.append((False, p)))

    def _state(self) -> tuple[int, bool]:
        """(full runs requested, whether the run after the last request has finished)."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        frames, self._frames = self._frames, []
        for sent, payload in frames:
            if not isinstance(payload, bytes):
                continue
            if sent:
                back = BackMsg()
                back.ParseFromString(payload)
                if back.WhichOneof("type") == "rerun_script" and not back.rerun_script.fragment_id:
                    self._requests, self._started, self._done = self._requests + 1, False, False
                continue
            msg = ForwardMsg()
            msg.ParseFromString(payload)
            kind = msg.WhichOneof("type")
            if kind == "new_session":
                self._started = True
            elif kind == "script_finished" and self._started:
                # A fragment's run (a run_every poll, a fragment's widget) that starts after
                # the last request ends the same way as a full run: the page is idle again.
                self._done = msg.script_finished in (
                    ForwardMsg.FINISHED_SUCCESSFULLY,
                    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
                )
        return self._requests, self._done

    @property
    def requests(self) -> int:
        return self._state()[0]

    def wait_settled(self, requests: int, timeout_ms: int = 60_000) -> None:
        """Wait until the page has asked for ``requests`` full runs (or more) and the run
        that started after the last one has finished."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            asked, done = self._state()
            if asked >= requests and done:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{asked} of {requests} runs asked for, last finished: {done}, "
                    f"after {timeout_ms} ms"
                )
            self.page.wait_for_timeout(50)  # lets Playwright deliver the socket's frames

    def after(self, action: Callable[[], object], timeout_ms: int = 60_000) -> None:
        """Wait for the app to be idle, do ``action``, wait for the run it asked for."""
        wait_for_app_idle(self.page, timeout_ms)
        before = self.requests
        action()
        self.wait_settled(before + 1, timeout_ms)


_RUNS: dict[int, Runs] = {}


def runs(page) -> Runs:
    """The :class:`Runs` of a page made by :func:`browser_page`."""
    return _RUNS[id(page)]


@contextlib.contextmanager
def browser_page(width: int = 1500, height: int = 2400, scale: float = 1.0):
    """A page of its own browser context (cookies, storage, viewport) in the session's
    headless Debian Chromium (never a downloaded browser), its runs counted (:func:`runs`).
    ``scale``: device pixels per CSS pixel (what a browser zoom of 150 % makes: 1.5)."""
    require_chromium()
    context = _SHARED.chromium().new_context(
        viewport={"width": width, "height": height}, device_scale_factor=scale
    )
    try:
        page = context.new_page()
        # The first page a fresh app server serves competes with the app's TensorFlow
        # warm-up (it holds the GIL for seconds: 5 -> 10-13 s for a cold /browse, measured
        # 3 December) and, in the suite, with the other worker: 30 s timed out once.
        page.set_default_navigation_timeout(90_000)
        _RUNS[id(page)] = Runs(page)
        _REQUESTS[id(page)] = _request_log(page)
        console = _console_log(page)
        try:
            yield page
        except BaseException as error:
            # A browser test that failed (often only under load, in CI) says what the page
            # showed: its screenshot and text under tests/artifacts, and in the failure's
            # message the page's last lines, console messages, requests and script runs.
            error.add_note(failure_report(page, console))
            raise
    finally:
        _RUNS.clear()
        _REQUESTS.clear()
        context.close()


_REQUESTS: dict[int, collections.deque[str]] = {}


def _console_log(page, keep: int = 30) -> collections.deque[str]:
    """The page's last ``keep`` console messages and page errors, for a failure's report."""
    log: collections.deque[str] = collections.deque(maxlen=keep)
    start = time.monotonic()
    page.on(
        "console", lambda m: log.append(f"{time.monotonic() - start:7.2f} s {m.type}: {m.text}")
    )
    page.on("pageerror", lambda e: log.append(f"{time.monotonic() - start:7.2f} s pageerror: {e}"))
    return log


def failure_report(page, console: Iterable[str], lines: int = 25) -> str:
    """What the page showed when a test failed: a screenshot and the page's text saved under
    :data:`ARTIFACTS` (named after the test), and a text naming them with the page's address,
    its last ``lines`` lines of text, console messages, last requests and script runs. Never
    raises: a page already closed or crashed is said so."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "browser-test").split(" ")[0]
    stem = ARTIFACTS / ("failed-" + "".join(c if c.isalnum() else "_" for c in test)[-120:])
    out = [f"--- the page when the test failed ({time.strftime('%H:%M:%S')}) ---"]
    try:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        out.append(f"address: {page.url}")
        page.screenshot(path=f"{stem}.png", full_page=True, timeout=10_000)
        out.append(f"screenshot: {stem}.png")
        text = page.locator("body").inner_text(timeout=10_000)
        Path(f"{stem}.txt").write_text(text)
        shown = [line for line in text.splitlines() if line.strip()]
        out.append(f"page text ({len(shown)} lines, all in {stem}.txt), the last {lines}:")
        out.extend("  " + line[:200] for line in shown[-lines:])
    except Exception as error:  # the report must not hide the test's own failure
        out.append(f"(the page could not be read: {type(error).__name__}: {error})")
    out.append("console:")
    out.extend("  " + line[:300] for line in console)
    out.append("last requests:")
    out.extend("  " + line for line in list(_REQUESTS.get(id(page), []))[-15:])
    runs_of = _RUNS.get(id(page))
    if runs_of is not None:
        asked, done = runs_of._state()
        out.append(f"script runs: {asked} asked for, the last one finished: {done}")
    port = page.url.split("://", 1)[-1].split("/", 1)[0].rpartition(":")[2]
    log = ARTIFACTS / f"streamlit-{port}.log"
    if port.isdigit() and log.exists():
        tail = log.read_text(errors="replace").splitlines()[-15:]
        out.append(f"the app server's log ({log}), the last {len(tail)} lines:")
        out.extend("  " + line[:300] for line in tail)
    return "\n".join(out)


def _request_log(page, keep: int = 40) -> collections.deque[str]:
    """The page's last ``keep`` HTTP requests and how each ended, for the message of a load
    that timed out (a ``_stcore/health`` poll loop there means the websocket never opened)."""
    log: collections.deque[str] = collections.deque(maxlen=keep)
    start = time.monotonic()

    def note(what: str, request) -> None:
        log.append(f"{time.monotonic() - start:7.2f} s {what:8} {request.method} {request.url}")

    page.on("request", lambda r: note("asked", r))
    page.on("requestfinished", lambda r: note("finished", r))
    page.on("requestfailed", lambda r: note("failed", r))
    return log


def give_reader_name(page, reader: str) -> None:
    """Type ``reader`` into Annotate's name field (waiting for the page's first run on a busy
    machine), press Enter and wait until the app is idle again."""
    field = page.get_by_label("Your name", exact=False)
    field.wait_for(timeout=90_000)
    field.fill(reader)
    field.press("Enter")
    wait_for_app_idle(page)


def wait_for_marking(frame, key: str, timeout_ms: int = 60_000) -> None:
    """Wait until the viewer's panel of image ``key`` says it is marked in ("· marking"):
    the reader's name reaches a viewer drawn before it a moment after the page is idle, and
    a tool chosen before then (A) stays Pan, so clicks place nothing (a clean-clone CI
    failure, 7 December 2026)."""
    label = f'.panel[data-key="{key}"] .label'
    frame.wait_for_function(
        f"() => document.querySelector({label!r})?.textContent.endsWith('· marking')",
        timeout=timeout_ms,
    )


def open_app(page, url: str, reload: bool = False, timeout_ms: int = 90_000) -> None:
    """Load ``url`` (or reload the page) and wait until the app's first run has finished.

    Waits for the document's load and then the app's own idle state (:func:`wait_for_app_idle`),
    not for "networkidle" (no request for 0.5 s): on a fresh server in the suite that never
    came within 30-90 s three times on 3 December (the viewer's bundle, its service worker's
    copy and the app's requests kept the network busy), while the app was idle. A timeout
    names the page's last requests."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    watcher = _RUNS.get(id(page))
    before = watcher.requests if watcher is not None else 0
    try:
        if reload:
            page.reload(wait_until="load", timeout=timeout_ms)
        else:
            page.goto(url, wait_until="load", timeout=timeout_ms)
        if watcher is not None:  # the run this load asks for, not one before it
            watcher.wait_settled(before + 1, timeout_ms)
        wait_for_app_idle(page, timeout_ms)
    except (PlaywrightTimeout, AssertionError) as error:
        requests = "\n".join(_REQUESTS.get(id(page), ()))
        raise AssertionError(
            f"{url or page.url}: the app was not idle within {timeout_ms} ms ({error}); "
            f"the page's last requests:\n{requests}"
        ) from error


def wait_for_app_idle(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has finished running the script: for a page of
    :func:`browser_page`, the run after the last one it asked for has ended (see
    :class:`Runs`); and no 'Running...' widget shows."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout_ms)
    watcher = _RUNS.get(id(page))
    if watcher is not None:
        watcher.wait_settled(1, timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout_ms
    )


def choose(page, label: str, values: list[str]) -> None:
    """Make ``values`` (each option's text up to " (") the choice of the multiselect
    ``label``, in place of what it held; each change waits for its run."""
    widget = page.locator("[data-testid='stMultiSelect']").filter(has_text=label).first
    tags = widget.locator("[data-tag]")
    wait_for_app_idle(page)
    for _ in range(2 * len(values) + 6):
        shown = tags.evaluate_all("els => els.map(e => e.getAttribute('aria-label') || '')")
        ids = [t.split(" (")[0] for t in shown]
        if ids == values:
            return
        extra = next((t for t, i in zip(shown, ids, strict=True) if i not in values), None)
        if extra is not None or ids != values[: len(ids)]:
            remove = widget.get_by_role("button", name=f"Remove {extra or shown[-1]}")
            runs(page).after(remove.click)
            continue
        box = widget.get_by_role("combobox")
        box.click()
        box.fill(values[len(ids)])
        option = page.get_by_role("option", name=values[len(ids)]).first
        option.wait_for(timeout=30_000)
        runs(page).after(lambda o=option: (o.click(), page.keyboard.press("Escape")))
    raise AssertionError(f"{label}: chose {values}, shows {shown}")


def select(page, label: str, value: str, timeout_ms: int = 60_000) -> None:
    """Choose the option starting ``value`` in the selectbox ``label``; wait for its run."""
    box = page.get_by_role("combobox", name=label, exact=True)
    wait_for_app_idle(page, timeout_ms)
    box.click()
    box.fill(value)
    option = page.get_by_role("option", name=value).first
    option.wait_for(timeout=30_000)
    runs(page).after(option.click, timeout_ms)
    assert box.input_value().startswith(value), box.input_value()


VIEWER = "[data-testid='mcalc-viewer']"

#: What of the viewer's frame a projector's audience could not read (h/projector2): each
#: shown text under 14 px (toolbars, panel titles, readouts, the help) as [text, px]; each
#: toolbar group of controls split over rows though it fits one row of its bar; each toolbar
#: control reaching past its bar's right edge. The text drawn on the images (marks' letters,
#: region and detection numbers, hot spots' peaks: 11-13 px before h/imgtext) is in ``small``
#: too, as the smallest font size its canvases drew (the viewer's ``data-label-px``).
VIEWER_ILLEGIBLE = """() => {
  const shown = e => e.getClientRects().length > 0;
  const own = e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  const small = [...document.querySelectorAll('body *')]
    .filter(e => shown(e) && (own(e) || e.tagName === 'SELECT'))
    .map(e => [e.textContent.trim().slice(0, 30), parseFloat(getComputedStyle(e).fontSize)])
    .filter(([, px]) => px < 14);
  const drawn = parseFloat(document.querySelector('[data-testid=mcalc-viewer]')?.dataset.labelPx);
  if (drawn > 0 && drawn < 14) small.push(['text on the images', drawn]);
  const split = [], over = [];
  for (const bar of document.querySelectorAll('.bar')) {
    if (!shown(bar)) continue;
    const right = bar.getBoundingClientRect().right + 0.5;
    for (const g of bar.querySelectorAll('.grp')) {
      const kids = [...g.children].filter(shown);
      const tops = new Set(kids.map(k => Math.round(k.getBoundingClientRect().top / 6)));
      const wide = kids.reduce((w, k) => w + k.getBoundingClientRect().width + 4, -4);
      if (tops.size > 1 && wide <= bar.clientWidth) split.push(g.textContent);
    }
    for (const c of bar.querySelectorAll('*'))
      if (shown(c) && c.getBoundingClientRect().right > right) over.push(c.textContent || c.tagName);
  }
  return {small, split, over};
}"""


def viewer_frame(page, timeout_s: float = 60.0):
    """The component's frame, once its panels have rendered; not one a page without a
    viewer keeps hidden (Browse's and Annotate's on Predict: pages.viewer_component)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "mcalc_viewer" in frame.url or "components/viewer" in frame.url:
                try:
                    if frame.eval_on_selector(
                        VIEWER, "e => e.dataset.hidden === '1' ? '' : e.dataset.zoom || ''"
                    ):
                        return frame
                except Exception:  # the frame is still loading
                    pass
        page.wait_for_timeout(250)
    raise AssertionError(f"no rendered viewer frame among {[f.url for f in page.frames]}")


def page_point(page, frame, panel: int, x: float, y: float) -> tuple[float, float]:
    """The page's coordinates of the point ``(x, y)`` of the viewer's panel ``panel`` (CSS
    pixels from the top left of the panel's canvas, inside its borders, as the viewer's
    ``regionPoints`` give them), for ``page.mouse``: the viewer's frame's place on the page
    plus the panel's inner top left in the frame. (The panel's outer top left, 20 px above
    its canvas with the title bar of 14 px text, put bench/browser.py's region clicks above
    the smaller boxes: three of five rounds left out, 7 December 2026, 23:48.)"""
    iframe = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
    box = frame.eval_on_selector_all(
        ".panel",
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [r.x + e.clientLeft, r.y + e.clientTop]; })",
    )[panel]
    assert iframe is not None, "the viewer's frame is not on the page"
    return iframe["x"] + box[0] + x, iframe["y"] + box[1] + y


#: What a websocket message of the app carries when it brings a viewer pixels (the index
#: of its binary argument, ``pixels``, not empty).
PIXELS = b'"pixels": [{'


def pixel_messages(page) -> list[int]:
    """The sizes of the websocket messages from the server that carry pixels, from now on
    (the list grows as they come)."""
    carried: list[int] = []

    def socket(ws) -> None:
        if "_stcore/stream" in ws.url:
            ws.on(
                "framereceived",
                lambda p: isinstance(p, bytes) and PIXELS in p and carried.append(len(p)),
            )

    page.on("websocket", socket)
    return carried


#: A function of a canvas: its red channel (the grey level of a viewer panel's canvas) as
#: ``[height, width, base64 of one byte a pixel]``, for :func:`greys`. Bytes, not a JS
#: array of numbers: Playwright serialises an array element by element, each as an object
#: of its own (4.6 s of two 380x445 panels on the 2-core machine; 0.06 s as bytes).
CANVAS_GREYS = """c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const g = new Uint8Array(c.width * c.height);
  for (let i = 0; i < g.length; i++) g[i] = d[4 * i];
  let s = '';
  for (let i = 0; i < g.length; i += 0x8000)
    s += String.fromCharCode.apply(null, g.subarray(i, i + 0x8000));
  return [c.height, c.width, btoa(s)];
}"""


def greys(shots: Iterable[tuple[int, int, str]]):
    """The canvases of :data:`CANVAS_GREYS` as arrays of int grey levels (rows, cols)."""
    import base64

    import numpy as np

    return [
        np.frombuffer(base64.b64decode(data), np.uint8).astype(int).reshape(h, w)
        for h, w, data in shots
    ]
