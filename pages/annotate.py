"""Annotate: a reader's own calcification marks, their history, agreement, export and import.

Widgets in, :mod:`mcalc` calls, drawing out. The editing itself is an
:class:`mcalc.store.session.EditSession` per image and reader, kept in the session under
``annotate_work``; it holds the working copy until saved, so a refused save (conflict,
read-only or full store) loses nothing. A click on the figure (or a ``(row, col)`` put in
``annotate_pending_click`` by a test) goes through :meth:`EditSession.click`.

The page is split by concept: :mod:`pages.annotate_viewer` (marking in the browser),
:mod:`pages.annotate_classic` (the classic figure), :mod:`pages.annotate_panels` (marks,
history, agreement), :mod:`pages.annotate_exchange` (export, import) and
:mod:`pages.annotate_shared`.
"""

from __future__ import annotations

import streamlit as st

from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.viewer import DisplayOptions, ImageView
from pages import common, state, viewer_component
from pages.annotate_classic import classic_marking_ui
from pages.annotate_exchange import exchange_ui, unsaved_export_ui
from pages.annotate_panels import agreement_ui, history_ui, marks_table_ui, save_ui, selected_ui
from pages.annotate_shared import (
    cached_region,
    cached_view,
    comment_key,
    follow,
    get_session,
    take_comment,
)
from pages.annotate_viewer import browser_marking_ui
from pages.readers import reader_ui

common.frame()

USE_VIEWER_KEY = "annotate_use_viewer"  # marking in the reading viewer (on) or the figure
CASE_WIDGET = "annotate_case"


def case_picked() -> None:
    """The reader picked another case here: the other pages follow (pages.state)."""
    state.show_case(st.session_state[CASE_WIDGET])


# --------------------------------------------------------------------------- widgets


def image_ui(index: DatasetIndex) -> ImageRecord:
    """Case, view and timepoint pickers; stops the page if the case lacks that image."""
    ids = [c.case_id for c in index.cases]
    # The case the reader was on, here or on another page (pages.state), else the first.
    shown = state.current_case(ids) or ids[0]
    # On every run (as Browse's case table): a value set through the session goes into the
    # picker's element, so setting it only when it differed sent a new element on the run
    # after (the first save after a page switch), which the browser drew again.
    st.session_state[CASE_WIDGET] = shown
    c1, c2, c3 = st.columns([3, 1, 1])
    case_id = c1.selectbox("Case", ids, key=CASE_WIDGET, on_change=case_picked)
    state.show_case(case_id)
    state.keep_case_in_url(case_id)
    # Only what the collection has (mini-MIAS: MLO; a public collection: one round): a
    # view or an exam it never has only led to "Case c1 has no CC prior image".
    views, rounds = index.views(), index.rounds()
    for key, have in (("annotate_view", views), ("annotate_timepoint", rounds)):
        if key in st.session_state and st.session_state[key] not in have:
            st.session_state[key] = have[-1] if key == "annotate_timepoint" else have[0]
    view = c2.selectbox("View", views, key="annotate_view", persist_state="session")
    tp = c3.selectbox(
        "Exam",
        rounds,
        index=len(rounds) - 1,
        key="annotate_timepoint",
        persist_state="session",
        disabled=len(rounds) == 1,
    )
    if len(rounds) == 1:
        c3.caption("This collection has one exam per case.")
    rec = index.case(case_id).image(view, tp)
    if rec is None:
        st.warning(f"Case {case_id} has no {view} {tp} image. Pick another view or exam.")
        st.stop()
    return rec


def display_ui(reading: bool) -> tuple[DisplayOptions, bool]:
    """Window, contrast and the dataset's marks (sidebar); returns the options and whether
    the dataset's marks are shown.

    ``reading``: the reading viewer shows the images; it windows the 16-bit values in the
    browser and has no CLAHE and no red overlay, so those controls are drawn with the
    classic figure only (in the viewer they changed nothing). Their values are kept.
    """
    with st.sidebar:
        common.sidebar_heading("Display")
        window = common.window_controls("annotate", clahe=not reading)
        common.sidebar_heading("Dataset's marks")
        show = st.toggle(
            "Show the dataset's own marks (cyan; regions orange)",
            value=True,
            key="annotate_show_dataset",
            persist_state="session",
        )
        if reading:
            overlay = bool(st.session_state.get("annotate_overlay", False))
            st.caption(
                "The red overlay of the annotation and CLAHE are the classic figure's: turn "
                "marking in the reading viewer off (the toggle above the images) to use them."
            )
        else:
            overlay = st.toggle(
                "Red overlay of the annotation", key="annotate_overlay", persist_state="session"
            )
    opts = DisplayOptions(
        **window,  # type: ignore[arg-type]
        show_annotations=overlay,
    )
    return opts, show


def marking_ui(
    index: DatasetIndex,
    rec: ImageRecord,
    view: ImageView,
    reader: str,
    opts: DisplayOptions,
    max_side: int,
    show_dataset: bool,
) -> None:
    """The reader's marks on ``rec``: the viewer or the classic figure, then under it the
    save, the marks, the comment, the history, agreement and exchange."""
    session = get_session(rec.key, reader, view.full_shape)
    if session is None:  # the reader's stored marks cannot be read (said above)
        # The image and the dataset's marks still shown, not editable: one reader's damaged
        # record hid the image altogether (the crash check of 6 December 2026).
        if viewer_component.available():
            browser_marking_ui(
                index,
                rec,
                view,
                None,
                opts,
                max_side,
                show_dataset,
                why_not_editable="marks unreadable",
            )
        return
    use_viewer = viewer_component.available() and st.toggle(
        "Mark in the reading viewer (instant, saved by its Save marks)",
        value=True,
        key=USE_VIEWER_KEY,
        persist_state="session",
        help="Off: the classic marking figure (each click is sent to the server).",
    )
    if use_viewer:
        browser_marking_ui(index, rec, view, session, opts, max_side, show_dataset)
    else:
        # The breast region (where a click may place a mark) only for the classic figure.
        region = cached_region(rec, opts, max_side)
        classic_marking_ui(rec, view, region, session, opts, show_dataset)
    # Under the viewer, which app.py draws after this page (pages.viewer_component): no
    # st.stop() from here on, it would take the viewer with it.
    with viewer_component.below():
        save_ui(session, in_viewer=use_viewer)
        unsaved_export_ui(session, reader)
        selected_ui(session, view)
        marks_table_ui(session, in_viewer=use_viewer)
        # The comment changed under the field (an import, a restored version, a reload):
        # the field shows it (follow, in take_comment). Its own old text, taken as the
        # reader's edit, cleared an imported comment and left the image with unsaved edits.
        follow(comment_key(rec.key), session.marks.comment)
        st.text_input("Comment on the whole image", key=comment_key(rec.key))
        try:
            if take_comment(session):
                st.rerun()  # the field is given the comment it now has: the same text
        except ValueError as exc:  # too long: say so here (a rerun would try again)
            st.warning(f"Comment not kept: {exc}")
        history_ui(session)
        agreement_ui(session, rec, view, reader, in_viewer=use_viewer)
        exchange_ui(session, index, rec, reader, in_viewer=use_viewer)
        st.page_link(
            "pages/audit.py", label="Audit model predictions →", icon=":material/fact_check:"
        )


# --------------------------------------------------------------------------- page

index = common.require_index()
st.title("Annotate")
common.synthetic_banner(index)
reader = reader_ui("annotate")
rec = image_ui(index)
# The reading viewer shows the image unless the reader turned it off (its toggle is drawn
# below) or it is not built.
reading = viewer_component.available() and bool(st.session_state.get(USE_VIEWER_KEY, True))
opts, show_dataset = display_ui(reading)
max_side = common.settings().preview_max_side
try:
    view = cached_view(rec, opts, max_side)
except ImageReadError as exc:
    st.error(f"{rec.key}: {exc}")
    st.stop()

if reader is None:
    # The images are shown while the name is asked, in the same viewer: entering the name
    # then turns marking on without loading the case again. (No st.stop() after it: that
    # would take the viewer app.py draws after this page with it.)
    if reading:
        browser_marking_ui(index, rec, view, None, opts, max_side, show_dataset)
else:
    marking_ui(index, rec, view, reader, opts, max_side, show_dataset)
