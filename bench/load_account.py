"""Where one reader's Chromium CPU goes over bench/load.py's rounds, think time included.

One reader alone (after a warm-up session, as ``bench/load_cpu.py``) runs bench/load.py's
rounds with the load bench's own think times (uniform 0.5-1.5x ``--think``, seeded by the
reader's name) and the CPU seconds of every Chromium process (``/proc``, sampled four times a
second, a closed process counted with its last reading) are split at each step of the
session into:

- ``first_load``: the context and page opened, the first page loaded and settled;
- each timed interaction (``browse``, ``case_switch``...: the action and the wait, as timed);
- ``think``: the reader's pause before each interaction (the bench only sleeps);
- ``rest``: the bench's own steps between them (a mark's place looked up, the error check,
  the page's clock read);
- ``close``: the context closed;

per kind of Chromium process, for the first round and for the later ones (per round).

    python bench/load_account.py [--repo CHECKOUT] [--rounds 4] [--think 3] [--json]
        [--idle-probe S]

``--idle-probe S``: after the rounds, the page (on Predict) left alone ``S`` seconds more, and
its CPU per process kind reported as a rate (a settled page's cost per second).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import load  # noqa: E402
from bench.load_procs import BrowserNice, _descendants, cpu_seconds, nice_arg  # noqa: E402

WARMUP, READER = "Load Warmup", "Load Reader 1-1"


def _kind(pid: int) -> str | None:
    """A Chromium process's kind (``renderer``, ``gpu-process``, ``browser``,
    ``utility:NetworkService``...) as :func:`bench.load_procs.browser_cpu_by_kind`; ``None``
    for another program."""
    try:
        if "chrom" not in Path(os.readlink(f"/proc/{pid}/exe")).name:
            return None
        args = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return None
    kind = next((a[7:].decode() for a in args if a.startswith(b"--type=")), "browser")
    sub = next((a.decode() for a in args if a.startswith(b"--utility-sub-type=")), "")
    return kind + (":" + sub.rsplit(".", 1)[-1] if sub else "")


class Sampler:
    """Every Chromium process's CPU seconds below this process, by pid, those closed since
    kept at their last reading (a thread samples every ``period_s``)."""

    def __init__(self, period_s: float = 0.25) -> None:
        self.seen: dict[int, tuple[str, float]] = {}
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._period = period_s
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        for pid in _descendants(os.getpid()):
            kind = _kind(pid)
            if kind is None:
                continue
            cpu = cpu_seconds(pid)
            with self._lock:
                old = self.seen.get(pid)
                if old is None or cpu >= old[1]:
                    self.seen[pid] = (kind, cpu)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self._sample()

    def snapshot(self) -> dict[int, tuple[str, float]]:
        self._sample()
        with self._lock:
            return dict(self.seen)

    def stop(self) -> None:
        self._stop.set()


def spent(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
) -> dict[str, float]:
    """CPU seconds by process kind between two :meth:`Sampler.snapshot` s (a process new
    since ``before`` counted from 0)."""
    out: dict[str, float] = collections.defaultdict(float)
    for pid, (kind, cpu) in after.items():
        out[kind] += cpu - before.get(pid, (kind, 0.0))[1]
    return dict(out)


class Ledger:
    """Marks of the session's steps: ``(label, round, monotonic s, snapshot)``."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler, self.round = sampler, 0
        self.marks: list[tuple[str, int, float, dict[int, tuple[str, float]]]] = []

    def mark(self, label: str) -> None:
        self.marks.append((label, self.round, time.monotonic(), self.sampler.snapshot()))

    @contextlib.asynccontextmanager
    async def __call__(self, kind: str) -> AsyncIterator[None]:
        self.mark(kind)
        yield
        self.mark("rest")

    def segments(self) -> list[dict[str, Any]]:
        """One row per step: its label, round, wall seconds and CPU by process kind."""
        rows = []
        for (label, rnd, t0, s0), (_, _, t1, s1) in zip(self.marks, self.marks[1:], strict=False):
            if label == "end":
                continue
            by = {k: round(v, 3) for k, v in spent(s0, s1).items() if abs(v) >= 0.0005}
            rows.append({"part": label, "round": rnd, "wall_s": round(t1 - t0, 3), "cpu": by})
        return rows


class Think:
    """The reader's think times (bench/load.py's), marking each pause's start."""

    def __init__(self, ledger: Ledger, times: Iterator[float]) -> None:
        self.ledger, self.times = ledger, times

    def __iter__(self) -> Think:
        return self

    def __next__(self) -> float:
        self.ledger.mark("think")
        return next(self.times)


async def _reader(
    browser: Any,
    url: str,
    name: str,
    rounds: int,
    think_s: float,
    ledger: Ledger | None,
    idle_s: float = 0.0,
    **kw: Any,
) -> load.Session:
    times = load.think_times(name, think_s)
    s = load.Session(name, wait_s=1200, **kw)
    if ledger is not None:
        s.think, s.watch = Think(ledger, times), ledger
        ledger.mark("first_load")
    context, page = await load.reader_page(browser, url, name)
    try:
        for r in range(rounds):
            if ledger is not None:
                ledger.round = r
            await load._round(s, page, url)
        if ledger is not None and idle_s > 0:
            ledger.mark("idle_probe")
            await asyncio.sleep(idle_s)
    finally:
        if ledger is not None:
            ledger.mark("close")
        await context.close()
        if ledger is not None:
            await asyncio.sleep(0.5)  # the renderer's exit seen by the sampler
            ledger.mark("end")
    return s


async def _run(
    repo: Path,
    rounds: int,
    think_s: float,
    nice: int | None,
    idle_s: float,
    port: int | None = None,
) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    import tests.browser as tb
    from tests.browser import CHROMIUM, CHROMIUM_ARGS, running_app

    if port is not None:
        tb._free_port = lambda: port  # type: ignore[assignment]
    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-account-"))
    sampler = Sampler()
    ledger = Ledger(sampler)
    try:
        env = load.prepare(root)
        log = root / "runs.jsonl"
        env["MCALC_RUN_LOG"] = str(log)
        os.environ.pop("MCALC_DATA", None)
        with (
            running_app(env, timeout=240, repo=repo, as_installed=True) as url,
            contextlib.closing(BrowserNice(nice)),
        ):
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    warm = await _reader(browser, url, WARMUP, 1, 0.0, None, run_log=log)
                    await asyncio.sleep(1.0)
                    one = await _reader(
                        browser, url, READER, rounds, think_s, ledger, idle_s, run_log=log
                    )
                finally:
                    await browser.close()
    finally:
        sampler.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "repo": str(repo),
        "think_s": think_s,
        "rows": ledger.segments(),
        "samples": one.samples,  # (interaction, latency s on the page's clock)
        "errors": warm.errors + one.errors,
    }


def account(rows: list[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """Per part (``first_load``, each interaction, ``think``, ``rest``, ``close``,
    ``idle_probe``) and process kind: CPU seconds in round 1, and per round over the later
    ones (their sum divided by their number); wall seconds alike; ``total`` per column."""
    later = max(rounds - 1, 1)
    out: dict[str, dict[str, Any]] = {}
    for grp, pick, div in (("round1", lambda r: r == 0, 1), ("later", lambda r: r > 0, later)):
        parts: dict[str, dict[str, float]] = {}
        for row in rows:
            if row["part"] in ("close", "idle_probe") or not pick(row["round"]):
                continue
            p = parts.setdefault(row["part"], collections.defaultdict(float))
            p["wall_s"] += row["wall_s"] / div
            for k, v in row["cpu"].items():
                p[k] += v / div
                p["all"] += v / div
        tot: dict[str, float] = collections.defaultdict(float)
        for p in parts.values():
            for k, v in p.items():
                tot[k] += v
        parts["total"] = tot
        out[grp] = {n: {k: round(v, 3) for k, v in p.items()} for n, p in parts.items()}
    for special in ("close", "idle_probe"):
        for row in rows:
            if row["part"] == special:
                cpu = row["cpu"]
                out[special] = {
                    "wall_s": row["wall_s"],
                    **cpu,
                    "all": round(sum(cpu.values()), 3),
                }
    return out


def _short(kind: str) -> str:
    return {"gpu-process": "gpu", "utility:NetworkService": "network"}.get(kind, kind)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, default=REPO, metavar="CHECKOUT")
    ap.add_argument("--rounds", type=int, default=4, help="rounds of the reader (default 4)")
    ap.add_argument(
        "--think", type=float, default=load.THINK_S, help="mean think time, s (bench/load.py's)"
    )
    ap.add_argument("--idle-probe", type=float, default=0.0, metavar="S")
    ap.add_argument("--nice", type=nice_arg, default=load.BROWSER_NICE, metavar="N|off")
    ap.add_argument("--port", type=int, default=None, help="the app server's port (default: any)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = ap.parse_args()
    if not (args.repo / "app.py").is_file():
        ap.error(f"--repo must be a checkout with app.py, got {args.repo}")
    if args.rounds < 2:
        ap.error(f"--rounds must be at least 2, got {args.rounds}")
    load0 = os.getloadavg()
    out = asyncio.run(
        _run(args.repo.resolve(), args.rounds, args.think, args.nice, args.idle_probe, args.port)
    )
    out["account"] = account(out["rows"], args.rounds)
    out["load_average"] = [round(x, 2) for x in (*load0, *os.getloadavg())]
    if args.json:
        print(json.dumps(out))
        return 1 if out["errors"] else 0
    kinds = sorted({k for r in out["rows"] for k in r["cpu"]})
    print(f"app of {out['repo']}; load average before/after {out['load_average']}")
    for grp in ("round1", "later"):
        print(f"-- {grp} (CPU s{'' if grp == 'round1' else ' per round'})")
        print(f"{'part':<14}{'wall':>7}{'all':>7}" + "".join(f"{_short(k):>12}" for k in kinds))
        for part, p in out["account"][grp].items():
            print(
                f"{part:<14}{p.get('wall_s', 0):7.2f}{p.get('all', 0):7.3f}"
                + "".join(f"{p.get(k, 0):12.3f}" for k in kinds)
            )
    for special in ("close", "idle_probe"):
        if special in out["account"]:
            print(special, out["account"][special])
    for e in out["errors"]:
        print(f"error: {e}")
    return 1 if out["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
