"""The idle round trip (Home's *Demo data*, a rerun that changes nothing) of two app trees,
alternated, from one harness: whether a tree (a developer's checkout with ``node_modules``
and tool caches, a fresh ``git archive``) changes what a reader waits.

    python bench/idle_ab.py TREE_A TREE_B [ROUNDS]

Each round starts each tree's app in turn (a server of its own over a temporary demo set),
clicks *Demo data* 3 times to warm, then times 15 clicks and prints the median and the load
average.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

WARM, TIMED = 3, 15


def idle_median_ms(tree: Path) -> float:
    """The median of :data:`TIMED` idle round trips of ``tree``'s app, in ms."""
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-"))

    atexit.register(shutil.rmtree, root, True)  # its demo set, caches, app files
    with running_app(b.app_env(root), repo=tree) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = b.new_context(browser).new_page()
            page.goto(url, wait_until="networkidle")
            b._settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            demo = page.get_by_role("button", name="Demo data")
            for _ in range(WARM):
                b._timed(page, demo.click)
            times = [b._timed(page, demo.click) for _ in range(TIMED)]
        finally:
            browser.close()
    return statistics.median(times) * 1000


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    trees = [Path(a).resolve() for a in argv[:2]]
    rounds = int(argv[2]) if len(argv) > 2 else 2
    out: dict[Path, list[float]] = {t: [] for t in trees}
    for _ in range(rounds):
        for tree in trees:
            ms = idle_median_ms(tree)
            out[tree].append(ms)
            print(f"{tree}: median {ms:.0f} ms (load {os.getloadavg()[0]:.1f})", flush=True)
    for tree, values in out.items():
        print(f"{tree}: {[round(v) for v in values]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
