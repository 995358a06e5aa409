"""Agreement figures on hand-made point sets (table-driven)."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.annotations import summarize
from mcalc.store import ImageMarks
from mcalc.store.reader_agreement import (
    compare_readers,
    compare_with_dataset,
    match_points,
    unmatched_table,
)

SP = (0.1, 0.1)  # 10 px per mm

CASES = [
    # name, reference, test, tolerance mm, matched, precision, recall, unmatched ref, unmatched test
    ("identical", [(10, 10), (40, 40)], [(10, 10), (40, 40)], 0.5, 2, 1.0, 1.0, (), ()),
    ("within tolerance", [(10, 10)], [(13, 14)], 0.5, 1, 1.0, 1.0, (), ()),
    ("just outside", [(10, 10)], [(16, 10)], 0.5, 0, 0.0, 0.0, (0,), (0,)),
    ("on the boundary", [(10, 10)], [(15, 10)], 0.5, 1, 1.0, 1.0, (), ()),
    ("extra test mark", [(10, 10)], [(10, 11), (80, 80)], 0.5, 1, 0.5, 1.0, (), (1,)),
    ("missed reference", [(10, 10), (80, 80)], [(10, 11)], 0.5, 1, 1.0, 0.5, (1,), ()),
    ("empty test", [(10, 10)], [], 0.5, 0, None, 0.0, (0,), ()),
    ("empty reference", [], [(10, 10)], 0.5, 0, 0.0, None, (), (0,)),
    ("both empty", [], [], 0.5, 0, None, None, (), ()),
    # Greedy nearest-first would pair ref 0 with test 0 (distance 1 px) and leave ref 1
    # without a partner; the optimal one-to-one matching pairs both.
    ("greedy trap", [(10, 10), (10, 16)], [(10, 11), (10, 5)], 0.6, 2, 1.0, 1.0, (), ()),
    ("one test near two refs", [(10, 10), (10, 14)], [(10, 12)], 0.5, 1, 1.0, 0.5, (1,), ()),
]


@pytest.mark.parametrize(
    "name, ref, test, tol, matched, precision, recall, un_ref, un_test",
    CASES,
    ids=[c[0] for c in CASES],
)
def test_match_points(name, ref, test, tol, matched, precision, recall, un_ref, un_test):
    r = match_points(ref, test, tolerance_mm=tol, spacing_mm=SP)
    assert r.n_matched == matched
    assert r.precision == (None if precision is None else pytest.approx(precision))
    assert r.recall == (None if recall is None else pytest.approx(recall))
    assert r.unmatched_reference == un_ref and r.unmatched_test == un_test
    # Each side is used at most once.
    assert len({i for i, _, _ in r.pairs}) == len({j for _, j, _ in r.pairs}) == r.n_matched


def test_f1_and_mean_distance():
    r = match_points(
        [(0, 0), (50, 50), (90, 90)], [(0, 3), (50, 50)], tolerance_mm=1, spacing_mm=SP
    )
    assert r.f1 == pytest.approx(2 * 2 / 5)
    assert r.mean_distance_mm == pytest.approx(0.15)
    assert r.summary()["missed"] == 1 and r.summary()["extra"] == 0


def test_anisotropic_spacing_counts_in_mm():
    # 5 px along rows at 0.2 mm = 1 mm; 5 px along columns at 0.05 mm = 0.25 mm.
    assert match_points([(0, 0)], [(5, 0)], tolerance_mm=0.5, spacing_mm=(0.2, 0.05)).n_matched == 0
    assert match_points([(0, 0)], [(0, 5)], tolerance_mm=0.5, spacing_mm=(0.2, 0.05)).n_matched == 1


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"tolerance_mm": 0, "spacing_mm": SP}, "tolerance_mm must be a positive"),
        ({"tolerance_mm": 1, "spacing_mm": (0, 0.1)}, "pixel spacing must be positive"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        match_points([(0, 0)], [(0, 0)], **kwargs)


def test_bad_point_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        match_points([(0, 0, 0)], [(0, 0)], tolerance_mm=1, spacing_mm=SP)
    with pytest.raises(ValueError, match="NaN"):
        match_points([(np.nan, 0)], [(0, 0)], tolerance_mm=1, spacing_mm=SP)


def test_reader_against_dataset_annotation():
    mask = np.zeros((64, 64), bool)
    for r, c in [(10, 10), (30, 30), (50, 12)]:
        mask[r : r + 2, c : c + 2] = True  # centroids (10.5, 10.5), (30.5, 30.5), (50.5, 12.5)
    summary = summarize(mask, SP)
    marks = ImageMarks("k/CC_recent", "ann").add_point(11, 10).add_point(30, 31).add_point(5, 60)
    r = compare_with_dataset(marks, summary, tolerance_mm=0.5, spacing_mm=SP)
    assert (r.reference_name, r.test_name, r.n_matched) == ("dataset", "ann", 2)
    rows = unmatched_table(r)
    assert [row["side"] for row in rows] == ["only dataset", "only ann"]
    assert rows[0]["row"] == 50.5 and rows[1]["col"] == 60.0 and rows[0]["nearest_other_mm"] > 0
    assert compare_with_dataset(marks, None, tolerance_mm=0.5, spacing_mm=SP).recall is None


def test_two_readers_and_label_filter():
    a = ImageMarks("k/CC_recent", "ann").add_point(10, 10, "suspicious").add_point(40, 40, "benign")
    b = ImageMarks("k/CC_recent", "bob").add_point(10, 11, "suspicious")
    assert compare_readers(a, b, tolerance_mm=0.5, spacing_mm=SP).recall == 0.5
    only = compare_readers(a, b, tolerance_mm=0.5, spacing_mm=SP, labels=["suspicious"])
    assert only.recall == 1.0 and only.precision == 1.0
    with pytest.raises(ValueError, match="same image"):
        compare_readers(a, ImageMarks("other/CC_prior", "bob"), tolerance_mm=1, spacing_mm=SP)


# A 10x20 px box (1x2 mm) and a disk of radius 10 px (1 mm) around (60, 60).
REGION_MASK = np.zeros((100, 100), np.uint8)
REGION_MASK[10:20, 10:30] = 1
REGION_MASK[np.hypot(*np.mgrid[:100, :100] - 60) <= 10] = 1

REGION_CASES = [
    # name, points, tolerance mm, region of each mark, regions found, share inside, share found
    ("one in each", [(15, 20), (60, 60)], 0.5, (0, 1), 2, 1.0, 1.0),
    ("two in one, none in the other", [(12, 12), (18, 28)], 0.5, (0, 0), 1, 1.0, 0.5),
    ("outside every region", [(45, 10)], 0.5, (None,), 0, 0.0, 0.0),
    ("just outside the box, within the allowance", [(23, 20)], 0.5, (0,), 1, 1.0, 0.5),
    ("just outside the box, no allowance", [(23, 20)], 0.1, (None,), 0, 0.0, 0.0),
    ("no marks", [], 0.5, (), 0, None, 0.0),
]


@pytest.mark.parametrize("name, points, tol, region_of, found, inside, share_found", REGION_CASES)
def test_marks_against_region_annotation(name, points, tol, region_of, found, inside, share_found):
    """A region annotation (CBIS-DDSM ROI, VinDr box, MIAS circle) compared as points read
    "dataset 0" with precision 0 and recall n/a, whatever the reader marked (a user check,
    6 December): the reader's marks are counted inside each region instead."""
    from mcalc.store.reader_agreement import compare_with_regions, region_table

    summary = summarize(REGION_MASK, SP, kind="region")
    assert summary.n_regions == 2 and summary.n_calcifications == 0
    marks = ImageMarks("k", "ann")
    for r, c in points:
        marks = marks.add_point(r, c, "suspicious")
    result = compare_with_regions(marks, summary, tolerance_mm=tol, spacing_mm=SP)
    assert result.region_of == region_of, name
    s = result.summary()
    assert (s["n_regions"], s["n_test"], s["regions_found"]) == (2, len(points), found)
    assert (s["share_inside"], s["share_found"]) == (inside, share_found)
    rows = region_table(result)
    outside = [r for r in rows if "outside every region" in r["side"]]
    missed = [r for r in rows if "without a mark" in r["side"]]
    assert len(outside) == region_of.count(None) and len(missed) == 2 - found


def test_region_agreement_counts_in_mm_and_filters_labels():
    """The allowance is in mm along each axis (rows at 0.1 mm, columns at 0.3 mm here) and
    the label filter applies as for points."""
    from mcalc.store.reader_agreement import compare_with_regions

    summary = summarize(REGION_MASK, (0.1, 0.3), kind="region")
    marks = ImageMarks("k", "ann").add_point(15, 32, "benign").add_point(23, 20, "suspicious")
    # (15, 32): 3 columns right of the box's last one (0.9 mm); (23, 20): 4 rows below (0.4 mm)
    result = compare_with_regions(marks, summary, tolerance_mm=0.5, spacing_mm=(0.1, 0.3))
    assert result.region_of == (None, 0)
    assert result.distance_mm[0] == pytest.approx(0.9, abs=1e-3)
    from mcalc.store.reader_agreement import region_table

    assert region_table(result)[0]["nearest_other_mm"] == 0.9  # to the 1/100 mm, as for points
    only = compare_with_regions(
        marks, summary, tolerance_mm=0.5, spacing_mm=(0.1, 0.3), labels=["benign"]
    )
    assert len(only.test) == 1 and only.n_inside == 0
