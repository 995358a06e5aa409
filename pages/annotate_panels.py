"""Annotate's panels below the image: the marks table, the selected mark, save and
conflicts, history, agreement with other readers and the dataset.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from mcalc.access.reads import visible_readers
from mcalc.dataset.records import ImageRecord
from mcalc.errors import ImageReadError
from mcalc.plural import counted
from mcalc.present.marking import zoom_box
from mcalc.present.words import plain
from mcalc.store import LABELS, PointMark, StoreError
from mcalc.store.reader_agreement import (
    RegionAgreement,
    compare_readers,
    compare_with_dataset,
    compare_with_regions,
    region_table,
    unmatched_table,
)
from mcalc.store.session import EditSession
from mcalc.viewer import ImageView, annotation_for
from pages import common
from pages.annotate_shared import (
    FIG_N,
    HIGHLIGHT,
    VIEWER_MARKS_NOTE,
    ZOOM,
    flash,
    follow,
    store,
    tell,
)
from pages.readers import read_note_ui, read_policy


def marks_table_ui(session: EditSession, in_viewer: bool = False) -> None:
    """The saved and unsaved marks the server holds; ``in_viewer``: marking is done in the
    reading viewer, whose marks reach the server on its *Save marks*."""
    marks = session.marks
    rows = []
    for p in marks.points:
        rows.append(
            {
                "id": p.id,
                "kind": "calcification",
                "label": p.label,
                "row": round(p.row, 1),
                "col": round(p.col, 1),
                "comment": p.comment,
                "reader": p.reader,
                "created (UTC)": p.created_at[:19].replace("T", " "),
            }
        )
    for r in marks.regions:
        r0, c0, r1, c1 = r.bbox
        rows.append(
            {
                "id": r.id,
                "kind": r.kind,
                "label": r.label,
                "row": round((r0 + r1) / 2, 1),
                "col": round((c0 + c1) / 2, 1),
                "comment": r.comment,
                "reader": r.reader,
                "created (UTC)": r.created_at[:19].replace("T", " "),
            }
        )
    st.markdown(
        f"**Your marks: {counted(len(marks.points), 'calcification')}, "
        f"{counted(len(marks.regions), 'region')}**"
    )
    if not rows:
        if in_viewer:
            st.caption(
                "No saved marks yet: choose *Mark* (A) in the viewer's toolbar, click on a "
                "calcification, then *Save marks* (Ctrl+S); marks placed in the viewer are "
                "listed here once saved."
            )
        else:
            st.caption("No marks yet: choose *Add calcification* and click on a calcification.")
        return
    frame = pd.DataFrame(rows)
    event = common.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"annotate_marks_table_{st.session_state.get(FIG_N, 0)}",
        column_config={"id": None, **common.full_res_columns("the mark's")},
    )
    picked = list(event.selection.rows) if event is not None else []
    if picked and str(frame["id"].iloc[picked[0]]) != session.selected:
        session.select(str(frame["id"].iloc[picked[0]]))
        # Selected is drawn above this table: it showed the row picked one run late (the
        # reader's click on a row drew nothing until some other widget ran the page again).
        st.rerun()


def selected_ui(session: EditSession, view: ImageView) -> None:
    """Label, comment, zoom and delete for the selected mark."""
    sid = session.selected
    try:
        mark = session.marks.find(sid) if sid else None
    except KeyError:
        mark = None
    if sid is None or mark is None:
        return
    kind = getattr(mark, "kind", "calcification")
    with st.container(border=True):
        st.markdown(f"**Selected {kind}** · {mark.label} · by {plain(mark.reader)}")
        c1, c2 = st.columns([1, 3])
        follow(f"annotate_sel_label_{sid}", mark.label)
        follow(f"annotate_sel_comment_{sid}", mark.comment)
        label = c1.selectbox("Label", LABELS, key=f"annotate_sel_label_{sid}")
        comment = c2.text_input("Comment", key=f"annotate_sel_comment_{sid}")
        b1, b2, b3, _ = st.columns([1, 1, 1, 3])
        if (label != mark.label or comment != mark.comment) and b1.button(
            "Apply", key="annotate_sel_apply", type="primary"
        ):
            try:
                session.relabel(sid, label=label, comment=comment)
            except ValueError as exc:
                flash("warning", f"Not changed: {exc}")
            st.rerun()
        if b2.button("Delete", key="annotate_sel_delete"):
            session.delete(sid)
            flash("success", f"{kind.capitalize()} deleted (not saved yet; Undo brings it back).")
            st.rerun()
        if b3.button("Zoom here", key="annotate_sel_zoom"):
            if isinstance(mark, PointMark):
                dr, dc = view.to_display(mark.row, mark.col)
            else:
                top, left, bottom, right = mark.bbox
                dr, dc = view.to_display((top + bottom) / 2, (left + right) / 2)
            st.session_state.setdefault(ZOOM, {})[view.key] = zoom_box(view, dr, dc)
            st.rerun()


def save_ui(session: EditSession, in_viewer: bool = False) -> None:
    """Save / Undo buttons, the unsaved-changes note and conflict resolution.

    ``in_viewer``: the reading viewer holds its own unsaved marks, which this page cannot
    see, and its *Save marks* (Ctrl+S) is the one save: it stores the browser's marks with
    this page's unsaved edits (the comment, a label or deletion made under *Selected*;
    :meth:`EditSession.save_copy`). No *Save* is drawn here then: this page's *Save* wrote
    its own edits alone and the browser then loaded that version, dropping the marks placed
    in the viewer and not saved yet without a word (a comment typed, *Save*: "Saved as
    version 1." with the comment, the viewer's two marks gone). Its *Undo* and *Discard
    edits* change the marks the viewer was loaded with: the viewer does its unsaved edits
    again on the result (components/viewer/src/rebase.ts; they were dropped unseen)."""
    if in_viewer:  # no gap where Save was
        c2, c3, c4 = st.columns([1, 1, 4])
    else:
        c1, c2, c3, c4 = st.columns([1, 1, 1, 3])
        if c1.button("Save", key="annotate_save", type="primary", disabled=not session.dirty):
            tell(session.save())
            st.rerun()
    undo_local = session.can_undo_locally
    target = None if undo_local else session.undo_target()
    if c2.button(
        "Undo",
        key="annotate_undo",
        disabled=not undo_local and target is None,
        help="Undo the last edit (add, move, delete, label, comment or region). Unsaved "
        "edits are undone one by one in this session. With none, the last saved edit is "
        "undone and saved as a new version (the history keeps everything): when the last "
        "save held several edits, they are undone one at a time, deletions first, then "
        "the newest added or changed mark."
        + (
            " Marks placed in the viewer and not saved stay, on top of the result (the "
            "viewer's own Undo, Ctrl+Z, takes them back)."
            if in_viewer
            else ""
        ),
    ):
        result = session.undo()
        if result.status != "local":  # an unsaved edit undone shows itself
            tell(result)
        st.rerun()
    if c3.button("Discard edits", key="annotate_discard", disabled=not session.dirty):
        session.discard()
        kept = " Marks placed in the viewer and not saved stay there." if in_viewer else ""
        flash("info", f"Back to the saved version (Undo brings your edits back).{kept}")
        st.rerun()
    if in_viewer:  # "all saved" while the viewer held unsaved marks was not true
        state = (
            "unsaved changes on this page: the viewer's **Save marks** (Ctrl+S) saves them "
            "with its marks"
            if session.dirty
            # Of the page only: it cannot see the viewer's marks ("nothing unsaved here" was
            # said under a viewer holding unsaved ones).
            else "no unsaved edits on this page; marks placed in the viewer are saved by its "
            "**Save marks** (Ctrl+S), green while any are not, with this page's comment and "
            "labels"
        )
    else:
        state = "unsaved changes" if session.dirty else "all saved"
    c4.caption(f"Version {session.base} · {state}")
    if session.conflict:
        conflict_ui(session)


def conflict_ui(session: EditSession) -> None:
    st.error(session.conflict)
    c1, c2, c3 = st.columns(3)
    if c1.button("Load the stored version", key="annotate_conflict_load"):
        tell(session.resolve("load"))
        st.rerun()
    if c2.button("Merge both and save", key="annotate_conflict_merge", type="primary"):
        tell(session.resolve("merge"))
        st.rerun()
    if c3.button("Save mine on top", key="annotate_conflict_mine"):
        tell(session.resolve("mine"))
        st.rerun()


def history_ui(session: EditSession) -> None:
    key, reader = session.image_key, session.reader
    box = common.opened_section("Version history and restore", "annotate_history_open")
    if box is None:
        return
    with box:
        try:
            history = store().history(key, reader)
        except StoreError as exc:
            st.error(str(exc))
            return
        if not history:
            st.caption("Nothing saved yet for this image.")
            return
        common.dataframe(
            pd.DataFrame(
                [
                    {
                        "version": h.number,
                        "saved (UTC)": h.saved_at[:19].replace("T", " "),
                        "by": h.saved_by,
                        "action": h.action,
                        "calcifications": h.n_points,
                        "regions": h.n_regions,
                        "note": h.note,
                    }
                    for h in reversed(history)
                ]
            ),
            hide_index=True,
            width="stretch",
        )
        numbers = [h.number for h in reversed(history)]
        c1, c2 = st.columns([1, 2])
        pick = c1.selectbox("Version", numbers, key="annotate_restore_pick")
        if c2.button(
            f"Restore version {pick}",
            key="annotate_restore",
            disabled=session.dirty or pick == session.base,
            help="Saves a new version equal to the chosen one (none when the current one is "
            "already equal). Save or discard your edits first.",
        ):
            tell(session.restore(int(pick)))
            st.rerun()
        conflicts = store().conflicts(key, reader)
        if conflicts:
            st.markdown(f"**Conflict copies kept: {len(conflicts)}**")
            for copy in conflicts:
                st.caption(
                    f"{copy.path.name}: saved {copy.saved_at} by {plain(copy.saved_by)} on version "
                    f"{copy.base_version} while version {copy.stored_version} was stored"
                )


def agreement_ui(
    session: EditSession, rec: ImageRecord, view: ImageView, reader: str, in_viewer: bool = False
) -> None:
    box = common.opened_section(
        "Agreement with the dataset or another reader", "annotate_agreement_open"
    )
    if box is None:
        return
    with box:
        if in_viewer:
            st.caption(VIEWER_MARKS_NOTE)
        # Independent reads: another reader's marks only once this reader's are saved
        # (or never, strict); mcalc.access.reads decides, an admin sees all.
        policy = read_policy()
        read_note_ui(policy, "marks")
        others = [r for r in visible_readers(store().readers(rec.key), policy) if r != reader]
        c1, c2, c3 = st.columns([2, 1, 2])
        against = c1.selectbox(
            "Compare with",
            ["dataset annotation", *others],
            key="annotate_against",
            persist_state="session",
        )
        tol = c2.number_input(
            "Match distance (mm)",
            0.1,
            10.0,
            1.0,
            0.1,
            key="annotate_tolerance",
            persist_state="session",
        )
        labels = c3.multiselect(
            "Your labels counted",
            LABELS,
            default=list(LABELS),
            key="annotate_agree_labels",
            persist_state="session",
        )
        regions: RegionAgreement | None = None
        try:
            if against == "dataset annotation":
                if not rec.annotation_path:
                    st.info("This image has no dataset annotation: compare with another reader.")
                    return
                cache = common.get_image_cache()
                _, summary, notes = annotation_for(cache, rec, view.full_shape, view.spacing_mm)
                for note in notes:
                    st.caption(note)
                if summary is not None and summary.n_regions:
                    regions = compare_with_regions(
                        session.marks,
                        summary,
                        tolerance_mm=tol,
                        spacing_mm=view.spacing_mm,
                        labels=labels,
                    )
                else:
                    result = compare_with_dataset(
                        session.marks,
                        summary,
                        tolerance_mm=tol,
                        spacing_mm=view.spacing_mm,
                        labels=labels,
                    )
            else:
                other = store().load(rec.key, against).marks
                result = compare_readers(
                    other,
                    session.marks,
                    tolerance_mm=tol,
                    spacing_mm=view.spacing_mm,
                    labels=labels,
                )
        except (StoreError, ImageReadError, ValueError) as exc:
            st.error(f"Cannot compare: {exc}")
            return
        if regions is not None:
            region_agreement_ui(regions, view)
            return
        s = result.summary()
        m = st.columns(6)
        m[0].metric(f"{result.reference_name}", s["n_reference"])
        m[1].metric(f"{result.test_name}", s["n_test"])
        m[2].metric("Matched", s["matched"])
        for col, name in zip(m[3:], ("precision", "recall", "f1"), strict=True):
            value = s[name]
            col.metric(
                name.capitalize() if name != "f1" else "F1",
                "n/a" if value is None else f"{value:.2f}",
            )
        st.caption(
            f"Precision: share of {result.test_name}'s marks that match; recall: share of "
            f"{result.reference_name}'s that were found; matched one-to-one within {tol:g} mm."
        )
        unmatched_ui(unmatched_table(result), view)


def region_agreement_ui(result: RegionAgreement, view: ImageView) -> None:
    """A reader's marks against a region annotation: counted inside its regions, not
    matched one-to-one (there is no calcification of the dataset's to match)."""
    s = result.summary()
    n, who = s["n_regions"], result.test_name
    st.markdown(
        f"**The dataset's annotation of this image is {n} region{'' if n == 1 else 's'}** "
        "(an area that holds calcifications, not each calcification): your marks are "
        "counted inside the regions, not matched one by one."
    )
    m = st.columns(5)
    m[0].metric("dataset regions", n)
    m[1].metric(f"{who}", s["n_test"])
    m[2].metric("Inside a region", s["inside"])
    for col, name, title in (
        (m[3], "share_inside", "Share inside"),
        (m[4], "share_found", "Regions found"),
    ):
        value = s[name]
        col.metric(title, "n/a" if value is None else f"{value:.2f}")
    st.caption(
        f"A mark counts as inside a region when it lies in it or within {result.tolerance_mm:g} "
        f"mm of its border (the match distance); share inside: share of {who}'s marks inside a "
        "region (a region-level precision); regions found: share of the regions holding at "
        f"least one of {who}'s marks (a region-level recall). Point precision, recall and F1 "
        "do not apply."
    )
    unmatched_ui(
        region_table(result),
        view,
        title="Marks outside the regions and regions without a mark",
        distance="distance (mm): mark to region border, region to nearest mark",
        empty="Every mark is inside a region and every region holds a mark.",
    )


def unmatched_ui(
    rows: list[dict[str, Any]],
    view: ImageView,
    *,
    title: str = "Unmatched marks",
    distance: str = "nearest other mark (mm)",
    empty: str = "No unmatched marks.",
) -> None:
    """The marks without a match (``title``; ``distance``: the heading of their distance
    column); picking one zooms there and rings it."""
    if not rows:
        st.caption(empty)
        return
    frame = pd.DataFrame(rows)
    st.markdown(f"**{title}** (click a row to zoom there)")
    event = common.dataframe(
        frame[["side", "row", "col", "nearest_other_mm"]],
        hide_index=True,
        column_config={
            **common.full_res_columns("the mark's"),
            "nearest_other_mm": st.column_config.NumberColumn(distance),
        },
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key="annotate_unmatched",
    )
    picked = list(event.selection.rows) if event is not None else []
    last = st.session_state.get("annotate_unmatched_last")
    st.session_state["annotate_unmatched_last"] = picked
    if picked and picked != last:
        r, c = frame["row"].iloc[picked[0]], frame["col"].iloc[picked[0]]
        dr, dc = view.to_display(float(r), float(c))
        st.session_state.setdefault(ZOOM, {})[view.key] = zoom_box(view, dr, dc)
        st.session_state[HIGHLIGHT] = {view.key: [(dr, dc)]}
        st.rerun()
