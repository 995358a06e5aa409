"""Viewer: previews, orientation, windows, overlays and full-resolution crops."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc import imaging
from mcalc.breast import breast_mask, chest_wall_side
from mcalc.cache import ImageCache
from mcalc.dataset import open_dataset
from mcalc.viewer import DisplayOptions, crop_view, display_side, image_counts, prepare_view


@pytest.fixture
def index(tiny_demo):
    return open_dataset(tiny_demo)


@pytest.fixture
def cache(tmp_path):
    return ImageCache(tmp_path / "cache")


def _suspicious_recent(index):
    case = next(c for c in index.cases if c.group == "suspicious")
    return case, case.image("CC", "recent")


def test_preview_size_scale_and_counts(index, cache):
    case, rec = _suspicious_recent(index)
    view = prepare_view(cache, rec, DisplayOptions(), max_side=128, laterality=case.laterality)
    assert max(view.preview.shape[:2]) == 128 and view.preview.dtype == np.uint8
    assert view.full_shape == (256, 208)
    assert view.scale == pytest.approx(view.preview.shape[1] / 208)
    assert view.n_calcifications == image_counts(cache, rec)[0] > 0
    assert view.n_clusters >= 1
    assert len(view.cluster_hulls) == view.n_clusters


@pytest.mark.parametrize("laterality", ["L", "R"])
def test_orientation_puts_chest_wall_on_the_hanging_side(index, cache, laterality):
    _case, rec = _suspicious_recent(index)
    view = prepare_view(cache, rec, DisplayOptions(show_annotations=False), laterality=laterality)
    gray = view.preview[..., 0].astype(np.float32) / 255.0
    assert chest_wall_side(breast_mask(gray)) == display_side(laterality)


def test_calcification_points_follow_the_flip(index, cache):
    _case, rec = _suspicious_recent(index)
    plain = prepare_view(cache, rec, DisplayOptions(orient=False))
    flipped = prepare_view(
        cache, rec, DisplayOptions(), laterality="R" if not plain.flipped else "L"
    )
    if not flipped.flipped:
        flipped = prepare_view(cache, rec, DisplayOptions(), laterality="L")
    assert flipped.flipped
    width = plain.full_shape[1]
    np.testing.assert_allclose(flipped.calc_points[:, 1], width - 1 - plain.calc_points[:, 1])
    np.testing.assert_allclose(flipped.calc_points[:, 0], plain.calc_points[:, 0])


def test_overlay_paints_only_when_asked(index, cache):
    _, rec = _suspicious_recent(index)
    on = prepare_view(cache, rec, DisplayOptions(overlay_color="#ff0000", overlay_alpha=1.0))
    off = prepare_view(cache, rec, DisplayOptions(show_annotations=False))
    red_on = (on.preview[..., 0] > 200) & (on.preview[..., 1] < 60)
    red_off = (off.preview[..., 0] > 200) & (off.preview[..., 1] < 60)
    assert red_on.sum() > 0 and red_off.sum() == 0


@pytest.mark.parametrize("preset", ["file", "auto", "full range", "dense tissue", "fatty tissue"])
def test_presets_give_positive_windows(index, cache, preset):
    _, rec = _suspicious_recent(index)
    view = prepare_view(cache, rec, DisplayOptions(preset=preset))
    assert view.window[1] > 0


def test_manual_window_and_bad_preset(index, cache):
    _, rec = _suspicious_recent(index)
    assert prepare_view(
        cache, rec, DisplayOptions(preset="manual", center=1000, width=200)
    ).window == (
        1000,
        200,
    )
    with pytest.raises(ValueError, match="unknown window preset"):
        prepare_view(cache, rec, DisplayOptions(preset="bogus"))
    with pytest.raises(ValueError, match="manual window"):
        prepare_view(cache, rec, DisplayOptions(preset="manual", center=1000, width=0))


@pytest.mark.parametrize("flip", [False, True])
def test_crop_is_full_resolution_and_matches_the_file(index, cache, flip):
    _, rec = _suspicious_recent(index)
    opts = DisplayOptions(show_annotations=False, orient=flip)
    view = prepare_view(cache, rec, opts, laterality="R")
    if flip and not view.flipped:
        view = prepare_view(cache, rec, opts, laterality="L")
    box = (40, 104, 30, 90)
    crop, used = crop_view(cache, rec, view, opts, box)
    assert used == box and crop.shape[:2] == (64, 60)
    mammo = cache.load(rec.image_path)
    cols = slice(208 - 90, 208 - 30) if view.flipped else slice(30, 90)
    expected = imaging.to_uint8(
        imaging.window(np.asarray(mammo.pixels[40:104, cols]), *view.window)
    )
    if view.flipped:
        expected = expected[:, ::-1]
    np.testing.assert_array_equal(crop[..., 0], expected)


def test_crop_box_is_clipped_and_empty_box_refused(index, cache):
    _, rec = _suspicious_recent(index)
    view = prepare_view(cache, rec, DisplayOptions())
    _, used = crop_view(cache, rec, view, DisplayOptions(), (-50, 5000, -10, 50))
    assert used == (0, 256, 0, 50)
    with pytest.raises(ValueError, match="empty crop box"):
        crop_view(cache, rec, view, DisplayOptions(), (10, 10, 0, 50))


def test_broken_annotation_is_a_note_not_a_crash(tiny_demo, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    gt = next(p for p in copy.rglob("CC_prior_GT.jpg"))
    gt.write_bytes(b"not a jpeg")
    index = open_dataset(copy)
    rec = next(r for r in index.images() if r.annotation_path == gt)
    view = prepare_view(ImageCache(None), rec, DisplayOptions())
    assert view.n_calcifications == 0
    assert any(str(gt.name) in n for n in view.notes)


def test_file_preset_uses_the_voi_lut_and_the_cache_keeps_it(tmp_path):
    from mcalc.dataset.records import ImageRecord
    from mcalc.dicomwrite import write_dicom

    pixels = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (64, 1))  # 64 x 256 ramp
    table = (np.clip((np.arange(4096) - 1000) / 2000.0, 0, 1) ** 2) * 65535  # a curve
    path = write_dicom(tmp_path / "CC_recent.dcm", pixels, window=None, voi_lut=(0, table))
    rec = ImageRecord("c1", "CC", "recent", path)
    for cache in (ImageCache(tmp_path / "cache"), ImageCache(tmp_path / "cache")):  # 2nd: disk
        view = prepare_view(cache, rec, DisplayOptions(orient=False, show_annotations=False))
        assert view.use_lut
        expected = imaging.to_uint8(imaging.apply_voi_lut(pixels, 0, table / 65535))
        np.testing.assert_array_equal(view.preview[..., 0], expected)
    manual = prepare_view(cache, rec, DisplayOptions(preset="auto", orient=False))
    assert not manual.use_lut


def test_tissue_presets_adapt_to_the_breast(index, cache):
    _, rec = _suspicious_recent(index)
    dense = prepare_view(cache, rec, DisplayOptions(preset="dense tissue")).window
    fatty = prepare_view(cache, rec, DisplayOptions(preset="fatty tissue")).window
    auto = prepare_view(cache, rec, DisplayOptions(preset="auto")).window
    full = prepare_view(cache, rec, DisplayOptions(preset="full range")).window
    assert dense[0] > auto[0] > fatty[0]  # brighter / darker parts of this breast
    assert dense[1] < auto[1] and fatty[1] < auto[1] < full[1]
    assert full == (2047.5, 4096.0)


def test_view_mirroring_methods_are_one_geometry():
    from mcalc.viewer import ImageView

    def view(flipped: bool) -> ImageView:
        return ImageView(
            "k", np.zeros((10, 8, 3), np.uint8), (100, 80), 0.1, flipped, (0.0, 1.0), False,
            (0.1, 0.1), "R", False,
        )  # fmt: skip

    plain, flipped = view(False), view(True)
    assert plain.to_display(10, 5) == (10.0, 5.0) and flipped.to_display(10, 5) == (10.0, 74.0)
    assert flipped.to_file(*flipped.to_display(10, 5)) == (10.0, 5.0)
    pts = np.array([[10.0, 5.0], [20.0, 79.0]])
    assert flipped.points_to_display(pts).tolist() == [[10.0, 74.0], [20.0, 0.0]]
    assert pts.tolist() == [[10.0, 5.0], [20.0, 79.0]]  # input untouched
    assert flipped.display_box((0, 10, 0, 16)) == (0, 10, 64, 80)
    assert flipped.display_box(flipped.display_box((3, 9, 7, 20))) == (3, 9, 7, 20)
    assert plain.display_box((0, 10, 0, 16)) == (0, 10, 0, 16)
    img = np.arange(6).reshape(2, 3)
    assert flipped.mirror(img).tolist() == [[2, 1, 0], [5, 4, 3]]
    assert plain.mirror(img) is img
    # a box's pixels, mirrored, are the mirrored image's pixels under the display box
    big = np.arange(100 * 80).reshape(100, 80)
    r0, r1, c0, c1 = flipped.display_box((3, 9, 7, 20))
    np.testing.assert_array_equal(flipped.mirror(big[3:9, 7:20]), flipped.mirror(big)[r0:r1, c0:c1])


def test_case_counts_and_value_top(index, cache):
    from mcalc.viewer import case_counts, value_top

    counts = case_counts(cache, index)
    assert set(counts) == {c.case_id for c in index.cases}
    for case in index.cases:
        per_image = [image_counts(cache, rec) for rec in case.images]
        assert counts[case.case_id] == tuple(map(sum, zip(*per_image, strict=True)))
    suspicious = next(c for c in index.cases if c.group == "suspicious")
    assert counts[suspicious.case_id][0] > 0
    assert value_top(cache, suspicious) == 4095  # 12-bit demo DICOMs


def test_region_annotation_is_outlined_not_counted(cache, tmp_path):
    from mcalc.present.viewer_figures import pair_figure
    from mcalc.viewer import case_counts
    from tests.convert_fixtures import make_region_manifest

    regions = open_dataset(make_region_manifest(tmp_path / "regions"))
    case = regions.cases[0]
    rec = case.images[0]
    view = prepare_view(cache, rec, DisplayOptions(), max_side=128, laterality="L")
    assert view.n_calcifications == 0 and view.n_clusters == 0 and view.n_regions == 1
    assert view.annotation_caption() == "1 region"
    outline = view.region_outlines[0]
    # the outline is the disk's border: radius 30 around its centre (display orientation)
    centre = view.to_display(120, 90)
    radii = np.hypot(outline[:, 0] - centre[0], outline[:, 1] - centre[1])
    assert np.all(np.abs(radii - 30) < 2.5)
    assert image_counts(cache, rec) == (0, 0, 1)
    assert case_counts(cache, regions)[case.case_id] == (0, 0, 1)
    fig = pair_figure([view], ["recent"])
    assert [t.name for t in fig.data if t.type == "scatter"] == ["region 1"]


def test_unreadable_images_are_listed(tiny_demo, cache, tmp_path):
    import shutil

    from mcalc.viewer import case_counts, unreadable_images

    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    victim = next(copy.rglob("CC_recent.dcm"))
    victim.write_bytes(victim.read_bytes()[:2000])
    index = open_dataset(copy)
    bad = unreadable_images(cache, index)
    assert [path for _, path, _ in bad] == [str(victim)]
    assert bad[0][2]  # a reason
    assert len(case_counts(cache, index)) == len(index.cases)  # the rest still counted


def test_region_is_painted_as_its_border(cache, tmp_path):
    from tests.convert_fixtures import make_region_manifest

    rec = open_dataset(make_region_manifest(tmp_path / "regions")).cases[0].images[0]
    opts = DisplayOptions(orient=False, overlay_color="#ff0000", overlay_alpha=1.0)
    view = prepare_view(cache, rec, opts, max_side=256, laterality="L")
    red = (view.preview[..., 0] == 255) & (view.preview[..., 1] == 0)
    assert red.any() and not red[120, 90]  # the centre of the disk is not painted over
    crop, _ = crop_view(cache, rec, view, opts, (100, 140, 70, 110))
    assert not ((crop[..., 0] == 255) & (crop[..., 1] == 0))[20, 20]


def test_prefetch_decodes_a_case_once_and_skips_unreadable_files(index, tmp_path):
    from dataclasses import replace

    from mcalc.viewer import prefetch, prefetch_in_background, preview_values

    cache = ImageCache(tmp_path / "prefetch")
    recs = list(index.cases[0].images)
    broken = replace(recs[0], image_path=tmp_path / "missing.dcm")
    assert prefetch(cache, [*recs, broken], 256) == len(recs)
    cache.clear_memory()  # from the disk cache now: the decode is not done again
    assert preview_values(cache, recs[0], 256).max() > 0
    thread = prefetch_in_background(cache, recs[1:], 256)
    assert thread is not None
    thread.join(30)
    assert prefetch_in_background(cache, recs[1:], 256) is None  # once per process


def test_views_read_from_the_dicom_entry_are_the_cold_views(index, tmp_path):
    """A new process reads a case's pixels from the DICOM files themselves (no copy in the
    cache, no decode): its views and full-resolution crops are the cold path's, pixel for
    pixel."""
    from mcalc.cache import flush_writes

    case, _ = _suspicious_recent(index)
    recs = [r for r in case.images if r is not None]
    opts = DisplayOptions()
    cold = ImageCache(tmp_path / "cache")
    views = [prepare_view(cold, r, opts) for r in recs]
    crops = [
        crop_view(cold, r, v, opts, (10, 70, 20, 80))[0] for r, v in zip(recs, views, strict=True)
    ]
    flush_writes()
    assert list((tmp_path / "cache").rglob("pixels.npy")) == []
    warm = ImageCache(tmp_path / "cache")  # a new process: the disk cache only
    for rec, view, crop in zip(recs, views, crops, strict=True):
        assert not warm.load(rec.image_path).pixels.flags.writeable  # from the entry
        again = prepare_view(warm, rec, opts)
        np.testing.assert_array_equal(again.preview, view.preview)
        np.testing.assert_array_equal(again.calc_points, view.calc_points)
        assert (again.window, again.flipped, again.notes) == (view.window, view.flipped, view.notes)
        assert again.calc_diameters_mm == view.calc_diameters_mm
        np.testing.assert_array_equal(crop_view(warm, rec, again, opts, (10, 70, 20, 80))[0], crop)
