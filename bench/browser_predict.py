"""Predict's first visit and a cold case alone, with their timelines (issue 14).

The Predict figures of ``bench/browser.py`` (the first visit, until the result is drawn and
until the page settled; a cold case: choose it, *Run*, until drawn) against the same
analysis in this process (``bench/browser.py``'s floors; *Run* pressed where the page asks
for it: older trees did for a new case), on an app of their own over the
6-case synthetic demo set, without the other pages (minutes shorter). Each step also prints
its timeline: the server's script runs (``MCALC_RUN_LOG``: start and wall seconds from the
action), the background analyses (the same log: start and wall seconds in the app), the page's script-state changes, the websocket messages that came in (count and
bytes) and the viewer's own time to draw (``data-render-ms``), so that the gaps show.

    python bench/browser_predict.py [--repeat N] [--warm S] [--cold N] [--via W] [--profile] [--cpu]

Cold cases are cases no analysis ahead reached (``bench.browser.cold_choices``; the log is
checked and a case analysed ahead is named); then the next case: the one after the last
cold case (one that has a case after it goes last), which the page analyses ahead once that one is drawn, chosen once the run log
says that analysis ended (at once where none is logged: a tree without analyses ahead).
``--via sidebar``: the first visit from the sidebar menu (Home loaded in the tab, the
warm-up wait, then a click on the Predict link) instead of by its address in a new tab.
``--via browse``: from the sidebar menu of Browse in the same tab and session (Browse shows
the case Predict opens with; the warm-up wait, then a click on the Predict link): a reader
who looks at the case, then asks the model; the browser tab keeps the images Browse was
sent. The first visit's websocket bytes (all messages, and those that carried pixels) are
printed and summed.

``--cold-at S``: the first cold case is chosen S seconds after the first visit was drawn
(at once when that is past) instead of once it settled (the first visit's "settled" then
reads as drawn): about 1.5 s after the first visit's result the page analyses the next
case ahead (about 1 s after it is drawn), and a choice meanwhile stops that
analysis and waits for it (its timeline names the analysis ahead it met and when that
ended). ``--repo PATH``: the app of another tree (the floors stay this tree's code).

``--profile``: a CDP sampling profile (0.5 ms) of the page's main thread during the first
visit and each cold case, printed per 0.1 s (busy share, the scripts busiest) and summed
by function: where the browser's time goes.

``--nice N``: the Chromium processes kept at niceness N or lower priority (as
``bench/load.py`` keeps them): run as root, Chromium raises its browser and GPU processes to
-8, above the app's server, which a reader's browser on a desktop does not; 0 puts them level
with the server, 10 (``bench/load.py``'s default) the server first, as if the browser ran on
the reader's own machine. Without it (or ``off``), Chromium's own priorities (as
``bench/browser.py`` measures). The same meaning as ``bench/load.py``'s ``--nice``.

``--cpu``: a Chromium trace of the first visit (CDP ``Tracing``), from the ``goto`` until
the result is drawn: the CPU time of the page's main thread (its tasks' thread time, less
sensitive to the machine's load than their wall time), split by what each task ran first
(React, the viewer's bundle, Streamlit's modules, message handling...), and the number of
React commits until then (:data:`COMMITS`); and for each later step (cold cases, the next
case) the CPU seconds of the app's server and of Chromium's processes (by type) from the
choice until settled, split before, during and after the analysis the page ran, with
React's commits in the same windows (:class:`CpuSampler`), and the page's main-thread CPU
from the Enter (a trace started after the typing, split as the first visit's): on a shared
machine, what an A/B compares where the wall clock swings with the others' load (Chromium's
CPU grows with a step's wall too: it draws while a run goes on).

For before/after comparisons run it on two checkouts in turn (A, B, A, B) and compare the
ratios of the same run; the machine's load average is printed at the end.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import itertools
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import browser as b  # noqa: E402
from bench.load_procs import nice_arg  # noqa: E402
from bench.load_stats import read_run_log  # noqa: E402
from tests.browser import CHROMIUM, CHROMIUM_ARGS, PIXELS, running_app  # noqa: E402

#: The viewer frame's ``[timeOrigin, viewer.js responseEnd]`` in Unix ms, or ``null``.
FRAME = """() => {
  const f = document.querySelector("iframe[title*='mcalc_viewer']");
  const w = f && f.contentWindow;
  if (!w) return null;
  const js = w.performance.getEntriesByType('resource').find(e => e.name.includes('viewer.js'));
  return [w.performance.timeOrigin, js ? w.performance.timeOrigin + js.responseEnd : null];
}"""


#: Records when a viewer iframe is added to the page (``window.__mcFrames``, page ms).
FRAMES = """
window.__mcFrames = [];
new MutationObserver(ms => ms.forEach(m => m.addedNodes.forEach(n => {
  const all = n.nodeType === 1 ? [n, ...n.querySelectorAll('iframe')] : [];
  if (all.some(e => e.tagName === 'IFRAME' && (e.title || '').includes('mcalc_viewer')))
    window.__mcFrames.push(performance.now());
}))).observe(document, {childList: true, subtree: true});
"""


#: Counts React's commits (``window.__mcCommits``): the page's React renders that reached
#: the DOM. A minimal stand-in for React DevTools' global hook, which React DOM calls on
#: every commit (its production build too) when the hook is defined before it loads.
#: Streamlit 1.67 sets its state once per delta message, but React batches the updates of
#: messages that arrive together: a first visit's 88-90 messages made about 28 commits
#: (docs/measurements.md, 4 December, h/pfirst2), so the messages are not the renders.
COMMITS = """
window.__mcCommits = 0;
window.__mcCommitT = [];
window.__REACT_DEVTOOLS_GLOBAL_HOOK__ = {
  isDisabled: false, supportsFiber: true, renderers: new Map(), inject() { return 1; },
  onCommitFiberRoot() { window.__mcCommits++; window.__mcCommitT.push(performance.now()); },
  onCommitFiberUnmount() {},
  onPostCommitFiberRoot() {}, onScheduleFiberRoot() {}, checkDCE() {},
};
"""


def _proc_kind(pid: int) -> str | None:
    """``server`` (the app's ``streamlit run``), a Chromium process' type (``renderer``,
    ``gpu``, ``utility``, ``zygote``, ``browser`` for the one without a type), or ``None``."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        exe = Path(os.readlink(f"/proc/{pid}/exe")).name
    except OSError:
        return None
    if b"streamlit" in cmd and b"run" in cmd:
        return "server"
    if "chrom" not in exe and "headless_shell" not in exe:
        return None
    # Chromium's children rewrite their command line as one string: the type is in it.
    found = re.search(rb"--type=([\w-]+)", b" ".join(cmd))
    kind = found.group(1).decode() if found else "browser"
    return {"gpu-process": "gpu"}.get(kind, kind)


class CpuSampler:
    """The CPU seconds of the app's server and of Chromium's processes by type, read from
    ``/proc/PID/stat`` every ``step_s`` in a thread (the processes below this one, listed
    again at each :meth:`refresh`), so that a step's CPU can be read between any two
    instants (:meth:`between`): the server's and the browser's share of a cold case.
    A sample of 15 processes took 0.3 ms of CPU here (6 December 2026): about 1 % of a core."""

    def __init__(self, step_s: float = 0.025) -> None:
        import threading

        self.step_s, self.samples = step_s, []  # (Unix s, {kind: CPU s})
        self._pids: dict[int, str] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.refresh()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        from bench.load_procs import _descendants

        pids = {pid: k for pid in _descendants(os.getpid()) if (k := _proc_kind(pid))}
        with self._lock:
            self._pids = pids

    def _sample(self) -> tuple[float, dict[str, float]]:
        from bench.load_procs import cpu_seconds

        with self._lock:
            pids = dict(self._pids)
        out: dict[str, float] = {}
        for pid, kind in pids.items():
            out[kind] = out.get(kind, 0.0) + cpu_seconds(pid)
        return time.time(), out

    def _run(self) -> None:
        while not self._stop.wait(self.step_s):
            self.samples.append(self._sample())

    def at(self, t: float) -> dict[str, float]:
        """Each kind's CPU seconds at Unix time ``t`` (linear between the samples around it)."""
        s = self.samples
        if not s:
            return {}
        if t <= s[0][0]:
            return dict(s[0][1])
        for (ta, va), (tb, vb) in itertools.pairwise(s):
            if ta <= t <= tb:
                w = 0.0 if tb == ta else (t - ta) / (tb - ta)
                return {k: va.get(k, 0.0) + w * (vb.get(k, 0.0) - va.get(k, 0.0)) for k in vb}
        return dict(s[-1][1])

    def between(self, t0: float, t1: float) -> dict[str, float]:
        """Each kind's CPU seconds from ``t0`` to ``t1`` (Unix), with ``chromium`` their sum
        over Chromium's kinds. A process that starts or ends in between counts from or until
        then only."""
        a, b = self.at(t0), self.at(t1)
        out = {k: max(0.0, b.get(k, 0.0) - a.get(k, 0.0)) for k in b}
        out["chromium"] = sum(v for k, v in out.items() if k != "server")
        return out

    def close(self) -> None:
        self._stop.set()


def commits_split(times: list[float], cuts: list[float]) -> list[int]:
    """How many of ``times`` fall in each window between consecutive ``cuts`` (the first
    from ``cuts[0]``, the last until ``cuts[-1]``, each window's start included)."""
    return [sum(a <= t < b for t in times) for a, b in itertools.pairwise(cuts)]


def _works(log: Path, since: float) -> list[dict[str, Any]]:
    """The background analyses the page logged (:func:`pages.server_tuning.log_work`)
    that started after ``since`` (Unix seconds), in file order."""
    out = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
                if "work" in d and float(d["start"]) >= since - 0.05:
                    out.append(
                        {
                            "start": float(d["start"]),
                            "wall": float(d["wall"]),
                            "ahead": "ahead" in str(d["work"]),
                            "work": str(d["work"]),
                            "state": str(d.get("state", "")),
                        }
                    )
            except (ValueError, KeyError, TypeError):
                continue
    return out


def ahead_met(log: Path, t0: float) -> str:
    """The analyses ahead going on at ``t0`` (Unix seconds: a reader's choice), which the
    reader's run stopped and waited for: when each ended after ``t0``, and how."""
    met = [
        w
        for w in _works(log, 0.0)
        if w["ahead"] and w["start"] < t0 < w["start"] + w["wall"] + 0.001
    ]
    return " ".join(
        f"{w['work'].removeprefix('analysis ahead of ').split('/')[0]} ended "
        f"+{w['start'] + w['wall'] - t0:.2f} s ({w['state']})"
        for w in met
    )


#: A websocket message from the server: when it came (Unix s), its size, whether it
#: carried a viewer's pixels.
Message = tuple[float, int, bool]


def _timeline(page: Any, t0_page: float, t0_unix: float, inbox: list[Message], log: Path) -> str:
    """What happened since ``t0``: server runs, script states, messages in, viewer draw."""
    origin = float(page.evaluate("performance.timeOrigin")) / 1000.0
    states = page.evaluate("t0 => window.__mcRuns.filter(e => e[0] >= t0)", t0_page)
    runs = [r for r in read_run_log(log) if r.start >= t0_unix - 0.05]
    parts = [
        "server runs: "
        + " ".join(f"{r.start - t0_unix:.2f}+{r.wall:.2f}" for r in runs)
        + f" (n={len(runs)}, wall {sum(r.wall for r in runs):.2f} s)",
        "analyses: "
        + " ".join(
            f"{w['start'] - t0_unix:.2f}+{w['wall']:.2f}{' (ahead)' if w['ahead'] else ''}"
            for w in _works(log, t0_unix)
        )
        + " (start+wall in the app; the floor is the same analysis in this process)"
        + (f"; going on ahead at the choice: {met}" if (met := ahead_met(log, t0_unix)) else ""),
        "page states: "
        + " ".join(f"{origin + e[0] / 1000 - t0_unix:.2f}{e[1][:1]}" for e in states),
    ]
    msgs = [(t - t0_unix, n, px) for t, n, px in inbox if t >= t0_unix]
    big = [f"{t:.2f}:{n / 1e3:.0f}k{'(px)' if px else ''}" for t, n, px in msgs if n > 20_000]
    parts.append(
        f"ws in: {len(msgs)} msgs, {sum(n for _, n, _ in msgs) / 1e6:.2f} MB; large: "
        f"{' '.join(big)}; with pixels {sum(n for _, n, px in msgs if px) / 1e6:.2f} MB"
    )
    state = page.evaluate(f"() => ({{...{b.VIEWER_STATE}}})")
    # The viewer's frame: when its document was made and its bundle arrived (page clock);
    # a frame made again (a new iframe) shows as a later "made".
    frame = page.evaluate(FRAME)
    made = "-" if frame is None else f"{frame[0] / 1000 - t0_unix:.2f}"
    added = page.evaluate("t0 => (window.__mcFrames || []).filter(t => t >= t0)", t0_page)
    made += f" (frames added: {' '.join(f'{origin + t / 1000 - t0_unix:.2f}' for t in added)})"
    js = "-" if frame is None or frame[1] is None else f"{frame[1] / 1000 - t0_unix:.2f}"
    parts.append(f"viewer frame made {made}, bundle in {js}; draw {state.get('renderMs', '-')} ms")
    return "\n    ".join(parts)


def _cpu_line(
    page: Any,
    sampler: CpuSampler,
    log: Path,
    t0: float,
    value: float,
    kind: str,
    out: dict[str, list[float]],
) -> str:
    """A step's CPU (``--cpu``): the server's and Chromium's (by process type) from the
    choice (``t0``, Unix s) until settled (``t0 + value``), split at the analysis the page
    ran (its start and end in the run log: before it, during it, after it), and React's
    commits in the same windows; the step's figures are added to ``out``
    (``KIND_server_cpu``, ``KIND_chromium_cpu``, ``KIND_commits``)."""
    end = t0 + value
    runs = [w for w in _works(log, t0) if not w["ahead"] and w["start"] < end]
    a0, a1 = (runs[-1]["start"], runs[-1]["start"] + runs[-1]["wall"]) if runs else (t0, t0)
    a0, a1 = min(max(a0, t0), end), min(max(a1, t0), end)
    origin = float(page.evaluate("performance.timeOrigin")) / 1000.0
    times = [origin + t / 1000.0 for t in page.evaluate("() => window.__mcCommitT || []")]
    split = commits_split(times, [t0, a0, a1, end, float("inf")])
    whole = sampler.between(t0, end)
    parts = [sampler.between(x, y) for x, y in ((t0, a0), (a0, a1), (a1, end))]
    out.setdefault(f"{kind}_server_cpu", []).append(whole.get("server", 0.0))
    out.setdefault(f"{kind}_chromium_cpu", []).append(whole["chromium"])
    out.setdefault(f"{kind}_commits", []).append(float(sum(split[:3])))
    by_type = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(whole.items()) if k not in ("server", "chromium")
    )
    return (
        f"CPU s, choice to settled: server {whole.get('server', 0.0):.2f}, Chromium "
        f"{whole['chromium']:.2f} ({by_type}); before / during / after the analysis "
        f"({a0 - t0:.2f}..{a1 - t0:.2f} s): server "
        + " / ".join(f"{d.get('server', 0.0):.2f}" for d in parts)
        + ", Chromium "
        + " / ".join(f"{d['chromium']:.2f}" for d in parts)
        + f"; React commits {sum(split[:3])} ({' / '.join(map(str, split[:3]))}), "
        f"{split[3]} after settled"
    )


def _script(url: str) -> str:
    """A short name for a profile node's script (its file name, or the V8 pseudo-node)."""
    if not url:
        return ""
    return url.rsplit("/", 1)[-1].split("?")[0][:40]


def _profile_summary(profile: dict[str, Any], step_s: float = 0.1) -> str:
    """A CDP ``Profiler.stop`` profile as text: per ``step_s`` from its start, the share of
    samples not idle and the three scripts with the most samples; then the 25 functions
    with the most self samples and the 25 with the most samples on the stack (once per
    sample)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent: dict[int, int] = {}
    for n in profile["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]

    def name(node: dict[str, Any]) -> str:
        f = node["callFrame"]
        return f"{f['functionName'] or '(anon)'}@{_script(f['url'])}"

    buckets: dict[int, dict[str, float]] = {}
    self_ms: dict[str, float] = {}
    total_ms: dict[str, float] = {}
    by_script: dict[str, float] = {}
    t = 0.0
    for sid, dt in zip(profile["samples"], profile["timeDeltas"], strict=True):
        t += dt / 1000.0  # ms since the profile's start
        node = nodes[sid]
        leaf = node["callFrame"]["functionName"]
        if leaf == "(idle)":
            continue
        ms = 0.5
        b = buckets.setdefault(int(t / 1000.0 / step_s), {})
        script = _script(node["callFrame"]["url"]) or leaf
        b[script] = b.get(script, 0.0) + ms
        self_ms[name(node)] = self_ms.get(name(node), 0.0) + ms
        seen, scripts = set(), set()
        cur: int | None = sid
        while cur is not None:
            nm = name(nodes[cur])
            if nm not in seen:
                seen.add(nm)
                total_ms[nm] = total_ms.get(nm, 0.0) + ms
            sc = _script(nodes[cur]["callFrame"]["url"])
            if sc and sc not in scripts:
                scripts.add(sc)
                by_script[sc] = by_script.get(sc, 0.0) + ms
            cur = parent.get(cur)
    lines = []
    for k in sorted(buckets):
        b = buckets[k]
        busy = sum(b.values())
        top = sorted(b.items(), key=lambda kv: -kv[1])[:3]
        shown = " ".join(f"{s}:{v:.0f}" for s, v in top)
        lines.append(f"{k * step_s:5.1f}s busy {busy / (step_s * 10):3.0f}% {shown}")
    lines.append(
        "self ms: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(self_ms.items(), key=lambda kv: -kv[1])[:25])
    )
    lines.append(
        "on stack ms: "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(total_ms.items(), key=lambda kv: -kv[1])[:25])
    )
    lines.append(
        "on stack ms by script: "
        + ", ".join(
            f"{k} {v:.0f}" for k, v in sorted(by_script.items(), key=lambda kv: -kv[1])[:30]
        )
    )
    return "\n    ".join(lines)


#: The Chromium trace of ``--cpu`` (CDP ``Tracing.start``'s parameters).
TRACE = {"categories": "devtools.timeline,v8.execute,toplevel", "transferMode": "ReportEvents"}

#: Trace events that are tasks of a thread's run loop (their ``tdur``: thread CPU time).
TASKS = ("RunTask", "ThreadControllerImpl::RunTask")


def main_thread_cpu(events: list[dict[str, Any]]) -> tuple[float, dict[str, float]]:
    """The CPU seconds of the busiest renderer thread of a Chromium trace (the page's main
    thread: the viewer's same-site frame runs there too) and their split by the outermost
    event inside each task ("react" for calls into React's bundle, "viewer.js ..." for the
    viewer's, otherwise the event's name)."""
    by_thread: dict[tuple[int, int], float] = {}
    for e in events:
        if e.get("ph") == "X" and e.get("name") in TASKS:
            key = (e["pid"], e["tid"])
            by_thread[key] = by_thread.get(key, 0.0) + e.get("tdur", 0)
    if not by_thread:
        raise ValueError("the trace holds no task events: was the 'toplevel' category on?")
    main = max(by_thread, key=lambda k: by_thread[k])
    mine = sorted(
        (e for e in events if (e.get("pid"), e.get("tid")) == main and e.get("ph") == "X"),
        key=lambda e: (e["ts"], -e.get("dur", 0)),
    )
    total = 0.0
    split: dict[str, float] = {}
    task_end = inner_end = -1.0
    for e in mine:
        end = e["ts"] + e.get("dur", 0)
        if e["name"] in TASKS:
            if e["ts"] >= task_end:  # a task not nested in another
                total += e.get("tdur", 0)
                task_end = end
            continue
        if e["ts"] < inner_end:
            continue  # inside an event already counted
        url = str((e.get("args", {}).get("data") or {}).get("url") or "")
        name = e["name"]
        if "react-dom" in url:
            name = "react"
        elif "viewer.js" in url:
            name = f"viewer.js {name}"
        split[name] = split.get(name, 0.0) + e.get("tdur", 0) / 1e6
        inner_end = end
    return total / 1e6, split


def _pick_at(page: Any, case_id: str, when: float, before_enter: Any | None = None) -> float:
    """:func:`bench.browser._pick_case`, with Enter pressed at ``when`` (Unix seconds) or at
    once when that is past; returns the page's clock just before Enter (ms).
    ``before_enter``: called once the name is typed, before Enter (a trace's start)."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Case").first
    box.click()
    page.keyboard.type(case_id)
    time.sleep(max(0.0, when - time.time()))
    if before_enter is not None:
        before_enter()
    t0 = float(page.evaluate("performance.now()"))
    page.keyboard.press("Enter")
    return t0


def measure(
    repeat: int,
    warm_s: float,
    cold: int = 2,
    profile: bool = False,
    via: str = "address",
    cold_at: float | None = None,
    repo: Path = REPO,
    cpu: bool = False,
    nice: int | None = None,
) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    from bench.load_procs import BrowserNice
    from mcalc.dataset import open_dataset
    from mcalc.synthetic import generate_demo

    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-predict-"))

    atexit.register(shutil.rmtree, tmp, True)  # its demo set, caches, app files
    data = tmp / "demo"
    generate_demo(data, cases=6, seed=0)
    ids = [c.case_id for c in open_dataset(data).cases]
    # Suspicious cases first (as bench/browser.py), none an analysis ahead reaches.
    cold_cases, nxt = b.next_choice(ids, b.cold_choices(ids, cold))
    print(f"cold cases {cold_cases}, next case {nxt}", flush=True)
    log = tmp / "runs.jsonl"
    env = b.app_env(tmp, demo=data, MCALC_RUN_LOG=str(log))
    os.environ.pop("MCALC_DATA", None)
    floors = b._floors(data, ids[0], cold_cases[0])
    print(f"floors: first {floors['first']:.2f} s, cold {floors['cold']:.2f} s", flush=True)
    inbox: list[Message] = []

    def listen(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda d: inbox.append((time.time(), len(d), isinstance(d, bytes) and PIXELS in d)),
        )

    out: dict[str, list[float]] = {"first_drawn": [], "first": [], "cold": [], "next": []}
    out["floor_first"], out["floor_cold"] = [floors["first"]], [floors["cold"]]
    with (
        running_app(env, timeout=180, repo=repo, as_installed=True) as url,
        sync_playwright() as p,
        contextlib.closing(BrowserNice(nice)),
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        sampler = CpuSampler() if cpu else None
        try:
            context = b.new_context(browser, FRAMES, *([COMMITS] if cpu else []))
            page = context.new_page()
            if via != "address":  # the tab's sockets, from its first: the visit's is one
                page.on("websocket", listen)
            page.goto(url, wait_until="networkidle")
            b._settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            # Browse first, as in bench/browser.py: the viewer's bundle is in the browser's
            # cache when Predict opens.
            page.goto(f"{url}/browse", wait_until="networkidle")
            b._settle(page, 0.0, f"!!{b.VIEWER_STATE}.case", ran=False)
            if via == "sidebar":  # Home in this tab, then the menu
                page.goto(url, wait_until="networkidle")
                b._settle(
                    page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False
                )
            if via == "address":
                # A fresh tab, opened before the reader types the address (as a reader's is):
                # a new tab's own start-up work in Chromium is not the page's.
                page.close()
                page = context.new_page()
            time.sleep(warm_s)  # the TensorFlow warm-up, as after the other pages of the bench
            if via == "address":  # the new tab's
                page.on("websocket", listen)
            done = (
                f"{b.PREDICT_SHOWN} && !document.querySelector('[data-testid=stProgress]')"
                " && !document.querySelector('[data-testid=stSpinner]')"
            )
            drawn_only = (
                f"{b.PREDICT_SHOWN} && ![...document.querySelectorAll('[data-testid=stProgress]')]"
                ".some(e => e.innerText.includes('Computing'))"
            )
            cdp = None
            if profile:
                cdp = context.new_cdp_session(page)
                cdp.send("Profiler.enable")
                cdp.send("Profiler.setSamplingInterval", {"interval": 500})
                cdp.send("Profiler.start")
            trace: list[dict[str, Any]] = []
            if cpu:
                tracer = context.new_cdp_session(page)
                traced: list[bool] = []
                tracer.on("Tracing.dataCollected", lambda e: trace.extend(e["value"]))
                tracer.on("Tracing.tracingComplete", lambda e: traced.append(True))
                tracer.send("Tracing.start", TRACE)
            t0 = time.time()
            t0_page = 0.0
            if via in ("sidebar", "browse"):
                t0_page = float(page.evaluate("performance.now()"))
                t0 = float(page.evaluate("performance.timeOrigin")) / 1000.0 + t0_page / 1000.0
                page.locator("[data-testid=stSidebar] a[data-testid=stPageLink-NavLink]").filter(
                    has_text="Predict"
                ).first.click()
            else:
                page.goto(f"{url}/predict", wait_until="commit")
            # The same condition, noting whether the page had also settled (``done``) at the
            # poll that saw it drawn (a side effect only: the figures are unchanged).
            probe = f"({drawn_only}) && ((window.__mcDoneAtDrawn = ({done})), true)"
            out["first_drawn"].append(b._settle(page, t0_page, probe, quiet=0, ran=False))
            settled_at_drawn = bool(page.evaluate("() => window.__mcDoneAtDrawn"))
            drawn_at = (
                float(page.evaluate("performance.timeOrigin")) / 1000.0
                + t0_page / 1000.0
                + out["first_drawn"][-1]
            )
            if cpu:
                tracer.send("Tracing.end")
                while not traced:
                    page.wait_for_timeout(100)
                busy, split = main_thread_cpu(trace)
                out["first_cpu"] = [busy]
                commits = page.evaluate("window.__mcCommits")
                print(
                    f"first visit: main thread CPU {busy:.3f} s until drawn, "
                    f"{commits} React commits: "
                    + ", ".join(
                        f"{k} {v * 1000:.0f} ms"
                        for k, v in sorted(split.items(), key=lambda kv: -kv[1])[:8]
                    ),
                    flush=True,
                )
            # "Settled" is drawn and then quiet: when the page had settled already at the
            # poll that saw it drawn, its done time is that poll's, not the first poll of a
            # second wait (that read the bench's own round trips: 0.05-0.55 s, h/cold,
            # docs/measurements.md 5 December 2026); a run after it still moves it later.
            page.evaluate(
                "t => { window.__mcDone = t; }",
                t0_page + 1000.0 * out["first_drawn"][-1] if settled_at_drawn else None,
            )
            if cold_at is None:  # else the first cold case is chosen before it settles
                out["first"].append(b._settle(page, t0_page, done, quiet=1000, ran=False))
            else:
                out["first"].append(out["first_drawn"][-1])
            came = [(n, px) for t, n, px in inbox if t >= t0]
            out["first_ws_mb"] = [sum(n for n, _ in came) / 1e6]
            out["first_pixels_mb"] = [sum(n for n, px in came if px) / 1e6]
            print(
                f"first visit: drawn {out['first_drawn'][-1]:.2f} s, settled "
                f"{out['first'][-1]:.2f} s; websocket {out['first_ws_mb'][0]:.2f} MB, "
                f"{out['first_pixels_mb'][0]:.2f} MB of it in messages with pixels",
                flush=True,
            )
            after = page.evaluate(
                "t => window.__mcRuns.filter(e => e[0] > t).length",
                t0_page + 1000.0 * out["first_drawn"][-1],
            )
            if settled_at_drawn and not after and cold_at is None:
                print(
                    "    settled already when drawn (no progress, spinner nor run then, no run "
                    "since): settled reads as drawn",
                    flush=True,
                )
            print("    " + _timeline(page, t0_page, t0, inbox, log), flush=True)
            if cdp is not None:
                prof = cdp.send("Profiler.stop")["profile"]
                print("    profile (s from the goto):\n    " + _profile_summary(prof), flush=True)
            steps = [(c, "cold") for c in cold_cases] + ([(nxt, "next")] if nxt else [])
            for case_id, kind in steps:
                if kind == "next":
                    ahead = b.wait_for_ahead(log, case_id)
                    print(f"next case {case_id}: its analysis ahead {ahead}", flush=True)
                if cdp is not None:
                    cdp.send("Profiler.start")
                if sampler is not None:
                    sampler.refresh()  # the processes now (a renderer may have come or gone)
                before = page.evaluate(f"() => {b.VIEWER_STATE}.case || ''")
                # From the reader's choice (Enter), not from the typing before it.
                if cold_at is not None and kind == "cold" and case_id == cold_cases[0]:
                    t0_page = _pick_at(page, case_id, drawn_at + cold_at)
                elif cpu:  # the main thread's CPU from the Enter (a trace)
                    trace.clear()
                    traced.clear()
                    t0_page = _pick_at(
                        page, case_id, 0.0, partial(tracer.send, "Tracing.start", TRACE)
                    )
                else:
                    t0_page = b._pick_case(page, case_id)
                t0 = float(page.evaluate("performance.timeOrigin")) / 1000.0 + t0_page / 1000.0
                t_sent = time.time() - t0  # the choice entered: the page's turn
                drawn = (
                    f"{b.VIEWER_STATE}.case && {b.VIEWER_STATE}.case !== {json.dumps(before)}"
                    f" && {b.PANEL_KEYS}.length >= 2 && {b.PANEL_KEYS}"
                    f".every(k => k.startsWith({json.dumps(case_id + '/')}))"
                )
                asked = b._run_if_asked(page, case_id, drawn)
                t_run = time.time() - t0
                cond = f"{done} && {drawn} && !document.body.innerText.includes('Not computed yet')"
                out[kind].append(b._settle(page, t0_page, cond, quiet=1000))
                print(
                    f"{kind} {case_id}: {out[kind][-1]:.2f} s (entered at {t_sent:.2f} s) "
                    + (
                        f"(Run shown at {t_run:.2f} s)"
                        if asked
                        else f"(ran by itself: {t_run:.2f} s)"
                    ),
                    flush=True,
                )
                print("    " + _timeline(page, t0_page, t0, inbox, log), flush=True)
                if sampler is not None:
                    print("    " + _cpu_line(page, sampler, log, t0, out[kind][-1], kind, out))
                if cpu and not (
                    cold_at is not None and kind == "cold" and case_id == cold_cases[0]
                ):
                    tracer.send("Tracing.end")
                    while not traced:
                        page.wait_for_timeout(100)
                    busy, split = main_thread_cpu(trace)
                    out.setdefault(f"{kind}_main_cpu", []).append(busy)
                    out.setdefault(f"{kind}_react_cpu", []).append(split.get("react", 0.0))
                    print(
                        f"    page's main thread CPU {busy:.3f} s from the Enter until settled "
                        "and quiet 1 s (trace): "
                        + ", ".join(
                            f"{k} {v * 1000:.0f} ms"
                            for k, v in sorted(split.items(), key=lambda kv: -kv[1])[:6]
                        ),
                        flush=True,
                    )
                if cdp is not None:
                    prof = cdp.send("Profiler.stop")["profile"]
                    print(
                        "    profile (s from the typing):\n    " + _profile_summary(prof),
                        flush=True,
                    )
        finally:
            if sampler is not None:
                sampler.close()
            browser.close()
    reached = [w for w in b.ahead_works(log) if any(f"of {c}/" in w["work"] for c in cold_cases)]
    print(f"cold cases analysed ahead: {reached or 'none'}", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=2, help="region clicks")
    ap.add_argument("--warm", type=float, default=20.0, help="seconds before Predict")
    ap.add_argument("--cold", type=int, default=2, help="cold cases (at most 5)")
    ap.add_argument("--profile", action="store_true", help="CDP profile of each step")
    ap.add_argument(
        "--via",
        choices=("address", "sidebar", "browse"),
        default="address",
        help="first visit by its address in a new tab, the sidebar menu of Home, or that of"
        " Browse (same tab and session)",
    )
    ap.add_argument(
        "--cold-at",
        type=float,
        default=None,
        help="choose the first cold case this many seconds after the first visit was drawn"
        " (at once when that is past): while the next case's analysis ahead runs, about"
        " 1.5 s after the result's run (default: once the first visit settled)",
    )
    ap.add_argument("--repo", type=Path, default=REPO, help="the app's tree (an A/B)")
    ap.add_argument(
        "--cpu", action="store_true", help="the first visit's main-thread CPU (Chromium trace)"
    )
    ap.add_argument(
        "--nice",
        type=nice_arg,
        default=None,
        metavar="N|off",
        help="keep the Chromium processes at niceness N or lower priority (0: level with the "
        "server; bench/load.py's 10: the server first); off (default): their own",
    )
    args = ap.parse_args()
    if not 1 <= args.cold <= 5:
        ap.error(
            f"--cold: 1 to 5 cold cases (the cold floor is the first one's pair), not {args.cold}"
        )
    m = measure(
        args.repeat,
        args.warm,
        args.cold,
        args.profile,
        args.via,
        args.cold_at,
        args.repo.resolve(),
        args.cpu,
        args.nice,
    )
    ff, fc = m["floor_first"][0], m["floor_cold"][0]
    for name, floor in (("first_drawn", ff), ("first", ff), ("cold", fc), ("next", fc)):
        if m[name]:
            med = statistics.median(m[name])
            shown = " ".join(f"{v:.2f}" for v in m[name])
            print(f"{name:<12} median {med:5.2f} s  {med / floor:5.2f}x floor   ({shown})")
    for kind in ("cold", "next"):
        if m.get(f"{kind}_server_cpu"):
            print(
                f"{kind:<12} per case, medians: server CPU "
                f"{statistics.median(m[f'{kind}_server_cpu']):.2f} s, Chromium CPU "
                f"{statistics.median(m[f'{kind}_chromium_cpu']):.2f} s, React commits "
                f"{statistics.median(m[f'{kind}_commits']):.0f}"
                + (
                    f", the page's main thread {statistics.median(m[f'{kind}_main_cpu']):.3f} s"
                    f" (React {statistics.median(m[f'{kind}_react_cpu']):.3f} s)"
                    if m.get(f"{kind}_main_cpu")
                    else ""
                )
            )
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
