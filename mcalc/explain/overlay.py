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

from dataclasses import dataclass

import cv2
import numpy as np

from mcalc.explain.dashes import MUTED_RGB, dashed_polyline, dashed_rect
from mcalc.imaging import to_uint8

__all__ = [
    "COLORMAPS",
    "ANNOTATION_RGB",
    "STRIP_GRAY",
    "colorize",
    "blend",
    "resize_map",
    "outline",
    "plotly_colorscale",
    "draw_boxes",
    "text_scale",
    "edged_text",
    "colour_bar",
    "HotSpot",
    "hot_spots",
    "halo",
    "draw_hot_spots",
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


#: The colour of the radiologists' annotated calcifications' outlines on a picture (cyan;
#: the viewer's and the classic figure's marks are the same ``#00e5ff``).
ANNOTATION_RGB: tuple[int, int, int] = (0, 229, 255)


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
    rgb: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = ANNOTATION_RGB, width: int = 1
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
    *,
    font_scale: float = 0.4,
    edge: bool = False,
    dashed: list[bool] | None = None,
) -> np.ndarray:
    """A copy of ``rgb`` with rectangles ``(r0, r1, c0, c1)`` (its pixels) and labels.

    Args:
        rgb: the picture (RGB uint8).
        boxes: half-open ``(r0, r1, c0, c1)`` in ``rgb``'s pixels.
        color: of the rectangles and labels.
        labels: one per box, written above its top-left corner (inside the picture).
        width: of the rectangles' lines.
        font_scale: of the labels (OpenCV's Hershey simplex font; 0.4 is about 9 px tall).
        edge: draw rectangles and labels over a black edge, readable on bright tissue.
        dashed: one per box: drawn dashed (edge included), so that it stays apart from the
            solid ones in a grey print; none: all solid.
    """
    out = np.ascontiguousarray(np.asarray(rgb)).copy()
    col = tuple(int(v) for v in color)
    lw = max(1, int(width))
    thick = max(1, round(font_scale * 2)) if edge else 1
    text_h = cv2.getTextSize("0", cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)[0][1]
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        corners = (int(c0), int(r0)), (int(c1) - 1, int(r1) - 1)
        if dashed is not None and dashed[k]:
            if edge:
                dashed_rect(out, corners, (0, 0, 0), lw + 2, 4 * lw)
            dashed_rect(out, corners, col, lw, 4 * lw)
            continue
        if edge:
            cv2.rectangle(out, *corners, (0, 0, 0), lw + 2)
        cv2.rectangle(out, *corners, col, lw)
    # Labels after every box: a box drawn later must not cross an earlier one's number.
    for (r0, _, c0, _), label in zip(boxes, labels or [], strict=False):
        at = (int(c0), max(int(r0) - lw - 2, text_h + 2))
        if edge:
            edged_text(out, label, at, font_scale, thick, col)
        else:
            cv2.putText(
                out, label, at, cv2.FONT_HERSHEY_SIMPLEX, font_scale, col, thick, cv2.LINE_AA
            )
    return out


def edged_text(
    rgb: np.ndarray,
    text: str,
    at: tuple[int, int],
    font_scale: float,
    thick: int,
    color: tuple[int, ...] = (255, 255, 255),
) -> None:
    """Write ``text`` on ``rgb`` (in place) at ``at`` (its baseline's left end) in
    ``color`` over a black edge, readable on any tissue. The edge is the text drawn black
    at each offset up to ``thick`` pixels around: a thicker black stroke under it is no
    edge, OpenCV 5 drawing Hershey text no thicker than 2 pixels whatever the thickness
    asked (black at 4 under white at 2 left no black pixel)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    e = max(1, int(thick))
    x, y = int(at[0]), int(at[1])
    for dy in range(-e, e + 1):
        for dx in range(-e, e + 1):
            if dx or dy:
                cv2.putText(
                    rgb, text, (x + dx, y + dy), font, font_scale, (0, 0, 0), thick, cv2.LINE_AA
                )
    cv2.putText(
        rgb, text, (x, y), font, font_scale, tuple(int(v) for v in color), thick, cv2.LINE_AA
    )


def text_scale(width: int) -> float:
    """The font scale of labels and legends on a picture ``width`` pixels wide: a line of
    about 55 characters across it, so the words keep their size relative to the picture
    when it is shown smaller (never under 0.4, about 9 px tall).

    >>> text_scale(832), text_scale(100)
    (0.92, 0.4)
    """
    return max(0.4, round(int(width) / 900, 2))


def _wrap(text: str, width: int, scale: float, thick: int) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a word longer
    than that alone on its line)."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        fits = cv2.getTextSize(trial, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0][0] <= width
        if lines and fits:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


#: The gray of :func:`colour_bar`'s strip (and of what widens a narrow picture above it).
STRIP_GRAY = 32


def colour_bar(
    width: int,
    cmap: str,
    ticks: list[tuple[float, str]],
    title: str,
    notes: list[str] | None = None,
    *,
    scale: float | None = None,
) -> np.ndarray:
    """A legend strip ``width`` pixels wide, to stack under a picture: ``title``, the colour
    map as a horizontal bar (0 at its left end, 1 at its right, unblended: the picture's
    colours at full opacity), ``ticks`` under it and ``notes`` wrapped below, in white on
    dark gray. Text is ASCII (OpenCV's Hershey font has no other glyph).

    Args:
        width: of the strip (the picture's width).
        cmap: a key of :data:`COLORMAPS`.
        ticks: ``(position in [0, 1], label)`` under the bar.
        title: what the colours show, above the bar.
        notes: lines under the ticks (each wrapped to the width).
        scale: font scale (default :func:`text_scale` of ``width``).

    Returns:
        RGB uint8 ``(h, width, 3)``; its height follows from the text.

    Raises:
        ValueError: a tick outside [0, 1], or an unknown colour map.

    Example:
        >>> strip = colour_bar(200, "jet", [(0.0, "0"), (1.0, "1")], "P(calcification)")
        >>> strip.shape[1], strip.dtype
        (200, dtype('uint8'))
    """
    bad = [t for t, _ in ticks if not 0.0 <= t <= 1.0]
    if bad:
        raise ValueError(f"tick positions must be in [0, 1], got {bad}")
    font, white = cv2.FONT_HERSHEY_SIMPLEX, (255, 255, 255)
    s = text_scale(width) if scale is None else float(scale)
    sn = 0.8 * s  # the notes'
    thick = max(1, round(s * 1.5))
    (_, text_h), base = cv2.getTextSize("0", font, s, thick)
    (_, note_h), note_base = cv2.getTextSize("0", font, sn, thick)
    step, note_step = round(1.5 * (text_h + base)), round(1.5 * (note_h + note_base))
    pad = max(3, step // 3)
    inner = max(1, width - 2 * pad)
    title_lines = _wrap(title, inner, s, thick)
    note_lines = [ln for note in notes or [] for ln in _wrap(note, inner, sn, thick)]
    # The end labels stay inside the strip: the bar is inset by half the widest of them.
    half = max((cv2.getTextSize(lab, font, s, thick)[0][0] for _, lab in ticks), default=0) // 2
    # ... but at least two pixels of bar stay inside a narrow strip (a 50 px crop's labels
    # are wider than half of it: the bar began past its right edge and nothing was drawn).
    x0 = min(pad + max(0, half - pad // 2), max(0, (int(width) - 2) // 2))
    x1 = min(int(width), max(x0 + 2, width - x0))
    bar_h = max(4, round(1.2 * text_h))
    tick_len = max(2, bar_h // 3)
    # Rows from the top: title lines, the bar, its ticks and their labels, the notes.
    y_title = pad
    y_bar = y_title + step * len(title_lines) + pad // 2
    y_tick_text = y_bar + bar_h + tick_len + pad // 2 + text_h  # the labels' baseline
    y_notes = y_tick_text + base + pad
    height = y_notes + note_step * len(note_lines) + pad
    out = np.full((height, int(width), 3), STRIP_GRAY, np.uint8)
    out[0, :] = 96  # where the picture ends
    for i, text in enumerate(title_lines):
        at = (pad, y_title + step * i + (step + text_h - base) // 2)
        cv2.putText(out, text, at, font, s, white, thick, cv2.LINE_AA)
    out[y_bar : y_bar + bar_h, x0:x1] = colorize(
        np.linspace(0.0, 1.0, x1 - x0, dtype=np.float32)[None, :], cmap
    )
    for pos, label in ticks:
        x = round(x0 + pos * (x1 - x0 - 1))
        cv2.line(out, (x, y_bar + bar_h), (x, y_bar + bar_h + tick_len), white, thick)
        w = cv2.getTextSize(label, font, s, thick)[0][0]
        at = (min(max(0, x - w // 2), max(0, width - w)), y_tick_text)
        cv2.putText(out, label, at, font, s, white, thick, cv2.LINE_AA)
    for i, text in enumerate(note_lines):
        at = (pad, y_notes + note_step * i + (note_step + note_h - note_base) // 2)
        cv2.putText(out, text, at, font, sn, (220, 220, 220), thick, cv2.LINE_AA)
    return out


@dataclass(frozen=True)
class HotSpot:
    """A connected area where a map reaches at least a share of its own peak.

    Attributes:
        peak: the map's highest value in the area (in the map's own units).
        outline: ``(n, 2)`` float ``(row, col)`` polygon around the area's pixels (a
            pixel's centre is at its integer index, its edges at +/- 0.5; the polygon runs
            an eighth of a pixel inside them).
        box: ``(r0, r1, c0, c1)`` of the area's pixels (ends excluded).
    """

    peak: float
    outline: np.ndarray
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        """The centre of :attr:`box`, ``(row, col)`` in pixel-centre coordinates."""
        r0, r1, c0, c1 = self.box
        return (r0 + r1 - 1) / 2, (c0 + c1 - 1) / 2


def _outline(mask: np.ndarray, k: int = 4) -> np.ndarray:
    """The outer polygon of a mask's pixels (one connected area), ``(row, col)``: traced on
    the mask enlarged ``k`` times, so that it runs around the pixels, not through their
    centres (a single pixel's outline is a square, not a point)."""
    big = cv2.resize(mask.astype(np.uint8), None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(big, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = max(contours, key=len)[:, 0, :].astype(np.float32)  # (x, y) of the enlarged mask
    return np.stack([(pts[:, 1] + 0.5) / k - 0.5, (pts[:, 0] + 0.5) / k - 0.5], axis=1)


def hot_spots(heat: np.ndarray, share: float = 0.5, most: int = 5) -> list[HotSpot]:
    """Where a map is hot: its connected areas (8-neighbours) at or above ``share`` of the
    map's own peak, the highest first, for a display to point at them at any zoom.

    A display aid, not a change of the map: an explanation whose energy sits on a few
    calcifications covers a fraction of a percent of the breast and shows as a few
    coloured pixels at a full-image zoom; an outline (or a ring around a small one) says
    where it is, and its peak says how strong.

    Args:
        heat: a 2-D map (any non-negative scale: [0, 1] floats or a uint8 grid); NaN reads 0.
        share: of the map's own peak, in (0, 1].
        most: the largest number of areas returned.

    Returns:
        Up to ``most`` :class:`HotSpot`, by decreasing peak; none for a map that is
        nowhere above 0.

    Raises:
        ValueError: ``heat`` is not 2-D, or ``share`` or ``most`` is out of range.

    Example:
        >>> m = np.zeros((8, 8), np.float32); m[2, 3] = 1.0; m[6, 6] = 0.4
        >>> [(s.peak, s.box) for s in hot_spots(m)]
        [(1.0, (2, 3, 3, 4))]
    """
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    if most < 1:
        raise ValueError(f"most must be at least 1, got {most}")
    h = np.nan_to_num(np.asarray(heat, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if h.ndim != 2:
        raise ValueError(f"expected a 2-D map, got shape {h.shape}")
    peak = float(h.max()) if h.size else 0.0
    if peak <= 0.0:
        return []
    hot = h >= share * peak
    # Labelled within the hot pixels' bounding box only, and the peaks taken over the hot
    # pixels only: on a whole mammogram (6.7 Mpx) an explanation's spots are a few
    # hundred pixels, and labelling and a maximum over every pixel cost ~130 ms a map.
    rows, cols = np.flatnonzero(hot.any(axis=1)), np.flatnonzero(hot.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    mask = hot[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1].view(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    inside = mask.view(bool)
    peaks = np.zeros(n, np.float32)
    area = h[top : top + mask.shape[0], left : left + mask.shape[1]]
    np.maximum.at(peaks, labels[inside], area[inside])
    order = np.argsort(-peaks[1:], kind="stable")[:most] + 1
    spots = []
    for k in order:
        c0, r0, w, hh = (int(v) for v in stats[k, :4])
        box = (top + r0, top + r0 + hh, left + c0, left + c0 + w)
        outline = _outline(labels[r0 : r0 + hh, c0 : c0 + w] == k) + np.array([box[0], box[2]])
        spots.append(HotSpot(float(peaks[k]), outline.astype(np.float32), box))
    return spots


def _luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance of an sRGB colour (WCAG 2), 0 (black) to 1 (white)."""
    c = np.asarray(rgb, np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(lin @ [0.2126, 0.7152, 0.0722])


def _apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether rectangles ``(x0, y0, x1, y1)`` do not overlap."""
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def halo(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever contrasts more with ``rgb`` (WCAG 2 contrast ratio, at
    least 4.58:1 for any colour): the edge a ring is drawn over, so that a dark ring (the
    low end of inferno or jet) does not vanish into a black edge.

    >>> halo((255, 255, 0)), halo((0, 0, 128))
    ((0, 0, 0), (255, 255, 255))
    """
    y = _luminance(rgb)
    return (0, 0, 0) if (y + 0.05) / 0.05 >= 1.05 / (y + 0.05) else (255, 255, 255)


def _ring(out: np.ndarray, pts: np.ndarray, col: tuple, edge: tuple, w: int, muted: bool) -> None:
    """A closed outline through ``pts`` (``(x, y)``) over its edge, solid or dashed."""
    if muted:
        dashed_polyline(out, pts, edge, 3 * w, 4 * w, closed=True)
        dashed_polyline(out, pts, col, w, 4 * w, closed=True)
        return
    poly = [np.round(pts).astype(np.int32).reshape(-1, 1, 2)]
    cv2.polylines(out, poly, True, edge, 3 * w, cv2.LINE_AA)
    cv2.polylines(out, poly, True, col, w, cv2.LINE_AA)


def draw_hot_spots(
    rgb: np.ndarray,
    spots: list[HotSpot],
    cmap: str = "jet",
    *,
    scale: float = 1.0,
    min_radius: int = 12,
    width: int = 2,
    labels: list[str] | None = None,
    font_scale: float = 0.4,
    muted: bool = False,
) -> np.ndarray:
    """A copy of ``rgb`` with each hot spot outlined in the colour its peak has on the
    map's colour scale (peaks on [0, 1]), over an edge of black or white, whichever
    contrasts with that colour (:func:`halo`), that keeps it visible on any tissue; a spot
    smaller than a ring of ``min_radius`` pixels gets that ring instead. Each spot's label
    (its peak in words) is written beside it, white on a black edge: the ring's colour
    alone does not say its level in a grey-scale print (jet's lightness rises and falls).
    ``muted``: dashed and in :data:`~mcalc.explain.dashes.MUTED_RGB` over a black edge
    (an image the model does not call: its spots are not findings).

    Args:
        rgb: the picture (RGB uint8).
        spots: from :func:`hot_spots` of a [0, 1] map.
        cmap: the map's colour scale (a key of :data:`COLORMAPS`).
        scale: ``rgb``'s pixels per pixel of the map the spots were found on.
        min_radius: the smallest ring, in ``rgb``'s pixels.
        width: of the outline, in ``rgb``'s pixels (its edge three times as wide).
        labels: one per spot (e.g. ``"55%"``), under its ring (else right, left or above,
            where no other label is); none by default.
        font_scale: of the labels (OpenCV's Hershey simplex font).
    """
    out = np.ascontiguousarray(np.asarray(rgb)).copy()
    if not spots:
        return out
    colours = colorize(np.array([[s.peak for s in spots]], np.float32), cmap)[0]
    w = max(1, int(width))
    boxes = []
    for spot, colour in zip(spots, colours, strict=True):
        col = MUTED_RGB if muted else tuple(int(v) for v in colour)
        edge = (0, 0, 0) if muted else halo(col)  # type: ignore[arg-type]
        pts = (spot.outline + 0.5) * scale - 0.5
        r0, c0 = pts.min(axis=0)
        r1, c1 = pts.max(axis=0)
        if max(r1 - r0, c1 - c0) < 2 * min_radius:
            x, y = round(float(c0 + c1) / 2), round(float(r0 + r1) / 2)
            if muted:
                a = np.linspace(0.0, 2.0 * np.pi, 73)
                ring = np.stack([x + min_radius * np.cos(a), y + min_radius * np.sin(a)], 1)
                _ring(out, ring, col, edge, w, muted)
            else:
                cv2.circle(out, (x, y), min_radius, edge, 3 * w, cv2.LINE_AA)
                cv2.circle(out, (x, y), min_radius, col, w, cv2.LINE_AA)
            boxes.append((y - min_radius, y + min_radius, x - min_radius, x + min_radius))
        else:
            _ring(out, pts[:, ::-1], col, edge, w, muted)
            boxes.append((round(float(r0)), round(float(r1)), round(float(c0)), round(float(c1))))
    # Labels after every ring (a ring drawn later must not cross an earlier one's label):
    # under their ring, else right, left or above it, the first place no label took
    # (two rings on one cluster printed "100%" over "77%").
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(font_scale * 2))
    height, width_px = out.shape[:2]
    taken: list[tuple[int, int, int, int]] = []
    for (top, bottom, left, right), label in zip(boxes, labels or [], strict=False):
        (tw, th), base = cv2.getTextSize(label, font, font_scale, thick)
        gap, mid, centre = w + 2, (left + right) // 2, (top + bottom) // 2
        places = [  # above last: a region box's number is above its corner
            (mid - tw // 2, bottom + gap + th),
            (right + gap, centre + th // 2),
            (left - gap - tw, centre + th // 2),
            (mid - tw // 2, top - gap - base),
        ]
        rects = []
        for x, y in places:
            x, y = min(max(0, x), max(0, width_px - tw)), min(max(th, y), height - base)
            rects.append((x, y - th - 1, x + tw, y + base + 1))
        free = [r for r in rects if all(_apart(r, t) for t in taken)]
        x0, y0, x1, y1 = (free or rects)[0]
        taken.append((x0, y0, x1, y1))
        at = (int(x0), int(y0 + th + 1))
        edged_text(out, label, at, font_scale, thick, MUTED_RGB if muted else (255, 255, 255))
    return out
