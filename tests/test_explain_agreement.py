"""Explanation against annotations, on hand-made maps and masks: energy inside the dilated
marks, the pointing game, and the dilation itself."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.explain.map_agreement import dilate_mask, energy_inside, map_agreement, pointing_game


def _dot(shape=(21, 21), at=(10, 10)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[at] = True
    return m


@pytest.mark.parametrize(
    ("spacing", "tolerance", "expected_extent"),
    [
        ((0.5, 0.5), 0.0, (1, 1)),
        ((0.5, 0.5), 1.0, (5, 5)),  # 2 px radius each way
        ((0.5, 0.25), 1.0, (5, 9)),  # round in mm: wider in the finer direction
        ((0.1, 0.1), 0.04, (1, 1)),  # under half a pixel: unchanged
    ],
)
def test_dilation_is_round_in_millimetres(spacing, tolerance, expected_extent) -> None:
    grown = dilate_mask(_dot(), spacing, tolerance)
    rows, cols = np.nonzero(grown)
    assert (np.ptp(rows) + 1, np.ptp(cols) + 1) == expected_extent
    assert grown[10, 10]


def test_dilation_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        dilate_mask(_dot(), (0.1, 0.1), -1.0)
    with pytest.raises(ValueError, match="spacing"):
        dilate_mask(_dot(), (0.0, 0.1), 1.0)


@pytest.mark.parametrize(
    ("heat", "expected"),
    [
        ("inside", 1.0),
        ("half", 0.5),
        ("outside", 0.0),
        ("zero", 0.0),
        ("negative", 1.0),  # negative values carry no energy
        ("nan", 1.0),  # NaN reads as 0
    ],
)
def test_energy_inside_on_hand_made_maps(heat, expected) -> None:
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:4] = True
    h = np.zeros((10, 10))
    if heat == "inside":
        h[2:4, 2:4] = 1.0
    elif heat == "half":
        h[2:4, 2:4] = 1.0
        h[6:8, 6:8] = 1.0
    elif heat == "outside":
        h[6:8, 6:8] = 1.0
    elif heat == "negative":
        h[2, 2] = 2.0
        h[7, 7] = -5.0
    elif heat == "nan":
        h[2, 2] = 1.0
        h[7, 7] = np.nan
    assert energy_inside(h, mask) == pytest.approx(expected, abs=1e-9)


def test_pointing_game_hits_misses_ties_and_flat_maps() -> None:
    mask = _dot((10, 10), (3, 3))
    hit = np.zeros((10, 10))
    hit[3, 3] = 1.0
    assert pointing_game(hit, mask) == (True, (3, 3))
    miss = np.zeros((10, 10))
    miss[8, 8] = 1.0
    assert pointing_game(miss, mask) == (False, (8, 8))
    tie = np.zeros((10, 10))
    tie[8, 8] = tie[3, 3] = 1.0  # either maximum on a mark counts
    assert pointing_game(tie, mask)[0] is True
    assert pointing_game(np.full((10, 10), 0.3), mask) == (None, None)
    with pytest.raises(ValueError, match="differ in shape"):
        pointing_game(hit, np.zeros((5, 5), bool))


def test_map_agreement_with_tolerance_region_and_without_marks() -> None:
    mask = _dot((20, 20), (5, 5))
    heat = np.zeros((20, 20))
    heat[5, 7] = 1.0  # 2 px (1 mm) from the mark
    heat[15, 15] = 0.5
    strict = map_agreement(heat, mask, (0.5, 0.5), tolerance_mm=0.0)
    assert strict.pointing_hit is False and strict.energy_inside == 0.0 and strict.marks == 1
    loose = map_agreement(heat, mask, (0.5, 0.5), tolerance_mm=1.0)
    assert loose.pointing_hit is True and loose.peak == (5, 7)
    assert loose.energy_inside == pytest.approx(1.0 / 1.5)
    region = np.zeros((20, 20), bool)
    region[:10, :10] = True
    with_region = map_agreement(heat, mask, (0.5, 0.5), 1.0, region=region)
    assert with_region.area_fraction == pytest.approx(17 / 100)  # OpenCV 5x5 ellipse: 17 px
    none = map_agreement(heat, None, (0.5, 0.5))
    assert none.energy_inside is None and none.pointing_hit is None and none.peak == (5, 7)
    assert map_agreement(heat, np.zeros((20, 20), bool), (0.5, 0.5)).marks == 0
    assert loose.as_dict()["peak"] == [5, 7]
    with pytest.raises(ValueError, match="differ in shape"):
        map_agreement(heat, np.ones((3, 3), bool), (0.5, 0.5))


def test_region_annotation_hits_inside_the_region_without_tolerance():
    from mcalc.explain.map_agreement import map_agreement

    heat = np.zeros((40, 40))
    heat[20, 31] = 1.0  # one pixel outside the region's edge
    region = np.zeros((40, 40), bool)
    region[10:30, 10:30] = True
    as_marks = map_agreement(heat, region, (0.1, 0.1), tolerance_mm=0.5)
    as_region = map_agreement(heat, region, (0.1, 0.1), 0.5, annotation_kind="region")
    assert as_marks.pointing_hit is True and as_marks.hit_rule == "on a mark"
    assert as_region.pointing_hit is False and as_region.hit_rule == "inside the region"
    assert as_region.tolerance_mm == 0.0 and as_region.energy_inside == 0.0
    heat[15, 15] = 2.0
    inside = map_agreement(heat, region, (0.1, 0.1), annotation_kind="region")
    assert inside.pointing_hit is True and inside.energy_inside == pytest.approx(2 / 3)
    assert inside.as_dict()["hit_rule"] == "inside the region"


def test_map_agreement_cleans_the_map_once_and_agrees_with_its_parts(monkeypatch) -> None:
    """``map_agreement`` made the map's float64, non-negative copy 3 times a call (itself,
    then :func:`pointing_game` and :func:`energy_inside` each again): on a full-size map that
    was 80-120 ms of each Predict analysis (h/pserver, 6 December). Now once, with the same
    figures as the public functions give on the map."""
    import mcalc.explain.map_agreement as ma

    rng = np.random.default_rng(3)
    heat = rng.random((64, 48)).astype(np.float32)
    heat[5, 7] = np.nan
    heat[9, 9] = -2.0
    heat[40, 30] = 5.0  # the peak, on a mark
    mask = np.zeros(heat.shape, bool)
    mask[40, 31] = True
    mask[10:12, 20:22] = True
    grown = dilate_mask(mask, (0.1, 0.1), 0.2)
    calls = []
    real = ma._heat
    monkeypatch.setattr(ma, "_heat", lambda h: calls.append(1) or real(h))
    got = map_agreement(heat, mask, (0.1, 0.1), tolerance_mm=0.2)
    assert len(calls) == 1
    monkeypatch.setattr(ma, "_heat", real)
    assert got.energy_inside == pytest.approx(energy_inside(heat, grown), abs=0)
    assert (got.pointing_hit, got.peak) == pointing_game(heat, grown) == (True, (40, 30))
    assert map_agreement(heat, None, (0.1, 0.1)).peak == (40, 30)
    flat = np.zeros((8, 8), np.float32)
    assert map_agreement(flat, mask[:8, :8] | True, (0.1, 0.1)).peak is None


def test_a_probability_maps_peak_is_its_top_detection_on_a_near_flat_plateau() -> None:
    """A finding saturating overlapping patches: the map is flat to 1e-4 over 5 x 5 mm,
    its maximum pixel at the plateau's corner by 4e-5 (demo suspicious-3 CC recent), the
    calcification at its centre. By the maximum pixel the pointing game misses; by the
    map's own peak (its top detection, at the plateau's centre) it hits."""
    from mcalc.models.detection import find_detections

    rng = np.random.default_rng(3)
    heat = np.full((100, 100), 0.05, np.float32)
    heat[20:70, 25:75] = 0.9895 + 1e-4 * rng.random((50, 50))
    heat[69, 25] = 0.98962
    marks = np.zeros((100, 100), bool)
    marks[43:47, 48:52] = True  # the calcification, at the plateau's centre
    by_pixel = map_agreement(heat, marks, (0.1, 0.1))
    assert by_pixel.pointing_hit is False and by_pixel.peak == (69, 25)
    top = find_detections(heat, (0.1, 0.1), max_detections=1)[0]
    by_peak = map_agreement(heat, marks, (0.1, 0.1), peak=(top.row, top.col))
    assert by_peak.pointing_hit is True and by_peak.peak == (44, 49)
    assert by_peak.energy_inside == by_pixel.energy_inside
    # Without marks the peak is still reported, the hit None.
    assert map_agreement(heat, None, (0.1, 0.1), peak=(44, 49)).peak == (44, 49)
