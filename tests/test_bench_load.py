"""bench/load.py without a browser: the latency summary and the store check after a run."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from mcalc.store import MarkStore
from mcalc.store.marks import ImageMarks
from mcalc.store.record import StoreConflictError

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def load():
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_load", BENCH / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_percentiles_match_numpy_and_ratios_follow_the_aim(load) -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 40):
        xs = rng.exponential(1.0, n).tolist()
        for q in (0, 50, 95, 100):
            assert load.percentile(xs, q) == pytest.approx(np.percentile(xs, q), abs=1e-6)
    assert np.isnan(load.percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        load.percentile([1.0], 101)
    one = load.summarize([("save", 1.0), ("save", 2.0), ("mark", 0.1)])
    assert one["save"] == {"n": 2, "p50": 1.5, "p95": 1.95} and one["all"]["n"] == 3
    many = load.summarize([("save", 4.0), ("save", 7.0), ("mark", 0.2), ("predict", 9.0)])
    ratios = load.compare(one, many)
    assert set(ratios) == {"save", "mark", "all"}  # predict: no baseline to compare with
    assert ratios["save"]["p95"] == pytest.approx(6.85 / 1.95, abs=0.01)
    assert not ratios["save"]["met"] and ratios["mark"] == {"p50": 2.0, "p95": 2.0, "met": True}


def _save(store: MarkStore, key: str, reader: str, n: int, base: int) -> int:
    marks = ImageMarks(key, reader)
    for k in range(n):
        marks = marks.add_point(10 + k, 20 + k)
    return store.save(marks, base_version=base)


def test_store_check_finds_lost_writes_wrong_marks_strays_and_conflicts(load, tmp_path) -> None:
    Save = load.Save
    store = MarkStore(tmp_path)
    _save(store, "c1/CC_recent", "Ann", 2, 0)
    _save(store, "c1/CC_recent", "Ann", 4, 1)
    _save(store, "c1/CC_recent", "Bob", 2, 0)
    seen = [Save("c1/CC_recent", "Ann", 1, 2), Save("c1/CC_recent", "Ann", 2, 4)]
    seen.append(Save("c1/CC_recent", "Bob", 1, 2))
    assert load.check_store(tmp_path, seen) == []

    lost = [*seen, Save("c2/MLO_prior", "Ann", 1, 2)]  # the page said saved; the store has none
    assert load.check_store(tmp_path, lost) == [
        "c2/MLO_prior by Ann: saved versions [1], the store has []"
    ]
    wrong = [seen[0], Save("c1/CC_recent", "Ann", 2, 3), seen[2]]
    assert load.check_store(tmp_path, wrong) == [
        "c1/CC_recent by Ann: version 2 saved with 3 mark(s), the store has 4"
    ]
    # Nobody saved as Eve in the run, and Bob's stale save left a conflict copy.
    _save(store, "c1/CC_recent", "Eve", 1, 0)
    with pytest.raises(StoreConflictError):
        _save(store, "c1/CC_recent", "Bob", 3, 0)
    assert load.check_store(tmp_path, seen) == [
        "c1/CC_recent by Bob: 1 conflict cop(ies) left",
        "c1/CC_recent by Eve: in the store, but no session saved it",
    ]


def test_think_times_are_seeded_per_reader_bounded_and_zero_for_a_closed_loop(load) -> None:
    def first(reader: str, mean: float, seed: int = 0, n: int = 200) -> list[float]:
        return list(itertools.islice(load.think_times(reader, mean, seed), n))

    ann = first("Ann", 3.0)
    assert ann == first("Ann", 3.0)  # the same wait on every run of the bench
    assert ann != first("Bob", 3.0) and ann != first("Ann", 3.0, seed=1)
    assert min(ann) >= 1.5 and max(ann) <= 4.5
    assert np.mean(ann) == pytest.approx(3.0, abs=0.15)
    assert first("Ann", 0.0, n=5) == [0.0] * 5
    with pytest.raises(ValueError, match="at least 0"):
        next(load.think_times("Ann", -1.0))


def test_server_times_sum_a_sessions_runs_inside_each_interaction(load, tmp_path) -> None:
    log = tmp_path / "runs.jsonl"
    lines = [
        {"session": "s1", "tag": "Ann", "start": 100.2, "wall": 0.5, "cpu": 0.3},
        {"session": "s1", "tag": "Ann", "start": 100.9, "wall": 0.25, "cpu": 0.25},  # st.rerun
        {"session": "s2", "tag": "Bob", "start": 100.5, "wall": 4.0, "cpu": 1.0},  # not Ann's
        {"session": "s1", "tag": "Ann", "start": 105.0, "wall": 1.0, "cpu": 0.5},
    ]
    text = "\n".join(json.dumps(x) for x in lines) + '\n{"session": "s1", "tag": "An'
    log.write_text(text + "\nnot json\n")  # the last lines cut short or broken: skipped
    runs = load.read_run_log(log)
    assert [r.tag for r in runs] == ["Ann", "Ann", "Bob", "Ann"]
    assert runs[0] == load.ServerRun("Ann", 100.2, 0.5, 0.3)
    assert load.read_run_log(tmp_path / "none.jsonl") == []
    windows = [("save", 100.0, 2.0), ("mark", 103.0, 0.1), ("predict", 104.5, 3.0)]
    assert load.server_times(runs, "Ann", windows) == [
        ("save", 0.75, 0.55),
        ("mark", 0.0, 0.0),
        ("predict", 1.0, 0.5),
    ]
    assert load.cookie_tag("Load Reader 8-1") == "Load_Reader_8-1"


def test_ratio_interval_holds_one_for_the_same_readers_and_not_for_slower_ones(load) -> None:
    """The p95 ratio's bootstrap interval, baseline and loaded drawn from one distribution,
    holds 1; three times slower, it holds 3 and not 1."""
    rng = np.random.default_rng(5)
    base, same = rng.lognormal(0.0, 0.5, 32).tolist(), rng.lognormal(0.0, 0.5, 32).tolist()
    lo, hi = load.ratio_interval(base, same, n=500)
    assert lo < 1.0 < hi
    lo, hi = load.ratio_interval(base, [3 * x for x in same], n=500)
    assert 1.0 < lo < 3.0 < hi
    ci = load.intervals([("save", 1.0), ("save", 1.2)], [("save", 3.0), ("mark", 0.1)], n=50)
    assert set(ci) == {"save", "all"} and ci["save"][0] == pytest.approx(2.5, abs=0.01)


def test_cpu_probe_splits_a_profile_by_script_and_takes_medians_after_round_one() -> None:
    """bench/load_cpu.py: a sample's time goes to the innermost frame with a script file
    (a native call made by viewer.js counts for viewer.js), idle to nobody; medians leave
    the first round out and sum every Chromium process kind."""
    sys.path.insert(0, str(BENCH.parent))
    from bench.load_cpu import profile_split, summary

    def frame(i, name, url="", children=()):
        return {
            "id": i,
            "callFrame": {"functionName": name, "url": url},
            "children": list(children),
        }

    nodes = [
        frame(1, "(root)", children=[2, 5, 6, 7]),
        frame(2, "draw", "http://h/component/x/viewer.js?v=1", [3]),
        frame(3, "putImageData"),
        frame(5, "(program)"),
        frame(6, "(idle)"),
        frame(7, "render", "http://h/static/js/react-dom.abc.js"),
    ]
    # each sample's time is the next delta: 3 (viewer's native call), 2 (viewer),
    # 4 (program), 9 (idle), 1 (react), the last sample's none
    prof = {
        "nodes": nodes,
        "samples": [3, 2, 5, 6, 7, 7],
        "timeDeltas": [0, 3e3, 2e3, 4e3, 9e3, 1e3],
    }
    got = profile_split(prof)
    assert got == pytest.approx({"viewer.js": 0.005, "(program)": 0.004, "react-dom.abc.js": 0.001})
    rows = [
        {"round": 0, "kind": "browse", "chromium": {"renderer": 9.0}, "server": 1.0},
        {
            "round": 1,
            "kind": "browse",
            "chromium": {"renderer": 1.0, "gpu-process": 0.5},
            "server": 0.1,
        },
        {"round": 2, "kind": "browse", "chromium": {"renderer": 2.0}, "server": 0.3},
        {"round": 2, "kind": "toggle", "chromium": {"renderer": 0.2}, "server": 0.0},
    ]
    s = summary(rows)
    assert s["per_interaction"]["browse"] == {
        "n": 2,
        "chromium": 1.75,
        "server": 0.2,
        "gpu-process": 0.25,
        "renderer": 1.5,
    }
    assert s["round_chromium_s"] == [1.5, 2.2]
    # the interaction's latency and wall time, each a median where every row has it
    timed = [
        {**r, "seconds": w, "wall_s": w + 0.6}
        for r, w in zip(rows, [9.0, 0.4, 0.6, 0.1], strict=True)
    ]
    timed[3].pop("wall_s")
    got = summary(timed)["per_interaction"]
    assert got["browse"]["seconds"] == 0.5 and got["browse"]["wall_s"] == 1.1
    assert got["toggle"]["seconds"] == 0.1 and "wall_s" not in got["toggle"]


#: A page for the bench's conditions in Node: the viewer frame's ``dataset`` (or no frame),
#: the headings and the body text; each condition evaluated over every page given.
_FAKE_PAGE = """
const [cond, pages] = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(pages.map(([viewer, headings, text]) => {
  const frame = {contentDocument: {querySelector: () => ({dataset: viewer})}};
  globalThis.document = {
    body: {innerText: text},
    querySelector: (sel) => sel.startsWith('iframe') ? (viewer ? frame : null)
      : sel.includes('stSelectbox') ? {} : null,
    querySelectorAll: () => headings.map((h) => ({innerText: h})),
  };
  return !!eval(cond);
})));
"""


def _holds(cond: str, pages: list[tuple[dict | None, list[str], str]]) -> list[bool]:
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node (the viewer's build tool) to evaluate the page conditions")
    out = subprocess.run(
        [node, "-e", _FAKE_PAGE],
        input=json.dumps([cond, pages]),
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(out.stdout)


def test_browse_and_predict_count_as_shown_once_the_viewer_made_its_images(load) -> None:
    """A page reached from another one has a new viewer frame: shown once it has made an
    image per panel (the case and panels alone are published before the pixels came);
    Browse's condition is not met by Predict's or Annotate's viewer still on the page."""
    case = {"case": "normal-2", "panels": "4"}
    browse = [
        ({**case, "imagesMade": "0"}, ["Browse"], ""),
        ({**case, "imagesMade": "3"}, ["Browse"], ""),
        ({**case, "imagesMade": "4"}, ["Browse"], ""),
        ({**case, "imagesMade": "4"}, ["Annotate"], ""),
        ({"case": "k|False|2", "panels": "2", "imagesMade": "2"}, ["Browse"], ""),
        ({"case": "normal-2/CC_recent", "panels": "1", "imagesMade": "1"}, ["Browse"], ""),
        ({"case": "normal-2", "panels": "0", "imagesMade": "0"}, ["Browse"], ""),
        (None, ["Browse"], ""),
    ]
    assert _holds(load.BROWSE_SHOWN, browse) == [False, False, True] + [False] * 5
    result = {"case": "k|False|2", "panels": "2", "mapLayers": '["probability"]'}
    text = "Predict and explain"
    predict = [
        ({**result, "imagesMade": "0"}, [], text),
        ({**result, "imagesMade": "1"}, [], text),
        ({**result, "imagesMade": "2"}, [], text),
        ({**result, "imagesMade": "2"}, [], f"{text} Computing 40%"),
        ({**result, "mapLayers": "[]", "imagesMade": "2"}, [], text),
    ]
    assert _holds(load.PREDICT_DONE, predict) == [False, False, True, False, False]


def test_cpu_probe_splits_a_trace_by_thread_and_by_event_self_time() -> None:
    """bench/load_cpu.py --trace: a thread's time is the sum of its outermost events' thread
    time (nested ones not counted twice), an event's self time is its thread time less that
    of the events inside it, begin/end pairs count like complete events, numbered pool
    workers count as one thread, and an event without thread time is left out."""
    sys.path.insert(0, str(BENCH.parent))
    from bench.load_cpu import trace_split

    def meta(kind, pid, tid, name):
        return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}

    def x(pid, tid, name, ts, dur, tdur):
        return {"ph": "X", "pid": pid, "tid": tid, "name": name, "ts": ts, "dur": dur, "tdur": tdur}

    events = [
        meta("process_name", 1, 0, "Renderer"),
        meta("process_name", 2, 0, "GPU Process"),
        meta("thread_name", 1, 10, "CrRendererMain"),
        meta("thread_name", 1, 11, "ThreadPoolForegroundWorker3"),
        meta("thread_name", 2, 20, "VizCompositorThread"),
        # main: a task of 100 us CPU holding a call of 60 that holds a paint of 10
        x(1, 10, "RunTask", 0, 200, 100),
        x(1, 10, "FunctionCall", 10, 150, 60),
        x(1, 10, "Paint", 20, 20, 10),
        x(1, 10, "RunTask", 300, 50, 30),  # a second task
        {"ph": "X", "pid": 1, "tid": 10, "name": "NoCpu", "ts": 400, "dur": 10},
        x(1, 11, "GC", 0, 50, 40),
        {"ph": "B", "pid": 2, "tid": 20, "name": "Draw", "ts": 0, "tts": 1000},
        {"ph": "E", "pid": 2, "tid": 20, "name": "Draw", "ts": 30, "tts": 1025},
    ]
    # Figures under 2 ms are dropped: in microseconds every one here would be, so scaled.
    big = [
        {**e, **{k: e[k] * 1000 for k in ("ts", "dur", "tdur", "tts") if k in e}} for e in events
    ]
    got = trace_split(big, top=100)
    assert got["threads"] == {
        "renderer/CrRendererMain": 0.13,
        "renderer/ThreadPoolForegroundWorker": 0.04,
        "gpu/VizCompositorThread": 0.025,
    }
    assert got["events"] == {
        "renderer/CrRendererMain: RunTask": 0.07,  # 40 + 30
        "renderer/CrRendererMain: FunctionCall": 0.05,
        "renderer/CrRendererMain: Paint": 0.01,
        "renderer/ThreadPoolForegroundWorker: GC": 0.04,
        "gpu/VizCompositorThread: Draw": 0.025,
    }


def test_gc_probe_counts_the_renderers_major_gcs_and_their_reasons() -> None:
    """bench/browser_gc.py: the renderer's major GCs (``MajorGC``, another process's left
    out), the start reasons of its incremental marking, its scavenges forced by external
    memory (not those for other reasons), and its threads' outermost thread time."""
    sys.path.insert(0, str(BENCH.parent))
    from bench.browser_gc import gc_split

    def meta(kind, pid, tid, name):
        return {"ph": "M", "name": kind, "pid": pid, "tid": tid, "args": {"name": name}}

    def x(pid, tid, name, ts, dur, tdur, **args):
        e = {"ph": "X", "pid": pid, "tid": tid, "name": name, "ts": ts, "dur": dur, "tdur": tdur}
        return {**e, "args": args} if args else e

    def nvp(gc, reason):
        return x(1, 10, "V8.GCTraceGCNVP", 5, 0, 0, value=json.dumps({"gc": gc, "reason": reason}))

    events = [
        meta("process_name", 1, 0, "Renderer"),
        meta("process_name", 2, 0, "Browser"),
        meta("thread_name", 1, 10, "CrRendererMain"),
        meta("thread_name", 1, 11, "ThreadPoolForegroundWorker2"),
        x(1, 10, "RunTask", 0, 100_000, 50_000),
        x(1, 10, "MajorGC", 10, 20_000, 8_000),  # inside the task: not counted twice
        x(1, 10, "V8.GCIncrementalMarkingStart", 10, 1, 1, value={"gc_reason": "task"}),
        x(1, 10, "V8.GCIncrementalMarkingStart", 20, 1, 1, value={"gc_reason": "task"}),
        x(1, 10, "MajorGC", 200_000, 10_000, 6_000),
        nvp("s", "external memory pressure"),
        nvp("s", "allocation failure"),
        nvp("mc", "finalize incremental marking via task"),
        x(1, 11, "V8.GC_MC_BACKGROUND_MARKING", 0, 30_000, 25_000),
        x(2, 30, "MajorGC", 0, 10, 10),  # the browser process's
    ]
    got = gc_split(events)
    assert got["major_gcs"] == 2 and got["marking_reasons"] == {"task": 2}, got
    assert got["external_pressure_scavenges"] == 1, got
    assert got["thread_cpu_s"] == {"CrRendererMain": 0.056, "ThreadPoolForegroundWorker": 0.025}


def _group(pid: int) -> tuple[str, int]:
    name, _, nice = Path(f"/proc/{pid}/autogroup").read_text().split()
    return name, int(nice)


def test_browsers_behind_means_their_session_group_behind_too(tmp_path) -> None:
    """Where the kernel shares the processors between sessions' autogroups, a thread's
    niceness orders only its own group: ``--nice`` must set the Chromium session's group
    (Playwright starts Chromium in a session of its own), never the bench's own."""
    import shutil
    import subprocess

    from bench.load_procs import _autogroup, renice_browsers

    if _autogroup(os.getpid()) is None:
        # no /proc/PID/autogroup (CONFIG_SCHED_AUTOGROUP off), or an empty one: the CI
        # runner's kernel has autogroups switched off (kernel.sched_autogroup_enabled=0)
        pytest.skip("the kernel groups no tasks by session (no or empty /proc/self/autogroup)")
    fake = tmp_path / "chromium-fake"  # the bench knows Chromium by its executable's name
    shutil.copy(shutil.which("sleep") or "/bin/sleep", fake)
    apart = subprocess.Popen([str(fake), "30"], start_new_session=True)
    beside = subprocess.Popen([str(fake), "30"])  # in this process's session
    try:
        own = _group(os.getpid())
        assert _group(apart.pid)[0] != own[0] and _group(apart.pid)[1] == 0
        changed = renice_browsers(10)
        assert _group(apart.pid)[1] == 10, (
            f"expected the Chromium session's group at nice 10, got {_group(apart.pid)}"
        )
        assert changed >= 3  # two processes' threads and one group
        assert os.getpriority(os.PRIO_PROCESS, beside.pid) == 10
        assert _group(os.getpid()) == own, "the bench's own group must keep its niceness"
        assert renice_browsers(10) == 0  # kept, nothing to do again
    finally:
        for proc in (apart, beside):
            proc.kill()
            proc.wait()


def test_wait_parts_split_each_interaction_at_the_pages_message(load) -> None:
    windows = [("save", 100.0, 2.0), ("mark", 103.0, 0.1), ("case_switch", 104.0, 3.0)]
    server = load.server_times(
        [load.ServerRun("Ann", 101.5, 0.25, 0.2), load.ServerRun("Ann", 105.0, 0.5, 0.4)],
        "Ann",
        windows,
    )
    parts = load.wait_parts(windows, [1.5, None, 1.0], server)
    # The mark sent nothing: left out; the rest is what the send and the runs leave.
    assert parts == {
        "to_send": [("save", 1.5), ("case_switch", 1.0)],
        "server": [("save", 0.25), ("case_switch", 0.5)],
        "rest": [("save", 0.25), ("case_switch", 1.5)],
    }
    # A run longer than the window left (clocks a little apart): no negative rest.
    assert load.wait_parts([("save", 0.0, 1.0)], [0.9], [("save", 0.2, 0.1)])["rest"] == [
        ("save", 0.0)
    ]
    with pytest.raises(ValueError, match="3 interactions, 2 send times, 3 server times"):
        load.wait_parts(windows, [1.5, None], server)


def test_load_account_splits_a_readers_cpu_by_step_and_process_kind() -> None:
    """bench/load_account.py: a closed process counts with its last reading; a step's CPU
    goes to the part named by the mark that opened it; later rounds are per round."""
    from bench.load_account import account, spent

    before = {1: ("renderer", 1.0), 2: ("browser", 2.0)}
    after = {1: ("renderer", 1.5), 2: ("browser", 2.25), 3: ("gpu-process", 0.125)}
    assert spent(before, after) == {"renderer": 0.5, "browser": 0.25, "gpu-process": 0.125}
    rows = [
        {"part": "first_load", "round": 0, "wall_s": 4.0, "cpu": {"renderer": 3.0}},
        {"part": "think", "round": 0, "wall_s": 3.0, "cpu": {"renderer": 0.4}},
        {"part": "case_switch", "round": 0, "wall_s": 1.0, "cpu": {"renderer": 0.5}},
        *(
            {"part": part, "round": r, "wall_s": 1.0, "cpu": {"renderer": 0.2, "browser": 0.1}}
            for r in (1, 2)
            for part in ("think", "browse", "rest")
        ),
        {"part": "close", "round": 2, "wall_s": 0.5, "cpu": {"browser": 0.06}},
    ]
    out = account(rows, rounds=3)
    assert out["round1"]["first_load"] == {"wall_s": 4.0, "renderer": 3.0, "all": 3.0}
    assert out["round1"]["total"]["all"] == 3.9
    assert out["later"]["browse"] == {"wall_s": 1.0, "renderer": 0.2, "browser": 0.1, "all": 0.3}
    assert out["later"]["total"]["all"] == pytest.approx(0.9)
    assert out["close"]["all"] == 0.06


def test_later_rounds_leave_round_one_out_and_the_table_shows_them_apart(load) -> None:
    samples = [("save", 9.0), ("save", 1.0), ("toggle", 0.2), ("save", 2.0)]
    assert load.later_rounds(samples, [0, 1, 1, 3]) == samples[1:]
    assert load.later_rounds(samples, [0, 1, 1, 3], first=2) == [("save", 2.0)]
    with pytest.raises(ValueError, match="4 samples, 3 rounds"):
        load.later_rounds(samples, [0, 1, 1])
    one = load.summarize([("save", 1.0), ("save", 1.0)])
    steady = load.summarize([("save", 2.0), ("save", 2.0)])
    report = {
        "sessions": 8, "think_s": 3.0, "seed": 0, "browser_nice": 10, "baseline_sessions": 8,
        "latency": {1: one, 8: one}, "ratio": {8: load.compare(one, one)},
        "server_wall": {}, "server_ratio": {}, "server_runs_logged": 0,
        "later_rounds": {
            "latency": {1: one, 8: steady}, "ratio": {8: load.compare(one, steady)},
            "ratio_ci90": {8: {"save": (1.5, 2.5)}},
        },
        "errors": {}, "saves": 0, "lost_writes": [], "server_rss_mb": {}, "load_average": {},
        "cpu_s": {}, "holds": {"browser": 8, "server": 8}, "met": True,
    }  # fmt: skip
    text = load.table(report)
    later = text.split("from each session's round 2 on")[1].splitlines()
    save = next(line for line in later if "save" in line)
    assert "2.00" in save and "1.50-2.50" in save  # the steady p95 ratio, its interval
