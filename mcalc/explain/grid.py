"""The patch grid of the sliding window: where patches lie, how much breast each holds.

A grid of square patches every ``stride`` pixels is laid over the model-input image; the
last row and column may reach past it, where the image's edge pixels are repeated (never
zeros: a dark band beside bright tissue reads as a calcification). Pure numpy (and one OpenCV
integral image): no model here.

Example:
    >>> grid = make_grid((100, 90), patch=32, stride=16)
    >>> (grid.rows, grid.cols), grid.padded_shape
    ((6, 5), (112, 96))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "PatchGrid",
    "make_grid",
    "pad_to_grid",
    "breast_fractions",
    "gather_patches",
    "patches_at",
    "centred_origin",
    "interpolation_weights",
]


@dataclass(frozen=True)
class PatchGrid:
    """A regular grid of square patches over an image (model-input pixels).

    Patch ``(i, j)`` covers rows ``[i*stride, i*stride + patch)`` and columns
    ``[j*stride, j*stride + patch)``; its centre in the sense of
    :func:`mcalc.models.patches.extract_patch` is ``top + patch // 2``. The last row and
    column of patches may reach past the image, where its edge pixels are repeated (as
    :func:`~mcalc.models.patches.extract_patch` reads past the border).
    """

    image_shape: tuple[int, int]
    patch: int
    stride: int
    rows: int
    cols: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (
            (self.rows - 1) * self.stride + self.patch,
            (self.cols - 1) * self.stride + self.patch,
        )

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def centers(self) -> np.ndarray:
        """``(rows, cols, 2)`` patch centres (row, col) as :func:`extract_patch` takes them."""
        r = np.arange(self.rows) * self.stride + self.patch // 2
        c = np.arange(self.cols) * self.stride + self.patch // 2
        rr, cc = np.meshgrid(r, c, indexing="ij")
        return np.stack([rr, cc], axis=-1)

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """``(r0, r1, c0, c1)`` of patch ``(i, j)``, clipped to the image."""
        h, w = self.image_shape
        r0, c0 = i * self.stride, j * self.stride
        return r0, min(r0 + self.patch, h), c0, min(c0 + self.patch, w)


def make_grid(shape: tuple[int, int], patch: int, stride: int) -> PatchGrid:
    """The grid of ``patch`` px patches every ``stride`` px covering an image of ``shape``.

    Raises:
        ValueError: a non-positive patch or stride, or an empty image.
    """
    h, w = int(shape[0]), int(shape[1])
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1, got {patch} and {stride}")
    if h < 1 or w < 1:
        raise ValueError(f"cannot lay patches over an empty image of shape {shape}")
    rows = 1 + max(0, math.ceil((h - patch) / stride))
    cols = 1 + max(0, math.ceil((w - patch) / stride))
    return PatchGrid((h, w), int(patch), int(stride), rows, cols)


def pad_to_grid(image: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """``image`` padded to the grid by repeating its last row and column (channels after
    (row, col) kept), as :func:`~mcalc.models.patches.extract_patch` reads past the edge."""
    ph, pw = grid.padded_shape
    extra = [(0, max(0, ph - image.shape[0])), (0, max(0, pw - image.shape[1]))]
    if not any(after for _, after in extra):
        return image
    return np.pad(image, extra + [(0, 0)] * (image.ndim - 2), mode="edge")


def breast_fractions(breast: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """``(rows, cols)`` fraction of each patch's pixels that are breast (padding is not)."""
    mask = np.ascontiguousarray(breast)
    mask = mask.view(np.uint8) if mask.dtype == np.bool_ else mask.astype(np.uint8)
    # Counts up to the image's pixels: exact in int32 (half the memory of float64). The
    # padding holds no breast: past the image's edge the integral stays at the edge's.
    integral = cv2.integral(mask, sdepth=cv2.CV_32S)
    h, w = mask.shape[:2]
    r0 = np.minimum(np.arange(grid.rows) * grid.stride, h)
    c0 = np.minimum(np.arange(grid.cols) * grid.stride, w)
    r1, c1 = np.minimum(r0 + grid.patch, h), np.minimum(c0 + grid.patch, w)
    total = (
        integral[np.ix_(r1, c1)]
        - integral[np.ix_(r0, c1)]
        - integral[np.ix_(r1, c0)]
        + integral[np.ix_(r0, c0)]
    )
    return (total / float(grid.patch * grid.patch)).astype(np.float32)


def gather_patches(padded: np.ndarray, grid: PatchGrid, cells: np.ndarray) -> np.ndarray:
    """Patches ``(N, patch, patch)`` of the grid cells ``(N, 2)`` from a padded image
    (``(N, patch, patch, C)`` from an image with channels): :func:`patches_at` the cells'
    top-left corners.

    ``padded`` is the image padded to at least :attr:`PatchGrid.padded_shape`
    (:func:`pad_to_grid`).
    """
    idx = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    return patches_at(padded, idx * grid.stride, grid.patch)


def patches_at(padded: np.ndarray, origins: np.ndarray, patch: int) -> np.ndarray:
    """Patches ``(N, patch, patch)`` (``(N, patch, patch, C)`` from an image with channels)
    whose top-left corners are ``origins`` ``(N, 2)`` (row, col), anywhere the patch fits
    in ``padded``.

    Raises:
        ValueError: a patch reaching past ``padded``.

    Example:
        >>> img = np.arange(36, dtype=np.float32).reshape(6, 6)
        >>> patches_at(img, np.array([[1, 2]]), 2)[0].tolist()
        [[8.0, 9.0], [14.0, 15.0]]
    """
    idx = np.asarray(origins, dtype=np.int64).reshape(-1, 2)
    h, w = padded.shape[:2]
    if len(idx) and (idx.min() < 0 or idx[:, 0].max() + patch > h or idx[:, 1].max() + patch > w):
        raise ValueError(
            f"patches of {patch} px at {idx.tolist()} reach past the {h} x {w} image: pad it "
            "(pad_to_grid) or move the patches inside"
        )
    # A strided view of every patch (no copy), then one fancy-indexing copy.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (patch, patch), axis=(0, 1))
    picked = windows[idx[:, 0], idx[:, 1]]
    if padded.ndim == 3:  # (N, C, p, p) -> (N, p, p, C)
        picked = np.moveaxis(picked, 1, -1)
    return np.ascontiguousarray(picked, dtype=np.float32)


def centred_origin(row: int, col: int, patch: int, shape: tuple[int, int]) -> tuple[int, int]:
    """The top-left corner of the ``patch`` px patch centred on pixel ``(row, col)`` (its
    centre ``top + patch // 2``, as :func:`~mcalc.models.patches.extract_patch` takes it),
    moved inside an image of ``shape`` where it would reach past an edge (at 0 on an image
    smaller than the patch).

    Example:
        >>> centred_origin(50, 5, 32, (100, 90)), centred_origin(99, 89, 32, (100, 90))
        ((34, 0), (68, 58))
    """
    h, w = int(shape[0]), int(shape[1])
    r0 = min(max(0, int(row) - patch // 2), max(0, h - patch))
    c0 = min(max(0, int(col) - patch // 2), max(0, w - patch))
    return r0, c0


def interpolation_weights(n_out: int, n_unit: int, n_grid: int, grid: PatchGrid) -> np.ndarray:
    """``(n_out, n_grid)`` linear-interpolation weights from grid cells to output pixels.

    Output pixel ``k`` of ``n_out`` spans the same field as the model-input image of
    ``n_unit`` pixels; it is placed between the two nearest patch centres (geometric
    centre ``top + (patch - 1) / 2``) and clamped at the ends.
    """
    if n_out < 1:
        raise ValueError(f"output size must be >= 1, got {n_out}")
    unit = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_unit / n_out) - 0.5
    g = np.clip((unit - (grid.patch - 1) / 2.0) / grid.stride, 0.0, n_grid - 1)
    lo = np.floor(g).astype(np.int64)
    hi = np.minimum(lo + 1, n_grid - 1)
    frac = (g - lo).astype(np.float32)
    weights = np.zeros((n_out, n_grid), np.float32)
    rows = np.arange(n_out)
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights
