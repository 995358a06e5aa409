"""bench/viewer_start.py without a browser: the bundle's evaluations read from a trace."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture(scope="module")
def vs():
    spec = importlib.util.spec_from_file_location("bench_viewer_start", BENCH / "viewer_start.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_viewer_start"] = module
    spec.loader.exec_module(module)
    return module


def _ev(name, ts, dur, tdur, url):
    return {
        "ph": "X",
        "name": name,
        "ts": ts,
        "dur": dur,
        "tdur": tdur,
        "args": {"data": {"url": url}},
    }


def test_evaluate_times_keeps_the_bundles_evaluations_in_order(vs) -> None:
    events = [
        _ev("EvaluateScript", 9_000, 60_000, 30_000, "http://h:1/viewer.js?v=ab"),
        _ev("EvaluateScript", 1_000, 400_000, 200_000, "http://h:1/viewer.js?v=ab"),
        _ev("EvaluateScript", 2_000, 5_000, 4_000, "http://h:1/channel/channel.js"),
        _ev("EvaluateScript", 3_000, 5_000, 4_000, "http://h:1/not-viewer.js"),
        _ev("FunctionCall", 4_000, 7_000, 7_000, "http://h:1/viewer.js?v=ab"),
        {"ph": "B", "name": "EvaluateScript", "ts": 5_000},
    ]
    assert vs.evaluate_times(events) == [(200.0, 400.0), (30.0, 60.0)]


def test_evaluate_times_refuses_a_trace_without_thread_times(vs) -> None:
    event = _ev("EvaluateScript", 1_000, 400_000, 0, "http://h/viewer.js")
    del event["tdur"]
    with pytest.raises(ValueError, match="no thread time"):
        vs.evaluate_times([event])
