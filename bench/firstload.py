"""A fresh server's first page, with and without the TensorFlow warm-up (issue 14).

Starts the app (``streamlit run app.py``, :func:`tests.browser.running_app`) afresh for
every sample, opens one page in a new Chromium context (nothing cached in the browser) and
times, from the navigation's start (the page's clock), until the reading viewer has drawn
its case (``data-case`` set: ``drawn``) and until the page has settled (the script idle
and nothing changing for 0.6 s: ``settled``). Each sample is taken with the warm-up off
(``MCALC_WARM_TF=0``) and on, interleaved, and the ratio on / off of the medians is printed:
what the warm-up costs the first reader of a fresh server. ``--repo`` adds other checkouts
(main's tree for an A/B), interleaved with this one.

Between samples the disk cache is kept (one unmeasured start fills it first), so what is
timed is the server's start-up and the warm-up beside the first page, not the first decode
of the images (``--cold-cache``: an empty cache for every start).

    python bench/firstload.py [--repeat N] [--page browse] [--repo /tmp/A] [--cold-cache] [--json]

Predict's first visit, which the warm-up is for, is ``bench/browser_predict.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

#: The page's own state once its first run has drawn: the viewer's case, or (a page
#: without the viewer) its sidebar.
DRAWN = f"!!{b.VIEWER_STATE}.case"


def _sample(browser: Any, repo: Path, env: dict[str, str], page_path: str, cond: str) -> dict:
    """One fresh server of ``repo`` and one first page: seconds to drawn and settled."""
    with running_app(env, timeout=240, repo=repo, as_installed=True) as url:
        context = b.new_context(browser, timeout_ms=240_000)
        try:
            page = context.new_page()
            page.goto(f"{url}/{page_path}", wait_until="commit")
            drawn = b._settle(page, 0.0, cond, ran=False, quiet=0, timeout_s=240)
            page.evaluate("() => { window.__mcDone = undefined; }")
            settled = b._settle(page, 0.0, cond, ran=False, quiet=600, timeout_s=240)
        finally:
            context.close()
    return {"drawn": round(drawn, 3), "settled": round(settled, 3)}


def measure(
    repos: list[Path], repeat: int, page_path: str, cold_cache: bool
) -> dict[str, dict[str, list[dict]]]:
    """``{tree: {"off"|"on": [sample, ...]}}``, interleaved: every repetition runs every
    tree with the warm-up off then on (the order flips each repetition)."""
    from playwright.sync_api import sync_playwright

    from mcalc.config import get_settings

    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-firstload-"))
    demo = get_settings().demo_dir
    os.environ.pop("MCALC_DATA", None)
    out: dict[str, dict[str, list[dict]]] = {str(r): {"off": [], "on": []} for r in repos}
    cond = DRAWN if page_path in ("browse", "annotate", "predict") else "true"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                for i in range(-1, repeat):  # -1: fills the disk cache, not counted
                    order = ("off", "on") if i % 2 == 0 else ("on", "off")
                    for k, repo in enumerate(repos if i >= 0 else repos[:1]):
                        for warm in order if i >= 0 else ("off",):
                            cache = root / (f"cache-{i}-{k}-{warm}" if cold_cache else "cache")
                            env = b.app_env(
                                root,
                                demo=demo,
                                MCALC_CACHE=str(cache),
                                MCALC_WARM_TF="1" if warm == "on" else "0",
                            )
                            s = _sample(browser, repo, env, page_path, cond)
                            if i >= 0:
                                out[str(repo)][warm].append(s)
                            print(
                                f"[bench/firstload] {time.strftime('%H:%M:%S')} "
                                f"{'prime' if i < 0 else i} {repo} warm-up {warm}: {s}",
                                file=sys.stderr,
                                flush=True,
                            )
            finally:
                browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def summary(samples: dict[str, dict[str, list[dict]]]) -> dict[str, dict[str, Any]]:
    """Medians per tree and warm-up, and the ratios on / off (drawn, settled)."""
    res: dict[str, dict[str, Any]] = {}
    for tree, by in samples.items():
        row: dict[str, Any] = {}
        for warm, xs in by.items():
            for what in ("drawn", "settled"):
                row[f"{what}_{warm}"] = round(statistics.median(x[what] for x in xs), 3)
        for what in ("drawn", "settled"):
            row[f"{what}_ratio"] = round(row[f"{what}_on"] / row[f"{what}_off"], 2)
        # Each repetition's on / off (taken one after the other): steadier on a busy machine.
        paired = [on["drawn"] / off["drawn"] for on, off in zip(by["on"], by["off"], strict=True)]
        row["drawn_ratio_paired"] = round(statistics.median(paired), 2)
        res[tree] = row
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="samples per tree and warm-up")
    ap.add_argument("--page", default="browse", help="the page opened first (default browse)")
    ap.add_argument(
        "--repo",
        action="append",
        default=[],
        help="another checkout to compare (main's tree: git archive main | tar -x -C DIR)",
    )
    ap.add_argument("--cold-cache", action="store_true", help="an empty disk cache every start")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    repos = [REPO, *(Path(r).resolve() for r in args.repo)]
    samples = measure(repos, max(1, args.repeat), args.page.strip("/"), args.cold_cache)
    res = summary(samples)
    load = [round(x, 2) for x in os.getloadavg()]
    if args.json:
        print(json.dumps({"page": args.page, "trees": res, "samples": samples, "load": load}))
        return 0
    print(f"first /{args.page} of a fresh server, medians (s), warm-up off / on:")
    for tree, row in res.items():
        print(
            f"  {tree}: drawn {row['drawn_off']:.2f} / {row['drawn_on']:.2f} "
            f"({row['drawn_ratio']:.2f}x), settled {row['settled_off']:.2f} / "
            f"{row['settled_on']:.2f} ({row['settled_ratio']:.2f}x); drawn on / off of each "
            f"repetition, median {row['drawn_ratio_paired']:.2f}x"
        )
    print("load average", " ".join(f"{x:.1f}" for x in load))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
