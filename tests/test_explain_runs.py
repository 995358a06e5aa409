"""mcalc.explain.runs: one run of an analysis at a time, shared between sessions."""

from __future__ import annotations

import threading
import time

from mcalc.explain import runs
from mcalc.explain.runs import CaseRequest
from mcalc.explain.service import AnalysisSettings
from mcalc.progress import BackgroundWork


def _fake(monkeypatch) -> dict[str, int]:
    """analyse_case replaced by one that counts runs and how many ran at once."""
    seen = {"runs": 0, "now": 0, "most": 0}
    guard = threading.Lock()

    def analyse(loaded, images, settings, progress=None, **kwargs):
        if progress is not None:  # as the real one does, before any work
            progress(0, 1, "start")
        with guard:
            seen["runs"] += 1
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.4)
        with guard:
            seen["now"] -= 1
        return "done"

    monkeypatch.setattr(runs, "analyse_case", analyse)
    return seen


def test_the_same_request_runs_one_at_a_time_and_a_waiter_can_be_cancelled(monkeypatch) -> None:
    seen = _fake(monkeypatch)
    same = CaseRequest("m", (), (), AnalysisSettings())
    other = CaseRequest("n", (), (), AnalysisSettings())
    cache = object()  # any results cache: the gate only needs one to share through

    def work(request):
        return BackgroundWork(
            lambda p: runs.run_case(None, request, p, results=cache), key=request.key
        ).start()

    first, second, third = work(same), work(same), work(other)
    for w in (first, second, third):
        assert w.wait(10)
    assert (first.result, second.result, third.result) == ("done",) * 3
    assert seen["runs"] == 3 and seen["most"] == 2  # same: one after the other; other: beside
    assert runs._GATES == {}  # nothing kept once no run uses a gate

    seen.update(runs=0)
    holder = work(same)
    while not seen["now"]:  # the holder is computing
        time.sleep(0.01)
    waiter = work(same)
    time.sleep(0.1)
    waiter.cancel()  # cancelled while waiting for the holder: never runs
    assert holder.wait(10) and waiter.wait(10)
    assert waiter.state == "cancelled" and seen["runs"] == 1
