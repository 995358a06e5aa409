"""Overlays (pure functions), maps on the viewer's images, and the results cache."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage

from mcalc.explain.overlay import (
    COLORMAPS,
    blend,
    colorize,
    colour_bar,
    draw_boxes,
    draw_hot_spots,
    hot_spots,
    outline,
    plotly_colorscale,
    resize_map,
    text_scale,
)
from mcalc.explain.results import ResultsCache
from mcalc.present.map_display import crop_heat, display_box, overlay_view
from mcalc.viewer import ImageView


def _view(flipped: bool) -> ImageView:
    return ImageView(
        "k",
        np.zeros((10, 8, 3), np.uint8),
        (100, 80),
        0.1,
        flipped,
        (0, 1),
        False,
        (0.1, 0.1),
        "R",
        False,
    )


@pytest.mark.parametrize("cmap", list(COLORMAPS))
def test_blend_keeps_cold_pixels_gray_and_never_modifies_inputs(cmap) -> None:
    gray = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    gray0, heat0 = gray.copy(), heat.copy()
    out = blend(gray, heat, alpha=0.7, cmap=cmap)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(gray, gray0)
    np.testing.assert_array_equal(heat, heat0)
    cold = out[1:, 1:]
    assert (cold[..., 0] == cold[..., 1]).all() and (cold[..., 1] == cold[..., 2]).all()
    plain = blend(gray, np.zeros_like(heat), alpha=0.7, cmap=cmap)
    assert not np.array_equal(out[0, 0], plain[0, 0])  # the hot pixel is coloured
    uniform = blend(gray, heat, alpha=0.7, cmap=cmap, weighted=False)
    assert not np.array_equal(uniform, out)  # cold pixels tinted too


def test_blend_accepts_rgb_previews_and_rejects_mismatches() -> None:
    rgb = np.full((4, 5, 3), 100, np.uint8)
    out = blend(rgb, np.zeros((4, 5)), alpha=1.0)
    np.testing.assert_array_equal(out, rgb)
    with pytest.raises(ValueError, match="differ in shape"):
        blend(rgb, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="alpha"):
        blend(rgb, np.zeros((4, 5)), alpha=2.0)
    with pytest.raises(ValueError, match="jet"):
        blend(rgb, np.zeros((4, 5)), cmap="rainbow-unicorn")
    with pytest.raises(ValueError, match="RGB uint8"):
        blend(np.zeros((4, 5, 3), np.float32), np.zeros((4, 5)))


def test_colour_maps_resize_flip_outline_boxes_and_scale() -> None:
    ramp = colorize(np.array([[0.0, np.nan, 2.0]]), "jet")
    np.testing.assert_array_equal(ramp[0, 0], ramp[0, 1])  # NaN reads as 0
    assert resize_map(np.ones((4, 4)), (8, 6)).shape == (8, 6)
    assert _view(True).mirror(np.array([[1, 2]])).tolist() == [[2, 1]]
    mask = np.zeros((10, 10), bool)
    mask[3:6, 3:6] = True
    lined = outline(np.zeros((10, 10, 3), np.uint8), mask, (0, 255, 0))
    assert lined[3, 3, 1] == 255 and lined[4, 4, 1] == 0  # edge drawn, inside left alone
    boxed = draw_boxes(np.zeros((20, 20, 3), np.uint8), [(2, 10, 4, 12)], labels=["1"])
    assert boxed[2, 6].tolist() == [255, 255, 255]
    scale = plotly_colorscale("viridis", 5)
    assert scale[0][0] == 0.0 and scale[-1][0] == 1.0 and scale[2][1].startswith("rgb(")


def test_boxes_and_maps_follow_the_viewer_orientation() -> None:
    assert display_box((10, 20, 0, 16), _view(False)) == (10, 20, 0, 16)
    assert display_box((10, 20, 0, 16), _view(True)) == (10, 20, 64, 80)
    heat = np.zeros((50, 40), np.float32)  # model input at half the native size
    heat[:, :5] = 1.0  # hot along the file's left edge (native cols 0..10)
    shown = overlay_view(_view(True), heat, alpha=1.0)
    assert shown.preview.shape == (10, 8, 3)
    assert shown.preview[:, -1].sum() > 0 and shown.preview[:, 0].sum() == 0  # mirrored
    crop = crop_heat(heat, 0.5, _view(True), (0, 20, 70, 80), (20, 10))
    assert crop.shape == (20, 10) and crop.min() > 0.99  # display cols 70..80 = file cols 0..10
    assert crop_heat(heat, 0.5, _view(False), (0, 20, 70, 80), (20, 10)).max() == 0.0


def test_results_cache_memory_disk_and_broken_entries(tmp_path) -> None:
    calls = []

    def compute():
        calls.append(1)
        return {"a": np.arange(4)}

    cache = ResultsCache(tmp_path)
    args = ("map", "model@1", "img1", '{"stride": 16}', compute, dict, dict)
    assert cache.get_or_compute(*args)["a"].tolist() == [0, 1, 2, 3]
    cache.get_or_compute(*args)
    assert len(calls) == 1
    files = list(tmp_path.rglob("*.npz"))
    assert len(files) == 1
    fresh = ResultsCache(tmp_path)  # another process: read from disk
    assert fresh.get_or_compute(*args)["a"].tolist() == [0, 1, 2, 3] and len(calls) == 1
    other = ("map", "model@1", "img1", '{"stride": 8}', compute, dict, dict)
    fresh.get_or_compute(*other)
    assert len(calls) == 2  # other settings, other entry
    files[0].write_bytes(b"not a zip")
    broken = ResultsCache(tmp_path)
    assert broken.get_or_compute(*args)["a"].tolist() == [0, 1, 2, 3] and len(calls) == 3
    memory_only = ResultsCache(None)
    memory_only.get_or_compute(*args)
    assert len(calls) == 4


@pytest.mark.parametrize(
    "shape, out", [((2867, 2330), (256, 208)), ((1024, 832), (256, 208)), ((101, 77), (13, 10))]
)
def test_a_shrunk_map_keeps_every_peak(shape, out) -> None:
    """Shrinking a map for display keeps each block's highest value (a shorter block at most
    one input pixel of the next): area averaging kept a few-pixel Grad-CAM peak at a
    hundredth of its height in a full-image view, which then looked empty."""
    rng = np.random.default_rng(1)
    heat = (rng.random(shape) ** 8).astype(np.float32)
    heat[shape[0] // 3, shape[1] // 5] = 1.0  # one pixel: a calcification's peak
    small = resize_map(heat, out)
    rows, cols = out
    r = (np.arange(rows + 1) * shape[0]) // rows
    c = (np.arange(cols + 1) * shape[1]) // cols
    low = np.array(
        [[heat[r[i] : r[i + 1], c[j] : c[j + 1]].max() for j in range(cols)] for i in range(rows)]
    )
    high = np.array(
        [
            [
                heat[max(0, r[i] - 1) : r[i + 1] + 1, max(0, c[j] - 1) : c[j + 1] + 1].max()
                for j in range(cols)
            ]
            for i in range(rows)
        ]
    )
    assert small.shape == out and small.dtype == np.float32
    assert (small >= low).all() and (small <= high).all()
    assert small.max() == 1.0
    with_nan = heat.copy()
    with_nan[: shape[0] // 2] = np.nan  # no value there (outside the breast)
    halved = resize_map(with_nan, out)
    assert np.isnan(halved[0]).all() and not np.isnan(halved[-1]).any()


def _inside(spot, row: float, col: float) -> bool:
    contour = spot.outline[:, ::-1].astype(np.float32).reshape(-1, 1, 2)  # (x, y) for OpenCV
    return cv2.pointPolygonTest(contour, (float(col), float(row)), False) > 0


def test_hot_spots_are_the_areas_over_half_the_maps_own_peak_highest_first() -> None:
    """Each area at or above half the map's peak (8-neighbours, as scipy labels them), by
    decreasing peak, outlined around its pixels; the map is left as it was."""
    heat = np.zeros((40, 30), np.float32)
    heat[5, 7] = 0.8  # one pixel: a calcification's explanation
    heat[20:23, 10:12] = 0.6
    heat[23, 12] = 1.0  # touches the block diagonally: the same area
    heat[30, 25] = 0.45  # under half the peak: not a spot
    heat[35, 2] = np.nan
    before = heat.copy()
    spots = hot_spots(heat)
    np.testing.assert_array_equal(heat, before)
    labels, n = ndimage.label(np.nan_to_num(heat) >= 0.5, structure=np.ones((3, 3)))
    assert n == len(spots) == 2
    assert [s.peak for s in spots] == pytest.approx([1.0, 0.8])
    assert [s.box for s in spots] == [(20, 24, 10, 13), (5, 6, 7, 8)]
    assert spots[1].centre == (5.0, 7.0)
    for s in spots:
        r0, r1, c0, c1 = s.box
        pixels = np.argwhere(labels == labels[r0, c0] if labels[r0, c0] else labels == 0)
        assert all(_inside(s, r, c) for r, c in pixels)  # around every pixel of the area
        assert not _inside(s, r0 - 1, c0) and not _inside(s, r1, c1)  # and no further
        assert s.outline[:, 0].min() > r0 - 0.5 and s.outline[:, 0].max() < r1 - 0.5
    assert len(hot_spots(heat, most=1)) == 1
    assert len(hot_spots(heat, share=0.4)) == 3


def test_hot_spots_of_a_cold_map_and_bad_arguments() -> None:
    assert hot_spots(np.zeros((5, 5), np.float32)) == []
    assert hot_spots(np.full((5, 5), np.nan, np.float32)) == []
    with pytest.raises(ValueError, match="2-D"):
        hot_spots(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="share must be in"):
        hot_spots(np.ones((2, 2)), share=0.0)
    with pytest.raises(ValueError, match="most must be at least 1"):
        hot_spots(np.ones((2, 2)), most=0)


def test_a_few_pixel_explanation_keeps_its_spot_on_the_overview_grid() -> None:
    """The demo model's Grad-CAM: a few pixels on a calcification (0.6% of the breast or
    less) in a 1024x832 map, shrunk to the viewer's 256x208 grid: one spot, where it is."""
    heat = np.zeros((1024, 832), np.float32)
    heat[600:603, 401:403] = 1.0
    heat[100, 700] = 0.3  # a weak one elsewhere
    grid = resize_map(heat, (256, 208))
    (spot,) = hot_spots(grid)
    r, c = spot.centre
    assert abs((r + 0.5) * 4 - 601.5) <= 4 and abs((c + 0.5) * 4 - 402) <= 4


def test_draw_hot_spots_rings_a_small_spot_and_outlines_a_large_one() -> None:
    """A spot smaller than the ring gets the ring, in its peak's colour on the scale, over
    a black edge; a large one its outline; the picture given is left as it was."""
    rgb = np.full((100, 100, 3), 128, np.uint8)
    heat = np.zeros((100, 100), np.float32)
    heat[20, 20] = 1.0
    heat[60:90, 50:90] = 0.6
    spots = hot_spots(heat, share=0.5, most=5)
    out = draw_hot_spots(rgb, spots, "jet", min_radius=10)
    assert (rgb == 128).all()
    top = tuple(colorize(np.array([[1.0]], np.float32), "jet")[0, 0])
    mid = tuple(colorize(np.array([[0.6]], np.float32), "jet")[0, 0])
    assert tuple(out[20, 30]) == top and tuple(out[20, 10]) == top  # ring of radius 10
    assert tuple(out[20, 20]) == (128, 128, 128)  # the spot itself not covered
    assert tuple(out[75, 50]) == mid and tuple(out[60, 70]) == mid  # the large one's outline
    assert tuple(out[75, 70]) == (128, 128, 128)
    assert (draw_hot_spots(rgb, [], "jet") == rgb).all()


def _contrast(a, b) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (an independent 6-line version)."""

    def lum(c):
        c = np.asarray(c, float) / 255
        c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.mark.parametrize("cmap", ["jet", "inferno"])
def test_a_dark_ring_has_a_light_edge_and_a_light_ring_a_dark_one(cmap) -> None:
    """Rings were drawn over a black edge whatever their colour: inferno's low end (and
    jet's dark blue and dark red) vanished into it. The edge is black or white, whichever
    contrasts more with the ring (at least 4.5:1 at every level of every map)."""
    rgb = np.full((60, 60, 3), 128, np.uint8)
    for peak in np.linspace(0.02, 1.0, 50):
        heat = np.zeros((60, 60), np.float32)
        heat[30, 30] = peak
        spots = hot_spots(heat)
        spots = [type(spots[0])(float(peak), spots[0].outline, spots[0].box)]
        out = draw_hot_spots(rgb, spots, cmap, min_radius=10, width=2)
        ring = tuple(int(v) for v in colorize(np.array([[peak]], np.float32), cmap)[0, 0])
        assert tuple(out[30, 40]) == ring
        edge = tuple(int(v) for v in out[30, 43])  # just outside the ring: its edge
        assert edge in ((0, 0, 0), (255, 255, 255)) and _contrast(ring, edge) >= 4.5, (
            peak,
            ring,
            edge,
        )


def test_rings_are_labelled_under_them_and_two_labels_never_overlap() -> None:
    """A ring's colour alone does not say its level in a grey print: each ring has its
    label (white on a black edge) under it; a second ring on the same cluster puts its
    label where the first one's is not (the report printed "100%" over "77%")."""
    rgb = np.full((120, 120, 3), 128, np.uint8)
    heat = np.zeros((120, 120), np.float32)
    heat[50, 50], heat[52, 58] = 1.0, 0.77
    spots = hot_spots(heat, share=0.5)
    assert len(spots) == 2
    plain = draw_hot_spots(rgb, spots, "inferno", min_radius=10)
    kw = {"min_radius": 10, "font_scale": 0.8}
    one = draw_hot_spots(rgb, spots[:1], "inferno", labels=["100%"], **kw)
    both = draw_hot_spots(rgb, spots, "inferno", labels=["100%", "77%"], **kw)
    text = (one == 255).all(axis=2) & ~(plain[..., :1] == 255).all(axis=2)
    rows = np.flatnonzero(text.any(axis=1))
    assert rows.size and rows.min() > 50 + 10  # under the ring
    assert (one[rows.min() - 3 : rows.max() + 3] == 0).all(axis=2).any()  # its black edge
    second = (both == 255).all(axis=2) & ~(one == 255).all(axis=2)
    assert second.sum() > 10  # the 77% label is drawn...
    assert (both[text] == 255).all()  # ...and the 100% one is whole under it
    assert (draw_hot_spots(rgb, spots, "inferno", min_radius=10, labels=None) == plain).all()


def _ends(cmap: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    ramp = colorize(np.array([[0.0, 1.0]], np.float32), cmap)[0]
    return tuple(int(v) for v in ramp[0]), tuple(int(v) for v in ramp[1])


def bar_rows(strip: np.ndarray, cmap: str) -> list[int]:
    """The rows of ``strip`` where the colour map runs from its 0 colour (left) to its 1
    colour (right), each end seen exactly, and the colours in between in the map's order."""
    low, high = _ends(cmap)
    rows = []
    for y, row in enumerate(strip):
        at_low = np.flatnonzero((row == low).all(axis=1))
        at_high = np.flatnonzero((row == high).all(axis=1))
        if at_low.size and at_high.size and at_low.max() < at_high.min():
            rows.append(y)
    return rows


def test_colour_bar_of_a_narrow_picture_keeps_its_bar() -> None:
    """`predict` on a 50 px wide image stopped with "could not broadcast input array from
    shape (1,2,3) into shape (13,0,3)": its labels' half-width put the bar past the edge."""
    ticks = [(0.0, "0.00"), (0.5, "threshold 0.50"), (1.0, "1.00")]
    for width in (2, 10, 30, 49):
        strip = colour_bar(width, "jet", ticks, "P(calcification)")
        assert strip.shape[1] == width
        assert (strip != 32).any(axis=2)[1:].any(), width  # something drawn below the edge


@pytest.mark.parametrize("cmap", ["jet", "viridis"])
def test_colour_bar_runs_the_colour_map_from_0_at_left_to_1_at_right(cmap) -> None:
    """The strip under a CLI picture: the map's colours unblended, 0 at the left end and 1
    at the right, ticks under the bar and the text in white, one width with the picture."""
    strip = colour_bar(120, cmap, [(0.0, "0"), (0.5, "0.5"), (1.0, "1")], "P(calc)", ["a note"])
    assert strip.shape[1] == 120 and strip.dtype == np.uint8
    rows = bar_rows(strip, cmap)
    assert len(rows) >= 4  # the bar is a band, not a line
    y = rows[len(rows) // 2]
    band = strip[y]
    inside = np.flatnonzero((band != 32).any(axis=1))
    ramp = colorize(np.linspace(0, 1, inside.size, dtype=np.float32)[None, :], cmap)[0]
    np.testing.assert_array_equal(band[inside], ramp)  # every colour, in order
    above, below = strip[: rows[0]], strip[rows[-1] + 1 :]
    assert (above > 180).all(axis=2).any() and (below > 180).all(axis=2).any()  # title, ticks
    assert (
        colour_bar(120, cmap, [], "t", ["x " * 60]).shape[0]
        > colour_bar(120, cmap, [], "t").shape[0]
    )
    with pytest.raises(ValueError, match=r"\[0, 1\], got \[1.5\]"):
        colour_bar(120, cmap, [(1.5, "x")], "t")
    assert text_scale(832) > text_scale(208) == 0.4  # text grows with the picture


def test_box_labels_are_drawn_over_every_box_on_a_black_edge() -> None:
    """Region numbers on a CLI picture: each label above its box's corner, on a black edge
    that reads on bright tissue, never crossed by a later box (each box's label was drawn
    with it, so the next box's edge ran over it)."""
    gray = np.full((70, 70, 3), 200, np.uint8)
    first = (50, 65, 5, 30)  # label "1" above it, rows ~38-47 from col 5
    crossing = (2, 44, 10, 60)  # its left edge (col 10) runs down through that label
    kw = {"font_scale": 0.8, "edge": True}
    alone = draw_boxes(gray, [first], (255, 255, 255), ["1"], **kw)
    both = draw_boxes(gray, [first, crossing], (255, 255, 255), ["1", "2"], **kw)
    glyph = (alone == 255).all(axis=2)
    glyph[first[0] - 1 :] = False  # the label, not the box
    assert glyph[:, 8:13].any()  # the label meets the crossing edge
    assert (both[glyph] == 255).all()  # every pixel of "1" still there
    label = both[30 : first[0], 3:25]
    assert (label == 0).all(axis=2).any()  # its black edge
    assert (gray == 200).all()
    plain = draw_boxes(gray, [first], labels=["1"])
    assert not (plain == 0).all(axis=2).any()  # no edge unless asked


def test_draw_hot_spots_width() -> None:
    rgb = np.full((80, 80, 3), 128, np.uint8)
    heat = np.zeros((80, 80), np.float32)
    heat[40, 40] = 1.0
    top = np.array(_ends("jet")[1])
    thin = (draw_hot_spots(rgb, hot_spots(heat), min_radius=20) == top).all(axis=2).sum()
    thick = (draw_hot_spots(rgb, hot_spots(heat), min_radius=20, width=5) == top).all(axis=2)
    assert thick.sum() > 2 * thin and thick[40, 60] and thick[40, 20]


@pytest.mark.parametrize("seed", range(6))
def test_hot_spots_match_an_independent_labelling(seed) -> None:
    """:func:`hot_spots` (labelled within the hot pixels' bounding box, peaks over those
    pixels alone) against scipy's labelling of the whole map: same areas, peaks, boxes and
    outlines, on maps whose spots touch the edges too."""
    rng = np.random.default_rng(seed)
    heat = np.where(rng.random((40, 30)) > 0.97, rng.random((40, 30)), 0.0).astype(np.float32)
    heat[0, rng.integers(30)] = 0.8  # on the top edge
    heat[rng.integers(40), -1] = 0.9  # on the right edge
    heat[5, 5] = np.nan
    h = np.nan_to_num(heat)
    labels, n = ndimage.label(h >= 0.5 * h.max(), structure=np.ones((3, 3)))
    peaks = ndimage.maximum(h, labels, np.arange(1, n + 1))
    order = np.argsort(-np.asarray(peaks), kind="stable")[:4]
    expected = []
    for k in order:
        rows, cols = np.nonzero(labels == k + 1)
        box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
        expected.append((float(peaks[k]), tuple(int(v) for v in box)))
    spots = hot_spots(heat, share=0.5, most=4)
    assert [s.box for s in spots] == [box for _, box in expected]
    assert [s.peak for s in spots] == pytest.approx([peak for peak, _ in expected])
    for s in spots:  # each outline runs around its own area's pixels, 1/8 px inside
        r0, r1, c0, c1 = s.box
        ends = [s.outline[:, 0].min(), s.outline[:, 0].max()]
        ends += [s.outline[:, 1].min(), s.outline[:, 1].max()]
        assert ends == pytest.approx([r0 - 0.375, r1 - 0.625, c0 - 0.375, c1 - 0.625])


@pytest.mark.parametrize(("flipped", "cols"), [(False, (0, 10)), (True, (30, 40))])
def test_boxed_preview_draws_a_file_box_where_the_preview_shows_it(flipped, cols) -> None:
    """Audit's thumbnail: a region's box (file orientation, full resolution) scaled to the
    preview, mirrored with it when the view is flipped; the view's preview left as it is."""
    from mcalc.present.map_display import boxed_preview

    view = ImageView(
        "k", np.zeros((50, 40, 3), np.uint8), (500, 400), 0.1, flipped, (0, 1), False,
        (0.1, 0.1), "R", False,
    )  # fmt: skip
    out = boxed_preview(view, [("1", (100, 200, 0, 100))])
    white = out.min(axis=2) == 255
    c0, c1 = cols
    assert white[10, c0 + 8] and white[19, c0 + 5] and white[15, c0] and white[15, c1 - 1]
    assert not white[:, 40 - c1 : 40 - c0].any()  # nothing where the other orientation puts it
    assert not view.preview.any()
