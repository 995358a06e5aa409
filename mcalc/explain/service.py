"""One image end to end: probability map, scores, regions, explanation, agreement.

The CLI (``python -m mcalc predict``) and the Predict page both go through
:func:`analyse_image`, so they show the same numbers for the same settings; results are
taken from a :class:`~mcalc.explain.results.ResultsCache` when one is given.

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> result = analyse_image(loaded, mammogram, key="c/CC_recent",
    ...                        cam=CamSettings("gradcam"))  # doctest: +SKIP
    >>> result.scores["score"], [r.score for r in result.regions]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.cams import CamMap, CamSettings, Explainer, explain_map
from mcalc.explain.map_agreement import DEFAULT_TOLERANCE_MM, MapAgreement, map_agreement
from mcalc.explain.results import ResultsCache, model_key
from mcalc.explain.sliding import (
    ProbabilityMap,
    ProgressFn,
    Region,
    SlidingSettings,
    case_score,
    check_model_fits,
    image_scores,
    predict_map,
    top_regions,
)
from mcalc.progress import phase

if TYPE_CHECKING:
    from mcalc.imageio import Mammogram
    from mcalc.models.inference import LoadedModel

__all__ = ["ImageAnalysis", "analyse_image", "case_summary", "unit_spacing"]

log = logging.getLogger(__name__)


@dataclass
class ImageAnalysis:
    """Everything the model says about one image.

    Attributes:
        key: the image's name (``case/VIEW_time`` or a file name).
        pmap: the probability map.
        unit: the model-input image ([0, 1], model spacing).
        breast: the breast mask of ``unit``.
        spacing_mm: (row, col) spacing of ``unit``'s pixels.
        scores: image-level scores (:func:`mcalc.explain.sliding.image_scores`).
        regions: the top regions.
        cam: the full-image explanation, if one was asked for.
        marks: the annotated calcifications at ``unit``'s size, if any.
        agreement: the explanation against the marks.
        map_agreement: the probability map (positive class) against the marks.
    """

    key: str
    pmap: ProbabilityMap
    unit: np.ndarray
    breast: np.ndarray
    spacing_mm: tuple[float, float]
    scores: dict[str, Any]
    regions: list[Region]
    cam: CamMap | None = None
    marks: np.ndarray | None = None
    agreement: MapAgreement | None = None
    map_agreement: MapAgreement | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        return float(self.scores["score"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        out: dict[str, Any] = {
            "image": self.key,
            **self.scores,
            "regions": [r.as_dict() for r in self.regions],
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
            "notes": self.notes,
        }
        if self.cam is not None:
            out["explanation"] = {
                "method": self.cam.settings.method,
                "layer": self.cam.layer,
                "target": self.cam.target,
                "scope": self.cam.settings.resolved_scope,
                "patches": len(self.cam.cells),
                "seconds": round(self.cam.seconds, 3),
                "agreement": None if self.agreement is None else self.agreement.as_dict(),
            }
        return out


def unit_spacing(mammogram: Mammogram, factor: float) -> tuple[float, float]:
    """(row, col) pixel spacing of the model-input image."""
    sr, sc = mammogram.pixel_spacing_mm
    return float(sr) / factor, float(sc) / factor


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
        sliding: sliding-window and aggregation settings.
        cam: the explanation to compute (``None``: none).
        annotation: the annotated calcification mask at native size, if any.
        tolerance_mm: dilation of the marks for the agreement figures.
        cache: the results cache.
        progress: called ``(done, total, message)`` as patches are done.

    Raises:
        ModelError: the model does not fit. NoBreastRegionError: no breast in the image.
        LayerError: bad explanation layer.
    """
    from mcalc.breast import breast_mask
    from mcalc.models.inference import image_to_unit
    from mcalc.models.patches import resample_mask

    check_model_fits(loaded)
    sliding = sliding or SlidingSettings()
    unit, factor = image_to_unit(mammogram, loaded)
    breast = breast_mask(unit)
    use_cache = cache is not None and file_id is not None
    mkey = model_key(loaded.card)

    def compute_map() -> ProbabilityMap:
        return predict_map(
            loaded,
            unit,
            settings=sliding,
            breast=breast,
            factor=factor,
            native_shape=mammogram.shape,
            progress=phase(progress, "probability map"),
        )

    if use_cache:
        pmap = cache.get_or_compute(  # type: ignore[union-attr]
            "map",
            mkey,
            file_id,  # type: ignore[arg-type]
            f"{sliding.map_key()}|{loaded.patch_size}|{loaded.spacing_mm}",
            compute_map,
            ProbabilityMap.to_arrays,
            ProbabilityMap.from_arrays,
        )
    else:
        pmap = compute_map()
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
        scores=image_scores(pmap, sliding),
        regions=top_regions(pmap, settings=sliding),
        marks=marks,
    )
    result.map_agreement = map_agreement(pmap.dense(), marks, spacing, tolerance_mm, region=breast)
    if cam is None:
        return result
    explainer = explainer or Explainer(loaded.model, loaded.card.architecture)

    def compute_cam() -> CamMap:
        return explain_map(
            explainer, unit, pmap, cam, sliding=sliding, progress=phase(progress, cam.method)
        )

    if use_cache:
        layer = cam.layer or explainer.default_layer()
        target = cam.target or pmap.positive
        result.cam = cache.get_or_compute(  # type: ignore[union-attr]
            "cam",
            mkey,
            file_id,  # type: ignore[arg-type]
            f"{cam.key()}|{layer}|{target}|{sliding.as_dict()}|{loaded.patch_size}",
            compute_cam,
            CamMap.to_arrays,
            CamMap.from_arrays,
        )
    else:
        result.cam = compute_cam()
    result.agreement = map_agreement(result.cam.heat, marks, spacing, tolerance_mm, region=breast)
    return result


def case_summary(
    analyses: Iterable[ImageAnalysis], timepoints: Sequence[str] = ("prior", "recent")
) -> dict[str, Any]:
    """Case-level scores: the maximum over all images, and per screening round.

    Images are matched to a round by their key's suffix (``..._prior``, ``..._recent``).
    """
    items = list(analyses)
    if not items:
        raise ValueError("a case summary needs at least one analysed image")
    out: dict[str, Any] = {
        "score": round(case_score(a.score for a in items), 6),
        "rule": "maximum of the image scores",
        "images": len(items),
    }
    rounds = {}
    for tp in timepoints:
        scores = [a.score for a in items if a.key.endswith(f"_{tp}")]
        if scores:
            rounds[tp] = round(case_score(scores), 6)
    out["by_timepoint"] = rounds
    return out
