"""Region annotations: areas that hold calcifications, not the calcifications themselves.

Many public collections (CBIS-DDSM ROI masks, INbreast cluster outlines, MIAS circles) mark
a *region* holding calcifications. Its non-zero pixels are not calcifications, so it is
never counted as such: :func:`find_regions` gives one :class:`Region` per connected area,
with the outline the viewer draws and the area the scan reports.

Example:
    >>> import numpy as np
    >>> mask = np.zeros((40, 40), bool); mask[5:15, 5:25] = True
    >>> [r.area_px for r in find_regions(mask, (0.1, 0.1))]
    [200]
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Region", "find_regions", "inside_regions"]


@dataclass(frozen=True)
class Region:
    """One annotated region.

    Attributes:
        label: 1-based label (connected component).
        centroid: (row, column) in pixels.
        area_px, area_mm2: its area.
        bbox: ``(r0, c0, r1, c1)``, ``r1``/``c1`` exclusive.
        outline: (K, 2) polygon (row, column) of its outer border.
    """

    label: int
    centroid: tuple[float, float]
    area_px: int
    area_mm2: float
    bbox: tuple[int, int, int, int]
    outline: np.ndarray


def find_regions(mask: np.ndarray, spacing_mm: tuple[float, float]) -> tuple[Region, ...]:
    """One :class:`Region` per 8-connected area of non-zero pixels of ``mask``.

    Args:
        mask: 2-D region mask (non-zero = inside a region).
        spacing_mm: (row, column) pixel spacing in mm.

    Raises:
        ValueError: ``mask`` is not 2-D.
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"a region mask must be 2-D, got shape {arr.shape}")
    binary = (arr != 0).astype(np.uint8)
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
    pixel_mm2 = float(spacing_mm[0]) * float(spacing_mm[1])
    out: list[Region] = []
    for k in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[k])
        contours, _ = cv2.findContours(
            (labels[y : y + h, x : x + w] == k).astype(np.uint8),
            cv2.RETR_EXTERNAL,
            cv2.CHAIN_APPROX_SIMPLE,
        )
        biggest = max(contours, key=len)[:, 0, :]  # (K, 2) as (x, y)
        outline = np.column_stack([biggest[:, 1] + y, biggest[:, 0] + x]).astype(float)
        out.append(
            Region(
                label=k,
                centroid=(float(centroids[k][1]), float(centroids[k][0])),
                area_px=area,
                area_mm2=area * pixel_mm2,
                bbox=(y, x, y + h, x + w),
                outline=outline,
            )
        )
    return tuple(out)


def inside_regions(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Whether each (row, column) point lies inside a region of ``mask`` (bool per point;
    points outside the image are outside)."""
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    r = np.round(pts[:, 0]).astype(int)
    c = np.round(pts[:, 1]).astype(int)
    ok = (r >= 0) & (r < mask.shape[0]) & (c >= 0) & (c < mask.shape[1])
    out = np.zeros(len(pts), bool)
    out[ok] = np.asarray(mask)[r[ok], c[ok]] != 0
    return out
