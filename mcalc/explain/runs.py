"""Predict's analyses as requests: shown at once when cached, else run in the background.

A :class:`CaseRequest` names one analysis exactly (the model file, the image files, every
setting that changes a result), so a page can tell whether what it shows is still what the
widgets ask for. :func:`cached_case` answers from the results cache only (``None`` when
anything would have to be computed); :func:`start_case` runs :func:`analyse_case` in a
:class:`~mcalc.progress.BackgroundWork` that reports progress and can be cancelled, so
expensive work never blocks the page and never starts on a mere widget change.

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> request = case_request(loaded, [ImageInput.from_file("a.dcm")])  # doctest: +SKIP
    >>> cached_case(loaded, request, results=cache) or start_case(...).wait()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcalc.explain.explainer import Explainer
from mcalc.explain.results import NotCached, ResultsCache, image_key, model_key
from mcalc.explain.service import AnalysisSettings, CaseAnalysis, ImageInput, analyse_case
from mcalc.progress import BackgroundWork, ProgressFn

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.models.inference import LoadedModel

__all__ = ["CaseRequest", "case_request", "cached_case", "run_case", "start_case"]


@dataclass(frozen=True)
class CaseRequest:
    """One analysis: a model, images in order, settings. ``key`` identifies its result.

    Attributes:
        model: :func:`~mcalc.explain.results.model_key` of the model.
        images: the images, in the order shown.
        files: each image file's cache key (changes when the file does).
        settings: the analysis settings.
    """

    model: str
    images: tuple[ImageInput, ...]
    files: tuple[str, ...]
    settings: AnalysisSettings

    @property
    def key(self) -> str:
        names = ",".join(f"{i.key}={f}" for i, f in zip(self.images, self.files, strict=True))
        return f"{self.model}|{names}|{self.settings!r}"


def case_request(
    loaded: LoadedModel, images: Sequence[ImageInput], settings: AnalysisSettings | None = None
) -> CaseRequest:
    """The request of ``images`` analysed by ``loaded`` with ``settings`` (cheap: no pixel
    is read; an unreadable file's key is its path, and the analysis names the problem)."""
    files = []
    for item in images:
        try:
            files.append(image_key(item.path))
        except OSError:
            files.append(str(item.path))
    return CaseRequest(
        model_key(loaded.card), tuple(images), tuple(files), settings or AnalysisSettings()
    )


def run_case(
    loaded: LoadedModel,
    request: CaseRequest,
    progress: ProgressFn | None = None,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache | None = None,
    image_cache: ImageCache | None = None,
) -> CaseAnalysis:
    """:func:`~mcalc.explain.service.analyse_case` of a request (computes what is missing).

    With a results cache, one run of a request at a time in this process: a session asking
    for an analysis another session is computing waits for it (reporting progress, so it
    can be cancelled) and then reads the results from the cache instead of computing them
    a second time (several readers opening Predict on the same case).
    """
    gate = _single_flight(request.key, progress) if results is not None else _no_gate()
    with gate:
        return analyse_case(
            loaded,
            list(request.images),
            request.settings,
            progress,
            explainer=explainer,
            results=results,
            image_cache=image_cache,
        )


#: request key -> [its lock, how many runs hold or wait for it]; an entry lives while used.
_GATES: dict[str, list] = {}
_GATES_LOCK = threading.Lock()


@contextlib.contextmanager
def _no_gate() -> Iterator[None]:
    yield


@contextlib.contextmanager
def _single_flight(key: str, progress: ProgressFn | None) -> Iterator[None]:
    with _GATES_LOCK:
        gate = _GATES.setdefault(key, [threading.Lock(), 0])
        gate[1] += 1
    try:
        if not gate[0].acquire(blocking=False):
            while True:
                if progress is not None:  # raises Cancelled when the waiting run is cancelled
                    progress(0, 1, "waiting for the same analysis, started in another session")
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
    disk), else ``None``: nothing expensive runs here (no model call)."""
    try:  # never waits for a run in progress (no gate): a lookup only
        return analyse_case(
            loaded,
            list(request.images),
            request.settings,
            explainer=explainer,
            results=results.cached_only(),
            image_cache=image_cache,
        )
    except NotCached:
        return None


def start_case(
    loaded: LoadedModel,
    request: CaseRequest,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache | None = None,
    image_cache: ImageCache | None = None,
    after: BackgroundWork[Any] | None = None,
) -> BackgroundWork[CaseAnalysis]:
    """Run the request in a background thread (progress to poll, cancellable at each
    progress report); ``work.key`` is ``request.key``. With ``after`` (a run just
    cancelled), it starts once that one has stopped, so two runs never compete."""

    def work(progress: ProgressFn) -> CaseAnalysis:
        return run_case(
            loaded,
            request,
            progress,
            explainer=explainer,
            results=results,
            image_cache=image_cache,
        )

    names = ", ".join(i.key for i in request.images)
    return BackgroundWork(work, key=request.key, label=f"analysis of {names}", after=after).start()
