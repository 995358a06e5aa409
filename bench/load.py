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
N sessions alone, one after the other (the baseline: as many samples per interaction as
loaded, first rounds and later ones alike), then N together. Reported per
interaction: p50 and p95 for 1 and N sessions and their ratios with a 90% bootstrap
interval, the CPU seconds of Chromium and of the server (per phase, and per interaction
of the single session), errors (an exception on a page, a step that timed
out, a save refused), the app server's resident memory (peak while 1 and N sessions ran),
and the store check: every save the sessions saw is in the store, as its version, with
its marks, by its reader, and no conflict copy (each reader writes only their own record).

    python bench/load.py --sessions 8 [--minutes M] [--rounds R] [--baseline-sessions B] [--json]
        [--repo CHECKOUT]

``--repo`` runs another checkout's app (``git archive COMMIT | tar -x -C DIR``) under this
harness: an A/B of two trees with the same sessions, waits and report.

Needs ``playwright`` (Python package) and Debian's ``/usr/bin/chromium`` (``MCALC_CHROMIUM``
for another); never a downloaded browser. Goal (issue 15): N = 8 with no error and no lost
write, every p95 at most 3x a single session's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: A reader's mean pause between two interactions (seconds): looking at the case.
THINK_S = 3.0
#: Niceness of the Chromium processes: the server first, as if the browsers were elsewhere.
BROWSER_NICE = 10
VERBOSE = bool(os.environ.get("MCALC_BENCH_VERBOSE"))

from bench.browser import PREDICT_SHOWN, VIEWER_STATE  # noqa: E402
from bench.load_procs import (  # noqa: E402
    BrowserNice,
    CpuWatch,
    RssWatch,
    browser_cpu,
    cpu_seconds,
    nice_arg,
    rss_mb,
    server_pid,
)
from bench.load_report import KINDS, holds, table  # noqa: E402
from bench.load_stats import (  # noqa: E402
    Save,
    ServerRun,
    check_store,
    compare,
    cookie_tag,
    cpu_medians,
    intervals,
    later_rounds,
    percentile,
    ratio_interval,
    read_run_log,
    server_times,
    summarize,
    think_times,
    wait_parts,
)

__all__ = [
    "KINDS",
    "Save",
    "ServerRun",
    "check_store",
    "compare",
    "cookie_tag",
    "cpu_medians",
    "holds",
    "intervals",
    "percentile",
    "ratio_interval",
    "read_run_log",
    "server_times",
    "summarize",
    "table",
    "think_times",
    "wait_parts",
]


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
    #: the 0-based round of each of ``samples``
    sample_rounds: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    saves: list[Save] = field(default_factory=list)
    rounds: int = 0
    clicks: int = 0  # marks placed so far: each lands somewhere new
    named: bool = False  # the Streamlit session of its page knows the reader's name
    wait_s: float = 240.0  # the longest wait for one interaction
    think: Iterator[float] = field(default_factory=lambda: iter(()))
    #: ``(kind, start in Unix seconds, seconds)`` of every timed interaction
    windows: list[tuple[str, float, float]] = field(default_factory=list)
    #: per window, seconds from the action to the page's first message to the server
    #: (``None``: it sent none, as a mark placed in the viewer)
    sends: list[float | None] = field(default_factory=list)
    #: the server's run log (``MCALC_RUN_LOG``): a run of this session seen there counts
    #: as the interaction's run (see :func:`_settle_run`)
    run_log: Path | None = None
    #: ``() -> (browser CPU s, server CPU s)`` so far; set: every interaction's CPU noted
    cpu: Any = None
    #: ``(kind, browser CPU s, server CPU s)`` of every timed interaction (with ``cpu``)
    cpu_spent: list[tuple[str, float, float]] = field(default_factory=list)
    #: ``(kind) -> async context manager`` entered around each timed interaction's action
    #: and wait (``bench/load_cpu.py``: CPU per Chromium process, profiles); ``None``: none
    watch: Any = None


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


#: The reading viewer (the page's first) has made the images of its panels: Cornerstone
#: images made from pixels that arrived (``imagesMade``, counted over the frame's life)
#: at least as many as it has panels. Browse and Predict are reached from another page, so
#: their frame is a new one (a page switch unmounts the viewer): until then the reader sees
#: empty panels (the case and its panels published, the pixels not there or not inflated).
VIEWER_IMAGES = (
    f"(+({VIEWER_STATE}.imagesMade || 0) >= +({VIEWER_STATE}.panels || 0)"
    f" && +({VIEWER_STATE}.panels || 0) > 0)"
)
#: Browse drawn: its heading and its own viewer (a case id: Predict's viewer, still on the
#: page while Browse's run draws, has a key with ``|``, Annotate's one with ``/``) with
#: its images made.
BROWSE_SHOWN = (
    f"!!{VIEWER_STATE}.case && !/[|\\/]/.test({VIEWER_STATE}.case) && {VIEWER_IMAGES}"
    " && [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === 'Browse')"
)
#: Predict drawn (:data:`DONE_PREDICT`), its result in the viewer with its images made.
PREDICT_DONE = f"{DONE_PREDICT} && {PREDICT_SHOWN} && {VIEWER_IMAGES}"


async def _settle(
    page: Any, t0: float, cond: str, *, ran: bool, quiet: int = 600, wait_s: float = 240.0
) -> float:
    from bench.browser import SETTLED

    handle = await page.wait_for_function(
        SETTLED.replace("COND", cond), arg=[t0, quiet, ran], timeout=wait_s * 1000
    )
    return (float(await handle.json_value()) - t0) / 1000.0


def _server_ran(s: Session, since: float) -> bool:
    """Whether the server's run log has a finished run of this session started at or after
    ``since`` (Unix seconds)."""
    if s.run_log is None:
        return False
    tag = cookie_tag(s.reader)
    return any(r.tag == tag and r.start >= since for r in read_run_log(s.run_log))


async def _settle_run(s: Session, page: Any, t0: float, w0: float, cond: str, ran: bool) -> float:
    """:func:`_settle`, where a run of the interaction seen in the server's run log stands
    for one seen on the page. A short run whose start and end reach a busy page in one go
    never shows as 'running' on it (the page draws the script state once, as it was): the
    toggle took and the save was done, and the wait for a run went on for 240 s."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    end = time.monotonic() + s.wait_s
    while True:
        left = end - time.monotonic()
        try:
            return await _settle(page, t0, cond, ran=ran, wait_s=max(0.1, min(3.0, left)))
        except PlaywrightTimeout:
            if left <= 3.0:
                raise
            if ran and _server_ran(s, w0):
                ran = False  # the server ran it: settled once the page is, with cond


async def _timed(s: Session, kind: str, page: Any, action: Any, cond: str, ran: bool) -> float:
    await asyncio.sleep(next(s.think, 0.0))  # the reader looks at the page first
    t0 = float(await page.evaluate("performance.now()"))
    w0 = time.time()
    cpu0 = s.cpu() if s.cpu else None
    async with s.watch(kind) if s.watch else contextlib.nullcontext():
        await action()
        try:
            seconds = await _settle_run(s, page, t0, w0, cond, ran)
        except Exception as exc:  # what the page showed when the wait gave up
            why = await _why(page, t0, cond)
            raise RuntimeError(f"{kind}: {str(exc).splitlines()[0][:80]}; {why}") from None
    s.windows.append((kind, w0, seconds))
    sent = await page.evaluate(f"() => window.__mcSent.find(t => t >= {t0}) ?? null")
    s.sends.append(None if sent is None else (float(sent) - t0) / 1000.0)
    if cpu0 is not None:
        cpu1 = s.cpu()
        s.cpu_spent.append((kind, round(cpu1[0] - cpu0[0], 3), round(cpu1[1] - cpu0[1], 3)))
    if await page.locator("[data-testid='stException']").count():
        text = await page.locator("[data-testid='stException']").first.inner_text()
        raise RuntimeError(f"exception on the page: {text.splitlines()[0] if text else '?'}")
    s.samples.append((kind, seconds))
    s.sample_rounds.append(s.rounds)
    if VERBOSE:
        _log(f"{s.reader} {kind} {seconds:.2f} s")
    return seconds


async def _why(page: Any, t0: float, cond: str) -> str:
    """The page's state after a wait gave up: the condition, the script state now, and its
    changes since the action (ms after it)."""
    with contextlib.suppress(Exception):
        return str(
            await page.evaluate(
                f"""() => {{
                const el = document.querySelector('[data-test-script-state]');
                const runs = window.__mcRuns.filter(e => e[0] >= {t0} - 5000)
                  .map(e => `${{Math.round(e[0] - {t0})}}:${{e[1]}}`).slice(-8).join(' ');
                return `condition ${{!!({cond})}}, state ${{el && el.getAttribute('data-test-script-state')}}, runs ${{runs}}`;
                }}"""
            )
        )
    return "page state unknown"


async def _nav(page: Any, title: str) -> None:
    await page.locator("[data-testid='stSidebar'] a").filter(has_text=title).first.click()


async def _round(s: Session, page: Any, url: str) -> None:
    state = VIEWER_STATE
    first = not s.named
    if first:
        await page.goto(f"{url}/browse", wait_until="commit")
        try:
            await _settle(page, 0.0, f"!!{state}.case", ran=False, wait_s=s.wait_s)
        except Exception as exc:
            why = await _why(page, 0.0, f"!!{state}.case")
            raise RuntimeError(f"first page: {str(exc).splitlines()[0][:80]}; {why}") from None
    else:
        await _timed(s, "browse", page, lambda: _nav(page, "Browse"), BROWSE_SHOWN, True)
    before = await page.evaluate(f"() => {state}.case")
    changed = f"{state}.case && {state}.case !== {json.dumps(before)}"
    nxt = page.get_by_role("button", name="Next ▶")
    await _timed(s, "case_switch", page, nxt.click, changed, True)
    invert = page.locator("[data-testid='stSidebar'] label").filter(has_text="Invert").first
    # The toggle drawn in its new state (not only a run seen: see bench.browser.SETTLED).
    checked = (
        "[...document.querySelectorAll(\"[data-testid='stSidebar'] label\")]"
        ".find(e => e.innerText.includes('Invert'))?.querySelector('input')?.checked"
    )
    was = bool(await page.evaluate(f"() => !!{checked}"))
    await _timed(s, "toggle", page, invert.click, f"{checked} === {json.dumps(not was)}", True)

    async def annotate() -> None:
        await _nav(page, "Annotate")
        if first:
            field = page.get_by_label("Your name", exact=False)
            await field.wait_for(timeout=s.wait_s * 1000)
            await field.fill(s.reader)
            await field.press("Enter")

    # Annotate's own viewer: its case key is an image key ("case/VIEW_time"), Browse's a case
    # id (the condition is checked until first true: Browse's viewer, still on the page
    # while Annotate's first run draws, must not satisfy it).
    annotated = f"({state}.case || '').includes('/')"
    await _timed(s, "annotate", page, annotate, annotated, True)
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
    # The flash ("Saved as version N.") goes at the next rerun: wait for the caption
    # ("Version N · ..."; with the viewer it no longer says "all saved", which the page
    # cannot know of the viewer's marks).
    saved = f"document.body.innerText.includes('Version {version} · ')"
    press = lambda: frame.press("[data-testid='mcalc-viewer']", "Control+s")  # noqa: E731
    try:
        await _timed(s, "save", page, press, saved, True)
    except Exception as exc:
        body = await page.evaluate("document.body.innerText")
        said = re.findall(
            r"(Saved as version \d+\.|Marks not saved[^\n]*|[^\n]*conflict[^\n]*)", body
        )
        raise RuntimeError(
            f"save of {key} as version {version}: the page says {said[:2]} ({exc})"
        ) from None
    s.saves.append(Save(key, s.reader, version, n))
    await _timed(s, "predict", page, lambda: _nav(page, "Predict"), PREDICT_DONE, True)


async def reader_page(browser: Any, url: str, reader: str) -> tuple[Any, Any]:
    """A browser context of its own for ``reader`` (the bench's cookie naming them, the
    page observer of :mod:`bench.browser`, a 240 s default timeout) and its page:
    ``(context, page)``; the caller closes the context."""
    from bench.browser import OBSERVER
    from pages.server_tuning import BENCH_COOKIE

    context = await browser.new_context(viewport={"width": 1500, "height": 1900})
    await context.add_cookies([{"name": BENCH_COOKIE, "value": cookie_tag(reader), "url": url}])
    await context.add_init_script(OBSERVER)
    context.set_default_timeout(240_000)
    return context, await context.new_page()


async def _session(browser: Any, url: str, s: Session, until: float, rounds: int) -> None:
    context, page = await reader_page(browser, url, s.reader)
    try:
        while s.rounds < rounds or time.monotonic() < until:
            try:
                await _round(s, page, url)
            except Exception as exc:
                s.errors.append(f"round {s.rounds + 1}: {str(exc).splitlines()[0][:600]}")
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


@dataclass(frozen=True)
class Plan:
    """How the sessions behave: rounds, minutes, think time, the browsers' niceness."""

    rounds: int = 2
    minutes: float = 0.0
    think_s: float = THINK_S
    seed: int = 0
    nice: int | None = BROWSER_NICE  # None: Chromium's own priorities
    #: sessions of the baseline, each alone, one after the other (``rounds`` each);
    #: ``None``: the largest number of sessions, so that it has as many samples per
    #: interaction as they have, first rounds (the name entered) and later ones alike
    baseline_sessions: int | None = None
    #: the checkout whose app runs (``None``: this one)
    repo: Path | None = None
    #: one Chromium per reader (each its own browser and GPU process, as readers on their
    #: own machines have) instead of one Chromium with a context per reader
    browser_per_reader: bool = False


async def _phase(
    url: str,
    readers: list[str],
    plan: Plan,
    wait_s: float = 240.0,
    run_log: Path | None = None,
    cpu: Any = None,
    spent: dict[str, float] | None = None,
) -> list[Session]:
    """The sessions of ``readers`` at once, in one Chromium (or one each,
    ``plan.browser_per_reader``); ``spent`` (when given) gets the phase's ``wall`` seconds."""
    from playwright.async_api import async_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS

    sessions = [
        Session(
            r,
            wait_s=wait_s,
            think=think_times(r, plan.think_s, plan.seed),
            run_log=run_log,
            cpu=cpu if len(readers) == 1 else None,  # one session: its CPU is all there is
        )
        for r in readers
    ]
    minutes, rounds = plan.minutes, plan.rounds
    async with async_playwright() as p:

        async def launch() -> Any:
            return await p.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )

        async def alone(s: Session, until: float) -> None:
            browser = await launch()
            try:
                await _session(browser, url, s, until, rounds)
            finally:
                await browser.close()

        if plan.browser_per_reader:
            t0 = time.monotonic()
            until = t0 + minutes * 60
            await asyncio.gather(*(alone(s, until) for s in sessions))
        else:
            browser = await launch()
            try:
                t0 = time.monotonic()
                until = t0 + minutes * 60
                await asyncio.gather(*(_session(browser, url, s, until, rounds) for s in sessions))
            finally:
                await browser.close()
        if spent is not None:
            spent["wall"] = round(time.monotonic() - t0, 1)
    return sessions


def _log(msg: str) -> None:
    print(f"[bench/load] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(sizes: Sequence[int], plan: Plan) -> dict[str, Any]:
    """Warm-up, the baseline (sessions alone in turn), then each of ``sizes`` together (one
    server for all); the report as one object, its goal judged on the largest size."""
    from tests.browser import running_app

    root = Path(tempfile.mkdtemp(prefix="mcalc-bench-load-"))
    try:
        env = prepare(root)
        log = root / "runs.jsonl"
        env["MCALC_RUN_LOG"] = str(log)
        os.environ.pop("MCALC_DATA", None)
        nice = BrowserNice(plan.nice)
        app = running_app(env, timeout=240, repo=plan.repo or REPO, as_installed=True)
        with app as url, contextlib.closing(nice):
            watch = RssWatch(server_pid(url))
            chromium = CpuWatch()  # every Chromium process's CPU, closed ones included

            def cpu() -> tuple[float, float]:
                return browser_cpu(), cpu_seconds(watch.pid or 0)

            _log(f"server {url} (pid {watch.pid}), warm-up session")
            # The first Predict visit computes case 1's analysis (every later session finds
            # it cached): on a busy 2-core machine that can take minutes.
            warm_plan = Plan(**{**plan.__dict__, "rounds": 1, "minutes": 0.0, "think_s": 0.0})
            warm = asyncio.run(_phase(url, ["Load Warmup"], warm_plan, wait_s=1200, run_log=log))
            rss_warm = watch.reset()
            phases: dict[int, list[Session]] = {}
            phase_cpu: dict[int, dict[str, float]] = {}
            rss: dict[int, dict[str, float]] = {}
            load: dict[int, list[float]] = {}
            # The baseline takes as many samples per interaction as the largest phase (a p95
            # of two samples is their maximum, a low estimate that inflated every ratio):
            # that many readers, each alone in turn, with the same rounds (a first round
            # enters the name and opens Predict's first visit: the same mix as loaded).
            n = max(sizes)
            alone = plan.baseline_sessions or n
            for size in sorted({1, *sizes}):
                _log(f"{size} session(s), load average {_load_average()}")
                before = watch.reset()
                t = time.monotonic()
                readers = [f"Load Reader {size}-{i + 1}" for i in range(size)]
                spent: dict[str, float] = {"server": cpu_seconds(watch.pid or 0)}
                spent["browser"] = chromium.total()
                if size == 1:  # the baseline: ``alone`` readers, one after the other
                    phases[1], spent["wall"] = [], 0.0
                    for i in range(alone):
                        part: dict[str, float] = {}
                        reader = [f"Load Reader 1-{i + 1}"]
                        phases[1] += asyncio.run(
                            _phase(url, reader, plan, run_log=log, cpu=cpu, spent=part)
                        )
                        spent["wall"] += part.get("wall", 0.0)
                else:
                    phases[size] = asyncio.run(
                        _phase(url, readers, plan, run_log=log, cpu=cpu, spent=spent)
                    )
                spent["server"] = round(cpu_seconds(watch.pid or 0) - spent["server"], 1)
                spent["browser"] = round(chromium.total() - spent["browser"], 1)
                phase_cpu[size] = spent
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
            chromium.stop()
        runs = read_run_log(log)
        with contextlib.suppress(OSError):  # kept for a look at what the server ran
            shutil.copy(log, Path(tempfile.gettempdir()) / "bench-load-runs.jsonl")
        saves = [v for sessions in (warm, *phases.values()) for s in sessions for v in s.saves]
        problems = check_store(Path(env["MCALC_STORE"]), saves)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    summary = {
        size: summarize(x for s in sessions for x in s.samples) for size, sessions in phases.items()
    }
    on_server = {
        size: [x for s in ss for x in server_times(runs, cookie_tag(s.reader), s.windows)]
        for size, ss in phases.items()
    }
    # Interactions that run nothing on the server (a mark) have no server time to compare.
    busy = {k for xs in on_server.values() for k, wall, _ in xs if wall > 0}
    server = {
        size: summarize((k, wall) for k, wall, _ in xs if k in busy)
        for size, xs in on_server.items()
    }
    server_cpu = {
        size: summarize((k, cpu) for k, _, cpu in xs if k in busy) for size, xs in on_server.items()
    }
    # Where the wait went: before the page's message, on the server, after (wait_parts).
    parts: dict[int, dict[str, list[tuple[str, float]]]] = {}
    for size, ss in phases.items():
        for s in ss:
            tag = cookie_tag(s.reader)
            split = wait_parts(s.windows, s.sends, server_times(runs, tag, s.windows))
            for part, xs in split.items():
                parts.setdefault(size, {}).setdefault(part, []).extend(xs)
    n = max(sizes)
    ratios = {size: compare(summary[1], summary[size]) for size in summary if size > 1}
    # The same from round 2 on (information; the goal is judged on every round): a loaded
    # phase's sessions all open their first page at once, ~4 CPU-s of Chromium each.
    steady = {
        size: summarize(x for s in ss for x in later_rounds(s.samples, s.sample_rounds))
        for size, ss in phases.items()
    }
    steady_ratios = {size: compare(steady[1], steady[size]) for size in steady if size > 1}
    steady_samples = {
        size: [x for s in ss for x in later_rounds(s.samples, s.sample_rounds)]
        for size, ss in phases.items()
    }
    steady_ci = {
        size: intervals(steady_samples[1], steady_samples[size]) for size in steady if size > 1
    }
    server_ratios = {size: compare(server[1], server[size]) for size in server if size > 1}
    samples = {size: [x for s in ss for x in s.samples] for size, ss in phases.items()}
    ratio_ci = {size: intervals(samples[1], samples[size]) for size in samples if size > 1}
    walls = {size: [(k, w) for k, w, _ in xs if k in busy] for size, xs in on_server.items()}
    server_ci = {size: intervals(walls[1], walls[size]) for size in walls if size > 1}
    return {
        "repo": str(plan.repo or REPO),
        "sessions": n,
        "minutes": plan.minutes,
        "think_s": plan.think_s,
        "seed": plan.seed,
        "browser_nice": plan.nice,
        "browsers": "one per reader" if plan.browser_per_reader else "one, a context per reader",
        "rounds": {size: sum(s.rounds for s in ss) for size, ss in phases.items()},
        "baseline_sessions": alone,
        "latency": summary,
        "ratio": ratios,
        "ratio_ci90": ratio_ci,
        "later_rounds": {"latency": steady, "ratio": steady_ratios, "ratio_ci90": steady_ci},
        "server_wall": server,
        "server_cpu": server_cpu,
        "server_ratio": server_ratios,
        "server_ratio_ci90": server_ci,
        "server_runs_logged": len(runs),
        "wait_parts": {
            size: {part: summarize(xs) for part, xs in by.items()} for size, by in parts.items()
        },
        # CPU seconds per phase (Chromium, the server) and, for the single session, per
        # interaction: where the two cores went
        "cpu_s": phase_cpu,
        "cpu_per_interaction_1": cpu_medians(x for s in phases.get(1, []) for x in s.cpu_spent),
        "holds": {"browser": holds(ratios), "server": holds(server_ratios)},
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sessions",
        required=True,
        help="concurrent browser sessions; several (2,4,8) run one after the other on one server",
    )
    ap.add_argument("--minutes", type=float, default=0.0, help="keep each phase going this long")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per session (at least)")
    ap.add_argument(
        "--think",
        type=float,
        default=THINK_S,
        metavar="MEAN_S",
        help=f"a reader's pause before each interaction, uniform in 0.5-1.5x MEAN_S "
        f"(default {THINK_S}); 0: none, a closed loop",
    )
    ap.add_argument(
        "--baseline-sessions",
        type=int,
        default=None,
        help="sessions of the baseline, each alone, one after the other, --rounds each "
        "(default: the largest --sessions: as many samples per interaction as loaded)",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the think times")
    ap.add_argument(
        "--nice",
        type=nice_arg,
        default=BROWSER_NICE,
        metavar="N|off",
        help=f"keep the Chromium processes at niceness N or lower priority (default "
        f"{BROWSER_NICE}: the server first, as if the browsers were on other machines; 0: "
        "level with the server); off: Chromium's own priorities (as root it raises its "
        "browser and GPU processes to -8, above the server)",
    )
    ap.add_argument(
        "--repo",
        type=Path,
        default=None,
        metavar="CHECKOUT",
        help="run the app of this checkout (e.g. main's tree from `git archive`) under this "
        "harness, for an A/B of two trees (default: this one)",
    )
    ap.add_argument(
        "--browser-per-reader",
        action="store_true",
        help="one Chromium per reader (its own browser and GPU processes, as on a reader's own "
        "machine) instead of one Chromium with a context per reader",
    )
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = ap.parse_args()
    try:
        sizes = [int(x) for x in str(args.sessions).split(",")]
    except ValueError:
        ap.error(f"--sessions takes numbers separated by commas, got {args.sessions!r}")
    if min(sizes) < 1:
        ap.error(f"--sessions must be at least 1, got {args.sessions}")
    if args.think < 0:
        ap.error(f"--think is at least 0, got {args.think}")
    # A stopped bench (Ctrl-C, kill) still stops its app server and removes its folders.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.baseline_sessions is not None and args.baseline_sessions < 1:
        ap.error(f"--baseline-sessions must be at least 1, got {args.baseline_sessions}")
    if args.repo is not None and not (args.repo / "app.py").is_file():
        ap.error(f"--repo must be a checkout with app.py, got {args.repo}")
    plan = Plan(
        args.rounds,
        args.minutes,
        args.think,
        args.seed,
        args.nice,
        args.baseline_sessions,
        args.repo.resolve() if args.repo is not None else None,
        args.browser_per_reader,
    )
    report = run(sizes, plan)
    print(json.dumps(report) if args.json else table(report))
    return 0 if report["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
