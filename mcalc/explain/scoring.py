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
- **Top regions**: model patches centred on the image's top detections, each scoring its
  detection's score (:func:`regions_from_detections`; a detection standing for a plateau
  of the map stands at its centre): the detections of the same dense map in the
  same breast (:func:`top_regions`), by decreasing score, down to ``min_region_score``,
  as many as the regions need (no cap of detections); a detection whose patch overlaps a
  kept region's by more than ``nms_overlap`` (intersection over union) is left to that
  region; at most ``max_regions``. The first region is the top detection, its score the
  map score: when ``min_region_score`` is at most the decision threshold (both 0.5 by
  default) and ``max_regions`` at least 1, an image reads positive exactly when it lists a
  region scoring at or above the threshold (for any threshold above 0). Until 5 December 2026
  (:data:`REGION_RULE_VERSION` 1) regions were the best patches of the sliding window's
  grid (non-maximum suppression over the grid points), so a positive image could list
  none (demo normal-4 CC prior: map score 0.69, no region) and a region's score was not a
  detection's; until version 3 they came from the top 100 detections only, so a map whose
  first 100 fell in fewer than ``max_regions`` regions listed too few.

Example:
    >>> import numpy as np
    >>> dense = np.array([[0.1, 0.9], [0.5, 0.7]], np.float32)
    >>> map_score(dense), map_score(dense, np.array([[1, 0], [1, 1]], bool))
    (0.8999999761581421, 0.699999988079071)
    >>> decision_threshold(ModelCard.from_json({})).value
    0.5
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mcalc.explain.grid import centred_origin
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings
from mcalc.models.card import ModelCard
from mcalc.models.detection import (
    Detection,
    DetectionSettings,
    detections_for,
    probability_map,
)

__all__ = [
    "MAP_SCORE",
    "MAP_SCORE_RULE",
    "MAP_SCORE_VERSION",
    "REGION_RULE_VERSION",
    "DEFAULT_THRESHOLD",
    "MapScores",
    "DecisionThreshold",
    "Region",
    "map_score",
    "map_scores",
    "case_score",
    "decision_threshold",
    "decision_text",
    "threshold_label",
    "LEGACY_BELOW",
    "called",
    "region_detections",
    "regions_from_detections",
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
#: The top regions' rule's version, part of what a batch's rows and a saved verdict were
#: made with: 3, from as many detections as the regions need; 2, patches centred on the
#: top detections, the top 100 only (5 December 2026); 1, the best patches of the grid.
REGION_RULE_VERSION = 3


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


#: Below this spread of logits between the least and the most likely patch, a map is flat:
#: the model does not tell one place from another. Measured on the demo (7 December 2026):
#: an EfficientNet-B0 trained two steps spread 0 (every patch 0.500473), a custom CNN one
#: epoch in 0.02, the shipped model 13.7-25.7.
FLAT_LOGIT_SPAN = 1e-3


def flat_map_note(pmap: ProbabilityMap) -> str | None:
    """A note when the model gave every evaluated patch the same probability of the
    positive class (a logit spread below :data:`FLAT_LOGIT_SPAN`): its regions are then
    ordered by noise and an explanation, drawn against its own maximum, shows no evidence.
    ``None`` for a map that varies, or with fewer than two patches."""
    p = pmap.proba[..., pmap.class_index(None)][pmap.evaluated].astype(np.float64)
    if p.size < 2:
        return None
    q = np.clip(p, 1e-12, 1.0 - 1e-12)
    logit = np.log(q) - np.log1p(-q)
    if float(logit.max() - logit.min()) >= FLAT_LOGIT_SPAN:
        return None
    return (
        f"the model gives every one of the {p.size} patches the same probability of "
        f"{pmap.positive} ({float(p.mean()):.3f}): it does not tell one place from another "
        "in this image, so its regions' order and any explanation (drawn against its own "
        "maximum) show noise, not evidence; an untrained or collapsed model reads so (check "
        "its card's validation figures, or train it longer)"
    )


def threshold_label(value: float) -> str:
    """A decision threshold as shown beside scores: 2 decimals when that is exact, else 4
    (6 significant digits where 4 would print 0 or 1): a threshold chosen on validation
    scores (0.99467) shown as 0.99 read as if a score of 0.992 were above it.

    >>> threshold_label(0.5), threshold_label(0.99467), threshold_label(0.9999731)
    ('0.50', '0.9947', '0.999973')
    """
    text = f"{value:.2f}"
    if abs(float(text) - value) < 5e-7:
        return text
    text = f"{value:.4f}"
    if text in ("0.0000", "1.0000") and value not in (0.0, 1.0):
        return f"{value:.6g}"
    return text


def called(score: float, threshold: float) -> bool:
    """Whether the model calls ``score`` at ``threshold``: at or above it. The one place of
    that rule (a decision, a region, a detection), which every reader of scores asks.

    >>> called(0.5, 0.5), called(0.4999, 0.5)
    (True, False)
    """
    return float(score) >= float(threshold)


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

    @property
    def text(self) -> str:
        """The value as shown (:func:`threshold_label`)."""
        return threshold_label(self.value)

    def calls(self, score: float) -> bool:
        """Whether ``score`` is at or above the threshold (:func:`called`)."""
        return called(score, self.value)

    def decide(self, score: float, positive_class: str) -> str:
        """``positive_class`` when ``score >= value``, else ``not`` and it: both sides in
        the class's words (below read "negative" beside "calcification" above, until 7
        December 2026: :func:`decision_text` reads those).

        >>> DecisionThreshold(0.5, "default").decide(0.2, "calcification")
        'not calcification'
        """
        return positive_class if self.calls(score) else f"not {positive_class}"

    def reading(self, score: float, positive_class: str) -> str:
        """The decision on ``score`` in a reader's words, with the threshold it was made at
        (a bare "negative" said nothing of what was below what).

        >>> t = DecisionThreshold(0.5, "default, as the model card names none")
        >>> t.reading(0.26, "calcification")
        "below the model's operating threshold (0.50): not read as calcification"
        >>> t.reading(0.5, "calcification")
        "at or above the model's operating threshold (0.50): read as calcification"
        """
        where = "at or above" if self.calls(score) else "below"
        what = "read as" if self.calls(score) else "not read as"
        return f"{where} the model's operating threshold ({self.text}): {what} {positive_class}"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source}


#: A decision below the threshold as results and verdicts stored it until 7 December 2026.
LEGACY_BELOW = "negative"


def decision_text(stored: str, positive_class: str) -> str:
    """A stored decision in today's words (:meth:`DecisionThreshold.decide`): the
    ``negative`` of results written before 7 December 2026 reads ``not`` and the positive
    class when that is known; anything else as it is.

    >>> decision_text("negative", "calcification"), decision_text("calcification", "calcification")
    ('not calcification', 'calcification')
    """
    if stored == LEGACY_BELOW and positive_class:
        return f"not {positive_class}"
    return stored


def decision_threshold(card: ModelCard) -> DecisionThreshold:
    """The decision threshold of a model: its card's, else :data:`DEFAULT_THRESHOLD`.

    A card names one as ``"decision_threshold": {"value": 0.42, "source": "Youden's J on
    the validation patches"}`` (or a bare number); anything else is the default, said so.
    """
    section = card.decision_threshold
    raw = section.to_json() if section is not None else card.extra.get("decision_threshold")
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
    """One of the top regions of an image: a model patch centred on one of its top
    detections (the module's rule).

    Attributes:
        rank: 1 for the highest score.
        score: the detection's score (the dense map's value at its peak).
        center: (row, col) of the detection in native (full-resolution) pixels.
        box: (r0, r1, c0, c1) of the patch in native pixels, clipped to the image.
        origin: (row, col) of the patch's top-left corner in model-input pixels: the patch
            the model and the explanations read, centred on the detection and moved inside
            the image where the detection is nearer its edge than half a patch.
        scores: every class's dense-map value at the detection.
    """

    rank: int
    score: float
    center: tuple[float, float]
    box: tuple[int, int, int, int]
    origin: tuple[int, int]
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "center": [round(v, 1) for v in self.center],
            "box": list(self.box),
            "origin": list(self.origin),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Region:
        """A region from :meth:`as_dict` (a batch row's ``top_regions``).

        Raises:
            ValueError: a field missing or of the wrong form.
        """
        try:
            r0, r1, c0, c1 = (int(v) for v in raw["box"])
            row, col = (float(v) for v in raw["center"])
            oy, ox = (int(v) for v in raw.get("origin") or (0, 0))
            return cls(
                rank=int(raw["rank"]),
                score=float(raw["score"]),
                center=(row, col),
                box=(r0, r1, c0, c1),
                origin=(oy, ox),
                scores={str(k): float(v) for k, v in (raw.get("scores") or {}).items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"malformed region {raw!r}: {exc!r}") from exc


def _iou(a: tuple[int, int], b: tuple[int, int], patch: int) -> float:
    """IoU of two ``patch``-sided squares with top-left corners ``a`` and ``b``."""
    dy = max(0, patch - abs(a[0] - b[0]))
    dx = max(0, patch - abs(a[1] - b[1]))
    inter = float(dy * dx)
    return inter / (2.0 * patch * patch - inter)


def regions_from_detections(
    detections: Sequence[Detection],
    pmap: ProbabilityMap,
    settings: SlidingSettings | None = None,
    name: str | int | None = None,
    *,
    breast: np.ndarray | None = None,
) -> list[Region]:
    """The top regions of an image from its detections (the module's rule): by decreasing
    score, each detection scoring at least ``min_region_score`` gives a region, a model
    patch centred on it (:func:`~mcalc.explain.grid.centred_origin`), unless that patch
    overlaps a region already kept by more than ``nms_overlap`` (intersection over union),
    up to ``max_regions``. A detection standing for a plateau (a finding inside several
    patches saturates them alike) stands at the plateau's centre already.

    Args:
        detections: the peaks of class ``name``'s dense map at the model-input size
            (:func:`mcalc.models.detection.find_detections`, model-input pixels).
        pmap: the probability map they were found on.
        settings: ``max_regions``, ``min_region_score`` and ``nms_overlap``.
        name: the class the detections are of (default: the positive class).
        breast: the mask they were found in (``valid``; default: everywhere).
    """
    settings = settings or SlidingSettings()
    patch = pmap.grid.patch
    kept: list[tuple[Detection, tuple[int, int], tuple[int, int]]] = []
    for d in sorted(detections, key=lambda d: -d.score):  # stable: ties keep their order
        if len(kept) >= settings.max_regions or d.score < settings.min_region_score:
            break
        at = (d.row, d.col)
        origin = centred_origin(at[0], at[1], patch, pmap.unit_shape)
        if all(_iou(origin, o, patch) <= settings.nms_overlap for _, _, o in kept):
            kept.append((d, at, origin))
    if not kept:
        return []
    rows = np.array([r for _, (r, _), _ in kept])
    cols = np.array([c for _, (_, c), _ in kept])
    ranked = pmap.class_index(name)
    by_class = {
        c: (None if k == ranked else pmap.dense_at(rows, cols, k))
        for k, c in enumerate(pmap.classes)
    }
    h, w = pmap.native_shape
    uh, uw = pmap.unit_shape
    f = pmap.factor
    out = []
    for n, (d, (row, col), (r0, c0)) in enumerate(kept):
        box = (
            max(0, math.floor(r0 / f)),
            min(h, math.ceil(min(r0 + patch, uh) / f)),
            max(0, math.floor(c0 / f)),
            min(w, math.ceil(min(c0 + patch, uw) / f)),
        )
        out.append(
            Region(
                rank=n + 1,
                score=float(d.score),
                center=pmap.to_native(float(row), float(col)),
                box=box,
                origin=(r0, c0),
                scores={
                    c: float(d.score) if v is None else float(v[n]) for c, v in by_class.items()
                },
            )
        )
    return out


def top_regions(
    pmap: ProbabilityMap,
    spacing_mm: tuple[float, float],
    breast: np.ndarray | None = None,
    *,
    settings: SlidingSettings | None = None,
    name: str | int | None = None,
    find: Callable[[DetectionSettings], Sequence[Detection]] | None = None,
) -> list[Region]:
    """The top regions of an image (the module's rule): :func:`regions_from_detections`
    of the detections of class ``name``'s dense map inside ``breast``, as many as the
    regions need: the :func:`region_detections` (the top
    :data:`~mcalc.models.detection.DEFAULT_MAX_DETECTIONS`), then, while those were cut
    at their cap and gave fewer than ``max_regions`` regions, four times as many (a
    detection further down, outside every kept region's patch, is a region too).

    Args:
        pmap: the probability map.
        spacing_mm: (row, col) pixel spacing of the model-input image, in mm.
        breast: the breast mask of the model-input image (default: everywhere), as for
            :func:`map_scores`.
        settings: ``max_regions``, ``min_region_score`` and ``nms_overlap``.
        name: the class ranked (default: the positive class).
        find: the detections of that map in ``breast`` for some settings (default:
            :func:`~mcalc.models.detection.find_detections`; an analysis passes its
            :meth:`~mcalc.explain.image_analysis.ImageAnalysis.detections`, kept for
            Predict's drawing and a batch's row).

    Example:
        >>> import numpy as np
        >>> from mcalc.explain.grid import make_grid
        >>> from mcalc.models.detection import find_detections
        >>> grid = make_grid((64, 64), 16, 8)
        >>> proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
        >>> proba[2, 2, 1] = proba[2, 3, 1] = 0.8; proba[..., 0] = 1 - proba[..., 1]
        >>> pmap = ProbabilityMap(proba, np.ones(proba.shape[:2], bool), grid,
        ...                       ("no-calcification", "calcification"), 1.0, (64, 64))
        >>> [(r.score, r.center, r.origin) for r in top_regions(pmap, (1.0, 1.0))]
        [(0.75, (23.0, 27.0), (15, 19))]
        >>> map_score(pmap.dense())  # between the grid points, the top region's score
        0.75
        >>> [(d.row, d.col) for d in find_detections(pmap.dense(), (1.0, 1.0))][:1]
        [(23, 27)]

    The map peaks on a plateau (rows 23-24, columns 24-31): the detection stands at its
    centre, the region is centred on it.
    """
    settings = settings or SlidingSettings()
    if settings.max_regions == 0:
        return []
    if find is None:
        find = functools.partial(detections_for, pmap.dense(name), spacing_mm, valid=breast)
    det = region_detections(settings)
    while True:
        found = find(det)
        regions = regions_from_detections(found, pmap, settings, name, breast=breast)
        if len(regions) >= settings.max_regions or len(found) < det.max_detections:
            return regions
        # Cut at the cap with regions still to list: the next ones may be further down.
        det = replace(det, max_detections=det.max_detections * 4)


def region_detections(settings: SlidingSettings | None = None) -> DetectionSettings:
    """The detections the top regions are made from first: the default ones (distance
    between them, at most :data:`~mcalc.models.detection.DEFAULT_MAX_DETECTIONS`) scoring
    at least ``min_region_score``: with the region threshold at Predict's detection
    threshold (both 0.5 by default) the very detections Predict draws, found once for both
    (:meth:`mcalc.explain.image_analysis.ImageAnalysis.detections`). :func:`top_regions`
    looks further only when these are cut at the cap and give fewer than ``max_regions``
    regions."""
    return DetectionSettings(threshold=(settings or SlidingSettings()).min_region_score)
