"""What Annotate's reading viewer costs per rerun: bytes the browser receives, Save time.

Runs the app of this checkout (and, with ``--base DIR``, of another checkout of the repo,
e.g. ``git archive <commit> | tar -x -C DIR``) on a 3-case synthetic set at the preview
size, in headless Debian Chromium, interleaved ``--reps`` times. Per app: the websocket
bytes received for the first visit, for the run after the reader's name and for each of
two Saves (two marks placed, Ctrl+S), and the Save time (Ctrl+S until *Saved as version N*
shows). Prints medians, the ratios head/base and the load average: timings are noisy on a
shared machine, compare only within one run.

Usage: ``python bench/annotate_bytes.py [--base DIR] [--reps 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HEAD = Path(__file__).resolve().parents[1]
VIEWER = "[data-testid='mcalc-viewer']"


def _browser_module(root: Path) -> Any:
    """``tests/browser.py`` of checkout ``root`` (its ``running_app`` runs that app)."""
    sys.path.insert(0, str(root))
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        del sys.modules[name]
    try:
        import tests.browser as tb

        return tb
    finally:
        sys.path.remove(str(root))


def _one(root: Path, demo: Path, work: Path, pw: Any) -> dict[str, float]:
    tb = _browser_module(root)
    work.mkdir(parents=True)
    env = {
        "MCALC_DEMO_DIR": str(demo),
        "MCALC_CACHE": str(work.parent / f"cache-{root.name}"),  # warm after the first rep
        "MCALC_STORE": str(work / "store"),
        "MCALC_RUNS": str(work / "runs"),
        "MCALC_USERS": str(work / "users.yaml"),
        "MCALC_DATA_ROOTS": str(work),
    }
    out: dict[str, float] = {}
    got: list[int] = []

    def socket(ws: Any) -> None:
        if "_stcore/stream" in ws.url:
            ws.on("framereceived", lambda p: got.append(len(p)))

    def take(name: str) -> None:
        page.wait_for_timeout(1500)  # late frames (the component's args) land
        out[name] = float(sum(got))
        got.clear()

    with tb.running_app(env) as url:
        browser = pw.chromium.launch(executable_path=tb.CHROMIUM, args=tb.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1300})
        page.on("websocket", socket)
        page.goto(f"{url}/annotate", wait_until="networkidle")
        field = page.get_by_label("Your name", exact=False)
        field.wait_for(timeout=120_000)
        tb.viewer_frame(page, 120)
        take("first visit (bytes)")
        field.fill("Bench Reader")
        field.press("Enter")
        page.wait_for_timeout(500)
        tb.wait_for_app_idle(page, 120_000)
        take("name run (bytes)")
        frame = tb.viewer_frame(page, 120)
        state = frame.eval_on_selector(VIEWER, "e => ({...e.dataset})")
        keys = frame.eval_on_selector_all(".panel", "els => els.map(e => e.dataset.key)")
        box = frame.eval_on_selector_all(
            ".panel",
            "els => els.map(e => { const r = e.getBoundingClientRect();"
            " return {x: r.x, y: r.y, w: r.width, h: r.height}; })",
        )[keys.index(state["case"].split("|")[0])]
        frame.focus(VIEWER)
        frame.press(VIEWER, "a")  # the mark tool
        iframe = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
        cx, cy = iframe["x"] + box["x"] + box["w"] / 2, iframe["y"] + box["y"] + box["h"] / 2
        for k in (1, 2):
            page.mouse.click(cx + 15 * k, cy + 10 * k)
            page.wait_for_timeout(100)
            t0 = time.perf_counter()
            frame.press(VIEWER, "Control+s")
            page.get_by_text(f"Saved as version {k}").wait_for(timeout=120_000)
            out[f"save {k} (s)"] = time.perf_counter() - t0
            take(f"save {k} run (bytes)")
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="another checkout to compare with")
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(HEAD))
    from mcalc.synthetic import generate_demo

    roots = {"head": HEAD} | ({"base": args.base.resolve()} if args.base else {})
    res: dict[str, list[dict[str, float]]] = {name: [] for name in roots}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        demo = Path(tmp) / "demo"
        generate_demo(demo, cases=3, seed=3)
        for rep in range(args.reps):
            order = list(roots) if rep % 2 == 0 else list(roots)[::-1]
            for name in order:
                res[name].append(_one(roots[name], demo, Path(tmp) / f"{name}{rep}", pw))
                print(name, rep, res[name][-1], flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    med = {n: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for n, rs in res.items()}
    for key in med["head"]:
        line = f"{key:22s} head {med['head'][key]:>12.2f}"
        if "base" in med:
            b = med["base"][key]
            line += f"  base {b:>12.2f}  head/base {med['head'][key] / b:.3f}"
        print(line)


if __name__ == "__main__":
    main()
