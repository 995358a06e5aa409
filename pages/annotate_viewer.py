"""Annotate in the reading viewer (components/viewer): marks are placed, moved, relabelled
and deleted in the browser and reach the store on Save only."""

from __future__ import annotations

from typing import Any

import streamlit as st

from mcalc.config import TIMEPOINTS
from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.reading import (
    marks_from_panel,
    outlines_from_panel,
    panel_label,
    panel_marks,
    panel_outlines,
    reading_panel,
)
from mcalc.store.session import EditSession
from mcalc.viewer import DisplayOptions, ImageView
from pages import common, viewer_component
from pages.annotate_shared import cached_view, flash, show_flash, tell

VIEWER_KEY = "annotate_viewer"


@st.cache_data(show_spinner=False, max_entries=16)
def cached_panel(
    rec: ImageRecord, opts: DisplayOptions, max_side: int, label: str, view_name: str, tp: str
) -> dict[str, Any]:
    """A viewer panel without marks (16-bit pixels, windows, overlays), built once per
    image and display options: a rerun (a name typed, a save) does not rebuild it."""
    return reading_panel(
        common.get_image_cache(),
        rec,
        cached_view(rec, opts, max_side),
        label=label,
        view_name=view_name,
        time=tp,
        max_side=max_side,
    )


def browser_marking_ui(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    session: EditSession,
    opts: DisplayOptions,
    max_side: int,
) -> None:
    """The reading viewer: the image (editable) beside its other exam; marks are placed,
    moved, relabelled and deleted in the browser and reach the store on Save only."""
    case = index.case(rec.case_id)
    panels = []
    for tp in TIMEPOINTS:
        other = case.image(rec.view, tp)
        if other is None:
            continue
        label = panel_label(case, rec.view, tp)
        try:
            if other.key != rec.key:
                panels.append(cached_panel(other, opts, max_side, label, rec.view, tp))
                continue
            panel = cached_panel(rec, opts, max_side, label + " · marking", rec.view, tp)
        except ImageReadError as exc:
            st.warning(f"{other.key}: {exc}")
            continue
        panels.append(
            {
                **panel,
                "marks": panel_marks(view, session.marks),
                "reader_outlines": panel_outlines(view, session.marks),
            }
        )
    versions = st.session_state.setdefault("annotate_viewer_versions", {})
    version = versions.get(rec.key, 0)
    case_key = f"{rec.key}|{session.reader}"
    # The reader zoomed past the preview: these images at full resolution.
    fullres = viewer_component.fullres_answer(
        VIEWER_KEY,
        case_key,
        case.images,
        lambda r: view if r.key == rec.key else cached_view(r, opts, max_side),
    )
    event = viewer_component.reading_viewer(
        panels,
        case_key=case_key,
        key=VIEWER_KEY,
        height=560,
        editable=rec.key,
        marks_version=hash(
            (version, session.reader, session.base, session.marks.points, session.marks.regions)
        )
        & 0x7FFFFFFF,
        fullres=fullres,
    )
    event = viewer_component.new_event(event, VIEWER_KEY)
    if event and event.get("type") == "save":
        try:
            changed = session.set_points(
                marks_from_panel(view, event.get("marks") or []),
                outlines=None
                if event.get("outlines") is None
                else outlines_from_panel(view, event["outlines"]),
            )
        except (KeyError, ValueError) as exc:
            flash("error", f"Marks not saved: {exc}")
        else:
            if changed or session.dirty:
                tell(session.save())
            else:
                flash("info", "Nothing to save: the marks are as stored.")
        versions[rec.key] = version + 1
        st.rerun()
    if event and event.get("type") in ("next", "previous"):
        ids = [c.case_id for c in index.cases]
        pos = ids.index(rec.case_id) + (1 if event["type"] == "next" else -1)
        if 0 <= pos < len(ids):
            st.session_state["annotate_case"] = ids[pos]
            st.rerun()
    show_flash()
    st.caption(
        "Mark tool (A): click to add, drag a mark to move it, Delete removes the selected one, "
        "B / U / X set its label, Ctrl+Z undoes; Save (Ctrl+S) sends the marks to the store. "
        "Outline tool (C, again for cluster ⇄ ROI): drag to draw a cluster outline or region "
        "of interest, click inside one to select it (Delete, B / U / X, Ctrl+Z as for marks). "
        "Unsaved browser marks are lost when you leave the image."
    )
