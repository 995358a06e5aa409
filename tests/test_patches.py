"""Patch labels agree with the masks; the shared [0, 1] conversion is the file's window."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.imageio import Mammogram
from mcalc.models.patches import (
    PatchSet,
    extract_patch,
    image_seed,
    model_input_image,
    resample_mask,
    sample_image_patches,
)
from mcalc.models.tasks import task_classes

SIZE = 32


def _scene(seed: int = 0):
    rng = np.random.default_rng(seed)
    unit = rng.random((300, 240), dtype=np.float32)
    breast = np.zeros(unit.shape, bool)
    breast[:, :180] = True
    calc = np.zeros(unit.shape, bool)
    for r, c in [(40, 40), (150, 100), (260, 60), (100, 170)]:
        calc[r : r + 3, c : c + 3] = True
    return unit, calc, breast


@pytest.mark.parametrize("seed", range(5))
def test_labels_agree_with_masks(seed: int) -> None:
    unit, calc, breast = _scene(seed)
    got = sample_image_patches(unit, calc, breast, SIZE, 3, 6, np.random.default_rng(seed))
    assert got.patches.shape == (9, SIZE, SIZE)
    assert got.contains[:3].all() and not got.contains[3:].any()
    for patch, center, contains in zip(got.patches, got.centers, got.contains, strict=True):
        np.testing.assert_array_equal(patch, extract_patch(unit, tuple(center), SIZE))
        assert extract_patch(calc, tuple(center), SIZE).any() == contains
    for center in got.centers[3:]:  # tissue patches lie in the breast
        assert extract_patch(breast, tuple(center), SIZE).mean() >= 0.6


def test_no_calcifications_no_positives() -> None:
    unit, _, breast = _scene()
    got = sample_image_patches(
        unit, np.zeros_like(breast), breast, SIZE, 5, 4, np.random.default_rng(0)
    )
    assert len(got.patches) == 4 and not got.contains.any()


def test_shape_mismatch_refused() -> None:
    unit, calc, breast = _scene()
    with pytest.raises(ValueError, match="one shape"):
        sample_image_patches(unit, calc[:10], breast, SIZE, 1, 1, np.random.default_rng(0))


def test_extract_patch_repeats_the_edge_past_the_border() -> None:
    img = np.arange(100, dtype=np.float32).reshape(10, 10)
    patch = extract_patch(img, (0, 0), 8)  # rows and columns -4..3
    assert patch.shape == (8, 8)
    np.testing.assert_array_equal(patch[4:, 4:], img[:4, :4])
    np.testing.assert_array_equal(patch[:4, 4:], np.repeat(img[:1, :4], 4, axis=0))
    assert (patch[:4, :4] == img[0, 0]).all()
    # Past the bottom-right: the last row and column repeated, never zeros (a dark band
    # beside bright tissue reads as a calcification).
    far = extract_patch(img, (9, 9), 8)
    np.testing.assert_array_equal(far[:5, :5], img[5:, 5:])
    assert (far[5:, 5:] == img[9, 9]).all() and far.min() == img[5, 5]
    # Inside: a copy of the window, channels kept.
    rgb = np.dstack([img, img + 1])
    np.testing.assert_array_equal(extract_patch(rgb, (5, 5), 4), rgb[3:7, 3:7])
    with pytest.raises(ValueError, match="empty image"):
        extract_patch(np.zeros((0, 4), np.float32), (0, 0), 2)


def test_model_input_image_windows_inverts_and_resamples() -> None:
    pixels = np.tile(np.linspace(0, 4095, 200, dtype=np.float32), (100, 1)).astype(np.uint16)
    m = Mammogram(pixels, 2047.0, 4096.0, pixel_spacing_mm=(0.07, 0.07))
    unit, factor = model_input_image(m, 0.1)
    assert factor == pytest.approx(0.7)
    assert unit.shape == (70, 140) and unit.dtype == np.float32
    assert 0.0 <= unit.min() < 0.05 and 0.95 < unit.max() <= 1.0
    inverted, _ = model_input_image(Mammogram(pixels, 2047.0, 4096.0, monochrome1=True), None)
    native, _ = model_input_image(m, None)
    np.testing.assert_allclose(inverted, 1.0 - native, atol=1e-6)


def test_resample_mask_keeps_tiny_marks() -> None:
    mask = np.zeros((100, 100), bool)
    mask[50, 50] = True
    assert resample_mask(mask, (30, 30)).any()


def test_per_image_seed_is_stable_and_distinct() -> None:
    assert image_seed(0, "a/CC_recent") == image_seed(0, "a/CC_recent")
    assert image_seed(0, "a/CC_recent") != image_seed(1, "a/CC_recent")


def test_subset_and_counts() -> None:
    ps = PatchSet(
        np.zeros((4, 2, 2), np.float32),
        np.array([0, 1, 1, 0]),
        np.array(["a", "a", "b", "c"], dtype=object),
        np.array(["k"] * 4, dtype=object),
        ("no", "yes"),
    )
    assert ps.subset(["a"]).counts() == {"no": 1, "yes": 1}
    assert len(ps.subset(["b", "c"])) == 2


def test_unknown_task() -> None:
    assert task_classes("birads") == ("normal", "benign", "suspicious")
    with pytest.raises(ModelError, match="calcification"):
        task_classes("density")


# The reader's "file" window and the model input are one function (imaging.file_unit).


def _ramp_dicom(path, **tags):
    from mcalc.dicomwrite import write_dicom

    pixels = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (64, 1))  # 64 x 256 ramp
    return pixels, write_dicom(path, pixels, spacing_mm=0.1, **tags)


@pytest.mark.parametrize(
    "tags",
    [
        {"window": (1500.0, 2000.0)},  # centre/width only
        {"window": (1500.0, 2000.0), "monochrome1": True},
        # a VOI LUT (a curve no linear window gives) beside a window that only seeds sliders
        {
            "window": (2047.0, 4096.0),
            "voi_lut": (0, (np.clip((np.arange(4096) - 1000) / 2000.0, 0, 1) ** 2) * 65535),
        },
    ],
    ids=["window", "window-monochrome1", "voi-lut"],
)
def test_viewer_file_window_and_model_input_agree(tmp_path, tags) -> None:
    from mcalc import imaging
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import ImageRecord
    from mcalc.imageio import read_image
    from mcalc.viewer import DisplayOptions, prepare_view

    pixels, path = _ramp_dicom(tmp_path / "CC_recent.dcm", **tags)
    mammo = read_image(path)
    unit, factor = model_input_image(mammo, 0.1)
    assert factor == 1.0 and unit.shape == pixels.shape
    rec = ImageRecord("c1", "CC", "recent", path)
    view = prepare_view(ImageCache(None), rec, DisplayOptions(orient=False), max_side=256)
    np.testing.assert_array_equal(view.preview[..., 0], imaging.to_uint8(unit))
    if "voi_lut" in tags:  # the LUT, not the file's window, is what both see
        table = tags["voi_lut"][1].astype(np.uint16) / 65535  # as stored
        np.testing.assert_allclose(unit, imaging.apply_voi_lut(pixels, 0, table), atol=1e-6)
        window = imaging.window(pixels, 2047.0, 4096.0)
        assert np.abs(unit - window).max() > 0.2


def test_demo_dicoms_have_no_voi_lut_so_model_input_is_the_file_window(tiny_demo) -> None:
    """The committed demo model was trained on these: its input did not change."""
    from mcalc import imaging
    from mcalc.imageio import read_image

    for path in sorted(tiny_demo.rglob("*.dcm")):
        mammo = read_image(path)
        assert mammo.voi_lut is None, path
        unit, _ = model_input_image(mammo, None)
        old = imaging.window(
            mammo.pixels, mammo.window_center, mammo.window_width, mammo.voi_function
        )
        np.testing.assert_array_equal(unit, imaging.invert(old) if mammo.monochrome1 else old)


# --------------------------------------------------------------------------- region annotations


def test_region_positives_spread_throughout_the_region() -> None:
    unit, _, breast = _scene()
    region = np.zeros(unit.shape, bool)
    cv2 = pytest.importorskip("cv2")
    disk = np.zeros(unit.shape, np.uint8)
    cv2.circle(disk, (90, 150), 40, 1, -1)
    region[:] = disk > 0
    got = sample_image_patches(
        unit, region, breast, SIZE, 12, 4, np.random.default_rng(0), region=True
    )
    assert int(got.contains.sum()) == 12
    pos = got.centers[got.contains]
    assert region[pos[:, 0], pos[:, 1]].all()  # every centre inside the region
    assert np.ptp(pos[:, 0]) > 40  # spread over the region, not one spot
    assert not got.contains[12:].any()
    # the same mask read as calcification marks gives one positive (one component)
    marks = sample_image_patches(unit, region, breast, SIZE, 12, 0, np.random.default_rng(0))
    assert int(marks.contains.sum()) == 1


def test_region_manifest_samples_as_many_positives_as_asked(tmp_path) -> None:
    from mcalc.dataset import open_dataset
    from mcalc.models.patches import PatchConfig
    from mcalc.models.sampling import sample_dataset
    from tests.convert_fixtures import make_region_manifest

    index = open_dataset(make_region_manifest(tmp_path / "regions"))
    assert {r.annotation_kind for r in index.images()} == {"region"}
    cfg = PatchConfig(size=SIZE, spacing_mm=None, pos_per_image=10, neg_per_image=6)
    patches = sample_dataset(index, "calcification", cfg, seed=3)
    for key in {r.key for r in index.images()}:
        mine = patches.y[patches.keys == key]
        assert int((mine == 1).sum()) >= cfg.pos_per_image, key
        assert int((mine == 0).sum()) > 0, key


def test_an_image_whose_annotation_file_is_missing_is_left_out_not_sampled_as_clean(
    tiny_demo, tmp_path
) -> None:
    # Until 6 December 2026 a case folder without its *_GT.jpg gave an all-False mask: the
    # image's calcifications were sampled as negatives (tissue).
    import shutil

    from mcalc.dataset import open_dataset
    from mcalc.errors import AnnotationError
    from mcalc.imageio import read_record
    from mcalc.models.patches import PatchConfig, training_marks
    from mcalc.models.sampling import sample_dataset

    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    rec = open_dataset(root).case("suspicious-1").image("CC", "recent")
    assert rec is not None and rec.annotation_path is not None
    shape = read_record(rec).shape
    assert training_marks(rec, shape, shape).any()  # it has calcifications
    rec.annotation_path.unlink()

    index = open_dataset(root)
    gone = index.case("suspicious-1").image("CC", "recent")
    assert gone is not None and gone.annotation_missing == "CC_recent_GT.jpg"
    with pytest.raises(AnnotationError, match="its calcifications are unknown, not none"):
        training_marks(gone, shape, shape)
    cfg = PatchConfig(size=SIZE, spacing_mm=None, pos_per_image=4, neg_per_image=4)
    patches = sample_dataset(index, "calcification", cfg, seed=3, case_ids=["suspicious-1"])
    assert gone.key not in set(patches.keys)  # neither positives nor negatives
    assert "calcifications are unknown" in patches.skipped[gone.key]
    assert len(patches) > 0  # the case's other images are sampled


def test_a_dataset_without_annotations_says_so_not_that_images_could_not_be_read(
    tiny_demo, tmp_path
) -> None:
    """Every *_GT.jpg of a copy gone, training said "no patch could be sampled ... (24
    could not be read)": the images were read; their annotations were missing."""
    import shutil

    from mcalc.dataset import open_dataset
    from mcalc.errors import DatasetError
    from mcalc.models.patches import PatchConfig
    from mcalc.models.sampling import sample_dataset

    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    for gt in root.rglob("*_GT.jpg"):
        gt.unlink()
    index = open_dataset(root)
    cfg = PatchConfig(size=SIZE, spacing_mm=None, pos_per_image=1, neg_per_image=1)
    with pytest.raises(DatasetError) as info:
        sample_dataset(index, "calcification", cfg, case_ids=["normal-1", "suspicious-1"])
    said = str(info.value)
    assert "(8 without a readable annotation; the first, " in said
    assert "its calcifications are unknown, not none" in said
    assert "could not be read" not in said
