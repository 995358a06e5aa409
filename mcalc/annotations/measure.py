"""Measurements of a calcification mask: calcifications, clusters and their summary.

:func:`find_calcifications` gives one :class:`Calcification` per connected mark,
:func:`find_clusters` groups of at least three calcifications within 1 cm², and
:func:`summarize` both. Coordinates are (row, column) in pixels of the full-resolution
image, pixel centres at integer positions; boxes are ``(r0, c0, r1, c1)`` with ``r1``/``c1``
exclusive.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from mcalc.annotations.regions import Region, find_regions
from mcalc.imaging import nonzero_box

__all__ = [
    "Calcification",
    "find_calcifications",
    "Cluster",
    "find_clusters",
    "AnnotationSummary",
    "summarize",
]

log = logging.getLogger(__name__)


def _check_spacing(spacing_mm: Sequence[float]) -> tuple[float, float]:
    if len(spacing_mm) != 2:
        raise ValueError(f"spacing_mm must be (row, column) in mm, got {spacing_mm!r}")
    sr, sc = float(spacing_mm[0]), float(spacing_mm[1])
    if not (math.isfinite(sr) and math.isfinite(sc) and sr > 0 and sc > 0):
        raise ValueError(f"pixel spacing must be positive and finite, got {spacing_mm!r}")
    return sr, sc


def _check_mask(mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class Calcification:
    """One marked calcification (a connected component of the mask, 8-connectivity).

    Attributes:
        label: component number, 1-based, in raster order of the first pixel.
        centroid: (row, column) of the centre of its pixels, full-resolution pixels.
        area_px: number of pixels.
        area_mm2: area in mm² (pixels x row spacing x column spacing).
        bbox: ``(r0, c0, r1, c1)``, ``r1``/``c1`` exclusive.
        diameter_mm: diameter of the disc of the same area.
    """

    label: int
    centroid: tuple[float, float]
    area_px: int
    area_mm2: float
    bbox: tuple[int, int, int, int]
    diameter_mm: float


def find_calcifications(mask: np.ndarray, spacing_mm: tuple[float, float]) -> list[Calcification]:
    """One :class:`Calcification` per connected component of ``mask``, sorted by label.

    Args:
        mask: 2-D mask on the image's grid (non-zero = calcification).
        spacing_mm: (row, column) pixel spacing in mm.

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:4, 3:6] = True
        >>> c = find_calcifications(m, (0.1, 0.1))[0]
        >>> c.area_px, c.bbox, c.centroid, round(c.area_mm2, 3)
        (6, (2, 3, 4, 6), (2.5, 4.0), 0.06)
    """
    arr = _check_mask(mask)
    sr, sc = _check_spacing(spacing_mm)
    box = nonzero_box(arr)
    if box is None:
        return []
    # On the box of the marks only (a few marks on a 4096x3328 grid): the same components,
    # the same raster order, a fraction of the memory; coordinates shifted back below.
    top, left = box[0], box[2]
    binary = (arr[box[0] : box[1], box[2] : box[3]] != 0).astype(np.uint8)
    idx = np.flatnonzero(binary)
    _, labels = cv2.connectedComponents(binary, connectivity=8, ltype=cv2.CV_32S)
    # Statistics from the marked pixels only (connectedComponentsWithStats visits every
    # pixel of the box), labels renumbered in raster order of first pixels.
    lab = labels.reshape(-1)[idx]
    order = np.argsort(lab, kind="stable")  # idx is raster-ordered, so each run is too
    lab, idx = lab[order], idx[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    rows, cols = np.divmod(idx, binary.shape[1])
    rows, cols = rows + top, cols + left
    area = np.diff(np.r_[starts, idx.size])
    first = idx[starts]
    r0, r1 = rows[starts], np.maximum.reduceat(rows, starts) + 1
    c0, c1 = np.minimum.reduceat(cols, starts), np.maximum.reduceat(cols, starts) + 1
    cy = np.add.reduceat(rows, starts) / area
    cx = np.add.reduceat(cols, starts) / area
    out = []
    for label, k in enumerate(np.argsort(first), start=1):
        area_mm2 = float(area[k]) * sr * sc
        out.append(
            Calcification(
                label=label,
                centroid=(float(cy[k]), float(cx[k])),
                area_px=int(area[k]),
                area_mm2=area_mm2,
                bbox=(int(r0[k]), int(c0[k]), int(r1[k]), int(c1[k])),
                diameter_mm=2.0 * math.sqrt(area_mm2 / math.pi),
            )
        )
    return out


# --------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class Cluster:
    """A group of calcifications (see :func:`find_clusters` for the definition).

    Attributes:
        id: 1-based, in order of the members' smallest label.
        members: labels of its calcifications, ascending.
        centroid: (row, column) mean of the members' centroids.
        bbox: ``(r0, c0, r1, c1)`` around all member pixels, ``r1``/``c1`` exclusive.
        hull: convex polygon, ``((row, col), ...)``, around the members' pixel boxes
            (pixel edges, so half-integer coordinates).
        area_mm2: area of ``hull`` in mm².
    """

    id: int
    members: tuple[int, ...]
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    hull: tuple[tuple[float, float], ...]
    area_mm2: float

    @property
    def count(self) -> int:
        """Number of member calcifications."""
        return len(self.members)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _union_run(uf: _UnionFind, items: np.ndarray) -> None:
    for k in range(1, items.size):
        uf.union(int(items[0]), int(items[k]))


def find_clusters(
    calcs: Sequence[Calcification],
    spacing_mm: tuple[float, float],
    *,
    min_count: int = 3,
    window_mm: float = 10.0,
) -> list[Cluster]:
    """Clusters: at least ``min_count`` calcifications within a ``window_mm`` square.

    Definition (the usual "three or more calcifications within 1 cm²", made exact):
    a *dense square* is an axis-aligned ``window_mm`` x ``window_mm`` square (edges
    included) holding the centroids of at least ``min_count`` calcifications. Two
    calcifications belong to the same cluster when some dense square holds both, or
    through a chain of such squares. So every member lies in a 1 cm² square with at least
    two other calcifications, and overlapping groups merge into one cluster.

    Why not plain single linkage on a distance: it chains - calcifications 9 mm apart in a
    line would form one long "cluster" with never three in any 1 cm². Why not fixed grid
    cells: a group straddling a cell edge would be missed. This definition is the rule
    itself, independent of the order of the input, and checked exactly: only squares whose
    left and top edges pass through a centroid need testing.

    Centroids are converted to mm with the (row, column) pixel spacing, so the same pixel
    layout can be a cluster at 0.07 mm and not at 0.5 mm.

    Args:
        calcs: calcifications from :func:`find_calcifications`.
        spacing_mm: (row, column) pixel spacing in mm.
        min_count: least number of calcifications in a square (>= 1).
        window_mm: side of the square in mm (> 0).

    Returns:
        Clusters ordered by their smallest member label, ids from 1.
    """
    sr, sc = _check_spacing(spacing_mm)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if not (math.isfinite(window_mm) and window_mm > 0):
        raise ValueError(f"window_mm must be positive, got {window_mm}")
    n = len(calcs)
    if n < min_count or n == 0:
        return []
    ys = np.array([c.centroid[0] * sr for c in calcs], dtype=np.float64)
    xs = np.array([c.centroid[1] * sc for c in calcs], dtype=np.float64)
    side = window_mm * (1.0 + 1e-9)
    by_x = np.argsort(xs, kind="stable")
    xs_sorted = xs[by_x]
    uf = _UnionFind(n)
    for start in range(n):
        stop = int(np.searchsorted(xs_sorted, xs_sorted[start] + side, side="right"))
        if stop - start < min_count:
            continue
        strip = by_x[start:stop]  # centroids with x in [x_left, x_left + side]
        strip = strip[np.argsort(ys[strip], kind="stable")]
        strip_y = ys[strip]
        ends = np.searchsorted(strip_y, strip_y + side, side="right")
        # Dense squares of this strip are runs [top, end) of the y-sorted strip; runs that
        # share a member merge, so each strip costs one pass.
        run_start, run_end = -1, -1
        for top in np.flatnonzero(ends - np.arange(strip.size) >= min_count):
            if top >= run_end:
                _union_run(uf, strip[run_start:run_end])
                run_start = int(top)
            run_end = max(run_end, int(ends[top]))
        _union_run(uf, strip[run_start:run_end])
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    members = [g for g in groups.values() if len(g) >= min_count]
    members.sort(key=lambda g: min(calcs[i].label for i in g))
    return [_make_cluster(k + 1, [calcs[i] for i in g], sr, sc) for k, g in enumerate(members)]


def _make_cluster(cluster_id: int, members: list[Calcification], sr: float, sc: float) -> Cluster:
    members = sorted(members, key=lambda c: c.label)
    r0 = min(c.bbox[0] for c in members)
    c0 = min(c.bbox[1] for c in members)
    r1 = max(c.bbox[2] for c in members)
    c1 = max(c.bbox[3] for c in members)
    corners = []
    for c in members:
        br0, bc0, br1, bc1 = c.bbox
        for row in (br0 - 0.5, br1 - 0.5):
            for col in (bc0 - 0.5, bc1 - 0.5):
                corners.append((row, col))
    hull = _convex_hull(corners)
    area_px = float(cv2.contourArea(np.array([(c, r) for r, c in hull], dtype=np.float32)))
    return Cluster(
        id=cluster_id,
        members=tuple(c.label for c in members),
        centroid=(
            float(np.mean([c.centroid[0] for c in members])),
            float(np.mean([c.centroid[1] for c in members])),
        ),
        bbox=(r0, c0, r1, c1),
        hull=hull,
        area_mm2=area_px * sr * sc,
    )


def _convex_hull(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Convex hull of (row, col) points; fewer than 3 hull points become a 1 px box."""
    xy = np.array([(c, r) for r, c in points], dtype=np.float32).reshape(-1, 1, 2)
    hull = cv2.convexHull(xy).reshape(-1, 2)
    if len(hull) < 3 or cv2.contourArea(hull) <= 0.0:
        rmin, rmax = float(xy[..., 1].min()) - 0.5, float(xy[..., 1].max()) + 0.5
        cmin, cmax = float(xy[..., 0].min()) - 0.5, float(xy[..., 0].max()) + 0.5
        return ((rmin, cmin), (rmin, cmax), (rmax, cmax), (rmax, cmin))
    return tuple((float(y), float(x)) for x, y in hull)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class AnnotationSummary:
    """Calcifications and clusters of one annotation mask, for the viewer and ``scan``.

    Attributes:
        shape: (rows, columns) of the mask.
        spacing_mm: (row, column) pixel spacing used for the measurements.
        calcifications: every calcification, by label.
        clusters: clusters, by id.
        min_count, window_mm: the cluster rule used.
    """

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]
    calcifications: tuple[Calcification, ...] = field(default_factory=tuple)
    clusters: tuple[Cluster, ...] = field(default_factory=tuple)
    min_count: int = 3
    window_mm: float = 10.0
    regions: tuple[Region, ...] = field(default_factory=tuple)

    @property
    def n_regions(self) -> int:
        """Annotated regions (``annotation_kind`` ``region``; 0 for calcification marks)."""
        return len(self.regions)

    @property
    def n_calcifications(self) -> int:
        return len(self.calcifications)

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def n_clustered(self) -> int:
        """Calcifications that belong to a cluster."""
        return sum(c.count for c in self.clusters)

    @property
    def total_area_mm2(self) -> float:
        return float(sum(c.area_mm2 for c in self.calcifications))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (counts first, then per-item lists)."""
        return {
            "shape": list(self.shape),
            "spacing_mm": list(self.spacing_mm),
            "cluster_rule": {"min_count": self.min_count, "window_mm": self.window_mm},
            "n_calcifications": self.n_calcifications,
            "n_clusters": self.n_clusters,
            "n_clustered": self.n_clustered,
            "n_regions": self.n_regions,
            "total_area_mm2": round(self.total_area_mm2, 4),
            "calcifications": [
                {
                    "label": c.label,
                    "centroid": [round(c.centroid[0], 2), round(c.centroid[1], 2)],
                    "area_px": c.area_px,
                    "area_mm2": round(c.area_mm2, 4),
                    "diameter_mm": round(c.diameter_mm, 3),
                    "bbox": list(c.bbox),
                }
                for c in self.calcifications
            ],
            "clusters": [
                {
                    "id": k.id,
                    "members": list(k.members),
                    "count": k.count,
                    "centroid": [round(k.centroid[0], 2), round(k.centroid[1], 2)],
                    "bbox": list(k.bbox),
                    "area_mm2": round(k.area_mm2, 3),
                    "hull": [list(p) for p in k.hull],
                }
                for k in self.clusters
            ],
        }


def summarize(
    mask: np.ndarray,
    spacing_mm: tuple[float, float],
    *,
    min_count: int = 3,
    window_mm: float = 10.0,
    kind: str = "mask",
) -> AnnotationSummary:
    """Calcifications and clusters of a mask on the image's grid.

    A ``region`` annotation (``kind="region"``: non-zero pixels outline areas holding
    calcifications) has no calcification of its own: its summary lists only
    :attr:`AnnotationSummary.regions`.

    Args:
        mask: 2-D calcification mask (non-zero = marked), e.g. from
            :func:`load_annotation_mask`.
        spacing_mm: (row, column) pixel spacing in mm.
        min_count, window_mm: cluster rule, see :func:`find_clusters`.
    """
    arr = _check_mask(mask)
    spacing = _check_spacing(spacing_mm)
    if kind == "region":
        return AnnotationSummary(
            shape=(int(arr.shape[0]), int(arr.shape[1])),
            spacing_mm=spacing,
            min_count=min_count,
            window_mm=float(window_mm),
            regions=find_regions(arr, spacing),
        )
    calcs = find_calcifications(arr, spacing)
    clusters = find_clusters(calcs, spacing, min_count=min_count, window_mm=window_mm)
    return AnnotationSummary(
        shape=(int(arr.shape[0]), int(arr.shape[1])),
        spacing_mm=spacing,
        calcifications=tuple(calcs),
        clusters=tuple(clusters),
        min_count=min_count,
        window_mm=float(window_mm),
    )
