"""Agreement between two sets of calcification marks: one-to-one matching within a distance.

Two points match when they are at most ``tolerance_mm`` apart (pixel spacing taken into
account, rows and columns may differ). The matching is one-to-one and optimal: among all
matchings it has the most pairs and, among those, the smallest total distance (solved as
an assignment problem by :func:`mcalc.annotations.matching.assign`, the Hungarian method,
the matcher shared with detection FROC).

From the matching: precision = matched / test marks, recall = matched / reference marks,
F1 their harmonic mean. A ratio over zero marks is undefined and reported as ``None``.

A ``region`` annotation (a CBIS-DDSM ROI, a VinDr box, a MIAS circle) marks areas that hold
calcifications, not the calcifications: there is nothing to match a reader's points to one
by one. :func:`compare_with_regions` counts instead the reader's marks inside a region (or
within ``tolerance_mm`` of its border: the same allowance for a click as between two
points) and the regions holding at least one of them (:class:`RegionAgreement`).

Example:
    >>> ref = [(10, 10), (50, 50)]
    >>> test = [(11, 10), (90, 90)]
    >>> r = match_points(ref, test, tolerance_mm=0.5, spacing_mm=(0.1, 0.1))
    >>> r.pairs, r.unmatched_reference, r.unmatched_test, r.precision, r.recall
    (((0, 0, 0.1),), (1,), (1,), 0.5, 0.5)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mcalc.annotations import AnnotationSummary, Region
from mcalc.annotations.matching import assign, distances_mm
from mcalc.store.marks import ImageMarks

__all__ = [
    "Agreement",
    "RegionAgreement",
    "match_points",
    "compare_with_dataset",
    "compare_with_regions",
    "region_table",
    "compare_readers",
    "dataset_points",
    "reader_points",
    "unmatched_table",
]

log = logging.getLogger(__name__)


def _points(points: Sequence[Sequence[float]] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{what} must be (N, 2) (row, col) points, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{what} contains NaN or infinite coordinates")
    return arr


def _round4(x: float | None) -> float | None:
    """``x`` to four decimals for a JSON summary; ``None`` stays ``None``."""
    return None if x is None else round(x, 4)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class Agreement:
    """The result of matching a *test* point set against a *reference* set.

    Attributes:
        reference_name, test_name: who is compared (e.g. ``dataset`` and a reader).
        tolerance_mm: largest distance of a match.
        reference, test: the points, ``(N, 2)`` (row, col) full-resolution pixels.
        pairs: ``(reference index, test index, distance in mm)``, by reference index.
        unmatched_reference: reference points nobody matched (misses of the test side).
        unmatched_test: test points not in the reference (extra marks).
    """

    reference_name: str
    test_name: str
    tolerance_mm: float
    reference: np.ndarray
    test: np.ndarray
    pairs: tuple[tuple[int, int, float], ...]
    unmatched_reference: tuple[int, ...]
    unmatched_test: tuple[int, ...]
    spacing_mm: tuple[float, float] = (1.0, 1.0)

    @property
    def n_matched(self) -> int:
        return len(self.pairs)

    @property
    def precision(self) -> float | None:
        """Matched / test points; ``None`` when the test side has no point."""
        return _ratio(self.n_matched, len(self.test))

    @property
    def recall(self) -> float | None:
        """Matched / reference points; ``None`` when the reference has no point."""
        return _ratio(self.n_matched, len(self.reference))

    @property
    def f1(self) -> float | None:
        """``2 * matched / (reference + test)``; ``None`` when both sides are empty."""
        return _ratio(2 * self.n_matched, len(self.reference) + len(self.test))

    @property
    def mean_distance_mm(self) -> float | None:
        return float(np.mean([d for _, _, d in self.pairs])) if self.pairs else None

    def summary(self) -> dict[str, Any]:
        """Counts and ratios, JSON-ready (``None`` for undefined ratios)."""
        r = _round4

        return {
            "reference": self.reference_name,
            "test": self.test_name,
            "tolerance_mm": self.tolerance_mm,
            "n_reference": len(self.reference),
            "n_test": len(self.test),
            "matched": self.n_matched,
            "missed": len(self.unmatched_reference),
            "extra": len(self.unmatched_test),
            "precision": r(self.precision),
            "recall": r(self.recall),
            "f1": r(self.f1),
            "mean_distance_mm": r(self.mean_distance_mm),
        }


def match_points(
    reference: Sequence[Sequence[float]] | np.ndarray,
    test: Sequence[Sequence[float]] | np.ndarray,
    *,
    tolerance_mm: float,
    spacing_mm: tuple[float, float],
    reference_name: str = "reference",
    test_name: str = "test",
) -> Agreement:
    """Match ``test`` points to ``reference`` points one-to-one within ``tolerance_mm``.

    Args:
        reference, test: ``(N, 2)`` points (row, col) in full-resolution pixels of the
            same image.
        tolerance_mm: largest distance, in mm, at which two points are the same
            calcification (e.g. 1 mm).
        spacing_mm: (row, column) pixel spacing in mm.
        reference_name, test_name: labels carried into the result.

    Raises:
        ValueError: bad shapes, non-finite points, tolerance or spacing not positive.
    """
    ref = _points(reference, "reference")
    tst = _points(test, "test")
    if not (math.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise ValueError(f"tolerance_mm must be a positive number of mm, got {tolerance_mm!r}")
    sr, sc = (float(s) for s in spacing_mm)
    if not (sr > 0 and sc > 0 and math.isfinite(sr) and math.isfinite(sc)):
        raise ValueError(f"pixel spacing must be positive, got {spacing_mm!r}")
    pairs: list[tuple[int, int, float]] = []
    if len(ref) and len(tst):
        d = distances_mm(ref, tst, (sr, sc))
        pairs = [(i, j, round(float(d[i, j]), 4)) for i, j in assign(d, d <= tolerance_mm)]
    matched_ref = {i for i, _, _ in pairs}
    matched_tst = {j for _, j, _ in pairs}
    return Agreement(
        reference_name=reference_name,
        test_name=test_name,
        tolerance_mm=float(tolerance_mm),
        reference=ref,
        test=tst,
        pairs=tuple(pairs),
        unmatched_reference=tuple(i for i in range(len(ref)) if i not in matched_ref),
        unmatched_test=tuple(j for j in range(len(tst)) if j not in matched_tst),
        spacing_mm=(sr, sc),
    )


def reader_points(marks: ImageMarks, labels: Sequence[str] | None = None) -> np.ndarray:
    """A reader's point marks as ``(N, 2)`` (row, col), optionally only some labels."""
    pts = [(p.row, p.col) for p in marks.points if labels is None or p.label in labels]
    return np.asarray(pts, dtype=float).reshape(-1, 2)


def dataset_points(summary: AnnotationSummary | None) -> np.ndarray:
    """Centroids of the dataset's annotated calcifications (``(0, 2)`` when none)."""
    if summary is None:
        return np.zeros((0, 2))
    return np.asarray([c.centroid for c in summary.calcifications], dtype=float).reshape(-1, 2)


def compare_with_dataset(
    marks: ImageMarks,
    summary: AnnotationSummary | None,
    *,
    tolerance_mm: float,
    spacing_mm: tuple[float, float],
    labels: Sequence[str] | None = None,
) -> Agreement:
    """A reader's points (test) against the dataset's calcification centroids (reference)."""
    return match_points(
        dataset_points(summary),
        reader_points(marks, labels),
        tolerance_mm=tolerance_mm,
        spacing_mm=spacing_mm,
        reference_name="dataset",
        test_name=marks.reader,
    )


def compare_readers(
    reference: ImageMarks,
    test: ImageMarks,
    *,
    tolerance_mm: float,
    spacing_mm: tuple[float, float],
    labels: Sequence[str] | None = None,
) -> Agreement:
    """Two readers' points on the same image (``reference`` plays the ground truth)."""
    if reference.image_key != test.image_key:
        raise ValueError(
            f"both readers' marks must be on the same image, got {reference.image_key!r} "
            f"and {test.image_key!r}"
        )
    return match_points(
        reader_points(reference, labels),
        reader_points(test, labels),
        tolerance_mm=tolerance_mm,
        spacing_mm=spacing_mm,
        reference_name=reference.reader,
        test_name=test.reader,
    )


def unmatched_table(result: Agreement) -> list[dict[str, Any]]:
    """One row per unmatched point: which side has it, where, nearest other point in mm."""
    rows: list[dict[str, Any]] = []
    sr, sc = result.spacing_mm
    for side, idx, own, other in (
        (
            f"only {result.reference_name}",
            result.unmatched_reference,
            result.reference,
            result.test,
        ),
        (f"only {result.test_name}", result.unmatched_test, result.test, result.reference),
    ):
        for i in idx:
            r, c = own[i]
            near = None
            if len(other):
                d = np.hypot((other[:, 0] - r) * sr, (other[:, 1] - c) * sc)
                near = round(float(d.min()), 2)
            rows.append(
                {
                    "side": side,
                    "index": int(i),
                    "row": round(float(r), 1),
                    "col": round(float(c), 1),
                    "nearest_other_mm": near,
                }
            )
    return rows


@dataclass(frozen=True)
class RegionAgreement:
    """A reader's point marks (test) against the regions of a ``region`` annotation.

    Attributes:
        reference_name, test_name: who is compared (``dataset`` and a reader).
        tolerance_mm: how far outside a region's border a mark still counts as inside it.
        centroids: ``(R, 2)`` (row, col) of the regions, full-resolution pixels.
        test: ``(N, 2)`` the reader's points.
        region_of: per mark, the index of the region it lies in (the nearest, within the
            tolerance), ``None`` outside every region.
        distance_mm: per mark, its distance to the nearest region's border (0 inside).
    """

    reference_name: str
    test_name: str
    tolerance_mm: float
    centroids: np.ndarray
    test: np.ndarray
    region_of: tuple[int | None, ...]
    distance_mm: tuple[float | None, ...]
    spacing_mm: tuple[float, float] = (1.0, 1.0)

    @property
    def n_regions(self) -> int:
        return len(self.centroids)

    @property
    def n_inside(self) -> int:
        """Marks inside a region (or within the tolerance of one)."""
        return sum(r is not None for r in self.region_of)

    @property
    def found(self) -> tuple[int, ...]:
        """Regions holding at least one mark, by index."""
        return tuple(sorted({r for r in self.region_of if r is not None}))

    @property
    def share_inside(self) -> float | None:
        """Marks inside a region / marks (a region-level precision); ``None`` without marks."""
        return _ratio(self.n_inside, len(self.test))

    @property
    def share_found(self) -> float | None:
        """Regions holding a mark / regions (a region-level recall); ``None`` without any."""
        return _ratio(len(self.found), self.n_regions)

    def summary(self) -> dict[str, Any]:
        """Counts and shares, JSON-ready (``None`` for undefined shares)."""
        r = _round4

        return {
            "reference": self.reference_name,
            "test": self.test_name,
            "tolerance_mm": self.tolerance_mm,
            "n_regions": self.n_regions,
            "n_test": len(self.test),
            "inside": self.n_inside,
            "outside": len(self.test) - self.n_inside,
            "regions_found": len(self.found),
            "share_inside": r(self.share_inside),
            "share_found": r(self.share_found),
        }


def _signed_mm(region: Region, points: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """Signed distance in mm of each (row, col) point to ``region``'s border: positive
    inside, 0 on it, negative outside (its outline and the points scaled by the spacing)."""
    sr, sc = spacing_mm
    outline = np.asarray(region.outline, dtype=float).reshape(-1, 2)
    if len(outline) < 3:  # a region a pixel or two wide: its pixels are its border
        d = np.hypot(
            (points[:, None, 0] - outline[None, :, 0]) * sr,
            (points[:, None, 1] - outline[None, :, 1]) * sc,
        )
        return -d.min(axis=1)
    contour = np.column_stack([outline[:, 1] * sc, outline[:, 0] * sr]).astype(np.float32)
    contour = contour.reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(c) * sc, float(r) * sr), True) for r, c in points]
    )


def compare_with_regions(
    marks: ImageMarks,
    summary: AnnotationSummary,
    *,
    tolerance_mm: float,
    spacing_mm: tuple[float, float],
    labels: Sequence[str] | None = None,
) -> RegionAgreement:
    """A reader's points against the regions of a ``region`` annotation (``summary``'s
    :attr:`~mcalc.annotations.AnnotationSummary.regions`): each mark inside a region, or
    within ``tolerance_mm`` of its border, counts for that region (the nearest).

    Example:
        >>> from mcalc.annotations import summarize
        >>> mask = np.zeros((50, 50), np.uint8); mask[10:20, 10:20] = 1
        >>> s = summarize(mask, (0.1, 0.1), kind="region")
        >>> m = ImageMarks("k", "ann").add_point(15, 15).add_point(40, 40)
        >>> r = compare_with_regions(m, s, tolerance_mm=0.5, spacing_mm=(0.1, 0.1))
        >>> r.region_of, r.share_inside, r.share_found
        ((0, None), 0.5, 1.0)

    Raises:
        ValueError: tolerance or spacing not positive, non-finite points.
    """
    if not (math.isfinite(tolerance_mm) and tolerance_mm >= 0):
        raise ValueError(f"tolerance_mm must be a number of mm >= 0, got {tolerance_mm!r}")
    sr, sc = (float(v) for v in spacing_mm)
    if not (sr > 0 and sc > 0 and math.isfinite(sr) and math.isfinite(sc)):
        raise ValueError(f"pixel spacing must be positive, got {spacing_mm!r}")
    pts = _points(reader_points(marks, labels), "test")
    regions = summary.regions
    region_of: list[int | None] = [None] * len(pts)
    distance: list[float | None] = [None] * len(pts)
    if regions and len(pts):
        signed = np.stack([_signed_mm(reg, pts, (sr, sc)) for reg in regions], axis=1)
        best = signed.argmax(axis=1)
        for j, k in enumerate(best):
            d = float(signed[j, k])
            distance[j] = round(max(-d, 0.0), 4)
            if d >= -tolerance_mm:
                region_of[j] = int(k)
    centroids = np.asarray([reg.centroid for reg in regions], dtype=float).reshape(-1, 2)
    return RegionAgreement(
        reference_name="dataset",
        test_name=marks.reader,
        tolerance_mm=float(tolerance_mm),
        centroids=centroids,
        test=pts,
        region_of=tuple(region_of),
        distance_mm=tuple(distance),
        spacing_mm=(sr, sc),
    )


def _round2(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def region_table(result: RegionAgreement) -> list[dict[str, Any]]:
    """The rows :func:`unmatched_table` gives for points, for regions: each mark outside
    every region (its distance to the nearest region's border) and each region holding no
    mark (at its centre; the distance from there to the nearest mark)."""
    rows: list[dict[str, Any]] = []
    sr, sc = result.spacing_mm
    for j, region in enumerate(result.region_of):
        if region is None:
            r, c = result.test[j]
            rows.append(
                {
                    "side": f"{result.test_name}: outside every region",
                    "index": j,
                    "row": round(float(r), 1),
                    "col": round(float(c), 1),
                    "nearest_other_mm": _round2(result.distance_mm[j]),
                }
            )
    found = set(result.found)
    for k, (r, c) in enumerate(result.centroids):
        if k in found:
            continue
        near = None
        if len(result.test):
            d = np.hypot((result.test[:, 0] - r) * sr, (result.test[:, 1] - c) * sc)
            near = round(float(d.min()), 2)
        rows.append(
            {
                "side": f"{result.reference_name}: region {k + 1} without a mark",
                "index": k,
                "row": round(float(r), 1),
                "col": round(float(c), 1),
                "nearest_other_mm": near,
            }
        )
    return rows
