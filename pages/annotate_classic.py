"""Annotate's classic marking figure (plotly): each click goes to the server and through
:meth:`mcalc.store.session.EditSession.click`; the fallback of the reading viewer.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import streamlit as st

from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.marking import annotate_figure, chart_point, chart_polygon, grid_step
from mcalc.store import LABELS, StoreError
from mcalc.store.placement import snap_to_peak
from mcalc.store.session import EditSession, Snap
from mcalc.viewer import DisplayOptions, ImageView, crop_view
from pages import common, theme
from pages.annotate_shared import (
    FIG_N,
    HIGHLIGHT,
    PENDING,
    TOOLS,
    ZOOM,
    flash,
    show_flash,
    store,
    tell,
)

# --------------------------------------------------------------------------- clicks


def handle_event(
    event: Any,
    names: list[str],
    session: EditSession,
    view: ImageView,
    region: np.ndarray | None,
    *,
    tool: str,
    label: str,
    region_kind: str,
    hit_radius: float,
    snap: Snap | None = None,
) -> bool:
    """Turn a chart selection event into an edit; returns True when something happened."""
    sel = getattr(event, "selection", None) or {}
    if tool in ("region", "zoom"):
        poly = chart_polygon(sel, view.full_shape)
        if poly is None:
            return False
        if tool == "region":
            tell(session.draw_region(view, region_kind, poly, label))
            return True
        rows, cols = [p[0] for p in poly], [p[1] for p in poly]
        if max(rows) - min(rows) < 4 or max(cols) - min(cols) < 4:
            flash("warning", "That box is too small to zoom into; drag a larger one.")
            return True
        st.session_state.setdefault(ZOOM, {})[view.key] = (
            int(min(rows)),
            int(max(rows)) + 1,
            int(min(cols)),
            int(max(cols)) + 1,
        )
        return True
    point = chart_point(sel, names)
    if point is None:
        return False
    if point.reader_index is not None and 0 <= point.reader_index < len(session.marks.points):
        session.select(session.marks.points[point.reader_index].id)
        flash("info", "Mark selected: edit it below.")
        return True
    if point.row is None or point.col is None:
        return False
    click_tool: Literal["add", "edit"] = "edit" if tool == "edit" else "add"
    tell(
        session.click(
            view,
            region,
            point.row,
            point.col,
            tool=click_tool,
            label=label,
            hit_radius=hit_radius,
            snap=snap,
        )
    )
    return True


def classic_marking_ui(
    rec: ImageRecord,
    view: ImageView,
    region: np.ndarray,
    session: EditSession,
    opts: DisplayOptions,
    show_dataset: bool,
) -> None:
    """The classic figure: tools, the image with marks, clicks sent to the server."""
    c1, c2, c3 = st.columns([3, 2, 1])
    tool = c1.radio(
        "Tool",
        list(TOOLS),
        format_func=TOOLS.get,
        horizontal=True,
        key="annotate_tool",
        persist_state="session",
    )
    label = c2.radio(
        "Label of new marks",
        LABELS,
        index=1,
        horizontal=True,
        key="annotate_label",
        persist_state="session",
    )
    region_kind = c3.radio(
        "Region",
        ["cluster", "roi"],
        horizontal=True,
        key="annotate_region_kind",
        persist_state="session",
        disabled=tool != "region",
    )

    zoom = st.session_state.get(ZOOM, {}).get(rec.key)
    extent = max(zoom[1] - zoom[0], zoom[3] - zoom[2]) if zoom else max(view.full_shape)
    hit_radius = max(extent * 0.008, 1.5)
    shown = zoom or (0, view.full_shape[0], 0, view.full_shape[1])
    snap_on = st.sidebar.toggle(
        "Snap clicks to the calcification",
        value=True,
        key="annotate_snap",
        persist_state="session",
        help="A click lands on a grid of about 110 targets across what is shown; the mark "
        "moves to the brightest spot within that grid cell (the calcification aimed at). "
        "Zoom in to place marks to the pixel.",
    )

    def snapper(row: float, col: float) -> tuple[float, float]:
        mammo = common.get_image_cache().load_record(rec)
        radius = grid_step(shown) / 2
        return snap_to_peak(mammo.pixels, row, col, radius, bright=not mammo.monochrome1)

    snap = snapper if snap_on else None

    pending = st.session_state.pop(PENDING, None)
    if pending is not None:
        tell(
            session.click(
                view,
                region,
                float(pending[0]),
                float(pending[1]),
                tool="edit" if tool == "edit" else "add",
                label=label,
                hit_radius=hit_radius,
                snap=snap,
            )
        )

    # Nothing drawn above the figure may change height between clicks (the image would
    # move under the pointer and the next click land elsewhere): messages go below it.
    crop = None
    if zoom:
        try:
            crop = crop_view(common.get_image_cache(), rec, view, opts, zoom)
        except (ImageReadError, ValueError) as exc:
            flash("warning", f"Cannot show the zoomed region: {exc}")
            st.session_state[ZOOM].pop(rec.key, None)
    other_name = st.session_state.get("annotate_against")
    other = None
    if other_name and other_name != "dataset annotation":
        try:
            other = store().load(rec.key, other_name).marks
        except (StoreError, ValueError):
            other = None
    fig = annotate_figure(
        view,
        session.marks,
        crop=crop,
        show_dataset=show_dataset,
        other=other,
        selected=session.selected,
        highlight=st.session_state.get(HIGHLIGHT, {}).get(rec.key, []),
        dragmode={"region": "lasso", "zoom": "select"}.get(tool, "pan"),
    )
    modes: dict[str, tuple[Literal["points", "box", "lasso"], ...]] = {
        "add": ("points",),
        "edit": ("points",),
        "region": ("box", "lasso"),
        "zoom": ("box",),
    }
    n = st.session_state.setdefault(FIG_N, 0)
    event = st.plotly_chart(
        theme.styled(fig),
        width="stretch",
        on_select="rerun",
        selection_mode=modes[tool],
        key=f"annotate_fig_{n}",
        config={"scrollZoom": True, "displaylogo": False},
    )
    if handle_event(
        event,
        [t.name or "" for t in fig.data],
        session,
        view,
        region,
        tool=tool,
        label=label,
        region_kind=region_kind,
        hit_radius=hit_radius,
        snap=snap,
    ):
        st.session_state[FIG_N] = n + 1  # a fresh chart: the next click is a new event
        st.rerun()

    show_flash()

    legend = (
        "Yours: ✕ green benign, magenta suspicious, amber uncertain (dashed outline = ROI). "
        + (
            "Dataset: cyan circles, dotted cluster outlines and dashed orange regions. "
            if show_dataset
            else ""
        )
        + ("Zoomed at full resolution." if zoom else "Scroll to zoom, drag to pan.")
    )
    st.caption(legend)
    for note in view.notes:
        st.caption(f"{rec.key}: {note}")
    if zoom and st.button("Reset zoom", key="annotate_reset_zoom"):
        st.session_state[ZOOM].pop(rec.key, None)
        st.session_state.get(HIGHLIGHT, {}).pop(rec.key, None)
        st.rerun()
