"""bench/load.py's report as text, and how many sessions held the aim."""

from __future__ import annotations

import math
from typing import Any

from bench.load_stats import AIM_RATIO

KINDS = ("browse", "case_switch", "toggle", "annotate", "mark", "save", "predict")
#: The parts of a wait (bench.load_stats.wait_parts), in order.
_PARTS = ("to_send", "server", "rest")


def holds(ratios: dict[int, dict[str, dict[str, Any]]]) -> int:
    """The most sessions with every p95 ratio within the aim, each smaller size too (1:
    none did)."""
    held = 1
    for size in sorted(ratios):
        if ratios[size] and all(r["met"] for r in ratios[size].values()):
            held = size
        else:
            break
    return held


def _rows(report: dict[str, Any], latency: str, ratio: str) -> list[str]:
    lat = report[latency]
    cis = report.get(f"{ratio}_ci90", {})
    lines = []
    for size in sorted(lat, key=int):
        for kind in (*KINDS, "all"):
            one, many = lat.get(1, {}).get(kind), lat[size].get(kind)
            if not one or not many or size == 1:
                continue
            r = report[ratio].get(size, {}).get(kind, {})
            lo, hi = cis.get(size, {}).get(kind, (math.nan, math.nan))
            lines.append(
                f"{size:>8} {kind:<12} {one['n']:>4} {many['n']:>4} {one['p50']:>7.2f} "
                f"{one['p95']:>7.2f} {many['p50']:>7.2f} {many['p95']:>7.2f} "
                f"{r.get('p95', math.nan):>6.2f} {lo:>5.2f}-{hi:<5.2f}  "
                f"{'yes' if r.get('met') else 'NO'}"
            )
    return lines


def table(report: dict[str, Any]) -> str:
    """The report as text: one line per interaction (in the browser, then the server's own
    script time), then errors, store and memory."""
    n = report["sessions"]
    head = f"{'sessions':>8} {'interaction':<12} {'n 1':>4} {'n N':>4} {'p50 1':>7} {'p95 1':>7}"
    head = f"{head} {'p50 N':>7} {'p95 N':>7} {'p95 x':>6} {'90% CI':<11}  met"
    lines = [
        f"app of {report.get('repo', '?')}; think time {report['think_s']} s (seed {report['seed']}), "
        f"browsers at nice {report['browser_nice']}, baseline: {report['baseline_sessions']} "
        "sessions alone in turn; p95 x: p95 of N over p95 of 1, with its 90% bootstrap interval",
        "in the browser (action to page settled):",
        head,
        *_rows(report, "latency", "ratio"),
        f"on the server (script runs of the interaction, wall s; {report['server_runs_logged']} runs):",
        head,
        *_rows(report, "server_wall", "server_ratio"),
    ]
    later = report.get("later_rounds")
    if later and later.get("latency"):  # information: the goal is judged on every round
        lines += [
            "in the browser from each session's round 2 on (information; no first page load):",
            head,
            *_rows(
                {
                    "latency": later["latency"],
                    "ratio": later["ratio"],
                    "ratio_ci90": later.get("ratio_ci90", {}),
                },
                "latency",
                "ratio",
            ),
        ]
    errors = [e for es in report["errors"].values() for e in es]
    lines.append(
        f"N = {n} sessions; errors: {len(errors)}; saves {report['saves']}, "
        f"store problems: {len(report['lost_writes'])}"
    )
    lines += [f"  error: {e}" for e in errors[:20]]
    lines += [f"  store: {p}" for p in report["lost_writes"][:20]]
    lines.append(
        f"server RSS MiB: {report['server_rss_mb']}; load average: {report['load_average']}"
    )
    lines.append(f"CPU s per phase (wall, Chromium, server): {report['cpu_s']}")
    for size, by in sorted(report.get("wait_parts", {}).items(), key=lambda x: int(x[0])):
        lines.append(
            f"where the wait went, {size} session(s), p50/p95 s (to the page's message to the "
            "server; the server's runs; the rest: the answer drawn, the page settled):"
        )
        for kind in (k for k in (*KINDS, "all") if k in by.get("to_send", {})):
            cells = [f"{by[p][kind]['p50']:.2f}/{by[p][kind]['p95']:.2f}" for p in _PARTS]
            lines.append(f"  {kind:<12} " + "  ".join(cells))
    holds = report["holds"]
    lines.append(
        f"sessions within {AIM_RATIO}x: {holds['browser']} in the browser, "
        f"{holds['server']} on the server"
    )
    lines.append(f"goal met: {'yes' if report['met'] else 'NO'}")
    return "\n".join(lines)
