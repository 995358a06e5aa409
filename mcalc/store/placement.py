"""Where a reader's click may place a mark, and which mark a click points at.

The rules of marking, apart from how they are drawn: a calcification is placed inside the
image and inside the breast (:func:`check_click`), a click on one of the reader's own marks
selects it (:func:`nearest_mark`), and a click on the overview lands on the calcification
aimed at (:func:`snap_to_peak`). Clicks arrive in display coordinates (the image may be
mirrored, :class:`mcalc.viewer.ImageView`); marks are kept in the file's own.

Example:
    >>> import numpy as np
    >>> from mcalc.viewer import ImageView
    >>> v = ImageView("k", np.zeros((10, 8, 3), np.uint8), (100, 80), 0.1, True, (0, 1), False,
    ...               (0.1, 0.1), "R", False)
    >>> check_click(v, None, 10.0, 5.0).ok, check_click(v, None, 150.0, 5.0).ok
    (True, False)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mcalc.breast import breast_mask
from mcalc.store.marks import ImageMarks
from mcalc.viewer import ImageView

__all__ = ["ClickTarget", "breast_region", "check_click", "nearest_mark", "snap_to_peak"]


def breast_region(view: ImageView) -> np.ndarray:
    """The breast mask at preview scale, display orientation.

    Computed from the preview actually shown (polarity restored when the user inverted
    it), so it matches what the reader sees.
    """
    gray = view.preview.astype(np.float32).mean(axis=2) / 255.0
    if view.invert:
        gray = 1.0 - gray
    return breast_mask(gray)


@dataclass(frozen=True)
class ClickTarget:
    """Where a click landed: ``ok`` or the reason no mark may be placed there."""

    ok: bool
    message: str = ""
    row: float = 0.0
    col: float = 0.0


def check_click(view: ImageView, region: np.ndarray | None, row: float, col: float) -> ClickTarget:
    """May a calcification be placed at display ``(row, col)``?

    Args:
        view: the image shown.
        region: :func:`breast_region` (``None``: no breast check).
        row, col: the click, display coordinates in full-resolution pixels.
    """
    h, w = view.full_shape
    if not (math.isfinite(row) and math.isfinite(col)) or not (
        -0.5 <= row <= h - 0.5 and -0.5 <= col <= w - 0.5
    ):
        return ClickTarget(
            False,
            f"That click ({row:.0f}, {col:.0f}) is outside the image (rows 0-{h - 1}, columns "
            f"0-{w - 1}); nothing was added. Click on the breast.",
        )
    r, c = min(max(row, 0.0), h - 1.0), min(max(col, 0.0), w - 1.0)
    if region is not None and region.any():
        pr = min(int(r * region.shape[0] / h), region.shape[0] - 1)
        pc = min(int(c * region.shape[1] / w), region.shape[1] - 1)
        if not region[pr, pc]:
            return ClickTarget(
                False,
                f"That click (row {r:.0f}, column {c:.0f}) is outside the breast; nothing was "
                "added. Calcifications are marked inside the breast.",
            )
    return ClickTarget(True, "", r, c)


def nearest_mark(
    marks: ImageMarks, view: ImageView, row: float, col: float, radius_px: float
) -> str | None:
    """Id of the reader's point nearest display ``(row, col)`` within ``radius_px``."""
    best, best_d = None, radius_px
    for p in marks.points:
        dr, dc = view.to_display(p.row, p.col)
        d = math.hypot(dr - row, dc - col)
        if d <= best_d:
            best, best_d = p.id, d
    return best


def snap_to_peak(
    pixels: np.ndarray, row: float, col: float, radius: float, *, bright: bool = True
) -> tuple[float, float]:
    """The brightest (or darkest) pixel within ``radius`` of ``(row, col)``.

    A click on the overview lands on a grid cell up to a few pixels wide; the calcification
    the reader aimed at is the local intensity peak inside that cell. A 3x3 Gaussian is applied
    first so that a single noisy pixel does not win.

    Args:
        pixels: the full-resolution image (file orientation, raw values; may be a memmap).
        row, col: the click in file coordinates.
        radius: search half-width in pixels (< 1: no snapping).
        bright: calcifications are bright (MONOCHROME2); ``False`` for MONOCHROME1 data.

    Example:
        >>> img = np.zeros((20, 20), np.uint16); img[12, 7] = 900
        >>> snap_to_peak(img, 10, 9, 3)
        (12.0, 7.0)
    """
    h, w = pixels.shape[:2]
    rad = int(radius)
    if rad < 1:
        return float(row), float(col)
    r, c = round(float(row)), round(float(col))
    r0, r1 = max(r - rad - 1, 0), min(r + rad + 2, h)
    c0, c1 = max(c - rad - 1, 0), min(c + rad + 2, w)
    if r1 - r0 < 3 or c1 - c0 < 3:
        return float(row), float(col)
    patch = np.asarray(pixels[r0:r1, c0:c1], dtype=np.float32)
    if not bright:
        patch = -patch
    smooth = cv2.GaussianBlur(patch, (3, 3), 0, borderType=cv2.BORDER_REPLICATE)
    rr, cc = np.mgrid[r0:r1, c0:c1]
    inside = (np.abs(rr - r) <= rad) & (np.abs(cc - c) <= rad)
    smooth[~inside] = -np.inf
    k = int(np.argmax(smooth))
    return float(rr.ravel()[k]), float(cc.ravel()[k])
