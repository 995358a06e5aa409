"""The viewer's wheel zoom on Browse from a real input device against the DevTools protocol's.

``bench/browser_viewer.py`` drives the wheel through the DevTools protocol
(``Input.dispatchMouseEvent``, Playwright's ``mouse.wheel``), and its page-clock row
(``data-input-ms``: the event's own time stamp to the end of the frame that drew every
panel) then counts how long Chromium takes to hand that synthetic wheel to the page: about
20 ms here, where a plain mouse move takes 1-2 ms (docs/measurements.md, "Issue 14: where
the wheel's page clock goes"). This bench sends the same steps both ways in one headed
Chromium on an X server of its own (Xvfb): a wheel click through the X server's XTest
extension (``xdotool click 4/5``: what a reader's mouse sends) and the protocol's wheel, in
turn, and gives for each the viewer's page clock and its parts: the stamp to the viewer
frame's first wheel listener, and that listener to the four panels drawn and published.

Needs ``xvfb-run`` and ``xdotool`` (Debian: ``apt-get install xvfb xdotool``); without them
it says so and exits 2. Usage: ``python bench/browser_wheel_input.py [--steps N] [--json]``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

#: In every frame of the page: the stamp and the time of each listener call of a wheel step
#: or a move with a button held (what data-input-ms times, components/viewer/src/interact.ts).
LISTENER = """
window.__mcInput = [];
const mcNote = e => window.__mcInput.push([e.timeStamp, performance.now()]);
addEventListener('wheel', mcNote, {capture: true, passive: true});
addEventListener('mousemove', e => { if (e.buttons) mcNote(e); }, {capture: true, passive: true});
"""


def _xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True)


def _step(page: Any, frame: Any, state: str, key: str, send: Any) -> dict[str, float]:
    """One step sent by ``send()`` that changes every panel's ``key`` (``zoom``, ``window``):
    its page clock (ms) and the clock's two parts."""
    before = page.evaluate(f"() => {state}.{key}")
    now = f"JSON.parse({state}.{key} || '[]')"
    was = f"JSON.parse({json.dumps(before)})"
    changed = (
        f"{now}.length > 1 && {now}.every((v, i) => JSON.stringify(v) !== JSON.stringify({was}[i]))"
    )
    frame.evaluate("() => { window.__mcInput = []; }")
    send()
    # The first frame that shows every panel changed: its data-input-ms, noted at once (a
    # later frame overwrites it).
    ms = page.wait_for_function(f"() => ({changed}) && {state}.inputMs").json_value()
    stamp, seen = frame.evaluate("() => window.__mcInput[0]")
    clock = float(ms)
    return {
        "clock": clock,
        "to_listener": seen - stamp,
        "listener_to_drawn": clock - (seen - stamp),
    }


def measure(steps: int) -> dict[str, list[dict[str, float]]]:
    """``steps`` wheel steps each way, alternated (XTest, protocol, XTest, ...), then a W/L
    drag of ``steps`` moves each way, on the Browse page of a demo app of its own in headed
    Chromium on the current X display."""
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    from bench import browser as b
    from bench.browser_viewer import _panel_centre
    from mcalc.synthetic import generate_demo
    from tests.browser import running_app

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-wheel-"))
    generate_demo(tmp / "demo", cases=6, seed=0)
    os.environ.pop("MCALC_DATA", None)
    out: dict[str, list[dict[str, float]]] = {
        f"{step}_{way}": [] for step in ("wheel", "wl") for way in ("xtest", "devtools")
    }
    args = [a for a in b.CHROMIUM_ARGS if a != "--headless"]
    args += ["--window-position=0,0", "--window-size=1500,1900"]
    try:
        with running_app(b.app_env(tmp), timeout=180) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=b.CHROMIUM, args=args, headless=False)
            try:
                context = browser.new_context(no_viewport=True)
                for script in (b.OBSERVER, LISTENER):
                    context.add_init_script(script)
                context.set_default_timeout(180_000)
                page = context.new_page()
                page.goto(url, wait_until="networkidle")
                b._settle(
                    page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False
                )
                b._timed(page, page.get_by_role("button", name="Demo data").click)
                page.goto(f"{url}/browse", wait_until="networkidle")
                b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
                frame = next(
                    f for f in page.frames if "viewer" in f.url and f.query_selector(b.VIEWER)
                )
                x, y = _panel_centre(page)
                page.mouse.move(x, y)  # the page's pointer, and the X server's over the same spot
                top = page.evaluate("outerHeight - innerHeight")  # the window's toolbar
                _xdotool("mousemove", str(round(x)), str(round(y + top)))
                st = b.VIEWER_STATE
                for k in range(steps):  # wheel: in, in, out, out, ... (near the fit)
                    up = k % 4 < 2
                    click = "4" if up else "5"
                    sample = _step(page, frame, st, "zoom", lambda c=click: _xdotool("click", c))
                    out["wheel_xtest"].append(sample)
                    page.wait_for_timeout(250)
                    delta = -120 if up else 120
                    sample = _step(page, frame, st, "zoom", lambda d=delta: page.mouse.wheel(0, d))
                    out["wheel_devtools"].append(sample)
                    page.wait_for_timeout(250)
                # W/L: one drag each way (right button held), a move per step, as
                # bench/browser_viewer.py; each drag ends where it began.
                for way in ("xtest", "devtools"):
                    if way == "xtest":
                        _xdotool("mousedown", "3")
                    else:
                        page.mouse.move(x, y)
                        page.mouse.down(button="right")
                    for k in range(steps):  # out along a diagonal and back
                        j = k + 1 if k < steps // 2 else steps - k - 1
                        tx, ty = x + 8 * j, y + 6 * j
                        if way == "xtest":
                            pos = (str(round(tx)), str(round(ty + top)))
                            move = functools.partial(_xdotool, "mousemove", *pos)
                        else:
                            move = functools.partial(page.mouse.move, tx, ty)
                        out[f"wl_{way}"].append(_step(page, frame, st, "window", move))
                        page.wait_for_timeout(100)
                    if way == "xtest":
                        _xdotool("mouseup", "3")
                    else:
                        page.mouse.up(button="right")
                    page.wait_for_timeout(600)  # the drag's exact draw after its drafts
            finally:
                browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def main() -> int:
    """Run under ``xvfb-run`` (re-executing itself when there is no X display)."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    missing = [t for t in ("xvfb-run", "xdotool") if shutil.which(t) is None]
    if missing:
        print(
            f"bench/browser_wheel_input.py needs {' and '.join(missing)} (apt-get install xvfb xdotool)",
            file=sys.stderr,
        )
        return 2
    if not os.environ.get("DISPLAY"):
        cmd = [
            "xvfb-run",
            "-a",
            "-s",
            "-screen 0 1600x2000x24",
            sys.executable,
            __file__,
            *sys.argv[1:],
        ]
        return subprocess.run(cmd, check=False).returncode
    out = measure(a.steps)
    rows = {
        way: {part: statistics.median(s[part] for s in samples) for part in samples[0]}
        for way, samples in out.items()
    }
    if a.json:
        print(json.dumps({"medians_ms": rows, "steps_ms": out}))
    else:
        for way, r in rows.items():
            print(
                f"{way:15s}: page clock {r['clock']:5.1f} ms = stamp to the viewer's listener"
                f" {r['to_listener']:5.1f} + listener to drawn {r['listener_to_drawn']:4.1f}"
                f" (medians of {len(out[way])})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
