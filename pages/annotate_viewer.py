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


def _handle_event(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    session: EditSession,
    versions: dict[str, int],
) -> None:
    """A save (to the store, drawn in this same run: no second run) or a next/previous
    case sent by the viewer since the last run."""
    event = viewer_component.new_event(st.session_state.get(VIEWER_KEY), VIEWER_KEY)
    if event and event.get("type") == "save" and event.get("panel", rec.key) == rec.key:
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
        # The marks version changes in this run: the browser reloads the saved marks.
        versions[rec.key] = versions.get(rec.key, 0) + 1
    if event and event.get("type") in ("next", "previous"):
        ids = [c.case_id for c in index.cases]
        pos = ids.index(rec.case_id) + (1 if event["type"] == "next" else -1)
        if 0 <= pos < len(ids):
            st.session_state["annotate_case"] = ids[pos]
            st.rerun()


def browser_marking_ui(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    session: EditSession | None,
    opts: DisplayOptions,
    max_side: int,
) -> None:
    """The reading viewer: the image (editable) beside its other exam; marks are placed,
    moved, relabelled and deleted in the browser and reach the store on Save only.

    ``session`` ``None``: the reader has not given a name yet; the same viewer shows the
    images without marks, so that the name only turns marking on (the browser keeps the
    images: same case key) instead of loading the case then."""
    versions = st.session_state.setdefault("annotate_viewer_versions", {})
    if session is not None:
        # The viewer's event, read before drawing it: a save is then drawn in this run.
        _handle_event(index, rec, view, session, versions)
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
        if session is None:
            panels.append(panel)
            continue
        panels.append(
            {
                **panel,
                "marks": panel_marks(view, session.marks),
                "reader_outlines": panel_outlines(view, session.marks),
            }
        )
    version = versions.get(rec.key, 0)
    # The image only: a reader's marks come with marks_version (a new name, a save), so
    # the browser keeps the images when the name is entered.
    case_key = rec.key
    # The reader zoomed past the preview: these images at full resolution.
    fullres = viewer_component.fullres_answer(
        VIEWER_KEY,
        case_key,
        case.images,
        lambda r: view if r.key == rec.key else cached_view(r, opts, max_side),
    )
    viewer_component.reading_viewer(  # its events: read before drawing, above
        panels,
        case_key=case_key,
        key=VIEWER_KEY,
        height=560,
        editable=rec.key if session is not None else None,
        marks_version=0
        if session is None
        else hash(
            (version, session.reader, session.base, session.marks.points, session.marks.regions)
        )
        & 0x7FFFFFFF,
        fullres=fullres,
    )
    show_flash()
    st.caption(
        "Mark tool (A): click to add, drag a mark to move it, Delete removes the selected one, "
        "B / U / X set its label, Ctrl+Z undoes; Save (Ctrl+S) sends the marks to the store. "
        "Outline tool (C, again for cluster ⇄ ROI): drag to draw a cluster outline or region "
        "of interest, click inside one to select it (Delete, B / U / X, Ctrl+Z as for marks). "
        "Unsaved browser marks are lost when you leave the image."
    )
