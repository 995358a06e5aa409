"""The viewer's start in fresh tabs: its bundle's ``EvaluateScript``, with and without DevTools.

Each page with the viewer loads ``components/viewer/dist/viewer.js`` into a frame; in a new
tab (a new renderer process) the bundle's top-level code runs there from cold. This bench
serves a tree's ``components/viewer/dist`` as static files (the viewer's page alone: no app,
no Streamlit) and opens it in ``--tabs`` new tabs, one after the other, of one headless
Chromium, reading each tab's ``EvaluateScript`` of ``viewer.js`` from a browser-wide trace:
its main-thread CPU (the trace's thread time) and wall time.

Two ways of opening the tabs (``--session``):

* ``none``: no DevTools session on the tab (``Target.createTarget`` on the browser's own
  connection), as in a reader's browser;
* ``runtime``: a session that enables ``Runtime`` before the navigation, as Playwright does
  for every page (the app's benches and browser tests). Under such a session Chromium did
  extra work for the bundle's first ``document.cookie`` read in a tab without the bundle's
  code cache (about 0.15 s of CPU; docs/measurements.md, "the viewer's start in a fresh
  tab"), work that a reader's browser does not do.

Chromium keeps a script's code cache from its third load on, so the first two tabs
evaluate without it and the later ones with it; the table gives each tab in order.

    python bench/viewer_start.py [--repo TREE] [--tabs N] [--session none|runtime|both]

For A/B runs give each tree in turn (A, B, A, B) with ``--repo``; the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

#: The bundle whose evaluation is read from the trace.
BUNDLE = "viewer.js"


def evaluate_times(events: list[dict[str, Any]], name: str = BUNDLE) -> list[tuple[float, float]]:
    """``(CPU ms, wall ms)`` of each ``EvaluateScript`` of a script whose URL's path ends in
    ``name`` (a query string allowed), in the order they began. The CPU is the event's thread
    time (``tdur``), the wall its duration (``dur``), both in microseconds in the trace.

    >>> evaluate_times([{"ph": "X", "name": "EvaluateScript", "ts": 5, "dur": 3000,
    ...                  "tdur": 2000, "args": {"data": {"url": "http://h/viewer.js?v=1"}}}])
    [(2.0, 3.0)]
    """
    found = []
    for e in events:
        if e.get("ph") != "X" or e.get("name") != "EvaluateScript":
            continue
        url = str(((e.get("args") or {}).get("data") or {}).get("url") or "")
        if url.split("?", 1)[0].rsplit("/", 1)[-1] != name:
            continue
        if "tdur" not in e:
            raise ValueError(
                f"an EvaluateScript of {url} has no thread time (tdur): the trace was "
                "recorded without thread times; record it with Chromium's Tracing domain"
            )
        found.append((e["ts"], e["tdur"] / 1000.0, e.get("dur", 0) / 1000.0))
    return [(cpu, wall) for _, cpu, wall in sorted(found)]


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """``folder`` over HTTP on a free local port; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium() -> Iterator[str]:
    """A headless Chromium of its own (fresh profile, DevTools on a free port); yields the
    browser's DevTools websocket URL."""
    profile = Path(tempfile.mkdtemp(prefix="mcalc-viewer-start-"))
    args = [CHROMIUM, *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}"]
    proc = subprocess.Popen(
        [*args, "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not (port_file.is_file() and len(port_file.read_text().split()) >= 2):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(
                    f"{CHROMIUM} did not open its DevTools port within 30 s "
                    f"(exit status {proc.poll()}); set MCALC_CHROMIUM to a working Chromium"
                )
            time.sleep(0.1)
        port, path = port_file.read_text().split()[:2]
        yield f"ws://127.0.0.1:{port}{path}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


async def _tabs(ws_url: str, url: str, tabs: int, session: str, open_s: float) -> list[Any]:
    """Opens ``url`` in ``tabs`` new tabs in turn, each kept ``open_s`` seconds, under a
    browser-wide trace; returns the trace's events."""
    import websockets  # Streamlit's dependency

    async with websockets.connect(ws_url, max_size=2**30) as ws:
        events: list[Any] = []
        waiting: dict[Any, asyncio.Future[Any]] = {}
        loop = asyncio.get_running_loop()
        last = 0

        async def read() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("id") in waiting:
                    waiting.pop(msg["id"]).set_result(msg)
                elif msg.get("method") == "Tracing.dataCollected":
                    events.extend(msg["params"]["value"])
                elif msg.get("method") == "Tracing.tracingComplete":
                    waiting.pop("complete").set_result(msg)

        async def send(method: str, params: dict[str, Any], sid: str | None = None) -> Any:
            nonlocal last
            last += 1
            waiting[last] = loop.create_future()
            msg: dict[str, Any] = {"id": last, "method": method, "params": params}
            if sid:
                msg["sessionId"] = sid
            await ws.send(json.dumps(msg))
            answer = await waiting[last]
            if "error" in answer:
                raise RuntimeError(f"DevTools {method}: {answer['error']}")
            return answer.get("result", {})

        reader = asyncio.create_task(read())
        await send(
            "Tracing.start",
            {
                "traceConfig": {"includedCategories": ["devtools.timeline", "toplevel", "v8"]},
                "transferMode": "ReportEvents",
            },
        )
        for _ in range(tabs):
            if session == "none":
                target = (await send("Target.createTarget", {"url": url}))["targetId"]
            else:
                target = (await send("Target.createTarget", {"url": "about:blank"}))["targetId"]
                sid = (await send("Target.attachToTarget", {"targetId": target, "flatten": True}))[
                    "sessionId"
                ]
                await send("Runtime.enable", {}, sid)
                await send("Page.navigate", {"url": url}, sid)
            await asyncio.sleep(open_s)
            await send("Target.closeTarget", {"targetId": target})
            await asyncio.sleep(0.5)
        waiting["complete"] = loop.create_future()
        await send("Tracing.end", {})
        await waiting["complete"]
        reader.cancel()
        return events


def measure(repo: Path, tabs: int, session: str, open_s: float = 3.0) -> list[tuple[float, float]]:
    """``(CPU ms, wall ms)`` of the bundle's evaluation in each of ``tabs`` fresh tabs of
    ``repo``'s viewer page, opened with ``session`` ("none" or "runtime")."""
    dist = repo / "components" / "viewer" / "dist"
    if not (dist / "index.html").is_file() or not (dist / BUNDLE).is_file():
        raise FileNotFoundError(
            f"{dist} has no index.html/{BUNDLE}: give --repo a tree with the viewer built"
        )
    with serving(dist) as base, chromium() as ws_url:
        events = asyncio.run(_tabs(ws_url, f"{base}/index.html", tabs, session, open_s))
    times = evaluate_times(events)
    if len(times) != tabs:
        raise RuntimeError(
            f"the trace holds {len(times)} evaluations of {BUNDLE} for {tabs} tabs: "
            "a tab did not load the viewer (try a longer --open)"
        )
    return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=REPO, help="the tree whose viewer is served")
    ap.add_argument("--tabs", type=int, default=4, help="fresh tabs per session kind")
    ap.add_argument("--session", choices=("none", "runtime", "both"), default="both")
    ap.add_argument("--open", type=float, default=3.0, help="seconds each tab stays open")
    a = ap.parse_args()
    print(f"{a.repo}: load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    for session in ("none", "runtime") if a.session == "both" else (a.session,):
        times = measure(a.repo, a.tabs, session, a.open)
        shown = "  ".join(f"{cpu:.1f}/{wall:.0f}" for cpu, wall in times)
        first = [cpu for cpu, _ in times[:2]]
        print(
            f"session {session:<7} EvaluateScript CPU/wall ms per tab: {shown}   "
            f"(first two tabs: CPU median {statistics.median(first):.1f} ms)",
            flush=True,
        )
    print(f"{a.repo}: load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
