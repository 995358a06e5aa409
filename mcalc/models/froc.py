"""Free-response ROC (FROC): detection sensitivity against false positives per image.

How the field reports micro-calcification detection (Chakraborty, *Med. Phys.* 16, 1989;
for mammography CAD e.g. the INbreast and DDSM detection papers): every threshold on the
detection score gives a sensitivity (annotated findings hit / all annotated findings) and a
mean number of false-positive detections per image; the FROC curve joins them.

Hits, exactly:

- **Individual calcifications** (``mask`` and ``red`` annotations: one finding per
  connected mark, at its centroid): a detection hits a calcification within
  ``tolerance_mm``, one-to-one, by the project's one matcher
  (:func:`mcalc.annotations.matching.assign`: most hits, then smallest total distance).
  Every detection not matched is a false positive.
- **Region annotations** (``region``: an outlined area holding calcifications, one finding
  per connected region): a detection hits the region when it falls inside it; the region
  counts once, and further detections inside an annotated region are neither hits nor
  false positives (they point at the annotated finding).
- **Clusters**: the detections kept at a threshold are grouped by the annotations' own rule
  (:func:`mcalc.models.detection.detection_clusters`: 3+ within a 1 cm square, with the
  pixel spacing); a detected cluster hits an annotated cluster whose centroid is within
  ``cluster_tolerance_mm`` of its own (one-to-one, same matcher), or a region annotation
  holding its centroid. Every other detected cluster is a false-positive cluster.

The matching is redone for every prefix of an image's detections by decreasing score
(:class:`ImageCounts`), so the counts at each threshold are those of the optimal matching
of the detections kept, never of a greedy pass.

Summary (:data:`FP_RATES`): the sensitivity at 0.5, 1, 2 and 4 false positives per image,
each the best sensitivity of an operating point with at most that many (step rule, no
interpolation), and their mean: a CPM-like score (the LUNA16 Competition Performance Metric,
Niemeijer et al., *IEEE TMI* 30, 2011, averages seven rates 1/8..8 with the same rule; this
one averages four). The curve reported is that step envelope: increasing in false positives,
each point the best sensitivity reached at or below it.

Confidence bands resample whole patients (the cluster bootstrap of
:func:`mcalc.models.curves.bootstrap_auc`, with its :data:`~mcalc.models.curves.CI_LEVEL`).

Example:
    >>> import numpy as np
    >>> truth = ImageTruth.from_points([(10, 10)], (1.0, 1.0))
    >>> counts = calcification_counts(np.array([[10, 11], [40, 40]]), np.array([0.9, 0.8]),
    ...                               truth, tolerance_mm=2.0)
    >>> counts.tp.tolist(), counts.fp.tolist()
    ([0, 1, 1], [0, 0, 1])
    >>> r = froc([counts])
    >>> r.points
    [(0.0, 1.0), (1.0, 1.0)]
    >>> r.summary[1.0], r.cpm
    (1.0, 1.0)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcalc.annotations import find_calcifications, find_clusters
from mcalc.annotations.matching import assign, distances_mm
from mcalc.models.curves import CI_LEVEL
from mcalc.models.detection import Detection, detection_clusters

__all__ = [
    "FP_RATES",
    "CPM_CONVENTION",
    "DEFAULT_TOLERANCE_MM",
    "DEFAULT_CLUSTER_TOLERANCE_MM",
    "ImageTruth",
    "ImageCounts",
    "FrocResult",
    "calcification_counts",
    "cluster_counts",
    "froc",
    "froc_band",
]

log = logging.getLogger(__name__)

#: False positives per image of the summary sensitivities.
FP_RATES: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
#: What the summary score is, in words (printed with it).
CPM_CONVENTION = (
    "mean sensitivity at 0.5, 1, 2 and 4 FP/image, each the best sensitivity at or below "
    "that rate (step rule, no interpolation; LUNA16's CPM uses 1/8..8 FP/image)"
)
#: Default largest distance between a detection and the calcification it hits, in mm.
DEFAULT_TOLERANCE_MM = 1.0
#: Default largest distance between a detected and an annotated cluster's centroids, in mm
#: (half the side of the 1 cm square of the cluster rule).
DEFAULT_CLUSTER_TOLERANCE_MM = 5.0


@dataclass(frozen=True)
class ImageTruth:
    """The annotated findings of one image, in the pixels of the detections' map.

    Attributes:
        points: ``(N, 2)`` (row, col) centroids of the individual calcifications.
        clusters: ``(K, 2)`` centroids of the annotated clusters.
        regions: ``(H, W)`` labels of the region annotations (0: none, 1..R: a region), or
            ``None``.
        spacing_mm: (row, column) pixel spacing in mm.
    """

    points: np.ndarray
    clusters: np.ndarray
    regions: np.ndarray | None
    spacing_mm: tuple[float, float]

    @property
    def n_regions(self) -> int:
        return 0 if self.regions is None else int(self.regions.max(initial=0))

    @property
    def n_findings(self) -> int:
        """Individual findings: calcifications and regions."""
        return len(self.points) + self.n_regions

    @property
    def n_cluster_findings(self) -> int:
        """Cluster findings: annotated clusters and regions."""
        return len(self.clusters) + self.n_regions

    @classmethod
    def from_points(
        cls, points: Sequence[Sequence[float]] | np.ndarray, spacing_mm: tuple[float, float]
    ) -> ImageTruth:
        """Individual calcifications given as points; clusters by the annotations' rule."""
        pts = np.asarray(points, dtype=float).reshape(-1, 2)
        from mcalc.annotations import Calcification

        calcs = [
            Calcification(k + 1, (float(r), float(c)), 1, 0.0, (0, 0, 1, 1), 0.0)
            for k, (r, c) in enumerate(pts)
        ]
        centroids = [c.centroid for c in find_clusters(calcs, spacing_mm)]
        return cls(pts, np.asarray(centroids, float).reshape(-1, 2), None, _spacing(spacing_mm))

    @classmethod
    def from_mask(
        cls, mask: np.ndarray | None, spacing_mm: tuple[float, float], kind: str = "mask"
    ) -> ImageTruth:
        """The findings of an annotation mask: one calcification per connected mark
        (``mask``/``red``), or one region per connected area (``region``)."""
        sp = _spacing(spacing_mm)
        empty = np.zeros((0, 2))
        if mask is None:
            return cls(empty, empty, None, sp)
        m = np.asarray(mask) != 0
        if kind == "region":
            import cv2

            n, labels = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
            return cls(empty, empty, labels.astype(np.int32) if n > 1 else None, sp)
        calcs = find_calcifications(m, sp)
        pts = np.asarray([c.centroid for c in calcs], float).reshape(-1, 2)
        cl = np.asarray([c.centroid for c in find_clusters(calcs, sp)], float).reshape(-1, 2)
        return cls(pts, cl, None, sp)


def _spacing(spacing_mm: Sequence[float]) -> tuple[float, float]:
    sr, sc = (float(s) for s in spacing_mm)
    if not (sr > 0 and sc > 0 and math.isfinite(sr) and math.isfinite(sc)):
        raise ValueError(f"pixel spacing must be positive, got {tuple(spacing_mm)!r}")
    return sr, sc


@dataclass(frozen=True)
class ImageCounts:
    """Hits and false positives of one image for every prefix of its detections.

    Attributes:
        scores: detection scores, decreasing.
        tp, fp: ``len(scores) + 1`` counts: ``tp[k]``/``fp[k]`` when the ``k`` best
            detections are kept.
        n_truth: annotated findings of the image.
        patient: the patient (the bootstrap's cluster).
    """

    scores: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    n_truth: int
    patient: str = ""

    def at(self, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(tp, fp)`` when detections scoring at least each threshold are kept."""
        kept = np.searchsorted(-self.scores, -np.asarray(thresholds, float), side="right")
        return self.tp[kept], self.fp[kept]


def _inside(points: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """The region label under each point (0: outside every region or the image)."""
    if regions is None or len(points) == 0:
        return np.zeros(len(points), int)
    r = np.rint(points[:, 0]).astype(int)
    c = np.rint(points[:, 1]).astype(int)
    ok = (r >= 0) & (r < regions.shape[0]) & (c >= 0) & (c < regions.shape[1])
    out = np.zeros(len(points), int)
    out[ok] = regions[r[ok], c[ok]]
    return out


def _hits(
    found: np.ndarray, targets: np.ndarray, truth: ImageTruth, tolerance_mm: float
) -> tuple[int, int]:
    """``(hits, false positives)`` of ``found`` points against ``targets`` and the regions."""
    n = len(found)
    if n == 0:
        return 0, 0
    region = _inside(found, truth.regions)
    nr = truth.n_regions
    d = distances_mm(found, targets, truth.spacing_mm)
    feasible = np.zeros((n, len(targets) + nr), bool)
    cost = np.zeros(feasible.shape)
    feasible[:, : len(targets)] = d <= tolerance_mm
    cost[:, : len(targets)] = d
    if nr:
        feasible[np.arange(n), len(targets) + region - 1] = region > 0
    pairs = assign(cost, feasible)
    matched = {i for i, _ in pairs}
    in_region = int(sum(1 for i in range(n) if i not in matched and region[i] > 0))
    return len(pairs), n - len(pairs) - in_region


def _sorted(points: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pts = np.asarray(points, float).reshape(-1, 2)
    s = np.asarray(scores, float).reshape(-1)
    if len(pts) != len(s):
        raise ValueError(f"expected one score per detection, got {len(pts)} and {len(s)}")
    if not np.isfinite(s).all():
        raise ValueError("detection scores hold NaN or infinite values")
    order = np.argsort(-s, kind="stable")
    return pts[order], s[order]


def calcification_counts(
    points: np.ndarray,
    scores: np.ndarray,
    truth: ImageTruth,
    *,
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
    patient: str = "",
) -> ImageCounts:
    """Individual-finding hits of an image's detections, for every prefix by score.

    Args:
        points: ``(N, 2)`` (row, col) detections, in the pixels of ``truth``.
        scores: ``(N,)`` their scores.
        truth: the image's findings.
        tolerance_mm: largest distance of a hit (> 0).
        patient: the patient, for the bootstrap.
    """
    if not (math.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise ValueError(f"tolerance_mm must be a positive number of mm, got {tolerance_mm!r}")
    pts, s = _sorted(points, scores)
    tp = np.zeros(len(s) + 1, int)
    fp = np.zeros(len(s) + 1, int)
    for k in range(1, len(s) + 1):
        tp[k], fp[k] = _hits(pts[:k], truth.points, truth, tolerance_mm)
    return ImageCounts(s, tp, fp, truth.n_findings, patient)


def cluster_counts(
    points: np.ndarray,
    scores: np.ndarray,
    truth: ImageTruth,
    *,
    tolerance_mm: float = DEFAULT_CLUSTER_TOLERANCE_MM,
    patient: str = "",
    min_count: int = 3,
    window_mm: float = 10.0,
) -> ImageCounts:
    """Cluster hits of an image's detections, clustered anew for every prefix by score.

    ``tp[k]``/``fp[k]`` count detected clusters (hits, false-positive clusters) among the
    clusters of the ``k`` best detections.
    """
    if not (math.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise ValueError(f"tolerance_mm must be a positive number of mm, got {tolerance_mm!r}")
    pts, s = _sorted(points, scores)
    dets = [
        Detection(round(float(r)), round(float(c)), float(v), 0.0)
        for (r, c), v in zip(pts, s, strict=True)
    ]
    tp = np.zeros(len(s) + 1, int)
    fp = np.zeros(len(s) + 1, int)
    for k in range(1, len(s) + 1):
        found = detection_clusters(
            dets[:k], truth.spacing_mm, min_count=min_count, window_mm=window_mm
        )
        centres = np.asarray([c.centroid for c in found], float).reshape(-1, 2)
        tp[k], fp[k] = _hits(centres, truth.clusters, truth, tolerance_mm)
    return ImageCounts(s, tp, fp, truth.n_cluster_findings, patient)


@dataclass
class FrocResult:
    """A FROC curve, its summary and (optionally) its bootstrap band.

    Attributes:
        points: ``(fp_per_image, sensitivity)``, the step envelope, increasing in FP.
        summary: sensitivity at each of :data:`FP_RATES`.
        cpm: mean of ``summary`` (``None`` without annotated findings).
        n_images, n_truth, n_patients: what the curve is over.
        band: ``{"fp_per_image": [...], "low": [...], "high": [...]}`` of the bootstrap.
        summary_ci: ``{rate: (low, high)}`` and ``"cpm": (low, high)``.
    """

    points: list[tuple[float, float]]
    summary: dict[float, float | None]
    cpm: float | None
    n_images: int
    n_truth: int
    n_patients: int
    band: dict[str, list[float]] | None = None
    summary_ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_boot: int = 0
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``froc`` points as ``{"fp_per_image", "sensitivity"}``."""
        return {
            "froc": [
                {"fp_per_image": round(x, 6), "sensitivity": round(y, 6)} for x, y in self.points
            ],
            "sensitivity_at": {
                f"{k:g}": None if v is None else round(v, 6) for k, v in self.summary.items()
            },
            "cpm": None if self.cpm is None else round(self.cpm, 6),
            "cpm_convention": CPM_CONVENTION,
            "n_images": self.n_images,
            "n_findings": self.n_truth,
            "n_patients": self.n_patients,
            "band": self.band,
            "ci": {k: [round(a, 6), round(b, 6)] for k, (a, b) in self.summary_ci.items()},
            "ci_level": CI_LEVEL if self.summary_ci else None,
            "n_boot": self.n_boot,
        }


def _curve(
    tp: np.ndarray, fp: np.ndarray, n_truth: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Raw (fp per image, sensitivity) at every threshold, for image weights ``w``."""
    total = float(w @ n_truth)
    n_img = float(w.sum())
    if total <= 0 or n_img <= 0:
        return None
    return (w @ fp) / n_img, (w @ tp) / total


def _envelope(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
    """Points sorted by x, the best y at or below each x, one per distinct x."""
    order = np.lexsort((-y, x))
    best = np.maximum.accumulate(y[order])
    xs = x[order]
    keep = np.r_[xs[1:] != xs[:-1], True]
    return [(float(a), float(b)) for a, b in zip(xs[keep], best[keep], strict=True)]


def _at_rates(x: np.ndarray, y: np.ndarray, rates: Sequence[float] | np.ndarray) -> np.ndarray:
    """Best sensitivity with at most ``rate`` FP per image (0 when none), for each rate.

    One sort and a running maximum, so that a band on a curve's every FP value (thousands)
    costs a bootstrap resample no more than the four summary rates."""
    order = np.argsort(x, kind="stable")
    best = np.maximum.accumulate(y[order]) if len(y) else y
    idx = np.searchsorted(x[order], np.asarray(rates, float) + 1e-12, side="right") - 1
    return np.where(idx >= 0, best[np.maximum(idx, 0)] if len(y) else 0.0, 0.0).astype(float)


def froc(
    images: Sequence[ImageCounts],
    *,
    n_boot: int = 0,
    seed: int = 0,
    level: float = CI_LEVEL,
    rates: Sequence[float] = FP_RATES,
) -> FrocResult:
    """The FROC curve over images, its summary and, with ``n_boot``, bootstrap bands.

    Args:
        images: per-image counts (:func:`calcification_counts` or :func:`cluster_counts`).
        n_boot: patient bootstrap resamples (0: no band; 1000 is usual).
        seed: the generator's seed.
        level: coverage of the band and intervals.
        rates: FP per image of the summary.

    Raises:
        ValueError: no image, or a bad ``n_boot``/``level``.
    """
    if not images:
        raise ValueError("a FROC curve needs at least one image; got none")
    if n_boot < 0 or not 0.0 < level < 1.0:
        raise ValueError(f"expected n_boot >= 0 and 0 < level < 1, got {n_boot} and {level}")
    pooled = np.concatenate([im.scores for im in images])
    thresholds = np.r_[np.inf, np.unique(pooled)[::-1]]
    tp = np.stack([im.at(thresholds)[0] for im in images]).astype(float)
    fp = np.stack([im.at(thresholds)[1] for im in images]).astype(float)
    n_truth = np.asarray([im.n_truth for im in images], float)
    patients, inverse = np.unique([im.patient for im in images], return_inverse=True)
    raw = _curve(tp, fp, n_truth, np.ones(len(images)))
    if raw is None:
        log.info("FROC: no annotated finding in %d image(s); sensitivity undefined", len(images))
        return FrocResult([], {r: None for r in rates}, None, len(images), 0, len(patients))
    x, y = raw
    at = _at_rates(x, y, rates)
    result = FrocResult(
        _envelope(x, y),
        {float(r): float(v) for r, v in zip(rates, at, strict=True)},
        float(at.mean()),
        len(images),
        int(n_truth.sum()),
        len(patients),
        n_boot=n_boot,
        seed=seed,
    )
    if n_boot:
        _bootstrap(result, (tp, fp, n_truth, inverse), rates, n_boot, seed, level)
    return result


def _bootstrap(
    result: FrocResult,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    rates: Sequence[float],
    n_boot: int,
    seed: int,
    level: float,
) -> None:
    """Percentile band and summary intervals by resampling patients with replacement.

    The band is evaluated at the curve's own FP-per-image values (each resampled curve's
    step value there) and widened to hold the curve where the percentiles miss it (a
    handful of patients give few distinct resamples): drawn as steps, it lies about the
    curve. It used 41 even values from 0, joined by straight lines: a wedge beside a curve
    of few steps."""
    tp, fp, n_truth, inverse = data
    n_pat = int(inverse.max()) + 1
    grid = np.asarray([p[0] for p in result.points], float)
    curve = np.asarray([p[1] for p in result.points], float)
    rng = np.random.default_rng(seed)
    curves, summaries = [], []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, n_pat, n_pat), minlength=n_pat)[inverse].astype(float)
        raw = _curve(tp, fp, n_truth, w)
        if raw is None:
            continue
        curves.append(_at_rates(raw[0], raw[1], grid))
        at = _at_rates(raw[0], raw[1], rates)
        summaries.append(np.r_[at, at.mean()])
    if len(curves) < 10:
        log.info("FROC bootstrap: %d usable resamples; no band", len(curves))
        return
    result.band = froc_band(grid, curve, np.asarray(curves), level)
    tail = (1.0 - level) / 2.0 * 100.0
    slo, shi = np.percentile(np.asarray(summaries), [tail, 100.0 - tail], axis=0)
    names = [f"{r:g}" for r in rates] + ["cpm"]
    result.summary_ci = {n: (float(a), float(b)) for n, a, b in zip(names, slo, shi, strict=True)}


def froc_band(
    grid: np.ndarray, curve: np.ndarray, resampled: np.ndarray, level: float = CI_LEVEL
) -> dict[str, list[float]]:
    """The percentile band of resampled FROC curves about the curve, on the curve's grid.

    Args:
        grid: the curve's FP-per-image values, increasing.
        curve: its sensitivity at each (the step envelope).
        resampled: ``(n_resamples, len(grid))``, each resampled curve's step value there.
        level: coverage.

    Returns:
        ``{"fp_per_image", "low", "high"}``, lists as long as ``grid``, with
        ``low <= curve <= high`` at every value (the percentiles, widened to the curve
        where they miss it).

    Example:
        >>> b = froc_band(np.array([0.0, 1.0]), np.array([0.2, 0.5]),
        ...               np.array([[0.1, 0.4], [0.3, 0.4], [0.3, 0.45]]))
        >>> b["low"], b["high"]
        ([0.11, 0.4], [0.3, 0.5])
    """
    if resampled.ndim != 2 or resampled.shape[1] != len(grid) or len(curve) != len(grid):
        raise ValueError(
            f"expected a curve and resamples on a grid of {len(grid)} values, got a curve of "
            f"{len(curve)} and resamples of shape {resampled.shape}"
        )
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(resampled, [tail, 100.0 - tail], axis=0)
    return {
        "fp_per_image": grid.round(6).tolist(),
        "low": np.minimum(lo, curve).round(6).tolist(),
        "high": np.maximum(hi, curve).round(6).tolist(),
    }
