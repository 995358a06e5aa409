"""Heatmaps over mammograms: colour maps and blending, as pure functions over numpy arrays.

The heatmap is blended over the *windowed* grayscale image (the display pipeline of
:mod:`mcalc.imaging`: VOI window, MONOCHROME1 inversion, then these functions), never over
raw modality values. By default each pixel's opacity grows with its heat
(``alpha * heat``), so cold tissue stays readable gray instead of being tinted blue
everywhere; ``weighted=False`` gives the classic uniform blend.

Example:
    >>> import numpy as np
    >>> gray = np.full((4, 4), 0.5, np.float32)
    >>> heat = np.zeros((4, 4), np.float32); heat[0, 0] = 1.0
    >>> rgb = blend(gray, heat, alpha=0.6, cmap="jet")
    >>> rgb.shape, rgb.dtype, rgb[3, 3].tolist()
    ((4, 4, 3), dtype('uint8'), [128, 128, 128])
"""

from __future__ import annotations

import cv2
import numpy as np

from mcalc.imaging import to_uint8

__all__ = [
    "COLORMAPS",
    "colorize",
    "blend",
    "resize_map",
    "outline",
    "plotly_colorscale",
    "draw_boxes",
]

#: Colour maps offered (names as in matplotlib), each an OpenCV colour map.
COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET,
    "turbo": cv2.COLORMAP_TURBO,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "hot": cv2.COLORMAP_HOT,
}


def _cmap(name: str) -> int:
    if name not in COLORMAPS:
        raise ValueError(f"unknown colour map {name!r}; expected one of {', '.join(COLORMAPS)}")
    return COLORMAPS[name]


def _unit(heat: np.ndarray) -> np.ndarray:
    h = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(h, 0.0, 1.0)


def colorize(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """RGB uint8 image of a [0, 1] heatmap (values outside are clipped, NaN reads 0)."""
    h = _unit(heat)
    if h.ndim != 2:
        raise ValueError(f"expected a 2-D heatmap, got shape {h.shape}")
    bgr = cv2.applyColorMap(to_uint8(h), _cmap(cmap))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def blend(
    image: np.ndarray,
    heat: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
    *,
    weighted: bool = True,
    floor: float = 0.0,
) -> np.ndarray:
    """Blend a colour-mapped [0, 1] heatmap over a windowed grayscale image.

    Args:
        image: the windowed display image, either [0, 1] float gray ``(H, W)`` or RGB
            uint8 ``(H, W, 3)`` (e.g. a viewer preview).
        heat: ``(H, W)`` heatmap in [0, 1] (already normalised; same shape as ``image``).
        alpha: largest opacity of the heatmap, in [0, 1].
        cmap: a key of :data:`COLORMAPS`.
        weighted: opacity ``alpha * heat`` per pixel (default) instead of ``alpha``.
        floor: heat below this is not drawn at all.

    Returns:
        RGB uint8 image; the inputs are not modified.

    Raises:
        ValueError: shapes differ, bad alpha or colour map.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(image)
    if img.ndim == 2:
        gray = to_uint8(img.astype(np.float32))
        base = np.repeat(gray[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        base = img
    else:
        raise ValueError(
            f"expected a [0, 1] gray image (H, W) or an RGB uint8 image (H, W, 3), got "
            f"{img.shape} {img.dtype}"
        )
    h = _unit(heat)
    if h.shape != base.shape[:2]:
        raise ValueError(f"image {base.shape[:2]} and heatmap {h.shape} differ in shape")
    weight = alpha * h if weighted else np.full_like(h, alpha)
    weight = np.where(h >= floor, weight, 0.0)[..., None] if floor > 0 else weight[..., None]
    color = colorize(h, cmap).astype(np.float32)
    out = (1.0 - weight) * base.astype(np.float32) + weight * color
    return np.round(out).astype(np.uint8)


def resize_map(heat: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A map resized to ``shape`` for display: bilinear when enlarging; when shrinking,
    each output pixel takes the **highest** value of the input pixels it covers.

    Averaging would hide what a reader must see: a Grad-CAM or probability peak on a
    calcification a few pixels across, shrunk tenfold to a full-image view, kept a
    hundredth of its height (the demo model's Grad-CAM looked empty at full-image zoom).

    Example:
        >>> m = np.zeros((40, 40), np.float32); m[17, 23] = 1.0
        >>> float(resize_map(m, (4, 4)).max())
        1.0
    """
    h = np.asarray(heat, dtype=np.float32)
    rows, cols = int(shape[0]), int(shape[1])
    if h.shape == (rows, cols):
        return h.copy()
    if rows * cols >= h.shape[0] * h.shape[1]:
        return cv2.resize(h, (cols, rows), interpolation=cv2.INTER_LINEAR)
    return _block_max(h, rows, cols)


def _block_max(h: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``h`` shrunk to ``(rows, cols)``: each output pixel the maximum over its block of
    input pixels (blocks of equal size; where their sizes differ by one, a shorter block
    also takes the first pixel of the next): a maximum filter of the largest block's
    size anchored at its first pixel, sampled at the blocks' starts."""
    nan = np.isnan(h)
    src = np.where(nan, -np.inf, h).astype(np.float32) if nan.any() else h
    r_edges = (np.arange(rows + 1) * h.shape[0]) // rows
    c_edges = (np.arange(cols + 1) * h.shape[1]) // cols
    kernel = np.ones((int(np.diff(r_edges).max()), int(np.diff(c_edges).max())), np.uint8)
    grown = cv2.dilate(src, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    out = np.ascontiguousarray(grown[np.ix_(r_edges[:-1], c_edges[:-1])])
    if nan.any():
        out[np.isneginf(out)] = np.nan
    return out


def outline(
    rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = (0, 229, 255), width: int = 1
) -> np.ndarray:
    """A copy of ``rgb`` with the outlines of ``mask``'s regions drawn in ``color``."""
    img = np.asarray(rgb)
    m = np.asarray(mask, dtype=np.uint8)
    if img.shape[:2] != m.shape:
        raise ValueError(f"image {img.shape[:2]} and mask {m.shape} differ in shape")
    out = img.copy()
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, tuple(int(v) for v in color), max(1, int(width)))
    return out


def plotly_colorscale(cmap: str = "jet", steps: int = 11) -> list[list[float | str]]:
    """The colour map as a plotly colour scale (for a colour bar beside the images)."""
    ramp = colorize(np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :], cmap)[0]
    return [[round(i / (steps - 1), 4), f"rgb({r},{g},{b})"] for i, (r, g, b) in enumerate(ramp)]


def draw_boxes(
    rgb: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    color: tuple[int, int, int] = (255, 255, 255),
    labels: list[str] | None = None,
    width: int = 1,
) -> np.ndarray:
    """A copy of ``rgb`` with rectangles ``(r0, r1, c0, c1)`` (its pixels) and labels."""
    out = np.ascontiguousarray(np.asarray(rgb)).copy()
    col = tuple(int(v) for v in color)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        cv2.rectangle(out, (int(c0), int(r0)), (int(c1) - 1, int(r1) - 1), col, max(1, width))
        if labels is not None and k < len(labels):
            y = max(int(r0) - 3, 10)
            cv2.putText(
                out, labels[k], (int(c0), y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, col, 1, cv2.LINE_AA
            )
    return out
