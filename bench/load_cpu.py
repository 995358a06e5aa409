"""One reader's Chromium CPU per interaction, by process, and where the page spent it.

bench/load.py's rounds (Browse, the next case, Invert, Annotate, two marks, Save, Predict)
by one reader alone, after a warm-up session (case 1's analysis cached), on a temporary
copy of the demo data; for every timed interaction the CPU seconds of each kind of
Chromium process (renderer, GPU process, browser, network service: ``/proc``) and of the
server. Reported: per interaction the median over the rounds after the first (the first
enters the reader's name and opens Predict for the first time), and each round's total.
With ``--profile`` the last round runs under the renderer's sampling profiler (CDP
``Profiler``, every 200 us: it slows the page, its CPU is not comparable) and each
interaction's main-thread time is summed by script file (Streamlit's chunks, the viewer's
``viewer.js``), native work (``(program)``: style, layout, paint) and garbage collection.
With ``--trace`` the last round runs under a Chromium trace of every process (categories
``TRACE_CATEGORIES``; it slows the browser too) and each interaction's thread time is summed
by process kind and thread, and by event name as self time (an event's thread time less its
children's: ``Paint``, ``UpdateLayoutTree``, ``RasterTask``, ``FunctionCall``...).

    python bench/load_cpu.py [--repo CHECKOUT] [--rounds 4] [--profile | --trace] [--json]

``--repo`` runs another checkout's app under this harness: for an A/B, alternate runs of
the two trees (``git archive COMMIT | tar -x -C DIR``), a few each, and compare medians.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import itertools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import load  # noqa: E402
from bench.load_procs import (  # noqa: E402
    BrowserNice,
    browser_cpu_by_kind,
    cpu_seconds,
    nice_arg,
    server_pid,
)

WARMUP, READER = "Load Warmup", "Load Reader 1-1"


def profile_split(profile: dict[str, Any]) -> dict[str, float]:
    """Seconds of a CDP CPU profile by the script file of each sample's innermost frame
    with a file (``viewer.js``, Streamlit's chunks by name), or ``(program)`` and
    ``(garbage collector)``; ``(idle)`` left out."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    deltas = profile.get("timeDeltas", [])
    spent: collections.Counter[str] = collections.Counter()
    for i, nid in enumerate(profile.get("samples", [])):
        us = deltas[i + 1] if i + 1 < len(deltas) else 0
        name = nodes[nid]["callFrame"]["functionName"]
        if name == "(idle)":
            continue
        where, x = "", nid
        while x is not None and not where:
            where = nodes[x]["callFrame"]["url"].split("?")[0].rsplit("/", 1)[-1]
            x = parent.get(x)
        spent[where or name or "(native)"] += us / 1e6
    return dict(spent)


TRACE_CATEGORIES = [
    "toplevel",
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "blink",
    "cc",
    "viz",
    "gpu",
    "v8",
    "loading",
]


def _thread_kind(process: str, thread: str) -> str:
    """``renderer/CrRendererMain``; a thread pool's numbered workers as one."""
    kind = {"Renderer": "renderer", "GPU Process": "gpu", "Browser": "browser"}.get(
        process, "other"
    )
    return f"{kind}/{thread.rstrip('0123456789').rstrip('/_ ') or '?'}"


def _close(
    stack: list[list[Any]], until: float, kind: str, by_name: collections.Counter[str]
) -> None:
    """Pops the events of ``stack`` ended by ``until``, adding their self time."""
    while stack and stack[-1][0] <= until:
        _end, own, name = stack.pop()
        by_name[f"{kind}: {name}"] += max(own, 0.0) / 1e6


def trace_names(
    events: list[dict[str, Any]],
) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    """The process names by pid and thread names by ``(pid, tid)`` of a Chromium trace (its
    metadata events)."""
    procs: dict[int, str] = {}
    threads: dict[tuple[int, int], str] = {}
    for e in events:
        if e.get("ph") == "M" and e.get("name") == "process_name":
            procs[e["pid"]] = e.get("args", {}).get("name", "")
        elif e.get("ph") == "M" and e.get("name") == "thread_name":
            threads[(e["pid"], e["tid"])] = e.get("args", {}).get("name", "")
    return procs, threads


def trace_split(events: list[dict[str, Any]], top: int = 40) -> dict[str, Any]:
    """CPU seconds of a Chromium trace: per thread kind (the sum of its outermost events'
    thread time) and per ``thread kind: event name`` as self time (an event's thread time
    less that of the events inside it; the ``top`` largest). Events without a thread time are
    left out."""
    procs, threads = trace_names(events)
    spans: dict[tuple[int, int], list[tuple[float, float, float, str]]] = collections.defaultdict(
        list
    )
    open_: dict[tuple[int, int], list[dict[str, Any]]] = collections.defaultdict(list)
    for e in sorted((e for e in events if e.get("ph") in "XBE"), key=lambda e: e["ts"]):
        key = (e["pid"], e["tid"])
        if e["ph"] == "X" and "tdur" in e:
            spans[key].append((e["ts"], e.get("dur", 0), e["tdur"], e["name"]))
        elif e["ph"] == "B":
            open_[key].append(e)
        elif e["ph"] == "E" and open_[key]:
            b = open_[key].pop()
            if "tts" in b and "tts" in e:
                spans[key].append((b["ts"], e["ts"] - b["ts"], e["tts"] - b["tts"], b["name"]))
    by_thread: collections.Counter[str] = collections.Counter()
    by_name: collections.Counter[str] = collections.Counter()
    for key, ss in spans.items():
        kind = _thread_kind(procs.get(key[0], ""), threads.get(key, ""))
        ss.sort(key=lambda x: (x[0], -x[1]))
        stack: list[list[Any]] = []  # [end, self thread time, name]
        for ts, dur, tdur, name in ss:
            _close(stack, ts, kind, by_name)
            if stack:
                stack[-1][1] -= tdur
            else:
                by_thread[kind] += tdur / 1e6
            stack.append([ts + dur, tdur, name])
        _close(stack, float("inf"), kind, by_name)
    return {
        "threads": {k: round(v, 3) for k, v in by_thread.most_common() if v >= 0.002},
        "events": {k: round(v, 3) for k, v in by_name.most_common(top) if v >= 0.002},
    }


async def _reader(browser: Any, url: str, name: str, rounds: int, **kw: Any) -> load.Session:
    # A second's pause before each interaction: the last one's trailing work is not the next's.
    s = load.Session(name, wait_s=1200, think=itertools.repeat(1.0), **kw)
    context, page = await load.reader_page(browser, url, name)
    try:
        for r in range(rounds):
            if s.watch is not None:
                s.watch.round, s.watch.page = r, page
            await load._round(s, page, url)
    finally:
        await context.close()
    return s


class Watch:
    """Per timed interaction: CPU by Chromium process kind; in the last round (with
    ``profile``), the renderer's profile split by script."""

    def __init__(self, server: int, rounds: int, profile: bool, trace: bool = False) -> None:
        self.server, self.rounds, self.profile, self.trace = server, rounds, profile, trace
        self.round, self.page = 0, None
        self.trace_out: Path | None = None
        self.rows: list[dict[str, Any]] = []

    @contextlib.asynccontextmanager
    async def __call__(self, kind: str) -> AsyncIterator[None]:
        cdp = None
        if self.profile and self.round == self.rounds - 1 and self.page is not None:
            cdp = await self.page.context.new_cdp_session(self.page)
            await cdp.send("Profiler.enable")
            await cdp.send("Profiler.setSamplingInterval", {"interval": 200})
            await cdp.send("Profiler.start")
        tracing = self.trace and self.round == self.rounds - 1 and self.page is not None
        if tracing:
            await self.page.context.browser.start_tracing(categories=TRACE_CATEGORIES)
        before, srv = browser_cpu_by_kind(), cpu_seconds(self.server)
        t0 = time.monotonic()
        yield
        wall = time.monotonic() - t0
        after = browser_cpu_by_kind()
        row: dict[str, Any] = {"round": self.round, "kind": kind, "wall_s": round(wall, 3)}
        row["chromium"] = {k: round(v - before.get(k, 0.0), 3) for k, v in after.items()}
        row["server"] = round(cpu_seconds(self.server) - srv, 3)
        if cdp is not None:
            prof = (await cdp.send("Profiler.stop"))["profile"]
            row["profile"] = {k: round(v, 3) for k, v in profile_split(prof).items() if v >= 0.005}
            await cdp.detach()
        if tracing:
            raw = await self.page.context.browser.stop_tracing()
            row["trace"] = trace_split(json.loads(raw)["traceEvents"])
            if self.trace_out is not None:
                self.trace_out.mkdir(parents=True, exist_ok=True)
                (self.trace_out / f"{len(self.rows):02d}-{kind}.json").write_bytes(raw)
        self.rows.append(row)


async def _run(
    repo: Path,
    rounds: int,
    profile: bool,
    nice: int | None,
    trace: bool = False,
    trace_out: Path | None = None,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app

    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-cpu-"))
    try:
        env = load.prepare(root)
        log = root / "runs.jsonl"
        env["MCALC_RUN_LOG"] = str(log)
        os.environ.pop("MCALC_DATA", None)
        with (
            running_app(env, timeout=240, repo=repo, as_installed=True) as url,
            contextlib.closing(BrowserNice(nice)),
        ):
            watch = Watch(server_pid(url) or 0, rounds, profile, trace or trace_out is not None)
            watch.trace_out = trace_out
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    warm = await _reader(browser, url, WARMUP, 1, run_log=log)
                    one = await _reader(browser, url, READER, rounds, run_log=log, watch=watch)
                finally:
                    await browser.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # Each watched interaction's latency as the bench measures it (the page's clock, from
    # the action to the page settled: bench/load.py), in the order they ran.
    if [r["kind"] for r in watch.rows] == [k for k, _ in one.samples]:
        for r, (_, seconds) in zip(watch.rows, one.samples, strict=True):
            r["seconds"] = round(seconds, 3)
    return {"repo": str(repo), "rows": watch.rows, "errors": warm.errors + one.errors}


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per interaction over the rounds after the first (all Chromium, by process
    kind, the server; ``seconds``, the interaction's latency on the page's clock, and
    ``wall_s``, its action and wait with the bench's quiet check, where the rows have them)
    and each round's Chromium total."""
    later = [r for r in rows if r["round"] > 0]
    by: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in later:
        by[r["kind"]].append(r)
    med = {
        kind: {
            "n": len(rs),
            "chromium": round(statistics.median(sum(r["chromium"].values()) for r in rs), 3),
            "server": round(statistics.median(r["server"] for r in rs), 3),
            **{
                k: round(statistics.median(r["chromium"].get(k, 0.0) for r in rs), 3)
                for k in sorted({k for r in rs for k in r["chromium"]})
            },
            **{
                t: round(statistics.median(r[t] for r in rs), 3)
                for t in ("seconds", "wall_s")
                if all(t in r for r in rs)
            },
        }
        for kind, rs in by.items()
    }
    totals: dict[int, float] = collections.defaultdict(float)
    for r in later:
        totals[r["round"]] += sum(r["chromium"].values())
    return {"per_interaction": med, "round_chromium_s": [round(v, 2) for v in totals.values()]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=REPO, metavar="CHECKOUT")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of the reader (default 4)")
    ap.add_argument("--profile", action="store_true", help="profile the last round's page")
    ap.add_argument(
        "--trace", action="store_true", help="trace the last round's Chromium by category"
    )
    ap.add_argument(
        "--trace-out",
        type=Path,
        metavar="DIR",
        help="with --trace: write each traced interaction's raw trace (JSON) into DIR",
    )
    ap.add_argument(
        "--nice",
        type=nice_arg,
        default=load.BROWSER_NICE,
        metavar="N|off",
        help=f"as bench/load.py's --nice (default {load.BROWSER_NICE})",
    )
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = ap.parse_args()
    if not (args.repo / "app.py").is_file():
        ap.error(f"--repo must be a checkout with app.py, got {args.repo}")
    if args.rounds < 2:
        ap.error(f"--rounds must be at least 2 (the first is left out), got {args.rounds}")
    if args.profile and args.trace:
        ap.error("--profile and --trace both slow the last round: give one of them")
    out = asyncio.run(
        _run(args.repo.resolve(), args.rounds, args.profile, args.nice, args.trace, args.trace_out)
    )
    out.update(summary(out["rows"]))
    if args.json:
        print(json.dumps(out))
        return 1 if out["errors"] else 0
    print(f"app of {out['repo']}; one reader, rounds 2-{args.rounds}, medians (CPU s)")
    for kind, m in out["per_interaction"].items():
        parts = ", ".join(
            f"{k} {v:.2f}" for k, v in m.items() if k not in ("n", "chromium", "seconds", "wall_s")
        )
        if "seconds" in m:
            parts += f"; latency {m['seconds']:.2f} s"
        print(f"{kind:<12} Chromium {m['chromium']:.2f} ({parts}; n {m['n']})")
    print(f"Chromium per round: {out['round_chromium_s']}")
    for r in out["rows"]:
        if "profile" in r:
            top = sorted(r["profile"].items(), key=lambda kv: -kv[1])[:6]
            print(f"profile {r['kind']:<12} " + ", ".join(f"{k} {v:.2f}" for k, v in top))
        if "trace" in r:
            th = ", ".join(f"{k} {v:.2f}" for k, v in list(r["trace"]["threads"].items())[:8])
            ev = ", ".join(f"{k} {v:.3f}" for k, v in list(r["trace"]["events"].items())[:14])
            print(f"trace {r['kind']:<12} threads: {th}\n  self: {ev}")
    for e in out["errors"]:
        print(f"error: {e}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
