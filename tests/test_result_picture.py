"""mcalc.present.result_picture: a result as one picture (map, rings, numbered regions,
colour bar and key), the CLI's and a verdict's."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.explain.overlay import STRIP_GRAY, colorize, colour_bar
from mcalc.present.result_picture import (
    APP_NUMBERING,
    LEGEND_MIN_PX,
    Legend,
    key_lines,
    peak_label,
    result_picture,
    ringed_result_picture,
)
from tests.test_explain_display import bar_rows


def _result(heat_shape=(90, 70), regions=((30, 60, 10, 40, 1),), marks=None):
    """The parts of an ImageAnalysis a picture reads: a gray image, its regions (at the
    model-input size: factor 1) and marks."""
    from types import SimpleNamespace

    return SimpleNamespace(
        unit=np.full(heat_shape, 0.5, np.float32),
        marks=marks,
        pmap=SimpleNamespace(factor=1.0),
        regions=[
            SimpleNamespace(box=b[:4], rank=b[4], score=b[5] if len(b) > 5 else 1.0)
            for b in regions
        ],
    )


def test_a_picture_rings_its_hot_spots_numbers_its_regions_and_has_a_colour_bar() -> None:
    """A user check: on a full mammogram the CLI's Grad-CAM was a few coloured pixels with no
    scale. Now its hot spots are ringed in their peak's colour, each top region boxed and
    numbered (its rank, as in scores.json), and a colour bar (0 left, 1 right) is under
    the image, whose pixels stay the picture's first rows."""
    heat = np.zeros((90, 70), np.float32)
    heat[20, 55] = 1.0  # a one-pixel explanation, outside the region
    legend = Legend("P(calcification)", [(0.0, "0"), (1.0, "1")], ["Map score 1.000."], False)
    pic = result_picture(_result(), heat, 0.6, "jet", legend=legend, min_region_score=0.5)
    # Narrower than the key's least width: widened on the right (test below).
    assert pic.shape[1:] == (LEGEND_MIN_PX, 3) and pic.shape[0] > 90
    top = tuple(int(v) for v in colorize(np.array([[1.0]], np.float32), "jet")[0, 0])
    ring = [tuple(pic[20, 55 + 8]), tuple(pic[20, 55 - 8]), tuple(pic[20 + 8, 55])]
    assert ring == [top] * 3  # the smallest ring (8 px) in the peak's colour
    label = pic[18:30, 10:20]  # "1" above the region's top-left corner, on a black edge
    assert (label > 240).all(axis=2).any() and (label == 0).all(axis=2).any()
    assert tuple(pic[45, 10]) == (255, 255, 255)  # the box's left side
    np.testing.assert_array_equal(pic[38:52, 18:32], 128)  # inside: the image, untouched
    assert bar_rows(pic[90:], "jet")
    assert not bar_rows(pic[:90], "jet")


def test_a_region_below_the_operating_threshold_is_boxed_dashed_and_named_so() -> None:
    """A region threshold lowered under the model's decision threshold lists regions the
    model does not call (the case report, a verdict's picture, ``predict --threshold``):
    they were boxed solid white like the others. Now dashed (apart in a grey print too),
    and the key names them."""
    regions = ((10, 40, 5, 30, 1, 0.95), (50, 85, 35, 65, 2, 0.6))
    legend = Legend("P", [(0.0, "0"), (1.0, "1")], [], False)
    heat = np.zeros((90, 70), np.float32)
    pic = ringed_result_picture(
        _result(regions=regions),
        heat,
        0.6,
        "jet",
        legend=legend,
        min_region_score=0.5,
        operating=0.921513,
    ).rgb
    white = (pic == 255).all(axis=2)
    assert white[15:38, 5].all()  # region 1 (0.95): a solid left side
    side = white[55:83, 35]  # region 2 (0.6): dashes and gaps
    assert side.any() and not side.all()
    lines = key_lines(
        legend, _result(regions=regions).regions, [], 0.5, marked=False, operating=0.921513
    )
    assert "Dashed box 2: below the model's operating threshold (0.9215)" in lines[0]


def test_a_pictures_key_says_what_its_scale_boxes_and_rings_are() -> None:
    """The lines under the colour bar (ASCII: OpenCV's font has no other glyph)."""
    from mcalc.explain.overlay import hot_spots

    heat = np.zeros((20, 20), np.float32)
    heat[5, 5] = 0.4
    spots = hot_spots(heat)
    regions = _result(regions=((0, 4, 0, 4, 1), (6, 10, 0, 4, 2))).regions
    proba = Legend("P", [], ["Map score 0.400."], relative=False)
    lines = key_lines(proba, regions, spots, 0.5, marked=True)
    assert lines[0] == "Map score 0.400."
    assert lines[1].startswith("White boxes 1-2: the top regions") and "scores.json" in lines[1]
    # The app's pictures (a verdict's) name where its numbers are on screen.
    app = key_lines(proba, regions, spots, 0.5, marked=True, numbered_as=APP_NUMBERING)
    assert app[1].endswith("numbered as in the viewer and the regions table.")
    assert "(0.40)" in lines[2] and lines[2].endswith("1 here.")
    assert lines[3].startswith("Cyan outlines")
    cam = Legend("Grad-CAM", [], [], relative=True)
    lines = key_lines(cam, [], spots, 0.5, marked=False)
    assert (
        lines
        == [
            "No top region: none scores 0.50 or more.",
            lines[1],
        ]
        and "(40% of the scale's top)" in lines[1]
    )
    assert key_lines(cam, [], [], 0.5, marked=False)[-1] == "No ring: this map is 0 everywhere."
    assert all(line.isascii() for line in lines)
    gated = Legend("P", [], [], relative=False, ring_from=0.42)
    assert key_lines(gated, [], [], 0.5, marked=False)[-1] == (
        "No ring: no spot reaches the decision threshold (0.42)."
    )
    assert (
        "and at least the decision threshold (0.42)"
        in key_lines(gated, [], spots, 0.5, marked=False)[-1]
    )


def test_a_probability_pictures_rings_are_spots_at_the_decision_threshold() -> None:
    """A negative image's probability PNG ringed its faint spots (peak 0.38 under a 0.5
    threshold) as the explanation's are: a reader could take them for findings. Spots of a
    probability map are ringed from the decision threshold on; an explanation's all."""
    heat = np.zeros((90, 70), np.float32)
    heat[20, 55] = 0.38
    heat[60, 15] = 0.3
    for ring_from, ringed in ((0.5, [False, False]), (0.35, [True, False]), (0.0, [True, True])):
        legend = Legend("P", [(0.0, "0"), (1.0, "1")], [], False, ring_from=ring_from)
        pic = result_picture(
            _result(regions=()), heat, 0.6, "jet", legend=legend, min_region_score=0.5
        )
        near = [pic[20, 55 + 8], pic[60, 15 + 8]]  # 8 px right of each spot: the ring
        assert [not np.array_equal(p, pic[5, 5]) for p in near] == ringed
        # The spots it gives with the picture (what the case report counts) are those ringed.
        both = ringed_result_picture(
            _result(regions=()), heat, 0.6, "jet", legend=legend, min_region_score=0.5
        )
        np.testing.assert_array_equal(both.rgb, pic)
        assert [s.peak for s in both.spots] == pytest.approx([0.38, 0.3][: sum(ringed)])


def test_a_pictures_rings_carry_their_peak_in_words() -> None:
    """The colour of a ring on the scale is its only level: in a grey print jet's 11% and
    100% looked alike. Each ring is labelled: a probability's value, an explanation's
    share of the scale's top."""
    heat = np.zeros((90, 70), np.float32)
    heat[20, 35] = 0.8
    for relative, words in ((False, "0.80"), (True, "80%")):
        legend = Legend("P", [(0.0, "0"), (1.0, "1")], [], relative)
        pic = result_picture(
            _result(regions=()), heat, 0.6, "inferno", legend=legend, min_region_score=0.5
        )[:90]
        white = (pic == 255).all(axis=2)
        assert white[20 + 8 + 2 :].any() and not white[: 20 + 8].any()  # the label, under the ring
        assert words in key_lines(legend, [], _spots(heat), 0.5, marked=False)[-1] or relative
    assert peak_label(Legend("", [], [], True), 0.349) == "35%"
    assert peak_label(Legend("", [], [], False), 0.349) == "0.35"


def _spots(heat):
    from mcalc.explain.overlay import hot_spots

    return hot_spots(heat)


def test_a_narrow_pictures_key_is_as_wide_as_it_needs_to_read() -> None:
    """A 50 px wide result's key wrapped one word a line (806 px of strip under a 120 px
    tall image, its title cut to "P(calcifi"): the picture is widened on the right to
    LEGEND_MIN_PX in the strip's gray, its own pixels untouched, and the key below is the
    one a picture that wide has."""
    legend = Legend(
        "P(calcification)",
        [(0.0, "0.00"), (0.5, "threshold 0.50"), (1.0, "1.00")],
        ["Map score 0.900: highest value of the dense probability map in the breast."],
        False,
        ring_from=0.5,
    )
    heat = np.zeros((120, 50), np.float32)
    heat[40, 25] = 0.9
    result = _result((120, 50), regions=((10, 50, 5, 30, 1),))
    both = ringed_result_picture(result, heat, 0.6, "jet", legend=legend, min_region_score=0.5)
    pic = both.rgb
    assert pic.shape[1] == LEGEND_MIN_PX, pic.shape
    assert (pic[:120, 50:] == STRIP_GRAY).all()  # the widening, in the strip's gray
    lines = key_lines(legend, result.regions, both.spots, 0.5, marked=False)
    strip = colour_bar(LEGEND_MIN_PX, "jet", legend.ticks, legend.title, lines)
    np.testing.assert_array_equal(pic[120:], strip)
    assert pic.shape[0] - 120 < 300  # 806 px of key at 50 px wide
    # A picture as wide or wider keeps its width.
    wide = np.zeros((40, LEGEND_MIN_PX + 10), np.float32)
    big = result_picture(_result(wide.shape), wide, 0.6, "jet", legend=legend, min_region_score=0.5)
    assert big.shape[1] == LEGEND_MIN_PX + 10


def test_an_image_read_negative_has_its_explanation_rings_dashed_grey_and_named_so() -> None:
    """Demo normal-4 with demo-custom: all 4 images read negative at 0.9215, yet the
    Grad-CAM PNGs ringed their hot spots in the peak's colour, labelled "100%": a reader
    took them for findings. On an image the model does not call, the rings are dashed and
    grey (as the regions under the threshold) and the key says why; on one it calls they
    stay as they were."""
    from types import SimpleNamespace

    from mcalc.explain.scoring import DecisionThreshold
    from mcalc.present.result_picture import explanation_legend

    heat = np.zeros((90, 70), np.float32)
    heat[20, 35] = 1.0
    top = tuple(int(v) for v in colorize(np.array([[1.0]], np.float32), "jet")[0, 0])
    t = DecisionThreshold(0.921513, "Youden's J")
    for score, quiet in ((0.734, True), (0.95, False)):
        result = _result(regions=())
        result.score = score
        result.scores = SimpleNamespace(positive_class="calcification")
        result.cam = SimpleNamespace(
            settings=SimpleNamespace(method="gradcam"), target="calcification", layer="conv2"
        )
        legend = explanation_legend(result, heat, 1.0, 1, t)
        pic = result_picture(result, heat, 0.6, "jet", legend=legend, min_region_score=0.92)
        ring = pic[20 - 12 : 20 + 13, 35 - 12 : 35 + 13].reshape(-1, 3)
        coloured = (ring == top).all(axis=1).any()
        grey = (ring == (168, 168, 168)).all(axis=1).sum()
        assert coloured != quiet and (grey > 5) == quiet, (score, coloured, grey)
        lines = key_lines(legend, [], _spots(heat), 0.92, marked=False)
        if quiet:
            assert lines[-1].startswith("Dashed grey rings"), lines
            assert (
                "the model does not read this image as calcification (map score 0.734, below "
                "its operating threshold 0.9215), so they show where the explanation is "
                "strongest, not findings; 1 here." in lines[-1]
            ), lines
        else:
            assert lines[-1].startswith("Rings (outlines where large)"), lines
