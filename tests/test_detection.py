"""The plateau rule of detections (mcalc/models/detection.py, step 2): a near-flat top of
the map is one detection at its centre, peaks separated by a dip stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.models.detection import PLATEAU_TOLERANCE, find_detections, plateau_tolerance

SPACING = (0.1, 0.1)


def _plateau_map(rng: np.random.Generator) -> np.ndarray:
    """A 5 x 5 mm plateau (rows 20-69, cols 30-79) whose values differ by 1e-4 (as a
    patch model's map does where a finding saturates overlapping patches), its maximum at
    the bottom-left corner, on a low background."""
    m = np.full((100, 120), 0.05, np.float32)
    top = 0.9895 + 1e-4 * rng.random((50, 50))
    top[49, 0] = 0.98960  # the maximum, at the corner (the demo's suspicious-3 CC recent)
    m[20:70, 30:80] = top
    return m


def test_a_near_flat_plateau_is_one_detection_at_its_centre() -> None:
    """Before (rule 2: plateaus of equal scores only) this map gave a row of detections
    1 mm apart over the plateau, the first at its corner (69, 30)."""
    m = _plateau_map(np.random.default_rng(0))
    dets = find_detections(m, SPACING, threshold=0.5)
    assert len(dets) == 1
    (d,) = dets
    assert (d.row, d.col) == (44, 54)  # the plateau's centroid (44.5, 54.5), on a pixel
    assert d.score == pytest.approx(0.98960)  # the plateau's maximum
    assert d.score == float(m.max())


def test_the_plateau_pixel_nearest_the_centroid_stands_for_a_bent_plateau() -> None:
    """An L-shaped plateau: its centroid lies off it; the detection is on it."""
    m = np.zeros((60, 60), np.float32)
    m[10:50, 10:16] = 0.8
    m[44:50, 10:50] = 0.8
    m[47, 12] = 0.80005
    (d,) = find_detections(m, SPACING, threshold=0.5)
    assert m[d.row, d.col] >= np.float32(0.8)
    ys, xs = np.nonzero(m >= np.float32(0.8))
    dist = (ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2
    assert (d.row - ys.mean()) ** 2 + (d.col - xs.mean()) ** 2 == pytest.approx(dist.min())


@pytest.mark.parametrize("dip", [0.005, 0.05, 0.3])
def test_two_peaks_separated_by_a_dip_stay_two(dip: float) -> None:
    """Two findings 3 mm apart, of nearly the same score (1e-4 apart), the map dipping
    between them by more than the tolerance: two detections, each at its own peak."""
    m = np.full((60, 100), 0.05, np.float32)
    m[20:40, 20:40] = 0.9
    m[20:40, 50:70] = 0.9001
    m[20:40, 40:50] = 0.9 - dip
    dets = find_detections(m, SPACING, threshold=0.5)
    assert [(d.row, d.col) for d in dets] == [(29, 59), (29, 29)]
    assert [d.score for d in dets] == pytest.approx([0.9001, 0.9])


def test_a_dip_within_the_tolerance_is_one_plateau() -> None:
    m = np.full((60, 100), 0.05, np.float32)
    m[20:40, 20:70] = 0.9
    m[20:40, 40:50] = 0.9 - 0.5 * PLATEAU_TOLERANCE
    (d,) = find_detections(m, SPACING, threshold=0.5)
    assert (d.row, d.col) == (29, 44) and d.score == pytest.approx(0.9)


def test_a_lower_peak_beside_a_plateau_keeps_its_own_detection() -> None:
    """A plateau never reaches above its own maximum: a peak lower than a neighbouring
    plateau and separated from it by a dip is a detection of its own, where it peaks."""
    m = np.full((60, 100), 0.05, np.float32)
    m[20:40, 20:40] = 0.95
    m[20:40, 40:46] = 0.6
    m[28:31, 55:58] = 0.7
    m[20:40, 46:70] = np.maximum(m[20:40, 46:70], 0.65)
    dets = find_detections(m, SPACING, threshold=0.5)
    assert [(d.row, d.col, round(d.score, 2)) for d in dets] == [(29, 29, 0.95), (29, 56, 0.7)]


def test_the_tolerance_is_a_share_of_the_maps_range() -> None:
    assert plateau_tolerance(np.array([[0.0, 0.5]])) == pytest.approx(PLATEAU_TOLERANCE * 0.5)
    assert plateau_tolerance(np.zeros((3, 3))) == 0.0
    # A map scaled by a half gives the same detections (positions), its scores halved.
    m = _plateau_map(np.random.default_rng(1))
    a = find_detections(m, SPACING, threshold=0.5)
    b = find_detections(m * np.float32(0.5), SPACING, threshold=0.25)
    assert [(d.row, d.col) for d in a] == [(d.row, d.col) for d in b]
