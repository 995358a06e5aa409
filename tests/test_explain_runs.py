"""mcalc.explain.runs: one run of an analysis at a time, its result shared between sessions."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from mcalc.explain import runs
from mcalc.explain.results import NotCached, ResultsCache
from mcalc.explain.runs import CaseRequest, SharedAnalyses, analysis_nbytes
from mcalc.explain.scoring import DecisionThreshold
from mcalc.explain.service import AnalysisSettings, CaseAnalysis, ImageInput
from mcalc.progress import BackgroundWork


@dataclass
class _Held:
    """Stands for an ImageAnalysis: a dataclass holding arrays."""

    unit: np.ndarray
    view: np.ndarray


def _case(nbytes: int = 0) -> CaseAnalysis:
    """A finished analysis holding ``nbytes`` of arrays (an image's model input)."""
    case = CaseAnalysis([], [], DecisionThreshold(0.5, "default"), AnalysisSettings())
    if nbytes:
        unit = np.zeros(nbytes, np.uint8)
        case.images.append(_Held(unit, unit[:10]))  # type: ignore[arg-type]
    return case


def _fake(monkeypatch, make=_case) -> dict[str, int]:
    """analyse_case replaced by one that counts runs and how many ran at once."""
    seen = {"runs": 0, "now": 0, "most": 0}
    guard = threading.Lock()

    def analyse(loaded, images, settings, progress=None, **kwargs):
        if progress is not None:  # as the real one does, before any work
            progress(0, 1, "start")
        if kwargs["results"]._compute is False:
            raise NotCached("nothing cached")
        with guard:
            seen["runs"] += 1
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.4)
        with guard:
            seen["now"] -= 1
        return make()

    monkeypatch.setattr(runs, "analyse_case", analyse)
    return seen


def test_the_same_request_runs_once_its_result_is_shared_and_a_waiter_can_be_cancelled(
    monkeypatch, tmp_path
) -> None:
    seen = _fake(monkeypatch)
    same = CaseRequest("m", (), (), AnalysisSettings())
    other = CaseRequest("n", (), (), AnalysisSettings())
    cache = ResultsCache(tmp_path / "a")

    def work(request, results=cache):
        return BackgroundWork(
            lambda p: runs.run_case(None, request, p, results=results), key=request.key
        ).start()

    assert runs.cached_case(None, same, results=cache) is None  # nothing computed yet
    first, second, third = work(same), work(same), work(other)
    for w in (first, second, third):
        assert w.wait(10)
    # same: computed once, the second session waited and got that very result; other: beside
    assert seen["runs"] == 2 and seen["most"] == 2
    assert first.result is second.result is runs.cached_case(None, same, results=cache)
    assert third.result is not first.result
    assert runs._GATES == {}  # nothing kept once no run uses a gate
    # Another results folder shares nothing with this one.
    assert runs.cached_case(None, same, results=ResultsCache(tmp_path / "b")) is None

    # The holder computes until released, the waiter is cancelled once it says it waits
    # for it: a fixed 0.1 s before the cancel left a busy machine's holder its 0.4 s to
    # end first, and the waiter then took its result ("done", not "cancelled").
    release = threading.Event()
    seen = _fake(monkeypatch, make=lambda: (release.wait(30), _case())[1])
    fresh = CaseRequest("m2", (), (), AnalysisSettings())
    holder = work(fresh)
    _wait_until(lambda: seen["runs"] == 1)  # the holder is computing
    waiter = work(fresh)
    _wait_until(lambda: "already under way" in waiter.snapshot()[2])
    waiter.cancel()  # cancelled while waiting for the holder: never runs
    release.set()
    assert holder.wait(30) and waiter.wait(30)
    assert holder.state == "done" and waiter.state == "cancelled" and seen["runs"] == 1


def _wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in 60 s"
        time.sleep(0.01)


def test_shared_analyses_are_bounded_by_bytes_and_keyed_by_the_files_read(tmp_path) -> None:
    big = _case(600)
    assert analysis_nbytes(big) == 600  # the view of the same buffer is not counted twice
    shared = SharedAnalyses(max_bytes=1000)
    shared.put("a", big)
    shared.put("b", _case(600))  # over the bound together: the older goes
    assert shared.get("a") is None and shared.get("b") is not None and shared.nbytes == 600
    too_big = _case(2000)
    assert shared.put("c", too_big) is too_big and shared.get("c") is None  # never kept
    assert SharedAnalyses(0).put("d", big) is big and len(SharedAnalyses(0)) == 0

    # An annotation file that changes makes a new key (its agreement figures change).
    from mcalc.dataset.records import ImageRecord

    image, marks = tmp_path / "x.dcm", tmp_path / "x.png"
    image.write_bytes(b"i")
    marks.write_bytes(b"m")
    rec = ImageRecord(
        case_id="c",
        view="CC",
        timepoint="recent",
        image_path=image,
        annotation_path=marks,
        annotation_kind="mask",
    )
    request = CaseRequest("m", (ImageInput.from_record(rec),), ("f",), AnalysisSettings())
    before = SharedAnalyses.key(request)
    assert before == SharedAnalyses.key(request)
    marks.write_bytes(b"marks changed")
    assert SharedAnalyses.key(request) != before


def test_then_runs_on_the_result_in_the_run_before_it_is_done(monkeypatch, tmp_path) -> None:
    _fake(monkeypatch)
    seen: list[tuple[CaseAnalysis, bool]] = []
    holder: list[BackgroundWork[CaseAnalysis]] = []

    def then(case: CaseAnalysis) -> None:
        seen.append((case, holder[0].running))

    request = CaseRequest("t", (), (), AnalysisSettings())
    work = runs.start_case(None, request, results=ResultsCache(tmp_path), then=then)  # type: ignore[arg-type]
    holder.append(work)
    assert work.wait(10) and work.state == "done"
    assert seen == [(work.result, True)]


def test_what_then_makes_is_weighed_with_the_shared_analysis(monkeypatch, tmp_path) -> None:
    """Predict's ``then`` keeps the layers' maps on the analysis (made_ahead): they are
    made before it is kept in the shared analyses, so the bound weighs them (made after,
    they were held beside the bound, and the LRU would weigh the analysis once only)."""
    from mcalc.explain.service import OverlayMaps

    _fake(monkeypatch, make=lambda: _case(600))
    results = ResultsCache(tmp_path)

    def then(case: CaseAnalysis) -> None:
        case._overlays["layers"] = OverlayMaps([np.zeros(100, np.float32)], 1.0, "t", False)

    request = CaseRequest("w", (), (), AnalysisSettings())
    work = runs.start_case(None, request, results=results, then=then)  # type: ignore[arg-type]
    assert work.wait(10) and work.state == "done"
    assert analysis_nbytes(work.result) == 600 + 400
    shared = runs.shared_analyses(results)
    assert shared is not None and shared.nbytes == 1000
    # The ahead path too (the next case's analysis).
    ahead = runs.start_ahead(
        None, CaseRequest("w2", (), (), AnalysisSettings()), results=results, then=then
    )  # type: ignore[arg-type]
    assert ahead is not None and ahead.wait(10) and ahead.state == "done"
    assert shared.nbytes == 2000


def test_detections_are_found_once_per_settings(monkeypatch) -> None:
    """Found once per settings, and not at all where those kept hold them (a higher
    threshold): :func:`mcalc.models.detection.narrow_detections`."""
    from mcalc.explain import image_analysis
    from mcalc.models import detection
    from mcalc.models.detection import Detection, DetectionSettings

    peaks = [Detection(1, 1, 0.9, 0.1), Detection(5, 5, 0.5, 0.1), Detection(9, 9, 0.3, 0.1)]
    calls: list[float] = []

    def find(dense, spacing, *, threshold, max_detections, **kwargs):
        calls.append(threshold)
        return [d for d in peaks if d.score >= threshold][:max_detections]

    monkeypatch.setattr(detection, "find_detections", find)
    result = image_analysis.ImageAnalysis.__new__(image_analysis.ImageAnalysis)
    result.pmap = type("P", (), {"dense": lambda self: None})()  # type: ignore[assignment]
    result.spacing_mm, result.breast = (0.1, 0.1), np.ones((2, 2), bool)
    low, high = DetectionSettings(threshold=0.2), DetectionSettings(threshold=0.7)
    assert result.detections(low) == result.detections(low) == peaks
    assert result.detections(high) == peaks[:1] and calls == [0.2]  # told from low's
    assert result.detections(DetectionSettings(threshold=0.1)) == peaks and calls == [0.2, 0.1]
    result.detections(low).clear()  # a copy: what the result keeps stays
    assert result.detections(low) == peaks and calls == [0.2, 0.1]


def test_results_of_an_earlier_method_are_computed_again(monkeypatch, tmp_path) -> None:
    """RESULTS_VERSION is in every key: a map cached before a change of method (memory or
    disk) is computed again, and a batch's finished rows are redone."""
    from mcalc.batch.settings import BatchSettings
    from mcalc.explain import results

    calls: list[int] = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(3)}

    def get() -> None:
        ResultsCache(tmp_path).get_or_compute("map", "m@1", "img", "{}", compute, dict, dict)

    get()
    get()  # a second cache over the same folder: read from disk
    assert len(calls) == 1
    old_key = BatchSettings().key()
    monkeypatch.setattr(results, "RESULTS_VERSION", results.RESULTS_VERSION + 1)
    get()
    assert len(calls) == 2
    assert BatchSettings().key() != old_key
