"""Full-image class activation maps: which patches to explain, and their stitched map.

The patch maps come from an :class:`~mcalc.explain.explainer.Explainer` (tf-keras-vis);
the full-image map (:func:`explain_map`) is the mean of the overlapping patch maps under a
tapering window (:func:`~mcalc.explain.stitch.stitch`), each patch's map multiplied by its
probability of the explained class (``weighting="probability"``), so that tissue the model
calls negative stays dark instead of showing what would raise a score it does not give.

Example:
    >>> explainer = Explainer(loaded.model, "custom")  # doctest: +SKIP
    >>> cam = explain_map(explainer, unit, pmap, CamSettings("gradcam"),
    ...                   spacing_mm=(0.1, 0.1), breast=breast)  # doctest: +SKIP
    >>> cam.normalized().max()  # doctest: +SKIP
    1.0
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from mcalc.explain.errors import ExplainError
from mcalc.explain.explainer import CAM_METHODS, Explainer
from mcalc.explain.grid import pad_to_grid, patches_at
from mcalc.explain.methods import method_name
from mcalc.explain.scoring import top_regions
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings
from mcalc.explain.stitch import normalize_map, stitch
from mcalc.plural import counted
from mcalc.progress import ProgressFn

__all__ = [
    "SCOPES",
    "WEIGHTINGS",
    "CamSettings",
    "CamMap",
    "patches_for_scope",
    "explain_map",
    "zero_map_note",
]

#: Which patches a full-image map is stitched from (``auto``: ``breast`` for the gradient
#: methods; for Score-CAM, which costs one forward pass per channel, ``listed``: the top
#: regions as listed, at or above the region threshold, none on an image without one).
#: A region's patch is the one centred on its detection (:class:`~mcalc.explain.scoring.Region`).
SCOPES: tuple[str, ...] = ("auto", "regions", "breast")
#: How patch maps are weighted when stitched: by the patch's probability of the explained
#: class (patches the model calls negative stay dark), or not at all.
WEIGHTINGS: tuple[str, ...] = ("probability", "none")


@dataclass(frozen=True)
class CamSettings:
    """Which explanation to compute.

    Attributes:
        method: one of :data:`CAM_METHODS`.
        layer: layer explained (``None``: :func:`default_layer`).
        target: class explained, by name (``None``: the positive class).
        scope: patches stitched into the full-image map (:data:`SCOPES`).
        batch: patches per explanation call.
        scorecam_max_n: Score-CAM uses at most this many channels (those of largest
            spatial variance); ``None``: every channel.
        weighting: patch maps are multiplied by their probability of the target class
            before stitching (``probability``, default) or not (``none``).
    """

    method: str = "gradcam"
    layer: str | None = None
    target: str | None = None
    scope: str = "auto"
    batch: int = 32
    scorecam_max_n: int | None = 64
    weighting: str = "probability"

    def __post_init__(self) -> None:
        if self.method not in CAM_METHODS:
            raise ValueError(
                f"unknown explanation method {self.method!r}; expected one of "
                f"{', '.join(CAM_METHODS)}"
            )
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; expected one of {', '.join(SCOPES)}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"unknown weighting {self.weighting!r}; expected one of {', '.join(WEIGHTINGS)}"
            )
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.scorecam_max_n is not None and self.scorecam_max_n < 1:
            raise ValueError(f"scorecam_max_n must be >= 1 or None, got {self.scorecam_max_n}")

    @property
    def resolved_scope(self) -> str:
        """The scope explained: ``breast``, ``regions`` or, for Score-CAM's ``auto``,
        ``listed`` (:func:`patches_for_scope`)."""
        if self.scope != "auto":
            return self.scope
        return "listed" if self.method == "scorecam" else "breast"

    def key(self) -> str:
        """A stable text of the settings, for cache keys."""
        return json.dumps({**asdict(self), "scope": self.resolved_scope}, sort_keys=True)


@dataclass
class CamMap:
    """A full-image explanation stitched from patch maps (model-input pixels).

    Attributes:
        heat: raw map (non-negative, finite), on the probability map's grid image.
        settings: what was computed (method, layer, target, scope).
        layer: the layer actually explained.
        target: the class explained.
        origins: ``(N, 2)`` top-left corners (row, col, model-input pixels) of the patches
            whose maps were stitched: grid patches, or the regions' patches.
        seconds: time taken.
    """

    heat: np.ndarray
    settings: CamSettings
    layer: str
    target: str
    origins: np.ndarray
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def normalized(self, vmax: float | None = None) -> np.ndarray:
        """The map in [0, 1] (``vmax``: a shared maximum, see :func:`joint_range`)."""
        return normalize_map(self.heat, 0.0, vmax)

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {
            "settings": asdict(self.settings),
            "layer": self.layer,
            "target": self.target,
            "seconds": self.seconds,
            "notes": self.notes,
        }
        return {"heat": self.heat, "origins": self.origins, "meta": np.array(json.dumps(meta))}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CamMap:
        meta = json.loads(str(arrays["meta"]))
        return cls(
            heat=np.asarray(arrays["heat"], np.float32),
            settings=CamSettings(**meta["settings"]),
            layer=str(meta["layer"]),
            target=str(meta["target"]),
            origins=np.asarray(arrays["origins"], np.int64).reshape(-1, 2),
            seconds=float(meta["seconds"]),
            notes=list(meta.get("notes", [])),
        )


def zero_map_note(method: str, target: str, layer: str, *, patch_maps_zero: bool) -> str:
    """What a full-image map that is zero everywhere means (its patches were explained).

    ``patch_maps_zero``: every patch map is zero (the method's own last ReLU removed every
    location); else the maps were zeroed by their patches' probability of ``target``.
    """
    name = method_name(method)
    if not patch_maps_zero:
        return (
            f"{name}: the map is zero everywhere: every patch explained has probability 0 of "
            f"{target}, which weighs its map"
        )
    if method == "gradcam":
        why = (
            "the ReLU of the channels' gradient-weighted sum removes every contribution (at "
            "this layer the class's evidence is negative throughout)"
        )
        instead = "Grad-CAM++, Score-CAM or another layer"
    else:
        why = "its last ReLU removes every contribution"
        instead = "another method or layer"
    return (
        f"{name}: the map is zero everywhere for class {target} at layer {layer}: {why}; it "
        f"says nothing about where the model looks: try {instead}"
    )


def patches_for_scope(
    pmap: ProbabilityMap,
    scope: str,
    *,
    spacing_mm: tuple[float, float] | None = None,
    breast: np.ndarray | None = None,
    target: str | None = None,
    sliding: SlidingSettings | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The patches to explain: ``(origins (N, 2), probabilities (N,))``, their top-left
    corners in model-input pixels and their probability of class ``target``.

    ``breast``: every evaluated patch of the grid (its probability: the model's for it).
    ``regions``: the top regions' patches whatever their score (the best ``max_regions``,
    so that a normal image is explained too); ``listed``: the top regions as listed (those
    at or above ``min_region_score`` only; none on an image without one). A region's patch
    is centred on its detection, its probability the detection's score
    (:func:`mcalc.explain.scoring.top_regions`, over ``target``'s map inside ``breast``).

    Raises:
        ValueError: an unknown scope, or a regions scope without ``spacing_mm``.
    """
    k = pmap.class_index(target)
    if scope == "breast":
        cells = np.argwhere(pmap.evaluated)
        return cells * pmap.grid.stride, pmap.proba[cells[:, 0], cells[:, 1], k]
    if scope not in ("regions", "listed"):
        raise ValueError(f"scope must be 'breast', 'regions' or 'listed', got {scope!r}")
    if spacing_mm is None:
        raise ValueError(
            f"the {scope!r} scope explains the top regions, found at the image's pixel "
            "spacing: pass spacing_mm (the model-input image's, in mm)"
        )
    settings = sliding or SlidingSettings()
    if scope == "regions":
        settings = replace(settings, min_region_score=0.0)
    regions = top_regions(pmap, spacing_mm, breast, settings=settings, name=k)
    origins = np.array([r.origin for r in regions], dtype=np.int64).reshape(-1, 2)
    return origins, np.array([r.score for r in regions], dtype=np.float32)


def explain_map(
    explainer: Explainer,
    unit: np.ndarray,
    pmap: ProbabilityMap,
    settings: CamSettings | None = None,
    *,
    sliding: SlidingSettings | None = None,
    spacing_mm: tuple[float, float] | None = None,
    breast: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> CamMap:
    """Explain the patches of an image and stitch their maps into a full-image map.

    Args:
        explainer: the model's :class:`Explainer`.
        unit: the model-input image the probability map was computed on.
        pmap: its probability map (grid, evaluated patches, classes).
        settings: method, layer, target class and scope.
        sliding: the sliding settings (the regions' number and threshold).
        spacing_mm: (row, col) pixel spacing of ``unit`` in mm, where the regions scopes
            find the top regions.
        breast: the breast mask of ``unit`` (the regions' detections lie in it).
        progress: called ``(done, total, message)`` after each batch.

    Raises:
        LayerError: bad layer. ExplainError: the image is not the map's.
        ValueError: a regions scope without ``spacing_mm``.
    """
    settings = settings or CamSettings()
    img = np.asarray(unit, dtype=np.float32)
    if img.shape[:2] != pmap.unit_shape:
        raise ExplainError(
            f"image of shape {img.shape} is not the one of the probability map "
            f"({pmap.unit_shape}): pass the model-input image it was computed on"
        )
    target = settings.target or pmap.positive
    class_index = pmap.class_index(target)
    layer = settings.layer or explainer.default_layer()
    explainer.checked_layer(layer)
    origins, probs = patches_for_scope(
        pmap,
        settings.resolved_scope,
        spacing_mm=spacing_mm,
        breast=breast,
        target=target,
        sliding=sliding,
    )
    start = time.perf_counter()
    patches = patches_at(pad_to_grid(img, pmap.grid), origins, pmap.grid.patch)
    cams = explainer.explain_patches(
        patches,
        settings.method,
        class_index,
        layer,
        batch=settings.batch,
        scorecam_max_n=settings.scorecam_max_n,
        progress=progress,
    )
    weights = probs if settings.weighting == "probability" else None
    heat = stitch(cams, origins, pmap.grid, weights)
    notes = []
    if len(origins) == 0 and settings.resolved_scope == "listed":
        least = (sliding or SlidingSettings()).min_region_score
        notes.append(
            f"{method_name(settings.method)}: no region scores {least:.2f} or more, so none was explained "
            "(Explain: the top regions, or the whole breast, explains this image anyway)"
        )
    elif len(origins) == 0:
        notes.append("no patch to explain")
    elif settings.resolved_scope == "listed":
        least = (sliding or SlidingSettings()).min_region_score
        notes.append(
            f"{method_name(settings.method)}: explained the {counted(len(origins), 'listed region')}, those scoring "
            f"{least:.2f} or more"
        )
    if len(origins) and not heat.any():
        notes.append(zero_map_note(settings.method, target, layer, patch_maps_zero=not cams.any()))
    return CamMap(
        heat=heat,
        settings=settings,
        layer=layer,
        target=target,
        origins=origins,
        seconds=time.perf_counter() - start,
        notes=notes,
    )
