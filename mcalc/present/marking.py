"""The Annotate page's figure and the reading of its chart events.

Presentation only: the rules of marking (where a mark may go, which mark a click points at,
snapping) are :mod:`mcalc.store.placement`, and the editing itself is
:class:`mcalc.store.session.EditSession`. Marks are kept in the file's orientation and
drawn through :meth:`mcalc.viewer.ImageView.to_display`.

Plotly reports clicks only on data points, not on image traces, so the figure carries a
grid of invisible markers over the image (a little beyond its edges, so that a click just
outside is reported too): Streamlit reports a click on a scatter point (as a one-point
selection) but not on a heatmap or image. The grid has 110 points along the longer side of
what is shown, so a click lands within half a grid step of where it was aimed;
:func:`mcalc.store.placement.snap_to_peak` then moves it to the calcification inside that
cell, and zooming in (full resolution) places marks to the pixel.

Example:
    >>> chart_point({"points": [{"curve_number": 1, "x": 5.0, "y": 7.0}]}, ["image", "click-layer"])
    ChartPoint(row=7.0, col=5.0, reader_index=None)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

from mcalc.present.viewer_figures import REGION_COLOR, data_uri
from mcalc.store.marks import ImageMarks
from mcalc.viewer import ImageView

__all__ = [
    "LABEL_COLORS",
    "LABEL_LETTERS",
    "DATASET_COLOR",
    "REGION_COLOR",
    "CLICK_TRACE",
    "READER_TRACE",
    "zoom_box",
    "grid_step",
    "annotate_figure",
    "ChartPoint",
    "chart_point",
    "chart_polygon",
]

#: Marker colour of each label of a reader's marks.
LABEL_COLORS: dict[str, str] = {
    "benign": "#39d353",
    "suspicious": "#ff2bd6",
    "uncertain": "#ffb000",
}
#: Each label as a letter beside the mark (benign's green beside uncertain's amber is one
#: colour to a protanope or deuteranope); the reading viewer draws the same.
LABEL_LETTERS: dict[str, str] = {"benign": "B", "suspicious": "S", "uncertain": "U"}
#: Colour of the dataset's own marks.
DATASET_COLOR = "#00e5ff"
#: Names of the figure's traces that the page reads back from click events.
CLICK_TRACE = "click-layer"
READER_TRACE = "reader-points"
_GRID = 110
_PAD = 0.04


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
    image, shown = _image_trace(view, crop)
    fig = go.Figure(image)
    fig.add_trace(_click_layer(shown))
    if show_dataset:
        fig.add_traces(_dataset_traces(view))
    if other is not None and other.points:
        pts = np.array([view.to_display(p.row, p.col) for p in other.points])
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
    fig.add_traces(_reader_traces(view, marks, selected))
    if len(highlight):
        hl = np.asarray(highlight, dtype=float).reshape(-1, 2)
        ring = {"symbol": "circle-open", "size": 26, "color": "#ffffff", "line": {"width": 2}}
        fig.add_trace(
            go.Scatter(
                x=hl[:, 1],
                y=hl[:, 0],
                mode="markers",
                marker=ring,
                hoverinfo="skip",
                name="highlight",
            )
        )
    top, bottom, left, right = shown
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
    fig.update_xaxes(range=[left, right], showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(
        range=[bottom, top], scaleanchor="x", showticklabels=False, showgrid=False, zeroline=False
    )
    return fig


def _image_trace(
    view: ImageView, crop: tuple[np.ndarray, tuple[int, int, int, int]] | None
) -> tuple[go.Image, tuple[float, float, float, float]]:
    """The overview (or the full-resolution crop) and the display box it covers."""
    if crop is not None:
        rgb, (r0, r1, c0, c1) = crop
        image = go.Image(
            source=data_uri(rgb, quality=92),
            x0=c0,
            y0=r0,
            dx=(c1 - c0) / rgb.shape[1],
            dy=(r1 - r0) / rgb.shape[0],
            hoverinfo="skip",
        )
        return image, (float(r0), float(r1), float(c0), float(c1))
    step = 1.0 / view.scale
    image = go.Image(source=data_uri(view.preview), x0=0, y0=0, dx=step, dy=step, hoverinfo="skip")
    h, w = view.full_shape
    return image, (0.0, float(h), 0.0, float(w))


def _dataset_traces(view: ImageView) -> list[go.Scatter]:
    """The dataset's own region outlines (dashed orange, as every viewer draws them),
    cluster outlines and calcifications (already display orientation)."""
    traces = []
    for k, outline in enumerate(view.region_outlines):
        if len(outline):
            closed = np.vstack([outline, outline[:1]])
            traces.append(
                go.Scatter(
                    x=closed[:, 1],
                    y=closed[:, 0],
                    mode="lines",
                    line={"color": REGION_COLOR, "width": 2, "dash": "dash"},
                    hoverinfo="skip",
                    name=f"dataset region {k + 1}",
                )
            )
    for k, hull in enumerate(view.cluster_hulls):
        if len(hull):
            closed = np.vstack([hull, hull[:1]])
            traces.append(
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
        traces.append(
            go.Scatter(
                x=view.calc_points[:, 1],
                y=view.calc_points[:, 0],
                mode="markers",
                marker={"symbol": "circle-open", "size": 12, "color": DATASET_COLOR},
                hovertemplate="dataset calcification<extra></extra>",
                name="dataset",
            )
        )
    return traces


def _reader_traces(view: ImageView, marks: ImageMarks, selected: str | None) -> list[go.Scatter]:
    """The reader's regions, then points (last: :data:`READER_TRACE`, read back on click)."""
    traces = []
    for r in marks.regions:
        poly = np.array([view.to_display(a, b) for a, b in r.polygon])
        closed = np.vstack([poly, poly[:1]])
        traces.append(
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
        pts = np.array([view.to_display(p.row, p.col) for p in marks.points])
        colors = [LABEL_COLORS[p.label] for p in marks.points]
        traces.append(
            go.Scatter(
                x=pts[:, 1],
                y=pts[:, 0],
                mode="markers+text",
                text=[LABEL_LETTERS[p.label] for p in marks.points],
                textposition="top right",
                textfont={"color": colors, "size": 13},
                marker={
                    "symbol": "x-thin-open",
                    "size": [16 if p.id == selected else 11 for p in marks.points],
                    "color": colors,
                    "line": {"width": 2.5, "color": colors},
                },
                customdata=[[p.id, p.label] for p in marks.points],
                hovertemplate="%{customdata[1]} (yours)<br>row %{y:.0f}, col %{x:.0f}<extra></extra>",
                name=READER_TRACE,
            )
        )
    return traces


@dataclass(frozen=True)
class ChartPoint:
    """A click read back from the chart: where it landed, and which of the reader's marks.

    Attributes:
        row, col: where the click landed (display, full-resolution pixels; ``None``: unknown).
        reader_index: index in ``marks.points`` when the click hit one of the reader's
            marks drawn by :func:`annotate_figure` (``None`` otherwise).
    """

    row: float | None
    col: float | None
    reader_index: int | None = None


def chart_point(selection: Mapping[str, Any] | None, names: Sequence[str]) -> ChartPoint | None:
    """The last clicked point of a chart selection (``None``: no usable click).

    Args:
        selection: the ``selection`` of Streamlit's chart event.
        names: the figure's trace names, in order (to tell the reader's marks apart).
    """
    points = (selection or {}).get("points") or []
    if not points:
        return None
    point = points[-1]
    curve = point.get("curve_number")
    name = names[curve] if isinstance(curve, int) and 0 <= curve < len(names) else None
    idx = point.get("point_index", point.get("point_number"))
    index = idx if name == READER_TRACE and isinstance(idx, int) else None
    x, y = point.get("x"), point.get("y")
    if x is None or y is None:
        return None if index is None else ChartPoint(None, None, index)
    return ChartPoint(float(y), float(x), index)


def chart_polygon(
    selection: Mapping[str, Any] | None, full_shape: tuple[int, int]
) -> list[tuple[float, float]] | None:
    """The last lasso (or box, as its four corners) of a chart selection, in display
    ``(row, col)`` clamped to the image; ``None`` when there is none."""
    sel = selection or {}
    poly: list[tuple[float, float]] | None = None
    lasso = sel.get("lasso") or []
    boxes = sel.get("box") or []
    if lasso:
        xs, ys = lasso[-1].get("x", []), lasso[-1].get("y", [])
        if len(xs) >= 3:
            poly = [(float(y), float(x)) for x, y in zip(xs, ys, strict=False)]
    if poly is None and boxes:
        xs, ys = boxes[-1].get("x", []), boxes[-1].get("y", [])
        if len(xs) >= 2 and len(ys) >= 2:
            c0, c1 = sorted(float(v) for v in xs[:2])
            r0, r1 = sorted(float(v) for v in ys[:2])
            poly = [(r0, c0), (r0, c1), (r1, c1), (r1, c0)]
    if poly is None:
        return None
    h, w = full_shape
    return [(min(max(r, 0.0), h - 1.0), min(max(c, 0.0), w - 1.0)) for r, c in poly]
