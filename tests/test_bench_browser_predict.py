"""bench/browser_predict.py without a browser: the main-thread CPU read from a trace."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def bp():
    spec = importlib.util.spec_from_file_location(
        "bench_browser_predict", BENCH / "browser_predict.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_browser_predict"] = module
    spec.loader.exec_module(module)
    return module


def _x(name, ts, dur, tdur, tid=1, url=""):
    e = {"ph": "X", "name": name, "pid": 7, "tid": tid, "ts": ts, "dur": dur, "tdur": tdur}
    if url:
        e["args"] = {"data": {"url": url}}
    return e


def test_main_thread_cpu_counts_outer_tasks_and_splits_by_their_first_event(bp) -> None:
    react = "http://x/static/js/react-dom.Dzbslgj4.js"
    events = [
        # the main thread (tid 1): two tasks, one with a task nested in it
        _x("ThreadControllerImpl::RunTask", 0, 100_000, 80_000),
        _x("FunctionCall", 1_000, 60_000, 50_000, url=react),
        _x("FunctionCall", 2_000, 10_000, 9_000, url=react),  # inside the one above
        _x("RunTask", 70_000, 10_000, 10_000),  # a task nested in the first: not again
        _x("Layout", 71_000, 5_000, 5_000),
        _x("ThreadControllerImpl::RunTask", 200_000, 300_000, 250_000),
        _x("EvaluateScript", 201_000, 290_000, 240_000, url="http://x/viewer.js?v=1"),
        # another thread, less busy: not counted
        _x("ThreadControllerImpl::RunTask", 0, 50_000, 40_000, tid=2),
        _x("Paint", 0, 40_000, 40_000, tid=2),
        {"ph": "M", "name": "thread_name", "pid": 7, "tid": 1},
    ]
    busy, split = bp.main_thread_cpu(events)
    assert busy == pytest.approx(0.33)  # 80 + 250 ms of thread time
    assert split == pytest.approx(
        {"react": 0.05, "Layout": 0.005, "viewer.js EvaluateScript": 0.24}
    )
    with pytest.raises(ValueError, match="no task events"):
        bp.main_thread_cpu([_x("Layout", 0, 1, 1)])


def test_commits_are_split_at_the_cuts(bp) -> None:
    times = [0.5, 1.0, 1.2, 2.9, 3.0, 7.0]
    assert bp.commits_split(times, [1.0, 2.0, 3.0, float("inf")]) == [2, 1, 2]
    assert bp.commits_split([], [0.0, 1.0]) == [0]


def test_cpu_between_two_instants_is_interpolated_and_summed_over_chromium(bp) -> None:
    sampler = bp.CpuSampler(step_s=60.0)  # no sample of its own within the test
    sampler.close()
    sampler.samples[:] = [
        (10.0, {"server": 1.0, "renderer": 2.0, "gpu": 0.5}),
        (11.0, {"server": 1.5, "renderer": 2.2, "gpu": 0.5}),
        (12.0, {"server": 1.5, "renderer": 3.2, "gpu": 0.7}),
    ]
    got = sampler.between(10.5, 12.0)
    assert got["server"] == pytest.approx(0.25)
    assert got["renderer"] == pytest.approx(1.1)
    assert got["gpu"] == pytest.approx(0.2)
    assert got["chromium"] == pytest.approx(1.3)  # every kind but the server
    # Before the first sample or after the last: the nearest sample.
    assert sampler.between(0.0, 99.0)["server"] == pytest.approx(0.5)


def test_a_process_kind_is_none_for_a_process_that_is_neither(bp) -> None:
    import os

    assert bp._proc_kind(os.getpid()) is None  # pytest: neither the app nor Chromium
