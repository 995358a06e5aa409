"""What a probability map adds up to: the map score, the case score, the top regions.

Documented rules, used by the CLI, the Predict page, batch runs and the evaluations:

- **Map score** (of an image): the highest value of the *positive class*'s dense
  probability map (:meth:`~mcalc.explain.sliding.ProbabilityMap.dense`, at the model-input
  size) inside the breast, 0 when no value there is above 0: the score of the image's top
  detection (:func:`mcalc.models.detection.find_detections` on the same map, ``valid`` the
  same breast mask; the map's maximum is a local maximum, and non-maximum suppression keeps
  the highest first). So, for any threshold above 0, an image's map score is at or above it
  exactly when at least one of its detections is: an image read as negative never shows a
  detection at or above the decision threshold, nor a positive one none. The positive class
  is the task's (:mod:`mcalc.models.tasks`). Until 5 December 2026
  (:data:`MAP_SCORE_VERSION` 1) it was the mean of the 3 highest probabilities at the
  sliding window's grid points (every half patch), while detections were the dense map's
  peaks between them too, so a negative image could show detections above the threshold
  (docs/measurements.md has both rules measured on the demo). It is not evaluation's image
  score (:mod:`mcalc.models.curves`: over sampled patches, not the whole map).
- **Case score**: the maximum of the map scores of the case's images (one view suffices
  to show a finding).
- **Decision**: a map score at or above the model's decision threshold
  (:func:`decision_threshold`) reads as the positive class.
- **Top regions**: greedy non-maximum suppression over the grid: the highest-scoring patch
  is kept, every patch overlapping it by more than ``nms_overlap`` (intersection over union)
  is dropped, and so on, down to ``min_region_score`` or ``max_regions`` regions. A finding
  inside several overlapping patches makes them all score alike (a plateau, often exactly
  equal near 1): the region's box is then centred on the plateau (the patches connected to
  the kept one scoring within :data:`PLATEAU_TOLERANCE` of it, where the finding lies in
  all of them), not left on its first patch in raster order, half a patch up and left.
  Regions are patches of the grid; the map score and the detections are the dense map's.

Example:
    >>> import numpy as np
    >>> dense = np.array([[0.1, 0.9], [0.5, 0.7]], np.float32)
    >>> map_score(dense), map_score(dense, np.array([[1, 0], [1, 1]], bool))
    (0.8999999761581421, 0.699999988079071)
    >>> decision_threshold(ModelCard.from_json({})).value
    0.5
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.sliding import ProbabilityMap, SlidingSettings
from mcalc.models.card import ModelCard
from mcalc.models.detection import probability_map

if TYPE_CHECKING:
    from mcalc.explain.grid import PatchGrid

__all__ = [
    "MAP_SCORE",
    "MAP_SCORE_RULE",
    "MAP_SCORE_VERSION",
    "DEFAULT_THRESHOLD",
    "PLATEAU_TOLERANCE",
    "MapScores",
    "DecisionThreshold",
    "Region",
    "map_score",
    "map_scores",
    "case_score",
    "decision_threshold",
    "top_regions",
]

#: The name of the sliding-window image score, wherever it is shown.
MAP_SCORE = "map score"
#: The map score's rule in words, shown beside every map score.
MAP_SCORE_RULE = (
    "highest value of the dense probability map in the breast, the top detection's score"
)
#: The map score rule's version, part of what a batch's rows were made with: 2, the dense
#: map's maximum in the breast (5 December 2026); 1, the mean of the top 3 grid patches.
MAP_SCORE_VERSION = 2
#: Decision threshold of a model whose card names none.
DEFAULT_THRESHOLD = 0.5
#: Patches scoring within this of a kept region's patch, and connected to it on the grid,
#: form its plateau (one finding): equal at the three decimals the tables show.
PLATEAU_TOLERANCE = 1e-3


def map_score(dense: np.ndarray, breast: np.ndarray | None = None) -> float:
    """The map score of one class's dense map (the module's rule): its maximum inside
    ``breast``, 0.0 when no value there is above 0.

    Computed as :func:`mcalc.models.detection.find_detections` scores its candidates (a
    float32 map compared in float32, values outside ``breast`` read as 0), so that it is
    exactly the score of the top detection found on the same map and mask.

    Args:
        dense: ``(H, W)`` probabilities (:meth:`ProbabilityMap.dense`).
        breast: ``(H, W)`` booleans, where the score may be taken (default: everywhere).

    Raises:
        ValueError: a map that is not 2-D or not finite, or a mask of another shape.
    """
    arr = probability_map(dense)
    if breast is not None:
        mask = np.asarray(breast, bool)
        if mask.shape != arr.shape:
            raise ValueError(
                f"breast mask {mask.shape} and map {arr.shape} differ in shape: pass the mask "
                "of the model-input image the map was made at"
            )
        arr = np.where(mask, arr, arr.dtype.type(0))
    if arr.size == 0:
        return 0.0
    top = float(arr.max())
    return top if top > 0 else 0.0


@dataclass(frozen=True)
class MapScores:
    """The map scores of one image.

    Attributes:
        score: the positive class's map score.
        positive_class: the task's positive class.
        classes: every class's map score, each by the same rule over that class's own
            dense map (so they need not sum to 1, as one position's do).
        rule: the rule in words (:data:`MAP_SCORE_RULE`).
        patches: number of patches classified.
    """

    score: float
    positive_class: str
    classes: dict[str, float]
    rule: str
    patches: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (``score`` is the map score; ``score_name`` says so), to 6 decimals
        (the decisions are taken on the unrounded scores)."""
        return {
            "score": round(self.score, 6),
            "score_name": MAP_SCORE,
            "positive_class": self.positive_class,
            "classes": {k: round(v, 6) for k, v in self.classes.items()},
            "rule": self.rule,
            "patches": self.patches,
        }


def map_scores(pmap: ProbabilityMap, breast: np.ndarray | None = None) -> MapScores:
    """The map scores of a probability map (the module's rule): the positive class's and
    every class's, each the maximum of that class's dense map inside ``breast``.

    Args:
        pmap: the probability map.
        breast: the breast mask of the model-input image (``pmap.unit_shape``), the one its
            detections are looked for in (default: the whole map).
    """
    per_class = {}
    for name in pmap.classes:
        # The positive class's dense map is the one the detections use (made once).
        dense = pmap.dense() if name == pmap.positive else pmap.dense(name)
        per_class[name] = map_score(dense, breast)
    return MapScores(
        score=per_class[pmap.positive],
        positive_class=pmap.positive,
        classes=per_class,
        rule=MAP_SCORE_RULE,
        patches=pmap.n_patches,
    )


@dataclass(frozen=True)
class DecisionThreshold:
    """The map score at and above which an image reads as the positive class.

    Attributes:
        value: the threshold.
        source: where it comes from, in words (shown beside every decision).
    """

    value: float
    source: str

    @property
    def is_default(self) -> bool:
        return self.source.startswith("default")

    def decide(self, score: float, positive_class: str) -> str:
        """``positive_class`` when ``score >= value``, else ``negative``."""
        return positive_class if score >= self.value else "negative"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


def decision_threshold(card: ModelCard) -> DecisionThreshold:
    """The decision threshold of a model: its card's, else :data:`DEFAULT_THRESHOLD`.

    A card names one as ``"decision_threshold": {"value": 0.42, "source": "Youden's J on
    the validation patches"}`` (or a bare number); anything else is the default, said so.
    """
    raw = card.extra.get("decision_threshold")
    value, source = raw, "the model card"
    if isinstance(raw, Mapping):
        value, source = raw.get("value"), str(raw.get("source") or source)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return DecisionThreshold(float(value), source)
    # Said after the value ("threshold 0.5 (default, ...)"): the value is not repeated.
    return DecisionThreshold(DEFAULT_THRESHOLD, "default, as the model card names none")


def case_score(scores: Iterable[float], rule: str = "max") -> float:
    """A case's score from its images' map scores: their maximum (or ``mean``).

    Raises:
        ValueError: no score, or an unknown rule.
    """
    values = [float(s) for s in scores]
    if not values:
        raise ValueError("a case score needs at least one map score")
    if rule == "max":
        return max(values)
    if rule == "mean":
        return float(np.mean(values))
    raise ValueError(f"unknown case rule {rule!r}; expected 'max' or 'mean'")


@dataclass(frozen=True)
class Region:
    """One of the top regions of a probability map.

    Attributes:
        rank: 1 for the highest score.
        score: the positive-class (or chosen class) probability of its patch.
        cell: (i, j) grid cell of the patch kept (the first of a plateau in raster order).
        center: (row, col) of the box centre in native (full-resolution) pixels.
        box: (r0, r1, c0, c1) in native pixels, clipped to the image: the patch's, moved
            to the centre of its plateau of equal scores when it has one.
        scores: every class's probability at that patch.
    """

    rank: int
    score: float
    cell: tuple[int, int]
    center: tuple[float, float]
    box: tuple[int, int, int, int]
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "cell": list(self.cell),
            "center": [round(v, 1) for v in self.center],
            "box": list(self.box),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }


def _iou(grid: PatchGrid, a: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """IoU of the patch at cell ``a`` with the patches at ``cells`` (same size patches)."""
    p, s = grid.patch, grid.stride
    dy = np.maximum(0, p - np.abs(cells[:, 0] - a[0]) * s)
    dx = np.maximum(0, p - np.abs(cells[:, 1] - a[1]) * s)
    inter = (dy * dx).astype(np.float64)
    return inter / (2.0 * p * p - inter)


def top_regions(
    pmap: ProbabilityMap,
    name: str | int | None = None,
    *,
    settings: SlidingSettings | None = None,
) -> list[Region]:
    """The best-scoring, non-overlapping patches of a map (greedy NMS over the grid), each
    box centred on its plateau of equal scores (the module's rule).

    Args:
        pmap: the probability map.
        name: the class ranked (default: the positive class).
        settings: ``max_regions``, ``min_region_score`` and ``nms_overlap``.
    """
    settings = settings or SlidingSettings()
    values = pmap.values(name)
    cells = np.argwhere(pmap.evaluated & (values >= settings.min_region_score))
    if len(cells) == 0 or settings.max_regions == 0:
        return []
    order = np.argsort(-values[cells[:, 0], cells[:, 1]], kind="stable")
    cells = cells[order]
    keep: list[tuple[np.ndarray, np.ndarray]] = []
    alive = np.ones(len(cells), bool)
    for n in range(len(cells)):
        if not alive[n]:
            continue
        plateau = _plateau(pmap.grid, values, cells, alive, n)
        shift = cells[plateau].mean(axis=0) - cells[n]  # in cells: 0 for a lone peak
        keep.append((cells[n], shift))
        if len(keep) >= settings.max_regions:
            break
        alive &= _iou(pmap.grid, cells[n] + shift, cells) <= settings.nms_overlap
        alive[plateau] = False
    return [
        _region(pmap, values, rank, int(c[0]), int(c[1]), shift)
        for rank, (c, shift) in enumerate(keep, start=1)
    ]


def _plateau(
    grid: PatchGrid, values: np.ndarray, cells: np.ndarray, alive: np.ndarray, n: int
) -> np.ndarray:
    """Indices into ``cells`` of ``cells[n]``'s plateau: the live cells scoring within
    :data:`PLATEAU_TOLERANCE` of it and 8-connected to it on the grid."""
    from scipy import ndimage

    i, j = cells[n]
    near = alive & (values[cells[:, 0], cells[:, 1]] >= values[i, j] - PLATEAU_TOLERANCE)
    grid_mask = np.zeros((grid.rows, grid.cols), bool)
    grid_mask[cells[near, 0], cells[near, 1]] = True
    labels, _ = ndimage.label(grid_mask, structure=np.ones((3, 3), bool))
    return np.flatnonzero(near & (labels[cells[:, 0], cells[:, 1]] == labels[i, j]))


def _region(
    pmap: ProbabilityMap,
    values: np.ndarray,
    rank: int,
    i: int,
    j: int,
    shift: np.ndarray | None = None,
) -> Region:
    """The :class:`Region` of grid cell ``(i, j)`` (its scores), in native pixels; its box
    and centre moved by ``shift`` cells (the plateau's centre), inside the image."""
    h, w = pmap.native_shape
    b0, b1, b2, b3 = pmap.grid.box(i, j)
    dr = dc = 0.0
    if shift is not None:
        uh, uw = pmap.grid.image_shape
        dr = float(np.clip(shift[0] * pmap.grid.stride, -b0, uh - b1))
        dc = float(np.clip(shift[1] * pmap.grid.stride, -b2, uw - b3))
    r0, r1, c0, c1 = b0 + dr, b1 + dr, b2 + dc, b3 + dc
    center = pmap.grid.centers()[i, j] + np.array([dr, dc])
    f = pmap.factor
    box = (
        max(0, math.floor(r0 / f)),
        min(h, math.ceil(r1 / f)),
        max(0, math.floor(c0 / f)),
        min(w, math.ceil(c1 / f)),
    )
    return Region(
        rank=rank,
        score=float(values[i, j]),
        cell=(i, j),
        center=pmap.to_native(float(center[0]), float(center[1])),
        box=box,
        scores={c: float(pmap.proba[i, j, k]) for k, c in enumerate(pmap.classes)},
    )
