"""Dense inference: which models qualify, and the one-pass map equals the sliding window."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.explain.dense import dense_obstacle, dense_plan, dense_runner
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings, predict_map
from tests.explain_fixtures import PATCH, random_model, spot_model
from tests.test_sliding import _image, _loaded


def _same_padded():
    import keras
    from keras import layers

    inputs = keras.Input((PATCH, PATCH, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="c")(inputs)
    x = layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(x))


def _flatten_head():
    import keras
    from keras import layers

    inputs = keras.Input((PATCH, PATCH, 1))
    x = layers.Conv2D(4, 3, activation="relu")(inputs)
    return keras.Model(inputs, layers.Dense(2, activation="softmax")(layers.Flatten()(x)))


def test_valid_bases_under_a_global_pooling_qualify_and_others_say_why() -> None:
    plan = dense_plan(random_model(2, PATCH))
    # conv1 (valid) 32 -> 30, pool1 -> 15, conv2 (valid) -> 13; one 2x2 pooling: stride 2.
    assert plan is not None and (plan.stride, plan.window, plan.pooling) == (2, 13, "max")
    assert plan.head == ("head_dense", "head_dropout", "head_output")
    assert dense_plan(spot_model()).stride == 1
    assert "pads its input" in dense_obstacle(_same_padded())
    assert "global pooling" in dense_obstacle(_flatten_head())
    assert plan.fine_stride(16) == 4 and plan.fine_stride(12) == 4 and plan.fine_stride(7) is None


@pytest.mark.parametrize(("stride", "min_breast"), [(16, 0.3), (6, 0.0)])
def test_dense_map_equals_the_sliding_window_at_the_grid_points(stride, min_breast) -> None:
    loaded = _loaded(random_model(2, PATCH, seed=5))
    unit, breast = _image((150, 118), seed=2)
    kw = {"breast": breast, "factor": 0.5}
    off = SlidingSettings(stride, min_breast=min_breast, dense=False)
    slid = predict_map(loaded, unit, settings=off, **kw)
    dense = predict_map(loaded, unit, settings=SlidingSettings(stride, min_breast=min_breast), **kw)
    assert slid.fine is None and dense.fine is not None
    np.testing.assert_array_equal(dense.evaluated, slid.evaluated)
    np.testing.assert_allclose(dense.proba, slid.proba, atol=1e-5, rtol=0)
    assert dense.proba[dense.evaluated].std() > 0  # random weights answer differently
    # The lattice holds the grid points, and more.
    k = stride // dense.fine_stride
    np.testing.assert_allclose(dense.fine[::k, ::k], slid.proba, atol=1e-5, rtol=0)
    assert dense.fine.shape[0] > dense.proba.shape[0]
    # It survives the results cache, and its dense map comes from the lattice.
    back = ProbabilityMap.from_arrays(dense.to_arrays())
    np.testing.assert_array_equal(back.fine, dense.fine)
    np.testing.assert_allclose(back.dense(shape=(75, 59)), dense.dense(shape=(75, 59)))


def test_lattice_points_between_grid_points_are_the_patch_model_s() -> None:
    from mcalc.models.inference import predict_patches

    loaded = _loaded(random_model(2, PATCH, seed=1))
    unit, breast = _image((96, 80), seed=4)
    pmap = predict_map(loaded, unit, settings=SlidingSettings(16, min_breast=0.0), breast=breast)
    step = pmap.fine_stride
    ph, pw = pmap.grid.padded_shape
    padded = np.pad(unit, ((0, ph - unit.shape[0]), (0, pw - unit.shape[1])), mode="edge")
    cells = [(1, 3), (2, 5), (5, 2)]  # off the grid (grid points are every 4th)
    patches = np.stack(
        [padded[t * step : t * step + PATCH, u * step : u * step + PATCH] for t, u in cells]
    )
    expected = predict_patches(loaded, patches)
    got = np.stack([pmap.fine[t, u] for t, u in cells])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_a_model_that_does_not_qualify_slides() -> None:
    model = _same_padded()
    assert dense_runner(model) is None
    unit, breast = _image((80, 70))
    loaded = _loaded(model)
    pmap = predict_map(loaded, unit, settings=SlidingSettings(16), breast=breast)
    assert pmap.fine is None and pmap.n_patches > 0


def test_past_the_edge_both_passes_read_the_edge_repeated_not_zeros() -> None:
    """Tissue up to the image's edge (a CC view's chest wall): the grid's last row and column
    reach past it; the sliding window and the dense pass both read the edge repeated there
    (as extract_patch does), never a dark band that a model takes for a calcification."""
    from mcalc.explain.grid import pad_to_grid
    from mcalc.models.inference import predict_patches
    from mcalc.models.patches import extract_patch

    loaded = _loaded(random_model(2, PATCH, seed=5))
    rng = np.random.default_rng(7)
    unit = (0.6 + 0.2 * rng.random((100, 90))).astype(np.float32)
    breast = np.ones(unit.shape, bool)
    kw = {"breast": breast, "settings": SlidingSettings(12, min_breast=0.0)}
    slid = predict_map(loaded, unit, **{**kw, "settings": SlidingSettings(12, dense=False)})
    dense = predict_map(loaded, unit, **kw)
    grid = slid.grid
    assert grid.padded_shape[0] > unit.shape[0] and grid.padded_shape[1] > unit.shape[1]
    corner = (grid.rows - 1, grid.cols - 1)
    patch = extract_patch(unit, tuple(grid.centers()[corner]), PATCH)
    assert patch.min() > 0.5  # the edge repeated: no dark band
    padded = pad_to_grid(unit, grid)
    r0, c0 = corner[0] * grid.stride, corner[1] * grid.stride
    np.testing.assert_array_equal(padded[r0 : r0 + PATCH, c0 : c0 + PATCH], patch)
    expected = predict_patches(loaded, patch[None])[0]
    np.testing.assert_allclose(slid.proba[corner], expected, atol=1e-5)
    np.testing.assert_allclose(dense.proba, slid.proba, atol=1e-5, rtol=0)
    zero = patch.copy()
    zero[unit.shape[0] - r0 :, :] = 0.0
    zero[:, unit.shape[1] - c0 :] = 0.0
    assert np.abs(predict_patches(loaded, zero[None])[0] - expected).max() > 1e-4


def test_bands_inside_the_image_are_views_and_past_its_edge_copies_of_the_edge() -> None:
    """TensorFlow copies each band into a tensor of its own: a band inside the image is
    handed over as a view (one copy, not two), one past its edge as a copy with the edge
    repeated; the lattice reads the same either way."""
    runner = dense_runner(random_model(2, PATCH, seed=5))
    image = np.random.default_rng(3).random((150, 118), np.float32)
    step = runner.plan.stride * 2
    rows, cols = (150 - PATCH) // step + 2, (118 - PATCH) // step + 2  # one past the edge
    wanted = np.ones((rows, cols), bool)
    wanted[:, :2] = False
    wanted[: rows // 2, -1] = False  # the upper bands end inside the image
    budget = 40 * 118  # several bands
    padded = np.pad(image, ((0, 2 * PATCH), (0, 2 * PATCH)), mode="edge")
    kinds = set()
    for (t0, t1, u0, u1), pixels in runner.tiles(image, step, wanted, budget):
        r0, r1, c0, c1 = t0 * step, (t1 - 1) * step + PATCH, u0 * step, (u1 - 1) * step + PATCH
        np.testing.assert_array_equal(pixels, padded[r0:r1, c0:c1])
        inside = r1 <= image.shape[0] and c1 <= image.shape[1]
        assert np.shares_memory(pixels, image) == inside
        kinds.add(inside)
    assert kinds == {True, False}
    as_views = runner.lattice(image, step, wanted, budget_px=budget)
    as_copies = runner.lattice(image.astype(np.float64), step, wanted, budget_px=budget)
    np.testing.assert_array_equal(as_views, as_copies)
