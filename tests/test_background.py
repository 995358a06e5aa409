"""Background work (progress, result, cancel) and the results cache's cached-only view."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mcalc.explain.results import NotCached, ResultsCache
from mcalc.progress import BackgroundWork, Cancelled


def test_work_runs_reports_progress_and_returns_its_result() -> None:
    def work(progress):
        for i in range(3):
            progress(i + 1, 3, f"step {i + 1}")
        return "answer"

    job = BackgroundWork(work, key="k", label="test").start()
    assert job.wait(10)
    assert (job.state, job.result, job.key, job.error) == ("done", "answer", "k", None)
    assert job.snapshot() == (3, 3, "step 3") and not job.running
    with pytest.raises(RuntimeError, match="started already"):
        job.start()


def test_cancel_stops_work_at_its_next_progress_report() -> None:
    started, reports = threading.Event(), []

    def work(progress):
        started.set()
        for i in range(10_000):
            progress(i, 10_000, "")
            reports.append(i)
            threading.Event().wait(0.001)
        return "never"

    job = BackgroundWork(work).start()
    assert started.wait(10)
    job.cancel()
    assert job.wait(10)
    assert job.state == "cancelled" and job.result is None and len(reports) < 10_000


def test_work_queued_after_another_waits_for_it_and_can_be_cancelled_meanwhile() -> None:
    release, order = threading.Event(), []

    def first(progress):
        release.wait(10)
        order.append("first")
        return 1

    def second(progress):
        order.append("second")
        return 2

    a = BackgroundWork(first, label="analysis of A").start()
    b = BackgroundWork(second, after=a).start()
    assert not b.wait(0.3) and b.running
    # It says why at each of its 0.1 s looks at A: the first may come after the 0.3 s on a
    # busy machine (it was read once, right then).
    waiting = (0, 0, "waiting for the analysis of A to stop")
    for _ in range(3000):
        if b.snapshot() == waiting:
            break
        b.wait(0.01)
    assert b.snapshot() == waiting and b.running
    release.set()
    assert b.wait(10) and (b.state, b.result, order) == ("done", 2, ["first", "second"])
    # Cancelled while it waits: it ends at once, without running.
    blocker = BackgroundWork(lambda progress: threading.Event().wait(10)).start()
    c = BackgroundWork(second, after=blocker).start()
    c.cancel()
    assert c.wait(30) and c.state == "cancelled" and order == ["first", "second"]
    blocker.cancel()


def test_a_failure_is_kept_for_the_poller() -> None:
    def work(progress):
        raise ValueError("bad input")

    job = BackgroundWork(work).start()
    assert job.wait(10)
    assert job.state == "failed" and isinstance(job.error, ValueError)
    assert issubclass(Cancelled, Exception)


def test_cached_only_view_reads_memory_and_disk_and_never_computes(tmp_path) -> None:
    cache = ResultsCache(tmp_path)
    arrays = (lambda v: {"x": v}, lambda d: d["x"])
    view = cache.cached_only()
    with pytest.raises(NotCached):
        view.get_or_compute("map", "m@1", "img", "{}", lambda: np.arange(3), *arrays)
    cache.get_or_compute("map", "m@1", "img", "{}", lambda: np.arange(3), *arrays)
    hit = view.get_or_compute("map", "m@1", "img", "{}", lambda: 1 / 0, *arrays)
    assert hit.tolist() == [0, 1, 2]  # from the shared memory
    fresh = ResultsCache(tmp_path).cached_only()  # a new process: from disk
    assert fresh.get_or_compute("map", "m@1", "img", "{}", lambda: 1 / 0, *arrays).tolist() == [
        0,
        1,
        2,
    ]


def test_a_write_behind_cache_returns_before_its_file_is_written(tmp_path, monkeypatch) -> None:
    """The app's results cache hands a computed result's file to its writer thread: the
    result (and a lookup from memory) does not wait for the disk; flush() waits for it."""
    import threading

    import mcalc.explain.results as results

    disk = threading.Event()
    real = results.atomic_write_with

    def slow_disk(path, write):
        assert disk.wait(10)
        return real(path, write)

    monkeypatch.setattr(results, "atomic_write_with", slow_disk)
    cache = ResultsCache(tmp_path, write_behind=True)
    arrays = (lambda v: {"x": v}, lambda d: d["x"])
    got = cache.get_or_compute("map", "m@1", "img", "{}", lambda: np.arange(3), *arrays)
    assert got.tolist() == [0, 1, 2] and not list(tmp_path.rglob("*.npz"))  # disk held
    hit = cache.cached_only().get_or_compute("map", "m@1", "img", "{}", lambda: 1 / 0, *arrays)
    assert hit is got
    disk.set()
    cache.flush()
    fresh = ResultsCache(tmp_path).cached_only()  # another process: from the file
    assert fresh.get_or_compute("map", "m@1", "img", "{}", lambda: 1 / 0, *arrays).tolist() == [
        0,
        1,
        2,
    ]
