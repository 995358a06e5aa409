"""mcalc.store.placement: display/file coordinates, click checks, nearest mark, snapping."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.present.marking import zoom_box
from mcalc.store import ImageMarks
from mcalc.store.placement import check_click, nearest_mark, snap_to_peak
from mcalc.viewer import ImageView
from tests.viewer_fixtures import tiny_view


def _view(flipped: bool) -> ImageView:
    return tiny_view(flipped)


@pytest.mark.parametrize(
    "flipped, display, file", [(False, (5, 7), (5, 7)), (True, (5, 7), (5, 72))]
)
def test_display_and_file_coordinates(flipped, display, file):
    v = _view(flipped)
    assert v.to_file(*display) == file
    assert v.to_display(*v.to_file(*display)) == display


REGION = np.zeros((50, 40), bool)
REGION[10:40, 0:25] = True  # the breast, preview scale (x2 for full resolution)

CLICKS = [
    ("inside", (40, 20), True, ""),
    ("below the image", (130, 20), False, "outside the image"),
    ("left of the image", (40, -5), False, "outside the image"),
    ("on the background", (40, 70), False, "outside the breast"),
    ("nan", (float("nan"), 3), False, "outside the image"),
    ("edge tolerance", (99.4, 10), True, ""),
]


@pytest.mark.parametrize("name, click, ok, message", CLICKS, ids=[c[0] for c in CLICKS])
def test_check_click(name, click, ok, message):
    region = REGION.copy()
    region[49, :] = True  # the bottom row counts as breast for the edge case
    t = check_click(_view(False), region, *click)
    assert t.ok is ok and message in t.message


def test_no_region_means_no_breast_check():
    assert check_click(_view(False), None, 40, 70).ok


def test_nearest_mark_and_zoom_box():
    v = _view(True)
    m = (
        ImageMarks("k/CC_recent", "ann")
        .add_point(20, 70, mark_id="a")
        .add_point(60, 10, mark_id="b")
    )
    assert nearest_mark(m, v, 20, 9, 3) == "a"  # file col 70 is display col 9
    assert nearest_mark(m, v, 40, 40, 3) is None
    r0, r1, c0, c1 = zoom_box(v, 50, 40, half_mm=1.0)
    assert (r1 - r0, c1 - c0) == (20, 20) and r0 <= 50 < r1


def test_snap_to_peak_bright_and_dark():
    img = np.full((30, 30), 100, np.uint16)
    img[12, 7] = 900
    assert snap_to_peak(img, 10, 9, 3) == (12.0, 7.0)
    assert snap_to_peak(img, 10, 9, 0.4) == (10.0, 9.0)  # radius below a pixel: no snapping
    assert snap_to_peak(img, 20, 20, 3) != (12.0, 7.0)  # the peak is out of reach
    dark = 1000 - img
    assert snap_to_peak(dark, 10, 9, 3, bright=False) == (12.0, 7.0)
