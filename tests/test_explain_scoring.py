"""The map score follows the detections' rule: one image is never called negative with a
detection at or above the threshold drawn, nor positive with none (mcalc/explain/scoring.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.explain.grid import make_grid
from mcalc.explain.image_analysis import ImageAnalysis
from mcalc.explain.scoring import DecisionThreshold, map_score, map_scores
from mcalc.explain.sliding import ProbabilityMap
from mcalc.models.detection import DetectionSettings, find_detections

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
