"""Browser interactions a reader feels, against the floors they are compared with.

Starts the app (``streamlit run app.py``) on a synthetic demo set with the repository's
``models/demo-custom`` (the 2-conv CNN), drives Debian's Chromium through Playwright and
times, from the user's action to the page settled (Streamlit's script state back to
``notRunning`` with nothing running for a moment, and the expected change drawn):

- the idle round trip: a rerun of the Home page that changes nothing (sidebar *Demo
  data*), at the start (in a window of its own, :class:`IdleTab`) and at the end of the
  session (Predict's tab back on Home), median of both: its own row and the viewer rows'
  floor;
- add a mark on Annotate (the reading viewer's mark tool), a case switch on Browse
  (*Next*), a display toggle (Browse's *Invert*), a region click on Predict with the
  result cached, the reader's name on Annotate: aim at most 1.3x the idle round trip each,
  paired: in rounds (:data:`CLICK_ROUNDS`; the reader's name in :data:`NAME_ROUNDS`, a
  new session each), each round
  :data:`IDLE_PER_ROUND` idle round trips then the page's
  interactions once, the ratio per round (the interaction against its round's median idle
  round trip), the round of median ratio kept (:func:`paired_rounds`, :func:`paired_row`;
  the JSON gives every round, the ratios' p10-p90 and the unpaired ratio beside);
- the first Predict visit by its address in a fresh tab (until the first result is
  drawn, and until the page has settled: the section across rounds registers in the
  background after the result is shown), a cold case on Predict (choose a suspicious case
  that no analysis ahead reached, :func:`cold_choices`, *Run* if the page asks for it,
  until drawn; then the region clicks), the next case on Predict (the case after the last
  cold one, which the page analyses ahead once that one is drawn: chosen once the run log
  says that analysis ended, or at once where none is logged, as on trees without it) and
  the first Predict visit from the sidebar menu (a server of its own with its own cache,
  Home loaded, :data:`SIDEBAR_WARM_S` later a click on the Predict link, until the result
  is drawn: no page load): aim at most 1.5x the same work measured in
  this process (model load + inference + explanation for the first visits; inference +
  explanation for the cold and next cases, the model being loaded), before and after the
  browser session (mean of both: the machine may be shared);
- the reading viewer's wheel zoom, W/L drag, keyboard next case and full-resolution
  arrival (``bench/browser_viewer.py``); the wheel and W/L twice more where Xvfb and libXtst
  exist: from a real mouse (XTest) in a headed Chromium on an X server of its own, and
  through the DevTools protocol in that browser (``real_input_times``).

    python bench/browser.py [--quick] [--json]

:func:`figures` returns the rows for ``bench/all.py``. Needs ``playwright`` (Python
package) and Debian's ``/usr/bin/chromium`` (``MCALC_CHROMIUM`` to use another); never a
downloaded browser.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.browser_viewer import (  # noqa: E402
    fullres_times,
    real_input_times,
    viewer_rows,
    viewer_times,
)
from bench.figures import median_index  # noqa: E402
from tests.browser import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWER,
    page_point,
    running_app,
    viewer_frame,
)

MODEL = "demo-custom"
AIM_CLICK = 1.3
AIM_COMPUTE = 1.5

#: Records every change of Streamlit's script state with its time (installed on every
#: document before the app's own scripts run).
OBSERVER = """
window.__mcRuns = [];
new MutationObserver(ms => {
  // Each record's new value is the next record's old value (the attribute's current value
  // for the last): a run that starts and ends before this callback (a fast run while the
  // page's main thread is busy drawing) still shows as 'running' then 'notRunning'. Reading
  // only the current value lost the 'running' and left a wait for a run waiting forever.
  const now = performance.now();
  ms.forEach((m, i) => {
    const to = i + 1 < ms.length ? ms[i + 1].oldValue
                                 : m.target.getAttribute('data-test-script-state');
    window.__mcRuns.push([now, to]);
  });
}).observe(document, {attributes: true, subtree: true, attributeOldValue: true,
                      attributeFilter: ['data-test-script-state']});
// The server's own word that a run ended: a ForwardMsg with `script_finished` (field 6) on
// the websocket. A fast run whose 'running' and 'notRunning' React drew in one commit (both
// messages handled before the page's next render, the main thread busy) changed no
// attribute at all, and a wait for a run then waited forever (the bench's stalls).
window.__mcFinished = [];
// When the page sent the server a message (a widget's value, a rerun): bench/load.py splits
// an interaction's wait at its first one (the action reaching the page and the page's own
// handling, before it; the server and the drawing of its answer, after).
window.__mcSent = [];
const McSocket = window.WebSocket;
window.WebSocket = class extends McSocket {
  send(data) {
    window.__mcSent.push(performance.now());
    return super.send(data);
  }
  constructor(...args) {
    super(...args);
    this.addEventListener('message', ev => {
      if (!(ev.data instanceof ArrayBuffer)) return;
      const b = new Uint8Array(ev.data);
      let i = 0;
      const varint = () => {
        let x = 0, s = 1, c;
        do { c = b[i++]; x += (c & 127) * s; s *= 128; } while (c & 128 && i < b.length);
        return x;
      };
      while (i < b.length) {
        const tag = varint(), w = tag % 8;
        if (tag >> 3 === 6 && w === 0) {
          window.__mcFinished.push([performance.now(), varint()]);
          return;
        }
        // A length first, then the skip: `i += varint()` reads i before the call, one byte
        // short, and then took a delta whose 32-character hash ends in '0' (0x30: field 6,
        // varint) for a `script_finished` (one delta in 16; the real ones were missed).
        if (w === 0) varint(); else if (w === 2) { const n = varint(); i += n; }
        else if (w === 1) i += 8;
        else if (w === 5) i += 4; else return;
      }
    });
  }
};
"""

#: Settled since ``t0``: ``cond`` holds and the script is not running, with nothing
#: changing for ``quiet`` ms (when ``ran`` is required, after at least one run, or after
#: the run going on at ``t0``). Returns the time the page reached that state (the later of
#: the last run's end and ``cond``). An action during a run (a click while the page reruns
#: for the viewer) is served by that run restarted: the server says "stopped for rerun",
#: then "running" again, which the page shows as one long run, so no new 'running' comes
#: after ``t0``; waiting for one waited forever (a toggle that took, a save that was done).
SETTLED = """([t0, quiet, ran]) => {
  const ev = window.__mcRuns.filter(e => e[0] >= t0);
  const was = window.__mcRuns.filter(e => e[0] < t0);
  const at0 = was.length ? was[was.length - 1][1] : 'notRunning';
  const now = performance.now();
  if (window.__mcDone === undefined || window.__mcDone < t0) {
    if (!(COND)) return false;
    window.__mcDone = now;
  }
  const fin = window.__mcFinished.filter(e => e[0] >= t0 && e[1] !== 2);  // 2: for a rerun
  if (ran && at0 !== 'running' && !fin.length && !ev.some(e => e[1] === 'running')) return false;
  const last = ev.length ? ev[ev.length - 1] : null;
  if ((last ? last[1] : at0) !== 'notRunning') return false;
  const ended = fin.length ? fin[fin.length - 1][0] : t0;
  const since = Math.max(last ? last[0] : t0, window.__mcDone, ended);
  if (now - since < quiet) return false;
  return since;
}"""

VIEWER_STATE = (
    "(document.querySelector(\"iframe[title*='mcalc_viewer']\")?.contentDocument"
    "?.querySelector(\"[data-testid='mcalc-viewer']\")?.dataset || {})"
)
#: The image keys of the reading viewer's panels (``case/VIEW_timepoint``), in order.
PANEL_KEYS = (
    "[...(document.querySelector(\"iframe[title*='mcalc_viewer']\")?.contentDocument"
    "?.querySelectorAll('.panel') || [])].map(e => e.dataset.key || '')"
)
#: Predict's result in the reading viewer: two panels published, with the analysis' maps
#: among their layers (Predict draws its images in the viewer by default).
PREDICT_SHOWN = (
    f"(+({VIEWER_STATE}.panels || 0) >= 2"
    f" && JSON.parse({VIEWER_STATE}.mapLayers || '[]').length > 0)"
)


def app_env(root: Path, *, demo: Path | None = None, **extra: str) -> dict[str, str]:
    """The app's environment for a bench: the demo set (``root/demo`` unless ``demo``), its
    own cache, store and runs under ``root`` (never the user's), the repository's models,
    sign-in automatic; ``extra`` adds or replaces variables."""
    return {
        "MCALC_DEMO_DIR": str(demo or root / "demo"),
        "MCALC_DATA": "",
        "MCALC_CACHE": str(root / "cache"),
        "MCALC_STORE": str(root / "store"),
        "MCALC_RUNS": str(root / "runs"),
        "MCALC_MODELS": str(REPO / "models"),
        "MCALC_AUTH": "auto",
        **extra,
    }


#: Seconds a fresh tab rests before the bench types Predict's address into it.
TAB_REST_S = 1.5


def new_context(browser: Any, *scripts: str, timeout_ms: int = 180_000) -> Any:
    """A context as the benches use it: a 1500x1900 viewport, the script-state observer
    (:data:`OBSERVER`) and ``scripts`` in every page, ``timeout_ms`` for every wait."""
    context = browser.new_context(viewport={"width": 1500, "height": 1900})
    for script in (OBSERVER, *scripts):
        context.add_init_script(script)
    context.set_default_timeout(timeout_ms)
    return context


def _settle(
    page: Any,
    t0: float,
    cond: str = "true",
    *,
    ran: bool = True,
    quiet: int = 600,
    timeout_s: float = 300,
) -> float:
    """Seconds from ``t0`` (page ms) until the page settled with ``cond`` true."""
    handle = page.wait_for_function(
        SETTLED.replace("COND", cond), arg=[t0, quiet, ran], timeout=timeout_s * 1000
    )
    return (float(handle.json_value()) - t0) / 1000.0


def _timed(page: Any, action: Callable[[], None], cond: str = "true", **kw: Any) -> float:
    t0 = float(page.evaluate("performance.now()"))
    action()
    return _settle(page, t0, cond, **kw)


def point_at(page: Any, target: Any) -> None:
    """The pointer on ``target`` (untimed) before its timed clicks, as a reader's pointer is
    on a button before the click and stays there between clicks (the idle round trip's
    button gets an untimed first click). Without it the first timed click also carried the
    pointer's first arrival on the page after the navigation: the first *Next* on Browse
    was seen drawn 0.11-0.66 s after the click instead of 0.06-0.09 s (docs/measurements.md,
    4 December 2026)."""
    target.hover()
    _settle(page, float(page.evaluate("performance.now()")), ran=False)


def _log(step: str, values: list[float] | None = None) -> None:
    shown = "" if values is None else " ".join(f"{v:.2f}" for v in values)
    print(f"[bench/browser] {time.strftime('%H:%M:%S')} {step} {shown}", file=sys.stderr)


def demo_cases(repeat: int, least: int) -> int:
    """The demo set's size for ``repeat`` clicks on Browse's *Next ▶* from the first case:
    ``least``, or more when the clicks need them (the last case's button is disabled, and a
    click on it waits forever)."""
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    return max(least, repeat + 1)


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


# -- in-process floors --------------------------------------------------------------------


def _floors(data: Path, first_case: str, cold_case: str) -> dict[str, float]:
    """Model load + inference + explanation of the first visit's pair, and inference +
    explanation of the cold case's pair, with Predict's default settings, no cache."""
    from mcalc.config import prepare_tensorflow

    prepare_tensorflow()
    import keras  # noqa: F401  (the import is not part of the floor: the app warms it up)

    from mcalc.dataset import open_dataset
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.service import (
        AnalysisSettings,
        CamSettings,
        ImageInput,
        SlidingSettings,
        analyse_case,
    )
    from mcalc.models.inference import load_model

    index = open_dataset(data)
    settings = AnalysisSettings(SlidingSettings(), CamSettings("gradcam", scope="auto"))

    def pair(case_id: str) -> list[ImageInput]:
        case = index.case(case_id)
        return [ImageInput.from_record(case.image("CC", tp)) for tp in ("prior", "recent")]

    # numpy's BLAS on one thread, as the app's server runs it (pages.server_tuning
    # .one_blas_thread: OpenBLAS' second thread spins after each product, ~0.1 CPU-s an
    # analysis): the floor does the same work the best way this machine knows, like for like.
    from threadpoolctl import threadpool_limits

    # The cold case reuses the first visit's explainer, as the app's server does (one per
    # model, pages.predict_run): a new one each call cost ~0.1 CPU-s (its compiled Grad-CAM
    # and tf-keras-vis objects), which the floor counted and the app does not (6 December).
    with threadpool_limits(limits=1, user_api="blas"):
        t = time.perf_counter()
        loaded = load_model(MODEL, REPO / "models")
        explainer = Explainer.for_model(loaded)
        analyse_case(loaded, pair(first_case), settings, explainer=explainer)
        first = time.perf_counter() - t
        # The median of three: one call swung 0.42-0.69 s between runs (h/pserver), and the
        # row's ratio with it.
        colds = []
        for _ in range(3):
            t = time.perf_counter()
            analyse_case(loaded, pair(cold_case), settings, explainer=explainer)
            colds.append(time.perf_counter() - t)
    return {"first": first, "cold": _median(colds)}


# -- the browser session ------------------------------------------------------------------


#: Cold cases chosen on Predict (``--quick``, full): the row is their median. One in a quick
#: run read 2.06x-2.79x of its floor in the same week's tables.
COLD_CASES = (3, 3)
#: The bench's demo set (``--quick``, full): at least as many cases as the clicks on *Next*
#: need (:func:`demo_cases`), and enough for :data:`COLD_CASES` and a next case after them
#: (:func:`next_choice`).
DEMO_CASES = (7, 12)


def cold_choices(ids: list[str], n: int) -> list[str]:
    """Up to ``n`` cases that no analysis ahead reaches before they are chosen, suspicious
    ones first (they have regions to click on): never the first case (Predict opens with
    it, analysed ahead at start-up) nor the case after the first or after one chosen
    before (the page analyses the case after the one it shows ahead)."""
    after = dict(pairwise(ids))
    reached = {ids[0], after.get(ids[0])}
    order = sorted(ids, key=lambda i: not i.startswith("suspicious"))  # stable
    out: list[str] = []
    for case_id in order:
        if len(out) < n and case_id not in reached:
            out.append(case_id)
            reached.add(after.get(case_id))
    return out


def next_choice(ids: list[str], cold: list[str]) -> tuple[list[str], str | None]:
    """``cold`` in the order to choose them and the next case to choose after them: the
    case after the last cold case, which the page analyses ahead once that one is drawn
    (a cold case with a case after it goes last, when no cold case is then the case after
    one chosen before it); ``None`` when no cold case has one."""
    after = dict(pairwise(ids))

    def unreached(order: list[str]) -> bool:
        reached = {ids[0], after.get(ids[0])}
        for case_id in order:
            if case_id in reached:
                return False
            reached.add(after.get(case_id))
        return True

    for last in reversed(cold):
        if last in after and after[last] not in cold:
            order = [c for c in cold if c != last] + [last]
            if unreached(order):
                return order, after[last]
    return cold, None


def ahead_works(log: Path | None) -> list[dict[str, Any]]:
    """The analyses ahead the app logged (``pages.server_tuning.log_work``): label, state,
    start (Unix seconds) and wall seconds, in file order."""
    out = []
    if log is not None and log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if "ahead" in str(d.get("work", "")):
                out.append(d)
    return out


def wait_for_ahead(log: Path | None, case_id: str, timeout_s: float = 30.0) -> str:
    """Wait until the run log says the analysis ahead of ``case_id`` ended (at most
    ``timeout_s``; not at all when the app logged no analysis ahead: a tree without
    them); how it ended, or ``"none"``."""
    end = time.monotonic() + timeout_s
    while True:
        works = ahead_works(log)
        mine = [w for w in works if f"of {case_id}/" in str(w["work"])]
        if mine or not works or time.monotonic() >= end:
            return str(mine[-1]["state"]) if mine else "none"
        time.sleep(0.1)


def _pick_case(page: Any, case_id: str) -> float:
    """Choose ``case_id`` in the page's *Case* box (open it, type, Enter); returns the
    page's clock (``performance.now()``, ms) just before Enter: the reader's choice. The
    typing before it (0.2-0.8 s in the bench, no server work) is the reader's time, not
    the app's, and is not counted."""
    box = page.locator("[data-testid='stSelectbox']").filter(has_text="Case").first
    box.click()
    page.keyboard.type(case_id)
    t0 = float(page.evaluate("performance.now()"))
    page.keyboard.press("Enter")
    return t0


def _run_if_asked(page: Any, case_id: str, drawn: str) -> bool:
    """After a case choice on Predict: press *Run* if the page asks for it (an older page
    did; the page now starts a new case's run by itself); whether it did."""
    asked = "document.body.innerText.includes('Not computed yet')"
    running = (
        "[...document.querySelectorAll('[data-testid=stProgress]')]"
        f".some(e => e.innerText.includes({json.dumps(case_id)}))"
    )
    page.wait_for_function(f"() => {asked} || {running} || ({drawn})")
    if not page.evaluate(f"() => {asked}"):
        return False
    page.get_by_role("button", name="Run").click()
    return True


def _step(out: dict[str, list[float]], name: str, page: Any, fn: Callable[[], list[float]]) -> None:
    """Run one measurement; a failure is logged (with the page's last script states and a
    screenshot) and leaves the figure out instead of ending the run."""
    try:
        out[name] = fn()
        _log(name, out[name])
    except Exception as exc:
        _failed(name, exc, page)


def _failed(name: str, exc: Exception, page: Any) -> None:
    """Log a failed measurement with the page's last script states and a screenshot."""
    shot = Path(tempfile.gettempdir()) / f"bench-browser-{name}.png"
    try:
        page.screenshot(path=str(shot))
        runs = page.evaluate("() => window.__mcRuns.slice(-6)")
    except Exception:
        runs = "?"
    _log(f"{name} FAILED ({str(exc).splitlines()[0]}); last states {runs}; see {shot}")


#: Home idle round trips timed before each round of a page's interactions: their median is
#: the floor of the interactions of that round (:func:`paired_rounds`).
IDLE_PER_ROUND = 2
#: Rounds of each page's click interactions (``--quick``, full): more rounds with fewer idle
#: round trips each, for the same time, as a round's floor and value share its moment and the
#: median round leaves out the rounds a burst of load caught on one side only.
CLICK_ROUNDS = (5, 8)


def paired_rounds(
    out: dict[str, list[float]],
    rounds: int,
    idle: Callable[[], list[float]],
    steps: list[tuple[str, Callable[[int], float | None]]],
    page: Any = None,
    first: int = 0,
) -> None:
    """``rounds`` rounds of: a block of idle round trips (``idle()``), then each step once
    (``fn(k)`` in round ``k``; ``None``: left out). Each step's time goes to ``out[name]``
    and its round's floor, the median of the block just before it, to
    ``out[name + "_floor"]`` at the same index; every idle time to ``out["idle_rounds"]``.
    Rounds are numbered from ``first`` (the steps' ``k`` and the log).

    The floor and the interaction share the load of their moment: measured minutes apart
    (the session's idle round trips at its start and end), a 2-core machine whose load
    changes moved Browse's case switch between 0.88x and 1.50x on the same code. A step
    that fails is logged (:func:`_failed`, ``page`` for its screenshot) and left out of the
    later rounds, the others go on; its earlier rounds are kept.
    """
    failed: set[str] = set()
    for k in range(first, first + rounds):
        block = idle()
        out.setdefault("idle_rounds", []).extend(block)
        floor = _median(block)
        for name, fn in steps:
            if name in failed:
                continue
            try:
                got = fn(k)
            except Exception as exc:
                failed.add(name)
                _failed(name, exc, page)
                continue
            if got is None:
                continue
            out.setdefault(name, []).append(got)
            out.setdefault(f"{name}_floor", []).append(floor)
            _log(f"{name} round {k + 1}: {got:.3f} s against idle {floor:.3f} s")


class IdleTab:
    """Home in a window of its own (a browser context of its own: its own session on the
    same server, in the same browser): the idle round trip, a rerun of Home that changes
    nothing (sidebar *Demo data*), timed on demand between the interactions of the pages
    in the other window, with no page change there.

    A context of its own, not a second tab beside the measured page: a tab behind another
    in its window had its round trips throttled to 2.1-2.2 s a few seconds after the other
    tab opened (0.1-0.3 s in front, 6 December 2026, docs/measurements.md); in a window of
    its own 0.1-0.5 s at load 6-8, and rounds' floors of 0.10-0.59 s through whole sessions.
    """

    def __init__(self, browser: Any, url: str) -> None:
        self.page = new_context(browser).new_page()
        self.page.goto(url, wait_until="networkidle")
        _settle(self.page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
        self.demo = self.page.get_by_role("button", name="Demo data")
        _timed(self.page, self.demo.click)  # the first click warms the path

    def block(self, n: int = IDLE_PER_ROUND) -> list[float]:
        """``n`` idle round trips (seconds)."""
        return [_timed(self.page, self.demo.click) for _ in range(n)]


def _browse(page: Any, url: str, rounds: int, out: dict[str, list[float]], idle: IdleTab) -> None:
    """Case switches (*Next*) and display toggles (*Invert*), one of each per round after
    the round's idle round trips in ``idle``'s tab (:func:`paired_rounds`)."""
    page.goto(f"{url}/browse", wait_until="networkidle")
    _settle(page, 0.0, f"!!{VIEWER_STATE}.case", ran=False)
    nxt = page.get_by_role("button", name="Next ▶")
    invert = page.locator("[data-testid='stSidebar'] label").filter(has_text="Invert").first

    def switch(_k: int) -> float:
        # The pointer on the button first, untimed (:func:`point_at`): the round's toggle
        # left it on *Invert*.
        point_at(page, nxt)
        before = page.evaluate(f"() => {VIEWER_STATE}.case")
        cond = f"{VIEWER_STATE}.case && {VIEWER_STATE}.case !== {json.dumps(before)}"
        return _timed(page, nxt.click, cond)

    def toggle(_k: int) -> float:
        point_at(page, invert)
        return _timed(page, invert.click)

    paired_rounds(out, rounds, idle.block, [("case_switch", switch), ("toggle", toggle)], page)


#: Rounds of the reader's name, each in a new session of the same tab (Annotate opened
#: again by its address: the name asked afresh, the viewer not drawn yet): a reader names
#: themselves once per session, so one session gave one sample, and that row read
#: 1.27x-1.51x of its idle round trip in the same day's runs (6 December 2026).
NAME_ROUNDS = 3


def _open_annotate(page: Any, url: str) -> Any:
    """Annotate opened by its address in ``page`` (a new session: its name field empty),
    settled, the name typed (not entered); returns the field."""
    page.goto(f"{url}/annotate", wait_until="networkidle")
    field = page.get_by_label("Your name", exact=False)
    field.wait_for()
    _settle(page, 0.0, "true", ran=False)
    field.fill("Bench Reader")
    return field


def _annotate(page: Any, url: str, rounds: int, out: dict[str, list[float]], idle: IdleTab) -> None:
    """The reader's name (:data:`NAME_ROUNDS` rounds, a new session each) and marks (one
    per round), each after its round's idle round trips in ``idle``'s tab
    (:func:`paired_rounds`)."""
    for k in range(NAME_ROUNDS):
        # The session opened before the round's idle round trips, so that they are timed
        # beside a settled page, as in every other round.
        field = _open_annotate(page, url)
        time.sleep(TAB_REST_S)

        def name(_k: int, field: Any = field) -> float:
            t0 = float(page.evaluate("performance.now()"))
            field.press("Enter")
            return _settle(page, t0, f"!!{VIEWER_STATE}.case", ran=False)

        paired_rounds(out, 1, idle.block, [("name", name)], page, first=k)

    def place() -> tuple[float, float]:
        frame = next(f for f in page.frames if "viewer" in f.url)
        frame.focus("[data-testid='mcalc-viewer']")
        frame.press("[data-testid='mcalc-viewer']", "a")  # the mark tool
        key = page.evaluate(f"() => {VIEWER_STATE}.case").split("|")[0]
        panel = frame.eval_on_selector_all(
            ".panel",
            "(els, key) => { const e = els.find(x => x.dataset.key === key) || els[0];"
            " const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }",
            key,
        )
        iframe = page.locator("iframe[title*='mcalc_viewer']").first.bounding_box()
        return iframe["x"] + panel[0] + panel[2] / 2, iframe["y"] + panel[1] + panel[3] / 2

    try:
        cx, cy = place()
    except Exception as exc:
        _failed("mark", exc, page)
        return

    def mark(k: int) -> float:
        n = int(page.evaluate(f"() => {VIEWER_STATE}.marks || 0"))
        cond = f"+({VIEWER_STATE}.marks || 0) === {n + 1}"
        x, y = cx - 30 + 15 * k, cy - 20 + 12 * k
        took = _timed(page, lambda: page.mouse.click(x, y), cond, ran=False)
        # The viewer's own figure: the click's event time stamp to the mark drawn, on the
        # page's clock (without the harness's command to the browser and its polling).
        page_ms = page.evaluate(f"() => Number({VIEWER_STATE}.lastMarkMs)")
        out.setdefault("mark_page_ms", []).append(float(page_ms))
        return took

    paired_rounds(out, rounds, idle.block, [("mark", mark)], page)


#: Predict's result drawn, the analysis' progress gone (the section across rounds may still
#: be registering in the background, its own progress bar showing).
PREDICT_DRAWN = (
    f"{PREDICT_SHOWN} && ![...document.querySelectorAll('[data-testid=stProgress]')]"
    ".some(e => e.innerText.includes('Computing'))"
)
#: ... and settled: no progress bar nor spinner left.
PREDICT_DONE = (
    f"{PREDICT_SHOWN} && !document.querySelector('[data-testid=stProgress]')"
    " && !document.querySelector('[data-testid=stSpinner]')"
)
#: First Predict visits by address timed per run, each in a fresh tab of the session's
#: browser context (the last one goes on to the cold cases): the median is the row. One
#: visit a run read 1.29x-1.89x of its floor in the same week's tables, astride the aim.
FIRST_VISITS = 3


def first_visit(page: Any, url: str) -> tuple[float, float]:
    """Predict's address typed into ``page`` (a fresh tab): seconds until the result is
    drawn, and until the page settled (drawn, then quiet for a second)."""
    page.goto(f"{url}/predict", wait_until="commit")
    # Drawn, noting whether the page had settled too (``done``) at that poll.
    probe = f"({PREDICT_DRAWN}) && ((window.__mcDoneAtDrawn = ({PREDICT_DONE})), true)"
    shown = _settle(page, 0.0, probe, quiet=0, ran=False)
    # Settled: drawn and then quiet. When the page had settled already at the poll that
    # saw it drawn, its done time stays that poll's; a fresh wait's first poll read the
    # bench's own round trips (0.05-0.55 s with no page activity: h/cold, 5 December
    # 2026, docs/measurements.md). A script run after it still moves it later.
    page.evaluate(
        "t => { window.__mcDone = window.__mcDoneAtDrawn ? t : undefined; }", 1000.0 * shown
    )
    return shown, _settle(page, 0.0, PREDICT_DONE, quiet=1000, ran=False)


def _first_visits(context: Any, url: str, out: dict[str, list[float]], n: int) -> Any:
    """``n`` first Predict visits by address (:func:`first_visit`), each in a fresh tab of
    ``context`` that rested :data:`TAB_REST_S` first; their times go to
    ``out["first_predict_drawn"]`` and ``out["first_predict"]``. Returns the last tab,
    left open on Predict (``None`` when a visit failed: logged, and no later one made)."""
    page = None
    for k in range(n):
        if page is not None:
            page.close()
        page = context.new_page()
        # ... and then types its address: the tab's own start-up work in Chromium (its
        # renderer, the browser's new-tab work) is done before the visit, not timed in it.
        time.sleep(TAB_REST_S)
        try:
            drawn, settled = first_visit(page, url)
        except Exception as exc:
            _failed("first_predict", exc, page)
            return None
        out.setdefault("first_predict_drawn", []).append(drawn)
        out.setdefault("first_predict", []).append(settled)
        _log(f"first_predict {k + 1} of {n}: drawn {drawn:.2f} s, settled {settled:.2f} s")
    return page


def _predict(
    page: Any,
    url: str,
    repeat: int,
    cases: list[str],
    out: dict[str, list[float]],
    idle: IdleTab,
    nxt: str | None = None,
    log: Path | None = None,
) -> None:
    """Predict's cold cases, region clicks and next case in ``page`` (a tab left on Predict
    by :func:`_first_visits`)."""
    done = PREDICT_DONE

    def choose(case_id: str) -> float:
        before = page.evaluate(f"() => {VIEWER_STATE}.case || ''")
        t0 = _pick_case(page, case_id)
        # Drawn: the viewer published a new case whose panels are the new case's
        # images, with its maps as layers (the last result stays on screen until then).
        drawn = (
            f"{VIEWER_STATE}.case && {VIEWER_STATE}.case !== {json.dumps(before)}"
            f" && {PANEL_KEYS}.length >= 2 && {PANEL_KEYS}"
            f".every(k => k.startsWith({json.dumps(case_id + '/')}))"
        )
        _run_if_asked(page, case_id, drawn)
        cond = f"{done} && {drawn} && !document.body.innerText.includes('Not computed yet')"
        return _settle(page, t0, cond, quiet=1000)

    def cold() -> list[float]:
        return [choose(case_id) for case_id in cases]

    _step(out, "cold_case", page, cold)

    # The viewer's region boxes (detections hidden first, in the browser only: a click on a
    # detection would select it, not its region); each click sends one event and the page
    # shows "Region N of <image>" below. Click the recent panel's boxes in turn, one per
    # round after the round's idle round trips in ``idle``'s tab (:func:`paired_rounds`).
    try:
        frame = viewer_frame(page, 60)
        if "detections" in json.loads(
            frame.eval_on_selector(VIEWER, "e => e.dataset.overlayLayers || '[]'")
        ):
            frame.press(VIEWER, "d")
    except Exception as exc:
        _failed("region_click", exc, page)
        frame = None

    def click(k: int) -> float | None:
        state = frame.eval_on_selector(VIEWER, "e => ({...e.dataset})")
        points = [p for p in json.loads(state.get("regionPoints") or "[]") if p[0] == 1]
        if not points:
            raise RuntimeError("the viewer shows no region box on the recent panel")
        panel, _image, _rank, x, y = points[k % len(points)]
        cx, cy = page_point(page, frame, panel, x, y)
        # The region the click selected (the smallest box under it) is described below,
        # named as its panel is ("Region 2 of R CC recent 2012").
        cond = (
            f"(() => {{ const s = {VIEWER_STATE}; const r = (s.selectedRegion || '')"
            f".split('#')[1]; const label = JSON.parse(s.labels || '[]')[{panel}];"
            " return !!r && document.body.innerText.includes(`Region ${r} of ${label}`); })()"
        )
        if k >= len(points):  # the same region again: no change to wait for
            cond = "true"
        try:
            return _timed(page, partial(page.mouse.click, cx, cy), cond, timeout_s=60)
        except Exception as exc:  # a click that missed its box: left out
            _log(f"region click {k + 1} left out ({str(exc).splitlines()[0]})")
            return None

    if frame is not None:
        paired_rounds(out, repeat, idle.block, [("region_click", click)], page)

    if nxt is not None:

        def next_case() -> list[float]:
            state = wait_for_ahead(log, nxt)
            _log(f"next case {nxt}: its analysis ahead {state}")
            return [choose(nxt)]

        _step(out, "next_case", page, next_case)


#: Seconds between Home drawn and the click on Predict in the sidebar visit's own server:
#: what the main session spends on Browse, the viewer and Annotate before its Predict visit
#: is longer; both leave the app's start-up work (TensorFlow, the model) done.
SIDEBAR_WARM_S = 20.0


def sidebar_visit(root: Path, data: Path, warm_s: float = SIDEBAR_WARM_S) -> float:
    """A first Predict visit from the sidebar menu on a server of its own (its own cache
    under ``root``, nothing of the main session's): Home loaded, ``warm_s`` later a click
    on the Predict link; seconds from the click until the result is drawn."""
    from playwright.sync_api import sync_playwright

    env = app_env(root, demo=data)
    with running_app(env, timeout=180, as_installed=True) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = new_context(browser).new_page()
            page.goto(url, wait_until="networkidle")
            _settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            time.sleep(warm_s)
            link = (
                page.locator("[data-testid=stSidebar] a[data-testid=stPageLink-NavLink]")
                .filter(has_text="Predict")
                .first
            )
            return _timed(page, link.click, PREDICT_DRAWN, quiet=0, ran=False)
        finally:
            browser.close()


def _measure(
    url: str,
    repeat: int,
    cases: list[str],
    nxt: str | None = None,
    log: Path | None = None,
    rounds: int | None = None,
) -> dict[str, list[float]]:
    """Every browser figure's times; the click interactions in ``rounds`` rounds (``repeat``
    unless given), the others ``repeat`` times."""
    rounds = rounds or repeat
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # Idle round trip: Home, a rerun that changes nothing, in a window of its own
            # kept open for the whole session: timed here and before each round of a page's
            # interactions (the floor of that round).
            idle = IdleTab(browser, url)
            context = new_context(browser)
            _step(out, "idle", idle.page, lambda: idle.block(repeat))
            page = context.new_page()
            _browse(page, url, rounds, out, idle)
            viewer_times(page, repeat, _timed, VIEWER_STATE, out, _step)
            _annotate(page, url, rounds, out, idle)
            page.close()  # Predict in fresh tabs, as a reader opens it
            page = _first_visits(context, url, out, FIRST_VISITS)
            if page is None:  # logged; the cold cases need Predict open
                page = context.new_page()
                page.goto(f"{url}/predict", wait_until="commit")
                _settle(page, 0.0, PREDICT_DONE, quiet=1000, ran=False, timeout_s=600)
            _predict(page, url, rounds, cases, out, idle, nxt, log)
            # The idle round trip again, TensorFlow loaded and nothing running: Predict's
            # tab back on Home, as before the rounds (timed in the idle window with Predict
            # still open, one run read 0.13-0.36 s where this read 0.10-0.15 s).
            page.goto(url, wait_until="networkidle")
            _settle(page, 0.0, "!!document.querySelector('[data-testid=stSidebar]')", ran=False)
            demo = page.get_by_role("button", name="Demo data")
            _step(out, "idle_end", page, lambda: [_timed(page, demo.click) for _ in range(repeat)])
        finally:
            browser.close()
    return out


def _row(name: str, value: float, floor: float, aim: float) -> dict[str, Any]:
    """One figure; a measurement that failed has ``value`` and ``ratio`` ``None``."""
    if value != value:  # NaN: not measured (the log says why)
        return {
            "name": name,
            "value": None,
            "floor": round(floor, 3),
            "ratio": None,
            "aim": f"<= {aim}",
            "met": False,
        }
    ratio = value / floor if floor > 0 else float("inf")
    return {
        "name": name,
        "value": round(value, 3),
        "floor": round(floor, 3),
        "ratio": round(ratio, 2),
        "aim": f"<= {aim}",
        "met": bool(ratio <= aim),
    }


def paired_row(
    name: str, values: list[float], floors: list[float], aim: float, idle: float
) -> dict[str, Any]:
    """A click figure from its rounds (:func:`paired_rounds`): ``values[i]`` with its
    round's floor ``floors[i]``; the round of median ratio kept, value and floor both from
    it (the lower middle of an even count), as ``bench/figures.py``'s ``paired``. Adds
    ``pairs``, every round's ``[value, floor]`` (``rounds``), the ratios' p10-p90, and the
    figure the unpaired method gave (``ratio_unpaired``: the values' median against
    ``idle``, the session's idle round trip at its start and end).

    >>> r = paired_row("x", [0.2, 0.3, 0.12], [0.2, 0.1, 0.1], 1.3, 0.15)
    >>> r["value"], r["floor"], r["ratio"], r["pairs"], r["ratio_p10_p90"]
    (0.12, 0.1, 1.2, 3, [1.04, 2.64])
    """
    if len(values) != len(floors):
        raise ValueError(
            f"{name}: one floor per value expected, got {len(values)} values"
            f" and {len(floors)} floors"
        )
    if not values:
        return {**_row(name, float("nan"), idle, aim), "pairs": 0, "rounds": []}
    ratios = [v / f if f > 0 else float("inf") for v, f in zip(values, floors, strict=True)]
    k = median_index(ratios)
    lo, hi = np.percentile(ratios, [10, 90])
    return {
        **_row(name, values[k], floors[k], aim),
        "pairs": len(values),
        "rounds": [[round(v, 3), round(f, 3)] for v, f in zip(values, floors, strict=True)],
        "ratio_p10_p90": [round(float(lo), 2), round(float(hi), 2)],
        "ratio_unpaired": round(_median(values) / idle, 2) if idle > 0 else None,
    }


#: The click figures (aim :data:`AIM_CLICK`), by the name of their times in ``_measure``'s
#: dict, in the table's order.
CLICKS = {
    "mark": "browser: add a mark on Annotate",
    "case_switch": "browser: case switch on Browse",
    "toggle": "browser: display toggle (Browse, invert)",
    "region_click": "browser: region click on Predict (cached)",
    "name": "browser: reader name on Annotate",
}


def click_rows(m: dict[str, list[float]], idle: float) -> list[dict[str, Any]]:
    """The click figures from ``_measure``'s times, each against the idle round trips timed
    just before it, round by round (:func:`paired_rounds`, :func:`paired_row`); ``idle``,
    the session's idle round trip, gives their unpaired ratios beside."""
    rows = [
        paired_row(title, m.get(name, []), m.get(f"{name}_floor", []), AIM_CLICK, idle)
        for name, title in CLICKS.items()
    ]
    if m.get("mark_page_ms"):  # the viewer's own click-to-drawn times, beside the mark row
        rows[0]["click_to_drawn_ms_page_clock"] = [round(v, 1) for v in m["mark_page_ms"]]
    return rows


def figures(quick: bool) -> list[dict[str, Any]]:
    """Measure every browser figure; rows with name, value (s), floor (s), ratio, aim, met."""
    from mcalc.dataset import open_dataset
    from mcalc.synthetic import generate_demo

    repeat = 3 if quick else 6
    rounds = CLICK_ROUNDS[0] if quick else CLICK_ROUNDS[1]
    tmp = Path(tempfile.mkdtemp(prefix="mcalc-bench-browser-"))
    atexit.register(shutil.rmtree, tmp, True)  # its demo set, caches, app files
    data = tmp / "demo"
    generate_demo(
        data, cases=demo_cases(max(repeat, rounds), DEMO_CASES[0 if quick else 1]), seed=0
    )
    ids = [c.case_id for c in open_dataset(data).cases]
    # The first visit opens the first case; cold cases are suspicious ones (they have
    # regions to click on once shown) that no analysis ahead reached; the next case is the
    # one after the last cold case (analysed ahead once that one is drawn).
    first = ids[0]
    cold_cases, nxt = next_choice(ids, cold_choices(ids, COLD_CASES[0] if quick else COLD_CASES[1]))
    _log(f"cold cases {cold_cases}, next case {nxt}")
    _log("in-process floors")
    floors = _floors(data, first, cold_cases[0])
    _log("floors", [floors["first"], floors["cold"]])
    log = tmp / "runs.jsonl"
    env = app_env(tmp, demo=data, MCALC_RUN_LOG=str(log))
    os.environ.pop("MCALC_DATA", None)
    with running_app(env, timeout=180, as_installed=True) as url:
        m = _measure(url, repeat, cold_cases, nxt, log, rounds)
        try:  # the wheel and W/L from a real mouse (XTest, headed on Xvfb), where possible
            why = real_input_times(url, repeat, _timed, _settle, _step, VIEWER_STATE, OBSERVER, m)
            if why:
                _log(why)
        except Exception as exc:
            _log(f"viewer real input FAILED ({str(exc).splitlines()[0]})")
    reached = [w for w in ahead_works(log) if any(f"of {c}/" in w["work"] for c in cold_cases)]
    if reached:  # never expected: the cold row would not be cold
        _log(f"WARNING: cold cases analysed ahead: {reached}")
    try:
        m["first_predict_sidebar"] = [sidebar_visit(tmp / "sidebar", data)]
        _log("first_predict_sidebar", m["first_predict_sidebar"])
    except Exception as exc:
        _log(f"first_predict_sidebar FAILED ({str(exc).splitlines()[0]})")
    # The machine is shared: measure the in-process floors again after the browser session
    # and use the mean of both measurements.
    again = _floors(data, first, cold_cases[0])
    _log("floors again", [again["first"], again["cold"]])
    floors = {k: (floors[k] + again[k]) / 2 for k in floors}
    if not quick:  # its own app on a full-size set (the generator alone takes a minute)
        try:
            m["viewer_fullres"] = fullres_times(
                repeat, _timed, _settle, VIEWER_STATE, OBSERVER, app_env,
                floors=m.setdefault("viewer_fullres_floor", []),
            )  # fmt: skip
            _log("viewer_fullres", m["viewer_fullres"])
        except Exception as exc:
            _log(f"viewer_fullres FAILED ({str(exc).splitlines()[0]})")
    idle = _median(m["idle"] + m.get("idle_end", []))
    nan = float("nan")

    def med(name: str) -> float:
        return _median(m[name]) if m.get(name) else nan

    return [
        _row("browser: idle round trip (Home rerun)", idle, idle, 1.0),
        *click_rows(m, idle),
        _row(
            "browser: first Predict visit, result drawn",
            med("first_predict_drawn"),
            floors["first"],
            AIM_COMPUTE,
        ),
        _row("browser: first Predict visit", med("first_predict"), floors["first"], AIM_COMPUTE),
        _row(
            "browser: first Predict visit from the sidebar menu",
            med("first_predict_sidebar"),
            floors["first"],
            AIM_COMPUTE,
        ),
        _row("browser: a cold case on Predict", med("cold_case"), floors["cold"], AIM_COMPUTE),
        _row(
            "browser: next case on Predict (analysed ahead)",
            med("next_case"),
            floors["cold"],
            AIM_COMPUTE,
        ),
        *viewer_rows(med, idle, _row),
    ]


def _table(rows: list[dict[str, Any]]) -> str:
    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    lines = [f"{'figure':<46} {'value s':>8} {'floor s':>8} {'ratio':>6} {'aim':>7}  met"]
    for r in rows:
        lines.append(
            f"{r['name']:<46} {num(r['value']):>8} {num(r['floor']):>8} {num(r['ratio']):>6} "
            f"{r['aim']:>7}  {'yes' if r['met'] else 'NO'}"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and cases")
    ap.add_argument("--json", action="store_true", help='print {"figures": [...]}')
    args = ap.parse_args()
    rows = figures(args.quick)
    print(json.dumps({"figures": rows}) if args.json else _table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
