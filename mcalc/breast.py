"""The breast region of a mammogram: segmentation, pectoral muscle, chest-wall side, box.

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
from typing import Any

import cv2
import numpy as np

from mcalc.imaging import downsample, nonzero_box, to_uint8

__all__ = [
    "breast_mask",
    "pectoral_mask",
    "breast_region",
    "film_border",
    "film_border_mask",
    "without_film_border",
    "chest_wall_side",
    "bounding_box",
    "mask_quality",
]

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
    img = np.clip(img, 0.0, 1.0)  # +-inf to 1 and 0 as well
    nan = np.isnan(img)
    if nan.any():
        img[nan] = 0.0
    small = cv2.medianBlur(to_uint8(downsample(img, work_side)), 5)
    frame = film_border(small)
    if frame.any():
        # Scanned film: the bright border bands would join the breast to the image edge;
        # they are background for the thresholds below and never part of the breast.
        small = small.copy()
        small[frame] = int(np.percentile(small[~frame], 5)) if (~frame).any() else 0
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
    region[frame] = 0
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


def pectoral_mask(
    unit: np.ndarray,
    breast: np.ndarray | None = None,
    *,
    work_side: int = 512,
    min_contrast: float = 10.0,
) -> np.ndarray:
    """The pectoral muscle of an MLO view: the bright triangle in the upper chest-wall corner.

    A straight-line model of the muscle's edge, as in the first stage of Kwok et al.,
    "Automatic pectoral muscle segmentation on mediolateral oblique view mammograms", IEEE
    TMI 23(9), 2004: on the shrunk, median-filtered copy turned so that the chest wall is on
    the left, Canny edges of the upper-left three quarters vote in a Hough transform; each
    of the strongest lines that cuts the top edge at ``x0`` and the chest-wall edge at
    ``y0`` (an oblique line, 8-75 degrees, ``x0`` < 60% of the width, ``y0`` < 80% of the
    height) encloses a triangle ``x/x0 + y/y0 < 1``. A candidate must lie in the breast (90%
    of it) and the breast must reach the top edge above it (as on an MLO view, where the
    muscle enters from the top; a CC breast does not). The line kept is the one whose
    triangle is brightest against the band of breast just outside it (difference of medians,
    8-bit levels); below ``min_contrast`` there is no muscle (a CC view, or a muscle as
    dense as the tissue beside it) and the mask is empty.

    Args:
        unit: 2-D windowed [0, 1] image (MONOCHROME2 polarity).
        breast: its :func:`breast_mask` (computed when not given).
        work_side: longest side of the working copy.
        min_contrast: least brightness step (8-bit levels) from the muscle to the tissue.

    Returns:
        Bool mask of ``unit``'s shape, inside ``breast``; all False when no muscle is seen.
    """
    img = np.clip(np.nan_to_num(np.asarray(unit, dtype=np.float32), nan=0.0), 0.0, 1.0)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"expected a non-empty 2-D grayscale image, got shape {img.shape}")
    h, w = img.shape
    full = np.asarray(breast_mask(img, work_side=work_side) if breast is None else breast, bool)
    empty = np.zeros((h, w), bool)
    if not full.any():
        return empty
    small = cv2.medianBlur(to_uint8(downsample(img, work_side)), 5)
    small_shape = small.shape
    region = (
        cv2.resize(
            full.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST
        )
        > 0
    )
    flip = chest_wall_side(region) == "right"
    if flip:
        small, region = small[:, ::-1], region[:, ::-1]
    # The corner is the breast's own: a film's border bands are not part of it.
    top = int(np.flatnonzero(region.any(axis=1))[0])
    left = int(np.flatnonzero(region.any(axis=0))[0])
    small, region = small[top:, left:], region[top:, left:]
    sh, sw = small.shape
    rh, rw = int(sh * 0.75), int(sw * 0.75)
    roi = cv2.GaussianBlur(np.ascontiguousarray(small[:rh, :rw]), (0, 0), 2.0)
    lines = cv2.HoughLines(cv2.Canny(roi, 10, 30), 1, np.pi / 180, threshold=max(20, rh // 10))
    if lines is None:
        return empty
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    best: tuple[float, float, float] | None = None
    for rho, theta in lines[:60, 0]:
        if not np.deg2rad(8) < theta < np.deg2rad(75) or rho <= 0:
            continue
        x0, y0 = rho / np.cos(theta), rho / np.sin(theta)
        if not (0.05 * sw < x0 < 0.6 * sw and 0.08 * sh < y0 < 0.8 * sh):
            continue
        level = xx / x0 + yy / y0
        triangle = level < 1
        inside, band = triangle & region, (level > 1.05) & (level < 1.35) & region
        if inside.sum() < 0.005 * sh * sw or band.sum() < 50:
            continue
        if inside.sum() < 0.9 * triangle.sum() or region[:3, : int(x0)].mean() < 0.8:
            continue  # the muscle fills the corner and the breast reaches the top edge there
        contrast = float(np.median(small[inside])) - float(np.median(small[band]))
        if contrast >= min_contrast and (best is None or contrast > best[0]):
            best = (contrast, float(x0), float(y0))
    if best is None:
        log.debug("pectoral_mask: no oblique bright edge in the chest-wall corner")
        return empty
    _, x0, y0 = best
    # Back to full resolution: the corner and the line's intercepts scale with the image.
    fy, fx = h / small_shape[0], w / small_shape[1]
    rows = np.arange(h, dtype=np.float32)[:, None] - top * fy
    cols = np.arange(w, dtype=np.float32)[None, :]
    if flip:
        cols = (w - 1) - cols
    cols = cols - left * fx
    muscle = (cols / (x0 * fx) + rows / (y0 * fy) < 1.0) & (rows >= 0) & (cols >= 0) & full
    log.debug("pectoral_mask: x0 %.0f px, y0 %.0f px, contrast %.0f", x0 * fx, y0 * fy, best[0])
    return muscle


def breast_region(unit: np.ndarray, view: str | None = None) -> np.ndarray:
    """Where a model should look for calcifications: :func:`breast_mask` without the
    pectoral muscle (:func:`pectoral_mask`) on an ``MLO`` view; the whole mask otherwise."""
    mask = breast_mask(unit)
    if (view or "").upper() != "MLO" or not mask.any():
        return mask
    return mask & ~pectoral_mask(unit, mask)


def film_border(
    small: np.ndarray, *, level: int = 235, fraction: float = 0.5, step: float = 40.0
) -> np.ndarray:
    """The bright bands along the image's sides of a scanned film (unexposed film edges).

    From each side inwards, a row (or column) belongs to the border while at least
    ``fraction`` of its pixels are near white (>= ``level`` of 255), up to a fifth of the
    image, and the band ends in a step: the lines just inside it are darker on average by
    at least ``step`` levels (a film edge is sharp; a bright ramp or dense tissue is not).
    The band then takes two more lines (its blurred inner edge). Breast tissue, even dense,
    leaves most of a row or column below ``level``: a digital image has no such band.

    Args:
        small: uint8 image (median-filtered working copy).

    Returns:
        Bool mask of the bands (all False without any).

    Example:
        >>> img = np.full((50, 40), 30, np.uint8); img[:4] = 250; img[:, 37:] = 255
        >>> m = film_border(img)
        >>> int(m[:, 0].sum()), int(m[10].sum())
        (6, 5)
    """
    arr = np.asarray(small)
    rows, cols = arr.shape
    out = np.zeros((rows, cols), bool)

    def depth(lines: np.ndarray) -> int:
        """Lines (index 0 at the edge) that form a band ending in a step down."""
        share = (lines >= level).mean(axis=1)
        n = 0
        while n < lines.shape[0] // 5 and share[n] >= fraction:
            n += 1
        if n == 0:
            return 0
        inside = float(lines[n + 2 : n + 6].mean()) if n + 6 <= lines.shape[0] else 255.0
        band = float(lines[:n].mean())
        return n + 2 if band - inside >= step else 0  # a ramp or bright tissue has no step

    top, bottom = depth(arr), depth(arr[::-1])
    left, right = depth(arr.T), depth(arr.T[::-1])
    out[:top] = True
    out[rows - bottom :] = True
    out[:, :left] = True
    out[:, cols - right :] = True
    return out


def film_border_mask(unit: np.ndarray, *, work_side: int = 512) -> np.ndarray:
    """:func:`film_border` of a [0, 1] image at full resolution (all False for a digital
    image): computed on the same shrunk, median-filtered copy as :func:`breast_mask`."""
    img = np.clip(np.nan_to_num(np.asarray(unit, dtype=np.float32), nan=0.0), 0.0, 1.0)
    if img.ndim != 2 or img.size == 0:
        raise ValueError(f"expected a non-empty 2-D grayscale image, got shape {img.shape}")
    small = cv2.medianBlur(to_uint8(downsample(img, work_side)), 5)
    band = film_border(small)
    if not band.any() or band.shape == img.shape:
        return band
    h, w = img.shape
    return cv2.resize(band.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


def without_film_border(unit: np.ndarray) -> np.ndarray:
    """``unit`` with its film border bands (:func:`film_border_mask`) set to the image's
    background level (its 1st percentile outside the bands); ``unit`` itself when it has
    none. What models see of a scanned film: the borders are not image content, and their
    bright inner edge otherwise looks like a calcified structure to a patch classifier."""
    band = film_border_mask(unit)
    if not band.any() or band.all():
        return unit
    out = np.array(unit, dtype=np.float32, copy=True)
    out[band] = float(np.percentile(out[~band], 1))
    return out


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
    box = nonzero_box(mask)  # (r0, r1, c0, c1)
    return None if box is None else (box[0], box[2], box[1], box[3])


def mask_quality(mask: np.ndarray, pectoral: np.ndarray | None = None) -> dict[str, Any]:
    """How plausible a breast mask is, for ``scan --json``: the share of the image it
    covers, the image sides it touches, and whether it touches the side opposite the chest
    wall (a breast never reaches that edge: a mask that does has taken in film borders,
    labels or the background). With ``pectoral`` (an MLO view's :func:`pectoral_mask`),
    ``pectoral`` is the share of the image the muscle covers (excluded from the breast
    region models look at; 0: none found).

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:8, :5] = True
        >>> mask_quality(m)
        {'fraction': 0.3, 'touches': ['left'], 'touches_far_side': False}
    """
    arr = np.asarray(mask) != 0
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    extra = {} if pectoral is None else {"pectoral": round(float(np.mean(pectoral)), 4)}
    if not arr.any():
        return {"fraction": 0.0, "touches": [], "touches_far_side": False, **extra}
    sides = {
        "top": bool(arr[0].any()),
        "bottom": bool(arr[-1].any()),
        "left": bool(arr[:, 0].any()),
        "right": bool(arr[:, -1].any()),
    }
    far = "right" if chest_wall_side(arr) == "left" else "left"
    return {
        "fraction": round(float(arr.mean()), 4),
        "touches": [side for side, hit in sides.items() if hit],
        "touches_far_side": sides[far],
        **extra,
    }
