"""Analyses ahead (:mod:`mcalc.explain.ahead`): one at a time, never beside a run the reader
asked for (which stops it first, or takes its result when it is the same request)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import mcalc.explain.runs as runs
from mcalc.errors import DatasetError
from mcalc.explain.ahead import AheadSlot
from mcalc.explain.results import ResultsCache
from mcalc.explain.service import AnalysisSettings, ImageInput
from mcalc.progress import Cancelled


def _request(name: str) -> runs.CaseRequest:
    return runs.CaseRequest(
        "m@1", (ImageInput(name, Path(f"/nowhere/{name}.dcm")),), (name,), AnalysisSettings()
    )


@pytest.fixture
def analyses(monkeypatch, tmp_path) -> dict:
    """``analyse_case`` replaced by 40 steps of 10 ms, each reported (so cancellable), that
    notes when each request's analysis started, stopped and how it ended; a fresh slot."""
    log: dict = {"calls": [], "events": []}

    def analyse(loaded, images, settings, progress=None, **kw):
        name = images[0].key
        log["calls"].append(name)
        log["events"].append((time.perf_counter(), name, "start"))
        try:
            for i in range(40):
                if progress is not None:
                    progress(i, 40, "patches")
                time.sleep(0.01)
        except Cancelled:
            log["events"].append((time.perf_counter(), name, "cancelled"))
            raise
        log["events"].append((time.perf_counter(), name, "end"))
        return SimpleNamespace(images=[], name=name, made_overlays=list)

    monkeypatch.setattr(runs, "analyse_case", analyse)
    monkeypatch.setattr(runs, "AHEAD", AheadSlot())
    log["results"] = ResultsCache(tmp_path / "predict")
    return log


def test_a_foreground_run_stops_the_analysis_ahead_first_and_none_starts_beside_it(
    analyses,
) -> None:
    results = analyses["results"]
    ahead = runs.start_ahead(None, _request("next"), results=results)  # type: ignore[arg-type]
    assert ahead is not None and ahead.key == _request("next").key
    while not analyses["calls"]:
        time.sleep(0.005)
    started_ahead: list[object] = []

    def progress(done: int, total: int, message: str) -> None:
        if not started_ahead:  # while this run goes on, nothing else starts ahead
            started_ahead.append(
                runs.start_ahead(None, _request("other"), results=results)  # type: ignore[arg-type]
            )

    case = runs.run_case(None, _request("chosen"), progress, results=results)  # type: ignore[arg-type]
    assert case.name == "chosen" and ahead.state == "cancelled"
    assert started_ahead == [None]
    # The reader's run began only once the analysis ahead had stopped.
    events = analyses["events"]
    stopped = next(t for t, n, what in events if n == "next" and what == "cancelled")
    began = next(t for t, n, what in events if n == "chosen" and what == "start")
    assert stopped <= began
    # Stopped, not done: it may be analysed ahead again later; the slot is free again.
    again = runs.start_ahead(None, _request("next"), results=results)  # type: ignore[arg-type]
    assert again is not None and again.wait(30) and again.state == "done"
    assert runs.start_ahead(None, _request("next"), results=results) is None  # type: ignore[arg-type]


def test_the_reader_choosing_the_case_analysed_ahead_takes_its_result(analyses) -> None:
    results = analyses["results"]
    ahead = runs.start_ahead(None, _request("next"), results=results)  # type: ignore[arg-type]
    assert ahead is not None
    while not analyses["calls"]:
        time.sleep(0.005)
    case = runs.run_case(None, _request("next"), results=results)  # type: ignore[arg-type]
    assert ahead.wait(30) and ahead.state == "done"
    assert case is ahead.result and analyses["calls"] == ["next"]  # computed once


def test_one_analysis_ahead_at_a_time() -> None:
    slot = AheadSlot()
    release = threading.Event()
    first = slot.start("a", lambda progress: release.wait(5))
    assert first is not None
    assert slot.start("b", lambda progress: None) is None  # "a" still going on
    release.set()
    assert first.wait(30)
    second = slot.start("b", lambda progress: "b")
    assert second is not None and second.wait(30) and second.result == "b"


def test_turned_off_nothing_is_analysed_ahead(monkeypatch, tmp_path) -> None:
    """``MCALC_ANALYSE_AHEAD=0``: the warm-up's analysis of the first case does not even
    open the dataset (on, it does: here a missing one, which fails)."""
    import mcalc.models.warmup as warmup

    monkeypatch.setattr(warmup, "_MODELS", {("m", "k"): (object(), object())})
    monkeypatch.setenv("MCALC_ANALYSE_AHEAD", "0")
    assert warmup.analyse_opening(("m", "k"), tmp_path / "missing") is None
    monkeypatch.setenv("MCALC_ANALYSE_AHEAD", "1")
    with pytest.raises(DatasetError, match="missing"):
        warmup.analyse_opening(("m", "k"), tmp_path / "missing")


def test_a_choice_stops_the_analysis_ahead_at_once_unless_it_is_of_the_case_chosen(
    analyses,
) -> None:
    """``stop_ahead`` (a reader's choice, before the page's script reaches its run): the
    analysis ahead of another request stops within a step; one that is kept goes on."""
    results = analyses["results"]
    ahead = runs.start_ahead(None, _request("next"), results=results)  # type: ignore[arg-type]
    assert ahead is not None
    while not analyses["calls"]:
        time.sleep(0.005)
    assert not runs.stop_ahead(lambda request: request.images[0].key == "next")
    assert not ahead.wait(0.05) and ahead.running
    assert runs.stop_ahead(lambda request: request.images[0].key == "chosen")
    # Within a step (10 ms) when stopped; not stopped, it would end done, after 0.4 s.
    assert ahead.wait(30) and ahead.state == "cancelled"
    assert not runs.stop_ahead()  # nothing going on any more


def test_the_case_widget_stops_an_analysis_ahead_of_another_case(monkeypatch) -> None:
    """Predict's callback of its case, view and timepoint widgets
    (:func:`pages.predict_run.case_chosen`) stops the analysis ahead of the next case
    unless that case is the one chosen (bare Streamlit: its session state only)."""
    import streamlit as st

    from pages.predict_run import CASE_WIDGET, CHOSEN_KEY, case_chosen

    def request(case_id: str) -> runs.CaseRequest:
        record = SimpleNamespace(case_id=case_id)
        image = ImageInput(f"{case_id}/CC_recent", Path("/nowhere.dcm"), record)  # type: ignore[arg-type]
        return runs.CaseRequest("m@1", (image,), ("f",), AnalysisSettings())

    for chosen, stopped in (("normal-2", False), ("normal-3", True)):
        slot = AheadSlot()
        monkeypatch.setattr(runs, "AHEAD", slot)
        release = threading.Event()

        def work(progress, release: threading.Event = release) -> None:
            while not release.wait(0.01):
                progress(0, 1, "patches")

        ahead = slot.start("k", work, about=request("normal-2"))
        assert ahead is not None
        st.session_state[CASE_WIDGET] = chosen
        case_chosen()
        assert st.session_state[CHOSEN_KEY]
        assert ahead.wait(30 if stopped else 0.5) is stopped
        release.set()
        assert ahead.wait(30) and ahead.state == ("cancelled" if stopped else "done")


def test_an_analysis_ahead_stopped_as_it_ends_makes_nothing_for_the_page(
    monkeypatch, tmp_path
) -> None:
    """A reader's choice that stops the analysis ahead during its last uninterrupted step
    (a Grad-CAM, a dense pass: no progress report inside) stops it before ``then`` (the
    detections and layer maps Predict would draw from it), which the reader's run would
    otherwise wait for; the run that later asks for that case makes them itself."""
    inside, release = threading.Event(), threading.Event()

    def analyse(loaded, images, settings, progress=None, **kw):
        if progress is not None:
            progress(0, 1, "start")
        inside.set()
        release.wait(5)  # one long step, no report: the stop cannot end it sooner
        return SimpleNamespace(images=[], name=images[0].key, made_overlays=list)

    monkeypatch.setattr(runs, "analyse_case", analyse)
    monkeypatch.setattr(runs, "AHEAD", AheadSlot())
    results = ResultsCache(tmp_path / "predict")
    made: list[str] = []
    ahead = runs.start_ahead(
        None,  # type: ignore[arg-type]
        _request("next"),
        results=results,
        then=lambda case: made.append(case.name),
    )
    assert ahead is not None and inside.wait(30)
    assert runs.stop_ahead()
    release.set()
    assert ahead.wait(30) and ahead.state == "cancelled"
    assert made == []  # nothing made for a result nobody asked for
    case = runs.run_case(
        None,  # type: ignore[arg-type]
        _request("next"),
        results=results,
        then=lambda c: made.append(c.name),
    )
    assert case.name == "next" and made == ["next"]


def test_an_exit_cancels_the_analysis_ahead_going_on_before_the_atexit_callbacks(
    tmp_path,
) -> None:
    """A process whose main thread ends while Predict's next case is analysed ahead (here
    work reporting progress every 10 ms for up to 30 s) cancels it and waits for it before
    any atexit callback runs (optree's empty Keras's registry), and starts none after.
    Before, only the warm-up's own analysis was stopped: this one ran on in its daemon
    thread while the interpreter shut down and never ended."""
    code = f"""
import atexit, threading, time
from mcalc.explain.ahead import AHEAD
started, exited = threading.Event(), threading.Event()
def analysis(progress):
    started.set()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 30:
        progress(0, 1, "patches")
        time.sleep(0.01)
def done(label, state, end, wall):
    with open({str(tmp_path / "ended")!r}, "w") as f:
        f.write(state + (" after atexit" if exited.is_set() else ""))
assert AHEAD.start("next", analysis, done=done) is not None
atexit.register(exited.set)  # as optree's, registered while Keras imports
atexit.register(lambda: open({str(tmp_path / "again")!r}, "w").write(
    str(AHEAD.start("other", analysis) is not None)))
assert started.wait(30)
"""  # the main thread ends here, with the analysis ahead going on
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert time.perf_counter() - t0 < 20, "the exit waited for the whole analysis"
    assert (tmp_path / "ended").exists(), f"the analysis ahead never ended: {out.stderr}"
    assert (tmp_path / "ended").read_text() == "cancelled"
    assert (tmp_path / "again").read_text() == "False", "an analysis started during the exit"


def test_close_waits_a_bounded_time_for_work_that_does_not_stop(caplog) -> None:
    """Work that never reports progress cannot be cancelled: the slot's close gives up after
    ``wait_s`` and says so; work that does stops, and nothing starts on a closed slot."""
    slot = AheadSlot()
    release = threading.Event()
    stuck = slot.start("stuck", lambda progress: release.wait(30))
    assert stuck is not None
    t0 = time.perf_counter()
    assert slot.close(0.2) is False
    assert 0.2 <= time.perf_counter() - t0 < 5
    assert "still running" in caplog.text
    release.set()
    assert stuck.wait(30)
    assert slot.start("later", lambda progress: 1) is None
    assert slot.close(0.2) is True  # nothing running: at once
