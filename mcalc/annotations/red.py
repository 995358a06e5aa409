"""Red marks: the painted calcifications of an annotation rendering, as a mask.

The dataset's ``*_GT.jpg`` files are colour renderings of the mammogram with every
micro-calcification painted red (see ``DATASET.md``, "Annotation images"). :func:`red_mask`
finds the marks and cleans away JPEG colour noise (ringing, chroma subsampling).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["RedMaskParams", "red_mask"]

log = logging.getLogger(__name__)

#: Side of the box, in faint windows, whose chroma is the surroundings of a faint mark.
_SURROUND = 5


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


def red_mask(
    rgb: np.ndarray, params: RedMaskParams | None = None, *, bgr: bool = False
) -> np.ndarray:
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

    How well this does on JPEG renderings is in ``docs/measurements.md`` (red marks).

    Args:
        rgb: ``(H, W, 3)`` uint8 image in RGB order (an alpha channel is ignored).
        params: thresholds; defaults to :class:`RedMaskParams()`.
        bgr: ``rgb`` is in OpenCV's BGR order (as ``cv2.imdecode`` gives it): the same
            mask without a conversion of the whole image.

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
    box = _candidate_box(rgb, _low_excess(p), bgr)
    if box is None:
        return out
    # Work in the box around every reddish pixel (the image is mostly gray), with a margin
    # wide enough for the ringing guard and the faint-mark windows.
    margin = max(p.guard_px, (_SURROUND // 2 + 1) * p.faint_window) + 2
    r0, r1 = max(box[0] - margin, 0), min(box[1] + margin, h)
    c0, c1 = max(box[2] - margin, 0), min(box[3] + margin, w)
    crop = np.ascontiguousarray(rgb[r0:r1, c0:c1])
    out[r0:r1, c0:c1] = _marks(crop, _red_excess(crop, bgr), p, bgr)
    if p.close_px > 1:
        kernel = np.ones((p.close_px, p.close_px), np.uint8)
        out = cv2.morphologyEx(out.astype(np.uint8), cv2.MORPH_CLOSE, kernel) > 0
    return out


def _red_excess(rgb: np.ndarray, bgr: bool = False) -> np.ndarray:
    """``R - max(G, B)`` as uint8, negative values saturated to 0."""
    red, green, blue = cv2.split(np.ascontiguousarray(rgb))  # one pass, contiguous planes
    if bgr:
        red, blue = blue, red
    return cv2.subtract(red, cv2.max(green, blue))


def _low_excess(p: RedMaskParams) -> int:
    """The least red excess of any pixel :func:`_marks` may look at (seed, grow or faint)."""
    return max(min(p.min_red_excess, p.grow_red_excess, p.faint_red_excess), 1)


#: Rows per strip of :func:`_candidate_box`: its planes stay in the CPU cache and its
#: buffers are reused, where whole-image planes cost more in fresh memory than in work.
_STRIP_ROWS = 64


def _candidate_box(rgb: np.ndarray, low: int, bgr: bool) -> tuple[int, int, int, int] | None:
    """Half-open ``(r0, r1, c0, c1)`` around every pixel whose red excess is at least
    ``low`` (``None`` when there is none), in strips of :data:`_STRIP_ROWS` rows.

    Equal to the box of ``np.flatnonzero(_red_excess(rgb) >= low)`` without the image-size
    planes, excess map and index array that take most of the time on a 4096x3328 image.
    """
    h, w = rgb.shape[:2]
    step = min(_STRIP_ROWS, h)
    planes = [np.empty((step, w), np.uint8) for _ in range(3)]
    hit = np.empty((step, w), np.uint8)
    r0 = r1 = c0 = c1 = -1
    for start in range(0, h, step):
        part = rgb[start : start + step]
        n = part.shape[0]
        first, green, last = (plane[:n] for plane in planes)
        cv2.split(np.ascontiguousarray(part), [first, green, last])
        red, blue = (last, first) if bgr else (first, last)
        out = hit[:n]
        cv2.max(green, blue, dst=out)
        cv2.subtract(red, out, dst=out)  # the red excess, negative values saturated to 0
        cv2.threshold(out, low - 1, 255, cv2.THRESH_BINARY, dst=out)  # excess >= low
        x, y, bw, bh = cv2.boundingRect(out)
        if bw == 0:
            continue
        if r0 < 0:
            r0 = start + y
        r1 = start + y + bh
        c0 = x if c0 < 0 else min(c0, x)
        c1 = max(c1, x + bw)
    return None if r0 < 0 else (r0, r1, c0, c1)


def _candidates(excess: np.ndarray, p: RedMaskParams) -> np.ndarray:
    """Flat indices of pixels (of :func:`_red_excess`'s map) with any red excess worth testing."""
    return np.flatnonzero(excess >= _low_excess(p))


def _marks(rgb: np.ndarray, excess: np.ndarray, p: RedMaskParams, bgr: bool) -> np.ndarray:
    """Steps 1-5 of :func:`red_mask` on a contiguous RGB (or BGR) crop and its red excess."""
    h, w = rgb.shape[:2]
    cand = _candidates(excess, p)
    # HSV only at the candidates.
    hsv = cv2.cvtColor(
        rgb.reshape(-1, 3)[cand][:, None, :], cv2.COLOR_BGR2HSV if bgr else cv2.COLOR_RGB2HSV
    )[:, 0, :]
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
    faint = _faint_marks(rgb, cand[is_weak], seed.reshape(h, w), marks, p, bgr)
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
    bgr: bool = False,
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
    cr = (
        cv2.cvtColor(crop, cv2.COLOR_BGR2YCrCb if bgr else cv2.COLOR_RGB2YCrCb)[..., 1].astype(
            np.float32
        )
        - 128.0
    )
    k = p.faint_window
    mass = np.asarray(
        cv2.boxFilter(cr, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT), np.float32
    )
    # Less the chroma of the surroundings (a 5k x 5k box around it, scaled to the window's
    # area): a diluted tiny blob stands out of gray, a colour cast over an area does not.
    big = _SURROUND * k
    around = np.asarray(
        cv2.boxFilter(cr, -1, (big, big), normalize=False, borderType=cv2.BORDER_CONSTANT),
        np.float32,
    )
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
