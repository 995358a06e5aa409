"""Dashed lines for the result pictures (OpenCV draws none): what the model does not call
is drawn dashed and in :data:`MUTED_RGB`, apart from what it calls in a grey print too.

Example:
    >>> import numpy as np
    >>> out = np.zeros((20, 20, 3), np.uint8)
    >>> dashed_polyline(out, np.array([[2, 10], [17, 10]], np.float32), (255, 255, 255), 1, 3)
    >>> [int(v) for v in out[10, 2:18, 0] // 255]
    [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1]
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["MUTED_RGB", "dashed_polyline", "dashed_rect"]

#: The colour of a ring or box the model does not call: the reading viewer's (``#a8a8a8``,
#: ``BELOW_REGION_COLOUR`` in ``components/viewer/src/overlays.ts``).
MUTED_RGB = (168, 168, 168)


def dashed_rect(
    out: np.ndarray,
    corners: tuple[tuple[int, int], tuple[int, int]],
    col: tuple[int, ...],
    lw: int,
    dash: int,
) -> None:
    """A rectangle (OpenCV corners, ``(x, y)``) of dashes ``dash`` px long with gaps as
    long, drawn on ``out`` in place."""
    (x0, y0), (x1, y1) = corners
    for a, b in (
        ((x0, y0), (x1, y0)),
        ((x1, y0), (x1, y1)),
        ((x1, y1), (x0, y1)),
        ((x0, y1), (x0, y0)),
    ):
        n = max(abs(b[0] - a[0]), abs(b[1] - a[1]))
        for t in range(0, n + 1, 2 * dash):
            u = min(t + dash, n)
            p = (a[0] + (b[0] - a[0]) * t // max(n, 1), a[1] + (b[1] - a[1]) * t // max(n, 1))
            q = (a[0] + (b[0] - a[0]) * u // max(n, 1), a[1] + (b[1] - a[1]) * u // max(n, 1))
            cv2.line(out, p, q, col, lw)


def dashed_polyline(
    out: np.ndarray,
    pts: np.ndarray,
    col: tuple[int, ...],
    lw: int,
    dash: int,
    *,
    closed: bool = False,
) -> None:
    """A polyline through ``pts`` (``(x, y)`` pixels, float) of dashes ``dash`` px long with
    gaps as long, measured along the line (a ring's or an outline's corners do not restart
    the pattern), drawn on ``out`` in place.

    Raises:
        ValueError: ``pts`` is not ``(n, 2)``, or ``dash`` is not positive.
    """
    p = np.asarray(pts, np.float64)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"expected (n, 2) points (x, y), got shape {p.shape}")
    if dash < 1:
        raise ValueError(f"dash must be at least 1 px, got {dash}")
    if closed and len(p) > 1:
        p = np.vstack([p, p[:1]])
    if len(p) < 2:
        return
    seg = np.hypot(*np.diff(p, axis=0).T)
    at = np.concatenate([[0.0], np.cumsum(seg)])  # distance along the line of each point
    for start in np.arange(0.0, at[-1], 2.0 * dash):
        ends = np.linspace(start, min(start + dash, at[-1]), max(2, dash + 1))
        xy = np.stack([np.interp(ends, at, p[:, 0]), np.interp(ends, at, p[:, 1])], axis=1)
        line = [np.round(xy).astype(np.int32).reshape(-1, 1, 2)]
        cv2.polylines(out, line, False, col, lw, cv2.LINE_8)  # crisp: its colour exact
