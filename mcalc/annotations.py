"""Ground-truth annotations: red marks or mask images -> calcifications -> clusters.

The dataset's ``*_GT.jpg`` files are colour renderings of the mammogram with every
micro-calcification painted red (see ``DATASET.md``, "Annotation images"). Stages, each a
pure function over numpy arrays:

1. :func:`red_mask` - the painted marks of an RGB rendering, cleaned of JPEG colour noise.
2. :func:`align_mask` - that mask mapped onto the DICOM's pixel grid.
3. :func:`find_calcifications` - one :class:`Calcification` per connected mark.
4. :func:`find_clusters` - groups of at least three calcifications within 1 cm².

:func:`load_annotation_mask` does 1-2 for a file and :func:`summarize` does 3-4.
Coordinates are (row, column) in pixels of the full-resolution image, pixel centres at
integer positions; boxes are ``(r0, c0, r1, c1)`` with ``r1``/``c1`` exclusive.

Example:
    >>> mask = np.zeros((64, 64), bool)
    >>> for r, c in [(10, 10), (12, 20), (20, 14)]:
    ...     mask[r : r + 2, c : c + 2] = True
    >>> s = summarize(mask, (0.1, 0.1))
    >>> s.n_calcifications, s.n_clusters, s.clusters[0].members
    (3, 1, (1, 2, 3))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mcalc.errors import AnnotationError

__all__ = [
    "ANNOTATION_KINDS",
    "ASPECT_TOLERANCE",
    "RedMaskParams",
    "red_mask",
    "align_mask",
    "load_annotation_mask",
    "Calcification",
    "find_calcifications",
    "Cluster",
    "find_clusters",
    "AnnotationSummary",
    "summarize",
]

log = logging.getLogger(__name__)

#: Side of the box, in faint windows, whose chroma is the surroundings of a faint mark.
_SURROUND = 5

#: Accepted values of ``kind`` in :func:`load_annotation_mask`.
ANNOTATION_KINDS: tuple[str, ...] = ("red", "mask", "region")

#: Largest relative difference of aspect ratio (columns/rows) between an annotation and its
#: image that is still taken for a rescaled copy of the same picture.
ASPECT_TOLERANCE = 0.02


# --------------------------------------------------------------------------- red marks


@dataclass(frozen=True)
class RedMaskParams:
    """Thresholds of :func:`red_mask`, in OpenCV 8-bit HSV units and RGB levels.

    ``red excess`` is ``R - max(G, B)``: the amount of pure red in a pixel. It is needed as
    well as HSV saturation because on dark backgrounds saturation ``(max - min) / max``
    becomes large for the faintest tint, so JPEG colour ringing there passes the published
    HSV test.

    Attributes:
        hue_ranges: inclusive OpenCV hue ranges (0-179) counted as red.
        min_value: minimum HSV value of any red pixel.
        min_saturation: minimum saturation of a seed pixel (the published threshold).
        min_red_excess: minimum red excess of a seed pixel. Seeds are what a mark must
            contain; JPEG ringing away from marks stays below about 50 at quality 75.
        grow_saturation, grow_red_excess: a mark extends from its seeds through connected
            pixels passing these weaker thresholds. This joins the pieces of one thin or
            faint blob that JPEG split, without joining neighbouring blobs the way a
            morphological closing does.
        faint_saturation, faint_red_excess: thresholds of the region searched for faint
            marks (tiny blobs whose colour JPEG's 4:2:0 chroma subsampling spread thin).
        faint_chroma_mass: a region without seeds is kept as a mark when some
            ``faint_window`` x ``faint_window`` window inside it holds at least this much
            chroma (sum of Cr - 128) more than its surroundings (the window's share of a
            5x larger box). A pure red 2x2 px blob carries about 500; JPEG ringing, which
            swings both ways, stays below about 200 at quality 75.
        faint_window: side of that window in pixels.
        faint_max_area: larger seedless regions are a tint, not a diluted tiny blob (JPEG
            spreads a 2x2 px blob over at most a 16x16 px chroma block).
        guard_px: reach of a mark's JPEG ringing. A mark within ``guard_px`` of another
            whose peak red excess is more than ``1 / ringing_ratio`` times its own is
            taken for that mark's ringing and dropped; so is any faint mark within
            ``guard_px`` of a kept one.
        ringing_ratio: see ``guard_px`` (0 disables). Ringing peaks at 20-25% of the
            mark's red with 4:4:4 JPEGs; real tiny blobs keep more than 30% of it.
        min_area: marks with fewer pixels are dropped.
        close_px: side of an optional square closing applied to the result (0: none).
    """

    hue_ranges: tuple[tuple[int, int], ...] = ((0, 10), (160, 179))
    min_value: int = 20
    min_saturation: int = 100
    min_red_excess: int = 60
    grow_saturation: int = 60
    grow_red_excess: int = 20
    faint_saturation: int = 40
    faint_red_excess: int = 10
    faint_chroma_mass: float = 225.0
    faint_window: int = 6
    faint_max_area: int = 256
    guard_px: int = 4
    ringing_ratio: float = 0.3
    min_area: int = 2
    close_px: int = 0

    def __post_init__(self) -> None:
        for lo, hi in self.hue_ranges:
            if not 0 <= lo <= hi <= 179:
                raise ValueError(f"hue ranges must lie in 0..179 with lo <= hi, got {(lo, hi)}")
        for name in (
            "min_value",
            "min_saturation",
            "min_red_excess",
            "grow_saturation",
            "grow_red_excess",
            "faint_saturation",
            "faint_red_excess",
        ):
            value = getattr(self, name)
            if not 0 <= value <= 255:
                raise ValueError(f"{name} must be in 0..255, got {value}")
        if self.faint_window < 1 or self.guard_px < 0 or self.close_px < 0:
            raise ValueError(
                "faint_window must be >= 1 and guard_px, close_px >= 0, got "
                f"{self.faint_window}, {self.guard_px}, {self.close_px}"
            )
        if not 0.0 <= self.ringing_ratio < 1.0:
            raise ValueError(f"ringing_ratio must be in [0, 1), got {self.ringing_ratio}")
        if self.min_area < 1:
            raise ValueError(f"min_area must be >= 1, got {self.min_area}")


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 RGB image, got dtype {arr.dtype}")
    return arr[..., :3]


def red_mask(rgb: np.ndarray, params: RedMaskParams | None = None) -> np.ndarray:
    """Mask of the red calcification marks of a colour annotation rendering.

    The published recipe is an HSV threshold (hue 0-10 or 160-179, saturation >= 100,
    value >= 20). On a real JPEG that alone finds many false specks: 4:2:0 chroma
    subsampling smears each mark's colour over 16x16 px blocks, and on dark background any
    tint is "saturated". So the marks are found by hysteresis, one connected component per
    painted blob:

    1. seeds: the HSV threshold and a red excess ``R - max(G, B)`` of at least 60;
    2. each mark grows from its seeds through connected weaker red pixels, so a blob split
       by JPEG noise stays one mark (a 3x3 closing would also join blobs 3 px apart);
    3. marks next to a mark with more than 3x their peak red are that mark's ringing;
    4. tiny blobs whose colour JPEG diluted below the seed level are recovered from the
       chroma standing out of their surroundings in a small window, unless they sit next
       to a kept mark (ringing);
    5. marks smaller than ``min_area`` pixels are dropped.

    Measured on about 2700 synthetic blobs and strokes (2-40 px, at least 3 px apart) per
    setting: JPEG quality 75 with 4:2:0 chroma: 0.4% of blobs missed (2x2 px blobs
    straddling chroma blocks), 0.2% merged with a neighbour 3 px away, under 0.1% split,
    no false marks; 4:4:4 chroma at quality 75: nothing missed, 0.2% false marks; quality
    >= 85: at most 0.3% errors in all. The HSV threshold alone finds about one false speck
    per blob. A small reddish spot standing out of gray (not red, but tinted) can pass for
    a diluted mark; the renderings hold only gray and red.

    Args:
        rgb: ``(H, W, 3)`` uint8 image in RGB order (an alpha channel is ignored).
        params: thresholds; defaults to :class:`RedMaskParams()`.

    Returns:
        ``(H, W)`` bool mask, True on the marks.

    Example:
        >>> img = np.full((32, 32, 3), 90, np.uint8)
        >>> img[10:14, 10:14] = (255, 0, 0)
        >>> int(red_mask(img).sum())
        16
    """
    p = params or RedMaskParams()
    rgb = _check_rgb(rgb)
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), dtype=bool)
    cand = _candidates(rgb, p)
    if cand.size == 0:
        return out
    # Work in the box around every reddish pixel (the image is mostly gray), with a margin
    # wide enough for the ringing guard and the faint-mark windows.
    margin = max(p.guard_px, (_SURROUND // 2 + 1) * p.faint_window) + 2
    rows, cols = np.divmod(cand, w)
    r0, r1 = max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, h)
    c0, c1 = max(int(cols.min()) - margin, 0), min(int(cols.max()) + margin + 1, w)
    out[r0:r1, c0:c1] = _marks(np.ascontiguousarray(rgb[r0:r1, c0:c1]), p)
    if p.close_px > 1:
        kernel = np.ones((p.close_px, p.close_px), np.uint8)
        out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
    return out


def _red_excess(rgb: np.ndarray) -> np.ndarray:
    """``R - max(G, B)`` as uint8, negative values saturated to 0."""
    return cv2.subtract(np.ascontiguousarray(rgb[..., 0]), cv2.max(rgb[..., 1], rgb[..., 2]))


def _candidates(rgb: np.ndarray, p: RedMaskParams) -> np.ndarray:
    """Flat indices of pixels with any red excess worth testing."""
    low = min(p.min_red_excess, p.grow_red_excess, p.faint_red_excess)
    return np.flatnonzero(_red_excess(rgb) >= max(low, 1))


def _marks(rgb: np.ndarray, p: RedMaskParams) -> np.ndarray:
    """Steps 1-5 of :func:`red_mask` on a contiguous RGB crop."""
    h, w = rgb.shape[:2]
    excess = _red_excess(rgb)
    cand = _candidates(rgb, p)
    # HSV only at the candidates.
    hsv = cv2.cvtColor(rgb.reshape(-1, 3)[cand][:, None, :], cv2.COLOR_RGB2HSV)[:, 0, :]
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    ex = excess.reshape(-1)[cand]
    red = np.zeros(cand.size, dtype=bool)
    for lo, hi in p.hue_ranges:
        red |= (hue >= lo) & (hue <= hi)
    red &= val >= p.min_value
    is_seed = red & (sat >= p.min_saturation) & (ex >= p.min_red_excess)
    is_grow = is_seed | (red & (sat >= p.grow_saturation) & (ex >= p.grow_red_excess))

    grow = np.zeros(h * w, dtype=np.uint8)
    grow[cand[is_grow]] = 1
    n, labels = cv2.connectedComponents(grow.reshape(h, w), connectivity=8, ltype=cv2.CV_32S)
    lab = np.where(is_grow, labels.reshape(-1)[cand], 0)  # every grow pixel is a candidate
    keep = np.zeros(n, dtype=bool)
    keep[lab[is_seed]] = True
    keep &= np.bincount(lab, minlength=n) >= p.min_area
    keep[0] = False
    if p.ringing_ratio > 0 and p.guard_px > 0 and np.count_nonzero(keep) > 1:
        keep &= ~_ringing(lab, ex, keep, cand, (h, w), p)
    marks = np.zeros(h * w, dtype=bool)
    marks[cand] = keep[lab]
    marks = marks.reshape(h, w)

    is_weak = red & (sat >= p.faint_saturation) & (ex >= p.faint_red_excess)
    seed = np.zeros(h * w, dtype=bool)
    seed[cand[is_seed]] = True
    faint = _faint_marks(rgb, cand[is_weak], seed.reshape(h, w), marks, p)
    if faint is not None:
        marks |= faint
    return marks


def _ringing(
    lab: np.ndarray,
    ex: np.ndarray,
    keep: np.ndarray,
    cand: np.ndarray,
    shape: tuple[int, int],
    p: RedMaskParams,
) -> np.ndarray:
    """Marks that are ringing of a much stronger mark within ``guard_px``."""
    peak = np.zeros(keep.size, dtype=np.uint8)
    np.maximum.at(peak, lab, ex)
    peak[~keep] = 0
    peak_map = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    peak_map[cand] = peak[lab]
    side = 2 * p.guard_px + 1
    nearby = cv2.dilate(peak_map.reshape(shape), np.ones((side, side), np.uint8))
    strongest = np.zeros(keep.size, dtype=np.uint8)
    np.maximum.at(strongest, lab, nearby.reshape(-1)[cand])
    ringing = keep & (p.ringing_ratio * strongest.astype(np.float64) > peak)
    if ringing.any():
        log.debug("red_mask: %d mark(s) dropped as JPEG ringing", int(ringing.sum()))
    return ringing


def _faint_marks(
    rgb: np.ndarray,
    weak_idx: np.ndarray,
    seed: np.ndarray,
    marks: np.ndarray,
    p: RedMaskParams,
) -> np.ndarray | None:
    """Faint blobs: weak-red regions with no seed, far from marks, whose chroma stands out."""
    if weak_idx.size == 0:
        return None
    h, w = marks.shape
    weak = np.zeros(h * w, dtype=np.uint8)
    weak[weak_idx] = 1
    weak = cv2.morphologyEx(weak.reshape(h, w), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    n, labels = cv2.connectedComponents(weak, connectivity=8, ltype=cv2.CV_32S)
    idx = np.flatnonzero(weak)
    lab = labels.reshape(-1)[idx]
    taken = seed
    if marks.any():
        side = 2 * p.guard_px + 1
        taken = taken | (cv2.dilate(marks.astype(np.uint8), np.ones((side, side), np.uint8)) > 0)
    ok = np.ones(n, dtype=bool)
    ok[lab[taken.reshape(-1)[idx]]] = False
    ok[0] = False
    area = np.bincount(lab, minlength=n)
    ok &= (area >= p.min_area) & (area <= p.faint_max_area)
    chosen = ok[lab]
    if not chosen.any():
        return None
    # Chroma only over the box around the candidates, padded by the surround.
    rows, cols = np.divmod(idx[chosen], w)
    pad = (_SURROUND // 2 + 1) * p.faint_window
    r0, r1 = max(int(rows[0]) - pad, 0), min(int(rows[-1]) + pad + 1, h)
    c0, c1 = max(int(cols.min()) - pad, 0), min(int(cols.max()) + pad + 1, w)
    crop = np.ascontiguousarray(rgb[r0:r1, c0:c1])
    # Chroma about neutral gray; outside the image counts as gray (no chroma).
    cr = cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)[..., 1].astype(np.float32) - 128.0
    k = p.faint_window
    mass = cv2.boxFilter(cr, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    # Less the chroma of the surroundings (a 5k x 5k box around it, scaled to the window's
    # area): a diluted tiny blob stands out of gray, a colour cast over an area does not.
    big = _SURROUND * k
    around = cv2.boxFilter(cr, -1, (big, big), normalize=False, borderType=cv2.BORDER_CONSTANT)
    mass -= (around - mass) / (_SURROUND * _SURROUND - 1)
    best = np.full(n, -np.inf, dtype=np.float64)
    np.maximum.at(best, lab[chosen], mass[rows - r0, cols - c0])
    accept = ok & (best >= p.faint_chroma_mass)
    if not accept.any():
        return None
    log.debug("red_mask: %d faint mark(s) recovered from chroma", int(accept.sum()))
    out = np.zeros(h * w, dtype=bool)
    out[idx] = accept[lab]
    return out.reshape(h, w)


# --------------------------------------------------------------------------- alignment


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive integers (rows, columns), got {shape!r}")
    return int(shape[0]), int(shape[1])


def _resample_axis(mask: np.ndarray, n_out: int, axis: int) -> np.ndarray:
    n_in = mask.shape[axis]
    if n_out == n_in:
        return mask
    if n_out > n_in:
        # Nearest neighbour: output pixel centre mapped back onto the source grid.
        src = ((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.intp)
        return np.take(mask, np.minimum(src, n_in - 1), axis=axis)
    # Shrinking: every source pixel goes to the output pixel holding its centre, and
    # an output pixel is set when any of its sources is (max pooling), so nothing vanishes.
    dst = ((np.arange(n_in) + 0.5) * (n_out / n_in)).astype(np.intp)
    starts = np.flatnonzero(np.r_[True, dst[1:] != dst[:-1]])
    return np.logical_or.reduceat(mask, starts, axis=axis)


def align_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map a mask onto another pixel grid of the same field of view.

    Enlarging uses nearest neighbour; shrinking uses max pooling (each source pixel lands
    in the output pixel that holds its centre), so a one-pixel mark never vanishes. Each
    axis is handled on its own, so one may grow while the other shrinks.

    Args:
        mask: 2-D mask (any dtype; non-zero is True).
        shape: target ``(rows, columns)``.

    Returns:
        New bool array of ``shape``; a copy even when the shape already matches.

    Example:
        >>> m = np.zeros((4, 4), bool); m[1, 2] = True
        >>> np.argwhere(align_mask(m, (8, 8))).tolist()
        [[2, 4], [2, 5], [3, 4], [3, 5]]
        >>> int(align_mask(m, (2, 2)).sum())
        1
    """
    rows, cols = _check_shape(shape)
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    out = arr.astype(bool, copy=True)
    out = _resample_axis(out, rows, 0)
    out = _resample_axis(out, cols, 1)
    return np.ascontiguousarray(out)


# --------------------------------------------------------------------------- files


def _jpeg_complete(data: np.ndarray) -> bool:
    """A JPEG ends with EOI (FF D9) after its last scan; truncated copies do not."""
    raw = data.tobytes()
    sos = raw.rfind(b"\xff\xda")
    return sos >= 0 and raw.rfind(b"\xff\xd9") > sos


def _size(shape: tuple[int, int]) -> str:
    return f"{shape[0]}x{shape[1]}"


def load_annotation_mask(
    path: str | Path,
    kind: str,
    shape: tuple[int, int],
    *,
    params: RedMaskParams | None = None,
    mask_threshold: int | None = None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read an annotation file and return its calcification mask on the image's grid.

    Args:
        path: the annotation image (JPEG, PNG, TIFF...). Non-ASCII paths work.
        kind: ``"red"`` for a colour rendering with red marks (the dataset's ``*_GT.jpg``),
            ``"mask"`` for a mask image where any non-zero pixel is a calcification,
            ``"region"`` for a mask image whose non-zero pixels outline an area holding
            calcifications (read the same way: the binary mask of the region).
        shape: ``(rows, columns)`` of the mammogram the annotation belongs to.
        params: thresholds for ``kind="red"`` (see :class:`RedMaskParams`).
        mask_threshold: for ``kind="mask"``, pixels above it are marks. Default 0, or 127
            when the file is a JPEG (lossy: edges carry small non-zero values).

    Returns:
        ``(mask, notes)``: a bool mask of ``shape`` and human-readable notes (rescaling,
        no marks found, lossy mask).

    Raises:
        AnnotationError: unknown kind, missing/empty/truncated/undecodable file, or an
            aspect ratio that differs from the image's by more than 2%.
    """
    path = Path(path)
    if kind not in ANNOTATION_KINDS:
        raise AnnotationError(
            f"{path}: unknown annotation kind {kind!r}; expected 'red' (colour rendering "
            "with red marks), 'mask' (mask image, non-zero = calcification) or 'region' "
            "(mask image, non-zero = area holding calcifications)"
        )
    target = _check_shape(shape)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read annotation file ({exc})") from exc
    if data.size == 0:
        raise AnnotationError(f"{path}: annotation file is empty; re-copy it from the source")
    is_jpeg = data.size >= 3 and bytes(data[:3]) == b"\xff\xd8\xff"
    if is_jpeg and not _jpeg_complete(data):
        raise AnnotationError(
            f"{path}: JPEG is truncated (no end-of-image marker after the last scan); "
            "re-copy the file from the source"
        )
    flags = (
        cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION if kind == "red" else cv2.IMREAD_UNCHANGED
    )
    image = cv2.imdecode(data, flags)
    if image is None or image.size == 0:
        raise AnnotationError(
            f"{path}: cannot decode annotation image (expected JPEG, PNG or TIFF); "
            "the file may be truncated or not an image"
        )
    found = (int(image.shape[0]), int(image.shape[1]))
    _check_aspect(path, found, target)

    notes: list[str] = []
    if kind == "red":
        mask = red_mask(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), params)
        if not mask.any():
            notes.append("no red marks found")
    else:
        mask, note = _mask_from_image(image, is_jpeg, mask_threshold)
        if note:
            notes.append(note)
        if not mask.any():
            notes.append("mask image has no marked pixels")
    if found != target:
        notes.append(
            f"annotation is {_size(found)}, image is {_size(target)} (rows x columns): "
            "mask rescaled"
        )
        mask = align_mask(mask, target)
    log.debug("%s: %s", path, "; ".join(notes) or "annotation read")
    return mask, tuple(notes)


def _check_aspect(path: Path, found: tuple[int, int], target: tuple[int, int]) -> None:
    ratio_found = found[1] / found[0]
    ratio_target = target[1] / target[0]
    diff = abs(ratio_found / ratio_target - 1.0)
    if diff <= ASPECT_TOLERANCE:
        return
    rotated = abs((found[0] / found[1]) / ratio_target - 1.0) <= ASPECT_TOLERANCE
    hint = (
        "it looks rotated by 90 degrees; rotate it to match the image"
        if rotated
        else "it may belong to another image or be cropped; check which image it annotates"
    )
    raise AnnotationError(
        f"{path}: annotation is {_size(found)} but the image is {_size(target)} "
        f"(rows x columns): expected the image's aspect ratio, the aspect ratios differ by "
        f"{diff:.1%} (tolerance {ASPECT_TOLERANCE:.0%}); {hint}"
    )


def _mask_from_image(
    image: np.ndarray, is_jpeg: bool, threshold: int | None
) -> tuple[np.ndarray, str | None]:
    note = None
    if threshold is None:
        threshold = 127 if is_jpeg else 0
        if is_jpeg:
            note = "mask is a lossy JPEG: pixels above 127 taken as marks"
    if image.ndim == 3:
        channels = image[..., :3] if image.shape[2] >= 3 else image
        values = channels.max(axis=2)
        if image.shape[2] == 4 and not values.any():
            values = image[..., 3]  # marks drawn in the alpha channel only
    else:
        values = image
    return values > threshold, note


# --------------------------------------------------------------------------- calcifications


def _check_spacing(spacing_mm: Sequence[float]) -> tuple[float, float]:
    if len(spacing_mm) != 2:
        raise ValueError(f"spacing_mm must be (row, column) in mm, got {spacing_mm!r}")
    sr, sc = float(spacing_mm[0]), float(spacing_mm[1])
    if not (math.isfinite(sr) and math.isfinite(sc) and sr > 0 and sc > 0):
        raise ValueError(f"pixel spacing must be positive and finite, got {spacing_mm!r}")
    return sr, sc


def _check_mask(mask: np.ndarray) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class Calcification:
    """One marked calcification (a connected component of the mask, 8-connectivity).

    Attributes:
        label: component number, 1-based, in raster order of the first pixel.
        centroid: (row, column) of the centre of its pixels, full-resolution pixels.
        area_px: number of pixels.
        area_mm2: area in mm² (pixels x row spacing x column spacing).
        bbox: ``(r0, c0, r1, c1)``, ``r1``/``c1`` exclusive.
        diameter_mm: diameter of the disc of the same area.
    """

    label: int
    centroid: tuple[float, float]
    area_px: int
    area_mm2: float
    bbox: tuple[int, int, int, int]
    diameter_mm: float


def find_calcifications(mask: np.ndarray, spacing_mm: tuple[float, float]) -> list[Calcification]:
    """One :class:`Calcification` per connected component of ``mask``, sorted by label.

    Args:
        mask: 2-D mask on the image's grid (non-zero = calcification).
        spacing_mm: (row, column) pixel spacing in mm.

    Example:
        >>> m = np.zeros((10, 10), bool); m[2:4, 3:6] = True
        >>> c = find_calcifications(m, (0.1, 0.1))[0]
        >>> c.area_px, c.bbox, c.centroid, round(c.area_mm2, 3)
        (6, (2, 3, 4, 6), (2.5, 4.0), 0.06)
    """
    arr = _check_mask(mask)
    sr, sc = _check_spacing(spacing_mm)
    binary = (arr != 0).astype(np.uint8)
    idx = np.flatnonzero(binary)
    if idx.size == 0:
        return []
    _, labels = cv2.connectedComponents(binary, connectivity=8, ltype=cv2.CV_32S)
    # Statistics from the marked pixels only (connectedComponentsWithStats visits every
    # pixel of a 4096x3328 image), labels renumbered in raster order of first pixels.
    lab = labels.reshape(-1)[idx]
    order = np.argsort(lab, kind="stable")  # idx is raster-ordered, so each run is too
    lab, idx = lab[order], idx[order]
    starts = np.flatnonzero(np.r_[True, lab[1:] != lab[:-1]])
    rows, cols = np.divmod(idx, arr.shape[1])
    area = np.diff(np.r_[starts, idx.size])
    first = idx[starts]
    r0, r1 = rows[starts], np.maximum.reduceat(rows, starts) + 1
    c0, c1 = np.minimum.reduceat(cols, starts), np.maximum.reduceat(cols, starts) + 1
    cy = np.add.reduceat(rows, starts) / area
    cx = np.add.reduceat(cols, starts) / area
    out = []
    for label, k in enumerate(np.argsort(first), start=1):
        area_mm2 = float(area[k]) * sr * sc
        out.append(
            Calcification(
                label=label,
                centroid=(float(cy[k]), float(cx[k])),
                area_px=int(area[k]),
                area_mm2=area_mm2,
                bbox=(int(r0[k]), int(c0[k]), int(r1[k]), int(c1[k])),
                diameter_mm=2.0 * math.sqrt(area_mm2 / math.pi),
            )
        )
    return out


# --------------------------------------------------------------------------- clusters


@dataclass(frozen=True)
class Cluster:
    """A group of calcifications (see :func:`find_clusters` for the definition).

    Attributes:
        id: 1-based, in order of the members' smallest label.
        members: labels of its calcifications, ascending.
        centroid: (row, column) mean of the members' centroids.
        bbox: ``(r0, c0, r1, c1)`` around all member pixels, ``r1``/``c1`` exclusive.
        hull: convex polygon, ``((row, col), ...)``, around the members' pixel boxes
            (pixel edges, so half-integer coordinates).
        area_mm2: area of ``hull`` in mm².
    """

    id: int
    members: tuple[int, ...]
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]
    hull: tuple[tuple[float, float], ...]
    area_mm2: float

    @property
    def count(self) -> int:
        """Number of member calcifications."""
        return len(self.members)


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def _union_run(uf: _UnionFind, items: np.ndarray) -> None:
    for k in range(1, items.size):
        uf.union(int(items[0]), int(items[k]))


def find_clusters(
    calcs: Sequence[Calcification],
    spacing_mm: tuple[float, float],
    *,
    min_count: int = 3,
    window_mm: float = 10.0,
) -> list[Cluster]:
    """Clusters: at least ``min_count`` calcifications within a ``window_mm`` square.

    Definition (the usual "three or more calcifications within 1 cm²", made exact):
    a *dense square* is an axis-aligned ``window_mm`` x ``window_mm`` square (edges
    included) holding the centroids of at least ``min_count`` calcifications. Two
    calcifications belong to the same cluster when some dense square holds both, or
    through a chain of such squares. So every member lies in a 1 cm² square with at least
    two other calcifications, and overlapping groups merge into one cluster.

    Why not plain single linkage on a distance: it chains - calcifications 9 mm apart in a
    line would form one long "cluster" with never three in any 1 cm². Why not fixed grid
    cells: a group straddling a cell edge would be missed. This definition is the rule
    itself, independent of the order of the input, and checked exactly: only squares whose
    left and top edges pass through a centroid need testing.

    Centroids are converted to mm with the (row, column) pixel spacing, so the same pixel
    layout can be a cluster at 0.07 mm and not at 0.5 mm.

    Args:
        calcs: calcifications from :func:`find_calcifications`.
        spacing_mm: (row, column) pixel spacing in mm.
        min_count: least number of calcifications in a square (>= 1).
        window_mm: side of the square in mm (> 0).

    Returns:
        Clusters ordered by their smallest member label, ids from 1.
    """
    sr, sc = _check_spacing(spacing_mm)
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if not (math.isfinite(window_mm) and window_mm > 0):
        raise ValueError(f"window_mm must be positive, got {window_mm}")
    n = len(calcs)
    if n < min_count or n == 0:
        return []
    ys = np.array([c.centroid[0] * sr for c in calcs], dtype=np.float64)
    xs = np.array([c.centroid[1] * sc for c in calcs], dtype=np.float64)
    side = window_mm * (1.0 + 1e-9)
    by_x = np.argsort(xs, kind="stable")
    xs_sorted = xs[by_x]
    uf = _UnionFind(n)
    for start in range(n):
        stop = int(np.searchsorted(xs_sorted, xs_sorted[start] + side, side="right"))
        if stop - start < min_count:
            continue
        strip = by_x[start:stop]  # centroids with x in [x_left, x_left + side]
        strip = strip[np.argsort(ys[strip], kind="stable")]
        strip_y = ys[strip]
        ends = np.searchsorted(strip_y, strip_y + side, side="right")
        # Dense squares of this strip are runs [top, end) of the y-sorted strip; runs that
        # share a member merge, so each strip costs one pass.
        run_start, run_end = -1, -1
        for top in np.flatnonzero(ends - np.arange(strip.size) >= min_count):
            if top >= run_end:
                _union_run(uf, strip[run_start:run_end])
                run_start = int(top)
            run_end = max(run_end, int(ends[top]))
        _union_run(uf, strip[run_start:run_end])
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), []).append(i)
    members = [g for g in groups.values() if len(g) >= min_count]
    members.sort(key=lambda g: min(calcs[i].label for i in g))
    return [_make_cluster(k + 1, [calcs[i] for i in g], sr, sc) for k, g in enumerate(members)]


def _make_cluster(cluster_id: int, members: list[Calcification], sr: float, sc: float) -> Cluster:
    members = sorted(members, key=lambda c: c.label)
    r0 = min(c.bbox[0] for c in members)
    c0 = min(c.bbox[1] for c in members)
    r1 = max(c.bbox[2] for c in members)
    c1 = max(c.bbox[3] for c in members)
    corners = []
    for c in members:
        br0, bc0, br1, bc1 = c.bbox
        for row in (br0 - 0.5, br1 - 0.5):
            for col in (bc0 - 0.5, bc1 - 0.5):
                corners.append((row, col))
    hull = _convex_hull(corners)
    area_px = float(cv2.contourArea(np.array([(c, r) for r, c in hull], dtype=np.float32)))
    return Cluster(
        id=cluster_id,
        members=tuple(c.label for c in members),
        centroid=(
            float(np.mean([c.centroid[0] for c in members])),
            float(np.mean([c.centroid[1] for c in members])),
        ),
        bbox=(r0, c0, r1, c1),
        hull=hull,
        area_mm2=area_px * sr * sc,
    )


def _convex_hull(points: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], ...]:
    """Convex hull of (row, col) points; fewer than 3 hull points become a 1 px box."""
    xy = np.array([(c, r) for r, c in points], dtype=np.float32).reshape(-1, 1, 2)
    hull = cv2.convexHull(xy).reshape(-1, 2)
    if len(hull) < 3 or cv2.contourArea(hull) <= 0.0:
        rmin, rmax = float(xy[..., 1].min()) - 0.5, float(xy[..., 1].max()) + 0.5
        cmin, cmax = float(xy[..., 0].min()) - 0.5, float(xy[..., 0].max()) + 0.5
        return ((rmin, cmin), (rmin, cmax), (rmax, cmax), (rmax, cmin))
    return tuple((float(y), float(x)) for x, y in hull)


# --------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class AnnotationSummary:
    """Calcifications and clusters of one annotation mask, for the viewer and ``scan``.

    Attributes:
        shape: (rows, columns) of the mask.
        spacing_mm: (row, column) pixel spacing used for the measurements.
        calcifications: every calcification, by label.
        clusters: clusters, by id.
        min_count, window_mm: the cluster rule used.
    """

    shape: tuple[int, int]
    spacing_mm: tuple[float, float]
    calcifications: tuple[Calcification, ...] = field(default_factory=tuple)
    clusters: tuple[Cluster, ...] = field(default_factory=tuple)
    min_count: int = 3
    window_mm: float = 10.0

    @property
    def n_calcifications(self) -> int:
        return len(self.calcifications)

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    @property
    def n_clustered(self) -> int:
        """Calcifications that belong to a cluster."""
        return sum(c.count for c in self.clusters)

    @property
    def total_area_mm2(self) -> float:
        return float(sum(c.area_mm2 for c in self.calcifications))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (counts first, then per-item lists)."""
        return {
            "shape": list(self.shape),
            "spacing_mm": list(self.spacing_mm),
            "cluster_rule": {"min_count": self.min_count, "window_mm": self.window_mm},
            "n_calcifications": self.n_calcifications,
            "n_clusters": self.n_clusters,
            "n_clustered": self.n_clustered,
            "total_area_mm2": round(self.total_area_mm2, 4),
            "calcifications": [
                {
                    "label": c.label,
                    "centroid": [round(c.centroid[0], 2), round(c.centroid[1], 2)],
                    "area_px": c.area_px,
                    "area_mm2": round(c.area_mm2, 4),
                    "diameter_mm": round(c.diameter_mm, 3),
                    "bbox": list(c.bbox),
                }
                for c in self.calcifications
            ],
            "clusters": [
                {
                    "id": k.id,
                    "members": list(k.members),
                    "count": k.count,
                    "centroid": [round(k.centroid[0], 2), round(k.centroid[1], 2)],
                    "bbox": list(k.bbox),
                    "area_mm2": round(k.area_mm2, 3),
                    "hull": [list(p) for p in k.hull],
                }
                for k in self.clusters
            ],
        }


def summarize(
    mask: np.ndarray,
    spacing_mm: tuple[float, float],
    *,
    min_count: int = 3,
    window_mm: float = 10.0,
) -> AnnotationSummary:
    """Calcifications and clusters of a mask on the image's grid.

    Args:
        mask: 2-D calcification mask (non-zero = marked), e.g. from
            :func:`load_annotation_mask`.
        spacing_mm: (row, column) pixel spacing in mm.
        min_count, window_mm: cluster rule, see :func:`find_clusters`.
    """
    arr = _check_mask(mask)
    spacing = _check_spacing(spacing_mm)
    calcs = find_calcifications(arr, spacing)
    clusters = find_clusters(calcs, spacing, min_count=min_count, window_mm=window_mm)
    return AnnotationSummary(
        shape=(int(arr.shape[0]), int(arr.shape[1])),
        spacing_mm=spacing,
        calcifications=tuple(calcs),
        clusters=tuple(clusters),
        min_count=min_count,
        window_mm=float(window_mm),
    )
