"""Export of readers' marks and audits: points CSV, COCO JSON, mask PNGs, audit CSV.

* :func:`points_csv` - one row per point mark (``image_key, reader, point_id, row, col,
  label, comment, created_at``), coordinates in full-resolution file pixels.
* :func:`coco_dict` - COCO JSON (Lin et al., *Microsoft COCO*, ECCV 2014): each point is a
  one-keypoint annotation with a small box (category ``calcification``), each cluster or
  ROI a polygon ``segmentation`` with its box (categories ``cluster``/``roi``). COCO
  coordinates count from the pixel's corner, so ``x = col + 0.5`` and ``y = row + 0.5``.
  Labels, comments, readers and ids ride in each annotation's ``attributes``.
* :func:`marks_json_text` - the marks as stored (:meth:`ImageMarks.to_payload`): one image's
  object, or a list for several; the one export that keeps everything (ids, times, the
  image comment) and imports back unchanged.
* :func:`marks_mask` / :func:`mask_png` / :func:`masks_zip` - masks aligned to the image
  (same rows and columns, file orientation): points drawn as discs, regions filled.
* :func:`audit_csv` - the audit table of a model.

Example:
    >>> from mcalc.store import ImageMarks
    >>> m = ImageMarks("c-1/CC_recent", "ann").add_point(5, 6, "benign", mark_id="p1")
    >>> print(points_csv([m]).splitlines()[1])  # doctest: +ELLIPSIS
    c-1/CC_recent,ann,p1,5.0,6.0,benign,,...
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Mapping
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mcalc.errors import McalcError
from mcalc.spreadsheet import BOM, csv_text, escape_cell
from mcalc.store.marks import ImageMarks, PointMark, RegionMark
from mcalc.store.record import safe_name, utc_now

__all__ = [
    "CSV_COLUMNS",
    "COCO_CATEGORIES",
    "ExportError",
    "points_csv",
    "coco_dict",
    "coco_json",
    "marks_json_text",
    "marks_mask",
    "mask_png",
    "masks_zip",
    "audit_csv",
    "region_calls_csv",
]

CSV_COLUMNS: tuple[str, ...] = (
    "image_key",
    "reader",
    "point_id",
    "row",
    "col",
    "label",
    "comment",
    "created_at",
)
COCO_CATEGORIES: tuple[dict[str, Any], ...] = (
    {
        "id": 1,
        "name": "calcification",
        "supercategory": "mark",
        "keypoints": ["center"],
        "skeleton": [],
    },
    {"id": 2, "name": "cluster", "supercategory": "mark"},
    {"id": 3, "name": "roi", "supercategory": "mark"},
)


class ExportError(McalcError):
    """Nothing to export (no marks), or the marks cannot be exported as asked."""


def _nonempty(marks: Iterable[ImageMarks], what: str) -> list[ImageMarks]:
    items = [m for m in marks if not m.is_empty]
    if not items:
        raise ExportError(f"no marks to export as {what}: add marks first (or pick another image)")
    return items


def points_csv(marks: Iterable[ImageMarks]) -> str:
    """CSV text of every point mark (columns :data:`CSV_COLUMNS`).

    Raises:
        ExportError: there is no point mark at all.
    """
    items = [m for m in marks if m.points]
    if not items:
        raise ExportError(
            "no calcification points to export: add points first (or pick another image)"
        )
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in items:
        for p in m.points:
            writer.writerow(
                [
                    escape_cell(m.image_key),
                    escape_cell(m.reader),
                    escape_cell(p.id),
                    round(p.row, 2),
                    round(p.col, 2),
                    p.label,
                    escape_cell(p.comment),  # free text: '=...' must not run in Excel
                    escape_cell(p.created_at),
                ]
            )
    return BOM + buf.getvalue()  # Excel reads UTF-8 by it (mcalc.spreadsheet)


def _shape(m: ImageMarks, shapes: Mapping[str, tuple[int, int]] | None) -> tuple[int, int]:
    shape = (shapes or {}).get(m.image_key) or m.image_shape
    if shape is None:
        raise ExportError(
            f"{m.image_key}: image size unknown; open the image once or pass its shape"
        )
    return int(shape[0]), int(shape[1])


def coco_dict(
    marks: Iterable[ImageMarks],
    shapes: Mapping[str, tuple[int, int]] | None = None,
    *,
    point_box_px: float = 6.0,
) -> dict[str, Any]:
    """COCO detection/keypoint dict of the marks (see the module docstring).

    Args:
        marks: marks of one or more images and readers.
        shapes: ``(rows, cols)`` per image key when the marks do not carry it.
        point_box_px: side of the small box written around each point.

    Raises:
        ExportError: nothing to export, or an image size is unknown.
    """
    items = _nonempty(marks, "COCO JSON")
    images: dict[str, dict[str, Any]] = {}
    anns: list[dict[str, Any]] = []
    half = point_box_px / 2.0
    for m in items:
        if m.image_key not in images:
            rows, cols = _shape(m, shapes)
            images[m.image_key] = {
                "id": len(images) + 1,
                "file_name": m.image_key,
                "mcalc_key": m.image_key,
                "height": rows,
                "width": cols,
            }
        image_id = images[m.image_key]["id"]
        for p in m.points:
            x, y = p.col + 0.5, p.row + 0.5
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [round(x, 2), round(y, 2), 2],
                    "num_keypoints": 1,
                    "bbox": [round(x - half, 2), round(y - half, 2), point_box_px, point_box_px],
                    "area": point_box_px**2,
                    "iscrowd": 0,
                    "attributes": _attributes(m, p),
                }
            )
        for r in m.regions:
            xy = [v for row, col in r.polygon for v in (round(col + 0.5, 2), round(row + 0.5, 2))]
            r0, c0, r1, c1 = r.bbox
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 2 if r.kind == "cluster" else 3,
                    "segmentation": [xy],
                    "bbox": [
                        round(c0 + 0.5, 2),
                        round(r0 + 0.5, 2),
                        round(c1 - c0, 2),
                        round(r1 - r0, 2),
                    ],
                    "area": round(r.area_px, 2),
                    "iscrowd": 0,
                    "attributes": _attributes(m, r),
                }
            )
    return {
        "info": {"description": "mcalc readers' marks", "date_created": utc_now(), "version": "1"},
        "images": list(images.values()),
        "annotations": anns,
        "categories": [dict(c) for c in COCO_CATEGORIES],
    }


def _attributes(m: ImageMarks, mark: PointMark | RegionMark) -> dict[str, Any]:
    return {
        "mark_id": mark.id,
        "label": mark.label,
        "comment": mark.comment,
        "reader": m.reader,
        "created_at": mark.created_at,
    }


def coco_json(
    marks: Iterable[ImageMarks], shapes: Mapping[str, tuple[int, int]] | None = None
) -> str:
    """:func:`coco_dict` as JSON text."""
    return json.dumps(coco_dict(marks, shapes), indent=1, ensure_ascii=False)


def marks_json_text(marks: Iterable[ImageMarks]) -> str:
    """Marks JSON: one image's marks as the object of :meth:`ImageMarks.to_payload`,
    several images' as a list of them (read back by
    :func:`~mcalc.store.exchange.parse_marks_json`).

    Raises:
        ExportError: there is no mark nor image comment at all.

    Example:
        >>> from mcalc.store import ImageMarks
        >>> m = ImageMarks("c-1/CC_recent", "ann").add_point(5, 6, mark_id="p1")
        >>> json.loads(marks_json_text([m]))["points"][0]["id"]
        'p1'
    """
    items = _nonempty(marks, "marks JSON")
    doc = items[0].to_payload() if len(items) == 1 else [m.to_payload() for m in items]
    return json.dumps(doc, indent=1, ensure_ascii=False)


def marks_mask(
    marks: ImageMarks,
    shape: tuple[int, int] | None = None,
    *,
    point_radius_px: int = 3,
    points: bool = True,
    regions: bool = True,
) -> np.ndarray:
    """A bool mask of the marks on the image's grid (file orientation).

    Args:
        marks: one reader's marks on one image.
        shape: ``(rows, cols)``; default ``marks.image_shape``.
        point_radius_px: radius of the disc drawn at each point.
        points, regions: which marks to draw.
    """
    rows, cols = shape or _shape(marks, None)
    canvas = np.zeros((rows, cols), np.uint8)
    if regions:
        for r in marks.regions:
            poly = np.round([[c, row] for row, c in r.polygon]).astype(np.int32)
            cv2.fillPoly(canvas, [poly], 1)
    if points:
        for p in marks.points:
            cv2.circle(canvas, (round(p.col), round(p.row)), max(int(point_radius_px), 0), 1, -1)
    return canvas.astype(bool)


def mask_png(mask: np.ndarray) -> bytes:
    """A lossless 8-bit PNG of a mask (0 and 255)."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {arr.shape}")
    ok, buf = cv2.imencode(".png", np.where(arr != 0, 255, 0).astype(np.uint8))
    if not ok:  # pragma: no cover - OpenCV cannot fail on a 2-D uint8 array
        raise ExportError("PNG encoding failed")
    return buf.tobytes()


def masks_zip(
    marks: Iterable[ImageMarks],
    shapes: Mapping[str, tuple[int, int]] | None = None,
    *,
    point_radius_px: int = 3,
) -> bytes:
    """A ZIP of two mask PNGs per image and reader (``*_points.png``, ``*_regions.png``)
    plus ``index.csv`` naming the image key, reader and size of each file.

    Raises:
        ExportError: nothing to export, or an image size is unknown.
    """
    items = _nonempty(marks, "mask PNGs")
    buf = io.BytesIO()
    index = io.StringIO()
    w = csv.writer(index, lineterminator="\n")
    w.writerow(["file", "image_key", "reader", "kind", "rows", "cols"])
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for m in items:
            shape = _shape(m, shapes)
            stem = f"{safe_name(m.image_key)}__{safe_name(m.reader)}"
            for kind, kw in (("points", {"regions": False}), ("regions", {"points": False})):
                mask = marks_mask(m, shape, point_radius_px=point_radius_px, **kw)
                zf.writestr(f"{stem}_{kind}.png", mask_png(mask))
                w.writerow(
                    [
                        f"{stem}_{kind}.png",
                        escape_cell(m.image_key),
                        escape_cell(m.reader),
                        kind,
                        *shape,
                    ]
                )
        zf.writestr("index.csv", BOM + index.getvalue())
    return buf.getvalue()


def _readers_csv(table: pd.DataFrame | None, what: str) -> str:
    """``table`` as CSV text (:func:`mcalc.spreadsheet.csv_text`: a byte-order mark, its
    cells escaped: readers' comments and names starting '=' must not run in the spreadsheet
    that opens it).

    Raises:
        ExportError: the table is empty (``what``: what it would have held).
    """
    if table is None or table.empty:
        raise ExportError(f"no {what} to export for this model yet")
    return csv_text(table)


def region_calls_csv(table: pd.DataFrame) -> str:
    """The readers' region calls (:func:`mcalc.store.region_calls.calls_table`) as CSV text.

    Raises:
        ExportError: no region was called.
    """
    return _readers_csv(table, "region calls")


def audit_csv(table: pd.DataFrame) -> str:
    """The audit table (:attr:`mcalc.store.audit.AuditSummary.table`) as CSV text.

    Raises:
        ExportError: the table is empty.
    """
    return _readers_csv(table, "audit verdicts")
