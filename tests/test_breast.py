"""Tests of mcalc.breast on seeded synthetic mammograms (half-ellipse breast, label block)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mcalc.breast import bounding_box, breast_mask, chest_wall_side


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1))


def _mammogram(
    shape: tuple[int, int] = (640, 520),
    *,
    side: str = "left",
    seed: int = 0,
    fatty: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[0, 1] image, true breast (half-ellipse on the chest wall) and label block masks.

    Tissue fades towards the skin line like a real compressed breast; the background is
    near-black with detector noise; a bright burned-in label sits in a far corner.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    rows, cols = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, ry, rx = h / 2.0, 0.42 * h, 0.62 * w
    radius = np.sqrt(((rows - cy) / ry) ** 2 + (cols / rx) ** 2)  # 1 on the skin line
    breast = radius <= 1.0
    thickness = np.sqrt(np.clip(1.0 - radius**2, 0.0, 1.0))  # thin at the skin line
    tissue = 0.25 + 0.45 * thickness
    if fatty:  # dense breast with a fatty rim: Otsu's level falls between the two
        tissue = np.where(radius < 0.8, 0.75, 0.3)
    texture = cv2.GaussianBlur(rng.normal(0.0, 0.05, shape).astype(np.float32), (0, 0), 4)
    img = np.where(breast, tissue + texture, 0.03)
    img = img + rng.normal(0.0, 0.01, shape)
    label = np.zeros(shape, bool)
    label[int(0.04 * h) : int(0.1 * h), int(0.78 * w) : int(0.95 * w)] = True
    img[label] = 0.95
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    if side == "right":
        return img[:, ::-1].copy(), breast[:, ::-1].copy(), label[:, ::-1].copy()
    return img, breast, label


@pytest.mark.parametrize("side", ["left", "right"])
def test_breast_mask_covers_breast_and_excludes_label(side: str) -> None:
    img, truth, label = _mammogram(side=side, seed=1)
    before = img.copy()
    mask = breast_mask(img, work_side=256)
    assert np.array_equal(img, before)
    assert mask.dtype == bool and mask.shape == img.shape
    assert _iou(mask, truth) > 0.98  # plain Otsu cuts the fading skin line: 0.96
    assert not (mask & label).any()
    assert chest_wall_side(mask) == side


def test_breast_mask_full_resolution_path_and_fatty_breast() -> None:
    img, truth, label = _mammogram((300, 240), fatty=True, seed=2)
    mask = breast_mask(img, work_side=512)  # no shrinking: image smaller than work_side
    assert _iou(mask, truth) > 0.95  # plain Otsu splits fatty from dense tissue: 0.63
    assert not (mask & label).any()


def test_breast_mask_fills_holes() -> None:
    img, truth, _ = _mammogram(seed=3)
    img[300:340, 100:140] = 0.0  # dark hole inside the breast (e.g. a cyst drawn black)
    assert _iou(breast_mask(img, work_side=256), truth) > 0.95


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((120, 100), np.float32),
        np.full((120, 100), 0.6, np.float32),
        np.clip(np.random.default_rng(0).normal(0.02, 0.003, (120, 100)), 0, 1),
    ],
    ids=["black", "constant", "noise-only"],
)
def test_breast_mask_without_breast_is_empty(image: np.ndarray) -> None:
    mask = breast_mask(image)
    assert mask.shape == image.shape and not mask.any()
    assert bounding_box(mask) is None


def test_breast_mask_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="2-D"):
        breast_mask(np.zeros((4, 4, 3)))
    with pytest.raises(ValueError, match="work_side"):
        breast_mask(np.zeros((4, 4)), work_side=4)


def test_chest_wall_side_by_edge_then_by_mass() -> None:
    mask = np.zeros((50, 100), bool)
    mask[10:40, 0:30] = True
    assert chest_wall_side(mask) == "left"
    assert chest_wall_side(mask[:, ::-1]) == "right"
    floating = np.zeros((50, 100), bool)
    floating[10:40, 60:80] = True  # touches neither edge: the heavier half wins
    assert chest_wall_side(floating) == "right"
    with pytest.raises(ValueError, match="empty"):
        chest_wall_side(np.zeros((5, 5), bool))


def test_bounding_box() -> None:
    mask = np.zeros((20, 30), bool)
    mask[3:7, 10:25] = True
    mask[12, 2] = True
    assert bounding_box(mask) == (3, 2, 13, 25)
    assert bounding_box(np.zeros((3, 3), bool)) is None


# --------------------------------------------------------------------------- scanned film


@pytest.fixture(scope="module")
def film_demo(tmp_path_factory):
    from mcalc.synthetic import generate_demo

    out = tmp_path_factory.mktemp("film")
    generate_demo(out / "film", cases=3, seed=2, shape=(384, 312), style="film")
    generate_demo(out / "digital", cases=3, seed=2, shape=(384, 312))
    return out / "film"


def _film_images(root):
    """``(path, film artefacts, [0, 1] image)``; artefacts: the bright pixels the film
    style added (borders, sticker), found against the same seed's digital image."""
    from mcalc.imageio import read_image
    from mcalc.imaging import file_unit

    for path in sorted((root / "Dataset").rglob("*.[dD][cC][mM]")):
        mammo = read_image(path)
        pixels = np.asarray(mammo.pixels)
        twin = root.parent / "digital" / path.relative_to(root)
        artefacts = np.zeros(pixels.shape, bool)
        if twin.is_file():
            digital = np.asarray(read_image(twin).pixels)
            artefacts = (pixels != digital) & (pixels >= 3700)
        yield path, artefacts, file_unit(mammo)


def test_film_breast_mask_excludes_borders_labels_and_lines(film_demo) -> None:
    from mcalc.breast import film_border, mask_quality

    n = 0
    for path, artefacts, unit in _film_images(film_demo):
        mask = breast_mask(unit)
        assert artefacts.mean() > 0.05, path  # the film style put them there
        assert not (mask & artefacts).any(), path
        quality = mask_quality(mask)
        assert 0.2 < quality["fraction"] < 0.75, (path, quality)
        assert not quality["touches_far_side"], (path, quality)
        assert "top" not in quality["touches"] and "bottom" not in quality["touches"], path
        assert film_border(cv2.medianBlur((unit * 255).astype(np.uint8), 5)).any()
        n += 1
    assert n == 12


def test_digital_images_have_no_film_border(tiny_demo) -> None:
    from mcalc.breast import film_border

    for _, _, unit in _film_images(tiny_demo):
        assert not film_border(cv2.medianBlur((unit * 255).astype(np.uint8), 5)).any()


@pytest.mark.slow
def test_top_regions_of_the_demo_model_stay_off_film_borders(film_demo) -> None:
    from pathlib import Path

    from mcalc.explain.image_analysis import analyse_image
    from mcalc.imageio import read_image
    from mcalc.models.inference import load_model

    models = Path(__file__).resolve().parent.parent / "models"
    loaded = load_model("demo-custom", models)
    checked = 0
    for path, artefacts, _ in list(_film_images(film_demo))[::3]:
        result = analyse_image(loaded, read_image(path), key=path.stem)
        h, w = artefacts.shape
        for region in result.regions:
            r0, r1, c0, c1 = region.box
            # never on the image's edge (the chest wall aside: the breast meets it) ...
            assert r0 > 0 and r1 < h, (path, region.box)
            far_right = chest_wall_side(result.breast) == "left"
            assert c1 < w if far_right else c0 > 0, (path, region.box)
            # ... and centred in the breast (at its detection, a model-input pixel), not on a
            # border band or the sticker
            row, col = (round(v) for v in region.center)
            f = result.pmap.factor
            at = (round(region.center[0] * f), round(region.center[1] * f))
            assert not artefacts[row, col] and result.breast[at], (path, region.box)
            checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("bits", "monochrome1"), [(12, True), (16, False), (16, True)], ids=["12-M1", "16-M2", "16-M1"]
)
def test_film_mask_is_the_same_at_16_bits_and_in_monochrome1(
    film_demo, tmp_path, bits: int, monochrome1: bool
) -> None:
    """The same film image stored as 16-bit and/or MONOCHROME1 (inverted values) gives the
    same breast mask through the file's window (mcalc.imaging.file_unit)."""
    from mcalc.dicomwrite import write_dicom
    from mcalc.imageio import read_image
    from mcalc.imaging import file_unit

    path = next((film_demo / "Dataset").rglob("MLO_recent.dcm"))
    pixels = np.asarray(read_image(path).pixels).astype(np.int64)
    top = 2**bits - 1
    values = pixels * (top // 4095)
    if monochrome1:
        values = top - values
    other = write_dicom(
        tmp_path / "other.dcm",
        values.astype(np.uint16),
        spacing_mm=0.27,
        window=(top / 2, top + 1),
        bits_stored=bits,
        monochrome1=monochrome1,
    )
    reference = breast_mask(file_unit(read_image(path)))
    mask = breast_mask(file_unit(read_image(other)))
    assert _iou(mask, reference) > 0.98


# --------------------------------------------------------------------------- pectoral muscle


def _pectoral_truth(image, shape: tuple[int, int], laterality: str) -> np.ndarray:
    """The generator's muscle: ``row / rows + col / cols < 1`` from the chest-wall corner."""
    hp, wp = image.pectoral
    rows = np.arange(shape[0])[:, None]
    cols = np.arange(shape[1])[None, :]
    if laterality == "R":
        cols = shape[1] - 1 - cols
    return rows / hp + cols / wp < 1


@pytest.mark.parametrize("style", ["digital", "film"])
def test_pectoral_muscle_of_mlo_is_found_and_cc_has_none(style: str) -> None:
    from mcalc.breast import breast_region, mask_quality, pectoral_mask
    from mcalc.synthetic.plan import plan_cases
    from mcalc.synthetic.render import render_case

    shape = (256, 208)
    ious = []
    for case in plan_cases(4, 3):
        for image in render_case(case, 3, shape, 0.4, style):
            if image.timepoint != "recent":
                continue
            unit = image.pixels.astype(np.float32) / 4095.0
            breast = breast_mask(unit)
            muscle = pectoral_mask(unit, breast)
            if image.view == "CC":
                assert image.pectoral is None and not muscle.any()
                assert np.array_equal(breast_region(unit, "CC"), breast)
                continue
            truth = _pectoral_truth(image, shape, case.laterality) & breast
            ious.append((muscle & truth).sum() / (muscle | truth).sum())
            region = breast_region(unit, "MLO")
            assert not (region & muscle).any() and np.array_equal(region | muscle, breast)
            assert mask_quality(breast, muscle)["pectoral"] == round(float(muscle.mean()), 4)
    assert len(ious) == 4 and min(ious) >= 0.8, ious


def test_no_pectoral_on_a_plain_blob() -> None:
    from mcalc.breast import pectoral_mask

    img = np.full((200, 160), 0.05, np.float32)
    yy, xx = np.mgrid[0:200, 0:160]
    img[((yy - 100) / 80.0) ** 2 + (xx / 110.0) ** 2 < 1] = 0.5  # a breast, no muscle
    assert not pectoral_mask(img).any()
