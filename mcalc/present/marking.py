"""What the Annotate page computes: display <-> file coordinates, click checks, its figure.

The viewer shows every image with the chest wall on the left (:class:`mcalc.viewer.ImageView`
may be mirrored); marks are stored in the file's own orientation
(:mod:`mcalc.store.marks`). This module converts between the two, decides whether a
click may place a mark (inside the image, inside the breast), finds the mark nearest a
click, and draws the page's figure.

Plotly reports clicks only on data points, not on image traces, so the figure carries an
invisible heatmap over the image (a little beyond its edges, so that a click just outside
is reported too) on a grid of invisible markers: Streamlit reports a click on a scatter
point (as a one-point selection) but not on a heatmap or image. The grid has 110 points
along the longer side of what is shown, so a click lands within half a grid step of where
it was aimed; :func:`snap_to_peak` then moves it to the calcification inside that cell,
and zooming in (full resolution) places marks to the pixel.

Example:
    >>> import numpy as np
    >>> from mcalc.viewer import ImageView
    >>> v = ImageView("k", np.zeros((10, 8, 3), np.uint8), (100, 80), 0.1, True, (0, 1), False,
    ...               (0.1, 0.1), "R", False)
    >>> to_file(v, 10.0, 5.0), to_display(v, 10.0, 74.0)
    ((10.0, 74.0), (10.0, 5.0))
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import plotly.graph_objects as go

from mcalc.breast import breast_mask
from mcalc.present.viewer_figures import data_uri
from mcalc.store.marks import ImageMarks
from mcalc.viewer import ImageView

__all__ = [
    "LABEL_COLORS",
    "DATASET_COLOR",
    "CLICK_TRACE",
    "READER_TRACE",
    "to_file",
    "to_display",
    "breast_region",
    "check_click",
    "nearest_mark",
    "zoom_box",
    "snap_to_peak",
    "grid_step",
    "ClickTarget",
    "annotate_figure",
    "LazyShapes",
]

log = logging.getLogger(__name__)

#: Marker colour of each label of a reader's marks.
LABEL_COLORS: dict[str, str] = {
    "benign": "#39d353",
    "suspicious": "#ff2bd6",
    "uncertain": "#ffb000",
}
#: Colour of the dataset's own marks.
DATASET_COLOR = "#00e5ff"
#: Names of the figure's traces that the page reads back from click events.
CLICK_TRACE = "click-layer"
READER_TRACE = "reader-points"
_GRID = 110
_PAD = 0.04


def to_file(view: ImageView, row: float, col: float) -> tuple[float, float]:
    """Display coordinates (full resolution) -> the file's own (row, col)."""
    return view.to_file(row, col)


def to_display(view: ImageView, row: float, col: float) -> tuple[float, float]:
    """The file's own (row, col) -> display coordinates."""
    return view.to_display(row, col)


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
        dr, dc = to_display(view, p.row, p.col)
        d = math.hypot(dr - row, dc - col)
        if d <= best_d:
            best, best_d = p.id, d
    return best


def zoom_box(
    view: ImageView, row: float, col: float, half_mm: float = 4.0
) -> tuple[int, int, int, int]:
    """``(r0, r1, c0, c1)`` display box of about ``2 * half_mm`` around a point."""
    h, w = view.full_shape
    hr = max(round(half_mm / view.spacing_mm[0]), 8)
    hc = max(round(half_mm / view.spacing_mm[1]), 8)
    r0, c0 = max(int(row) - hr, 0), max(int(col) - hc, 0)
    return r0, min(r0 + 2 * hr, h), c0, min(c0 + 2 * hc, w)


def grid_step(box: tuple[float, float, float, float]) -> float:
    """Spacing, in full-resolution pixels, of the click grid over display ``box``."""
    r0, r1, c0, c1 = box
    return max(r1 - r0, c1 - c0) * (1 + 2 * _PAD) / _GRID


def _click_layer(box: tuple[float, float, float, float]) -> go.Scatter:
    """Invisible markers on a regular grid over ``box`` (padded): the click targets."""
    r0, r1, c0, c1 = box
    pad_r, pad_c = (r1 - r0) * _PAD, (c1 - c0) * _PAD
    r0, r1, c0, c1 = r0 - pad_r, r1 + pad_r, c0 - pad_c, c1 + pad_c
    step = max(r1 - r0, c1 - c0) / _GRID  # == grid_step(box)
    rows = np.arange(r0 + step / 2, r1, step, dtype=np.float32)
    cols = np.arange(c0 + step / 2, c1, step, dtype=np.float32)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    invisible = {"marker": {"opacity": 0}}
    return go.Scatter(
        x=xx.ravel(),
        y=yy.ravel(),
        mode="markers",
        marker={"size": 4, "opacity": 0, "color": "#000000"},
        selected=invisible,
        unselected=invisible,
        hovertemplate="row %{y:.0f}, col %{x:.0f}<extra></extra>",
        name=CLICK_TRACE,
    )


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


def annotate_figure(
    view: ImageView,
    marks: ImageMarks,
    *,
    crop: tuple[np.ndarray, tuple[int, int, int, int]] | None = None,
    show_dataset: bool = True,
    other: ImageMarks | None = None,
    selected: str | None = None,
    highlight: Sequence[tuple[float, float]] = (),
    dragmode: str = "pan",
    height: int = 700,
) -> go.Figure:
    """The Annotate page's figure: the image, the dataset's and the reader's marks.

    Args:
        view: the prepared image (overview).
        marks: the reader's marks (file coordinates).
        crop: a full-resolution crop and its display box ``(r0, r1, c0, c1)``
            (:func:`mcalc.viewer.crop_view`); shown instead of the overview when given.
        show_dataset: draw the dataset's own calcifications and clusters.
        other: another reader's marks, drawn as open diamonds.
        selected: id of the selected mark (drawn larger).
        highlight: display points to ring (e.g. unmatched marks).
        dragmode: ``pan`` (clicks add marks), ``select`` or ``lasso`` (drawing).
        height: figure height in pixels.
    """
    h, w = view.full_shape
    fig = go.Figure()
    if crop is not None:
        rgb, (r0, r1, c0, c1) = crop
        fig.add_trace(
            go.Image(
                source=data_uri(rgb, quality=92),
                x0=c0,
                y0=r0,
                dx=(c1 - c0) / rgb.shape[1],
                dy=(r1 - r0) / rgb.shape[0],
                hoverinfo="skip",
            )
        )
        shown = (float(r0), float(r1), float(c0), float(c1))
    else:
        step = 1.0 / view.scale
        fig.add_trace(
            go.Image(source=data_uri(view.preview), x0=0, y0=0, dx=step, dy=step, hoverinfo="skip")
        )
        shown = (0.0, float(h), 0.0, float(w))
    fig.add_trace(_click_layer(shown))
    if show_dataset:
        for k, hull in enumerate(view.cluster_hulls):
            if len(hull):
                closed = np.vstack([hull, hull[:1]])
                fig.add_trace(
                    go.Scatter(
                        x=closed[:, 1],
                        y=closed[:, 0],
                        mode="lines",
                        line={"color": DATASET_COLOR, "width": 1, "dash": "dot"},
                        hoverinfo="skip",
                        name=f"dataset cluster {k + 1}",
                    )
                )
        if len(view.calc_points):
            fig.add_trace(
                go.Scatter(
                    x=view.calc_points[:, 1],
                    y=view.calc_points[:, 0],
                    mode="markers",
                    marker={"symbol": "circle-open", "size": 12, "color": DATASET_COLOR},
                    hovertemplate="dataset calcification<extra></extra>",
                    name="dataset",
                )
            )
    if other is not None and other.points:
        pts = np.array([to_display(view, p.row, p.col) for p in other.points])
        fig.add_trace(
            go.Scatter(
                x=pts[:, 1],
                y=pts[:, 0],
                mode="markers",
                marker={"symbol": "diamond-open", "size": 12, "color": "#ffffff"},
                hovertemplate=f"{other.reader}<extra></extra>",
                name="other reader",
            )
        )
    for r in marks.regions:
        poly = np.array([to_display(view, a, b) for a, b in r.polygon])
        closed = np.vstack([poly, poly[:1]])
        fig.add_trace(
            go.Scatter(
                x=closed[:, 1],
                y=closed[:, 0],
                mode="lines",
                line={
                    "color": LABEL_COLORS[r.label],
                    "width": 3 if r.id == selected else 2,
                    "dash": "solid" if r.kind == "cluster" else "dash",
                },
                hovertemplate=f"{r.kind} · {r.label}<extra></extra>",
                name=f"region {r.id}",
            )
        )
    if marks.points:
        pts = np.array([to_display(view, p.row, p.col) for p in marks.points])
        fig.add_trace(
            go.Scatter(
                x=pts[:, 1],
                y=pts[:, 0],
                mode="markers",
                marker={
                    "symbol": "x-thin-open",
                    "size": [16 if p.id == selected else 11 for p in marks.points],
                    "color": [LABEL_COLORS[p.label] for p in marks.points],
                    "line": {"width": 2.5, "color": [LABEL_COLORS[p.label] for p in marks.points]},
                },
                customdata=[[p.id, p.label] for p in marks.points],
                hovertemplate="%{customdata[1]} (yours)<br>row %{y:.0f}, col %{x:.0f}<extra></extra>",
                name=READER_TRACE,
            )
        )
    if len(highlight):
        hl = np.asarray(highlight, dtype=float).reshape(-1, 2)
        fig.add_trace(
            go.Scatter(
                x=hl[:, 1],
                y=hl[:, 0],
                mode="markers",
                marker={
                    "symbol": "circle-open",
                    "size": 26,
                    "color": "#ffffff",
                    "line": {"width": 2},
                },
                hoverinfo="skip",
                name="highlight",
            )
        )
    r0, r1, c0, c1 = shown
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        dragmode=dragmode,
        showlegend=False,
        plot_bgcolor="black",
        paper_bgcolor="rgba(0,0,0,0)",
        hovermode="closest",
        uirevision=f"{view.key}-{shown}",
    )
    fig.update_xaxes(range=[c0, c1], showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(
        range=[r1, r0], scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False
    )
    return fig


class LazyShapes(Mapping[str, tuple[int, int]]):
    """``image key -> (rows, cols)`` that reads an image's size only when asked.

    Imports validate against every image of the dataset; decoding all of them up front
    would take minutes on the real dataset.

    Args:
        keys: every image key of the dataset.
        shape_of: reads one image's ``(rows, cols)``.
    """

    def __init__(self, keys: Sequence[str], shape_of: Callable[[str], tuple[int, int]]) -> None:
        self._keys = list(dict.fromkeys(keys))
        self._known = set(self._keys)
        self._shape_of = shape_of
        self._memo: dict[str, tuple[int, int]] = {}

    def __getitem__(self, key: str) -> tuple[int, int]:
        if key not in self._known:
            raise KeyError(key)
        if key not in self._memo:
            self._memo[key] = tuple(int(v) for v in self._shape_of(key))[:2]  # type: ignore[assignment]
        return self._memo[key]

    def __contains__(self, key: object) -> bool:
        return key in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)
