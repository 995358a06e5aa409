"""The display pipeline stages (pure functions over arrays)."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc import imaging


@pytest.mark.parametrize(
    ("values", "center", "width", "function", "expected"),
    [
        ([0, 2047, 4095], 2047, 4096, "LINEAR", [0.0, 0.5, 1.0]),
        ([1000, 1500, 2000], 1500, 1000, "LINEAR", [0.0, 0.5, 1.0]),
        ([0, 5000], 1500, 1000, "LINEAR", [0.0, 1.0]),
        ([1000, 1500, 2000], 1500, 1000, "LINEAR_EXACT", [0.0, 0.5, 1.0]),
        ([1500], 1500, 1000, "SIGMOID", [0.5]),
    ],
)
def test_window_table(values, center, width, function, expected):
    out = imaging.window(np.array(values, dtype=np.uint16), center, width, function)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=2e-3)


def test_window_keeps_12_bit_detail_that_uint8_would_lose():
    # Two 12-bit values one step apart inside a narrow window stay distinct.
    out = imaging.window(np.array([2000, 2001], dtype=np.uint16), 2000, 16)
    assert out[1] > out[0]


def test_window_rejects_non_positive_width():
    with pytest.raises(ValueError, match="width must be > 0"):
        imaging.window(np.zeros(3), 0, 0)


def test_functions_do_not_modify_inputs():
    rng = np.random.default_rng(0)
    img = rng.random((32, 24)).astype(np.float32)
    before = img.copy()
    imaging.invert(img)
    imaging.clahe(img)
    imaging.to_uint8(img)
    imaging.downsample(img, 8)
    imaging.overlay_mask(img, img > 0.5)
    np.testing.assert_array_equal(img, before)


def test_invert_and_uint8():
    np.testing.assert_allclose(imaging.invert(np.array([0.0, 0.25, 1.0])), [1.0, 0.75, 0.0])
    assert imaging.to_uint8(np.array([0.0, 0.5, 1.0, 2.0])).tolist() == [0, 128, 255, 255]


def test_clahe_increases_local_contrast_and_stays_in_range():
    rng = np.random.default_rng(1)
    img = (0.45 + 0.05 * rng.random((128, 128))).astype(np.float32)
    out = imaging.clahe(img, 3.0)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.std() > img.std()
    with pytest.raises(ValueError):
        imaging.clahe(img, 0.0)


def test_downsample_longest_side_and_never_enlarges():
    img = np.zeros((400, 300), np.uint16)
    assert imaging.downsample(img, 100).shape == (100, 75)
    assert imaging.downsample(img, 1000).shape == (400, 300)


def test_resample_mask_keeps_single_pixels_or_takes_the_nearest():
    mask = np.zeros((1000, 800), bool)
    mask[501, 333] = True
    assert imaging.resample_mask(mask, (100, 80)).sum() == 1
    assert imaging.resample_mask(mask, (100, 80), "nearest").sum() == 0
    mask[505, 335] = True  # the pixel under output (50, 33)'s centre
    assert np.argwhere(imaging.resample_mask(mask, (100, 80), "nearest")).tolist() == [[50, 33]]
    with pytest.raises(ValueError, match="mode"):
        imaging.resample_mask(mask, (100, 80), "max")  # type: ignore[arg-type]


def test_overlay_mask_blends_only_masked_pixels():
    gray = np.full((4, 4), 0.5, np.float32)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    rgb = imaging.overlay_mask(gray, mask, (255, 0, 0), 1.0)
    assert rgb.shape == (4, 4, 3)
    assert rgb[1, 1].tolist() == [255, 0, 0]
    assert rgb[0, 0].tolist() == [128, 128, 128]
    with pytest.raises(ValueError, match="shape"):
        imaging.overlay_mask(gray, np.zeros((3, 3), bool))


def test_auto_window_uses_region():
    values = np.zeros((10, 10), np.float32)
    values[2:8, 2:8] = np.linspace(1000, 2000, 36).reshape(6, 6)
    region = values > 0
    center, width = imaging.auto_window(values, region)
    assert 1000 <= center <= 2000
    assert width < 1100


def test_hex_to_rgb():
    assert imaging.hex_to_rgb("#ff8000") == (255, 128, 0)
    with pytest.raises(ValueError, match="expected a colour"):
        imaging.hex_to_rgb("red")


def test_apply_voi_lut_clamps_below_and_above_the_table():
    table = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    out = imaging.apply_voi_lut(np.array([5, 10, 11, 13, 99]), 10, table)
    assert out.tolist() == [0.0, 0.0, 0.25, 1.0, 1.0]
