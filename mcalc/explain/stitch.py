"""Full-image maps from patch maps, and their normalisation: numpy only, no model.

Patch maps come back raw (ReLU'd, upsampled to the patch, never NaN) so that they can be
stitched and two images shown on one colour scale. :func:`stitch` takes their mean at each
pixel under a tapering window (no seams at patch borders); :func:`normalize_map` scales a
map to [0, 1] with an epsilon, :func:`joint_range` gives several maps one scale.

Example:
    >>> import numpy as np
    >>> normalize_map(np.array([0.0, 1.0, 2.0])).round(3).tolist()
    [0.0, 0.5, 1.0]
    >>> joint_range([np.ones(2), np.full(2, 3.0)])
    (0.0, 3.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mcalc.explain.grid import PatchGrid

__all__ = ["EPS", "normalize_map", "joint_range", "taper_window", "stitch"]

#: Epsilon of every normalisation.
EPS = 1e-7


def normalize_map(
    cam: np.ndarray, vmin: float | None = None, vmax: float | None = None, eps: float = EPS
) -> np.ndarray:
    """Scale a map to [0, 1]: ``(cam - vmin) / (vmax - vmin + eps)``, clipped; never NaN.

    ``vmin``/``vmax`` default to the map's own minimum and maximum; pass the same range
    (:func:`joint_range`) to show several maps on one colour scale. NaN and infinities
    read as 0. A constant map comes out all 0 (or all ~1 with ``vmin=0``), never NaN.
    """
    x = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size == 0:
        return x
    lo = float(x.min()) if vmin is None else float(vmin)
    hi = float(x.max()) if vmax is None else float(vmax)
    out = (x - lo) / (max(hi - lo, 0.0) + eps)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def joint_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """``(0, max)`` over several non-negative maps: one colour scale for all of them."""
    peaks = [float(np.nanmax(m)) for m in maps if np.size(m)]
    peak = max([p for p in peaks if np.isfinite(p)], default=0.0)
    return 0.0, max(peak, 0.0)


def taper_window(size: int) -> np.ndarray:
    """``(size, size)`` separable sine-squared (Hann) window, positive everywhere.

    With a stride of half a patch, overlapping windows add up to a constant, so a stitched
    map has no seams at patch borders (where convolution padding distorts every CAM).
    """
    n = np.arange(size, dtype=np.float64)
    w = np.sin(np.pi * (n + 0.5) / size) ** 2
    return np.outer(w, w).astype(np.float32)


def stitch(
    cams: np.ndarray,
    origins: np.ndarray,
    grid: PatchGrid,
    weights: np.ndarray | None = None,
    *,
    taper: bool = True,
) -> np.ndarray:
    """A full-image map from patch maps: their window-weighted mean at each pixel.

    Args:
        cams: ``(N, P, P)`` patch maps.
        origins: ``(N, 2)`` top-left corners (row, col) of the patches, model-input pixels
            (a grid cell's is ``cell * grid.stride``), inside :attr:`PatchGrid.padded_shape`.
        grid: the grid (its image shape is the output's).
        weights: a factor per patch (e.g. its probability of the explained class).
        taper: weight pixels by :func:`taper_window` (else a plain mean).

    Returns:
        ``grid.image_shape`` float32 map, 0 where no patch was explained.
    """
    ph, pw = grid.padded_shape
    total = np.zeros((ph, pw), np.float32)
    norm = np.zeros((ph, pw), np.float32)
    p = grid.patch
    window = taper_window(p) if taper else np.ones((p, p), np.float32)
    factors = np.ones(len(cams), np.float32) if weights is None else np.asarray(weights, np.float32)
    corners = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    for cam, (r, c), f in zip(cams, corners, factors, strict=True):
        total[r : r + p, c : c + p] += window * (f * cam)
        norm[r : r + p, c : c + p] += window
    h, w = grid.image_shape
    out = np.where(norm > 0, total / np.maximum(norm, EPS), 0.0)
    return out[:h, :w].astype(np.float32)
