"""The one call of the CLI and the Predict page: a model over a case's images, explained.

``python -m mcalc predict`` and the Predict page both call :func:`analyse_case`, so they
show the same numbers for the same settings: map scores, top regions, explanations,
agreement with the annotations, the case score and the decision at the model's threshold
(:func:`~mcalc.explain.scoring.decision_threshold`).

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> case = analyse_case(loaded, [ImageInput.from_file("a.dcm")],
    ...                     AnalysisSettings(cam=CamSettings("gradcam")))  # doctest: +SKIP
    >>> case.images[0].score, case.predicted(case.images[0])  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.config import TIMEPOINTS
from mcalc.errors import AnnotationError, ImageReadError
from mcalc.explain.cams import SCOPES, CamSettings
from mcalc.explain.errors import LayerError, NoBreastRegionError
from mcalc.explain.explainer import CAM_METHODS, Explainer
from mcalc.explain.image_analysis import ImageAnalysis, analyse_image, unit_spacing
from mcalc.explain.map_agreement import DEFAULT_TOLERANCE_MM
from mcalc.explain.methods import method_name
from mcalc.explain.overlay import COLORMAPS
from mcalc.explain.results import ResultsCache, image_key, model_key
from mcalc.explain.scoring import MAP_SCORE, DecisionThreshold, case_score, decision_threshold
from mcalc.explain.sliding import SlidingSettings, check_model_fits
from mcalc.explain.stitch import joint_range
from mcalc.progress import ProgressFn, phase

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import CaseRecord, ImageRecord
    from mcalc.imageio import Mammogram
    from mcalc.models.inference import LoadedModel
    from mcalc.models.temporal_input import TemporalInput

__all__ = [
    # What a caller (the CLI, the Predict page) needs to set up an analysis, in one place.
    "CAM_METHODS",
    "SCOPES",
    "COLORMAPS",
    "DEFAULT_TOLERANCE_MM",
    "MAP_SCORE",
    "CamSettings",
    "SlidingSettings",
    "Explainer",
    "ResultsCache",
    "model_key",
    "check_model_fits",
    # The analysis.
    "AnalysisSettings",
    "ImageInput",
    "SkippedImage",
    "CaseSummary",
    "OverlayMaps",
    "CaseAnalysis",
    "ImageAnalysis",
    "analyse_case",
    "analyse_image",
    "case_summary",
    "read_input",
    "unit_spacing",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisSettings:
    """What an analysis computes: sliding window and scores, explanation, agreement."""

    sliding: SlidingSettings = field(default_factory=SlidingSettings)
    cam: CamSettings | None = None
    tolerance_mm: float = DEFAULT_TOLERANCE_MM

    def _flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {f"sliding.{k}": v for k, v in asdict(self.sliding).items()}
        out["cam.method"] = "none" if self.cam is None else self.cam.method
        if self.cam is not None:
            out.update({f"cam.{k}": v for k, v in asdict(self.cam).items() if k != "method"})
        out["tolerance_mm"] = self.tolerance_mm
        return out

    def changes_from(self, old: AnalysisSettings) -> list[str]:
        """What differs from ``old``, in words ("explanation Grad-CAM (now Grad-CAM++)"): what
        a result of ``old`` kept on screen was made with.

        Example:
            >>> new = AnalysisSettings(cam=CamSettings(method="gradcam++"))
            >>> new.changes_from(AnalysisSettings(cam=CamSettings()))
            ['explanation Grad-CAM (now Grad-CAM++)']
        """
        was, now = old._flat(), self._flat()
        return [
            f"{_SETTING_WORDS.get(k, k)} {_setting_text(was[k], k)} (now {_setting_text(v, k)})"
            for k, v in now.items()
            if k in was and was[k] != v
        ]


#: The words for :meth:`AnalysisSettings.changes_from` (the sidebar's names for them).
_SETTING_WORDS = {
    "sliding.stride": "stride",
    "sliding.batch": "batch",
    "sliding.min_breast": "least breast in a patch",
    "sliding.max_regions": "most regions",
    "sliding.min_region_score": "region threshold",
    "sliding.nms_overlap": "region overlap",
    "sliding.dense": "dense inference",
    "cam.method": "explanation",
    "cam.layer": "layer",
    "cam.target": "target class",
    "cam.scope": "explained",
    "cam.batch": "explanation batch",
    "cam.scorecam_max_n": "Score-CAM channels",
    "cam.weighting": "map weighting",
    "tolerance_mm": "agreement tolerance (mm)",
}


def _setting_text(value: Any, key: str = "") -> str:
    if key == "cam.method" and isinstance(value, str):
        return method_name(value)  # as the sidebar names it
    return "default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ImageInput:
    """An image to analyse: its name, its file and, from a dataset, its record and case.

    A temporal model needs the case (to register the prior of the record's view); without
    one it looks for the prior among the other images of the same analysis.
    """

    key: str
    path: Path
    record: ImageRecord | None = None
    case: CaseRecord | None = None

    @property
    def spacing_mm(self) -> float | None:
        """The pixel spacing the record's manifest gives, or ``None``."""
        return self.record.pixel_spacing_mm if self.record is not None else None

    @classmethod
    def from_record(cls, record: ImageRecord, case: CaseRecord | None = None) -> ImageInput:
        return cls(record.key, Path(record.image_path), record, case)

    @classmethod
    def from_file(cls, path: str | Path) -> ImageInput:
        return cls(Path(path).stem, Path(path))


def read_input(
    item: ImageInput, image_cache: ImageCache | None = None
) -> tuple[Mammogram, np.ndarray | None, list[str]]:
    """The decoded image, its annotation mask (native size) or ``None``, and notes.

    Through the app's image cache when one is given. A broken annotation file is a note,
    never an error: the image is still analysed.

    Raises:
        ImageReadError: the image cannot be read.
    """
    from mcalc.annotations import load_annotation_mask
    from mcalc.config import get_settings
    from mcalc.imageio import read_image
    from mcalc.viewer import annotation_for

    given = item.spacing_mm
    if image_cache is not None:
        mammo = image_cache.load(item.path, spacing_mm=given)
    else:
        spacing = get_settings().default_pixel_spacing_mm
        mammo = read_image(item.path, default_spacing_mm=spacing, spacing_mm=given)
    # The model reads patches at its own spacing, resampled from the file's: a PNG or PGM
    # (mini-MIAS: 0.2 mm) read at an assumed 0.07 mm is shown to it at the wrong scale.
    said = (
        [
            f"the file carries no pixel spacing: {mammo.pixel_spacing_mm[0]:g} mm assumed (the "
            "configured default); the model sees the image at the wrong scale if it differs: "
            "give it in a manifest's spacing_mm column (docs/guide/dataset.md, Real collections)"
        ]
        if mammo.spacing_source == "default"
        else [f for f in mammo.flags if f.startswith("the manifest's pixel spacing")]
    )  # a manifest's spacing that the file's own overrides is said too
    rec = item.record
    if rec is None or rec.annotation_path is None or rec.annotation_kind == "none":
        return mammo, None, said
    if image_cache is not None:
        mask, _, notes = annotation_for(image_cache, rec, mammo.shape, mammo.pixel_spacing_mm)
        if mask is None:
            return mammo, None, said + [f"annotation not used: {n}" for n in notes]
        return mammo, mask, said + list(notes)
    try:
        mask, found = load_annotation_mask(rec.annotation_path, rec.annotation_kind, mammo.shape)
    except AnnotationError as exc:
        return mammo, None, [*said, f"annotation not used: {exc}"]
    return mammo, mask, said + list(found)


@dataclass(frozen=True)
class SkippedImage:
    """An image the analysis could not use, and why.

    ``kind``: ``no-breast`` (no breast region), ``layer`` (bad explanation layer),
    ``unreadable`` (the file cannot be read) or ``no-prior`` (a temporal model and an image
    without a registered prior: an image of the prior exam, a single file, a pair that does not
    register); ``error`` is the exception raised.
    """

    key: str
    kind: str
    error: Exception

    @property
    def message(self) -> str:
        """Why, without the image's key where the error starts with it (every caller says
        ``f"{key}: {message}"``; a temporal model's refusal names the image itself)."""
        text = str(self.error)
        return text.removeprefix(f"{self.key}: ")


@dataclass(frozen=True)
class CaseSummary:
    """A case's score: the maximum of its images' map scores, also per screening round."""

    score: float
    images: int
    by_timepoint: dict[str, float]
    rule: str = "maximum of the map scores"

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.score, 6),
            "rule": self.rule,
            "images": self.images,
            "by_timepoint": {k: round(v, 6) for k, v in self.by_timepoint.items()},
        }


def case_summary(
    analyses: Sequence[ImageAnalysis], timepoints: Sequence[str] = TIMEPOINTS
) -> CaseSummary:
    """Case-level scores: the maximum over all images, and per screening round.

    Images are matched to a round by their key's suffix (``..._prior``, ``..._recent``).

    Raises:
        ValueError: no image.
    """
    items = list(analyses)
    if not items:
        raise ValueError("a case summary needs at least one analysed image")
    rounds = {}
    for tp in timepoints:
        scores = [a.score for a in items if a.key.endswith(f"_{tp}")]
        if scores:
            rounds[tp] = case_score(scores)
    # Unrounded (as_dict rounds): a case decided at a threshold is decided as its images are.
    return CaseSummary(case_score(a.score for a in items), len(items), rounds)


@dataclass(frozen=True)
class OverlayMaps:
    """The map shown over each image, all on one scale.

    Attributes:
        maps: one [0, 1] map per image, at its model-input size.
        vmax: the raw value that 1.0 stands for (1.0 for probabilities).
        title: what the maps are (``P(calcification)`` or ``gradcam · target · layer``).
        relative: the maps are explanations scaled to their joint maximum.
    """

    maps: list[np.ndarray]
    vmax: float
    title: str
    relative: bool
    #: What a presentation made of these maps, by what it is (e.g. the viewer's quantised
    #: grids, :func:`mcalc.present.reading_overlays.overlay_grids`): made once, then
    #: shared; not part of the maps' equality.
    made: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)


@dataclass
class CaseAnalysis:
    """What :func:`analyse_case` found: the analysed images, in order, and those skipped."""

    images: list[ImageAnalysis]
    skipped: list[SkippedImage]
    threshold: DecisionThreshold
    settings: AnalysisSettings
    #: :meth:`overlay_maps` made, by what was asked (the page asks on every click).
    _overlays: dict[str, OverlayMaps] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def predicted(self, result: ImageAnalysis) -> str:
        """The image's decision: its positive class at or above the threshold, else ``not``
        and it (``not calcification``)."""
        return self.threshold.decide(result.score, result.scores.positive_class)

    def summary(self) -> CaseSummary | None:
        """The case score over the analysed images (``None``: none was)."""
        return case_summary(self.images) if self.images else None

    def cam_scale(self) -> float:
        """The maximum of every explanation: their one colour scale."""
        return joint_range([r.cam.heat for r in self.images if r.cam is not None])[1]

    def overlay_maps(self, show: str = "explanation") -> OverlayMaps:
        """The explanations (``show="explanation"``, when every image has one) on their
        joint scale, else the positive class's probability maps (made once per ``show``
        for these images, read-only)."""
        key = f"{show}|{[id(r) for r in self.images]}"
        held = self._overlays.get(key)
        if held is None:
            held = self._overlays[key] = self._overlay_maps(show)
            for m in held.maps:
                m.setflags(write=False)
        return held

    def made_overlays(self) -> list[OverlayMaps]:
        """The overlay maps :meth:`overlay_maps` made so far (and what was made of them):
        part of what keeping this analysis costs."""
        return list(self._overlays.values())

    def _overlay_maps(self, show: str) -> OverlayMaps:
        cams = [r.cam for r in self.images]
        if show == "explanation" and self.images and all(c is not None for c in cams):
            hi = self.cam_scale()
            first = self.images[0].cam
            assert first is not None
            title = f"{method_name(first.settings.method)} · {first.target} · {first.layer}"
            return OverlayMaps([c.normalized(hi) for c in cams if c is not None], hi, title, True)
        positive = self.images[0].pmap.positive if self.images else "positive"
        return OverlayMaps([r.pmap.dense() for r in self.images], 1.0, f"P({positive})", False)

    def image_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready summaries of the images, each with its decision and each region with
        whether the model calls it at the decision threshold (``called``: a region
        threshold lowered under it lists regions the model does not call)."""
        out = []
        for r in self.images:
            d = r.as_dict()
            for reg in d["regions"]:
                reg["called"] = self.threshold.calls(reg["score"])
            out.append({**d, "predicted": self.predicted(r)})
        return out


#: Errors that skip one image (the others are still analysed), by kind.
_SKIPPED: tuple[tuple[type[Exception], str], ...] = (
    (NoBreastRegionError, "no-breast"),
    (LayerError, "layer"),
    (ImageReadError, "unreadable"),
)


def analyse_case(
    loaded: LoadedModel,
    images: Sequence[ImageInput],
    settings: AnalysisSettings | None = None,
    progress: ProgressFn | None = None,
    *,
    explainer: Explainer | None = None,
    results: ResultsCache | None = None,
    image_cache: ImageCache | None = None,
    strict: bool = False,
) -> CaseAnalysis:
    """Run a model over images (a case's, or single files) and explain them.

    Args:
        loaded: the model.
        images: what to analyse, in the order shown.
        settings: sliding window, explanation and agreement tolerance.
        progress: called ``(done, total, "<image key>: <phase>: <message>")``.
        explainer: the model's shared explainer (one is built when needed and not given).
        results: the results cache (``None``: nothing cached).
        image_cache: the app's decoded-image cache (``None``: files are read directly).
        strict: raise the first image's error instead of skipping the image.

    Raises:
        ModelError: the model does not fit. With ``strict``: what an image raised.
    """
    settings = settings or AnalysisSettings()
    check_model_fits(loaded)
    if settings.cam is not None and explainer is None:
        explainer = Explainer.for_model(loaded)
    out = CaseAnalysis([], [], decision_threshold(loaded.card), settings)
    for k, item in enumerate(images):
        if progress is not None:  # also where a cancelled run stops between images
            progress(k, len(images), f"{item.key}: reading")
        try:
            temporal = _temporal_input(loaded, item, images, image_cache)
            mammo, mask, notes = read_input(item, image_cache)
            result = analyse_image(
                loaded,
                mammo,
                key=item.key,
                file_id=image_key(item.path, item.spacing_mm) if results is not None else None,
                explainer=explainer,
                sliding=settings.sliding,
                cam=settings.cam,
                annotation=mask,
                tolerance_mm=settings.tolerance_mm,
                cache=results,
                progress=phase(progress, item.key),
                annotation_kind=item.record.annotation_kind if item.record else "mask",
                temporal=temporal,
            )
        except tuple(error for error, _ in _skipped_kinds()) as exc:
            if strict:
                raise
            kind = next(k for error, k in _skipped_kinds() if isinstance(exc, error))
            log.info("%s skipped (%s): %s", item.key, kind, exc)
            out.skipped.append(SkippedImage(item.key, kind, exc))
            continue
        result.notes.extend(notes)
        out.images.append(result)
    return out


def _skipped_kinds() -> tuple[tuple[type[Exception], str], ...]:
    from mcalc.temporal import RegistrationError, TemporalError

    return (*_SKIPPED, (TemporalError, "no-prior"), (RegistrationError, "no-prior"))


def _temporal_input(
    loaded: LoadedModel,
    item: ImageInput,
    images: Sequence[ImageInput],
    image_cache: ImageCache | None,
) -> TemporalInput | None:
    """A temporal model's input for ``item`` (``None`` for other models).

    Raises:
        TemporalError: a single file, an image of the prior exam, or a case without the prior.
    """
    if not loaded.temporal:
        return None
    from mcalc.dataset.records import CaseRecord
    from mcalc.models.temporal_input import temporal_input_image, training_cache
    from mcalc.temporal import TemporalError

    rec = item.record
    if rec is None:
        raise TemporalError(
            f"{item.key}: model {loaded.model_id!r} is temporal and needs the prior exam "
            "registered to this image; a single file has none: open it from a dataset case"
        )
    if rec.timepoint != "recent":
        raise TemporalError(
            f"{item.key}: model {loaded.model_id!r} is temporal and reads recent images with "
            "their prior; an image of the prior exam has no earlier exam to subtract"
        )
    case = item.case
    if case is None:  # the other images of this analysis may hold the prior
        same = tuple(i.record for i in images if i.record and i.record.case_id == rec.case_id)
        case = CaseRecord(rec.case_id, rec.case_id, same)
    return temporal_input_image(image_cache or training_cache(), case, rec.view, loaded.spacing_mm)
