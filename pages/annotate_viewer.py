"""Annotate in the reading viewer (components/viewer): marks are placed, moved, relabelled
and deleted in the browser and reach the store on Save only."""

from __future__ import annotations

import streamlit as st

from mcalc.config import TIMEPOINTS
from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.present import panel_cache
from mcalc.present.pixels import SentPixels
from mcalc.present.reading import (
    BAD_BASE,
    event_base,
    marks_from_panel,
    outlines_from_panel,
    panel_marks,
    panel_outlines,
    without_dataset_marks,
)
from mcalc.store.session import EditSession
from mcalc.viewer import DisplayOptions, ImageView
from pages import common, state, viewer_component
from pages.annotate_shared import FOLLOWED, flash, show_flash, take_comment, tell

VIEWER_KEY = "annotate_viewer"
SHOWN_VERSIONS = "annotate_viewer_marks_version"  # per image: the marks version it last had


def _sent() -> SentPixels:
    """The pixel ids this session's browser tab holds, for every page, across page
    switches (:func:`pages.viewer_component.sent_pixels`): the images Browse showed are
    not sent again here."""
    return viewer_component.sent_pixels()


def _handle_event(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    session: EditSession | None,
    versions: dict[str, int],
    sent: SentPixels,
) -> bool:
    """The viewer's event since the last run: its request for pixels it lacks, and with a
    reader, a save or undo (to the store, drawn in this same run: no second run) or a
    next/previous case. Returns whether it was a save or an undo."""
    event = viewer_component.new_event(st.session_state.get(VIEWER_KEY), VIEWER_KEY)
    if event and event.get("type") == "pixels":
        sent.forget(str(k) for k in event.get("keys") or [])
        return False
    if session is None:
        return False
    if event and event.get("type") in ("save", "undo") and event_base(event) == BAD_BASE:
        return False  # not the viewer's (it sends a version number): logged, ignored
    if event and event.get("type") == "save" and event.get("panel", rec.key) == rec.key:
        # The version the browser's marks were loaded from (the session may have followed a
        # save made in another tab since): a copy of an older one is a conflict, kept aside.
        base = event_base(event)
        try:
            take_comment(session)  # typed, given in this run: saved with the marks
        except ValueError as exc:
            flash("warning", f"Comment not saved: {exc}")
        try:
            points = marks_from_panel(view, event.get("marks") or [])
            outlines = (
                None
                if event.get("outlines") is None
                else outlines_from_panel(view, event["outlines"])
            )
        except (KeyError, ValueError) as exc:
            flash("error", f"Marks not saved: {exc}")
        else:
            tell(session.save_copy(points, outlines=outlines, base=base))
        # The marks version changes in this run: the browser reloads the saved marks.
        versions[rec.key] = versions.get(rec.key, 0) + 1
    if event and event.get("type") == "undo" and event.get("panel", rec.key) == rec.key:
        # Ctrl+Z (or the viewer's Undo) with nothing unsaved in the browser: the last saved
        # edit, undone as a new version, as the page's Undo does.
        _undo_saved(session, event_base(event))
        versions[rec.key] = versions.get(rec.key, 0) + 1  # the browser loads the result
    if event and event.get("type") in ("next", "previous"):
        ids = [c.case_id for c in index.cases]
        pos = ids.index(rec.case_id) + (1 if event["type"] == "next" else -1)
        if 0 <= pos < len(ids):
            # The reader's case, for every page: the rerun's case picker opens on it. (The
            # picker's own key cannot be set here, after it was drawn: Streamlit raised
            # StreamlitWidgetAlreadyInstantiatedError on every Case ▶, ◀ Case, N and P.)
            state.show_case(ids[pos])
            st.rerun()
    return event is not None and event.get("type") in ("save", "undo")


def _undo_saved(session: EditSession, base: int | None) -> None:
    """Undo the last saved edit for the viewer, which loaded version ``base``: not when a
    newer one was saved since (another tab's edit, shown now, would be the one undone), nor
    over this page's own unsaved edits (the comment: the page's Undo takes those back)."""
    if base is not None and base != session.base:
        flash(
            "warning",
            f"Nothing undone: version {session.base} was saved since the viewer loaded "
            f"version {base} (another tab or session); it is shown now.",
        )
    elif session.dirty or session.can_undo_locally:
        flash(
            "info",
            "Nothing undone in the store: this page holds unsaved edits (Undo below the "
            "viewer takes them back first).",
        )
    else:
        tell(session.undo())


def marks_version(key: str, session: EditSession | None, saves: int) -> int:
    """The viewer's ``marks_version`` for image ``key``: it changes (and the browser reloads
    the marks from the panel, dropping what was not saved) only when the stored marks it
    shows change: a save (``saves``, the count of the viewer's saves of this image), a
    restore, another reader's marks.

    Not with the reader's name alone: a name corrected (to a reader with nothing stored,
    as the old one had) or cleared and typed again left the browser's unsaved marks gone
    without a word. While no name is given (``session`` ``None``) the browser keeps the
    version it last had for this image, with the marks it holds (not editable meanwhile).
    """
    shown: dict[str, int] = st.session_state.setdefault(SHOWN_VERSIONS, {})
    if session is None:
        return shown.get(key, 0)
    marks = session.marks
    shown[key] = hash((saves, session.base, marks.points, marks.regions)) & 0x7FFFFFFF
    return shown[key]


def browser_marking_ui(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    session: EditSession | None,
    opts: DisplayOptions,
    max_side: int,
    show_dataset: bool = True,
    why_not_editable: str = "give your name",
) -> None:
    """The reading viewer: the image (editable) beside its other exam; marks are placed,
    moved, relabelled and deleted in the browser and reach the store on Save only.
    ``show_dataset`` ``False``: the dataset's own markers and cluster outlines are not drawn.

    ``session`` ``None``: the reader has not given a name yet (or their marks cannot be
    read: ``why_not_editable`` says which on the image's panel); the same viewer shows the
    images without marks, so that the name only turns marking on (the browser keeps the
    images: same case key) instead of loading the case then."""
    versions = st.session_state.setdefault("annotate_viewer_versions", {})
    sent = _sent()
    # The viewer's event, read before drawing it: a save is then drawn in this run.
    saved_here = _handle_event(index, rec, view, session, versions, sent)
    case = index.case(rec.case_id)
    recs = [r for tp in TIMEPOINTS if (r := case.image(rec.view, tp)) is not None]
    # Pixels from the shared panel cache, sent as binary only when this viewer lacks them:
    # a rerun (a name typed, a save, a mark) sends the panels' few kB, no pixels.
    payload = panel_cache.image_payload(common.get_image_cache(), case, recs, opts, max_side, sent)
    for text in payload.problems:
        st.warning(text)
    panels = []
    followed = session is not None and st.session_state.pop(FOLLOWED, None) == (
        rec.key,
        session.reader,
    )
    if followed and session is not None and not saved_here:
        flash(
            "info",
            f"Version {session.base} of your marks on this image was saved in another tab or "
            "session and is loaded here. Marks you placed in the viewer and did not save stay "
            "(Save marks keeps them as a conflict copy and offers to merge both).",
        )
    shown = payload.panels if show_dataset else without_dataset_marks(payload.panels)
    for panel in shown:
        if panel["key"] != rec.key:
            panels.append(panel)
            continue
        # What is true of this panel: "marking" over an image nothing could be placed on
        # (no name yet, a damaged record) sent the reader looking for why clicks did nothing.
        panel["label"] += (
            " · marking" if session is not None else f" · not editable: {why_not_editable}"
        )
        if session is not None:
            panel["marks"] = panel_marks(view, session.marks)
            panel["reader_outlines"] = panel_outlines(view, session.marks)
            # The version the browser's marks are, which its save names (a tab that loaded
            # an older one than is stored meanwhile saves as a conflict); unsaved: the
            # server holds marks not stored (a save refused as a conflict).
            panel["marks_base"] = session.base
            panel["marks_unsaved"] = session.dirty
            # A newer version saved elsewhere was loaded in this run: the browser keeps
            # marks of its own not saved yet (they were dropped unseen) for Save to keep
            # as a conflict copy.
            panel["marks_followed"] = followed
        panels.append(panel)
    version = versions.get(rec.key, 0)
    # The image only: a reader's marks come with marks_version (a new name, a save), so
    # the browser keeps the images when the name is entered.
    case_key = rec.key
    # The reader zoomed past the preview: these images at full resolution (the views of
    # the cached panels: no preview made or unpickled on a rerun such as the name's).
    views = panel_cache.image_views(common.get_image_cache(), recs, opts, max_side)
    fullres = viewer_component.fullres_answer(
        VIEWER_KEY, case_key, [r for r in recs if r.key in views], lambda r: views[r.key]
    )
    viewer_component.reading_viewer(  # its events: read before drawing, above
        panels,
        case_key=case_key,
        key=VIEWER_KEY,
        height=560,
        editable=rec.key if session is not None else None,
        marks_version=marks_version(rec.key, session, version),
        marks_owner=session.reader if session is not None else None,
        fullres=fullres,
        pixels=(payload.index, payload.data),
    )
    with viewer_component.below():  # under the viewer, which app.py draws after the page
        show_flash()
        st.caption(
            "Mark tool (A): click to add, drag a mark to move it, Delete removes the selected one, "
            "B / U / X set its label, Ctrl+Z undoes (with nothing unsaved, the last saved edit, "
            "saved as a new version); Save marks (Ctrl+S, anywhere on this page), the one save here, "
            "sends the marks "
            "to the store with the comment and label edits made below it. "
            "Outline tool (C, again for cluster ⇄ ROI): drag to draw a cluster outline or region "
            "of interest, click inside one to select it (Delete, B / U / X, Ctrl+Z as for marks). "
            "Unsaved marks stay in this browser tab while you look at another view, exam or "
            "page and come back with their image; closing or reloading the tab loses them (the "
            "browser asks first)."
        )
