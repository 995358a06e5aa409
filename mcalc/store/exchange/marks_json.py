"""Import of Annotate's own *Marks JSON* (:meth:`~mcalc.store.marks.ImageMarks.to_payload`).

The file a reader downloads of one image's marks (or of unsaved edits) is the store's own
layout: ``image_key``, ``reader``, ``image_shape``, ``comment``, ``points`` and
``regions``; the download of all their marks is a list of those
(:func:`~mcalc.store.exchange.marks_json_text`). Given back to the import it restores
those marks exactly (ids, labels, comments, times), so a second import of the same file
changes nothing. :func:`parse_json` tells it from a COCO JSON by its keys, so one upload
field takes both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcalc.plural import counted
from mcalc.store.exchange.coco import parse_coco
from mcalc.store.exchange.validate import Collector, ImportPlan
from mcalc.store.marks import (
    REGION_KINDS,
    ImageMarks,
    PointMark,
    RegionMark,
    too_many_vertices,
)
from mcalc.store.record import utc_now

__all__ = ["MARKS_JSON_KEYS", "is_marks_json", "parse_marks_json", "parse_json"]

#: The keys of a marks JSON (:meth:`ImageMarks.to_payload`).
MARKS_JSON_KEYS: tuple[str, ...] = (
    "image_key",
    "reader",
    "image_shape",
    "comment",
    "points",
    "regions",
)


def is_marks_json(doc: Any) -> bool:
    """Whether ``doc`` (parsed JSON) is a marks JSON rather than a COCO JSON.

    Example:
        >>> is_marks_json({"image_key": "c/CC_recent", "points": []}), is_marks_json({"images": []})
        (True, False)
    """
    return isinstance(doc, dict) and "image_key" in doc and ("points" in doc or "regions" in doc)


def parse_json(
    data: bytes | str,
    images: Mapping[str, tuple[int, int]],
    *,
    default_reader: str | None = None,
    source: str = "JSON",
) -> ImportPlan:
    """Check a JSON import: a marks JSON (:func:`parse_marks_json`: one image's object or a
    list of them) or a COCO JSON (:func:`~mcalc.store.exchange.coco.parse_coco`), told
    apart by its keys."""
    col = Collector(source, images)
    doc = _load(col, data)
    if doc is None:
        return col.plan()
    if is_marks_json(doc) or isinstance(doc, list):  # a COCO JSON is an object
        return _marks_doc(col, doc, default_reader)
    text = data if isinstance(data, str) else data.decode("utf-8-sig")
    return parse_coco(text, images, default_reader=default_reader, source=source)


def parse_marks_json(
    data: bytes | str,
    images: Mapping[str, tuple[int, int]],
    *,
    default_reader: str | None = None,
    source: str = "marks JSON",
) -> ImportPlan:
    """Check a marks JSON (Annotate's *Marks JSON* and *All marks JSON* downloads, written
    by :func:`~mcalc.store.exchange.marks_json_text`) against the dataset's images.

    The file is one image's marks (the object of :meth:`ImageMarks.to_payload`) or a list
    of them. Each image must be one of ``images`` and, when the file gives ``image_shape``,
    have that size; every mark must lie inside it. Marks keep their ids, labels, comments
    and times, and the image comment comes along; each mark's ``reader`` must be its
    entry's (or empty), and an image and reader appear once.

    Args:
        data: the file's bytes or text.
        images: ``(rows, cols)`` of every image of the dataset, by key.
        default_reader: the reader of an entry that names none.
        source: name of the file, for the report.

    Returns:
        The plan; check ``plan.report.ok`` before :func:`apply_import`.

    Example:
        >>> from mcalc.store.marks import ImageMarks
        >>> m = ImageMarks("c/CC_recent", "ann", image_shape=(50, 40)).add_point(5, 6)
        >>> plan = parse_marks_json(json.dumps(m.to_payload()), {"c/CC_recent": (50, 40)})
        >>> plan.report.ok, plan.marks[0].points == m.points
        (True, True)
    """
    col = Collector(source, images)
    doc = _load(col, data)
    if doc is None:
        return col.plan()
    return _marks_doc(col, doc, default_reader)


def _load(col: Collector, data: bytes | str) -> Any:
    """The file's JSON; ``None`` after noting why not."""
    text = col.read_text(data)
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        col.problem(
            col.source, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        )
        return None
    except RecursionError:  # '[[[[...': Python's parser gives up, the page must not
        col.problem(col.source, "not valid JSON: nested too deeply (not an export of mcalc)")
        return None


def _marks_doc(col: Collector, doc: Any, default_reader: str | None) -> ImportPlan:
    entries = doc if isinstance(doc, list) else [doc]
    several = isinstance(doc, list)
    seen: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(entries):
        at = f"[{i}]." if several else ""
        if not is_marks_json(entry):
            found = ", ".join(repr(k) for k in list(entry)[:5]) if isinstance(entry, dict) else ""
            col.problem(
                f"[{i}]" if several else col.source,
                "expected a marks JSON (Annotate's Marks JSON download): an object with "
                "'image_key', 'reader', 'points' and 'regions' "
                f"(found {f'keys {found}' if found else type(entry).__name__})",
            )
            continue
        parts = _entry(col, at, entry, default_reader)
        if parts is None:
            continue
        if parts in seen:
            col.problem(
                f"[{i}]",
                f"{parts[0]} / {parts[1]} appears twice (also [{seen[parts]}]): keep one entry "
                "per image and reader",
            )
        seen.setdefault(parts, i)
    if not entries:
        col.problem(col.source, "the list holds no marks JSON object")
    return col.plan()


def _entry(
    col: Collector, at: str, doc: dict[str, Any], default_reader: str | None
) -> tuple[str, str] | None:
    """Check one image's marks into ``col``; returns its (image, reader) when readable."""
    before = len(col.problems) + col.truncated
    key = col.image(f"{at}image_key", doc.get("image_key"))
    reader = col.reader(f"{at}reader", doc.get("reader"), default_reader)
    for name in ("points", "regions"):
        if not isinstance(doc.get(name, []), list):
            col.problem(f"{at}{name}", f"must be a list, got {type(doc[name]).__name__}")
    comment = doc.get("comment")
    if comment is not None and not isinstance(comment, str):
        col.problem(f"{at}comment", f"must be text, got {type(comment).__name__}")
    elif comment and reader is not None and key is not None:
        try:
            ImageMarks(key, reader).with_comment(comment)
        except ValueError as exc:
            col.problem(f"{at}comment", str(exc))
    if key is not None and not _same_size(col, at, key, doc.get("image_shape")):
        return None
    if len(col.problems) + col.truncated > before or key is None or reader is None:
        return None
    for i, raw in enumerate(doc.get("points", [])):
        _point(col, f"{at}points[{i}]", key, reader, raw)
    for i, raw in enumerate(doc.get("regions", [])):
        _region(col, f"{at}regions[{i}]", key, reader, raw)
    if comment:
        col.comments[(key, reader)] = comment
    return key, reader


def _same_size(col: Collector, at: str, key: str, shape: Any) -> bool:
    if shape is None:
        return True
    rows, cols = col.shape(key)
    if not (isinstance(shape, list) and len(shape) == 2):
        col.problem(f"{at}image_shape", f"must be [rows, cols], got {shape!r}")
        return False
    if (shape[0], shape[1]) != (rows, cols):
        col.problem(
            f"{at}image_shape",
            f"wrong size for {key}: the file says {shape[0]}x{shape[1]}, the image is "
            f"{rows}x{cols} (rows x cols); the marks were made on another image: open the "
            "dataset they were made on",
        )
        return False
    return True


def _common(
    col: Collector, where: str, reader: str, raw: dict[str, Any]
) -> tuple[str, str, str, str] | None:
    """Label, comment, created_at and updated_at of a mark; ``None`` after noting why not."""
    own = raw.get("reader")
    if own not in (None, "") and str(own) != reader:
        col.problem(
            where,
            f"the mark's reader is {own!r}, the file's is {reader!r}: a marks JSON holds "
            "one reader's marks",
        )
        return None
    label = col.label(where, raw.get("label"))
    comment = raw.get("comment")
    if comment is not None and not isinstance(comment, str):
        col.problem(where, f"comment must be text, got {type(comment).__name__}")
        return None
    if label is None:
        return None
    now = utc_now()
    return (
        label,
        comment or "",
        str(raw.get("created_at") or now),
        str(raw.get("updated_at") or now),
    )


def _point(col: Collector, where: str, key: str, reader: str, raw: Any) -> None:
    if not isinstance(raw, dict):
        col.problem(where, f"must be an object, got {type(raw).__name__}")
        return
    common = _common(col, where, reader, raw)
    r = col.number(where, "row", raw.get("row"))
    c = col.number(where, "col", raw.get("col"))
    if common is None or r is None or c is None or not col.inside(where, key, r, c):
        return
    mid = col.mark_id(where, key, reader, raw.get("id"))
    label, comment, created, updated = common
    try:
        mark = PointMark(mid, r, c, label, comment, reader, created, updated)
    except ValueError as exc:
        col.problem(where, str(exc))
        return
    col.points.setdefault((key, reader), []).append(mark)


def _region(col: Collector, where: str, key: str, reader: str, raw: Any) -> None:
    if not isinstance(raw, dict):
        col.problem(where, f"must be an object, got {type(raw).__name__}")
        return
    common = _common(col, where, reader, raw)
    kind = raw.get("kind")
    if kind not in REGION_KINDS:
        col.problem(where, f"unknown kind {kind!r}: expected one of {', '.join(REGION_KINDS)}")
        return
    poly = raw.get("polygon")
    if not isinstance(poly, list) or len(poly) < 3:
        got = (
            f"{counted(len(poly), 'vertex', 'vertices')}"
            if isinstance(poly, list)
            else type(poly).__name__
        )
        col.problem(where, f"polygon needs at least 3 [row, col] vertices, got {got}")
        return
    if problem := too_many_vertices(len(poly)):
        col.problem(where, f"polygon: {problem}")
        return
    vertices: list[tuple[float, float]] = []
    for j, p in enumerate(poly):
        if not (isinstance(p, list) and len(p) == 2):
            col.problem(where, f"polygon[{j}] must be [row, col], got {p!r}")
            return
        r = col.number(where, f"polygon[{j}] row", p[0])
        c = col.number(where, f"polygon[{j}] col", p[1])
        if r is None or c is None:
            return
        vertices.append((r, c))
    if common is None or not all(col.inside(where, key, r, c) for r, c in vertices):
        return
    mid = col.mark_id(where, key, reader, raw.get("id"))
    label, comment, created, updated = common
    try:
        mark = RegionMark(mid, kind, tuple(vertices), label, comment, reader, created, updated)
    except ValueError as exc:
        col.problem(where, str(exc))
        return
    col.regions.setdefault((key, reader), []).append(mark)
