"""The breast region of a mammogram: segmentation, chest-wall side, bounding box.

Works on a windowed [0, 1] image in MONOCHROME2 polarity (breast bright, background dark);
apply :func:`mcalc.imaging.invert` first for MONOCHROME1 files.

Example:
    >>> img = np.zeros((200, 160), np.float32)
    >>> img[40:160, :90] = 0.7                       # breast against the left edge
    >>> img[10:25, 130:150] = 1.0                    # burned-in label
    >>> m = breast_mask(img)
    >>> bounding_box(m), chest_wall_side(m), bool(m[15, 140])
    ((40, 0, 160, 90), 'left', False)
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from mcalc.imaging import downsample, to_uint8

__all__ = ["breast_mask", "chest_wall_side", "bounding_box"]

log = logging.getLogger(__name__)

#: Images whose (denoised) gray levels span less than this, in 8-bit steps, hold no breast.
_MIN_CONTRAST = 8
#: Fraction of the width, each side, read by :func:`chest_wall_side`.
_EDGE_FRACTION = 0.05


def breast_mask(unit: np.ndarray, *, work_side: int = 512) -> np.ndarray:
    """Boolean mask of the breast in a windowed [0, 1] mammogram.

    Stages, on a copy shrunk to ``work_side`` px on its longest side (area averaging):

    1. 5x5 median filter: removes detector noise and isolated bright pixels;
    2. threshold: Otsu's, lowered towards the background so that the thin, dim skin edge
       and fatty tissue are kept: 15% of the way from the background level to Otsu's, or
       6 robust standard deviations above the background if that is higher (the
       background is the darker class of a second Otsu split inside the darker class);
    3. the largest connected component: burned-in labels and markers are separate
       bright blobs on the dark background;
    4. 5x5 closing and hole filling (holes: dark regions not touching the image border);
    5. bilinear upsampling to the full shape, cut at 0.5.

    An image without contrast (all black, or constant) gives an all-False mask; callers
    report "no breast region".

    Args:
        unit: 2-D windowed image, values in [0, 1] (others are clipped, NaN read as 0).
        work_side: longest side of the working copy; 512 keeps the skin line within
            about 4 px at 4096 px while taking a few milliseconds.

    Returns:
        Bool mask of ``unit``'s shape.
    """
    img = np.asarray(unit, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image, got shape {img.shape}")
    if work_side < 16:
        raise ValueError(f"work_side must be >= 16, got {work_side}")
    h, w = img.shape
    empty = np.zeros((h, w), dtype=bool)
    if img.size == 0:
        return empty
    img = np.clip(np.nan_to_num(img, nan=0.0), 0.0, 1.0)
    small = cv2.medianBlur(to_uint8(downsample(img, work_side)), 5)
    lo, hi = int(small.min()), int(small.max())
    if hi - lo < _MIN_CONTRAST:
        log.debug("breast_mask: no contrast (levels %d..%d): no breast region", lo, hi)
        return empty

    otsu = _otsu(small)
    # The background is the darker Otsu class of the darker Otsu class: with large fatty
    # breasts the first split can fall between fatty and dense tissue.
    dark = small[small <= otsu]
    background_px = dark[dark <= _otsu(dark)] if np.ptp(dark) > 0 else dark
    background = float(np.median(background_px))
    sigma = 1.4826 * float(np.median(np.abs(background_px.astype(np.float32) - background)))
    level = background + max(6.0 * sigma + 1.0, 0.15 * (otsu - background))
    level = min(level, otsu)
    fg = (small > level).astype(np.uint8)

    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return empty
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    region = (labels == largest).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, kernel)
    region = _fill_holes(region)
    log.debug(
        "breast_mask: otsu %.0f, background %.1f (sigma %.1f), level %.1f, %d component(s)",
        otsu,
        background,
        sigma,
        level,
        n - 1,
    )
    if region.shape == (h, w):
        return region.astype(bool)
    full = cv2.resize(region.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    return full >= 0.5


def _otsu(values: np.ndarray) -> float:
    """Otsu's threshold of uint8 values (any shape)."""
    flat = np.ascontiguousarray(values, dtype=np.uint8).reshape(1, -1)
    level, _ = cv2.threshold(flat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(level)


def _fill_holes(region: np.ndarray) -> np.ndarray:
    """Fill dark regions of a uint8 0/1 mask that do not touch the image border."""
    n, labels = cv2.connectedComponents((region == 0).astype(np.uint8), connectivity=4)
    if n <= 1:
        return region
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    outside = np.zeros(n, dtype=bool)
    outside[border] = True
    outside[0] = True  # label 0 is the region itself
    filled = region.copy()
    filled[~outside[labels]] = 1
    return filled


def chest_wall_side(mask: np.ndarray) -> str:
    """``"left"`` or ``"right"``: the image side where the breast meets the edge.

    Counts mask pixels in the outer 5% of columns on each side; on a tie (neither or both
    touch), the side holding more of the mask wins.

    Raises:
        ValueError: the mask is not 2-D or is empty (no breast region to orient).
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    binary = arr != 0
    if not binary.any():
        raise ValueError("empty mask: no breast region, so no chest-wall side")
    w = binary.shape[1]
    band = max(1, round(w * _EDGE_FRACTION))
    left = int(np.count_nonzero(binary[:, :band]))
    right = int(np.count_nonzero(binary[:, w - band :]))
    if left != right:
        return "left" if left > right else "right"
    cols = np.count_nonzero(binary, axis=0)
    half = w // 2
    left_mass = int(cols[:half].sum())
    right_mass = int(cols[w - half :].sum())
    return "right" if right_mass > left_mass else "left"


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(r0, c0, r1, c1)`` around the non-zero pixels (``r1``/``c1`` exclusive), or None.

    Example:
        >>> m = np.zeros((5, 6), bool); m[1:3, 2:5] = True
        >>> bounding_box(m)
        (1, 2, 3, 5)
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    rows = np.flatnonzero(arr.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(arr.any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1
