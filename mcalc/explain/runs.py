"""Predict's analyses as requests: shown at once when cached, else run in the background.

A :class:`CaseRequest` names one analysis exactly (the model file, the image files, every
setting that changes a result), so a page can tell whether what it shows is still what the
widgets ask for. :func:`cached_case` answers from the results cache only (``None`` when
anything would have to be computed); :func:`start_case` runs :func:`analyse_case` in a
:class:`~mcalc.progress.BackgroundWork` that reports progress and can be cancelled, so
expensive work never blocks the page and never starts on a mere widget change.

Shared between the sessions of a server: a request runs once at a time (a second session
asking for it waits for the first's result), and finished analyses stay in a
byte-bounded LRU (:class:`SharedAnalyses`, per results cache folder), so the readers who
open the same case after the first get the very same :class:`CaseAnalysis` at once
instead of each re-deriving scores, regions and agreement from the cached maps. A shared
analysis is read-only: nobody changes it after it is made.

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> request = case_request(loaded, [ImageInput.from_file("a.dcm")])  # doctest: +SKIP
    >>> cached_case(loaded, request, results=cache) or start_case(...).wait()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.ahead import AHEAD, DoneFn
from mcalc.explain.explainer import Explainer
from mcalc.explain.results import NotCached, ResultsCache, image_key, model_key
from mcalc.explain.scoring import decision_threshold
from mcalc.explain.service import AnalysisSettings, CaseAnalysis, ImageInput, analyse_case
from mcalc.lru import LRU
from mcalc.progress import BackgroundWork, ProgressFn

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.models.inference import LoadedModel

__all__ = [
    "CaseRequest",
    "SharedAnalyses",
    "case_request",
    "cached_case",
    "run_case",
    "results_cache",
    "shared_analyses",
    "start_ahead",
    "start_case",
    "stop_ahead",
]


@dataclass(frozen=True)
class CaseRequest:
    """One analysis: a model, images in order, settings. ``key`` identifies its result.

    Attributes:
        model: :func:`~mcalc.explain.results.model_key` of the model.
        images: the images, in the order shown.
        files: each image's files as read: the image file's cache key, and its
            annotation file's when it has one (changes when either does: the analysis'
            agreement figures and the marks shown with it come from the annotation).
        settings: the analysis settings.
        threshold: the model's decision threshold and its source as its card names them
            when asked (:func:`~mcalc.explain.scoring.decision_threshold`): the card changes
            without the model file (``models threshold``), and an analysis kept from before
            decided at the old threshold (``""``: not part of the key).
    """

    model: str
    images: tuple[ImageInput, ...]
    files: tuple[str, ...]
    settings: AnalysisSettings
    threshold: str = ""

    @property
    def key(self) -> str:
        names = ",".join(f"{i.key}={f}" for i, f in zip(self.images, self.files, strict=True))
        at = f"|threshold {self.threshold}" if self.threshold else ""
        return f"{self.model}|{names}|{self.settings!r}{at}"


def case_request(
    loaded: LoadedModel, images: Sequence[ImageInput], settings: AnalysisSettings | None = None
) -> CaseRequest:
    """The request of ``images`` analysed by ``loaded`` with ``settings`` (cheap: no pixel
    is read; an unreadable file's key is its path, and the analysis names the problem)."""
    files = []
    for item in images:
        try:
            stamp = image_key(item.path, item.spacing_mm)
        except OSError:
            stamp = str(item.path)
        rec = item.record
        if rec is not None and rec.annotation_path is not None:
            stamp += f"+{_stamp(rec.annotation_path)}"
        files.append(stamp)
    t = decision_threshold(loaded.card)
    return CaseRequest(
        model_key(loaded.card),
        tuple(images),
        tuple(files),
        settings or AnalysisSettings(),
        f"{t.value!r} ({t.source})",
    )


def run_case(
    loaded: LoadedModel,
    request: CaseRequest,
    progress: ProgressFn | None = None,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache | None = None,
    image_cache: ImageCache | None = None,
    then: Callable[[CaseAnalysis], object] | None = None,
) -> CaseAnalysis:
    """:func:`~mcalc.explain.service.analyse_case` of a request (computes what is missing),
    asked for by the reader: an analysis ahead of another request stops first
    (:data:`~mcalc.explain.ahead.AHEAD`), and none starts while this one runs.

    With a results cache, one run of a request at a time in this process: a session asking
    for an analysis another session (or the analysis ahead) is computing waits for it
    (reporting progress, so it can be cancelled) and then takes its result
    (:class:`SharedAnalyses`) instead of computing it a second time (several readers
    opening Predict on the same case). ``then`` runs on the result before it is kept
    there (what it makes is weighed with it) or, when it was there already, on that one.
    """
    with AHEAD.foreground(request.key, progress):
        return _run_once(loaded, request, progress, explainer, results, image_cache, then)


def _run_once(
    loaded: LoadedModel,
    request: CaseRequest,
    progress: ProgressFn | None,
    explainer: Explainer | None,
    results: ResultsCache | None,
    image_cache: ImageCache | None,
    then: Callable[[CaseAnalysis], object] | None = None,
) -> CaseAnalysis:
    def analyse() -> CaseAnalysis:
        case = analyse_case(
            loaded,
            list(request.images),
            request.settings,
            progress,
            explainer=explainer,
            results=results,
            image_cache=image_cache,
        )
        return finish(case)

    def finish(case: CaseAnalysis) -> CaseAnalysis:
        if then is not None:
            then(case)
        return case

    shared = shared_analyses(results)
    if shared is None:
        return analyse()
    key = shared.key(request)
    held = shared.get(key)
    if held is not None:
        return finish(held)
    with _single_flight(request.key, progress):
        held = shared.get(key)  # the run this one waited for made it
        if held is not None:
            return finish(held)
        return shared.put(key, analyse())  # weighed with what ``then`` made


def start_ahead(
    loaded: LoadedModel,
    request: CaseRequest,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache,
    image_cache: ImageCache | None = None,
    then: Callable[[CaseAnalysis], object] | None = None,
    done: DoneFn | None = None,
    delay_s: float = 0.0,
) -> BackgroundWork[CaseAnalysis] | None:
    """Analyse ``request`` ahead, into ``results`` and its shared analyses, so that a
    reader who asks for it later finds it cached (:func:`cached_case`); ``None`` when
    nothing starts (:meth:`AheadSlot.start <mcalc.explain.ahead.AheadSlot.start>`: a
    foreground run or another analysis ahead going on, or this request analysed ahead
    before) or when it is in the shared analyses already. ``then`` as in
    :func:`start_case`, ``done`` and ``delay_s`` as in
    :meth:`~mcalc.explain.ahead.AheadSlot.start`."""
    shared = shared_analyses(results)
    if shared is not None and shared.get(shared.key(request)) is not None:
        return None

    def work(progress: ProgressFn) -> CaseAnalysis:
        def made(case: CaseAnalysis) -> None:
            # Stopped as its analysis ended (a reader's choice, whose run waits for this
            # one): stop before ``then`` too. Its maps are in the results cache; what
            # ``then`` makes is made by the run that asks for the case, if one does
            # (:func:`run_case` runs ``then`` on a result it finds). Run, it kept the
            # reader's run waiting 40-100 ms more on the 2-core machine (detections and
            # layer maps of the case ahead: docs/measurements.md, 5 December 2026).
            progress(1, 1, "analysed")  # raises Cancelled once stopped
            if then is not None:
                then(case)

        return _run_once(loaded, request, progress, explainer, results, image_cache, made)

    names = ", ".join(i.key for i in request.images)
    return AHEAD.start(
        request.key,
        work,
        label=f"analysis ahead of {names}",
        done=done,
        delay_s=delay_s,
        about=request,
    )


def stop_ahead(keep: Callable[[CaseRequest], bool] | None = None) -> bool:
    """Stop the analysis ahead going on now (at its next progress report, tens of ms),
    unless ``keep(its request)``: for a page whose reader just made a choice that starts a
    run (:meth:`AheadSlot.stop <mcalc.explain.ahead.AheadSlot.stop>`). Returns whether one
    was asked to stop."""
    return AHEAD.stop(
        None if keep is None else lambda about: isinstance(about, CaseRequest) and keep(about)
    )


#: request key -> [its lock, how many runs hold or wait for it]; an entry lives while used.
_GATES: dict[str, list] = {}
_GATES_LOCK = threading.Lock()


@contextlib.contextmanager
def _single_flight(key: str, progress: ProgressFn | None) -> Iterator[None]:
    with _GATES_LOCK:
        gate = _GATES.setdefault(key, [threading.Lock(), 0])
        gate[1] += 1
    try:
        if not gate[0].acquire(blocking=False):
            while True:
                if progress is not None:  # raises Cancelled when the waiting run is cancelled
                    progress(0, 1, "waiting for the same analysis, already under way")
                if gate[0].acquire(timeout=0.5):
                    break
        try:
            yield
        finally:
            gate[0].release()
    finally:
        with _GATES_LOCK:
            gate[1] -= 1
            if gate[1] == 0:
                del _GATES[key]


def cached_case(
    loaded: LoadedModel,
    request: CaseRequest,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache,
    image_cache: ImageCache | None = None,
) -> CaseAnalysis | None:
    """The request's analysis when every map and explanation is in ``results`` (memory or
    disk), else ``None``: nothing expensive runs here (no model call). An analysis made
    before in this process (any session) is returned as it is."""
    shared = shared_analyses(results)
    key = shared.key(request) if shared is not None else ""
    held = shared.get(key) if shared is not None else None
    if held is not None:
        return held
    try:  # never waits for a run in progress (no gate): a lookup only
        case = analyse_case(
            loaded,
            list(request.images),
            request.settings,
            explainer=explainer,
            results=results.cached_only(),
            image_cache=image_cache,
        )
    except NotCached:
        return None
    return shared.put(key, case) if shared is not None else case


def start_case(
    loaded: LoadedModel,
    request: CaseRequest,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache | None = None,
    image_cache: ImageCache | None = None,
    after: BackgroundWork[Any] | None = None,
    then: Callable[[CaseAnalysis], object] | None = None,
) -> BackgroundWork[CaseAnalysis]:
    """Run the request in a background thread (progress to poll, cancellable at each
    progress report); ``work.key`` is ``request.key``. With ``after`` (a run just
    cancelled), it starts once that one has stopped, so two runs never compete. ``then``
    runs on the result in the same thread before the work is done (what the caller will
    draw from it, made ahead: e.g. :meth:`ImageResult.detections`), before the result is
    kept in the shared analyses (:func:`run_case`)."""

    def work(progress: ProgressFn) -> CaseAnalysis:
        return run_case(
            loaded,
            request,
            progress,
            explainer=explainer,
            results=results,
            image_cache=image_cache,
            then=then,
        )

    names = ", ".join(i.key for i in request.images)
    return BackgroundWork(work, key=request.key, label=f"analysis of {names}", after=after).start()


# -- analyses shared between sessions -------------------------------------------------------


def _stamp(path: Any) -> str:
    """A file's cache key, or its path when it cannot be read (the analysis says why)."""
    try:
        return image_key(path)
    except OSError:
        return str(path)


def analysis_nbytes(case: CaseAnalysis) -> int:
    """The bytes of the arrays a case analysis holds (images, masks, maps, explanations,
    a temporal model's inputs, the maps made for its display): what keeping it costs."""
    seen: set[int] = set()

    def walk(obj: Any, depth: int) -> int:
        if isinstance(obj, np.ndarray):
            base = obj.base if isinstance(obj.base, np.ndarray) else obj
            if id(base) in seen:
                return 0
            seen.add(id(base))
            return int(base.nbytes)
        if depth > 4 or obj is None or isinstance(obj, str | int | float | bool):
            return 0
        if isinstance(obj, list | tuple):
            return sum(walk(x, depth + 1) for x in obj)
        if isinstance(obj, dict):
            return sum(walk(x, depth + 1) for x in obj.values())
        if dataclasses.is_dataclass(obj):
            return sum(walk(getattr(obj, f.name), depth + 1) for f in dataclasses.fields(obj))
        return 0

    # And the maps made for its display (CaseAnalysis.overlay_maps and their grids).
    return walk(case.images, 0) + walk(case.made_overlays(), 0)


class SharedAnalyses:
    """Finished analyses of one results cache, shared by the sessions of a server.

    A byte-bounded LRU (:class:`~mcalc.lru.LRU`, weighed by :func:`analysis_nbytes`); an
    analysis heavier than the bound alone is returned but not kept. The key is the
    request's plus what else the analysis read: each image's annotation file and, for a
    temporal model, the case's other images (so a changed file is a new key).

    Args:
        max_bytes: the bound of the analyses kept (0 keeps none).
        max_items: how many are kept at most.
    """

    def __init__(self, max_bytes: int, max_items: int = 64) -> None:
        self.max_bytes = max(0, int(max_bytes))
        self._lru: LRU[str, CaseAnalysis] = LRU(
            max(1, max_items), weigh=analysis_nbytes, max_weight=self.max_bytes
        )

    @staticmethod
    def key(request: CaseRequest) -> str:
        """The request's key and the stamps of the other files its analysis reads."""
        extra = []
        for item in request.images:
            rec = item.record
            if rec is not None and rec.annotation_path is not None:
                extra.append(f"annotation {_stamp(rec.annotation_path)}")
            if item.case is not None:
                extra += [f"case {_stamp(r.image_path)}" for r in item.case.images]
        return "|".join([request.key, *sorted(set(extra))])

    def get(self, key: str) -> CaseAnalysis | None:
        return self._lru.get(key)

    def put(self, key: str, case: CaseAnalysis) -> CaseAnalysis:
        """Keep a finished analysis (read-only from now on) and return it."""
        return self._lru.put(key, case) if self.max_bytes > 0 else case

    def items(self) -> list[tuple[str, CaseAnalysis]]:
        """The analyses kept with their keys, oldest first (none becomes more recent)."""
        return self._lru.items()

    @property
    def nbytes(self) -> int:
        """The bytes of the analyses kept."""
        return self._lru.weight

    def __len__(self) -> int:
        return len(self._lru)


_SHARED: dict[str, SharedAnalyses] = {}
_SHARED_LOCK = threading.Lock()


def shared_analyses(results: ResultsCache | None) -> SharedAnalyses | None:
    """The shared analyses of ``results``' folder (``None`` for no cache or a memory-only
    one: nothing to share through). The bound is ``MCALC_ANALYSES_CACHE_MB``
    (:class:`~mcalc.config.Settings` ``analyses_cache_mb``) when the first is made."""
    if results is None or results.root is None:
        return None
    scope = str(results.root)
    with _SHARED_LOCK:
        shared = _SHARED.get(scope)
        if shared is None:
            from mcalc.config import get_settings

            mb = get_settings().analyses_cache_mb
            shared = _SHARED[scope] = SharedAnalyses(mb * 1024 * 1024)
        return shared


_RESULTS: dict[str, ResultsCache] = {}


def results_cache(root: str | Path) -> ResultsCache:
    """The process' results cache of folder ``root`` (one per folder: the Predict page's
    sessions and the analyses ahead read and fill the same memory)."""
    scope = str(root)
    with _SHARED_LOCK:
        cache = _RESULTS.get(scope)
        if cache is None:
            cache = _RESULTS[scope] = ResultsCache(scope, write_behind=True)
        return cache
