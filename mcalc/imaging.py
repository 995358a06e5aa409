"""Pure functions of the display pipeline, over numpy arrays.

Stages, each a function: modality values -> VOI window (:func:`window`, or the file's VOI
LUT :func:`apply_voi_lut`) -> [0, 1] float -> presentation (:func:`invert` for MONOCHROME1
or on request) -> optional contrast enhancement (:func:`clahe`) -> display
(:func:`to_uint8`, :func:`overlay_mask`). :func:`file_unit` runs the file's own stages and
is what both the reader (the ``file`` window) and the models see. :func:`resample_mask` is
the one way masks change pixel grid. None of them modifies its input. 12/16-bit data is
never cast straight to 8 bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

if TYPE_CHECKING:
    from mcalc.imageio import Mammogram

__all__ = [
    "window",
    "invert",
    "clahe",
    "to_uint8",
    "downsample",
    "resample_mask",
    "MaskMode",
    "nonzero_box",
    "file_unit",
    "overlay_mask",
    "auto_window",
    "auto_windows",
    "WINDOW_PRESETS",
    "apply_voi_lut",
    "hex_to_rgb",
]

_EPS = 1e-6

#: Named window presets: percentiles (low, high) of the breast's values that the window
#: spans, so presets adapt to each image's exposure and density; ``file`` is the DICOM's own
#: window (or VOI LUT) and ``full range`` the whole representable range.
WINDOW_PRESETS: dict[str, tuple[float, float] | None] = {
    "file": None,
    "auto": (1.0, 99.5),
    "dense tissue": (50.0, 99.9),
    "fatty tissue": (0.5, 70.0),
    "full range": None,
}


def window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Apply a DICOM VOI window and return float32 in [0, 1].

    Follows DICOM PS3.3 C.11.2.1.2 for ``LINEAR`` (centre - 0.5, width - 1),
    ``LINEAR_EXACT`` and ``SIGMOID``.

    Args:
        values: modality values, any numeric dtype, any shape.
        center: window centre in modality units.
        width: window width in modality units; must be positive.
        function: VOI LUT function name.

    Example:
        >>> window(np.array([0, 2047, 4095]), 2047, 4096).round(2).tolist()
        [0.0, 0.5, 1.0]
    """
    if width <= 0:
        raise ValueError(f"window width must be > 0, got {width}")
    x = np.asarray(values, dtype=np.float32)
    function = function.upper()
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(-4.0 * (x - center) / width))
    elif function == "LINEAR_EXACT":
        out = (x - (center - width / 2.0)) / width
    else:
        w = max(width - 1.0, _EPS)
        out = x - (center - 0.5)  # the same float32 steps, in place after the first
        out /= w
        out += 0.5
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


def apply_voi_lut(values: np.ndarray, first: int, table: np.ndarray) -> np.ndarray:
    """Apply a DICOM VOI LUT (table already scaled to [0, 1]); returns float32 in [0, 1].

    Values below ``first`` map to the first entry, values past the table to the last
    (DICOM PS3.3 C.11.2.1.1).
    """
    idx = np.clip(np.asarray(values, dtype=np.float64) - first, 0, len(table) - 1)
    return np.asarray(table, dtype=np.float32)[idx.astype(np.int64)]


def invert(unit: np.ndarray) -> np.ndarray:
    """Invert a [0, 1] image (MONOCHROME1 presentation, or on request)."""
    return (1.0 - np.asarray(unit, dtype=np.float32)).astype(np.float32, copy=False)


def clahe(unit: np.ndarray, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a [0, 1] image.

    Works on 16-bit quantisation so that windowed 12-bit detail is not lost to 8 bits.
    """
    if clip_limit <= 0:
        raise ValueError(f"clip_limit must be > 0, got {clip_limit}")
    u16 = np.round(np.clip(unit, 0.0, 1.0) * 65535.0).astype(np.uint16)
    eq = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tiles, tiles)).apply(u16)
    return (eq.astype(np.float32) / 65535.0).astype(np.float32)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """Quantise a [0, 1] display image to 8 bits (the last stage only)."""
    out = np.clip(unit, 0.0, 1.0)
    if out.dtype.kind != "f":
        return np.round(out * 255.0).astype(np.uint8)
    np.multiply(out, 255.0, out=out)  # in place: one temporary instead of three
    return np.rint(out, out=out).astype(np.uint8)


def downsample(image: np.ndarray, max_side: int) -> np.ndarray:
    """Shrink so the longest side is at most ``max_side`` (area averaging); never enlarges."""
    if max_side <= 0:
        raise ValueError(f"max_side must be > 0, got {max_side}")
    h, w = image.shape[:2]
    scale = max_side / float(max(h, w))
    if scale >= 1.0:
        return image.copy()
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    src = image if image.dtype != np.float16 else image.astype(np.float32)
    return cv2.resize(src, size, interpolation=cv2.INTER_AREA)


#: How :func:`resample_mask` maps a mask onto a coarser grid: ``any`` sets an output pixel
#: when any source pixel whose centre falls in it is set (max pooling, so a one-pixel mark
#: never vanishes); ``nearest`` takes the source pixel under the output pixel's centre.
#: Both use that nearest neighbour when enlarging.
MaskMode = Literal["any", "nearest"]


def _nearest_axis(mask: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Nearest neighbour along one axis: each output centre mapped back onto the source."""
    n_in = mask.shape[axis]
    src = ((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
    return np.take(mask, np.minimum(src, n_in - 1), axis=axis)


def _pool_axis(mask: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    """Max pooling along one axis: each source pixel goes to the output holding its centre."""
    n_in = mask.shape[axis]
    dst = ((np.arange(n_in) + 0.5) * (n_out / n_in)).astype(np.intp)
    starts = np.flatnonzero(np.r_[True, dst[1:] != dst[:-1]])
    return np.logical_or.reduceat(mask, starts, axis=axis)


def nonzero_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Half-open ``(r0, r1, c0, c1)`` around the non-zero pixels of a 2-D array, or ``None``.

    Two reductions (rows, columns) where a marked-pixel index would visit every pixel: the
    work on a sparse full-size mask can then be done on its box.

    Example:
        >>> m = np.zeros((5, 6), bool); m[1, 2] = m[3, 4] = True
        >>> nonzero_box(m), nonzero_box(np.zeros((2, 2)))
        ((1, 4, 2, 5), None)
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    rows = np.flatnonzero(arr.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(arr[rows[0] : rows[-1] + 1].any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def resample_mask(mask: np.ndarray, shape: tuple[int, int], mode: MaskMode = "any") -> np.ndarray:
    """Map a mask onto another pixel grid of the same field of view.

    Each axis is handled on its own (one may grow while the other shrinks); see
    :data:`MaskMode` for what happens when an axis shrinks.

    Args:
        mask: 2-D mask (any dtype; non-zero is True).
        shape: target ``(rows, columns)``, positive integers.
        mode: ``any`` (keep every marked pixel) or ``nearest``.

    Returns:
        New C-contiguous bool array of ``shape``; a copy even when the shape matches.

    Example:
        >>> m = np.zeros((4, 4), bool); m[1, 2] = True
        >>> np.argwhere(resample_mask(m, (8, 8))).tolist()
        [[2, 4], [2, 5], [3, 4], [3, 5]]
        >>> int(resample_mask(m, (2, 2)).sum()), int(resample_mask(m, (2, 2), "nearest").sum())
        (1, 0)
    """
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive integers (rows, columns), got {shape!r}")
    if mode not in ("any", "nearest"):
        raise ValueError(f"mode must be 'any' or 'nearest', got {mode!r}")
    out = np.asarray(mask)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {out.shape}")
    rows, cols = int(shape[0]), int(shape[1])
    if mode == "any" and rows <= out.shape[0] and cols <= out.shape[1]:
        # Shrinking both axes: map each marked pixel to the output pixel holding its centre
        # (the same bins as _pool_axis, without a pass over every unmarked pixel).
        small = np.zeros((rows, cols), bool)
        box = nonzero_box(out)
        if box is None:
            return small
        r, c = np.nonzero(out[box[0] : box[1], box[2] : box[3]])
        r, c = r + box[0], c + box[2]
        small[
            ((r + 0.5) * (rows / out.shape[0])).astype(np.intp),
            ((c + 0.5) * (cols / out.shape[1])).astype(np.intp),
        ] = True
        return small
    out = out.astype(bool, copy=True)
    for axis, n_out in enumerate((rows, cols)):
        n_in = out.shape[axis]
        if n_out > n_in or (n_out < n_in and mode == "nearest"):
            out = _nearest_axis(out, n_out, axis)
        elif n_out < n_in:
            out = _pool_axis(out, n_out, axis)
    return np.ascontiguousarray(out)


def file_unit(mammogram: Mammogram, values: np.ndarray | None = None) -> np.ndarray:
    """The file's own presentation of a mammogram as float32 in [0, 1].

    Stages: the file's VOI LUT when it has one, else its window (centre, width, VOI LUT
    function) -> MONOCHROME1 inversion. This is the viewer's ``file`` window and the
    model input, so the reader and the models see the same image.

    Args:
        mammogram: a decoded mammogram (:func:`mcalc.imageio.read_image`).
        values: modality values to present instead of ``mammogram.pixels`` (a preview or
            a crop of them).
    """
    pixels = mammogram.pixels if values is None else values
    if mammogram.voi_lut is not None:
        unit = apply_voi_lut(pixels, *mammogram.voi_lut)
    else:
        unit = window(
            pixels, mammogram.window_center, mammogram.window_width, mammogram.voi_function
        )
    return invert(unit) if mammogram.monochrome1 else unit


def auto_window(
    values: np.ndarray,
    region: np.ndarray | None = None,
    percentiles: tuple[float, float] = (1.0, 99.5),
) -> tuple[float, float]:
    """Window (centre, width) spanning two percentiles of the values inside ``region``.

    Example:
        >>> auto_window(np.arange(101.0), percentiles=(10.0, 90.0))
        (50.0, 80.0)
    """
    return auto_windows(values, region, {"window": percentiles})["window"]


def auto_windows(
    values: np.ndarray,
    region: np.ndarray | None,
    presets: dict[str, tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    """:func:`auto_window` of several percentile pairs, from one sample and one sort.

    Example:
        >>> auto_windows(np.arange(101.0), None, {"a": (10.0, 90.0), "b": (0.0, 50.0)})
        {'a': (50.0, 80.0), 'b': (25.0, 50.0)}
    """
    data = np.asarray(values)
    sample = data[region] if region is not None and region.any() else data.ravel()
    if sample.size > 2_000_000:
        sample = sample[:: sample.size // 1_000_000]
    names = list(presets)
    if not names:
        return {}
    levels = np.percentile(
        sample.astype(np.float32), [q for name in names for q in presets[name]]
    ).reshape(-1, 2)
    out = {}
    for name, (lo, hi) in zip(names, levels, strict=True):
        width = max(float(hi - lo), 1.0)
        out[name] = (float(lo + width / 2.0), width)
    return out


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``#ff0000`` -> ``(255, 0, 0)``."""
    value = color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"expected a colour like '#ff0000', got {color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def overlay_mask(
    gray_unit: np.ndarray,
    mask: np.ndarray,
    color: tuple[int, int, int] = (255, 0, 0),
    alpha: float = 0.6,
) -> np.ndarray:
    """Blend ``color`` over the masked pixels of a [0, 1] gray image; returns RGB uint8."""
    if gray_unit.shape != mask.shape:
        raise ValueError(f"image shape {gray_unit.shape} and mask shape {mask.shape} differ")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rgb = cv2.cvtColor(to_uint8(gray_unit), cv2.COLOR_GRAY2RGB)
    # Blended in float32 at the marked pixels only (the others keep their gray level).
    at = np.nonzero(mask)
    tint = np.asarray(color, dtype=np.float32)
    mixed = (1.0 - alpha) * rgb[at].astype(np.float32) + alpha * tint
    rgb[at] = np.round(mixed).astype(np.uint8)
    return rgb
