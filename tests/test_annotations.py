"""Tests of mcalc.annotations on seeded synthetic renderings pushed through real JPEG."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcalc.annotations import (
    Calcification,
    RedMaskParams,
    find_calcifications,
    find_clusters,
    load_annotation_mask,
    red_mask,
    summarize,
)
from mcalc.errors import AnnotationError
from mcalc.imaging import resample_mask

RED = (255, 0, 0)


# --------------------------------------------------------------------------- helpers


def _gray_scene(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Gray RGB rendering: dark background on the left, textured noisy tissue on the right."""
    rng = np.random.default_rng(seed)
    w = shape[1]
    cols = np.arange(w, dtype=np.float32)
    base = np.clip((cols - 0.3 * w) / (0.4 * w), 0.0, 1.0) * 170.0 + 10.0
    texture = cv2.GaussianBlur(rng.normal(0.0, 25.0, shape).astype(np.float32), (0, 0), 3)
    gray = base[None, :] + texture + rng.normal(0.0, 6.0, shape)
    gray = np.clip(gray, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def _encode(rgb: np.ndarray, quality: int = 85, ext: str = ".jpg") -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    assert ok
    return buf.tobytes()


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """RGB image after a real JPEG round trip (4:2:0 chroma, as OpenCV writes)."""
    data = np.frombuffer(_encode(rgb, quality), np.uint8)
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].copy()


def _n_components(mask: np.ndarray) -> int:
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


def _painted(seed: int, shape: tuple[int, int] = (240, 256)) -> tuple[np.ndarray, np.ndarray]:
    """A scene with blobs of every size seen in the dataset; returns (rgb, truth labels)."""
    rgb = _gray_scene(shape, seed)
    truth = np.zeros(shape, np.int32)
    shapes: list[np.ndarray] = []

    def add(draw) -> None:
        layer = np.zeros(shape, np.uint8)
        draw(layer)
        shapes.append(layer.astype(bool))

    add(lambda m: m.__setitem__((slice(20, 22), slice(30, 32)), 1))  # 2x2 px, dark background
    add(lambda m: m.__setitem__((slice(40, 42), slice(200, 202)), 1))  # 2x2 px, bright tissue
    add(lambda m: cv2.circle(m, (120, 30), 1, 1, -1))  # 3 px across
    add(lambda m: cv2.circle(m, (160, 90), 1, 1, -1))
    add(lambda m: m.__setitem__((slice(70, 73), slice(60, 63)), 1))  # 3x3 px
    add(lambda m: cv2.circle(m, (215, 120), 3, 1, -1))  # 7 px, median-sized
    add(lambda m: cv2.fillPoly(m, [np.array([[90, 120], [104, 126], [96, 140], [84, 131]])], 1))
    add(lambda m: cv2.circle(m, (180, 185), 20, 1, -1))  # 40 px across
    add(lambda m: cv2.line(m, (20, 200), (40, 215), 1, 2))  # thin stroke
    add(lambda m: cv2.ellipse(m, (230, 60), (9, 4), 30, 0, 360, 1, -1))
    # Two blobs 4 px apart stay two.
    add(lambda m: cv2.circle(m, (140, 200), 3, 1, -1))
    add(lambda m: cv2.circle(m, (151, 200), 3, 1, -1))
    for label, layer in enumerate(shapes, start=1):
        truth[layer] = label
    rgb[truth > 0] = RED
    return rgb, truth


# --------------------------------------------------------------------------- red_mask


@pytest.mark.parametrize("quality", [75, 85, 92])
@pytest.mark.parametrize("seed", [0, 1])
def test_red_mask_one_component_per_painted_blob(quality: int, seed: int) -> None:
    rgb, truth = _painted(seed)
    decoded = _jpeg(rgb, quality)
    mask = red_mask(decoded)
    # OpenCV's BGR order (load_annotation_mask's input) gives the very same mask.
    assert (red_mask(np.ascontiguousarray(decoded[..., ::-1]), bgr=True) == mask).all()
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    assert n - 1 == truth.max()
    # ... and each component is a different blob (no splits, no merges, no specks).
    for label in range(1, truth.max() + 1):
        hit = np.unique(labels[truth == label])
        assert len(hit[hit > 0]) == 1, f"blob {label} found as {hit}"


def test_published_hsv_threshold_alone_finds_jpeg_specks() -> None:
    # Why red_mask cleans: the bare HSV test counts JPEG colour noise on dark background.
    rgb, truth = _painted(0)
    hsv = cv2.cvtColor(_jpeg(rgb, 75), cv2.COLOR_RGB2HSV)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    bare = ((h <= 10) | (h >= 160)) & (s >= 100) & (v >= 20)
    assert _n_components(bare) > 2 * truth.max()


@pytest.mark.parametrize("quality", [75, 92])
def test_red_mask_empty_on_gray_only_jpeg(quality: int) -> None:
    rgb = _gray_scene((200, 240), seed=3)
    rgb[50:80, 150:190] = 255  # burned-in white label
    rgb[120:126, 180:186] = 250  # bright gray calcification
    assert not red_mask(_jpeg(rgb, quality)).any()


def test_red_mask_ignores_blue_and_colour_casts() -> None:
    rgb = _gray_scene((120, 120), seed=4)
    rgb[10:20, 10:20] = (0, 0, 255)  # blue: red if channels were read as BGR
    rgb[40:80, 40:80] = (150, 118, 108)  # colour cast over an area: hue 7, saturation 71
    rgb[90:100, 10:20] = (255, 40, 40)  # a real mark
    mask = red_mask(_jpeg(rgb, 92))
    assert _n_components(mask) == 1
    assert mask[92:98, 12:18].all()


def test_red_mask_exact_on_lossless_input_and_does_not_mutate() -> None:
    rgb = _gray_scene((64, 64), seed=5)
    rgb[10:14, 10:14] = RED
    rgb[40, 40] = RED  # a single pixel is below min_area
    before = rgb.copy()
    mask = red_mask(rgb)
    assert np.array_equal(rgb, before)
    assert mask.dtype == bool and mask.shape == (64, 64)
    assert np.argwhere(mask).min(axis=0).tolist() == [10, 10]
    assert int(mask.sum()) == 16
    assert red_mask(rgb, RedMaskParams(min_area=1))[40, 40]


def test_red_mask_accepts_rgba_and_rejects_bad_input() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[2:5, 2:5, 0] = 255
    assert red_mask(rgba).sum() == 9
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        red_mask(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        red_mask(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="hue"):
        RedMaskParams(hue_ranges=((170, 200),))


@pytest.mark.parametrize("height", [1, 63, 64, 65, 200])
@pytest.mark.parametrize("layout", ["rgb", "bgr", "rgba"])
def test_candidate_box_is_the_box_of_every_candidate(height: int, layout: str) -> None:
    from mcalc.annotations.red import _candidate_box, _low_excess, _red_excess

    rng = np.random.default_rng(height)
    img = rng.integers(0, 256, (height, 37, 4 if layout == "rgba" else 3), dtype=np.uint8)
    gray = img.copy()
    gray[..., :3] = img[..., :1]  # no excess anywhere
    assert _candidate_box(gray[..., :3], 10, False) is None
    bgr = layout == "bgr"
    for r, c in [*rng.integers(0, (height, 37), size=(3, 2)).tolist(), [height - 1, 36]]:
        gray[r, c, :3] = (70, 60, 90) if bgr else (90, 60, 70)  # a red excess of 20
    for image in (img, gray):
        view = image[..., :3]  # RGBA: a strided view, read strip by strip
        low = _low_excess(RedMaskParams())
        rows, cols = np.nonzero(_red_excess(view, bgr) >= low)
        expected = (
            (int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
            if rows.size
            else None
        )
        assert _candidate_box(view, low, bgr) == expected


# --------------------------------------------------------------------------- resample_mask (alignment)


def test_resample_mask_enlarges_by_nearest_neighbour() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    big = resample_mask(mask, (8, 10))
    assert big.shape == (8, 10)
    assert np.argwhere(big).tolist() == [[2, 4], [2, 5], [3, 4], [3, 5]]


@pytest.mark.parametrize("shape", [(33, 27), (10, 9), (1, 1)])
def test_resample_mask_shrinking_never_loses_a_blob(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    mask = np.zeros((100, 80), bool)
    points = rng.integers(0, (100, 80), size=(30, 2))
    mask[points[:, 0], points[:, 1]] = True  # single pixels
    small = resample_mask(mask, shape)
    assert small.shape == shape
    # Each source pixel lands in the output pixel holding its centre.
    expected = {
        (int((r + 0.5) * shape[0] / 100), int((c + 0.5) * shape[1] / 80)) for r, c in points
    }
    assert {tuple(p) for p in np.argwhere(small).tolist()} == expected


def test_resample_mask_same_shape_is_a_copy_and_mixed_axes_work() -> None:
    mask = np.eye(6, dtype=np.uint8)
    same = resample_mask(mask, (6, 6))
    assert same.dtype == bool and np.array_equal(same, mask.astype(bool))
    same[0, 0] = False
    assert mask[0, 0] == 1
    mixed = resample_mask(mask, (12, 3))  # rows grow, columns shrink
    assert mixed.shape == (12, 3) and mixed.sum() == 12
    with pytest.raises(ValueError, match="two positive integers"):
        resample_mask(mask, (0, 3))


# --------------------------------------------------------------------------- files


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_load_half_size_jpeg_rescaled_onto_image(tmp_path: Path) -> None:
    full = (400, 320)
    centres = [(50, 60), (200, 250), (330, 100), (121, 201)]
    half = _gray_scene((200, 160), seed=6)
    for r, c in centres:
        cv2.circle(half, (c // 2, r // 2), 2, RED, -1)
    path = _write(tmp_path / "CC_recent_GT.jpg", _encode(half, 90))
    mask, notes = load_annotation_mask(path, "red", full)
    assert mask.shape == full
    assert any("200x160" in n and "400x320" in n and "rescaled" in n for n in notes)
    calcs = find_calcifications(mask, (0.07, 0.07))
    assert len(calcs) == len(centres)
    for (r, c), calc in zip(sorted(centres), sorted(calcs, key=lambda k: k.centroid), strict=True):
        truth = (2 * (r // 2) + 0.5, 2 * (c // 2) + 0.5)  # a half-size pixel covers two
        assert abs(calc.centroid[0] - truth[0]) <= 1.5
        assert abs(calc.centroid[1] - truth[1]) <= 1.5


@pytest.mark.parametrize("seed", range(6))
def test_a_half_size_rendering_is_enlarged_before_its_red_marks_are_read(
    tmp_path: Path, seed: int
) -> None:
    # Read at half size and the mask enlarged (until 6 December 2026), 7 of these 12 blobs
    # (2-40 px across at full size) were found: small ones vanished or merged. Enlarged
    # first, 9-10 are, each on a painted blob; the note says the size and both counts.
    rgb, truth = _painted(seed, (480, 512))
    small = cv2.resize(rgb, (256, 240), interpolation=cv2.INTER_AREA)
    path = _write(tmp_path / "CC_prior_GT.jpg", _encode(small, 90))
    mask, notes = load_annotation_mask(path, "red", (480, 512))
    assert _n_components(mask) >= 9
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    assert all((truth[labels == k] > 0).any() for k in range(1, n))  # each on a painted blob
    assert notes[0].startswith(
        "annotation is 240x256, image is 480x512 (rows x columns): rescaled to the image's "
        f"size before its red marks were read ({_n_components(mask)} marks; 7 at the file's "
        "own size)"
    ), notes


def test_load_same_size_non_ascii_path_and_notes(tmp_path: Path) -> None:
    rgb = _gray_scene((96, 80), seed=7)
    rgb[40:46, 30:36] = RED
    folder = tmp_path / "μικρο-αποτιτανώσεις é"
    folder.mkdir()
    path = _write(folder / "MLO_prior_GT.jpg", _encode(rgb, 88))
    mask, notes = load_annotation_mask(path, "red", (96, 80))
    assert notes == ()
    assert _n_components(mask) == 1 and mask[42, 32]

    empty = _write(folder / "empty_GT.jpg", _encode(_gray_scene((96, 80), 8), 88))
    mask, notes = load_annotation_mask(empty, "red", (96, 80))
    assert not mask.any()
    assert notes == ("no red marks found in the annotation image (no calcification marked)",)


def test_load_decodes_into_numpy_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file is decoded by ``cv2.imread`` into an array the binding makes in NumPy's
    memory (``dst=None``), not by ``cv2.imdecode`` (OpenCV's memory, then a copy: as long
    again as the decoding at full size); the bytes decide only when OpenCV cannot open the
    path. The mask is the one of the bytes decoded."""
    rgb = _gray_scene((96, 80), seed=14)
    rgb[40:46, 30:36] = RED
    data = _encode(rgb, 88)
    path = _write(tmp_path / "CC_prior_GT.jpg", data)
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    expected = red_mask(bgr, bgr=True)
    assert expected[42, 32]
    real_decode, real_read = cv2.imdecode, cv2.imread
    decoded: list[int] = []
    read: list[tuple[object, ...]] = []

    def counted_decode(*args: object) -> object:
        decoded.append(1)
        return real_decode(*args)

    def counted_read(*args: object) -> object:
        read.append(args)
        return real_read(*args)

    monkeypatch.setattr(cv2, "imdecode", counted_decode)
    monkeypatch.setattr(cv2, "imread", counted_read)
    mask, _ = load_annotation_mask(path, "red", (96, 80))
    assert np.array_equal(mask, expected)
    assert decoded == [] and len(read) == 1 and read[0][1] is None  # dst=None: NumPy's memory

    monkeypatch.setattr(cv2, "imread", lambda *args: None)  # a path OpenCV cannot open
    mask, _ = load_annotation_mask(path, "red", (96, 80))
    assert np.array_equal(mask, expected) and decoded == [1]


def test_load_reads_colour_in_rgb_order(tmp_path: Path) -> None:
    rgb = np.full((40, 40, 3), 100, np.uint8)
    rgb[5:10, 5:10] = (0, 0, 255)  # blue in RGB: must not count
    rgb[20:25, 20:25] = RED
    path = _write(tmp_path / "order.png", _encode(rgb, ext=".png"))
    mask, _ = load_annotation_mask(path, "red", (40, 40))
    assert mask[20:25, 20:25].all() and not mask[5:10, 5:10].any()


def test_aspect_mismatch_names_both_sizes(tmp_path: Path) -> None:
    path = _write(tmp_path / "CC_prior_GT.jpg", _encode(_gray_scene((200, 200), 9)))
    with pytest.raises(AnnotationError) as info:
        load_annotation_mask(path, "red", (400, 320))
    message = str(info.value)
    assert "200x200" in message and "400x320" in message and "CC_prior_GT.jpg" in message
    assert "aspect" in message


def test_rotated_annotation_is_called_rotated(tmp_path: Path) -> None:
    path = _write(tmp_path / "rot.jpg", _encode(_gray_scene((160, 200), 10)))
    with pytest.raises(AnnotationError, match="rotated"):
        load_annotation_mask(path, "red", (400, 320))


def test_small_aspect_difference_is_tolerated(tmp_path: Path) -> None:
    # 4096x3328 annotation on a 4084x3328 prior: 0.3% apart, rescaled with a note.
    rgb = _gray_scene((1024, 832), 11)
    rgb[500:506, 400:406] = RED
    path = _write(tmp_path / "prior.jpg", _encode(rgb, 90))
    mask, notes = load_annotation_mask(path, "red", (1021, 832))
    assert mask.shape == (1021, 832) and _n_components(mask) == 1
    assert "rescaled" in notes[0]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (lambda data: data[: len(data) * 2 // 3], "truncated"),
        (lambda data: data[:-2], "truncated"),
        (lambda data: b"", "empty"),
        (lambda data: b"not an image at all" * 10, "cannot decode"),
    ],
    ids=["truncated-scan", "no-end-marker", "empty", "not-an-image"],
)
def test_broken_files_raise(tmp_path: Path, content, match: str) -> None:
    data = _encode(_gray_scene((64, 64), 12), 85)
    path = _write(tmp_path / "broken_GT.jpg", content(data))
    with pytest.raises(AnnotationError, match=match) as info:
        load_annotation_mask(path, "red", (64, 64))
    assert "broken_GT.jpg" in str(info.value)


def test_truncated_png_raises(tmp_path: Path) -> None:
    data = _encode(_gray_scene((64, 64), 13), ext=".png")
    path = _write(tmp_path / "mask.png", data[: len(data) // 2])
    with pytest.raises(AnnotationError, match=r"mask\.png"):
        load_annotation_mask(path, "mask", (64, 64))


def test_missing_file_and_unknown_kind_raise(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no such"):
        load_annotation_mask(tmp_path / "nope.jpg", "red", (8, 8))
    path = _write(tmp_path / "a.png", _encode(np.zeros((8, 8, 3), np.uint8), ext=".png"))
    with pytest.raises(AnnotationError, match="unknown annotation kind 'blue'"):
        load_annotation_mask(path, "blue", (8, 8))


def test_kind_mask_png_gray_16bit_and_colour(tmp_path: Path) -> None:
    gray = np.zeros((50, 40), np.uint8)
    gray[10:13, 10:13] = 1  # any non-zero value counts
    gray[30:35, 20:30] = 255
    _, buf = cv2.imencode(".png", gray)
    mask, notes = load_annotation_mask(_write(tmp_path / "m.png", buf.tobytes()), "mask", (100, 80))
    assert mask.shape == (100, 80) and _n_components(mask) == 2
    assert mask[20:26, 20:26].all() and "rescaled" in notes[0]

    deep = gray.astype(np.uint16) * 257
    _, buf = cv2.imencode(".png", deep)
    mask16, _ = load_annotation_mask(_write(tmp_path / "m16.png", buf.tobytes()), "mask", (50, 40))
    assert np.array_equal(mask16, gray > 0)

    colour = np.zeros((50, 40, 3), np.uint8)
    colour[5:8, 5:8, 1] = 200
    _, buf = cv2.imencode(".png", colour)
    maskc, _ = load_annotation_mask(_write(tmp_path / "c.png", buf.tobytes()), "mask", (50, 40))
    assert np.array_equal(np.argwhere(maskc), np.argwhere(colour[..., 1] > 0))


def test_kind_mask_jpeg_ignores_compression_noise(tmp_path: Path) -> None:
    gray = np.zeros((64, 64), np.uint8)
    gray[20:30, 20:30] = 255
    _, buf = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 75])
    path = _write(tmp_path / "m.jpg", buf.tobytes())
    mask, notes = load_annotation_mask(path, "mask", (64, 64))
    assert _n_components(mask) == 1 and abs(int(mask.sum()) - 100) <= 12
    assert any("lossy" in n for n in notes)
    loose, _ = load_annotation_mask(path, "mask", (64, 64), mask_threshold=0)
    assert loose.sum() > mask.sum()


# --------------------------------------------------------------------------- calcifications


def test_calcification_stats() -> None:
    mask = np.zeros((40, 50), bool)
    mask[5:9, 10:13] = True  # 4x3 = 12 px
    mask[20, 30] = mask[21, 31] = True  # diagonal pixels: one calcification (8-connected)
    calcs = find_calcifications(mask, (0.1, 0.05))
    assert [c.label for c in calcs] == [1, 2]
    first, second = calcs
    assert first.area_px == 12 and first.bbox == (5, 10, 9, 13)
    assert first.centroid == pytest.approx((6.5, 11.0))
    assert first.area_mm2 == pytest.approx(12 * 0.1 * 0.05)
    assert first.diameter_mm == pytest.approx(2 * np.sqrt(0.06 / np.pi))
    assert second.area_px == 2 and second.bbox == (20, 30, 22, 32)
    assert second.centroid == pytest.approx((20.5, 30.5))
    assert find_calcifications(np.zeros((5, 5), bool), (0.07, 0.07)) == []
    with pytest.raises(ValueError, match="spacing"):
        find_calcifications(mask, (0.0, 0.07))


@pytest.mark.parametrize("pad", [(0, 0), (37, 61)])  # marks away from the origin: a box
def test_calcifications_agree_with_opencv_stats_in_raster_order(pad: tuple[int, int]) -> None:
    rng = np.random.default_rng(2)
    marks = cv2.dilate((rng.random((120, 150)) > 0.985).astype(np.uint8), np.ones((2, 3), np.uint8))
    mask = np.pad(marks, ((pad[0], 5), (pad[1], 9)))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    first = [int(np.flatnonzero(labels == i)[0]) for i in range(1, n)]
    expected = []
    for i in np.argsort(first) + 1:  # raster order of each component's first pixel
        x, y, w, h, area = (int(v) for v in stats[i])
        expected.append((area, (y, x, y + h, x + w), *np.round(centroids[i][::-1], 6)))
    calcs = find_calcifications(mask, (0.07, 0.07))
    assert [c.label for c in calcs] == list(range(1, n))
    got = [(c.area_px, c.bbox, *np.round(c.centroid, 6)) for c in calcs]
    assert len(got) > 20 and got == expected


# --------------------------------------------------------------------------- clusters


def _calcs(points_px: list[tuple[float, float]]) -> list[Calcification]:
    """3x3 px calcifications centred on the given pixels."""
    out = []
    for label, (r, c) in enumerate(points_px, start=1):
        r0, c0 = round(r) - 1, round(c) - 1
        out.append(
            Calcification(label, (float(r), float(c)), 9, 9 * 0.01, (r0, c0, r0 + 3, c0 + 3), 0.3)
        )
    return out


def _mm(points_mm: list[tuple[float, float]], spacing: float = 0.1) -> list[tuple[float, float]]:
    return [(r / spacing, c / spacing) for r, c in points_mm]


CLUSTER_CASES = {
    "three within 5 mm": (_mm([(10, 10), (12, 14), (15, 11)]), 0.1, [(1, 2, 3)]),
    "three spread over 3 cm": (_mm([(10, 10), (25, 25), (40, 40)]), 0.1, []),
    "two separate groups": (
        _mm([(10, 10), (11, 12), (13, 10), (60, 60), (62, 61), (61, 65), (64, 63)]),
        0.1,
        [(1, 2, 3), (4, 5, 6, 7)],
    ),
    "two calcifications": (_mm([(10, 10), (11, 11)]), 0.1, []),
    "no chaining along a line 6 mm apart": (_mm([(10, 10 + 6 * k) for k in range(8)]), 0.1, []),
    "square edge is inside": (_mm([(10, 10), (20, 10), (10, 20)]), 0.1, [(1, 2, 3)]),
    "just outside the square": (_mm([(10, 10), (20.2, 10), (10, 20)]), 0.1, []),
    "same pixels at 0.07 mm": ([(100, 100), (140, 150), (180, 110)], 0.07, [(1, 2, 3)]),
    "same pixels at 0.5 mm": ([(100, 100), (140, 150), (180, 110)], 0.5, []),
    "groups sharing members merge": (
        _mm([(10, 10), (12, 12), (14, 18), (16, 24), (18, 28)]),
        0.1,
        [(1, 2, 3, 4, 5)],
    ),
}


@pytest.mark.parametrize("case", list(CLUSTER_CASES), ids=list(CLUSTER_CASES))
def test_find_clusters_table(case: str) -> None:
    points, spacing, expected = CLUSTER_CASES[case]
    clusters = find_clusters(_calcs(points), (spacing, spacing))
    assert [k.members for k in clusters] == expected
    assert [k.id for k in clusters] == list(range(1, len(expected) + 1))


def test_clusters_independent_of_input_order() -> None:
    rng = np.random.default_rng(1)
    points = [tuple(p) for p in rng.uniform(0, 600, size=(60, 2))]
    calcs = _calcs(points)
    reference = find_clusters(calcs, (0.07, 0.07))
    shuffled = [calcs[i] for i in rng.permutation(len(calcs))]
    assert find_clusters(shuffled, (0.07, 0.07)) == reference
    assert reference, "the random layout should hold at least one cluster"


def test_cluster_geometry_and_hashable() -> None:
    calcs = _calcs([(10, 10), (10, 30), (30, 20)])
    (cluster,) = find_clusters(calcs, (0.1, 0.2))
    assert cluster.count == 3 and hash(cluster)
    assert cluster.bbox == (9, 9, 32, 32)
    assert cluster.centroid == pytest.approx((50 / 3, 20.0))
    hull = np.array(cluster.hull)
    assert hull.min(axis=0).tolist() == [8.5, 8.5] and hull.max(axis=0).tolist() == [31.5, 31.5]
    for calc in calcs:  # every member pixel lies inside the hull
        r0, c0, r1, c1 = calc.bbox
        poly = np.array([(c, r) for r, c in cluster.hull], np.float32)
        for r in range(r0, r1):
            for c in range(c0, c1):
                assert cv2.pointPolygonTest(poly, (float(c), float(r)), False) >= 0
    area_px = cv2.contourArea(np.array([(c, r) for r, c in cluster.hull], np.float32))
    assert cluster.area_mm2 == pytest.approx(area_px * 0.1 * 0.2)
    # Hull of three pixel boxes: the triangle of centres grown by the boxes, > bare triangle.
    assert cluster.area_mm2 > 0.5 * 20 * 20 * 0.1 * 0.2


def test_single_member_cluster_has_a_box_hull() -> None:
    (cluster,) = find_clusters(_calcs([(5, 5)]), (0.1, 0.1), min_count=1)
    assert len(cluster.hull) == 4 and cluster.area_mm2 == pytest.approx(0.09)


def test_find_clusters_rejects_bad_rules() -> None:
    with pytest.raises(ValueError, match="min_count"):
        find_clusters([], (0.1, 0.1), min_count=0)
    with pytest.raises(ValueError, match="window_mm"):
        find_clusters([], (0.1, 0.1), window_mm=-1)


# --------------------------------------------------------------------------- summary


def test_summarize_counts_and_json() -> None:
    mask = np.zeros((300, 300), bool)
    for r, c in [(20, 20), (25, 40), (40, 30), (250, 250)]:
        mask[r : r + 3, c : c + 3] = True
    before = mask.copy()
    summary = summarize(mask, (0.1, 0.1))
    assert np.array_equal(mask, before)
    assert (summary.n_calcifications, summary.n_clusters, summary.n_clustered) == (4, 1, 3)
    assert summary.total_area_mm2 == pytest.approx(4 * 9 * 0.01)
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["n_calcifications"] == 4 and data["clusters"][0]["members"] == [1, 2, 3]
    assert data["cluster_rule"] == {"min_count": 3, "window_mm": 10.0}
    empty = summarize(np.zeros((10, 10), bool), (0.07, 0.07))
    assert (empty.n_calcifications, empty.n_clusters) == (0, 0)
