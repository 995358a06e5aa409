"""mcalc.present.reading_overlays: Predict's layers for the reading viewer (maps sent as
uint8 at their own grid, regions and detections in the panel's grid) and the outlines of
mcalc.present.reading."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from mcalc.explain.overlay import colorize
from mcalc.explain.scoring import DecisionThreshold, Region
from mcalc.models.detection import Detection
from mcalc.present.reading import outlines_from_panel, panel_outlines
from mcalc.present.reading_overlays import (
    colour_lut,
    decode_map,
    map_layer,
    map_shape,
    map_spots,
    overlay_grids,
    plain_number,
    predict_layers,
    quantise_map,
    region_of_event,
)
from mcalc.store.marks import ImageMarks
from tests.viewer_fixtures import tiny_view


def test_quantise_map_rounds_clips_and_refuses_non_2d():
    q = quantise_map(np.array([[-1.0, np.nan], [0.2, 1.5]], np.float32))
    assert q.dtype == np.uint8 and q.tolist() == [[0, 0], [51, 255]]
    with pytest.raises(ValueError, match="2-D"):
        quantise_map(np.zeros((2, 2, 1)))


@pytest.mark.parametrize(
    "shape, side, expected", [((1000, 800), 256, (256, 205)), ((30, 20), 256, (30, 20))]
)
def test_map_shape_shrinks_never_enlarges(shape, side, expected):
    assert map_shape(shape, side) == expected


@pytest.mark.parametrize("flipped", [False, True])
def test_map_layer_is_small_mirrored_like_the_panel_with_its_raw_range(flipped):
    view = tiny_view(flipped)
    heat = np.zeros((400, 320), np.float32)
    heat[:, :160] = 1.0  # the file's left half is hot
    layer = map_layer(
        heat, view, name="explanation", title="gradcam", vmax=0.25, relative=True, max_side=40
    )
    grid = decode_map(layer)
    assert grid.shape == (40, 32) == (layer["rows"], layer["cols"])
    hot_left = grid[:, :16].mean() > 250 and grid[:, 16:].mean() < 5
    assert hot_left != flipped  # mirrored with the image
    assert layer["range"] == [0.0, 0.25] and (layer["lo"], layer["hi"]) == (0.0, 0.25)
    assert len(base64.b64decode(layer["data"])) == 40 * 32  # one byte a cell


@pytest.mark.parametrize("flipped", [False, True])
def test_an_explanation_layer_names_its_hot_spots_where_the_panel_shows_them(flipped):
    """An explanation a few pixels across, invisible at the full-image zoom, comes with
    its hot spot (peak and outline in the mirrored grid's cells) and words for it in the
    legend; a probability map with none."""
    view = tiny_view(flipped)
    heat = np.zeros((400, 320), np.float32)
    heat[100:102, 40:42] = 0.5  # the file's left: one explanation a few pixels across
    kw = {"title": "gradcam", "vmax": 0.25, "max_side": 40}
    layer = map_layer(heat, view, name="explanation", relative=True, **kw)
    (spot,) = layer["spots"]
    assert spot["peak"] == 128
    rows, cols = np.array(spot["outline"]).T
    assert 9.5 < rows.min() < rows.max() < 10.5  # cell 10 of 40: 100/400 of the rows
    cell = 27 if flipped else 4  # 40-41 of 320 columns: cell 4 of 32, mirrored 27
    assert cell - 0.5 < cols.min() < cols.max() < cell + 0.5
    assert layer["spots"] == map_spots(decode_map(layer))
    assert "ring" in layer["scale"]["note"]
    # The legend says what the ring and what its label are: a spot labelled 44% read as
    # contradicting "≥ 50% of own peak", and as a region's score.
    assert layer["scale"]["spots"] == (
        "◎ ring: ≥ 50% of its own peak; label: its peak, % of scale top"
    )
    prob = map_layer(heat, view, name="probability", relative=False, **kw)
    assert prob["spots"] == [] and prob["scale"]["spots"] == ""


@pytest.mark.parametrize("flipped", [False, True])
def test_a_layer_from_grids_made_ahead_is_the_layer_made_at_once(flipped):
    """Predict makes each map's grid once, in the analysis' thread (overlay_grids, kept on
    the OverlayMaps): a layer from it is the layer map_layer makes from the map itself."""
    from mcalc.explain.service import OverlayMaps

    view = tiny_view(flipped)
    rng = np.random.default_rng(3)
    maps = [rng.random((400, 320)).astype(np.float32) * 0.8 for _ in range(2)]
    overlay = OverlayMaps(maps, 0.5, "gradcam", True)
    grids = overlay_grids(overlay, 40)
    assert overlay_grids(overlay, 40) is grids  # made once per maps and size
    assert overlay_grids(overlay, 20) is not grids and len(grids) == 2
    assert not grids[0][0].flags.writeable
    for heat, grid in zip(maps, grids, strict=True):
        args = {"name": "explanation", "title": "t", "vmax": 0.5, "relative": True}
        assert map_layer(heat, view, max_side=40, grid=grid, **args) == map_layer(
            heat, view, max_side=40, **args
        )
    assert overlay == OverlayMaps(maps, 0.5, "gradcam", True)  # what was made: not compared


def test_an_explanations_legend_says_it_is_relative_to_its_max_in_words():
    """The viewer's legend read "0.00 [bar] 1.7e-3 (1.0)" for a Grad-CAM: what 1.7e-3 and
    1.0 were was left to guess. It now says the colours are relative to the map's maximum
    over the case and gives that maximum as a plain number."""
    heat = np.zeros((40, 32), np.float32)
    heat[:10] = 0.5  # this image reaches half the case's maximum
    layer = map_layer(
        heat, tiny_view(False), name="explanation", title="gradcam", vmax=0.0017, relative=True
    )
    scale = layer["scale"]
    assert (scale["low"], scale["high"]) == ("0", "max (0.0017)")
    assert scale["label"] == "gradcam, relative to its max"
    assert "largest value over this case's images (0.0017" in scale["note"]
    assert "reaches 50% of that maximum" in scale["note"]
    assert not any("e-" in text or "(1.0)" in text for text in scale.values()), scale


def test_a_probability_legend_gives_its_range_plainly():
    heat = np.full((40, 32), 0.25, np.float32)
    layer = map_layer(
        heat, tiny_view(False), name="probability", title="P(calc)", vmax=1.0, relative=False
    )
    assert layer["scale"] == {
        "label": "P(calc)",
        "low": "0",
        "high": "1",
        "note": "P(calc): colour scale 0 to 1; this image's map spans 0.25 to 0.25.",
        "spots": "",
    }


def test_plain_number_keeps_two_digits_without_an_exponent():
    cases = {0.0017: "0.0017", 0.00171234: "0.0017", 1.0: "1", 12.345: "12", 0.0: "0"}
    assert {v: plain_number(v) for v in cases} == cases
    assert plain_number(3.2e-8) == "3.2e-08"  # below a millionth: the exponent is shorter


def test_colour_lut_is_the_classic_figures_colours():
    lut = np.frombuffer(base64.b64decode(colour_lut("viridis")), np.uint8).reshape(256, 3)
    oracle = colorize(np.array([[0.0, 1.0]], np.float32), "viridis")[0]
    assert (lut[0] == oracle[0]).all() and (lut[255] == oracle[1]).all()
    with pytest.raises(ValueError, match="colour map"):
        colour_lut("rainbow-nope")


@pytest.mark.parametrize("flipped", [False, True])
def test_regions_and_detections_land_in_the_panel_grid(flipped):
    view = tiny_view(flipped)  # 100x80 file, panel grid at 0.5
    region = Region(1, 0.9, (20, 30), (10, 20, 0, 16), (20, 0), {"calcification": 0.9})
    dets = [Detection(row=40, col=20, score=0.8, size_mm=0.5)]  # model input = native x 2
    layers = predict_layers(view, "k/CC_recent", [], [region], 2.0, dets)
    box = layers["regions"][0]
    r0, r1, c0, c1 = view.display_box((10, 20, 0, 16))
    assert box["box"] == [r0 * 0.5, r1 * 0.5, c0 * 0.5, c1 * 0.5]
    assert (box["image"], box["rank"]) == ("k/CC_recent", 1)
    det = layers["detections"][0]
    dr, dc = view.to_display(20, 10)
    assert (det["row"], det["col"]) == pytest.approx((dr * 0.5, dc * 0.5))
    assert det["detection"] == 1
    assert predict_layers(view, "k", [], [], 2.0, None)["detections"] is None


def test_each_region_and_detection_says_whether_the_model_calls_it():
    """A region or detection threshold lowered under the model's operating threshold lists
    some the model does not call: each box and marker carries ``called`` (score at or above
    the threshold, the threshold itself included), which the viewer draws dashed and dimmed
    when false, and the layers carry the legend's words naming the threshold."""
    view = tiny_view(False)
    t = DecisionThreshold(0.921513, "Youden's J")
    scores = [0.95, 0.921513, 0.6]
    regions = [
        Region(k, s, (20, 30), (10, 20, 0, 16), (20, 0), {"calcification": s})
        for k, s in enumerate(scores, start=1)
    ]
    dets = [Detection(row=40, col=20 + 4 * k, score=s, size_mm=0.5) for k, s in enumerate(scores)]
    layers = predict_layers(view, "k", [], regions, 2.0, dets, t)
    assert [r["called"] for r in layers["regions"]] == [True, True, False]
    assert [d["called"] for d in layers["detections"]] == [True, True, False]
    assert "below 0.9215" in layers["below"]["label"]
    assert "(0.9215)" in layers["below"]["note"]
    # Without a threshold (a caller that has none), no flag: nothing is drawn muted.
    bare = predict_layers(view, "k", [], regions, 2.0, dets)
    assert "called" not in bare["regions"][0] and "below" not in bare


@pytest.mark.parametrize("flipped", [False, True])
def test_outlines_go_to_the_panel_and_back_to_file_coordinates(flipped):
    view = tiny_view(flipped)
    marks = ImageMarks("k/CC_recent", "ann", image_shape=(100, 80)).add_region(
        "cluster", [(10, 10), (10, 30), (30, 30)], "benign", mark_id="c1"
    )
    sent = panel_outlines(view, marks)
    assert sent[0]["id"] == "c1" and sent[0]["kind"] == "cluster"
    sent.append({"id": "new-9", "kind": "roi", "label": "uncertain", "points": [[1, 1]] * 3})
    (mid, kind, poly, label), (new, *_rest) = outlines_from_panel(view, sent)
    assert (mid, kind, label, new) == ("c1", "cluster", "benign", None)
    assert np.allclose(poly, [(10, 10), (10, 30), (30, 30)])
    with pytest.raises(ValueError, match="points"):
        outlines_from_panel(view, [{"kind": "roi", "label": "benign"}])


def test_region_of_event_names_the_region_or_the_one_holding_a_detection():
    small = Region(2, 0.5, (15, 15), (10, 20, 10, 20), (20, 20), {})
    large = Region(1, 0.9, (15, 15), (0, 40, 0, 40), (0, 0), {})
    regions = {"k": [large, small]}
    dets = {"k": (2.0, [Detection(30, 30, 0.8, 0.5), Detection(150, 150, 0.7, 0.5)])}
    assert region_of_event({"image": "k", "rank": 2}, regions, dets) == ("k", 2)
    assert region_of_event({"image": "k", "rank": 9}, regions, dets) is None
    assert region_of_event({"image": "k", "detection": 1}, regions, dets) == ("k", 2)
    assert region_of_event({"image": "k", "detection": 2}, regions, dets) is None
    with pytest.raises(ValueError, match="shown"):
        region_of_event({"image": "other", "rank": 1}, regions, dets)
    with pytest.raises(ValueError, match="rank"):
        region_of_event({"image": "k"}, regions, dets)


@pytest.mark.parametrize("flipped", [False, True])
def test_panel_pixels_are_the_panels_values_lossless_named_by_what_made_them(
    tiny_demo, tmp_path, flipped
):
    """Predict's binary pixels: what reading_panel would send as text, decoded from the
    payload; the id names the image, its size and orientation (a flip is a new id)."""
    from dataclasses import replace

    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.present.fullres import decode_fullres
    from mcalc.present.reading import reading_panel
    from mcalc.present.reading_overlays import panel_pixels, pixel_payload
    from mcalc.viewer import DisplayOptions, prepare_view

    cache = ImageCache(tmp_path / "cache")
    recs = [open_dataset(tiny_demo).cases[0].image("CC", tp) for tp in ("prior", "recent")]
    views = [
        replace(v, flipped=v.flipped != flipped)
        for v in (prepare_view(cache, r, DisplayOptions(), max_side=96) for r in recs)
    ]
    items = [panel_pixels(cache, r, v, 96) for r, v in zip(recs, views, strict=True)]
    index, data = pixel_payload(items)
    assert [e["id"] for e in index] == [i[0] for i in items]
    for rec, view, e in zip(recs, views, index, strict=True):
        panel = reading_panel(cache, rec, view, label="x", view_name="CC", time="t", max_side=96)
        got = decode_fullres(data[e["offset"] : e["offset"] + e["length"]], e["rows"], e["cols"])
        assert got.tobytes() == base64.b64decode(panel["pixels"])
        assert e["id"].startswith(f"{rec.key}:{panel['rows']}x{panel['cols']}:")
        other = replace(view, flipped=not view.flipped)
        assert panel_pixels(cache, rec, other, 96)[0] != e["id"]


def test_pixels_warmed_ahead_are_the_pages_and_an_unreadable_image_is_skipped(
    tiny_demo, tmp_path, monkeypatch
) -> None:
    """warm_pixels makes the very bytes the page's panel_pixels then finds (no encoding
    left for the page's run); an image that cannot be read is skipped, not raised."""
    from dataclasses import replace

    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.present import pixels
    from mcalc.present.reading_overlays import panel_pixels, warm_pixels
    from mcalc.viewer import DisplayOptions, prepare_view

    cache = ImageCache(tmp_path / "cache")
    case = open_dataset(tiny_demo).cases[0]
    recs = [case.image("CC", tp) for tp in ("prior", "recent")]
    (tmp_path / "broken.png").write_bytes(b"not an image")
    broken = replace(recs[0], image_path=tmp_path / "broken.png")
    missing = replace(recs[0], image_path=tmp_path / "missing.png")
    assert warm_pixels(cache, [*recs, broken, missing], 96, case.laterality) == 2

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded again")

    monkeypatch.setattr(pixels, "encode_fullres", no_encoding)
    for rec in recs:  # as the page hangs them (its annotation display off)
        opts = DisplayOptions(show_annotations=False)
        view = prepare_view(cache, rec, opts, max_side=96, laterality=case.laterality)
        assert panel_pixels(cache, rec, view, 96)[1]


def test_the_layers_say_whether_the_model_calls_the_image():
    """The viewer ringed an explanation's hot spots on an image read negative (demo normal-4
    with demo-custom) like findings: the layers say whether the model calls the image (its
    map score at or above the operating threshold), for the browser to draw its rings
    dashed and grey, and the legend's words for them."""
    view = tiny_view(False)
    t = DecisionThreshold(0.921513, "Youden's J")
    for score, calls in ((0.734, False), (0.921513, True)):
        layers = predict_layers(view, "k", [], [], 2.0, None, t, score=score)
        assert layers["called"] is calls
    assert "dashed grey rings" in layers["below"]["rings"]
    assert "0.9215" in layers["below"]["rings"]
    assert "called" not in predict_layers(view, "k", [], [], 2.0, None, t)
