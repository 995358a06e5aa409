"""Browse's reading interactions alone, with where their time goes (issue 14).

The Browse figures of ``bench/browser.py`` (case switch by *Next*, the sidebar's *Invert*,
the viewer's keyboard ``P``/``N``) against the idle round trip, measured the same way
(``bench/browser.py``'s ``_timed``: from the action until Streamlit's script state is
idle and the change drawn), on an app of their own over the synthetic demo set (6 cases, more when ``--repeat`` needs
them),
without Predict (minutes shorter). Each step also prints what it cost: when the script
started and finished as the page saw it, the bytes that came over the websocket and the
viewer's own time to draw a new case (``data-render-ms``, from its render message to its
panels drawn), when the change was seen drawn (``case_drawn`` for *Next*: what the reader
sees, not waiting for the run's end) and whether the viewer showed the case at the click
(``src/neighbour.ts``); ``--timeline`` adds the server's own runs per step (start after the
action, wall and CPU ms, from ``MCALC_RUN_LOG``).

    python bench/browser_browse.py [--repeat N] [--timeline] [--repo CHECKOUT]

For before/after comparisons run it against two checkouts in turn (``--repo``: the app of
that checkout, this bench's harness; A, B, A, B) and compare the ratios of the same run;
the machine's load average is printed at the end.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, VIEWER, running_app  # noqa: E402


def _step(page: Any, name: str, action: Callable[[], None], cond: str, inbox: list[int]) -> float:
    inbox.clear()
    fetched = int(page.evaluate(f"() => +({b.VIEWER_STATE}.aheadBytes || 0)"))
    shown_before = int(page.evaluate(f"() => +({b.VIEWER_STATE}.neighbourShown || 0)"))
    t0 = float(page.evaluate("performance.now()"))
    try:
        secs = b._timed(page, action, cond)
    except Exception:  # a stalled step (seen on main too): say what the page showed then
        runs = page.evaluate("() => window.__mcRuns.slice(-6)")
        state = page.evaluate(f"() => ({{...{b.VIEWER_STATE}}})")
        keep = ("case", "swaps", "renderMs", "swapMs", "pixelsHeld", "pixelsRequests")
        print(
            f"{name} STALLED: last script states {runs} (t0 {t0:.0f}); viewer "
            f"{ {k: state.get(k) for k in (*keep, 'pixelsError', 'aheadBytes', 'aheadError')} }",
            flush=True,
        )
        raise
    runs = page.evaluate("t0 => window.__mcRuns.filter(e => e[0] >= t0)", t0)
    if RUN_LOG is not None:  # the server's runs since the click (--timeline)
        _timeline(page, name, t0, secs)
    start = next((e[0] - t0 for e in runs if e[1] == "running"), float("nan"))
    end = next((e[0] - t0 for e in reversed(runs) if e[1] == "notRunning"), float("nan"))
    # The server's script_finished messages since t0 (bench.browser.OBSERVER): a run the
    # page drew in one commit shows no states at all, only this.
    fin = page.evaluate("t0 => window.__mcFinished.filter(e => e[0] >= t0)", t0)
    if fin and not runs:
        start, end = float("nan"), fin[-1][0] - t0
    state = page.evaluate(f"() => ({{...{b.VIEWER_STATE}}})")
    ahead = (int(state.get("aheadBytes") or 0) - fetched) / 1e6
    cond_s = (float(page.evaluate("window.__mcDone")) - t0) / 1000
    early = int(state.get("neighbourShown") or 0) - shown_before
    print(
        f"{name}: {secs:.2f} s (script {start / 1000:.2f}-{end / 1000:.2f} s"
        + (" (no states drawn: its end from the websocket)" if fin and not runs else "")
        + ", "
        f"{sum(inbox) / 1e6:.2f} MB in, viewer draw {state.get('renderMs', '-')} ms, "
        f"of which images swapped {state.get('swapMs', '-')} ms"
        + (f"; {ahead:.2f} MB fetched ahead by then" if "aheadBytes" in state else "")
        + f"; change seen at {cond_s:.2f} s"
        + ("; shown at the click" if early > 0 else "")
        + ")",
        flush=True,
    )
    DRAWN.append(cond_s)
    return secs


#: Each step's time from the action until its change was drawn (``cond`` first true), not
#: waiting for the run's end: for *Next*, when the reader sees the new case.
DRAWN: list[float] = []

#: The app server's run log (``MCALC_RUN_LOG``) when ``--timeline`` asked for it.
RUN_LOG: Path | None = None


def _timeline(page: Any, name: str, t0: float, secs: float) -> None:
    """The server's script runs that started after the click at ``t0`` (page ms): their
    start after the click, wall and CPU seconds, and the step's end, on one line."""
    origin = float(page.evaluate("performance.timeOrigin"))
    click = (origin + t0) / 1000.0
    lines = RUN_LOG.read_text().splitlines() if RUN_LOG and RUN_LOG.exists() else []
    runs = [json.loads(x) for x in lines]
    shown = [
        f"{r['start'] - click:+.2f}s {r['wall'] * 1000:.0f}/{r['cpu'] * 1000:.0f}ms"
        for r in runs
        if "work" not in r and r["start"] >= click - 0.05 and r["start"] <= click + secs
    ]
    print(f"  {name} server runs (start, wall/cpu): {', '.join(shown) or 'none'}", flush=True)
    # Background work logged beside the runs (a line with "work") that overlapped the step.
    work = [
        f"{r['work']} {r['start'] - click:+.2f}s {r['wall'] * 1000:.0f}ms"
        for r in runs
        if "work" in r and r["start"] + r["wall"] >= click - 1.0 and r["start"] <= click + secs
    ]
    if work:
        print(f"  {name} server work meanwhile: {', '.join(work)}", flush=True)


def measure(repeat: int, repo: Path = REPO) -> dict[str, list[float]]:
    """Every step ``repeat`` times on the app of ``repo``; its demo set and caches (160 MB)
    go afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-browse-"))
    try:
        return _measure(tmp, repeat, repo)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(tmp: Path, repeat: int, repo: Path) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from mcalc.synthetic import generate_demo

    generate_demo(tmp / "demo", cases=b.demo_cases(repeat, 6), seed=0)
    env = b.app_env(tmp)
    if RUN_LOG is not None:
        env["MCALC_RUN_LOG"] = str(RUN_LOG)
    os.environ.pop("MCALC_DATA", None)
    inbox: list[int] = []
    out: dict[str, list[float]] = {"idle": [], "case_switch": [], "toggle": [], "key_next": []}
    with running_app(env, timeout=180, repo=repo) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = b.new_context(browser)
            page = context.new_page()
            page.on(
                "websocket",
                lambda ws: ws.on("framereceived", lambda data: inbox.append(len(data))),
            )
            page.goto(url, wait_until="networkidle")
            b._settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            demo = page.get_by_role("button", name="Demo data")
            b._timed(page, demo.click)  # the first click warms the path
            for _ in range(repeat):
                out["idle"].append(_step(page, "idle", demo.click, "true", inbox))
            page.goto(f"{url}/browse", wait_until="networkidle")
            b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)

            def new_case() -> str:
                before = page.evaluate(f"() => {b.VIEWER_STATE}.case")
                return f"{b.VIEWER_STATE}.case && {b.VIEWER_STATE}.case !== {json.dumps(before)}"

            nxt = page.get_by_role("button", name="Next ▶")
            b.point_at(page, nxt)
            for _ in range(repeat):
                out["case_switch"].append(_step(page, "Next", nxt.click, new_case(), inbox))
                out.setdefault("case_drawn", []).append(DRAWN[-1])
            invert = page.locator("[data-testid='stSidebar'] label").filter(has_text="Invert").first
            for _ in range(repeat):
                out["toggle"].append(_step(page, "Invert", invert.click, "true", inbox))
            for k in range(repeat):
                frame = next(f for f in page.frames if "viewer" in f.url)
                frame.focus(VIEWER)
                key = "p" if k % 2 == 0 else "n"
                out["key_next"].append(
                    _step(
                        page,
                        key.upper(),
                        lambda f=frame, k=key: f.press(VIEWER, k),
                        new_case(),
                        inbox,
                    )
                )
        finally:
            browser.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app runs (an A/B)")
    ap.add_argument(
        "--timeline", action="store_true", help="each step's server runs (MCALC_RUN_LOG)"
    )
    args = ap.parse_args()
    if args.timeline:
        global RUN_LOG
        RUN_LOG = Path(tempfile.mkdtemp(prefix="mcalc-bench-runs-")) / "runs.jsonl"
        atexit.register(shutil.rmtree, RUN_LOG.parent, ignore_errors=True)
    m = measure(args.repeat, args.repo)
    idle = statistics.median(m["idle"])
    for name, values in m.items():
        med = statistics.median(values)
        shown = " ".join(f"{v:.2f}" for v in values)
        print(f"{name:<12} median {med:5.2f} s  {med / idle:5.1f}x idle   ({shown})")
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
