"""Annotate's export and import of marks (points CSV, COCO JSON, mask PNGs, marks JSON)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from mcalc.dataset.records import DatasetIndex, ImageRecord
from mcalc.plural import counted
from mcalc.present.words import plain, plain_lines
from mcalc.store import StoreError
from mcalc.store.exchange import (
    MAX_IMPORT_MB,
    ExportError,
    LazyShapes,
    apply_import,
    coco_json,
    import_refusal,
    marks_json_text,
    marks_seg,
    masks_zip,
    parse_json,
    parse_mask_png,
    parse_points_csv,
    points_csv,
)
from mcalc.store.marks import ImageMarks
from mcalc.store.session import EditSession
from pages import common, signin
from pages.annotate_shared import (
    VIEWER_MARKS_NOTE,
    WORK,
    flash,
    store,
)


def _shapes(index: DatasetIndex) -> LazyShapes:
    by_key = {r.key: r for r in index.images()}
    cache = common.get_image_cache()
    return LazyShapes(list(by_key), lambda k: cache.load(by_key[k].image_path).shape)


def exchange_ui(
    session: EditSession,
    index: DatasetIndex,
    rec: ImageRecord,
    reader: str,
    in_viewer: bool = False,
) -> None:
    """Export and import, drawn (and the downloads' data made) only while opened;
    ``in_viewer``: the reading viewer holds its unsaved marks, which the export leaves out."""
    box = common.opened_section("Export and import", "annotate_exchange_open")
    if box is None:
        return
    with box:
        export_ui(session, index, rec, reader)
        if in_viewer:
            st.caption(VIEWER_MARKS_NOTE)
        import_ui(index, rec, reader)


def export_ui(session: EditSession, index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    """Downloads of this image's marks (unsaved edits included) and of all the reader's."""
    st.markdown("**Export this image's marks** (yours, saved and unsaved on this page)")
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
        lambda: marks_json_text([marks]),
        f"{stem}_{reader}_marks.json",
        "application/json",
        "annotate_dl_json",
    )
    seg_col = st.columns(1)[0]
    # Built on request only: highdicom takes about half a second per image.
    if seg_col.toggle(
        "DICOM SEG (de-identified, references the source image)",
        key="annotate_seg_on",
        persist_state="session",
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
    # Every saved mark of the reader is read only when one of these is clicked (deferred
    # downloads): a rerun never reads the reader's whole store.
    st.markdown("**Export all your saved marks** (every image; read when you click)")
    shapes = _shapes(index)

    def mine() -> list[ImageMarks]:
        return [s.marks for s in store().all_current(reader=reader)]

    c = st.columns(4)
    for col, label, make, name, mime, key in (
        (
            c[0],
            "All points CSV",
            lambda: points_csv(mine()),
            f"{reader}_points.csv",
            "text/csv",
            "annotate_dl_all_csv",
        ),
        (
            c[1],
            "All COCO JSON",
            lambda: coco_json(mine(), shapes),
            f"{reader}_coco.json",
            "application/json",
            "annotate_dl_all_coco",
        ),
        (
            c[2],
            "All mask PNGs",
            lambda: masks_zip(mine(), shapes),
            f"{reader}_masks.zip",
            "application/zip",
            "annotate_dl_all_masks",
        ),
        (
            # Everything, as stored (ids, times, comments): to move or restore all of
            # one's marks; it imports back unchanged.
            c[3],
            "All marks JSON",
            lambda: marks_json_text(mine()),
            f"{reader}_marks.json",
            "application/json",
            "annotate_dl_all_json",
        ),
    ):
        col.download_button(label, make, file_name=name, mime=mime, key=key, on_click="ignore")


def import_ui(index: DatasetIndex, rec: ImageRecord, reader: str) -> None:
    """Upload, check in full, then import into the store (all or nothing)."""
    st.markdown("**Import** (checked in full first: nothing is written unless every line is valid)")
    upload = st.file_uploader(
        "Points CSV, COCO JSON, Marks JSON, or a mask PNG of this image",
        type=["csv", "json", "png"],
        key="annotate_import_file",
        max_upload_size=MAX_IMPORT_MB,  # the browser says so before sending a larger file
        help="Each download above can be imported back, except the DICOM SEG; a Marks JSON "
        "(or the unsaved edits' JSON) restores the marks exactly: ids, labels, comments and "
        "the image comment.",
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
        plan = parse_json(data, shapes, default_reader=reader, source=upload.name)
    else:
        plan = parse_mask_png(data, rec.key, shapes, reader=reader, source=upload.name)
    # The report quotes the file (keys, readers, labels): said as written, not as Markdown.
    if not plan.report.ok:
        st.error(plain_lines(plan.report.text()))
        return
    signed_in = signin.current_user()
    as_reader = signed_in["name"] if signed_in else None
    # Part of the check (it said "no problem found", then refused at Import).
    refusal = import_refusal(plan, as_reader)
    if refusal is not None:
        st.error(f"{plain(upload.name)}: {plain(refusal)}. Nothing was imported.")
        return
    st.success(plain_lines(plan.report.text()))
    if st.button("Import", key="annotate_import", type="primary"):
        try:
            done = apply_import(store(), plan, mode=mode, as_reader=as_reader, by=reader)
        except StoreError as exc:
            st.error(str(exc))
            return
        for key_, reader_, _ in done:
            other_session = st.session_state.get(WORK, {}).get((key_, reader_))
            if other_session is not None and not other_session.dirty:
                other_session.reload()
        if done:
            # Which images: a file may hold marks of other images than the one shown.
            where = "; ".join(f"{k} ({plain(r)}, version {v})" for k, r, v in done[:5])
            more = f"; and {len(done) - 5} more" if len(done) > 5 else ""
            flash("success", f"Imported into {counted(len(done), 'record')}: {where}{more}.")
        else:
            flash(
                "info",
                f"Nothing to import: the store already holds every mark of {plain(upload.name)}.",
            )
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
