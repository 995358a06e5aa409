"""Annotate: a reader's own calcification marks, their history, agreement, export and import.

Widgets in, :mod:`mcalc` calls, drawing out. The editing itself is an
:class:`mcalc.store.session.EditSession` per image and reader, kept in the session under
``annotate_work``; it holds the working copy until saved, so a refused save (conflict,
read-only or full store) loses nothing. A click on the figure (or a ``(row, col)`` put in
``annotate_pending_click`` by a test) goes through :meth:`EditSession.click`.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.marking import annotate_figure, chart_point, chart_polygon, grid_step, zoom_box
from mcalc.present.reading import marks_from_panel, panel_label, reading_panel
from mcalc.store import LABELS, MarkStore, PointMark, StoreError, StoreReadError
from mcalc.store.exchange import (
    ExportError,
    LazyShapes,
    apply_import,
    coco_json,
    marks_seg,
    masks_zip,
    parse_coco,
    parse_mask_png,
    parse_points_csv,
    points_csv,
)
from mcalc.store.placement import breast_region, snap_to_peak
from mcalc.store.reader_agreement import compare_readers, compare_with_dataset, unmatched_table
from mcalc.store.session import EditSession, Feedback, SaveResult, Snap
from mcalc.viewer import DisplayOptions, ImageView, annotation_for, crop_view, prepare_view
from pages import common, viewer_component
from pages.readers import reader_ui
from pages.state import BROWSE_CASE_KEY

common.frame()

WORK = "annotate_work"
PENDING = "annotate_pending_click"
FIG_N = "annotate_fig_n"
ZOOM = "annotate_zoom"
FLASH = "annotate_flash"
HIGHLIGHT = "annotate_highlight"
TOOLS = {
    "add": "Add calcification (click)",
    "edit": "Select / move (click)",
    "region": "Draw cluster / ROI (box or lasso)",
    "zoom": "Zoom to box (full resolution)",
}


# --------------------------------------------------------------------------- cached work


@st.cache_data(show_spinner=False, max_entries=32)
def cached_view(rec: ImageRecord, opts: DisplayOptions, max_side: int) -> ImageView:
    return prepare_view(common.get_image_cache(), rec, opts, max_side=max_side)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_region(rec: ImageRecord, opts: DisplayOptions, max_side: int) -> np.ndarray:
    return breast_region(cached_view(rec, opts, max_side))


def store() -> MarkStore:
    return MarkStore(common.settings().store_dir)


def flash(kind: str, text: str) -> None:
    """A message shown on the next run (after ``st.rerun``)."""
    st.session_state[FLASH] = (kind, text)


def show_flash() -> None:
    kind, text = st.session_state.pop(FLASH, (None, None))
    if kind:
        getattr(st, kind)(text)


def tell(outcome: Feedback | SaveResult) -> None:
    """Flash what an edit or a write did (a conflict is drawn by :func:`conflict_ui`)."""
    if isinstance(outcome, Feedback):
        flash(outcome.kind, outcome.text)
    elif outcome.status != "conflict":
        flash(outcome.kind, outcome.message)


# --------------------------------------------------------------------------- the session


def get_session(key: str, reader: str, shape: tuple[int, int]) -> EditSession | None:
    """This image's editing session (opened from the store once, then following it)."""
    sessions: dict[tuple[str, str], EditSession] = st.session_state.setdefault(WORK, {})
    session = sessions.get((key, reader))
    marks = store()
    try:
        if session is None or session.store.root != marks.root:
            session = sessions[(key, reader)] = EditSession.open(marks, key, reader, shape)
        else:
            session.follow_store()  # saved elsewhere meanwhile: follow it
    except StoreReadError as exc:
        st.error(f"Your stored marks for this image cannot be read: {exc}")
        return None
    return session


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
    click_tool = "edit" if tool == "edit" else "add"
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


# --------------------------------------------------------------------------- widgets


def image_ui(index: DatasetIndex) -> ImageRecord:
    """Case, view and timepoint pickers; stops the page if the case lacks that image."""
    ids = [c.case_id for c in index.cases]
    if st.session_state.get("annotate_case") not in ids:
        browse = st.session_state.get(BROWSE_CASE_KEY)
        st.session_state["annotate_case"] = browse if browse in ids else ids[0]
    c1, c2, c3 = st.columns([3, 1, 1])
    case_id = c1.selectbox("Case", ids, key="annotate_case")
    view = c2.selectbox("View", VIEWS, key="annotate_view")
    tp = c3.selectbox("Exam", TIMEPOINTS, index=len(TIMEPOINTS) - 1, key="annotate_timepoint")
    rec = index.case(case_id).image(view, tp)
    if rec is None:
        st.warning(f"Case {case_id} has no {view} {tp} image. Pick another view or exam.")
        st.stop()
    return rec  # type: ignore[return-value]


def display_ui() -> tuple[DisplayOptions, bool]:
    with st.sidebar:
        st.markdown("### Display")
        window = common.window_controls("annotate")
        st.markdown("### Dataset's marks")
        show = st.toggle(
            "Show the dataset's own marks (cyan)", value=True, key="annotate_show_dataset"
        )
        overlay = st.toggle("Red overlay of the annotation", key="annotate_overlay")
    opts = DisplayOptions(
        **window,  # type: ignore[arg-type]
        show_annotations=overlay,
    )
    return opts, show


def marks_table_ui(session: EditSession) -> None:
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
        f"**Your marks: {len(marks.points)} calcification(s), {len(marks.regions)} region(s)**"
    )
    if not rows:
        st.caption("No marks yet: choose *Add calcification* and click on a calcification.")
        return
    frame = pd.DataFrame(rows)
    event = st.dataframe(
        frame,
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        key=f"annotate_marks_table_{st.session_state.get(FIG_N, 0)}",
        column_config={"id": None},
    )
    picked = list(event.selection.rows) if event is not None else []
    if picked:
        session.select(str(frame["id"].iloc[picked[0]]))


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
        st.markdown(f"**Selected {kind}** · {mark.label} · by {mark.reader}")
        c1, c2 = st.columns([1, 3])
        label = c1.selectbox(
            "Label", LABELS, index=LABELS.index(mark.label), key=f"annotate_sel_label_{sid}"
        )
        comment = c2.text_input("Comment", value=mark.comment, key=f"annotate_sel_comment_{sid}")
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
                r0, c0, r1, c1 = mark.bbox
                dr, dc = view.to_display((r0 + r1) / 2, (c0 + c1) / 2)
            st.session_state.setdefault(ZOOM, {})[view.key] = zoom_box(view, dr, dc)
            st.rerun()


def save_ui(session: EditSession) -> None:
    """Save / Undo buttons, the unsaved-changes note and conflict resolution."""
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
        "the newest added or changed mark.",
    ):
        result = session.undo()
        if result.status != "local":  # an unsaved edit undone shows itself
            tell(result)
        st.rerun()
    if c3.button("Discard edits", key="annotate_discard", disabled=not session.dirty):
        session.discard()
        flash("info", "Back to the saved version (Undo brings your edits back).")
        st.rerun()
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
    with st.expander("Version history and restore"):
        try:
            history = store().history(key, reader)
        except StoreError as exc:
            st.error(str(exc))
            return
        if not history:
            st.caption("Nothing saved yet for this image.")
            return
        st.dataframe(
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
            help="Saves a new version equal to the chosen one. Save or discard your edits first.",
        ):
            tell(session.restore(int(pick)))
            st.rerun()
        conflicts = store().conflicts(key, reader)
        if conflicts:
            st.markdown(f"**Conflict copies kept: {len(conflicts)}**")
            for copy in conflicts:
                st.caption(
                    f"{copy.path.name}: saved {copy.saved_at} by {copy.saved_by} on version "
                    f"{copy.base_version} while version {copy.stored_version} was stored"
                )


def agreement_ui(session: EditSession, rec: ImageRecord, view: ImageView, reader: str) -> None:
    with st.expander("Agreement with the dataset or another reader", expanded=False):
        others = [r for r in store().readers(rec.key) if r != reader]
        c1, c2, c3 = st.columns([2, 1, 2])
        against = c1.selectbox(
            "Compare with",
            ["dataset annotation", *others],
            key="annotate_against",
        )
        tol = c2.number_input("Match distance (mm)", 0.1, 10.0, 1.0, 0.1, key="annotate_tolerance")
        labels = c3.multiselect(
            "Your labels counted", LABELS, default=list(LABELS), key="annotate_agree_labels"
        )
        try:
            if against == "dataset annotation":
                if not rec.annotation_path:
                    st.info("This image has no dataset annotation: compare with another reader.")
                    return
                cache = common.get_image_cache()
                _, summary, notes = annotation_for(cache, rec, view.full_shape, view.spacing_mm)
                for note in notes:
                    st.caption(note)
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


def unmatched_ui(rows: list[dict[str, Any]], view: ImageView) -> None:
    """The marks without a match; picking one zooms there and rings it."""
    if not rows:
        st.caption("No unmatched marks.")
        return
    frame = pd.DataFrame(rows)
    st.markdown("**Unmatched marks** (click a row to zoom there)")
    event = st.dataframe(
        frame[["side", "row", "col", "nearest_other_mm"]],
        hide_index=True,
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


def _shapes(index: DatasetIndex) -> LazyShapes:
    by_key = {r.key: r for r in index.images()}
    cache = common.get_image_cache()
    return LazyShapes(list(by_key), lambda k: cache.load(by_key[k].image_path).shape)


def exchange_ui(session: EditSession, index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    with st.expander("Export and import"):
        export_ui(session, index, rec, reader)
        import_ui(index, rec, reader)


def export_ui(session: EditSession, index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    """Downloads of this image's marks (unsaved edits included) and of all the reader's."""
    st.markdown("**Export this image's marks** (yours, including unsaved edits)")
    marks = session.marks
    stem = rec.key.replace("/", "_")
    cols = st.columns(4)
    _download(
        cols[0],
        "Points CSV",
        lambda: points_csv([marks]),
        f"{stem}_{reader}.csv",
        "text/csv",
        "annotate_dl_csv",
    )
    _download(
        cols[1],
        "COCO JSON",
        lambda: coco_json([marks]),
        f"{stem}_{reader}_coco.json",
        "application/json",
        "annotate_dl_coco",
    )
    _download(
        cols[2],
        "Mask PNGs (zip)",
        lambda: masks_zip([marks]),
        f"{stem}_{reader}_masks.zip",
        "application/zip",
        "annotate_dl_masks",
    )
    _download(
        cols[3],
        "Marks JSON",
        lambda: json.dumps(marks.to_payload(), indent=1),
        f"{stem}_{reader}_marks.json",
        "application/json",
        "annotate_dl_json",
    )
    seg_col = st.columns(1)[0]
    # Built on request only: highdicom takes about half a second per image.
    if seg_col.toggle(
        "DICOM SEG (de-identified, references the source image)",
        key="annotate_seg_on",
        help="A DICOM Segmentation of these marks that a PACS or viewer shows beside the "
        "image; patient identifiers are removed (PS3.15 Annex E basic profile).",
    ):
        _download(
            seg_col,
            "DICOM SEG",
            lambda: marks_seg(marks, rec.image_path),
            f"{stem}_{reader}_seg.dcm",
            "application/dicom",
            "annotate_dl_seg",
        )
    mine = [s.marks for s in store().all_current(reader=reader)]
    if mine:
        st.markdown(f"**Export all your saved marks** ({len(mine)} image(s))")
        shapes = _shapes(index)
        c = st.columns(3)
        _download(
            c[0],
            "All points CSV",
            lambda: points_csv(mine),
            f"{reader}_points.csv",
            "text/csv",
            "annotate_dl_all_csv",
        )
        _download(
            c[1],
            "All COCO JSON",
            lambda: coco_json(mine, shapes),
            f"{reader}_coco.json",
            "application/json",
            "annotate_dl_all_coco",
        )
        _download(
            c[2],
            "All mask PNGs",
            lambda: masks_zip(mine, shapes),
            f"{reader}_masks.zip",
            "application/zip",
            "annotate_dl_all_masks",
        )


def import_ui(index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    """Upload, check in full, then import into the store (all or nothing)."""
    st.markdown("**Import** (checked in full first: nothing is written unless every line is valid)")
    upload = st.file_uploader(
        "Points CSV, COCO JSON, or a mask PNG of this image",
        type=["csv", "json", "png"],
        key="annotate_import_file",
    )
    if upload is None:
        return
    mode = st.radio(
        "Imported marks",
        ["add", "replace"],
        horizontal=True,
        key="annotate_import_mode",
        format_func=lambda m: {
            "add": "add to the stored ones",
            "replace": "replace them (history keeps the old)",
        }[m],
    )
    data = upload.getvalue()
    name = upload.name.lower()
    shapes = _shapes(index)
    if name.endswith(".csv"):
        plan = parse_points_csv(data, shapes, default_reader=reader, source=upload.name)
    elif name.endswith(".json"):
        plan = parse_coco(data, shapes, default_reader=reader, source=upload.name)
    else:
        plan = parse_mask_png(data, rec.key, shapes, reader=reader, source=upload.name)
    if not plan.report.ok:
        st.error(plan.report.text())
        return
    st.success(plan.report.text())
    if st.button("Import", key="annotate_import", type="primary"):
        try:
            signed_in = common.current_user()
            done = apply_import(
                store(), plan, mode=mode, as_reader=signed_in["name"] if signed_in else None
            )
        except StoreError as exc:
            st.error(str(exc))
            return
        for key_, reader_, _ in done:
            other_session = st.session_state.get(WORK, {}).get((key_, reader_))
            if other_session is not None and not other_session.dirty:
                other_session.reload()
        flash("success", f"Imported into {len(done)} record(s).")
        st.rerun()


def _download(col: Any, label: str, make: Any, name: str, mime: str, key: str) -> None:
    try:
        data = make()
    except ExportError as exc:
        col.caption(f"{label}: {exc}")
        return
    # on_click="ignore": a download must not rerun the page (that closed the expanders).
    col.download_button(label, data, file_name=name, mime=mime, key=key, on_click="ignore")


def unsaved_export_ui(session: EditSession, reader: str) -> None:
    """When edits are unsaved, offer them as a file (the store may be unwritable)."""
    if session.dirty:
        st.download_button(
            "Download unsaved edits (JSON)",
            json.dumps(session.marks.to_payload(), indent=1),
            file_name=f"{session.image_key.replace('/', '_')}_{reader}_unsaved.json",
            mime="application/json",
            key="annotate_dl_unsaved",
            on_click="ignore",
            help="Keeps your edit safe if the store cannot be written (read-only or full).",
        )


# --------------------------------------------------------------------------- page

index = common.require_index()
st.title("Annotate")
common.synthetic_banner(index)
reader = reader_ui("annotate")
if reader is None:
    st.stop()

rec = image_ui(index)
opts, show_dataset = display_ui()
max_side = common.settings().preview_max_side
try:
    view = cached_view(rec, opts, max_side)
except ImageReadError as exc:
    st.error(f"{rec.key}: {exc}")
    st.stop()
region = cached_region(rec, opts, max_side)
session = get_session(rec.key, reader, view.full_shape)
if session is None:
    st.stop()

VIEWER_KEY = "annotate_viewer"


def browser_marking_ui(rec: ImageRecord, view: ImageView, session: EditSession) -> None:
    """The reading viewer: the image (editable) beside its other exam; marks are placed,
    moved, relabelled and deleted in the browser and reach the store on Save only."""
    cache = common.get_image_cache()
    case = index.case(rec.case_id)
    panels = []
    for tp in TIMEPOINTS:
        other = case.image(rec.view, tp)
        if other is None:
            continue
        try:
            v = view if other.key == rec.key else cached_view(other, opts, max_side)
        except ImageReadError as exc:
            st.warning(f"{other.key}: {exc}")
            continue
        panels.append(
            reading_panel(
                cache,
                other,
                v,
                label=panel_label(case, rec.view, tp)
                + (" · marking" if other.key == rec.key else ""),
                view_name=rec.view,
                time=tp,
                max_side=max_side,
                marks=session.marks if other.key == rec.key else None,
            )
        )
    versions = st.session_state.setdefault("annotate_viewer_versions", {})
    version = versions.get(rec.key, 0)
    event = viewer_component.reading_viewer(
        panels,
        case_key=f"{rec.key}|{session.reader}",
        key=VIEWER_KEY,
        height=560,
        editable=rec.key,
        marks_version=hash((version, session.base, session.marks.points)) & 0x7FFFFFFF,
    )
    event = viewer_component.new_event(event, VIEWER_KEY)
    if event and event.get("type") == "save":
        try:
            changed = session.set_points(marks_from_panel(view, event.get("marks") or []))
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
        "Unsaved browser marks are lost when you leave the image."
    )


use_viewer = viewer_component.available() and st.toggle(
    "Mark in the reading viewer (instant, saved on Save)",
    value=True,
    key="annotate_use_viewer",
    help="Off: the classic marking figure (each click is sent to the server).",
)
if use_viewer:
    browser_marking_ui(rec, view, session)
else:
    c1, c2, c3 = st.columns([3, 2, 1])
    tool = c1.radio(
        "Tool", list(TOOLS), format_func=TOOLS.get, horizontal=True, key="annotate_tool"
    )
    label = c2.radio("Label of new marks", LABELS, index=1, horizontal=True, key="annotate_label")
    region_kind = c3.radio(
        "Region",
        ["cluster", "roi"],
        horizontal=True,
        key="annotate_region_kind",
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
        help="A click lands on a grid of about 110 targets across what is shown; the mark "
        "moves to the brightest spot within that grid cell (the calcification aimed at). "
        "Zoom in to place marks to the pixel.",
    )

    def snapper(row: float, col: float) -> tuple[float, float]:
        mammo = common.get_image_cache().load(rec.image_path)
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
    modes = {"add": ("points",), "edit": ("points",), "region": ("box", "lasso"), "zoom": ("box",)}
    n = st.session_state.setdefault(FIG_N, 0)
    event = st.plotly_chart(
        fig,
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
        + ("Dataset: cyan circles and dotted cluster outlines. " if show_dataset else "")
        + ("Zoomed at full resolution." if zoom else "Scroll to zoom, drag to pan.")
    )
    st.caption(legend)
    for note in view.notes:
        st.caption(f"{rec.key}: {note}")
    if zoom and st.button("Reset zoom", key="annotate_reset_zoom"):
        st.session_state[ZOOM].pop(rec.key, None)
        st.session_state.get(HIGHLIGHT, {}).pop(rec.key, None)
        st.rerun()

save_ui(session)
unsaved_export_ui(session, reader)
selected_ui(session, view)
marks_table_ui(session)
image_comment = st.text_input(
    "Comment on the whole image",
    value=session.marks.comment,
    key=f"annotate_image_comment_{rec.key}",
)
if image_comment != session.marks.comment:
    try:
        session.set_comment(image_comment)
    except ValueError as exc:  # too long: say so here (a rerun would try again, forever)
        st.warning(f"Comment not kept: {exc}")
    else:
        st.rerun()
history_ui(session)
agreement_ui(session, rec, view, reader)
exchange_ui(session, index, rec, reader)
st.page_link("pages/audit.py", label="Audit model predictions →", icon=":material/fact_check:")
