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


def test_display_stages_equal_their_plain_formulas():
    """window, to_uint8 and overlay_mask work in place / at marked pixels only: the same
    numbers as the plain whole-array formulas (exact halves included)."""
    rng = np.random.default_rng(0)
    values = rng.integers(0, 4096, (37, 29)).astype(np.float32)
    values[0, :5] = [2046.5, 2047.5, 0.0, 4095.0, 1023.5]
    for center, width in ((2047.0, 4096.0), (1500.0, 301.0), (10.0, 1.0)):
        x = np.asarray(values, dtype=np.float32)
        plain = np.clip((x - (center - 0.5)) / max(width - 1.0, 1e-6) + 0.5, 0.0, 1.0)
        np.testing.assert_array_equal(imaging.window(values, center, width), plain)
    unit = np.r_[np.arange(256) + 0.5, [-0.2, 1.3]].astype(np.float32) / 255.0
    np.testing.assert_array_equal(
        imaging.to_uint8(unit), np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    )
    gray = rng.random((37, 29)).astype(np.float32)
    mask = rng.random((37, 29)) > 0.8
    for alpha in (0.0, 0.35, 0.8, 1.0):
        rgb = np.repeat(imaging.to_uint8(gray)[..., None], 3, axis=2).astype(np.float32)
        rgb[mask] = (1.0 - alpha) * rgb[mask] + alpha * np.float32([255, 48, 48])
        expected = np.round(rgb).astype(np.uint8)
        np.testing.assert_array_equal(
            imaging.overlay_mask(gray, mask, (255, 48, 48), alpha), expected
        )


def test_auto_windows_equal_one_auto_window_each():
    rng = np.random.default_rng(1)
    values = rng.normal(2000, 300, (50, 40)).astype(np.float32)
    region = rng.random((50, 40)) > 0.3
    presets = {k: v for k, v in imaging.WINDOW_PRESETS.items() if v is not None}
    got = imaging.auto_windows(values, region, presets)
    for name, (lo, hi) in presets.items():
        q_lo, q_hi = np.percentile(values[region], [lo, hi])
        width = max(float(q_hi - q_lo), 1.0)
        assert got[name] == (float(q_lo + width / 2.0), width)


@pytest.mark.parametrize("box", [(0, 100, 0, 80), (61, 64, 7, 9), (99, 100, 79, 80)])
def test_resample_mask_shrinking_on_the_marks_box_equals_pooling(box):
    rng = np.random.default_rng(2)
    mask = np.zeros((100, 80), bool)
    r0, r1, c0, c1 = box
    mask[r0:r1, c0:c1] = rng.random((r1 - r0, c1 - c0)) > 0.7
    mask[r0, c0] = mask[r1 - 1, c1 - 1] = True
    assert imaging.nonzero_box(mask) == box
    for shape in ((33, 27), (7, 80), (1, 1)):
        pooled = imaging._pool_axis(imaging._pool_axis(mask, shape[0], 0), shape[1], 1)
        np.testing.assert_array_equal(imaging.resample_mask(mask, shape), pooled)
