"""Annotate: a reader's own calcification marks, their history, agreement, export and import.

Widgets in, :mod:`mcalc` calls, drawing out. The working copy of the marks lives in the
session until saved, so a refused save (conflict, read-only or full store) loses nothing.
A click on the figure (or a ``(row, col)`` put in ``annotate_pending_click`` by a test)
goes through :func:`handle_click`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.present.marking import (
    READER_TRACE,
    LazyShapes,
    annotate_figure,
    breast_region,
    check_click,
    grid_step,
    nearest_mark,
    snap_to_peak,
    to_display,
    to_file,
    zoom_box,
)
from mcalc.store import (
    LABELS,
    ImageMarks,
    MarkStore,
    StoreConflictError,
    StoreError,
    StoreReadError,
    StoreWriteError,
    merge_marks,
)
from mcalc.store.exchange import (
    ExportError,
    apply_import,
    coco_json,
    masks_zip,
    parse_coco,
    parse_mask_png,
    parse_points_csv,
    points_csv,
)
from mcalc.store.reader_agreement import compare_readers, compare_with_dataset, unmatched_table
from mcalc.viewer import DisplayOptions, ImageView, annotation_for, crop_view, prepare_view
from pages import common
from pages.readers import reader_ui
from pages.state import BROWSE_CASE_KEY

common.frame()

WORK = "annotate_work"
PENDING = "annotate_pending_click"
FIG_N = "annotate_fig_n"
ZOOM = "annotate_zoom"
SELECTED = "annotate_selected"
FLASH = "annotate_flash"
HIGHLIGHT = "annotate_highlight"
TOOLS = {
    "add": "Add calcification (click)",
    "edit": "Select / move (click)",
    "region": "Draw cluster / ROI (box or lasso)",
    "zoom": "Zoom to box (full resolution)",
}
_UNDO_DEPTH = 100


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


# --------------------------------------------------------------------------- working copy


def _load(key: str, reader: str, shape: tuple[int, int]) -> dict[str, Any]:
    state = store().load(key, reader)
    marks = state.marks if state.marks.image_shape else _with_shape(state.marks, shape)
    return {"marks": marks, "saved": marks, "base": state.version, "undo": [], "conflict": None}


def _with_shape(marks: ImageMarks, shape: tuple[int, int]) -> ImageMarks:
    return ImageMarks(
        marks.image_key, marks.reader, marks.points, marks.regions, marks.comment, shape
    )


def get_work(key: str, reader: str, shape: tuple[int, int]) -> dict[str, Any] | None:
    """The session's working copy of this image's marks (loaded from the store once)."""
    works = st.session_state.setdefault(WORK, {})
    work = works.get((key, reader))
    try:
        if work is None:
            work = works[(key, reader)] = _load(key, reader, shape)
        elif not dirty(work) and not work["conflict"]:
            stored = store().load(key, reader).version
            if stored != work["base"]:  # saved elsewhere meanwhile: follow it
                work = works[(key, reader)] = _load(key, reader, shape)
    except StoreReadError as exc:
        st.error(f"Your stored marks for this image cannot be read: {exc}")
        return None
    return work


def dirty(work: dict[str, Any]) -> bool:
    return work["marks"] != work["saved"]


def edit(work: dict[str, Any], new: ImageMarks) -> None:
    work["undo"] = [*work["undo"], work["marks"]][-_UNDO_DEPTH:]
    work["marks"] = new


def reload(work: dict[str, Any], key: str, reader: str) -> None:
    work.update(_load(key, reader, work["marks"].image_shape))


# --------------------------------------------------------------------------- clicks


def handle_click(
    work: dict[str, Any],
    view: ImageView,
    region: np.ndarray | None,
    row: float,
    col: float,
    *,
    tool: str,
    label: str,
    hit_radius: float,
    snap: Callable[[float, float], tuple[float, float]] | None = None,
) -> None:
    """Apply one click at display ``(row, col)`` with the current tool.

    ``snap`` maps a file position to the calcification nearby (see
    :func:`mcalc.present.marking.snap_to_peak`); ``None`` places the mark where clicked.
    """
    place = snap or (lambda r, c: (r, c))
    marks: ImageMarks = work["marks"]
    hit = nearest_mark(marks, view, row, col, hit_radius)
    if tool == "edit":
        selected = st.session_state.get(SELECTED)
        if hit is not None:
            st.session_state[SELECTED] = hit
            flash("info", "Mark selected: edit it below, or click elsewhere to move it there.")
            return
        if selected is None or selected not in {p.id for p in marks.points}:
            flash("info", "Click on one of your marks to select it.")
            return
        target = check_click(view, region, row, col)
        if not target.ok:
            flash("warning", target.message)
            return
        edit(work, marks.move_point(selected, *place(*to_file(view, target.row, target.col))))
        flash("success", "Mark moved (not saved yet).")
        return
    if hit is not None:
        st.session_state[SELECTED] = hit
        flash("info", "That is one of your marks: selected it instead of adding another.")
        return
    target = check_click(view, region, row, col)
    if not target.ok:
        flash("warning", target.message)
        return
    new = marks.add_point(*place(*to_file(view, target.row, target.col)), label)
    edit(work, new)
    st.session_state[SELECTED] = new.points[-1].id
    flash("success", f"Added a {label} calcification (not saved yet).")


def _polygon_from_event(event: Any) -> list[tuple[float, float]] | None:
    sel = getattr(event, "selection", None) or {}
    lasso = sel.get("lasso") or []
    if lasso:
        xs, ys = lasso[-1].get("x", []), lasso[-1].get("y", [])
        if len(xs) >= 3:
            return [(float(y), float(x)) for x, y in zip(xs, ys, strict=False)]
    boxes = sel.get("box") or []
    if boxes:
        xs, ys = boxes[-1].get("x", []), boxes[-1].get("y", [])
        if len(xs) >= 2 and len(ys) >= 2:
            c0, c1 = sorted(float(v) for v in xs[:2])
            r0, r1 = sorted(float(v) for v in ys[:2])
            return [(r0, c0), (r0, c1), (r1, c1), (r1, c0)]
    return None


def handle_event(
    event: Any,
    names: list[str],
    work: dict[str, Any],
    view: ImageView,
    region: np.ndarray | None,
    *,
    tool: str,
    label: str,
    region_kind: str,
    hit_radius: float,
    snap: Callable[[float, float], tuple[float, float]] | None = None,
) -> bool:
    """Turn a chart selection event into an edit; returns True when something happened."""
    sel = getattr(event, "selection", None) or {}
    if tool in ("region", "zoom"):
        poly = _polygon_from_event(event)
        if poly is None:
            return False
        h, w = view.full_shape
        poly = [(min(max(r, 0.0), h - 1.0), min(max(c, 0.0), w - 1.0)) for r, c in poly]
        if tool == "zoom":
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
        try:
            new = work["marks"].add_region(
                region_kind, [to_file(view, r, c) for r, c in poly], label
            )
        except ValueError as exc:
            flash("warning", f"Cannot add that region: {exc}")
            return True
        edit(work, new)
        flash("success", f"Added a {label} {region_kind} outline (not saved yet).")
        return True
    points = sel.get("points") or []
    if not points:
        return False
    point = points[-1]
    curve = point.get("curve_number")
    name = names[curve] if isinstance(curve, int) and 0 <= curve < len(names) else None
    if name == READER_TRACE:
        idx = point.get("point_index", point.get("point_number"))
        if isinstance(idx, int) and 0 <= idx < len(work["marks"].points):
            st.session_state[SELECTED] = work["marks"].points[idx].id
            flash("info", "Mark selected: edit it below.")
            return True
    x, y = point.get("x"), point.get("y")
    if x is None or y is None:
        return False
    handle_click(
        work,
        view,
        region,
        float(y),
        float(x),
        tool=tool,
        label=label,
        hit_radius=hit_radius,
        snap=snap,
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


def marks_table_ui(work: dict[str, Any]) -> None:
    marks: ImageMarks = work["marks"]
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
        st.session_state[SELECTED] = frame["id"].iloc[picked[0]]


def selected_ui(work: dict[str, Any], view: ImageView) -> None:
    """Label, comment, zoom and delete for the selected mark."""
    sid = st.session_state.get(SELECTED)
    try:
        mark = work["marks"].find(sid) if sid else None
    except KeyError:
        mark = None
    if mark is None:
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
            edit(work, work["marks"].edit(sid, label=label, comment=comment))
            st.rerun()
        if b2.button("Delete", key="annotate_sel_delete"):
            edit(work, work["marks"].remove(sid))
            st.session_state.pop(SELECTED, None)
            flash("success", f"{kind.capitalize()} deleted (not saved yet; Undo brings it back).")
            st.rerun()
        if b3.button("Zoom here", key="annotate_sel_zoom"):
            if kind == "calcification":
                dr, dc = to_display(view, mark.row, mark.col)
            else:
                r0, c0, r1, c1 = mark.bbox
                dr, dc = to_display(view, (r0 + r1) / 2, (c0 + c1) / 2)
            st.session_state.setdefault(ZOOM, {})[view.key] = zoom_box(view, dr, dc)
            st.rerun()


def save_ui(work: dict[str, Any], key: str, reader: str) -> None:
    """Save / Undo buttons, the unsaved-changes note and conflict resolution."""
    c1, c2, c3, c4 = st.columns([1, 1, 1, 3])
    if c1.button("Save", key="annotate_save", type="primary", disabled=not dirty(work)):
        try:
            version = store().save(work["marks"], base_version=work["base"])
        except StoreConflictError as exc:
            work["conflict"] = str(exc)
        except StoreWriteError as exc:
            flash("error", f"Not saved: {exc}")
        except StoreError as exc:
            flash("error", f"Not saved: {exc}")
        else:
            work.update(base=version, saved=work["marks"], undo=[], conflict=None)
            flash("success", f"Saved as version {version}.")
        st.rerun()
    undo_local = bool(work["undo"])
    target = None if undo_local else _undo_target(key, reader)
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
        if undo_local:
            work["marks"] = work["undo"].pop()
        else:
            try:
                version = store().undo(key, reader, base_version=work["base"])
                reload(work, key, reader)
                flash("success", f"Last saved edit undone (saved as version {version}).")
            except StoreConflictError as exc:
                work["conflict"] = str(exc)
            except (StoreError, ValueError) as exc:
                flash("error", f"Cannot undo: {exc}")
        st.rerun()
    if c3.button("Discard edits", key="annotate_discard", disabled=not dirty(work)):
        edit(work, work["saved"])
        flash("info", "Back to the saved version (Undo brings your edits back).")
        st.rerun()
    state = "unsaved changes" if dirty(work) else "all saved"
    c4.caption(f"Version {work['base']} · {state}")
    if work["conflict"]:
        conflict_ui(work, key, reader)


def _undo_target(key: str, reader: str) -> int | None:
    try:
        return store().undo_target(key, reader)
    except StoreError:
        return None


def conflict_ui(work: dict[str, Any], key: str, reader: str) -> None:
    st.error(work["conflict"])
    c1, c2, c3 = st.columns(3)
    if c1.button("Load the stored version", key="annotate_conflict_load"):
        reload(work, key, reader)
        flash("info", "Loaded the stored version; your edit stays in the conflict copy.")
        st.rerun()
    if c2.button("Merge both and save", key="annotate_conflict_merge", type="primary"):
        stored = store().load(key, reader)
        merged = merge_marks(work["marks"], stored.marks)
        _save_resolved(work, merged, stored.version, "merge", key, reader)
    if c3.button("Save mine on top", key="annotate_conflict_mine"):
        stored = store().load(key, reader)
        _save_resolved(work, work["marks"], stored.version, "save", key, reader)


def _save_resolved(
    work: dict[str, Any], marks: ImageMarks, base: int, action: str, key: str, reader: str
) -> None:
    try:
        version = store().save(marks, base_version=base, action=action, note="conflict resolved")
    except StoreError as exc:
        work["conflict"] = str(exc)
    else:
        work.update(marks=marks, saved=marks, base=version, undo=[], conflict=None)
        flash("success", f"Saved as version {version}.")
    st.rerun()


def history_ui(work: dict[str, Any], key: str, reader: str) -> None:
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
            disabled=dirty(work) or pick == work["base"],
            help="Saves a new version equal to the chosen one. Save or discard your edits first.",
        ):
            try:
                version = store().restore(key, reader, int(pick), base_version=work["base"])
                reload(work, key, reader)
                flash("success", f"Version {pick} restored as version {version}.")
            except StoreConflictError as exc:
                work["conflict"] = str(exc)
            except StoreError as exc:
                flash("error", f"Cannot restore: {exc}")
            st.rerun()
        conflicts = store().conflicts(key, reader)
        if conflicts:
            st.markdown(f"**Conflict copies kept: {len(conflicts)}**")
            for copy in conflicts:
                st.caption(
                    f"{copy.path.name}: saved {copy.saved_at} by {copy.saved_by} on version "
                    f"{copy.base_version} while version {copy.stored_version} was stored"
                )


def agreement_ui(work: dict[str, Any], rec: ImageRecord, view: ImageView, reader: str) -> None:
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
                    work["marks"],
                    summary,
                    tolerance_mm=tol,
                    spacing_mm=view.spacing_mm,
                    labels=labels,
                )
            else:
                other = store().load(rec.key, against).marks
                result = compare_readers(
                    other,
                    work["marks"],
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
        rows = unmatched_table(result)
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
            dr, dc = to_display(view, float(r), float(c))
            st.session_state.setdefault(ZOOM, {})[view.key] = zoom_box(view, dr, dc)
            st.session_state[HIGHLIGHT] = {view.key: [(dr, dc)]}
            st.rerun()


def _shapes(index: DatasetIndex) -> LazyShapes:
    by_key = {r.key: r for r in index.images()}
    cache = common.get_image_cache()
    return LazyShapes(list(by_key), lambda k: cache.load(by_key[k].image_path).shape)


def exchange_ui(work: dict[str, Any], index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    with st.expander("Export and import"):
        st.markdown("**Export this image's marks** (yours, including unsaved edits)")
        marks = work["marks"]
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
        mine = [s.marks for s in store().all_current() if s.marks.reader == reader]
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
        st.markdown(
            "**Import** (checked in full first: nothing is written unless every line is valid)"
        )
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
                done = apply_import(store(), plan, mode=mode)
            except StoreError as exc:
                st.error(str(exc))
                return
            for key_, reader_, _ in done:
                w = st.session_state.get(WORK, {}).get((key_, reader_))
                if w is not None and not dirty(w):
                    reload(w, key_, reader_)
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


def unsaved_export_ui(work: dict[str, Any], reader: str) -> None:
    """When edits are unsaved, offer them as a file (the store may be unwritable)."""
    if dirty(work):
        st.download_button(
            "Download unsaved edits (JSON)",
            json.dumps(work["marks"].to_payload(), indent=1),
            file_name=f"{work['marks'].image_key.replace('/', '_')}_{reader}_unsaved.json",
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
work = get_work(rec.key, reader, view.full_shape)
if work is None:
    st.stop()

c1, c2, c3 = st.columns([3, 2, 1])
tool = c1.radio("Tool", list(TOOLS), format_func=TOOLS.get, horizontal=True, key="annotate_tool")
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
    handle_click(
        work,
        view,
        region,
        float(pending[0]),
        float(pending[1]),
        tool=tool if tool in ("add", "edit") else "add",
        label=label,
        hit_radius=hit_radius,
        snap=snap,
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
    work["marks"],
    crop=crop,
    show_dataset=show_dataset,
    other=other,
    selected=st.session_state.get(SELECTED),
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
    work,
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

save_ui(work, rec.key, reader)
unsaved_export_ui(work, reader)
selected_ui(work, view)
marks_table_ui(work)
image_comment = st.text_input(
    "Comment on the whole image",
    value=work["marks"].comment,
    key=f"annotate_image_comment_{rec.key}",
)
if image_comment != work["marks"].comment:
    edit(work, work["marks"].with_comment(image_comment))
    st.rerun()
history_ui(work, rec.key, reader)
agreement_ui(work, rec, view, reader)
exchange_ui(work, index, rec, reader)
st.page_link("pages/audit.py", label="Audit model predictions →", icon=":material/fact_check:")
