"""Agreement between two sets of calcification marks: one-to-one matching within a distance.

Two points match when they are at most ``tolerance_mm`` apart (pixel spacing taken into
account, rows and columns may differ). The matching is one-to-one and optimal: among all
matchings it has the most pairs and, among those, the smallest total distance (solved as
an assignment problem by :func:`mcalc.annotations.matching.assign`, the Hungarian method,
the matcher shared with detection FROC).

From the matching: precision = matched / test marks, recall = matched / reference marks,
F1 their harmonic mean. A ratio over zero marks is undefined and reported as ``None``.

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

import numpy as np

from mcalc.annotations import AnnotationSummary
from mcalc.annotations.matching import assign, distances_mm
from mcalc.store.marks import ImageMarks

__all__ = [
    "Agreement",
    "match_points",
    "compare_with_dataset",
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

        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

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
