"""A drawn region's vertices are limited: a crafted import or viewer event of a huge outline
is refused, naming the limit, before its vertices are read."""

from __future__ import annotations

import json

import pytest

from mcalc.present.reading import outlines_from_panel
from mcalc.store.exchange import coco_dict, parse_coco, parse_marks_json
from mcalc.store.marks import MAX_REGION_VERTICES, ImageMarks, RegionMark
from tests.viewer_fixtures import tiny_view

KEY = "case-1/CC_recent"
TOO_MANY = MAX_REGION_VERTICES + 1
SAID = f"at most {MAX_REGION_VERTICES:,} vertices, got {TOO_MANY:,}"


def _zigzag(n: int) -> list[list[float]]:
    """``n`` (row, col) vertices inside a 100 x 80 image."""
    return [[10.0 + (k % 2), 10.0 + 50.0 * k / n] for k in range(n)]


def _marks() -> ImageMarks:
    m = ImageMarks(KEY, "ann", image_shape=(100, 80))
    return m.add_region("cluster", [(5, 5), (5, 40), (40, 40)], "suspicious", "c1")


def test_a_region_mark_refuses_more_vertices_than_the_limit() -> None:
    with pytest.raises(ValueError, match=SAID):
        RegionMark("r", "roi", tuple((r, c) for r, c in _zigzag(TOO_MANY)))
    assert len(RegionMark("r", "roi", ((0, 0), (0, 1), (1, 1))).polygon) == 3


def test_a_marks_json_import_with_a_huge_polygon_is_refused() -> None:
    payload = _marks().to_payload()
    payload["regions"][0]["polygon"] = _zigzag(TOO_MANY)
    plan = parse_marks_json(json.dumps(payload), {KEY: (100, 80)})
    assert not plan.report.ok and plan.marks == ()
    assert SAID in plan.report.text()


def test_a_coco_import_with_a_huge_segmentation_is_refused() -> None:
    doc = coco_dict([_marks()])
    (region,) = [a for a in doc["annotations"] if a.get("segmentation")]
    region["segmentation"] = [[v for r, c in _zigzag(TOO_MANY) for v in (c, r)]]
    plan = parse_coco(json.dumps(doc), {KEY: (100, 80)})
    assert not plan.report.ok and plan.marks == ()
    assert SAID in plan.report.text()


def test_a_viewer_save_with_a_huge_outline_is_refused_in_a_short_message() -> None:
    sent = [{"id": "new-1", "kind": "roi", "label": "benign", "points": _zigzag(TOO_MANY)}]
    with pytest.raises(ValueError, match=SAID) as err:
        outlines_from_panel(tiny_view(False), sent)
    assert len(str(err.value)) < 200  # not the outline's million numbers back
