"""A page load with the reading viewer: Browse, from the address to the viewer's panels drawn.

Every page with the viewer (Browse, Annotate, Predict) loads the viewer's bundle
(``components/viewer/dist``) into its frame: fetched, gunzipped and parsed by the browser.
This bench times, on an app of its own over the 6-case synthetic demo set, a *cold* load
(a fresh browser context: empty cache) and a *repeat* load (the same context, the page
opened again by its address ``--gap`` seconds after the first was drawn, as a reader
returning to Browse) until the viewer's panels are drawn, and reports the bytes that
came over the network for the viewer's script (0: from the browser's cache).

    python bench/viewer_load.py [--base OTHER_CHECKOUT] [--repeat N] [--gap S] [--json]

With ``--base`` it serves both trees at once (A = ``--base``, B = this checkout) and
alternates A and B for every sample (A, B, B, A, ...), so both see the same machine load;
it prints the medians and B/A. The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

DRAWN = f"!!{b.VIEWER_STATE}.case"


def _load(context: Any, url: str) -> tuple[float, int]:
    """Open Browse in ``context``; seconds until the viewer's panels are drawn, and the
    bytes of the viewer's script that came over the network (0: from the browser's
    cache or the viewer's service worker)."""
    page = context.pages[0] if context.pages else context.new_page()
    script_bytes: list[int] = []

    def on_finished(request: Any) -> None:
        path = urlsplit(request.url).path
        if "mcalc_viewer" in path and path.endswith("/viewer.js"):
            response = request.response()
            served = response is not None and response.from_service_worker
            script_bytes.append(0 if served else int(request.sizes()["responseBodySize"]))

    page.on("requestfinished", on_finished)
    t0 = time.perf_counter()
    page.goto(f"{url}/browse", wait_until="commit")
    page.wait_for_function(DRAWN, timeout=240_000, polling=50)
    secs = time.perf_counter() - t0
    page.remove_listener("requestfinished", on_finished)
    return secs, sum(script_bytes)


def measure(trees: dict[str, Path], repeat: int, gap: float) -> dict[str, dict[str, list[float]]]:
    from playwright.sync_api import sync_playwright

    from mcalc.synthetic import generate_demo

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-viewer-load-"))

    atexit.register(shutil.rmtree, tmp, True)  # its demo set, caches, app files
    generate_demo(tmp / "demo", cases=6, seed=0)
    os.environ.pop("MCALC_DATA", None)
    out: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "repeat": [], "cold_kB": [], "repeat_kB": []} for name in trees
    }
    with contextlib.ExitStack() as stack:
        urls = {}
        for name, tree in trees.items():
            env = {
                "MCALC_DEMO_DIR": str(tmp / "demo"),
                "MCALC_DATA": "",
                "MCALC_CACHE": str(tmp / f"cache-{name}"),
                "MCALC_STORE": str(tmp / f"store-{name}"),
                "MCALC_RUNS": str(tmp / f"runs-{name}"),
                "MCALC_MODELS": str(REPO / "models"),
                "MCALC_AUTH": "auto",
            }
            urls[name] = stack.enter_context(running_app(env, timeout=180, repo=tree))
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        stack.callback(browser.close)
        # A first load per server warms it (its first script run, the demo's first case).
        for name in trees:
            context = browser.new_context(viewport={"width": 1500, "height": 1900})
            _load(context, urls[name])
            context.close()
        names = list(trees)
        for k in range(repeat):
            for name in names if k % 2 == 0 else names[::-1]:
                context = browser.new_context(viewport={"width": 1500, "height": 1900})
                try:
                    for kind in ("cold", "repeat"):
                        if kind == "repeat":
                            time.sleep(gap)
                        secs, nbytes = _load(context, urls[name])
                        out[name][kind].append(secs)
                        out[name][f"{kind}_kB"].append(nbytes / 1e3)
                        print(f"{name} {kind}: {secs:.2f} s, viewer script {nbytes / 1e3:.0f} kB")
                finally:
                    context.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, help="another checkout to compare with (A)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gap", type=float, default=6.0, help="seconds between the two loads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    trees = {"A": args.base.resolve(), "B": REPO} if args.base else {"B": REPO}
    load_before = os.getloadavg()
    m = measure(trees, args.repeat, args.gap)
    load_after = os.getloadavg()
    med = {n: {k: statistics.median(v) for k, v in d.items()} for n, d in m.items()}
    if args.json:
        print(json.dumps({"samples": m, "medians": med, "load": [load_before, load_after]}))
    for name, tree in trees.items():
        d = med[name]
        print(
            f"{name} ({tree}): cold {d['cold']:.2f} s ({d['cold_kB']:.0f} kB of script), "
            f"repeat {d['repeat']:.2f} s ({d['repeat_kB']:.0f} kB)"
        )
    if "A" in med:
        for kind in ("cold", "repeat"):
            print(f"B/A {kind}: {med['B'][kind] / med['A'][kind]:.2f}")
    print(f"load average before {load_before}, after {load_after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
