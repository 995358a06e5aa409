"""The map score follows the detections' rule: one image is never called negative with a
detection at or above the threshold drawn, nor positive with none; its regions are patches
centred on its top detections, so it lists one at or above the threshold exactly when it
reads positive (mcalc/explain/scoring.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.explain.grid import make_grid
from mcalc.explain.image_analysis import ImageAnalysis
from mcalc.explain.scoring import (
    DecisionThreshold,
    flat_map_note,
    map_score,
    map_scores,
    regions_from_detections,
    top_regions,
)
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings
from mcalc.models.detection import DetectionSettings, find_detections, plateau_tolerance

CLASSES = ("normal", "calcification")


def _fine_map(fine_pos: np.ndarray, image: int = 160, patch: int = 32, stride: int = 16):
    """A map as a dense-inference model gives it: a lattice of step ``stride // 4`` whose
    every 4th point is a grid point (``proba`` holds those, as ``predict_map`` keeps them)."""
    grid = make_grid((image, image), patch, stride)
    k = 4
    assert fine_pos.shape == ((grid.rows - 1) * k + 1, (grid.cols - 1) * k + 1)
    fine = np.stack([1.0 - fine_pos, fine_pos], axis=-1).astype(np.float32)
    proba = np.ascontiguousarray(fine[::k, ::k])
    return ProbabilityMap(
        proba,
        np.ones((grid.rows, grid.cols), bool),
        grid,
        CLASSES,
        native_shape=(image, image),
        fine=fine,
        fine_stride=stride // k,
    )


def test_a_peak_between_grid_points_makes_the_image_positive_with_its_detection() -> None:
    # Every grid point scores 0.1 (the old rule, the mean of the top 3 grid patches: 0.1);
    # one lattice point between four grid points scores 0.8, as the demo's normal-4 CC prior
    # (map score 0.167 with detections of 0.69 and 0.57 drawn at threshold 0.5).
    fine = np.full((33, 33), 0.1)
    fine[18, 18] = 0.8
    pmap = _fine_map(fine)
    assert float(pmap.values().max()) == pytest.approx(0.1)  # the grid sees nothing
    threshold = DecisionThreshold(0.5, "test")

    scores = map_scores(pmap)
    dense = pmap.dense()
    dets = find_detections(dense, (0.1, 0.1))
    assert dets and dets[0].score >= 0.5
    assert scores.score == dets[0].score
    assert threshold.decide(scores.score, scores.positive_class) == "calcification"

    # The same through an image's analysis, inside its breast (what Predict shows).
    breast = np.ones(pmap.unit_shape, bool)
    breast[:, :40] = False
    result = ImageAnalysis(
        "c/CC_prior", pmap, np.zeros(pmap.unit_shape), breast, (0.1, 0.1),
        map_scores(pmap, breast), [],
    )  # fmt: skip
    drawn = result.detections(DetectionSettings(threshold=0.0))
    assert result.score == drawn[0].score >= 0.5
    assert all(breast[d.row, d.col] for d in drawn)


def test_a_peak_outside_the_breast_neither_scores_nor_is_detected() -> None:
    fine = np.full((33, 33), 0.1)
    fine[18, 18] = 0.8
    pmap = _fine_map(fine)
    breast = np.ones(pmap.unit_shape, bool)
    breast[60:110, 60:110] = False  # the peak (near pixel 88, 88) is out
    result = ImageAnalysis(
        "c/CC_prior", pmap, np.zeros(pmap.unit_shape), breast, (0.1, 0.1),
        map_scores(pmap, breast), [],
    )  # fmt: skip
    assert result.score < 0.5
    assert not [d for d in result.detections() if d.score >= 0.5]
    assert result.score == result.detections()[0].score


def _random_map(rng: np.random.Generator) -> np.ndarray:
    """A float32 map: smooth blobs, quantised at times (plateaus and ties), zero at times."""
    h, w = rng.integers(8, 48, size=2)
    m = rng.random((h, w))
    kind = rng.integers(4)
    if kind == 1:
        m = np.round(m, 1)  # ties and plateaus
    elif kind == 2:
        m = np.where(rng.random((h, w)) < 0.8, 0.0, m)  # mostly zero
    elif kind == 3:
        m = np.zeros((h, w))
        m[rng.integers(h), rng.integers(w)] = rng.random()
    return m.astype(np.float32)


@pytest.mark.parametrize("seed", range(6))
def test_map_score_at_or_above_a_threshold_iff_a_detection_is(seed: int) -> None:
    """Over random maps, breasts, detection settings and thresholds (among them the
    detections' own scores, where a rounding would show): the map score is at or above a
    threshold exactly when a detection is, and is the top detection's score."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        m = _random_map(rng)
        breast = rng.random(m.shape) < rng.choice([0.0, 0.3, 1.0])
        spacing = (float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.05, 0.3)))
        score = map_score(m, breast)
        dets = find_detections(
            m,
            spacing,
            valid=breast,
            min_distance_mm=float(rng.uniform(0.1, 3.0)),
            max_detections=int(rng.integers(1, 5)),
        )
        assert score == (dets[0].score if dets else 0.0)
        for t in [*rng.random(5), *(d.score for d in dets), 1e-6, 1.0]:
            t = float(t)
            # Detections found down to any threshold at or below t, as Predict draws them.
            shown = find_detections(m, spacing, valid=breast, threshold=float(rng.uniform(0.0, t)))
            assert (score >= t) == any(d.score >= t for d in shown), (t, score, shown[:2])


def test_the_dense_maps_of_a_probability_map_keep_the_equivalence() -> None:
    rng = np.random.default_rng(7)
    for _ in range(10):
        pmap = _fine_map(rng.random((33, 33)) ** 4)
        breast = rng.random(pmap.unit_shape) < 0.5
        scores = map_scores(pmap, breast)
        dets = find_detections(pmap.dense(), (0.1, 0.1), valid=breast)
        assert scores.score == dets[0].score
        assert scores.classes["calcification"] == scores.score
        assert scores.classes["normal"] == map_score(pmap.dense("normal"), breast)


def test_a_peak_between_grid_points_gives_a_region_at_its_detection_with_its_score() -> None:
    """The demo's normal-4 CC prior (demo-custom: map score 0.69, two detections at or above
    0.5, no region under the grid rule): every grid point scores 0.1, the dense lattice peaks
    between them. Each region is a patch centred on a detection, scoring the detection's
    score; the first is the top detection, its score the map score."""
    fine = np.full((33, 33), 0.1)
    fine[18, 18] = 0.8  # between four grid points
    fine[6, 27] = 0.75  # another, far from the first
    pmap = _fine_map(fine)
    assert float(pmap.values().max()) == pytest.approx(0.1)  # the grid sees nothing
    breast = np.ones(pmap.unit_shape, bool)
    regions = top_regions(pmap, (0.1, 0.1), breast)
    dets = find_detections(pmap.dense(), (0.1, 0.1), valid=breast, threshold=0.5)
    assert len(dets) == 2 and [r.rank for r in regions] == [1, 2]
    assert [r.score for r in regions] == [d.score for d in dets]
    assert regions[0].score == map_scores(pmap, breast).score >= 0.5
    assert [r.center for r in regions] == [(float(d.row), float(d.col)) for d in dets]
    for r, d in zip(regions, dets, strict=True):
        r0, c0 = r.origin  # the patch's centre (top + patch // 2) on the detection
        assert (r0 + 16, c0 + 16) == (d.row, d.col)
        assert r.box == (r0, r0 + 32, c0, c0 + 32)  # native = model-input pixels here
        assert r.scores["calcification"] == d.score
        assert r.scores["normal"] == pytest.approx(float(pmap.dense("normal")[d.row, d.col]))
    assert regions[0].origin[0] % pmap.grid.stride != 0  # not a grid patch
    as_json = regions[0].as_dict()
    assert as_json["origin"] == list(regions[0].origin) and "cell" not in as_json


def test_a_region_near_the_edge_keeps_its_patch_inside_and_its_centre_on_the_plateau() -> None:
    """A peak on the lattice's corner: the map is clamped past it, so the image's top-right
    16 x 16 pixels score alike, one detection at the plateau's centre (its first pixel
    until detection rule 3). The region is centred on it, its patch moved inside the
    image."""
    fine = np.full((33, 33), 0.1)
    fine[0, 32] = 0.9  # the lattice's corner: the image's top-right
    pmap = _fine_map(fine)
    pmap.factor, pmap.native_shape = 0.5, (320, 320)  # native pixels twice as many
    (region,) = top_regions(pmap, (0.1, 0.1))
    (det,) = find_detections(pmap.dense(), (0.1, 0.1), threshold=0.5)
    assert (det.row, det.col) == (7, 151)  # the plateau's centre pixel
    assert (pmap.dense()[:16, 144:] == np.float32(det.score)).all()
    assert region.origin == (0, 160 - 32)
    assert region.box == (0, 64, 320 - 64, 320)  # the patch in native pixels, in the image
    assert region.center == (7 / 0.5, 151 / 0.5)  # the plateau's centre pixel, native
    assert region.score == det.score


def test_a_plateau_of_equal_scores_gives_one_region_centred_on_it() -> None:
    """A finding inside four overlapping patches saturates them alike (a 2 x 2 plateau of
    the grid; the map between them is flat): one detection and one region, at the
    plateau's centre (until detection rule 3 the detection was its first pixel, half the
    plateau up and left)."""
    grid = make_grid((160, 160), 32, 16)
    proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
    proba[..., 1] = 0.05
    proba[2:4, 2:4, 1] = 0.9999
    proba[..., 0] = 1 - proba[..., 1]
    pmap = ProbabilityMap(
        proba, np.ones(proba.shape[:2], bool), grid, CLASSES, native_shape=(160, 160)
    )
    dets = find_detections(pmap.dense(), (0.1, 0.1), threshold=0.5)
    assert [(d.row, d.col) for d in dets] == [(55, 55)]  # centres 47.5 and 63.5: 48..63 flat
    (region,) = top_regions(pmap, (0.1, 0.1))
    assert region.center == (55.0, 55.0) and region.origin == (39, 39)
    assert region.score == dets[0].score == map_scores(pmap).score
    # A plateau wider than a patch: the detection at its centre, the region centred on it
    # (a click on the detection selects that region).
    proba[2:7, 2:7, 1] = 0.9999
    proba[..., 0] = 1 - proba[..., 1]
    pmap = ProbabilityMap(
        proba, np.ones(proba.shape[:2], bool), grid, CLASSES, native_shape=(160, 160)
    )
    (det,) = find_detections(pmap.dense(), (0.1, 0.1), threshold=0.5)
    region = top_regions(pmap, (0.1, 0.1))[0]
    r0, r1, c0, c1 = region.box
    assert r0 <= det.row < r1 and c0 <= det.col < c1
    assert region.center == (det.row, det.col) == (79.0, 79.0)  # flat over 48..111


def test_regions_are_non_overlapping_and_at_most_max_regions() -> None:
    fine = np.full((33, 33), 0.1)
    fine[18, 18], fine[18, 21], fine[6, 27] = 0.95, 0.9, 0.85  # the second 12 px from the first
    pmap = _fine_map(fine)
    dets = find_detections(pmap.dense(), (0.1, 0.1), threshold=0.5)
    assert len(dets) == 3
    assert [r.score for r in top_regions(pmap, (0.1, 0.1))] == [dets[0].score, dets[2].score]
    loose = SlidingSettings(nms_overlap=0.5)  # 12 px apart: IoU 640 / 1408 = 0.45
    assert len(top_regions(pmap, (0.1, 0.1), settings=loose)) == 3
    one = SlidingSettings(max_regions=1)
    assert [r.score for r in top_regions(pmap, (0.1, 0.1), settings=one)] == [dets[0].score]
    assert top_regions(pmap, (0.1, 0.1), settings=SlidingSettings(max_regions=0)) == []
    high = SlidingSettings(min_region_score=dets[0].score)  # the top one only
    assert [r.score for r in top_regions(pmap, (0.1, 0.1), settings=high)] == [dets[0].score]
    # The rule is the detections': given in any order, the same regions.
    again = regions_from_detections(dets[::-1], pmap)
    assert again == top_regions(pmap, (0.1, 0.1))


def test_regions_come_from_as_many_detections_as_they_need() -> None:
    """Six clusters of 25 peaks, each cluster inside one patch, the clusters a patch apart
    (1 mm pixels: the peaks 3 px apart are detections of their own): the top 100
    detections lie in four clusters and give four regions, all 150 give six, which the
    rule lists (version 2 stopped at the 100th detection and listed four)."""
    image, patch, stride, k = 160, 32, 4, 4  # a lattice step of 1 px
    grid = make_grid((image, image), patch, stride)
    fine_pos = np.full(((grid.rows - 1) * k + 1, (grid.cols - 1) * k + 1), 0.45)
    score = 0.95
    for r0, c0 in [(5, 5), (5, 40), (5, 75), (40, 5), (40, 40), (40, 75)]:
        for i in range(5):
            for j in range(5):
                fine_pos[r0 + 3 * i, c0 + 3 * j] = score
                score -= 0.001
    pmap = _fine_map(fine_pos, image, patch, stride)
    spacing = (1.0, 1.0)
    every = find_detections(pmap.dense(), spacing, threshold=0.5, max_detections=10**6)
    assert len(every) == 150
    want = regions_from_detections(every, pmap)
    assert len(want) == 6 and len(regions_from_detections(every[:100], pmap)) == 4
    assert top_regions(pmap, spacing) == want
    # An analysis's regions (from the detections it keeps) are the same.
    breast = np.ones(pmap.unit_shape, bool)
    im = ImageAnalysis("x", pmap, np.zeros(pmap.unit_shape), breast, spacing, map_scores(pmap), [])
    assert top_regions(pmap, spacing, breast, find=im.detections) == want
    # Fewer regions asked for: the top 100 detections suffice, no search further.
    few = SlidingSettings(max_regions=3)
    assert top_regions(pmap, spacing, settings=few) == want[:3]
    asked: list[int] = []

    def find(det: DetectionSettings) -> list:
        asked.append(det.max_detections)
        return every[: det.max_detections]

    assert top_regions(pmap, spacing, settings=few, find=find) == want[:3] and asked == [100]
    assert top_regions(pmap, spacing, find=find) == want and asked == [100, 100, 400]


def _random_fine_map(rng: np.random.Generator) -> ProbabilityMap:
    """A dense-inference map of random size and texture (blobs, plateaus, zeros)."""
    image = int(rng.integers(48, 200))
    grid = make_grid((image, image), 32, 16)
    shape = ((grid.rows - 1) * 4 + 1, (grid.cols - 1) * 4 + 1)
    fine = rng.random(shape) ** float(rng.uniform(1.0, 10.0))
    if rng.random() < 0.3:
        fine = np.round(fine, 1)  # ties and plateaus
    if rng.random() < 0.3:
        fine = np.where(rng.random(shape) < 0.7, 0.0, fine)
    return _fine_map(fine, image=image)


@pytest.mark.parametrize("seed", range(4))
def test_positive_iff_a_listed_region_scores_at_or_above_the_threshold(seed: int) -> None:
    """Over random maps, breasts, spacings, region settings and thresholds at or above the
    region threshold (among them the regions' and the map's own scores): an image reads
    positive exactly when it lists a region at or above the threshold; its regions are
    non-overlapping, at most ``max_regions``, in the breast, each a detection."""
    rng = np.random.default_rng(seed)
    for _ in range(12):
        pmap = _random_fine_map(rng)
        breast = rng.random(pmap.unit_shape) < rng.choice([0.05, 0.5, 1.0])
        spacing = (float(rng.uniform(0.05, 0.3)), float(rng.uniform(0.05, 0.3)))
        settings = SlidingSettings(
            min_region_score=float(rng.choice([0.0, rng.uniform(0.0, 0.9)])),
            max_regions=int(rng.integers(1, 9)),
            nms_overlap=float(rng.choice([0.0, 0.1, 0.5])),
        )
        regions = top_regions(pmap, spacing, breast, settings=settings)
        score = map_scores(pmap, breast).score
        least = settings.min_region_score
        for t in [*rng.uniform(least, 1.0, 4), *(r.score for r in regions), score, least, 1.0]:
            t = float(t)
            if t < least or t <= 0:
                continue
            positive = (
                DecisionThreshold(t, "test").decide(score, "calcification") == "calcification"
            )
            assert positive == any(r.score >= t for r in regions), (t, score, regions[:2])
        assert len(regions) <= settings.max_regions
        assert [r.rank for r in regions] == list(range(1, len(regions) + 1))
        assert [r.score for r in regions] == sorted((r.score for r in regions), reverse=True)
        if regions:
            assert regions[0].score == score
        dets = {d.score for d in find_detections(pmap.dense(), spacing, valid=breast)}
        tolerance = np.float32(plateau_tolerance(np.where(breast, pmap.dense(), 0)))
        for i, a in enumerate(regions):
            at = (int(a.center[0]), int(a.center[1]))  # model input = native here
            # a detection's score (its plateau's maximum), at its centre: on its plateau
            assert a.score >= least and a.score in dets
            assert a.score - tolerance <= pmap.dense()[at] <= a.score
            assert breast[at]
            for b in regions[i + 1 :]:
                dy = max(0, 32 - abs(a.origin[0] - b.origin[0]))
                dx = max(0, 32 - abs(a.origin[1] - b.origin[1]))
                assert dy * dx / (2 * 32 * 32 - dy * dx) <= settings.nms_overlap


@pytest.mark.parametrize(
    "score, words",
    [
        (0.26, "below the model's operating threshold (0.42): not read as calcification"),
        (0.42, "at or above the model's operating threshold (0.42): read as calcification"),
        (0.97, "at or above the model's operating threshold (0.42): read as calcification"),
    ],
)
def test_a_decision_in_a_readers_words_names_its_threshold(score, words) -> None:
    """What the case report and Predict say of an image's decision: which side of the
    threshold, the threshold itself, and the class; never a bare "negative"."""
    threshold = DecisionThreshold(0.42, "the model card")
    assert threshold.reading(score, "calcification") == words
    assert "negative" not in threshold.reading(score, "calcification")


def _grid_map(pos: np.ndarray) -> ProbabilityMap:
    grid = make_grid((160, 160), 32, 16)
    assert pos.shape == (grid.rows, grid.cols)
    proba = np.stack([1.0 - pos, pos], axis=-1).astype(np.float32)
    return ProbabilityMap(proba, np.ones(pos.shape, bool), grid, CLASSES, native_shape=(160, 160))


def test_a_model_that_scores_every_patch_the_same_is_said_to() -> None:
    """An EfficientNet-B0 trained two steps (the walk of 7 December 2026) scored every one
    of 1389-1750 patches of each demo image 0.500473: its regions were listed by a score
    that is noise and its Grad-CAM (peak 2e-9) drawn against its own maximum, with no word.
    A model one epoch into training (0.02 logit span) or trained (13-25) is not flagged."""
    flat = _grid_map(np.full((9, 9), 0.500473))
    note = flat_map_note(flat)
    assert note is not None
    assert "same probability" in note and "81 patches" in note and "0.500" in note
    barely = _grid_map(0.5 + np.linspace(-0.0026, 0.0026, 81).reshape(9, 9))  # 0.02 logit
    assert flat_map_note(barely) is None
    trained = _grid_map(np.geomspace(1e-6, 0.99, 81).reshape(9, 9))
    assert flat_map_note(trained) is None
    one = _grid_map(np.full((9, 9), 0.3))
    one.evaluated[:] = False
    one.evaluated[0, 0] = True  # a single patch has nothing to differ from
    assert flat_map_note(one) is None
