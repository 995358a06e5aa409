"""The app under load: N readers at once, each in a browser session of their own.

Starts the app (``streamlit run app.py``, :func:`tests.browser.running_app`) on a temporary
copy of the demo data, with a temporary annotation store, cache and runs folder (never the
user's), and drives N Playwright contexts of one headless Debian Chromium at the same time.
Each session is a different reader and, round after round: opens Browse (the reading
viewer), goes to the next case, toggles the display (Invert), opens Annotate through the
sidebar (its name the first time), checks that the viewer shows only its own marks, adds
two marks with the viewer's mark tool, saves them (Ctrl+S) and opens Predict.

Every interaction is timed from the action to the page settled (Streamlit's script state
back to ``notRunning`` and quiet, the expected change drawn; :data:`bench.browser.SETTLED`).
A warm-up session runs first (not counted: TensorFlow, the model, the first decodes), then
one session alone (the baseline), then N together. Reported per interaction: p50 and p95
for 1 and N sessions and their ratios, errors (an exception on a page, a step that timed
out, a save refused), the app server's resident memory (peak while 1 and N sessions ran),
and the store check: every save the sessions saw is in the store, as its version, with
its marks, by its reader, and no conflict copy (each reader writes only their own record).

    python bench/load.py --sessions 8 [--minutes M] [--rounds R] [--json]

Needs ``playwright`` (Python package) and Debian's ``/usr/bin/chromium`` (``MCALC_CHROMIUM``
for another); never a downloaded browser. Goal (issue 15): N = 8 with no error and no lost
write, every p95 at most 3x a single session's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

AIM_RATIO = 3.0
VERBOSE = bool(os.environ.get("MCALC_BENCH_VERBOSE"))
KINDS = ("browse", "case_switch", "toggle", "annotate", "mark", "save", "predict")

# -- pure pieces (tests/test_bench_load.py) -------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation between closest ranks
    (numpy's default); NaN for no values.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 95)
    (2.5, 3.85)
    """
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile is between 0 and 100, got {q}")
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo), 6)


def summarize(samples: Iterable[tuple[str, float]]) -> dict[str, dict[str, float]]:
    """``{kind: {"n", "p50", "p95"}}`` (seconds) of ``(kind, seconds)`` samples, plus
    ``"all"`` over every sample."""
    by: dict[str, list[float]] = {}
    for kind, seconds in samples:
        by.setdefault(kind, []).append(seconds)
        by.setdefault("all", []).append(seconds)
    return {
        k: {"n": len(v), "p50": percentile(v, 50), "p95": percentile(v, 95)} for k, v in by.items()
    }


def compare(
    base: dict[str, dict[str, float]], loaded: dict[str, dict[str, float]], aim: float = AIM_RATIO
) -> dict[str, dict[str, Any]]:
    """Per kind measured in both: p50/p95 of N sessions over the single session's, and
    whether the p95 ratio is within ``aim``."""
    out: dict[str, dict[str, Any]] = {}
    for kind in loaded:
        if kind not in base:
            continue
        b, n = base[kind], loaded[kind]
        r50 = n["p50"] / b["p50"] if b["p50"] > 0 else math.inf
        r95 = n["p95"] / b["p95"] if b["p95"] > 0 else math.inf
        out[kind] = {"p50": round(r50, 2), "p95": round(r95, 2), "met": bool(r95 <= aim)}
    return out


@dataclass(frozen=True)
class Save:
    """A save a session saw succeed: ``Saved as version {version}`` with ``n_marks`` marks."""

    image_key: str
    reader: str
    version: int
    n_marks: int


def check_store(store_dir: Path, saves: Sequence[Save]) -> list[str]:
    """Problems with the store after the run, one sentence each (empty: nothing lost).

    For each image and reader that saved: the record's history is exactly the versions the
    session saw saved, in order, each with the marks it had, every point by that reader;
    and no conflict copy (each reader writes only their own record, so a conflict would be
    a mis-resolved write). Records of readers that never saved are problems too.
    """
    from mcalc.store import MarkStore
    from mcalc.store.record import StoreReadError

    store = MarkStore(store_dir)
    problems: list[str] = []
    groups: dict[tuple[str, str], list[Save]] = {}
    for s in saves:
        groups.setdefault((s.image_key, s.reader), []).append(s)
    for (key, reader), seen in sorted(groups.items()):
        seen = sorted(seen, key=lambda s: s.version)
        where = f"{key} by {reader}"
        history = store.history(key, reader)
        numbers = [v.number for v in history]
        if numbers != [s.version for s in seen]:
            problems.append(
                f"{where}: saved versions {[s.version for s in seen]}, the store has {numbers}"
            )
        for s in seen:
            if s.version not in numbers:
                continue  # lost: said above
            try:
                marks = store.version(key, reader, s.version)
            except StoreReadError as exc:
                problems.append(f"{where}: version {s.version} unreadable ({exc})")
                continue
            if len(marks.points) != s.n_marks:
                problems.append(
                    f"{where}: version {s.version} saved with {s.n_marks} mark(s), "
                    f"the store has {len(marks.points)}"
                )
            if any(p.reader != reader for p in marks.points):
                problems.append(f"{where}: version {s.version} holds another reader's marks")
        conflicts = store.conflicts(key, reader)
        if conflicts:
            problems.append(f"{where}: {len(conflicts)} conflict cop(ies) left")
    for record in store.records.records():
        image, reader = record.parts[0], record.parts[-1]
        if record.version and (image, reader) not in groups:
            problems.append(f"{image} by {reader}: in the store, but no session saved it")
    return problems


# -- the app server -------------------------------------------------------------------------


def server_pid(port_url: str) -> int | None:
    """The pid of the ``streamlit run`` child of this process serving ``port_url``."""
    port = port_url.rsplit(":", 1)[-1]
    me = str(os.getpid())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = stat.rsplit(")", 1)[1].split()[1]
        if ppid == me and f"--server.port={port}".encode() in cmd:
            return int(proc.name)
    return None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class RssWatch:
    """Samples a process's RSS twice a second in a thread; ``peak`` since the last reset."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        if pid is not None:
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.peak = max(self.peak, rss_mb(self.pid or 0))

    def reset(self) -> float:
        now = rss_mb(self.pid or 0)
        self.peak = now
        return now

    def stop(self) -> None:
        self._stop.set()


def prepare(root: Path) -> dict[str, str]:
    """A temporary copy of the demo data (or a fresh one with the app's demo settings when
    there is none yet), and empty store, cache and runs folders under ``root``."""
    from mcalc.config import get_settings
    from mcalc.synthetic import generate_demo

    s = get_settings()
    data = root / "demo"
    if (s.demo_dir / "Description.xlsx").exists() or any(s.demo_dir.glob("*/")):
        shutil.copytree(s.demo_dir, data)
    else:
        generate_demo(data, cases=s.demo_cases, seed=s.demo_seed)
    return {
        "MCALC_DEMO_DIR": str(data),
        "MCALC_DATA": "",
        "MCALC_CACHE": str(root / "cache"),
        "MCALC_STORE": str(root / "store"),
        "MCALC_RUNS": str(root / "runs"),
        "MCALC_MODELS": str(s.models_dir),
        "MCALC_USERS": str(root / "users.yaml"),  # none: demo mode, no sign-in
        "MCALC_AUTH": "auto",
    }


# -- one reader's session -------------------------------------------------------------------


@dataclass
class Session:
    """What one browser session did: timings, errors, saves."""

    reader: str
    samples: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    saves: list[Save] = field(default_factory=list)
    rounds: int = 0
    clicks: int = 0  # marks placed so far: each lands somewhere new
    named: bool = False  # the Streamlit session of its page knows the reader's name
    wait_s: float = 240.0  # the longest wait for one interaction


#: Predict drawn: its heading and case picker, no analysis computing, no spinner, and the
#: result in the reading viewer (two panels with the maps as layers; ``and`` the viewer's
#: condition from :data:`bench.browser.PREDICT_SHOWN`, see :func:`_round`). The first case's
#: analysis is cached by the warm-up, so a session's first visit draws it at once.
DONE_PREDICT = (
    "document.body.innerText.includes('Predict and explain')"
    " && !!document.querySelector('[data-testid=stSelectbox]')"
    " && !document.body.innerText.includes('Computing ')"
    " && !document.querySelector('[data-testid=stSpinner]')"
)


async def _settle(
    page: Any, t0: float, cond: str, *, ran: bool, quiet: int = 600, wait_s: float = 240.0
) -> float:
    from bench.browser import SETTLED

    handle = await page.wait_for_function(
        SETTLED.replace("COND", cond), arg=[t0, quiet, ran], timeout=wait_s * 1000
    )
    return (float(await handle.json_value()) - t0) / 1000.0


async def _timed(s: Session, kind: str, page: Any, action: Any, cond: str, ran: bool) -> float:
    t0 = float(await page.evaluate("performance.now()"))
    await action()
    seconds = await _settle(page, t0, cond, ran=ran, wait_s=s.wait_s)
    if await page.locator("[data-testid='stException']").count():
        text = await page.locator("[data-testid='stException']").first.inner_text()
        raise RuntimeError(f"exception on the page: {text.splitlines()[0] if text else '?'}")
    s.samples.append((kind, seconds))
    if VERBOSE:
        _log(f"{s.reader} {kind} {seconds:.2f} s")
    return seconds


async def _nav(page: Any, title: str) -> None:
    await page.locator("[data-testid='stSidebar'] a").filter(has_text=title).first.click()


async def _round(s: Session, page: Any, url: str) -> None:
    from bench.browser import PREDICT_SHOWN, VIEWER_STATE

    state = VIEWER_STATE
    first = not s.named
    if first:
        await page.goto(f"{url}/browse", wait_until="commit")
        await _settle(page, 0.0, f"!!{state}.case", ran=False, wait_s=s.wait_s)
    else:
        await _timed(s, "browse", page, lambda: _nav(page, "Browse"), f"!!{state}.case", True)
    before = await page.evaluate(f"() => {state}.case")
    changed = f"{state}.case && {state}.case !== {json.dumps(before)}"
    nxt = page.get_by_role("button", name="Next ▶")
    await _timed(s, "case_switch", page, nxt.click, changed, True)
    invert = page.locator("[data-testid='stSidebar'] label").filter(has_text="Invert").first
    await _timed(s, "toggle", page, invert.click, "true", True)

    async def annotate() -> None:
        await _nav(page, "Annotate")
        if first:
            field = page.get_by_label("Your name", exact=False)
            await field.wait_for(timeout=s.wait_s * 1000)
            await field.fill(s.reader)
            await field.press("Enter")

    await _timed(s, "annotate", page, annotate, f"!!{state}.case", True)
    s.named = True
    key = (await page.evaluate(f"() => {state}.case")).split("|")[0]
    mine = [v for v in s.saves if v.image_key == key]
    expected = mine[-1].n_marks if mine else 0
    shown = int(await page.evaluate(f"() => +({state}.marks || 0)"))
    if shown != expected:
        s.errors.append(f"{key}: the viewer shows {shown} mark(s), this reader saved {expected}")
    frame = next(f for f in page.frames if "viewer" in f.url)
    await frame.focus("[data-testid='mcalc-viewer']")
    await frame.press("[data-testid='mcalc-viewer']", "a")  # the mark tool
    panel = await frame.eval_on_selector_all(
        ".panel",
        "(els, key) => { const e = els.find(x => x.dataset.key === key) || els[0];"
        " const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
        key,
    )
    box = await page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
    cx, cy = box["x"] + panel[0] + panel[2] / 2, box["y"] + panel[1] + panel[3] / 2
    n = shown
    for _ in range(2):
        # Different places per reader and click, inside the panel's middle.
        seed = zlib.crc32(s.reader.encode())
        s.clicks += 1
        dx = ((seed + 37 * s.clicks) % 80) - 40
        dy = ((seed // 7 + 29 * s.clicks) % 80) - 40
        n += 1
        cond = f"+({state}.marks || 0) === {n}"
        await _timed(
            s, "mark", page, lambda x=cx + dx, y=cy + dy: page.mouse.click(x, y), cond, False
        )
    version = (mine[-1].version if mine else 0) + 1
    # The flash ("Saved as version N.") goes at the next rerun: wait for the caption.
    saved = f"document.body.innerText.includes('Version {version} · all saved')"
    press = lambda: frame.press("[data-testid='mcalc-viewer']", "Control+s")  # noqa: E731
    try:
        await _timed(s, "save", page, press, saved, True)
    except Exception:
        body = await page.evaluate("document.body.innerText")
        said = re.findall(
            r"(Saved as version \d+\.|Marks not saved[^\n]*|[^\n]*conflict[^\n]*)", body
        )
        raise RuntimeError(
            f"save of {key} as version {version}: the page says {said[:2]}"
        ) from None
    s.saves.append(Save(key, s.reader, version, n))
    predict_done = f"{DONE_PREDICT} && {PREDICT_SHOWN}"
    await _timed(s, "predict", page, lambda: _nav(page, "Predict"), predict_done, True)


async def _session(browser: Any, url: str, s: Session, until: float, rounds: int) -> None:
    from bench.browser import OBSERVER

    context = await browser.new_context(viewport={"width": 1500, "height": 1900})
    await context.add_init_script(OBSERVER)
    context.set_default_timeout(240_000)
    page = await context.new_page()
    try:
        while s.rounds < rounds or time.monotonic() < until:
            try:
                await _round(s, page, url)
            except Exception as exc:
                s.errors.append(f"round {s.rounds + 1}: {str(exc).splitlines()[0][:300]}")
                _log(f"{s.reader}: {s.errors[-1]}")
                shot = Path(tempfile.gettempdir()) / f"bench-load-{s.reader.replace(' ', '_')}.png"
                with contextlib.suppress(Exception):
                    await page.screenshot(path=str(shot))
                s.named = False  # start again from a fresh page
                if len(s.errors) > 5:
                    break  # this session is stuck: its errors are reported
            s.rounds += 1
    finally:
        await context.close()


async def _phase(
    url: str, readers: list[str], minutes: float, rounds: int, wait_s: float = 240.0
) -> list[Session]:
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    sessions = [Session(r, wait_s=wait_s) for r in readers]
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            until = time.monotonic() + minutes * 60
            await asyncio.gather(*(_session(browser, url, s, until, rounds) for s in sessions))
        finally:
            await browser.close()
    return sessions


def _log(msg: str) -> None:
    print(f"[bench/load] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(sizes: Sequence[int], minutes: float, rounds: int) -> dict[str, Any]:
    """Warm-up, one session alone, then each of ``sizes`` together (one server for all);
    the report as one object, its goal judged on the largest size."""
    from tests.browser import running_app

    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-load-"))
    try:
        env = prepare(root)
        os.environ.pop("MCALC_DATA", None)
        with running_app(env, timeout=240) as url:
            watch = RssWatch(server_pid(url))
            _log(f"server {url} (pid {watch.pid}), warm-up session")
            # The first Predict visit computes case 1's analysis (every later session finds
            # it cached): on a busy 2-core machine that can take minutes.
            warm = asyncio.run(_phase(url, ["Load Warmup"], 0, 1, wait_s=1200))
            rss_warm = watch.reset()
            phases: dict[int, list[Session]] = {}
            rss: dict[int, dict[str, float]] = {}
            load: dict[int, list[float]] = {}
            for size in sorted({1, *sizes}):
                _log(f"{size} session(s), load average {_load_average()}")
                before = watch.reset()
                t = time.monotonic()
                phases[size] = asyncio.run(
                    _phase(
                        url, [f"Load Reader {size}-{i + 1}" for i in range(size)], minutes, rounds
                    )
                )
                rss[size] = {
                    "start": round(before, 1),
                    "peak": round(watch.peak, 1),
                    "end": round(rss_mb(watch.pid or 0), 1),
                }
                load[size] = _load_average()
                _log(
                    f"{size} session(s): {time.monotonic() - t:.0f} s, rss {rss[size]}, load {load[size]}"
                )
            watch.stop()
        saves = [v for sessions in (warm, *phases.values()) for s in sessions for v in s.saves]
        problems = check_store(Path(env["MCALC_STORE"]), saves)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary = {
        size: summarize(x for s in sessions for x in s.samples) for size, sessions in phases.items()
    }
    n = max(sizes)
    ratios = {size: compare(summary[1], summary[size]) for size in summary if size > 1}
    return {
        "sessions": n,
        "minutes": minutes,
        "rounds": {size: sum(s.rounds for s in ss) for size, ss in phases.items()},
        "latency": summary,
        "ratio": ratios,
        "errors": {
            size: [f"{s.reader}: {e}" for s in ss for e in s.errors] for size, ss in phases.items()
        },
        "warmup_errors": [e for s in warm for e in s.errors],
        "saves": len(saves),
        "lost_writes": problems,
        "server_rss_mb": {"after_warmup": round(rss_warm, 1), **rss},
        "load_average": load,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "met": bool(
            not problems
            and not any(s.errors for ss in phases.values() for s in ss)
            and all(r["met"] for r in ratios.get(n, {}).values())
        ),
    }


def table(report: dict[str, Any]) -> str:
    """The report as text: one line per interaction, then errors, store and memory."""
    n = report["sessions"]
    lat = report["latency"]
    head = f"{'sessions':>8} {'interaction':<12} {'n':>4} {'p50 1':>7} {'p95 1':>7} {'p50 N':>7}"
    lines = [f"{head} {'p95 N':>7} {'p95 x':>6}  met"]
    for size in sorted(lat, key=int):
        for kind in (*KINDS, "all"):
            one, many = lat.get(1, {}).get(kind), lat[size].get(kind)
            if not one or not many or size == 1:
                continue
            r = report["ratio"].get(size, {}).get(kind, {})
            lines.append(
                f"{size:>8} {kind:<12} {many['n']:>4} {one['p50']:>7.2f} {one['p95']:>7.2f} "
                f"{many['p50']:>7.2f} {many['p95']:>7.2f} {r.get('p95', math.nan):>6.2f}  "
                f"{'yes' if r.get('met') else 'NO'}"
            )
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
    lines.append(f"goal met: {'yes' if report['met'] else 'NO'}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sessions",
        required=True,
        help="concurrent browser sessions; several (2,4,8) run one after the other on one server",
    )
    ap.add_argument("--minutes", type=float, default=0.0, help="keep each phase going this long")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per session (at least)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in str(args.sessions).split(",")]
    except ValueError:
        ap.error(f"--sessions takes numbers separated by commas, got {args.sessions!r}")
    if min(sizes) < 1:
        ap.error(f"--sessions must be at least 1, got {args.sessions}")
    # A stopped bench (Ctrl-C, kill) still stops its app server and removes its folders.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    report = run(sizes, args.minutes, args.rounds)
    print(json.dumps(report) if args.json else table(report))
    return 0 if report["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
