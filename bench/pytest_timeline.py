"""Where a test run's time goes: each test's worker, start and end, and every full
(generation-2) garbage collection's duration, then a summary per worker.

A pytest plugin (loaded with ``-p``), written for the suite's time budget (docs/measurements.md,
h/suite, 7 December 2026)::

    MCALC_TIMELINE_DIR=/tmp/tl PYTHONPATH=bench python -m pytest -p pytest_timeline \\
        -n 2 --dist loadgroup --no-loadscope-reorder tests
    python bench/pytest_timeline.py /tmp/tl

Each process writes ``tl-<worker>-<pid>.log`` (tab-separated: kind, time, seconds, test id)
into ``MCALC_TIMELINE_DIR``; without it the plugin does nothing. The summary says, per
worker, when its last test ended (the other's idle tail), how many full collections it ran
and for how long, and its longest collections with the test that was running.
"""

from __future__ import annotations

import collections
import gc
import os
import sys
import time
from pathlib import Path
from typing import Any

_DIR = os.environ.get("MCALC_TIMELINE_DIR")
_TEST = ["-"]  # the test running
_GC_START = [0.0]
_OUT: Any = None


def _on_gc(phase: str, info: dict[str, int]) -> None:
    if info["generation"] != 2 or _OUT is None:
        return
    if phase == "start":
        _GC_START[0] = time.perf_counter()
    else:
        took = time.perf_counter() - _GC_START[0]
        _OUT.write(f"gc\t{time.time():.3f}\t{took:.3f}\t{_TEST[0]}\n")


if _DIR:
    Path(_DIR).mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    _OUT = open(Path(_DIR) / f"tl-{worker}-{os.getpid()}.log", "a", encoding="utf-8")  # noqa: SIM115
    gc.callbacks.append(_on_gc)


def pytest_runtest_logstart(nodeid: str, location: object) -> None:
    if _OUT is not None:
        _TEST[0] = nodeid
        _OUT.write(f"start\t{time.time():.3f}\t0\t{nodeid}\n")


def pytest_runtest_logfinish(nodeid: str, location: object) -> None:
    if _OUT is not None:
        _OUT.write(f"end\t{time.time():.3f}\t0\t{nodeid}\n")
        _OUT.flush()


def summary(folder: Path) -> list[str]:
    """The per-worker summary of the logs in ``folder`` (the workers' only, under xdist)."""
    files = sorted(folder.glob("tl-gw*.log")) or sorted(folder.glob("tl-*.log"))
    if not files:
        raise SystemExit(f"no tl-*.log in {folder}: run pytest with MCALC_TIMELINE_DIR set")
    spans: dict[str, list[tuple[float, float, str]]] = collections.defaultdict(list)
    gcs: dict[str, list[tuple[float, str]]] = collections.defaultdict(list)
    for path in files:
        worker = path.name.split("-")[1]
        started: dict[str, float] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, at, took, test = line.split("\t", 3)
            if kind == "start":
                started[test] = float(at)
            elif kind == "end" and test in started:
                spans[worker].append((started.pop(test), float(at), test))
            elif kind == "gc":
                gcs[worker].append((float(took), test))
    t0 = min(s for v in spans.values() for s, _, _ in v)
    t1 = max(e for v in spans.values() for _, e, _ in v)
    lines = [f"first test's start to last test's end: {t1 - t0:.1f} s"]
    for worker in sorted(spans):
        runs = sorted(spans[worker])
        busy = sum(e - s for s, e, _ in runs)
        pauses = [t for t, _ in gcs[worker]]
        lines.append(
            f"{worker}: {len(runs)} tests, busy {busy:.1f} s, last end at {runs[-1][1] - t0:.1f} s"
            f" (idle tail {t1 - runs[-1][1]:.1f} s); {len(pauses)} full collections,"
            f" {sum(pauses):.1f} s, longest {max(pauses, default=0.0):.2f} s"
        )
        for t, test in sorted(gcs[worker], reverse=True)[:3]:
            lines.append(f"    {t:6.2f} s  {test}")
    return lines


if __name__ == "__main__":
    print("\n".join(summary(Path(sys.argv[1] if len(sys.argv) > 1 else "."))))
