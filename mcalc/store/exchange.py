"""Export and import of readers' marks and audits: CSV, COCO JSON, mask PNGs.

Exports:

* :func:`points_csv` - one row per point mark (``image_key, reader, point_id, row, col,
  label, comment, created_at``), coordinates in full-resolution file pixels.
* :func:`coco_dict` - COCO JSON (Lin et al., *Microsoft COCO*, ECCV 2014): each point is a
  one-keypoint annotation with a small box (category ``calcification``), each cluster or
  ROI a polygon ``segmentation`` with its box (categories ``cluster``/``roi``). COCO
  coordinates count from the pixel's corner, so ``x = col + 0.5`` and ``y = row + 0.5``.
  Labels, comments, readers and ids ride in each annotation's ``attributes``.
* :func:`marks_mask` / :func:`mask_png` / :func:`masks_zip` - masks aligned to the image
  (same rows and columns, file orientation): points drawn as discs, regions filled.
* :func:`audit_csv` - the audit table of a model.

Imports (:func:`parse_points_csv`, :func:`parse_coco`, :func:`parse_mask_png`) check the
whole file first and return an :class:`ImportPlan` whose :class:`ImportReport` lists every
problem found (malformed file, unknown image, wrong image size, coordinates outside the
image, unknown labels). :func:`apply_import` writes nothing unless the report is clean, and
if a write fails midway it puts every record already written back as it was: an import
lands completely or not at all.

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
import logging
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import pandas as pd

from mcalc.annotations import find_calcifications
from mcalc.errors import McalcError
from mcalc.store.marks import (
    LABELS,
    ImageMarks,
    MarkStore,
    PointMark,
    RegionMark,
    check_reader,
    new_mark_id,
)
from mcalc.store.versioned import StoreError, safe_name, utc_now

__all__ = [
    "CSV_COLUMNS",
    "COCO_CATEGORIES",
    "ExportError",
    "ImportValidationError",
    "ImportProblem",
    "ImportReport",
    "ImportPlan",
    "points_csv",
    "coco_dict",
    "coco_json",
    "marks_mask",
    "mask_png",
    "masks_zip",
    "audit_csv",
    "parse_points_csv",
    "parse_coco",
    "parse_mask_png",
    "apply_import",
]

log = logging.getLogger(__name__)

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
_REQUIRED_CSV = ("image_key", "row", "col")
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
_MAX_PROBLEMS = 200
_MAX_BYTES = 50 * 1024**2


class ExportError(McalcError):
    """Nothing to export (no marks), or the marks cannot be exported as asked."""


class ImportValidationError(McalcError):
    """An import file has problems; nothing was imported. ``report`` lists them all."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        super().__init__(report.text())


# --------------------------------------------------------------------------- export


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
                    m.image_key,
                    m.reader,
                    p.id,
                    round(p.row, 2),
                    round(p.col, 2),
                    p.label,
                    p.comment,
                    p.created_at,
                ]
            )
    return buf.getvalue()


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
                w.writerow([f"{stem}_{kind}.png", m.image_key, m.reader, kind, *shape])
        zf.writestr("index.csv", index.getvalue())
    return buf.getvalue()


def audit_csv(table: pd.DataFrame) -> str:
    """The audit table (:attr:`mcalc.store.audit.AuditSummary.table`) as CSV text.

    Raises:
        ExportError: the table is empty.
    """
    if table is None or table.empty:
        raise ExportError("no audit verdicts to export for this model yet")
    return table.to_csv(index=False, lineterminator="\n")


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class ImportProblem:
    """One problem of an import file: where (line, annotation, file) and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ImportReport:
    """What an import file holds and every problem found in it."""

    source: str
    problems: tuple[ImportProblem, ...] = ()
    n_points: int = 0
    n_regions: int = 0
    images: tuple[str, ...] = ()
    truncated: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        if self.ok:
            return (
                f"{self.source}: {self.n_points} point(s) and {self.n_regions} region(s) on "
                f"{len(self.images)} image(s), no problem found"
            )
        head = f"{self.source}: {len(self.problems) + self.truncated} problem(s); nothing was imported:"
        more = [f"... and {self.truncated} more"] if self.truncated else []
        return "\n".join([head, *(f"- {p}" for p in self.problems), *more])


@dataclass(frozen=True)
class ImportPlan:
    """Validated marks ready for :func:`apply_import` (one :class:`ImageMarks` per image
    and reader, holding only the imported marks)."""

    report: ImportReport
    marks: tuple[ImageMarks, ...] = field(default_factory=tuple)


class _Collector:
    def __init__(self, source: str, images: Mapping[str, tuple[int, int]]) -> None:
        self.source = source
        self.images = images  # may be lazy (reads sizes on demand)
        self.problems: list[ImportProblem] = []
        self.truncated = 0
        self.points: dict[tuple[str, str], list[PointMark]] = {}
        self.regions: dict[tuple[str, str], list[RegionMark]] = {}
        self.ids: set[tuple[str, str, str]] = set()

    def shape(self, key: str) -> tuple[int, int]:
        rows, cols = self.images[key][:2]
        return int(rows), int(cols)

    def problem(self, where: str, message: str) -> None:
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(ImportProblem(where, message))
        else:
            self.truncated += 1

    def image(self, where: str, key: Any) -> str | None:
        key = "" if key is None else str(key).strip()
        if not key:
            self.problem(where, "image key is empty")
            return None
        if key not in self.images:
            known = ", ".join(sorted(self.images)[:3])
            self.problem(
                where, f"unknown image {key!r}: expected a key of the open dataset (e.g. {known})"
            )
            return None
        return key

    def reader(self, where: str, name: Any, default: str | None) -> str | None:
        value = default if name is None or str(name).strip() == "" else str(name)
        if value is None:
            self.problem(where, "no reader named: add a 'reader' column or name yourself first")
            return None
        try:
            return check_reader(value)
        except ValueError as exc:
            self.problem(where, str(exc))
            return None

    def label(self, where: str, value: Any) -> str | None:
        label = (
            "uncertain" if value is None or str(value).strip() == "" else str(value).strip().lower()
        )
        if label not in LABELS:
            self.problem(where, f"unknown label {value!r}: expected one of {', '.join(LABELS)}")
            return None
        return label

    def inside(self, where: str, key: str, row: float, col: float) -> bool:
        rows, cols = self.shape(key)
        if not (-0.5 <= row <= rows - 0.5 and -0.5 <= col <= cols - 0.5):
            self.problem(
                where,
                f"({row:g}, {col:g}) is outside {key}: expected row 0..{rows - 1} and col 0..{cols - 1}",
            )
            return False
        return True

    def mark_id(self, where: str, key: str, reader: str, value: Any) -> str:
        mid = new_mark_id() if value is None or str(value).strip() == "" else str(value).strip()
        if (key, reader, mid) in self.ids:
            self.problem(where, f"mark id {mid!r} appears twice for {key} / {reader}")
        self.ids.add((key, reader, mid))
        return mid

    def plan(self) -> ImportPlan:
        keys = sorted(set(self.points) | set(self.regions))
        report = ImportReport(
            source=self.source,
            problems=tuple(self.problems),
            n_points=sum(len(v) for v in self.points.values()),
            n_regions=sum(len(v) for v in self.regions.values()),
            images=tuple(sorted({k for k, _ in keys})),
            truncated=self.truncated,
        )
        if not report.ok:
            return ImportPlan(report)
        if not keys:
            report = replace(
                report, problems=(ImportProblem(self.source, "the file holds no marks"),)
            )
            return ImportPlan(report)
        marks = tuple(
            ImageMarks(
                k,
                r,
                points=tuple(self.points.get((k, r), ())),
                regions=tuple(self.regions.get((k, r), ())),
                image_shape=self.shape(k),
            )
            for k, r in keys
        )
        return ImportPlan(report, marks)


def _text(data: bytes | str, source: str, col: _Collector) -> str | None:
    if isinstance(data, str):
        return data
    if len(data) > _MAX_BYTES:
        col.problem(
            source, f"file is {len(data) / 1e6:.0f} MB; expected at most {_MAX_BYTES / 1e6:.0f} MB"
        )
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        col.problem(
            source, f"not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8 CSV/JSON"
        )
        return None


def _number(col: _Collector, where: str, name: str, value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        col.problem(where, f"{name} must be a number, got {value!r}")
        return None
    if not np.isfinite(out):
        col.problem(where, f"{name} must be finite, got {value!r}")
        return None
    return out


def parse_points_csv(
    data: bytes | str,
    images: Mapping[str, tuple[int, int]],
    *,
    default_reader: str | None = None,
    source: str = "CSV",
) -> ImportPlan:
    """Check a points CSV (as written by :func:`points_csv`) against the dataset's images.

    Args:
        data: the file's bytes or text.
        images: ``(rows, cols)`` of every image of the dataset, by key.
        default_reader: reader of rows without a ``reader`` value (the importing reader).
        source: name of the file, for the report.

    Returns:
        The plan; check ``plan.report.ok`` before :func:`apply_import`.
    """
    col = _Collector(source, images)
    text = _text(data, source, col)
    if text is None:
        return col.plan()
    try:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        rows = list(reader)
    except csv.Error as exc:
        col.problem(source, f"malformed CSV ({exc})")
        return col.plan()
    missing = [c for c in _REQUIRED_CSV if c not in header]
    if missing:
        col.problem(
            source,
            f"missing column(s) {', '.join(missing)}: expected a header with at least "
            f"{', '.join(_REQUIRED_CSV)} (found {', '.join(header) or 'none'})",
        )
        return col.plan()
    for n, raw in enumerate(rows, start=2):
        row = {(k or "").strip(): v for k, v in raw.items()}
        where = f"line {n}"
        if None in raw:
            col.problem(where, f"{len(raw[None])} value(s) more than the header has columns")
            continue
        key = col.image(where, row.get("image_key"))
        name = col.reader(where, row.get("reader"), default_reader)
        label = col.label(where, row.get("label"))
        r = _number(col, where, "row", row.get("row"))
        c = _number(col, where, "col", row.get("col"))
        if None in (key, name, label, r, c) or not col.inside(where, key, r, c):  # type: ignore[arg-type]
            continue
        mid = col.mark_id(where, key, name, row.get("point_id"))  # type: ignore[arg-type]
        now = utc_now()
        col.points.setdefault((key, name), []).append(  # type: ignore[arg-type]
            PointMark(
                mid, r, c, label, row.get("comment") or "", name, row.get("created_at") or now, now
            )  # type: ignore[arg-type]
        )
    if not rows:
        col.problem(source, "the CSV has a header but no rows")
    return col.plan()


def _coco_lookup(
    col: _Collector, doc: Any, source: str
) -> tuple[dict[Any, str], dict[Any, str]] | None:
    if not isinstance(doc, dict):
        col.problem(source, f"expected a COCO JSON object, got {type(doc).__name__}")
        return None
    for name in ("images", "annotations", "categories"):
        if not isinstance(doc.get(name), list):
            col.problem(
                source, f"'{name}' must be a list (COCO layout), got {type(doc.get(name)).__name__}"
            )
    if col.problems:
        return None
    cats: dict[Any, str] = {}
    for i, cat in enumerate(doc["categories"]):
        if not isinstance(cat, dict) or "id" not in cat or "name" not in cat:
            col.problem(f"categories[{i}]", "needs an id and a name")
            continue
        name = str(cat["name"]).strip().lower()
        if name not in ("calcification", "cluster", "roi"):
            col.problem(
                f"categories[{i}]",
                f"unknown category {cat['name']!r}: expected calcification, cluster or roi",
            )
            continue
        cats[cat["id"]] = name
    imgs: dict[Any, str] = {}
    for i, img in enumerate(doc["images"]):
        where = f"images[{i}]"
        if not isinstance(img, dict) or "id" not in img:
            col.problem(where, "needs an id")
            continue
        key = col.image(where, img.get("mcalc_key") or img.get("file_name"))
        if key is None:
            continue
        h, w = img.get("height"), img.get("width")
        if (h, w) != (None, None) and (h, w) != col.shape(key):
            rows, cols = col.shape(key)
            col.problem(
                where,
                f"wrong size for {key}: the file says {h}x{w}, the image is {rows}x{cols} (rows x cols)",
            )
            continue
        imgs[img["id"]] = key
    return imgs, cats


def parse_coco(
    data: bytes | str,
    images: Mapping[str, tuple[int, int]],
    *,
    default_reader: str | None = None,
    source: str = "COCO JSON",
) -> ImportPlan:
    """Check a COCO JSON file (as written by :func:`coco_dict`) against the dataset's images.

    Images are matched by ``mcalc_key`` or ``file_name``; ``height``/``width`` must equal
    the image's size. ``calcification`` annotations need ``keypoints`` (or a ``bbox``,
    whose centre is taken); ``cluster``/``roi`` need a polygon ``segmentation`` (or a
    ``bbox``, taken as a rectangle).
    """
    col = _Collector(source, images)
    text = _text(data, source, col)
    if text is None:
        return col.plan()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        col.problem(source, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        return col.plan()
    lookup = _coco_lookup(col, doc, source)
    if lookup is None:
        return col.plan()
    imgs, cats = lookup
    for i, ann in enumerate(doc["annotations"]):
        where = f"annotations[{i}]"
        if not isinstance(ann, dict):
            col.problem(where, "must be an object")
            continue
        if ann.get("image_id") not in imgs:
            col.problem(
                where, f"image_id {ann.get('image_id')!r} is not a usable image of this file"
            )
            continue
        if ann.get("category_id") not in cats:
            col.problem(where, f"category_id {ann.get('category_id')!r} is not a known category")
            continue
        key, kind = imgs[ann["image_id"]], cats[ann["category_id"]]
        attrs = ann.get("attributes") if isinstance(ann.get("attributes"), dict) else {}
        name = col.reader(where, attrs.get("reader"), default_reader)
        label = col.label(where, attrs.get("label"))
        if name is None or label is None:
            continue
        vertices = _coco_geometry(col, where, ann, kind)
        if vertices is None:
            continue
        if not all(col.inside(where, key, r, c) for r, c in vertices):
            continue
        mid = col.mark_id(where, key, name, attrs.get("mark_id"))
        now = utc_now()
        created = str(attrs.get("created_at") or now)
        comment = str(attrs.get("comment") or "")
        if kind == "calcification":
            r, c = vertices[0]
            col.points.setdefault((key, name), []).append(
                PointMark(mid, r, c, label, comment, name, created, now)
            )
        else:
            col.regions.setdefault((key, name), []).append(
                RegionMark(mid, kind, tuple(vertices), label, comment, name, created, now)
            )
    return col.plan()


def _coco_geometry(
    col: _Collector, where: str, ann: dict[str, Any], kind: str
) -> list[tuple[float, float]] | None:
    """(row, col) vertices of an annotation: one for a point, >= 3 for a region."""

    def nums(values: Any, what: str) -> list[float] | None:
        if not isinstance(values, list) or not values:
            col.problem(where, f"{what} must be a non-empty list of numbers")
            return None
        out = [_number(col, where, what, v) for v in values]
        return None if any(v is None for v in out) else out  # type: ignore[return-value]

    bbox = ann.get("bbox")
    if kind == "calcification":
        if "keypoints" in ann:
            kp = nums(ann["keypoints"], "keypoints")
            if kp is None:
                return None
            if len(kp) < 2:
                col.problem(where, f"keypoints need x, y (and visibility), got {len(kp)} number(s)")
                return None
            return [(kp[1] - 0.5, kp[0] - 0.5)]
        if bbox is not None:
            b = nums(bbox, "bbox")
            if b is None or len(b) != 4:
                if b is not None:
                    col.problem(where, f"bbox needs 4 numbers [x, y, w, h], got {len(b)}")
                return None
            return [(b[1] + b[3] / 2 - 0.5, b[0] + b[2] / 2 - 0.5)]
        col.problem(where, "a calcification needs keypoints or a bbox")
        return None
    seg = ann.get("segmentation")
    if isinstance(seg, list) and seg:
        poly = nums(seg[0] if isinstance(seg[0], list) else seg, "segmentation")
        if poly is None:
            return None
        if len(poly) < 6 or len(poly) % 2:
            col.problem(
                where, f"segmentation polygon needs >= 3 x, y pairs, got {len(poly)} number(s)"
            )
            return None
        return [(poly[k + 1] - 0.5, poly[k] - 0.5) for k in range(0, len(poly), 2)]
    if bbox is not None:
        b = nums(bbox, "bbox")
        if b is None or len(b) != 4:
            if b is not None:
                col.problem(where, f"bbox needs 4 numbers [x, y, w, h], got {len(b)}")
            return None
        x, y, w, h = b
        return [
            (y - 0.5, x - 0.5),
            (y - 0.5, x + w - 0.5),
            (y + h - 0.5, x + w - 0.5),
            (y + h - 0.5, x - 0.5),
        ]
    col.problem(where, f"a {kind} needs a polygon segmentation or a bbox (RLE masks are not read)")
    return None


def parse_mask_png(
    data: bytes,
    image_key: str,
    images: Mapping[str, tuple[int, int]],
    *,
    reader: str,
    label: str = "uncertain",
    source: str = "mask PNG",
) -> ImportPlan:
    """A mask image aligned to ``image_key`` -> one point per connected mark (its centre).

    The mask must have exactly the image's rows and columns (no rescaling: a mask of
    another size belongs to another image or was resized, which moves the marks).
    """
    col = _Collector(source, images)
    key = col.image(source, image_key)
    name = col.reader(source, reader, None)
    lab = col.label(source, label)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if arr is None:
        col.problem(source, "cannot decode the file as an image (expected a PNG mask)")
    elif key is not None:
        if arr.ndim == 3:
            arr = arr[..., :3].max(axis=2)
        if arr.shape[:2] != col.shape(key):
            rows, cols = col.shape(key)
            col.problem(
                source,
                f"wrong size: the mask is {arr.shape[0]}x{arr.shape[1]}, the image {key} is "
                f"{rows}x{cols} (rows x cols); export the mask at the image's full resolution",
            )
        elif not (arr != 0).any():
            col.problem(source, "the mask has no marked (non-zero) pixel")
    if col.problems or key is None or name is None or lab is None or arr is None:
        return col.plan()
    now = utc_now()
    for calc in find_calcifications(arr != 0, (1.0, 1.0)):
        r, c = calc.centroid
        col.points.setdefault((key, name), []).append(
            PointMark(new_mark_id(), r, c, lab, "", name, now, now)
        )
    return col.plan()


def apply_import(
    store: MarkStore, plan: ImportPlan, *, mode: str = "add"
) -> list[tuple[str, str, int]]:
    """Write a validated import into the store, completely or not at all.

    Args:
        store: the readers' store.
        plan: from one of the ``parse_*`` functions.
        mode: ``add`` (imported marks join the stored ones; a mark with the same id is
            replaced) or ``replace`` (the imported marks become the image's marks; the
            old ones stay in the history).

    Returns:
        ``(image_key, reader, new version)`` per record written.

    Raises:
        ImportValidationError: the plan's report has problems (nothing written).
        StoreError: a record could not be read or written; every record already written
            was put back as it was.
    """
    if mode not in ("add", "replace"):
        raise ValueError(f"mode must be 'add' or 'replace', got {mode!r}")
    if not plan.report.ok or not plan.marks:
        raise ImportValidationError(plan.report)
    snapshots: list[tuple[tuple[str, str], bytes | None]] = []
    done: list[tuple[str, str, int]] = []
    try:
        for incoming in plan.marks:
            parts = (incoming.image_key, incoming.reader)
            snapshots.append((parts, store.records.snapshot(parts)))
            state = store.load(*parts)
            if mode == "replace":
                merged = replace(incoming, comment=state.marks.comment)
            else:
                new_ids = {m.id for m in (*incoming.points, *incoming.regions)}
                merged = replace(
                    state.marks,
                    points=(
                        *(p for p in state.marks.points if p.id not in new_ids),
                        *incoming.points,
                    ),
                    regions=(
                        *(r for r in state.marks.regions if r.id not in new_ids),
                        *incoming.regions,
                    ),
                    image_shape=incoming.image_shape,
                )
            version = store.save(
                merged, base_version=state.version, action="import", note=plan.report.source
            )
            done.append((*parts, version))
    except (StoreError, OSError) as exc:
        for parts, data in reversed(snapshots):
            try:
                store.records.put_back(parts, data)
            except StoreError as undo_exc:  # pragma: no cover - disk died during rollback
                log.error("could not roll back %s: %s", parts, undo_exc)
        raise StoreError(f"import stopped and rolled back, nothing was imported: {exc}") from exc
    log.info("imported %s into %d record(s)", plan.report.source, len(done))
    return done
