"""Plotly figures of the viewer: image pairs with synchronised zoom and pan.

Images travel as JPEG data URIs placed in full-resolution pixel coordinates (``dx`` = 1 /
scale), so axes, hover positions and selections are in full-resolution pixels whatever
the preview size, and all panels of a figure share (``matches``) their axes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mcalc.viewer import ImageView, encode_jpeg

#: A region annotation's outline (a CBIS-DDSM ROI, a VinDr box, a MIAS circle: an area that
#: holds calcifications), dashed: every viewer draws it in this colour (the reading viewer's
#: ``components/viewer/src/regions.ts`` ``REGION_COLOUR`` too).
REGION_COLOR = "#ff8c00"

__all__ = [
    "REGION_COLOR",
    "TITLE_GAP_PX",
    "pair_figure",
    "crop_figure",
    "data_uri",
    "add_boxes",
    "add_colorbar",
    "selected_box",
    "height_for_width",
    "image_panels",
]


#: Pixels between an image panel's title and the top of its image.
TITLE_GAP_PX = 6


def data_uri(rgb: np.ndarray, quality: int = 88) -> str:
    """A ``data:image/jpeg;base64,...`` URI of an RGB uint8 image."""
    return "data:image/jpeg;base64," + base64.b64encode(encode_jpeg(rgb, quality)).decode("ascii")


#: :func:`image_panels`' gap between panels, a fraction of the plot area's width.
PANEL_GAP = 0.02


def height_for_width(fig: go.Figure, aspect: float) -> tuple[float, float]:
    """``(per_px, fixed)``: at ``w`` px wide, the image panels of ``fig`` (made by
    :func:`image_panels`, one row) show images of ``aspect`` (height over width) whole and
    as wide as their panels at ``per_px * w + fixed`` px high: the panels' share of the
    plot area's width times ``aspect``, plus the top and bottom margins. A figure of fixed
    height (620 px) was too tall for a 1280x720 projector and left the images small at
    1920 px; a page sizes it with the width it is given from these.

    Example:
        >>> fig = image_panels(["a", "b"], 620, bottom=50)
        >>> per_px, fixed = height_for_width(fig, 1.25)
        >>> round(per_px, 4), round(fixed, 2), round(per_px * 820 + fixed)
        (0.6125, 77.75, 580)
    """
    if not aspect > 0:
        raise ValueError(f"aspect must be an image's height over its width (> 0), got {aspect}")
    panels = sum(1 for name in fig.layout if name.startswith("xaxis")) or 1
    margin = fig.layout.margin
    per_px = aspect * (1.0 - PANEL_GAP * (panels - 1)) / panels
    sides = (margin.l or 0) + (margin.r or 0)
    return per_px, (margin.t or 0) + (margin.b or 0) - sides * per_px


def image_panels(titles: Sequence[str], height: int, *, bottom: int = 10) -> go.Figure:
    """Side-by-side image panels with shared (matched) zoom and pan, image rows downwards."""
    fig = make_subplots(
        rows=1, cols=len(titles), subplot_titles=list(titles), horizontal_spacing=PANEL_GAP
    )
    # make_subplots puts each title's baseline on its panel's top edge, where the image
    # begins (top-aligned below): lifted by a few pixels, its descenders clear the image.
    fig.update_annotations(yshift=TITLE_GAP_PX)
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": bottom},
        dragmode="pan",
        showlegend=False,
        plot_bgcolor="black",
        paper_bgcolor="rgba(0,0,0,0)",
        uirevision="keep",  # keep zoom/pan across reruns that change only contrast
    )
    for i in range(1, len(titles) + 1):
        xa = "x" if i == 1 else f"x{i}"
        fig.update_xaxes(
            matches="x", showticklabels=False, showgrid=False, zeroline=False, row=1, col=i
        )
        fig.update_yaxes(
            matches="y",
            scaleanchor=xa,
            # keep the aspect by shrinking the plot area, top-aligned under the title
            constrain="domain",
            constraintoward="top",
            autorange="reversed",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            row=1,
            col=i,
        )
    return fig


def _marks(fig: go.Figure, view: ImageView, col: int, color: str, offset=(0.0, 0.0)) -> None:
    for k, outline in enumerate(view.region_outlines):
        if len(outline) == 0:
            continue
        closed = np.vstack([outline, outline[:1]])
        fig.add_trace(
            go.Scatter(
                x=closed[:, 1] - offset[1],
                y=closed[:, 0] - offset[0],
                mode="lines",
                line={"color": REGION_COLOR, "width": 2, "dash": "dash"},
                hoverinfo="text",
                text=f"region {k + 1}: an annotated area holding calcifications",
                name=f"region {k + 1}",
            ),
            row=1,
            col=col,
        )
    for k, hull in enumerate(view.cluster_hulls):
        if len(hull) == 0:
            continue
        closed = np.vstack([hull, hull[:1]])
        fig.add_trace(
            go.Scatter(
                x=closed[:, 1] - offset[1],
                y=closed[:, 0] - offset[0],
                mode="lines",
                line={"color": "#ffd400", "width": 2},
                hoverinfo="text",
                text=f"cluster {k + 1}: {view.cluster_sizes[k]} calcifications",
                name=f"cluster {k + 1}",
            ),
            row=1,
            col=col,
        )
    if len(view.calc_points):
        fig.add_trace(
            go.Scatter(
                x=view.calc_points[:, 1] - offset[1],
                y=view.calc_points[:, 0] - offset[0],
                mode="markers",
                marker={
                    "symbol": "circle-open",
                    "size": 11,
                    "color": color,
                    "line": {"width": 1.5},
                },
                hovertemplate="calcification %{customdata[0]}<br>Ø %{customdata[1]:.2f} mm"
                "<br>row %{y:.0f}, col %{x:.0f}<extra></extra>",
                customdata=np.column_stack(
                    [np.arange(1, len(view.calc_points) + 1), view.calc_diameters_mm]
                ),
                name="calcifications",
            ),
            row=1,
            col=col,
        )


def pair_figure(
    views: Sequence[ImageView],
    titles: Sequence[str],
    *,
    show_marks: bool = True,
    mark_color: str = "#00e5ff",
    height: int = 620,
) -> go.Figure:
    """Side-by-side panels (e.g. prior | recent) with shared zoom and pan.

    Args:
        views: one prepared view per panel.
        titles: one title per panel.
        show_marks: draw calcification markers and cluster outlines.
        mark_color: colour of the calcification markers.
        height: figure height in pixels.
    """
    if len(views) != len(titles):
        raise ValueError(f"{len(views)} views but {len(titles)} titles")
    fig = image_panels(titles, height)
    for col, view in enumerate(views, start=1):
        step = 1.0 / view.scale
        fig.add_trace(
            go.Image(
                source=data_uri(view.preview),
                x0=0,
                y0=0,
                dx=step,
                dy=step,
                hoverinfo="skip",
                name=view.key,
            ),
            row=1,
            col=col,
        )
        if show_marks:
            _marks(fig, view, col, mark_color)
    return fig


def crop_figure(
    crops: Sequence[np.ndarray],
    boxes: Sequence[tuple[int, int, int, int]],
    titles: Sequence[str],
    *,
    height: int = 460,
    views: Sequence[ImageView] | None = None,
    mark_color: str = "#00e5ff",
) -> go.Figure:
    """Full-resolution crops side by side, axes in full-resolution pixel coordinates.

    With ``views`` (one per crop), their calcification markers and cluster outlines are
    drawn too, and the axes are fixed to the first box so marks outside it do not widen
    the view.
    """
    fig = image_panels(titles, height)
    for col, (crop, box) in enumerate(zip(crops, boxes, strict=True), start=1):
        r0, r1, c0, c1 = box
        step_x = (c1 - c0) / crop.shape[1]
        step_y = (r1 - r0) / crop.shape[0]
        fig.add_trace(
            go.Image(
                source=data_uri(crop, quality=92),
                x0=c0,
                y0=r0,
                dx=step_x,
                dy=step_y,
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
    if views is not None:
        if len(views) != len(crops):
            raise ValueError(f"{len(crops)} crops but {len(views)} views")
        for col, view in enumerate(views, start=1):
            _marks(fig, view, col, mark_color)
        r0, r1, c0, c1 = boxes[0]
        fig.update_xaxes(range=[c0, c1], autorange=False)
        fig.update_yaxes(range=[r1, r0], autorange=False)
    return fig


#: Boxes and markers of what the model does not call (below its operating threshold):
#: dimmed grey, as the reading viewer draws them (components/viewer/src/overlays.ts).
BELOW_COLOR = "#a8a8a8"


def add_boxes(
    fig: go.Figure,
    boxes: Sequence[tuple[float, float, float, float]],
    col: int,
    *,
    labels: Sequence[str],
    customdata: Sequence[Sequence[object]] | None = None,
    color: str = "#ffffff",
    name: str = "regions",
    dashed: Sequence[bool] | None = None,
) -> None:
    """Outline boxes ``(r0, r1, c0, c1)`` (full-resolution display pixels) on panel ``col``,
    with a clickable marker at each box's top-left corner labelled ``labels[k]``; those
    ``dashed`` says (one per box) dashed in :data:`BELOW_COLOR` (a second outline trace,
    ``<name>-outline-below``): regions the model does not call.

    Plotly reports clicks on data points only, so the markers (one trace named ``name``,
    point ``k`` for box ``k``, carrying ``customdata[k]``) are what a click selects.
    """
    if len(labels) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(labels)} labels")
    if not boxes:
        return
    below = list(dashed) if dashed is not None else [False] * len(boxes)
    for part, line in ((False, {"color": color}), (True, {"color": BELOW_COLOR, "dash": "dash"})):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for (r0, r1, c0, c1), b in zip(boxes, below, strict=True):
            if b == part:
                xs += [c0, c1, c1, c0, c0, None]
                ys += [r0, r0, r1, r1, r0, None]
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={**line, "width": 1.5},
                    hoverinfo="skip",
                    name=f"{name}-outline-below" if part else f"{name}-outline",
                ),
                row=1,
                col=col,
            )
    fig.add_trace(
        go.Scatter(
            x=[b[2] for b in boxes],
            y=[b[0] for b in boxes],
            mode="markers+text",
            text=list(labels),
            textposition="top right",
            textfont={"color": color, "size": 12},
            marker={"symbol": "square", "size": 12, "color": color, "opacity": 0.85},
            customdata=None if customdata is None else [list(c) for c in customdata],
            hovertemplate="region %{text}<extra></extra>",
            name=name,
        ),
        row=1,
        col=col,
    )


def add_colorbar(
    fig: go.Figure,
    colorscale: Sequence[Sequence[object]],
    *,
    title: str,
    vmin: float = 0.0,
    vmax: float = 1.0,
) -> None:
    """A colour bar for images that carry their colours themselves (an invisible trace)."""
    fig.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker={
                "colorscale": [list(c) for c in colorscale],
                "cmin": vmin,
                "cmax": vmax,
                "color": [vmin],
                "showscale": True,
                "colorbar": {"title": {"text": title, "side": "right"}, "thickness": 12},
            },
            hoverinfo="skip",
            showlegend=False,
            name="colorbar",
        ),
        row=1,
        col=1,
    )


def selected_box(event: object) -> tuple[int, int, int, int] | None:
    """``(r0, r1, c0, c1)`` of the last box selected on a figure (full-resolution pixels),
    from the selection event Streamlit returns; ``None`` without one."""
    selection = getattr(event, "selection", None)
    try:
        boxes = selection["box"] if selection is not None else None
    except (KeyError, TypeError):
        return None
    if not boxes:
        return None
    box = boxes[-1]
    xs, ys = box.get("x", []), box.get("y", [])
    if len(xs) < 2 or len(ys) < 2:
        return None
    c0, c1 = sorted(int(v) for v in xs[:2])
    r0, r1 = sorted(int(v) for v in ys[:2])
    return r0, r1, c0, c1
