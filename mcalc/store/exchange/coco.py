"""Import validation of COCO JSON files (as written by :func:`~mcalc.store.exchange.coco_dict`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mcalc.plural import counted
from mcalc.store.exchange.validate import Collector, ImportPlan
from mcalc.store.marks import PointMark, RegionMark, too_many_vertices
from mcalc.store.record import utc_now

__all__ = ["parse_coco"]


def _coco_lookup(
    col: Collector, doc: Any, source: str
) -> tuple[dict[Any, str], dict[Any, str]] | None:
    if not isinstance(doc, dict):
        col.problem(source, f"expected a COCO JSON object, got {type(doc).__name__}")
        return None
    layout = ("images", "annotations", "categories")
    if "image_key" in doc and ("points" in doc or "regions" in doc):
        # Annotate's own "Marks JSON" download: it read "'images' must be a list (COCO
        # layout), got NoneType" three times. Annotate's import reads it (parse_json).
        col.problem(
            source,
            "this is a marks JSON (Annotate's Marks JSON download), not a COCO JSON: read it "
            "with parse_marks_json, or parse_json, which takes both",
        )
        return None
    if not any(name in doc for name in layout):
        found = ", ".join(repr(k) for k in list(doc)[:5]) or "none"
        col.problem(
            source,
            "expected COCO JSON: an object with 'images', 'annotations' and 'categories' lists "
            f"(keys found: {found})",
        )
        return None
    for name in layout:
        if not isinstance(doc.get(name), list):
            got = "missing" if name not in doc else f"got {type(doc[name]).__name__}"
            col.problem(source, f"'{name}' must be a list (COCO layout): {got}")
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
    col = Collector(source, images)
    text = col.read_text(data)
    if text is None:
        return col.plan()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        col.problem(source, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")
        return col.plan()
    except RecursionError:  # '[[[[...': Python's parser gives up, the page must not
        col.problem(source, "not valid JSON: nested too deeply (not an export of mcalc)")
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
        raw_attrs = ann.get("attributes")
        attrs: dict[str, Any] = raw_attrs if isinstance(raw_attrs, dict) else {}
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
    col: Collector, where: str, ann: dict[str, Any], kind: str
) -> list[tuple[float, float]] | None:
    """(row, col) vertices of an annotation: one for a point, >= 3 for a region."""

    def nums(values: Any, what: str) -> list[float] | None:
        if not isinstance(values, list) or not values:
            col.problem(where, f"{what} must be a non-empty list of numbers")
            return None
        out = [col.number(where, what, v) for v in values]
        return [v for v in out if v is not None] if None not in out else None

    bbox = ann.get("bbox")
    if kind == "calcification":
        if "keypoints" in ann:
            kp = nums(ann["keypoints"], "keypoints")
            if kp is None:
                return None
            if len(kp) < 2:
                col.problem(
                    where, f"keypoints need x, y (and visibility), got {counted(len(kp), 'number')}"
                )
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
        flat = seg[0] if isinstance(seg[0], list) else seg
        if problem := too_many_vertices(len(flat) // 2):
            col.problem(where, f"segmentation: {problem}")
            return None
        poly = nums(flat, "segmentation")
        if poly is None:
            return None
        if len(poly) < 6 or len(poly) % 2:
            col.problem(
                where,
                f"segmentation polygon needs >= 3 x, y pairs, got {counted(len(poly), 'number')}",
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
