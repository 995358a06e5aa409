"""Prior-vs-recent deformation: the prior exam is the same breast shifted and smoothly warped."""

from __future__ import annotations

import cv2
import numpy as np

from mcalc.synthetic.paint import Calc
from mcalc.synthetic.spec import DEFORM_MM, SHIFT_MM

__all__ = ["warp_fields", "warp", "follow", "landmarks"]

#: Landmark grid of :func:`landmarks` (rows, columns of points over the image).
LANDMARK_GRID = (12, 10)


def warp_fields(
    rng: np.random.Generator, shape: tuple[int, int], spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (rows, cols) in px: a small shift plus a smooth deformation."""
    rows, cols = shape
    angle = rng.uniform(0.0, 2.0 * np.pi)
    shift = float(rng.uniform(*SHIFT_MM)) / spacing
    fields = []
    for offset in (shift * np.sin(angle), shift * np.cos(angle)):
        low = rng.standard_normal((4, 3)).astype(np.float32) * (DEFORM_MM / spacing / 2.0)
        smooth = cv2.resize(low, (cols, rows), interpolation=cv2.INTER_CUBIC)
        fields.append(smooth + np.float32(offset))
    return fields[0], fields[1]


def warp(image: np.ndarray, fields: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample ``image`` so that output pixel p shows input point p + displacement(p)."""
    dy, dx = fields
    rows, cols = image.shape
    map_y = dy + np.arange(rows, dtype=np.float32)[:, None]
    map_x = dx + np.arange(cols, dtype=np.float32)[None, :]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def follow(
    c: Calc, fields: tuple[np.ndarray, np.ndarray], scale: float = 1.0, gain: float = 1.0
) -> Calc:
    """Where a point of the input lands after :func:`warp` (inverse of the sampling map)."""
    dy, dx = fields
    rows, cols = dy.shape
    row, col = c.row, c.col
    for _ in range(3):  # fixed point of p = s - displacement(p); the warp is smooth and small
        r = int(np.clip(round(row), 0, rows - 1))
        k = int(np.clip(round(col), 0, cols - 1))
        row, col = c.row - float(dy[r, k]), c.col - float(dx[r, k])
    return c.moved(row, col, scale, gain)


def landmarks(fields: tuple[np.ndarray, np.ndarray], laterality: str) -> np.ndarray:
    """Corresponding points of the prior and recent image: ``(N, 4)`` prior (row, col),
    recent (row, col), in the files' full-resolution pixels.

    Exact by construction: :func:`warp` shows, at prior pixel p, the recent tissue at
    p + displacement(p); points lie on a regular grid of whole pixels. Right breasts are
    mirrored when written, so the columns are mirrored here too.
    """
    dy, dx = fields
    rows, cols = dy.shape
    gr = np.linspace(0, rows - 1, LANDMARK_GRID[0] + 2)[1:-1].round().astype(int)
    gc = np.linspace(0, cols - 1, LANDMARK_GRID[1] + 2)[1:-1].round().astype(int)
    r, c = (a.ravel() for a in np.meshgrid(gr, gc, indexing="ij"))
    out = np.stack([r, c, r + dy[r, c], c + dx[r, c]], axis=1).astype(np.float64)
    if laterality == "R":
        out[:, 1] = cols - 1 - out[:, 1]
        out[:, 3] = cols - 1 - out[:, 3]
    return out
