"""Sliding-window inference: maps equal per-patch predictions, aggregation, top regions
(the region rule itself: tests/test_explain_scoring.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.explain.errors import NoBreastRegionError
from mcalc.explain.grid import PatchGrid, breast_fractions, make_grid
from mcalc.explain.scoring import (
    MAP_SCORE_RULE,
    case_score,
    decision_threshold,
    map_score,
    map_scores,
    top_regions,
)
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings, predict_map
from mcalc.models.card import ModelCard
from mcalc.models.patches import extract_patch
from mcalc.models.tasks import TASKS, positive_class_for
from tests.explain_fixtures import PATCH, random_model, spot_model


def _loaded(model, task: str = "calcification", patch: int | None = None):
    from mcalc.models.inference import LoadedModel

    size = patch or int(model.input_shape[1])
    return LoadedModel(
        model=model,
        card=ModelCard(id="t", task_name=task),
        patch_size=size,
        spacing_mm=None,
        classes=TASKS[task].classes,
        window="file",
    )


def _image(shape=(100, 90), seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A bright half-disc of textured 'tissue' against the left edge, and its mask."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    breast = (rr - shape[0] / 2) ** 2 + cc**2 < (0.45 * shape[0] + 20) ** 2
    img = np.where(breast, 0.5 + 0.1 * rng.random(shape), 0.0).astype(np.float32)
    return img, breast


@pytest.fixture(scope="module")
def rand_loaded():
    return _loaded(random_model(2, PATCH, seed=3))


def test_grid_geometry_covers_the_image() -> None:
    grid = make_grid((100, 90), 32, 16)
    assert (grid.rows, grid.cols) == (6, 5)
    assert grid.padded_shape[0] >= 100 and grid.padded_shape[1] >= 90
    assert grid.box(grid.rows - 1, grid.cols - 1) == (80, 100, 64, 90)
    centers = grid.centers()
    assert centers.shape == (6, 5, 2) and tuple(centers[0, 0]) == (16, 16)
    small = make_grid((20, 10), 32, 16)  # smaller than a patch: one zero-padded patch
    assert (small.rows, small.cols) == (1, 1)
    with pytest.raises(ValueError, match="stride"):
        make_grid((10, 10), 32, 0)


def test_breast_fractions_count_padding_as_not_breast() -> None:
    mask = np.ones((40, 40), bool)
    frac = breast_fractions(mask, make_grid(mask.shape, 32, 16))
    assert frac[0, 0] == pytest.approx(1.0)
    assert frac[-1, -1] == pytest.approx((24 * 24) / (32 * 32))


def test_map_matches_per_patch_predictions_at_the_same_positions(rand_loaded) -> None:
    from mcalc.models.inference import predict_patches

    unit, breast = _image()
    calls = []
    pmap = predict_map(
        rand_loaded,
        unit,
        settings=SlidingSettings(stride=12, batch=7, min_breast=0.3, dense=False),
        breast=breast,
        progress=lambda d, t, m: calls.append((d, t)),
    )
    cells = np.argwhere(pmap.evaluated)
    assert len(cells) == pmap.n_patches > 10
    centers = pmap.grid.centers()
    patches = np.stack([extract_patch(unit, tuple(centers[i, j]), PATCH) for i, j in cells])
    expected = predict_patches(rand_loaded, patches)
    np.testing.assert_allclose(pmap.proba[cells[:, 0], cells[:, 1]], expected, atol=1e-5)
    assert (pmap.proba[~pmap.evaluated] == 0).all()
    fractions = breast_fractions(breast, pmap.grid)
    np.testing.assert_array_equal(pmap.evaluated, fractions >= 0.3)
    assert calls[-1] == (len(cells), len(cells)) and len(calls) == -(-len(cells) // 7)


def test_dense_map_interpolates_between_patch_centres() -> None:
    grid = make_grid((64, 64), 32, 16)
    proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
    proba[..., 1] = np.arange(grid.size, dtype=np.float32).reshape(grid.rows, grid.cols)
    pmap = ProbabilityMap(
        proba, np.ones((grid.rows, grid.cols), bool), grid, TASKS["calcification"].classes
    )
    dense = pmap.dense()
    assert dense.shape == (64, 64)
    # At the geometric centre of an inner patch (31.5, 31.5) the value is the patch's own;
    # before the first centre the map holds the first patch's value.
    assert dense[31:33, 31:33].mean() == pytest.approx(proba[1, 1, 1], abs=1e-5)
    np.testing.assert_allclose(dense[:15, :15], proba[0, 0, 1])
    assert dense[40, 31] == pytest.approx(3 * (40 - 15.5) / 16 + (31 - 15.5) / 16, abs=1e-5)
    const = ProbabilityMap(np.full_like(proba, 0.25), pmap.evaluated, grid, pmap.classes)
    np.testing.assert_allclose(const.dense(shape=(128, 100)), 0.25, atol=1e-6)


def test_the_positive_class_dense_map_is_made_once_and_read_only(monkeypatch) -> None:
    """The analysis, the detections and the page's layers each read the map: made once."""
    from mcalc.explain import sliding

    grid = make_grid((64, 64), 32, 16)
    proba = np.random.default_rng(0).random((grid.rows, grid.cols, 2)).astype(np.float32)
    pmap = ProbabilityMap(
        proba, np.ones((grid.rows, grid.cols), bool), grid, TASKS["calcification"].classes
    )
    calls = []
    real = sliding.interpolation_weights
    monkeypatch.setattr(sliding, "interpolation_weights", lambda *a: calls.append(a) or real(*a))
    first = pmap.dense()
    assert pmap.dense() is first and pmap.dense(pmap.positive) is first
    assert len(calls) == 2  # one per axis, once
    assert not first.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0] = 1.0
    # Other classes and sizes are made on each call, writable, with the same values.
    other = pmap.dense(0)
    assert other is not pmap.dense(0) and other.flags.writeable
    big = pmap.dense(shape=(64, 64))
    assert big is not first and big.flags.writeable
    np.testing.assert_array_equal(big, first)
    # Not part of the map's equality, nor of what the results cache stores.
    assert pmap == ProbabilityMap(proba, pmap.evaluated, grid, pmap.classes)
    assert set(pmap.to_arrays()) == {"proba", "evaluated", "meta"}


@pytest.mark.parametrize(
    ("values", "mask", "expected"),
    [
        ([[0.1, 0.9], [0.5, 0.7]], None, 0.9),
        ([[0.1, 0.9], [0.5, 0.7]], [[1, 0], [1, 1]], 0.7),  # outside the breast: ignored
        ([[0.1, 0.9]], [[0, 0]], 0.0),  # no breast
        ([[0.0, 0.0]], None, 0.0),  # nothing above 0: no detection, score 0
    ],
)
def test_map_score_on_hand_made_values(values, mask, expected) -> None:
    m = None if mask is None else np.array(mask, bool)
    assert map_score(np.array(values, np.float32), m) == pytest.approx(expected)


def test_map_score_rejects_bad_maps_and_case_score_rules() -> None:
    with pytest.raises(ValueError, match="2-D"):
        map_score(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        map_score(np.array([[np.nan, 0.4]]))
    with pytest.raises(ValueError, match=r"breast mask \(1, 1\) and map \(1, 2\)"):
        map_score(np.ones((1, 2)), np.ones((1, 1), bool))
    assert case_score([0.2, 0.9, 0.4]) == 0.9
    assert case_score([0.2, 0.4], rule="mean") == pytest.approx(0.3)
    with pytest.raises(ValueError, match="at least one"):
        case_score([])


def _hand_map(task: str = "calcification", factor: float = 1.0) -> ProbabilityMap:
    grid = make_grid((160, 160), 32, 16)  # 9 x 9 cells
    classes = TASKS[task].classes
    proba = np.zeros((grid.rows, grid.cols, len(classes)), np.float32)
    pos = classes.index(positive_class_for(classes))
    proba[..., pos] = 0.05
    proba[2, 2, pos] = 0.95  # peak 1
    proba[2, 3, pos] = 0.90  # its neighbour: suppressed
    proba[7, 6, pos] = 0.80  # peak 2, far away
    proba[5, 0, pos] = 0.40  # under the threshold
    proba[..., 0] = 1.0 - proba[..., pos]
    return ProbabilityMap(
        proba,
        np.ones((grid.rows, grid.cols), bool),
        grid,
        classes,
        factor=factor,
        native_shape=(round(160 / factor), round(160 / factor)),
    )


def test_map_scores_use_the_positive_class_and_say_their_rule() -> None:
    pmap = _hand_map()
    scores = map_scores(pmap)
    assert scores.positive_class == "calcification"
    # The dense map's maximum, at the peak patch's centre: its probability.
    assert scores.score == pytest.approx(float(pmap.dense().max())) and scores.score > 0.9
    assert scores.rule == MAP_SCORE_RULE
    as_json = scores.as_dict()
    assert as_json["score"] == round(scores.score, 6) and as_json["score_name"] == "map score"
    # Outside the breast the peak does not count.
    breast = np.ones(pmap.unit_shape, bool)
    breast[:80, :80] = False
    assert map_scores(pmap, breast).score == pytest.approx(float(pmap.dense()[breast].max()))
    assert map_scores(pmap, breast).score < scores.score
    birads = map_scores(_hand_map("birads"))
    assert birads.positive_class == "suspicious" and birads.score == pytest.approx(scores.score)
    assert set(birads.classes) == {"normal", "benign", "suspicious"}
    assert birads.classes["normal"] == pytest.approx(float(_hand_map("birads").dense(0).max()))


@pytest.mark.parametrize(
    ("card", "value", "default"),
    [
        ({}, 0.5, True),
        ({"decision_threshold": 0.3}, 0.3, False),
        ({"decision_threshold": {"value": 0.42, "source": "Youden's J (validation)"}}, 0.42, False),
        ({"decision_threshold": {"value": 7}}, 0.5, True),  # not a probability: the default
        ({"decision_threshold": True}, 0.5, True),
    ],
)
def test_decision_threshold_comes_from_the_card_else_the_stated_default(
    card, value, default
) -> None:
    threshold = decision_threshold(ModelCard.from_json(card))
    assert threshold.value == pytest.approx(value) and threshold.is_default is default
    assert ("default" in threshold.source) is default
    # Said after the value ("at threshold 0.5 (...)" in the case report): not repeated.
    assert f"{value:g}" not in threshold.source or not default
    assert threshold.decide(value, "calcification") == "calcification"
    assert threshold.decide(value - 0.01, "calcification") == "not calcification"


def test_an_image_smaller_than_the_patch_says_so(rand_loaded) -> None:
    """A 48 px wide crop read "the breast region is too small for this model; lower the
    breast threshold", a setting no page or command offers."""
    with pytest.raises(NoBreastRegionError) as info:
        predict_map(rand_loaded, np.full((20, 10), 0.5, np.float32), breast=np.ones((20, 10), bool))
    message = str(info.value)
    assert "the image (10x20 px at the model's pixel spacing) is smaller than the patch" in message
    assert "breast threshold" not in message, message


def test_blank_image_and_unfitting_models_are_clear_errors(rand_loaded) -> None:
    with pytest.raises(NoBreastRegionError, match="no breast region"):
        predict_map(rand_loaded, np.zeros((80, 80), np.float32))
    unit, breast = _image()
    with pytest.raises(ModelError, match=r"expected \(48, 48, 1\)"):
        predict_map(_loaded(rand_loaded.model, patch=48), unit, breast=breast)
    bad_task = _loaded(rand_loaded.model)
    bad_task.card = ModelCard(id="t", task_name="density")
    with pytest.raises(ModelError, match="calcification, birads"):
        predict_map(bad_task, unit, breast=breast)
    with pytest.raises(ModelError, match="outputs"):
        predict_map(_loaded(rand_loaded.model, task="birads"), unit, breast=breast)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="min_breast"):
        SlidingSettings(min_breast=2.0)
    with pytest.raises(TypeError, match="top_k"):  # gone: the map score has no k
        SlidingSettings(top_k=3)  # type: ignore[call-arg]
    assert SlidingSettings().stride_for(64) == 32


def test_the_spot_detector_finds_the_annotated_calcifications(tiny_demo) -> None:
    from mcalc.annotations import load_annotation_mask
    from mcalc.dataset import open_dataset
    from mcalc.explain.sliding import predict_mammogram
    from mcalc.imageio import read_image

    rec = open_dataset(tiny_demo).case("suspicious-1").image("CC", "recent")
    mammo = read_image(rec.image_path)
    mask, _ = load_annotation_mask(rec.annotation_path, rec.annotation_kind, mammo.shape)
    pmap, unit = predict_mammogram(_loaded(spot_model()), mammo)
    assert unit.shape == mammo.shape and pmap.factor == 1.0
    regions = top_regions(pmap, mammo.pixel_spacing_mm)  # model input = the file here
    assert regions and regions[0].score > 0.9
    for r in regions[:2]:
        r0, r1, c0, c1 = r.box
        assert mask[r0:r1, c0:c1].any(), f"region {r.rank} at {r.box} holds no annotation"
    assert map_scores(pmap).score > 0.9
    # A round trip through the cache's arrays keeps the map.
    again = ProbabilityMap.from_arrays(pmap.to_arrays())
    np.testing.assert_array_equal(again.proba, pmap.proba)
    assert again.grid == pmap.grid and again.classes == pmap.classes
    assert isinstance(again.grid, PatchGrid)
