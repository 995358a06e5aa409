"""Detections: the local maxima of a probability map, after non-maximum suppression.

A patch model slid over a mammogram (:mod:`mcalc.explain.sliding`) gives a probability map;
a *detection* is a peak of that map: a position, a score (the map's maximum there) and a size.
Pure numpy/scipy over a 2-D map, so any model's map (or a hand-made one in a test) works.

The rule, exactly:

1. Candidates are the pixels that equal the maximum of the map over a disc of radius
   ``min_distance_mm`` around them (round in mm when the pixels are not square), inside the
   ``valid`` region (the breast, the evaluated patches), with a score at least
   ``threshold`` and above 0.
2. Plateaus: candidates by decreasing score (ties: raster order), each one not already
   on a higher candidate's plateau claims its own, the 8-connected pixels of the map (in
   ``valid``, above 0, not claimed by a higher plateau) scoring within
   :data:`PLATEAU_TOLERANCE` of the map's score range under it, and none above it. A
   candidate on a higher plateau is part of it, not a detection. A plateau's detection
   stands at its centre (the plateau pixel nearest its centroid) with its maximum score.
   The map of a patch model slid over an image is flat, to 1e-4, where a finding
   saturates several overlapping patches (and where it is clamped between patch centres):
   such a plateau is one finding. Then non-maximum suppression: plateaus by decreasing
   score are kept when their centre is at least ``min_distance_mm`` from every kept one,
   up to ``max_detections``. (Until rule 3, 6 December 2026, a plateau was only the
   touching candidates of exactly equal scores, standing at its first pixel in raster
   order: a plateau whose values differ by 1e-4 gave two or three detections 1.6-6 mm
   apart, each a false positive after the first, the first at the plateau's corner.)
3. The size of a detection is the diameter (mm) of the disc of the same area as the
   connected part of the map at or above half its score that holds the peak (full width at
   half maximum, in area), looked for within ``2 * min_distance_mm`` of the peak.

Example:
    >>> m = np.zeros((20, 20)); m[5, 5] = 0.9; m[5, 6] = 0.5; m[15, 12] = 0.6
    >>> [(d.row, d.col, d.score) for d in find_detections(m, (1.0, 1.0), min_distance_mm=2)]
    [(5, 5, 0.9), (15, 12, 0.6)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from mcalc.annotations import Calcification, Cluster, find_clusters
from mcalc.errors import FieldError

__all__ = [
    "DEFAULT_MIN_DISTANCE_MM",
    "DEFAULT_MAX_DETECTIONS",
    "PLATEAU_TOLERANCE",
    "RULE_VERSION",
    "DetectionSettings",
    "Detection",
    "find_detections",
    "detections_for",
    "narrow_detections",
    "probability_map",
    "detection_points",
    "detection_clusters",
    "disc_maximum",
    "plateau_tolerance",
]

#: Default smallest distance between two detections, in mm.
DEFAULT_MIN_DISTANCE_MM = 1.0
#: Default most detections per image.
DEFAULT_MAX_DETECTIONS = 100
#: How far under its maximum a plateau reaches, as a fraction of the map's score range
#: (from 0 to its maximum, in ``valid``; about 1.0 for a probability map): 0.1%. Ten times
#: the variation of the demo model's saturated plateaus: the map dipped by at most 9e-5
#: between the rule-2 detections that split one (suspicious-3: 0.98950-0.98954 over
#: 5 x 5 mm), yet a score step that small is no finding of its own for a model's output
#: (docs/measurements.md, Issue "near-flat plateaus", 6 December 2026).
PLATEAU_TOLERANCE = 1e-3
#: The rule's version, part of what a batch's finished rows were made with (their
#: detections): 3, a plateau is the pixels within :data:`PLATEAU_TOLERANCE` of its
#: maximum, its detection at its centre (6 December 2026); 2, a plateau of equal scores
#: is one detection, at its first pixel (5 December 2026).
RULE_VERSION = 3


@dataclass(frozen=True)
class DetectionSettings:
    """How detections are found (see the module's rule).

    Attributes:
        min_distance_mm: smallest distance between two detections (> 0).
        threshold: smallest score of a detection, in [0, 1] (FROC sweeps above it).
        max_detections: most detections per image (>= 1).
    """

    min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM
    threshold: float = 0.0
    max_detections: int = DEFAULT_MAX_DETECTIONS

    def __post_init__(self) -> None:
        if not (math.isfinite(self.min_distance_mm) and self.min_distance_mm > 0):
            raise FieldError("min_distance_mm", f"must be > 0 mm, got {self.min_distance_mm!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise FieldError("threshold", f"must be in [0, 1], got {self.threshold!r}")
        if self.max_detections < 1:
            raise FieldError("max_detections", f"must be >= 1, got {self.max_detections!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Detection:
    """One peak of a probability map.

    Attributes:
        row, col: position in the map's pixels.
        score: the map's value at the peak: its plateau's maximum (within the plateau
            tolerance of the value at ``row, col``, the plateau's centre).
        size_mm: diameter of the disc of the area at or above half the score (mm).
    """

    row: int
    col: int
    score: float
    size_mm: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probability_map(values: np.ndarray) -> np.ndarray:
    """A 2-D probability map as detections compare it: float32 kept as it is (its
    comparisons are exact there), anything else as float64.

    Raises:
        ValueError: a map that is not 2-D, or holds NaN or infinite values.
    """
    arr = np.asarray(values)
    if arr.dtype != np.float32:
        arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D probability map, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("the probability map holds NaN or infinite values")
    return arr


def _check(values: np.ndarray, spacing_mm: Sequence[float]) -> tuple[np.ndarray, float, float]:
    """The map (:func:`probability_map`) and the pixel spacing, checked."""
    arr = probability_map(values)
    sr, sc = (float(s) for s in spacing_mm)
    if not (sr > 0 and sc > 0 and math.isfinite(sr) and math.isfinite(sc)):
        raise ValueError(f"pixel spacing must be positive, got {tuple(spacing_mm)!r}")
    return arr, sr, sc


def _disc(radius_mm: float, sr: float, sc: float) -> np.ndarray:
    """A footprint of the pixels within ``radius_mm`` of the centre."""
    ry, rx = int(radius_mm / sr), int(radius_mm / sc)
    yy, xx = np.mgrid[-ry : ry + 1, -rx : rx + 1]
    return np.asarray(np.hypot(yy * sr, xx * sc) <= radius_mm + 1e-9)


def disc_maximum(values: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The maximum of ``values`` over ``footprint`` around each pixel, outside the map read
    as 0: :func:`scipy.ndimage.maximum_filter` with ``mode="constant"``, exactly, through
    OpenCV's dilation (tens of milliseconds on a 1024 x 832 map where SciPy's filter with a
    non-separable disc takes 2 s on the 2-core machine).

    A float32 map is filtered in float32 (its values, hence its maxima, are exact there);
    any other is filtered in float64.

    Example:
        >>> m = np.zeros((5, 5)); m[2, 2] = 1.0
        >>> disc_maximum(m, np.ones((3, 3), bool))[1:4, 1:4].tolist()
        [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]

    Raises:
        ValueError: ``values`` is not 2-D, or ``footprint`` is not 2-D with odd sides.
    """
    arr = np.asarray(values)
    fp = np.asarray(footprint, bool)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {arr.shape}")
    if fp.ndim != 2 or fp.shape[0] % 2 == 0 or fp.shape[1] % 2 == 0:
        raise ValueError(f"expected a 2-D footprint with odd sides, got shape {fp.shape}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    src: np.ndarray[Any, np.dtype[np.floating[Any]]] = np.ascontiguousarray(arr, dtype=dtype)
    out = cv2.dilate(
        src,
        fp.astype(np.uint8),
        anchor=(fp.shape[1] // 2, fp.shape[0] // 2),
        borderType=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return np.asarray(out, dtype=dtype)


def _half_max_area(arr: np.ndarray, r: int, c: int, score: float, ry: int, rx: int) -> int:
    """Pixels of the part of ``arr >= score / 2`` connected to (r, c) (4-connected, as
    :func:`scipy.ndimage.label` by default), within a window. Through OpenCV's
    :func:`cv2.connectedComponents`: the same part, without SciPy's per-call overhead
    (100 calls an image for Predict's default settings)."""
    r0, r1 = max(0, r - ry), min(arr.shape[0], r + ry + 1)
    c0, c1 = max(0, c - rx), min(arr.shape[1], c + rx + 1)
    above = np.asarray(arr[r0:r1, c0:c1], np.float64) >= score / 2.0
    _, labels = cv2.connectedComponents(above.view(np.uint8), connectivity=4)
    return int(np.count_nonzero(labels == labels[r - r0, c - c0]))


def _near(min_distance_mm: float, sr: float, sc: float) -> np.ndarray:
    """The offsets (rows, columns; centred) closer than ``min_distance_mm`` to the centre,
    by the very test of the suppression (``math.hypot(dy * sr, dx * sc) < d``)."""
    ny, nx = int(min_distance_mm / sr) + 1, int(min_distance_mm / sc) + 1
    return np.array(
        [
            [math.hypot(dy * sr, dx * sc) < min_distance_mm for dx in range(-nx, nx + 1)]
            for dy in range(-ny, ny + 1)
        ],
        dtype=bool,
    )


def plateau_tolerance(values: np.ndarray) -> float:
    """How far under its maximum a plateau of ``values`` reaches (the module's rule, step
    2): :data:`PLATEAU_TOLERANCE` of the map's range above 0 (its maximum; 0 when none is
    above 0). Pass the map as detections see it (0 outside ``valid``).

    Example:
        >>> plateau_tolerance(np.array([[0.2, 0.5]]))
        0.0005
    """
    top = float(np.max(values)) if np.size(values) else 0.0
    return PLATEAU_TOLERANCE * top if top > 0 else 0.0


class _Plateaus:
    """The plateaus of a map (the module's rule, step 2), claimed one by one from the
    highest candidate down: each a flood fill (OpenCV's, in float32) of the pixels within
    the tolerance under its candidate's value and none above, 8-connected, that no higher
    plateau holds."""

    def __init__(self, arr: np.ndarray) -> None:
        self.tolerance = plateau_tolerance(arr)
        # A copy: OpenCV takes the image as writable (a mask-only fill never writes it),
        # and a map may be the caller's, or read-only (a cached one).
        self.image = np.array(arr, dtype=np.float32, order="C", copy=True)
        # 1: on no plateau (0 or under, outside ``valid``: read as 0; or claimed); the
        # fill marks its own pixels 2.
        self.mask = np.ones((arr.shape[0] + 2, arr.shape[1] + 2), np.uint8)
        self.mask[1:-1, 1:-1] = arr <= 0

    def claim(self, r: int, c: int) -> tuple[int, int] | None:
        """The centre of the plateau of candidate (r, c) (the pixel nearest its
        centroid), its pixels claimed; ``None`` when a higher plateau holds it."""
        if self.mask[r + 1, c + 1]:
            return None
        flags = 8 | cv2.FLOODFILL_MASK_ONLY | cv2.FLOODFILL_FIXED_RANGE | (2 << 8)
        _, _, _, (x, y, w, h) = cv2.floodFill(
            self.image, self.mask, (c, r), 0.0, self.tolerance, 0.0, flags
        )
        window = self.mask[y + 1 : y + h + 1, x + 1 : x + w + 1]
        mine = window == 2
        window[mine] = 1
        ys, xs = np.nonzero(mine)
        k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
        return y + int(ys[k]), x + int(xs[k])


def find_detections(
    values: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM,
    threshold: float = 0.0,
    max_detections: int = DEFAULT_MAX_DETECTIONS,
    valid: np.ndarray | None = None,
) -> list[Detection]:
    """The detections of a probability map (the module's rule), by decreasing score.

    Args:
        values: ``(H, W)`` map of the positive class (e.g. ``ProbabilityMap.dense()``).
        spacing_mm: (row, column) pixel spacing of the map in mm.
        min_distance_mm: smallest distance between two detections.
        threshold: smallest score kept.
        max_detections: most detections returned.
        valid: ``(H, W)`` booleans where detections may lie (default: everywhere).

    Raises:
        ValueError: a map that is not 2-D or not finite, a bad spacing or setting, or a
            ``valid`` mask of another shape.
    """
    settings = DetectionSettings(min_distance_mm, threshold, max_detections)
    arr, sr, sc = _check(values, spacing_mm)
    if valid is not None:
        mask = np.asarray(valid, bool)
        if mask.shape != arr.shape:
            raise ValueError(f"valid mask {mask.shape} and map {arr.shape} differ in shape")
        arr = np.where(mask, arr, arr.dtype.type(0))
    footprint = _disc(settings.min_distance_mm, sr, sc)
    # In the map's own precision (float32: exact, and 10x faster than float64); the
    # candidates' scores are compared in float64.
    peaks = arr == disc_maximum(arr, footprint)
    peaks &= (arr >= settings.threshold) & (arr > 0)
    rows, cols = np.nonzero(peaks)  # raster order
    scores = arr[rows, cols].astype(np.float64)
    order = np.argsort(-scores, kind="stable")
    ry = int(2 * settings.min_distance_mm / sr)
    rx = int(2 * settings.min_distance_mm / sc)
    # Every pixel closer than min_distance_mm to a kept detection, marked as each is kept
    # (the map padded by the disc's reach): a candidate is one lookup, not a distance to
    # each kept one.
    near = _near(settings.min_distance_mm, sr, sc)
    ny, nx = near.shape[0] // 2, near.shape[1] // 2
    blocked = np.zeros((arr.shape[0] + 2 * ny, arr.shape[1] + 2 * nx), bool)
    out: list[Detection] = []
    plateaus = _Plateaus(arr)
    for k in order:
        at = plateaus.claim(int(rows[k]), int(cols[k]))
        if at is None:  # on a higher candidate's plateau: part of it
            continue
        r, c = at
        if blocked[r + ny, c + nx]:
            continue
        blocked[r : r + 2 * ny + 1, c : c + 2 * nx + 1] |= near
        score = float(scores[k])
        area = _half_max_area(arr, r, c, score, ry, rx) * sr * sc
        out.append(Detection(r, c, score, round(2.0 * math.sqrt(area / math.pi), 4)))
        if len(out) >= settings.max_detections:
            break
    return out


def detections_for(
    values: np.ndarray,
    spacing_mm: Sequence[float],
    settings: DetectionSettings,
    valid: np.ndarray | None = None,
) -> list[Detection]:
    """:func:`find_detections` with ``settings``' distance, threshold and cap."""
    return find_detections(
        values,
        spacing_mm,
        min_distance_mm=settings.min_distance_mm,
        threshold=settings.threshold,
        max_detections=settings.max_detections,
        valid=valid,
    )


def narrow_detections(
    found: Sequence[Detection], held: DetectionSettings, want: DetectionSettings
) -> list[Detection] | None:
    """The detections ``want`` finds on a map, told from those ``held`` found on it
    (``found``, :func:`find_detections` of the same map and mask), or ``None`` where they
    cannot be told from them (search again).

    The rule keeps candidates by decreasing score, each unless a kept one lies nearer than
    ``min_distance_mm``; a threshold only drops whole plateaus scoring under it, which
    come after every other candidate. So with the same distance and a threshold at or
    above ``held``'s, ``want`` finds the first ``want.max_detections`` of ``found`` scoring
    at least its threshold, provided ``found`` holds them: it was not cut at
    ``held.max_detections``, or it holds that many of them, or it ends under the
    threshold. A score the map's precision would compare otherwise (float32 rounds the
    threshold down onto it) is left to a search.

    Example:
        >>> m = np.zeros((20, 20)); m[5, 5], m[15, 12], m[10, 2] = 0.9, 0.6, 0.3
        >>> held = DetectionSettings(threshold=0.2, max_detections=3)
        >>> found = find_detections(m, (1.0, 1.0), threshold=0.2, max_detections=3)
        >>> [d.score for d in narrow_detections(found, held, DetectionSettings(threshold=0.5))]
        [0.9, 0.6]
        >>> narrow_detections(found, held, DetectionSettings(threshold=0.1)) is None
        True
    """
    if want.min_distance_mm != held.min_distance_mm or want.threshold < held.threshold:
        return None
    t = want.threshold
    if any(float(np.float32(t)) <= d.score < t for d in found):
        return None
    kept = [d for d in found if d.score >= t]
    complete = len(found) < held.max_detections or (found and found[-1].score < t)
    if complete or len(kept) >= want.max_detections:
        return kept[: want.max_detections]
    return None


def detection_points(detections: Sequence[Detection]) -> tuple[np.ndarray, np.ndarray]:
    """``((N, 2) (row, col) positions, (N,) scores)`` of detections."""
    pts = np.asarray([(d.row, d.col) for d in detections], dtype=float).reshape(-1, 2)
    return pts, np.asarray([d.score for d in detections], dtype=float)


def detection_clusters(
    detections: Sequence[Detection],
    spacing_mm: tuple[float, float],
    *,
    min_count: int = 3,
    window_mm: float = 10.0,
) -> list[Cluster]:
    """Detections grouped into clusters by the annotations' own rule
    (:func:`mcalc.annotations.find_clusters`: ``min_count`` or more within a
    ``window_mm`` square, with the pixel spacing); members are 1-based detection indices.

    Example:
        >>> ds = [Detection(10, 10, 0.9, 0.5), Detection(12, 14, 0.8, 0.5),
        ...       Detection(15, 11, 0.7, 0.5), Detection(300, 300, 0.6, 0.5)]
        >>> [c.members for c in detection_clusters(ds, (0.1, 0.1))]
        [(1, 2, 3)]
    """
    sr, sc = float(spacing_mm[0]), float(spacing_mm[1])
    calcs = [
        Calcification(
            label=k + 1,
            centroid=(float(d.row), float(d.col)),
            area_px=1,
            area_mm2=sr * sc,
            bbox=(d.row, d.col, d.row + 1, d.col + 1),
            diameter_mm=d.size_mm,
        )
        for k, d in enumerate(detections)
    ]
    return find_clusters(calcs, (sr, sc), min_count=min_count, window_mm=window_mm)
