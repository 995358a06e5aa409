"""One image end to end: probability map, map scores, regions, explanation, agreement.

:func:`analyse_image` is the per-image step of :func:`mcalc.explain.service.analyse_case`
(the one call of the CLI and the Predict page). Results are taken from a
:class:`~mcalc.explain.results.ResultsCache` when one is given.

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> result = analyse_image(loaded, mammogram, key="c/CC_recent",
    ...                        cam=CamSettings("gradcam"))  # doctest: +SKIP
    >>> result.score, [r.score for r in result.regions]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from mcalc.explain.cams import CamMap, CamSettings, explain_map
from mcalc.explain.channels import region_evidence
from mcalc.explain.explainer import Explainer
from mcalc.explain.map_agreement import DEFAULT_TOLERANCE_MM, MapAgreement, map_agreement
from mcalc.explain.results import NotCached, ResultsCache, model_key
from mcalc.explain.scoring import (
    REGION_RULE_VERSION,
    MapScores,
    Region,
    flat_map_note,
    map_scores,
    region_detections,
    top_regions,
)
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings, check_model_fits, predict_map
from mcalc.progress import ProgressFn, phase

if TYPE_CHECKING:
    from mcalc.imageio import Mammogram
    from mcalc.models.detection import Detection, DetectionSettings
    from mcalc.models.inference import LoadedModel
    from mcalc.models.temporal_input import TemporalInput

__all__ = ["ImageAnalysis", "analyse_image", "unit_spacing"]

T = TypeVar("T")


@dataclass
class ImageAnalysis:
    """Everything the model says about one image.

    Attributes:
        key: the image's name (``case/VIEW_time`` or a file name).
        pmap: the probability map.
        unit: the model-input image ([0, 1], model spacing).
        breast: the breast mask of ``unit``.
        spacing_mm: (row, col) spacing of ``unit``'s pixels.
        scores: the map scores (:func:`mcalc.explain.scoring.map_scores`): the positive
            class's is the top detection's score, whatever the detection settings.
        regions: the top regions (:func:`mcalc.explain.scoring.top_regions`): patches
            centred on the top detections, the first one's score the map score.
        cam: the full-image explanation, if one was asked for.
        marks: the annotated calcifications at ``unit``'s size, if any.
        agreement: the explanation against the marks.
        map_agreement: the probability map (positive class) against the marks.
        temporal: a temporal model's input (the registered pair, the subtraction and the
            model's channels; ``unit`` is then its recent channel).
        evidence: a temporal model's share of evidence per channel for each top region
            (:meth:`channel_evidence`); empty for other models.
    """

    key: str
    pmap: ProbabilityMap
    unit: np.ndarray
    breast: np.ndarray
    spacing_mm: tuple[float, float]
    scores: MapScores
    regions: list[Region]
    cam: CamMap | None = None
    marks: np.ndarray | None = None
    agreement: MapAgreement | None = None
    map_agreement: MapAgreement | None = None
    notes: list[str] = field(default_factory=list)
    temporal: TemporalInput | None = None
    evidence: list[dict[str, float]] = field(default_factory=list)

    @property
    def model_input(self) -> np.ndarray:
        """What the model was slid over: ``unit``, or a temporal model's channels."""
        return self.temporal.stack if self.temporal is not None else self.unit

    def channel_evidence(self, loaded: LoadedModel) -> list[dict[str, float]]:
        """Per top region, each input channel's share of a temporal model's evidence
        (:func:`mcalc.explain.channels.region_evidence`); empty for other models."""
        if self.temporal is None or not self.regions:
            return []
        origins = np.array([r.origin for r in self.regions], dtype=np.int64)
        return region_evidence(
            loaded, self.model_input, self.pmap.grid, origins, self.pmap.class_index(None)
        )

    @property
    def flat_note(self) -> str | None:
        """:func:`mcalc.explain.scoring.flat_map_note` of this image's map (the model gave
        every patch the same probability: its score, regions and explanation are no
        evidence), found once and kept on this result, for every place that says it."""
        held: dict[str, str | None] = vars(self).setdefault("_flat", {})
        if "note" not in held:
            held["note"] = flat_map_note(self.pmap)
        return held["note"]

    @property
    def all_notes(self) -> list[str]:
        """Every note on this image: its reading's, its map's (:attr:`flat_note` among them)
        and its explanation's (what the page, the CLI and ``scores.json`` show, one wording
        for all)."""
        flat = [] if self.flat_note is None else [self.flat_note]
        return [
            *self.notes,
            *self.pmap.notes,
            *flat,
            *([] if self.cam is None else self.cam.notes),
        ]

    @property
    def score(self) -> float:
        """The positive class's map score."""
        return float(self.scores.score)

    def detections(self, settings: DetectionSettings | None = None) -> list[Detection]:
        """The peaks of the positive class's map inside the breast
        (:func:`mcalc.models.detection.find_detections`), in model-input pixels, by
        decreasing score: what Predict marks, the detection evaluation counts and a batch
        row lists. Found once per settings (kept on this result, so that a background run
        can find them ahead of the page that draws them), and told without a search from
        those of other settings kept here when they hold them
        (:func:`mcalc.models.detection.narrow_detections`: the regions' detections give
        Predict's and a batch row's at the same or a higher threshold)."""
        from mcalc.models.detection import DetectionSettings, detections_for, narrow_detections

        det = settings or DetectionSettings()
        # Not a dataclass field: results pickled before it read as they are.
        found: dict[DetectionSettings, list[Detection]] = vars(self).setdefault("_found", {})
        held = found.get(det)
        if held is None:
            for other, dets in list(found.items()):
                held = narrow_detections(dets, other, det)
                if held is not None:
                    found[det] = held
                    break
        if held is None:
            held = found[det] = detections_for(self.pmap.dense(), self.spacing_mm, det, self.breast)
        return list(held)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        out: dict[str, Any] = {
            "image": self.key,
            **self.scores.as_dict(),
            "regions": [
                {**r.as_dict(), **({"evidence": self.evidence[i]} if self.evidence else {})}
                for i, r in enumerate(self.regions)
            ],
            "grid": {
                "patch": self.pmap.grid.patch,
                "stride": self.pmap.grid.stride,
                "rows": self.pmap.grid.rows,
                "cols": self.pmap.grid.cols,
            },
            "model_input_shape": list(self.pmap.unit_shape),
            "native_shape": list(self.pmap.native_shape),
            "factor": round(self.pmap.factor, 6),
            "seconds": round(self.pmap.seconds, 3),
            "annotated": self.marks is not None and bool(self.marks.any()),
            "map_agreement": None if self.map_agreement is None else self.map_agreement.as_dict(),
            "notes": self.all_notes,
        }
        if self.cam is not None:
            out["explanation"] = {
                "method": self.cam.settings.method,
                "layer": self.cam.layer,
                "target": self.cam.target,
                "scope": self.cam.settings.resolved_scope,
                "patches": len(self.cam.origins),
                "zero_map": not self.cam.heat.any(),
                "seconds": round(self.cam.seconds, 3),
                "agreement": None if self.agreement is None else self.agreement.as_dict(),
            }
        return out


def unit_spacing(mammogram: Mammogram, factor: float) -> tuple[float, float]:
    """(row, col) pixel spacing of the model-input image."""
    sr, sc = mammogram.pixel_spacing_mm
    return float(sr) / factor, float(sc) / factor


def _cached(
    cache: ResultsCache | None,
    file_id: str | None,
    kind: str,
    model: str,
    settings: str,
    compute: Callable[[], T],
    to_arrays: Callable[[T], dict[str, np.ndarray]],
    from_arrays: Callable[[dict[str, np.ndarray]], T],
) -> T:
    """``compute()`` through the results cache when there is one and the file is known."""
    if cache is None or file_id is None:
        return compute()
    return cache.get_or_compute(kind, model, file_id, settings, compute, to_arrays, from_arrays)


def _top_detection(result: ImageAnalysis, sliding: SlidingSettings) -> tuple[int, int] | None:
    """Where the map peaks by the detections' rule (its top detection, at the centre of the
    plateau holding its maximum; ``None``: nothing above 0): the regions' detections' first
    (already found), or a search for it alone where they hold none."""
    from mcalc.models.detection import DetectionSettings

    top = result.detections(region_detections(sliding))[:1]
    top = top or result.detections(DetectionSettings(max_detections=1))
    return (top[0].row, top[0].col) if top else None


def analyse_image(
    loaded: LoadedModel,
    mammogram: Mammogram,
    *,
    key: str,
    file_id: str | None = None,
    explainer: Explainer | None = None,
    sliding: SlidingSettings | None = None,
    cam: CamSettings | None = None,
    annotation: np.ndarray | None = None,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    cache: ResultsCache | None = None,
    progress: ProgressFn | None = None,
    annotation_kind: str = "mask",
    temporal: TemporalInput | None = None,
) -> ImageAnalysis:
    """Run a model over one mammogram and explain it.

    Args:
        loaded: the model.
        mammogram: the decoded image.
        key: the image's name in the results.
        file_id: the image file's cache key (:func:`mcalc.explain.results.image_key`);
            without it nothing is cached.
        explainer: the model's explainer (built here when ``cam`` is asked and none given;
            pass the shared one to reuse it).
        sliding: sliding-window and scoring settings.
        cam: the explanation to compute (``None``: none).
        annotation: the annotated calcification mask at native size, if any.
        tolerance_mm: dilation of the marks for the agreement figures.
        annotation_kind: ``region`` when ``annotation`` outlines areas holding
            calcifications (agreement then counts hits inside the region).
        cache: the results cache.
        progress: called ``(done, total, message)`` as patches are done.
        temporal: for a temporal model (``loaded.temporal``), ``mammogram``'s registered
            prior and the model's channels
            (:func:`mcalc.models.temporal_input.temporal_input_image`).

    Raises:
        ModelError: the model does not fit, or a temporal model without ``temporal``.
        NoBreastRegionError: no breast in the image.
        LayerError: bad explanation layer.
    """
    from mcalc.breast import breast_region
    from mcalc.models.inference import image_to_unit
    from mcalc.models.patches import resample_mask

    check_model_fits(loaded)
    sliding = sliding or SlidingSettings()
    mkey = model_key(loaded.card)
    # "breast-v2": the region leaves out the pectoral muscle of MLO views (older maps did not).
    map_settings = f"{sliding.map_key()}|{loaded.patch_size}|{loaded.spacing_mm}|breast-v2"
    if temporal is not None and loaded.temporal:
        map_settings += f"|prior {temporal.prior_key}"
    if (
        cache is not None
        and file_id is not None
        and not cache.computes
        and not (loaded.temporal and temporal is None)  # that is a ModelError, below
        and not cache.holds("map", mkey, file_id, map_settings)
    ):
        # A lookup (Predict's, before it starts a run) that cannot succeed: said before
        # the model-input image and the breast region are made (15-50 ms an image on the
        # 2-core machine, in the script run that starts the run).
        raise NotCached(f"map of {file_id} by {mkey} is not cached")
    if loaded.temporal and temporal is not None:
        model_in, factor = temporal.stack, temporal.factor
        unit = temporal.recent
    else:
        unit, factor = image_to_unit(mammogram, loaded)  # a temporal model: ModelError
        model_in = unit
    breast = breast_region(unit, mammogram.view)  # MLO: without the pectoral muscle

    def compute() -> ProbabilityMap:
        _starting(progress, "probability map")
        return predict_map(
            loaded,
            model_in,
            settings=sliding,
            breast=breast,
            factor=factor,
            native_shape=mammogram.shape,
            progress=phase(progress, "probability map"),
        )

    pmap = _cached(
        cache,
        file_id,
        "map",
        mkey,
        map_settings,
        compute,
        ProbabilityMap.to_arrays,
        ProbabilityMap.from_arrays,
    )
    # A report after the map, where stopped work ends: the scores, regions and map
    # agreement below take 50-500 ms an image on the 2-core machine, which a reader's run
    # waited for when its choice stopped an analysis ahead there.
    _starting(progress, "regions")
    spacing = unit_spacing(mammogram, factor)
    marks = None
    if annotation is not None:
        marks = resample_mask(np.asarray(annotation, bool), pmap.unit_shape)
    result = ImageAnalysis(
        key=key,
        pmap=pmap,
        unit=unit,
        breast=breast,
        spacing_mm=spacing,
        scores=map_scores(pmap, breast),  # the breast the detections are looked for in
        regions=[],
        marks=marks,
        temporal=temporal if loaded.temporal else None,
    )
    # From the detections kept on the result (Predict draws the same; a batch row lists them).
    result.regions = top_regions(pmap, spacing, breast, settings=sliding, find=result.detections)
    # Which input (recent, subtraction) a temporal model's evidence came from.
    result.evidence = result.channel_evidence(loaded)
    result.map_agreement = map_agreement(
        pmap.dense(),
        marks,
        spacing,
        tolerance_mm,
        region=breast,
        annotation_kind=annotation_kind,
        peak=_top_detection(result, sliding),
    )
    if cam is not None:
        xp = explainer or Explainer.for_model(loaded)
        result.cam = _explanation(xp, result, cam, sliding, (cache, file_id, mkey), progress)
        # A map of 0.0 everywhere (nothing explained, or a ReLU that removed everything:
        # its note says which) has no energy to share and no peak: no agreement figures.
        if result.cam.heat.any():
            result.agreement = map_agreement(
                result.cam.heat,
                marks,
                spacing,
                tolerance_mm,
                region=breast,
                annotation_kind=annotation_kind,
            )
    return result


def _starting(progress: ProgressFn | None, what: str) -> None:
    """Report that ``what`` starts: where cancelled work stops before it (the work between
    two reports is what a run waiting for an analysis ahead to stop waits for)."""
    if progress is not None:
        progress(0, 1, f"{what}: starting")


def _explanation(
    explainer: Explainer,
    result: ImageAnalysis,
    cam: CamSettings,
    sliding: SlidingSettings,
    cached: tuple[ResultsCache | None, str | None, str],
    progress: ProgressFn | None,
) -> CamMap:
    """The full-image explanation of an analysed image (through the results cache)."""
    cache, file_id, mkey = cached
    layer = cam.layer or explainer.default_layer()
    target = cam.target or result.pmap.positive
    patch = result.pmap.grid.patch

    def compute() -> CamMap:
        _starting(progress, cam.method)
        return explain_map(
            explainer,
            result.model_input,
            result.pmap,
            cam,
            sliding=sliding,
            spacing_mm=result.spacing_mm,
            breast=result.breast,
            progress=phase(progress, cam.method),
        )

    return _cached(
        cache,
        file_id,
        "cam",
        mkey,
        # "regions-v2": regions centred on the detections, patches named by their corners;
        # "notes-v2": a map zero everywhere carries a note saying why.
        f"{cam.key()}|{layer}|{target}|{sliding.as_dict()}|{patch}|regions-v{REGION_RULE_VERSION}"
        + "|notes-v2"
        + (f"|prior {result.temporal.prior_key}" if result.temporal is not None else ""),
        compute,
        CamMap.to_arrays,
        CamMap.from_arrays,
    )
