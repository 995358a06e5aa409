"""Major garbage collections and renderer CPU per case switch on Browse (issue 15).

Opens Browse on an app of its own over the synthetic demo set, switches cases by *Next* a
few times to warm up, then switches ``--switches`` more times under a Chromium trace
(categories ``v8``, ``devtools.timeline`` and V8's GC category) and reports, over the
traced switches: the major GCs (``MajorGC`` events, with the reasons V8 gave for starting
incremental marking), the scavenges external memory forced (``ArrayBuffer``s, canvases), the renderer's main-thread CPU (the thread time of its outermost
events) and that of its workers, and the renderer's process CPU (``/proc``, the whole
switch loop, tracing included). Each switch waits until the new case is drawn and the
script run has ended (``bench/browser.py``'s ``_timed``).

    python bench/browser_gc.py [--switches 8] [--repo CHECKOUT] [--json]

For an A/B, alternate runs of two checkouts (``git archive COMMIT | tar -x -C DIR``;
``--repo``: the app of that checkout, this bench's harness).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from bench.load_cpu import trace_names  # noqa: E402
from bench.load_procs import browser_cpu_by_kind  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app  # noqa: E402

CATEGORIES = ["toplevel", "devtools.timeline", "v8", "disabled-by-default-v8.gc"]


def gc_split(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The renderer's major GCs, their incremental marking's start reasons, its scavenges
    forced by external memory (``ArrayBuffer``s, canvases) and its threads' CPU seconds
    (outermost events' thread time) in a Chromium trace."""
    procs, threads = trace_names(events)
    renderers = {pid for pid, n in procs.items() if n == "Renderer"}
    major = 0
    reasons: collections.Counter[str] = collections.Counter()
    external = 0
    spans: dict[str, list[tuple[float, float, float]]] = collections.defaultdict(list)
    for e in events:
        if e.get("pid") not in renderers:
            continue
        name = e.get("name", "")
        if name == "MajorGC" and e.get("ph") in ("X", "B"):
            major += 1
        if name == "V8.GCIncrementalMarkingStart":
            value = e.get("args", {}).get("value", {})
            reasons[str(value.get("gc_reason", "?") if isinstance(value, dict) else "?")] += 1
        if name == "V8.GCTraceGCNVP":  # one per GC: a scavenge forced by external memory
            nvp = json.loads(e.get("args", {}).get("value", "{}"))
            if nvp.get("gc") == "s" and nvp.get("reason") == "external memory pressure":
                external += 1
        if e.get("ph") == "X" and "tdur" in e:
            thread = threads.get((e["pid"], e["tid"]), "?").rstrip("0123456789").rstrip("/_ ")
            spans[thread].append((e["ts"], e.get("dur", 0), e["tdur"]))
    cpu: dict[str, float] = {}
    for thread, ss in spans.items():
        ss.sort(key=lambda x: (x[0], -x[1]))
        end, total = -1.0, 0.0
        for ts, dur, tdur in ss:
            if ts >= end:  # outermost
                total += tdur
                end = ts + dur
        cpu[thread] = round(total / 1e6, 3)
    return {
        "major_gcs": major,
        "marking_reasons": dict(reasons),
        "external_pressure_scavenges": external,
        "thread_cpu_s": cpu,
    }


def measure(
    switches: int, warmup: int, repo: Path, trace_out: Path | None = None
) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from mcalc.synthetic import generate_demo

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-gc-"))
    try:
        generate_demo(tmp / "demo", cases=b.demo_cases(switches + warmup, 6), seed=0)
        env = b.app_env(tmp)
        os.environ.pop("MCALC_DATA", None)
        with running_app(env, timeout=180, repo=repo) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = b.new_context(browser).new_page()
                page.goto(f"{url}/browse", wait_until="networkidle")
                b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
                nxt = page.get_by_role("button", name="Next ▶")
                b.point_at(page, nxt)

                def switch() -> None:
                    before = page.evaluate(f"() => {b.VIEWER_STATE}.case")
                    cond = (
                        f"{b.VIEWER_STATE}.case && {b.VIEWER_STATE}.case !== {json.dumps(before)}"
                    )
                    b._timed(page, nxt.click, cond)

                for _ in range(warmup):
                    switch()
                cpu0 = browser_cpu_by_kind()
                browser.start_tracing(categories=CATEGORIES)
                for _ in range(switches):
                    switch()
                raw = browser.stop_tracing()
                if trace_out:
                    trace_out.write_bytes(raw)
                cpu1 = browser_cpu_by_kind()
                state = page.evaluate(f"() => ({{...{b.VIEWER_STATE}}})")
            finally:
                browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = gc_split(json.loads(raw)["traceEvents"])
    out["switches"] = switches
    out["renderer_cpu_s"] = round(cpu1.get("renderer", 0.0) - cpu0.get("renderer", 0.0), 3)
    out["swaps"] = state.get("swaps")
    out["pixels_error"] = state.get("pixelsError", "")
    out["load"] = os.getloadavg()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--switches", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app runs (an A/B)")
    ap.add_argument("--trace-out", type=Path, help="write the raw trace (JSON) here")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out = measure(a.switches, a.warmup, a.repo.resolve(), a.trace_out)
    if a.json:
        print(json.dumps(out))
        return 0
    n = out["switches"]
    main_s = out["thread_cpu_s"].get("CrRendererMain", 0.0)
    print(
        f"{n} case switches: {out['major_gcs']} major GCs (marking started by "
        f"{out['marking_reasons']}), {out['external_pressure_scavenges']} scavenges for "
        f"external memory; renderer "
        f"main thread {main_s:.3f} CPU-s ({main_s / n:.3f} per switch), process "
        f"{out['renderer_cpu_s']:.3f} CPU-s; threads {out['thread_cpu_s']}; load {out['load']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
