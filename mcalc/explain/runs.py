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

from collections.abc import Sequence
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
    """:func:`~mcalc.explain.service.analyse_case` of a request (computes what is missing)."""
    return analyse_case(
        loaded,
        list(request.images),
        request.settings,
        progress,
        explainer=explainer,
        results=results,
        image_cache=image_cache,
    )


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
    try:
        return run_case(
            loaded,
            request,
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
