"""Class activation maps: tf-keras-vis against a plain GradientTape Grad-CAM, no NaN, safe
normalisation, clear layer errors, and the shared model left untouched."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from mcalc.explain.cams import CamSettings, explain_map
from mcalc.explain.errors import ExplainError, LayerError
from mcalc.explain.explainer import CAM_METHODS, COMPILED_BATCH, Explainer
from mcalc.explain.grid import make_grid
from mcalc.explain.layers import check_layer, default_layer
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings
from mcalc.explain.stitch import joint_range, normalize_map, stitch, taper_window
from mcalc.models.tasks import TASKS
from tests.explain_fixtures import PATCH, random_model, spot_model


@pytest.fixture(scope="module")
def model():
    return random_model(2, PATCH, seed=1)


@pytest.fixture(scope="module")
def explainer(model):
    return Explainer(model, "custom")


@pytest.fixture(scope="module")
def patches():
    rng = np.random.default_rng(0)
    x = 0.4 + 0.1 * rng.random((5, PATCH, PATCH), dtype=np.float32)
    x[:, 10:13, 20:23] = 0.95  # a bright spot for something to see
    return x


def _tape_gradcam(model, x: np.ndarray, layer: str, class_index: int) -> np.ndarray:
    """Grad-CAM written out: d(logit)/d(feature maps), spatial mean, weighted sum, ReLU."""
    from scipy.ndimage import zoom

    head = model.get_layer("head_output")
    kernel, bias = (w.numpy() if hasattr(w, "numpy") else w for w in head.weights)
    feats = keras.Model(model.inputs, [model.get_layer(layer).output, head.input])
    inputs = tf.constant(x[..., None])
    with tf.GradientTape() as tape:
        conv, hidden = feats(inputs, training=False)
        tape.watch(conv)
        logits = tf.matmul(hidden, kernel) + bias
        score = logits[:, class_index]
    grads = tape.gradient(score, conv).numpy()
    weights = grads.mean(axis=(1, 2), keepdims=True)
    cam = np.maximum((weights * conv.numpy()).sum(axis=-1), 0.0)
    factor = (1, x.shape[1] / cam.shape[1], x.shape[2] / cam.shape[2])
    return zoom(cam, factor, order=1)


@pytest.mark.parametrize("layer", ["conv2", "conv1"])
def test_gradcam_matches_a_plain_gradient_tape_gradcam(model, explainer, patches, layer) -> None:
    for class_index in (0, 1):
        ours = explainer.explain_patches(patches, "gradcam", class_index, layer)
        ref = _tape_gradcam(model, patches, layer, class_index)
        assert ours.shape == ref.shape == patches.shape
        if ref.max() <= 0:  # ReLU of a random model may leave nothing for one class
            continue
        corr = np.corrcoef(ours.ravel(), ref.ravel())[0, 1]
        assert corr > 0.99, f"{layer} class {class_index}: correlation {corr:.4f}"
        np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-6 * float(ref.max()))


def test_patch_maps_do_not_depend_on_the_batch(explainer, patches) -> None:
    together = explainer.explain_patches(patches, "gradcam", 1, batch=5)
    alone = explainer.explain_patches(patches[2:3], "gradcam", 1)
    np.testing.assert_allclose(together[2], alone[0], rtol=1e-4, atol=1e-7)


def test_compiled_gradcam_reports_after_every_64_patches(explainer, patches) -> None:
    """A report follows every call of at most COMPILED_BATCH patches: where cancelled work
    (an analysis ahead a reader's run waits for) stops, within tens of ms."""
    assert explainer.compiled_gradcam("conv2") is not None  # the compiled path is the one run
    many = np.concatenate([patches] * 14)  # 70 patches
    done: list[int] = []
    cams = explainer.explain_patches(
        many, "gradcam", 1, "conv2", progress=lambda d, t, m: done.append(d)
    )
    assert done == [COMPILED_BATCH, 70] and COMPILED_BATCH == 64
    np.testing.assert_allclose(cams[5:10], cams[:5], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("compiled", [True, False])
def test_non_finite_maps_read_as_zero_with_a_warning(patches, compiled, caplog) -> None:
    """A model whose class weights are NaN: the compiled Grad-CAM (which cleans its maps on
    the graph) and tf-keras-vis' (cleaned in numpy) both give zero maps and say so."""
    model = random_model(2, PATCH, seed=3)
    out = model.get_layer("head_output")
    kernel, bias = out.get_weights()
    out.set_weights([np.full_like(kernel, np.nan), bias])
    xp = Explainer(model, "custom", compiled=compiled)
    if compiled:
        assert xp.compiled_gradcam("conv2") is not None  # the compiled path is the one run
    with caplog.at_level("WARNING", logger="mcalc.explain.explainer"):
        cams = xp.explain_patches(patches, "gradcam", 1, "conv2")
    assert cams.shape == patches.shape and cams.dtype == np.float32
    np.testing.assert_array_equal(cams, 0.0)
    assert "gradcam of conv2 gave non-finite values; read as 0" in caplog.text
    cams[0, 0, 0] = 1.0  # the caller's own array


@pytest.mark.parametrize("method", CAM_METHODS)
def test_every_method_runs_without_nan(explainer, patches, method) -> None:
    cams = explainer.explain_patches(patches, method, 1, scorecam_max_n=16)
    assert cams.shape == patches.shape
    assert np.isfinite(cams).all() and (cams >= 0).all()
    assert np.isfinite(normalize_map(cams[0])).all()


def test_gradcam_plus_plus_survives_huge_logits(patches) -> None:
    loud = spot_model()
    out = loud.get_layer("head_output")
    kernel, bias = out.get_weights()
    out.set_weights([kernel * 1e4, bias + 500.0])  # logits far beyond exp()'s float32 range
    cams = Explainer(loud).explain_patches(patches, "gradcam++", 1)
    assert np.isfinite(cams).all()
    assert cams.max() > 0  # the spot is still found


@pytest.mark.parametrize(
    ("cam", "kwargs"),
    [
        (np.full((8, 8), 3.0), {}),
        (np.full((8, 8), 3.0), {"vmin": 0.0}),
        (np.zeros((8, 8)), {}),
        (np.zeros((8, 8)), {"vmin": 0.0, "vmax": 0.0}),
        (np.array([[np.nan, 1.0], [np.inf, -np.inf]]), {}),
        (np.arange(4.0).reshape(2, 2), {"vmin": 0.0, "vmax": 10.0}),
    ],
)
def test_normalisation_is_safe(cam, kwargs) -> None:
    out = normalize_map(cam, **kwargs)
    assert out.shape == cam.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0


def test_joint_range_is_one_scale_for_several_maps() -> None:
    a, b = np.full((2, 2), 2.0), np.full((3, 3), 5.0)
    assert joint_range([a, b]) == (0.0, 5.0)
    assert joint_range([]) == (0.0, 0.0)
    assert normalize_map(a, 0.0, joint_range([a, b])[1]).max() == pytest.approx(0.4)


def test_layers_list_their_feature_map_sizes_and_default_to_the_last_conv(model) -> None:
    xp = Explainer(model, "custom")
    labels = [info.label for info in xp.layers()]
    assert labels[0] == "conv1 · Conv2D · 30×30×32"  # valid padding: 32 - 2
    assert "conv2 · Conv2D · 13×13×64" in labels
    assert all(info.spatial for info in xp.layers())
    assert xp.default_layer() == "conv2"
    assert default_layer(spot_model()) == "conv2"  # unknown architecture: last convolution


@pytest.mark.parametrize("layer", ["head_pool", "head_output"])
def test_a_layer_without_spatial_output_is_a_clear_error(explainer, patches, layer) -> None:
    with pytest.raises(LayerError, match=r"\(height, width, channels\)"):
        check_layer(explainer.model, layer)
    with pytest.raises(LayerError, match="conv"):
        explainer.explain_patches(patches, "gradcam", 1, layer)


def test_unknown_layer_and_bad_inputs_are_clear_errors(explainer, patches) -> None:
    with pytest.raises(LayerError, match="no layer 'conv9'"):
        explainer.explain_patches(patches, "gradcam", 1, "conv9")
    with pytest.raises(ValueError, match=r"expected patches of shape \(N, 32, 32\)"):
        explainer.explain_patches(np.zeros((2, 16, 16)), "gradcam", 1)
    with pytest.raises(ValueError, match="out of range"):
        explainer.explain_patches(patches, "gradcam", 5)
    with pytest.raises(ValueError, match="gradcam, gradcam\\+\\+, scorecam"):
        CamSettings(method="lime")


def test_explainer_objects_are_built_once_and_reused(explainer) -> None:
    first = explainer.visualizer("gradcam", "conv2")
    assert explainer.visualizer("gradcam", "conv2") is first
    assert explainer.linear_model("conv2") is explainer.linear_model("conv2")
    assert explainer.visualizer("gradcam++", "conv2").model is first.model  # one clone


def test_the_shared_model_is_never_modified(patches) -> None:
    model = random_model(2, PATCH, seed=5)
    weights = [w.copy() for w in model.get_weights()]
    configs = [layer.get_config() for layer in model.layers]
    before = model.predict_on_batch(patches[..., None])
    xp = Explainer(model, "custom")
    for method in CAM_METHODS:
        for layer in ("conv2", "conv1"):
            xp.explain_patches(patches, method, 1, layer, scorecam_max_n=8)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    assert [layer.get_config() for layer in model.layers] == configs
    assert model.get_layer("head_output").activation.__name__ == "softmax"
    np.testing.assert_allclose(model.predict_on_batch(patches[..., None]), before, atol=1e-6)


def test_taper_windows_of_half_overlapping_patches_add_up_to_one() -> None:
    w = taper_window(32)
    assert w.min() > 0
    summed = w[:, :16] + w[:, 16:]  # two neighbours half a patch apart
    np.testing.assert_allclose(summed[5], summed[5].mean(), rtol=1e-5)


def test_stitch_takes_the_weighted_mean_of_overlapping_patch_maps() -> None:
    grid = make_grid((64, 64), 32, 16)
    origins = np.argwhere(np.ones((grid.rows, grid.cols), bool)) * grid.stride
    ones = np.ones((len(origins), 32, 32), np.float32)
    np.testing.assert_allclose(stitch(ones, origins, grid), 1.0, rtol=1e-5)
    np.testing.assert_allclose(stitch(ones, origins, grid, taper=False), 1.0)
    zero = stitch(ones, origins, grid, np.zeros(len(origins)))
    assert (zero == 0).all()
    one_patch = stitch(ones[:1], origins[:1], grid)
    assert one_patch[:32, :32].min() > 0.99 and (one_patch[32:, :] == 0).all()
    off_grid = stitch(2 * ones[:1], np.array([[5, 27]]), grid)  # anywhere, not on the grid
    assert (off_grid[5:37, 27:59] > 1.99).all() and off_grid.sum() == pytest.approx(2 * 32 * 32)


def test_explain_map_stitches_a_full_image_map_on_the_spots() -> None:
    grid = make_grid((64, 64), 32, 16)
    unit = np.full((64, 64), 0.5, np.float32)
    unit[40:42, 20:22] = 1.0  # a calcification-like spot
    proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
    proba[..., 1] = 0.9
    pmap = ProbabilityMap(
        proba, np.ones((grid.rows, grid.cols), bool), grid, TASKS["calcification"].classes
    )
    xp = Explainer(spot_model())
    cam = explain_map(xp, unit, pmap, CamSettings("gradcam", scope="breast"))
    assert cam.heat.shape == (64, 64) and cam.layer == "conv2" and cam.target == "calcification"
    peak = np.unravel_index(np.argmax(cam.heat), cam.heat.shape)
    assert 38 <= peak[0] <= 43 and 18 <= peak[1] <= 23
    # auto: the listed regions (found at the image's spacing)
    regions = explain_map(xp, unit, pmap, CamSettings("scorecam"), spacing_mm=(0.1, 0.1))
    assert regions.settings.resolved_scope == "listed" and 0 < len(regions.origins) < grid.size
    assert "explained the" in regions.notes[0] and "scoring 0.50 or more" in regions.notes[0]
    again = type(cam).from_arrays(cam.to_arrays())
    np.testing.assert_array_equal(again.heat, cam.heat)
    with pytest.raises(ExplainError, match="not the one of the probability map"):
        explain_map(xp, np.zeros((10, 10), np.float32), pmap)
    with pytest.raises(ValueError, match="pass spacing_mm"):
        explain_map(xp, unit, pmap, CamSettings("scorecam"))


def test_scorecam_auto_explains_no_patch_of_an_image_without_a_region() -> None:
    """Score-CAM's ``auto`` explains the regions as listed (at or above the region
    threshold): none on an image where no patch reaches it, and says so; it explained the
    best 8 patches of any image, a normal one too, without a word. ``regions`` still
    explains the best ones whatever their score."""
    grid = make_grid((96, 96), 32, 16)
    unit = np.full((96, 96), 0.5, np.float32)
    unit[::16, ::16] = 1.0  # spots in every patch, for the maps to show something
    proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
    proba[..., 1] = np.linspace(0.05, 0.45, grid.size).reshape(grid.rows, grid.cols)
    proba[..., 0] = 1 - proba[..., 1]
    pmap = ProbabilityMap(
        proba, np.ones((grid.rows, grid.cols), bool), grid, TASKS["calcification"].classes
    )
    xp = Explainer(spot_model())
    mm = (0.1, 0.1)
    none = explain_map(xp, unit, pmap, CamSettings("scorecam"), spacing_mm=mm)
    assert none.origins.shape == (0, 2) and not none.heat.any()
    assert none.notes == [
        "Score-CAM: no region scores 0.50 or more, so none was explained (Explain: the top "
        "regions, or the whole breast, explains this image anyway)"
    ]
    best = explain_map(xp, unit, pmap, CamSettings("scorecam", scope="regions"), spacing_mm=mm)
    assert len(best.origins) > 0 and best.heat.any()
    lower = explain_map(
        xp,
        unit,
        pmap,
        CamSettings("scorecam"),
        sliding=SlidingSettings(min_region_score=0.4),
        spacing_mm=mm,
    )
    assert 0 < len(lower.origins) < len(best.origins) + 1 and "0.40 or more" in lower.notes[0]
    assert CamSettings("scorecam").key() != CamSettings("scorecam", scope="regions").key()


def test_a_map_that_is_zero_everywhere_says_why_and_what_to_try() -> None:
    """A class whose evidence at the layer is negative everywhere (weakly trained VGG-16
    models, a user check): Grad-CAM's ReLU leaves a map of 0.0 that was shown and scored
    without a word. The note names the class and layer and suggests Grad-CAM++ or another
    layer; a map with something in it has no such note."""
    grid = make_grid((64, 64), 32, 16)
    unit = np.full((64, 64), 0.5, np.float32)
    unit[40:42, 20:22] = 1.0
    proba = np.zeros((grid.rows, grid.cols, 2), np.float32)
    proba[..., 1] = 0.9
    pmap = ProbabilityMap(
        proba, np.ones((grid.rows, grid.cols), bool), grid, TASKS["calcification"].classes
    )
    negative = spot_model()
    dense, bias = negative.get_layer("head_output").get_weights()
    negative.get_layer("head_output").set_weights([-dense, bias])  # a spot lowers the class
    settings = CamSettings("gradcam", scope="breast")
    cam = explain_map(Explainer(negative), unit, pmap, settings)
    assert len(cam.origins) > 0 and not cam.heat.any()
    assert cam.notes == [
        "Grad-CAM: the map is zero everywhere for class calcification at layer conv2: the ReLU "
        "of the channels' gradient-weighted sum removes every contribution (at this layer the "
        "class's evidence is negative throughout); it says nothing about where the model "
        "looks: try Grad-CAM++, Score-CAM or another layer"
    ]
    assert type(cam).from_arrays(cam.to_arrays()).notes == cam.notes  # cached with it
    plain = explain_map(Explainer(spot_model()), unit, pmap, settings)
    assert plain.heat.any() and plain.notes == []
    # Maps zeroed by their patches' probability of the class, not by the method.
    pmap.proba[..., 1] = 0.0
    weighed = explain_map(Explainer(spot_model()), unit, pmap, settings)
    assert (
        not weighed.heat.any() and "every patch explained has probability 0" in (weighed.notes[0])
    )


def _off_grid_map() -> tuple[np.ndarray, ProbabilityMap]:
    """An image with a spot between grid points, and a dense-inference map peaking there
    (the grid points all 0.1), as the demo's normal-4 CC prior."""
    grid = make_grid((96, 96), 32, 16)
    unit = np.full((96, 96), 0.5, np.float32)
    unit[50:52, 38:40] = 1.0  # the spot, near pixel (51, 39)
    fine = np.full(((grid.rows - 1) * 4 + 1, (grid.cols - 1) * 4 + 1), 0.1, np.float32)
    fine[9, 6] = 0.9  # lattice point (9 * 4 + 15.5, 6 * 4 + 15.5) = (51.5, 39.5)
    proba = np.stack([1 - fine, fine], axis=-1)
    pmap = ProbabilityMap(
        np.ascontiguousarray(proba[::4, ::4]),
        np.ones((grid.rows, grid.cols), bool),
        grid,
        TASKS["calcification"].classes,
        native_shape=(96, 96),
        fine=proba,
        fine_stride=4,
    )
    return unit, pmap


@pytest.mark.parametrize("method", ["gradcam", "scorecam"])
def test_explaining_an_off_grid_region_is_explaining_its_patch_directly(method) -> None:
    """A region's patch is cut at its detection (not a grid cell): the map of the top region
    is that patch's map, cut here by hand and explained alone, times the region's score."""
    from mcalc.explain.scoring import top_regions

    unit, pmap = _off_grid_map()
    (region,) = top_regions(pmap, (0.1, 0.1))
    r0, c0 = region.origin
    assert (r0 % 16, c0 % 16) != (0, 0)  # between grid patches
    xp = Explainer(spot_model())
    one = SlidingSettings(max_regions=1)
    cam = explain_map(
        xp, unit, pmap, CamSettings(method, scope="regions"), sliding=one, spacing_mm=(0.1, 0.1)
    )
    np.testing.assert_array_equal(cam.origins, [[r0, c0]])
    direct = xp.explain_patches(unit[None, r0 : r0 + 32, c0 : c0 + 32].copy(), method, 1)[0]
    assert direct.max() > 0
    np.testing.assert_allclose(
        cam.heat[r0 : r0 + 32, c0 : c0 + 32], region.score * direct, rtol=1e-5, atol=1e-7
    )
    cam.heat[r0 : r0 + 32, c0 : c0 + 32] = 0
    assert not cam.heat.any()  # nothing outside the region's patch
    # Every scope explains this image; the regions ones (Score-CAM's auto: those listed)
    # from the same patch first.
    for scope in ("regions", "breast", "auto"):
        settings = CamSettings(method, scope=scope)
        other = explain_map(xp, unit, pmap, settings, spacing_mm=(0.1, 0.1))
        assert other.heat.any() and np.isfinite(other.heat).all(), scope
        if settings.resolved_scope != "breast":
            assert [r0, c0] == other.origins[0].tolist(), scope


def test_scorecam_reports_between_batches_of_masked_inputs_so_a_cancel_stops_it(
    model, explainer, patches
) -> None:
    """Score-CAM sends its masked inputs (patches x channels) through the model in one
    call: progress, where a cancelled analysis stops (``mcalc.progress``), came only at
    that call's end (22-35 s for 8 ResNet-50 patches under load). It comes after every
    batch of them now, and a cancel raised there ends the call."""
    from mcalc.progress import Cancelled

    reports: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        reports.append(message)
        if "masked input" in message:
            raise Cancelled("cancelled")

    x = np.concatenate([patches, patches])[:8]
    with pytest.raises(Cancelled):
        explainer.explain_patches(x, "scorecam", 1, "conv2", scorecam_max_n=8, progress=progress)
    # (8 patches x at least 8 channels: tf-keras-vis takes each patch's 8 best channels)
    assert len(reports) == 1 and re.fullmatch(
        r"scorecam: patches 1-8 of 8, masked input 32/(\d+)", reports[0]
    ), reports
    assert int(reports[0].rsplit("/", 1)[1]) >= 64
    # The stepped predict gives the maps of Keras' own predict (another explainer's,
    # whose clone has its stepped predict taken away).
    whole = explainer.explain_patches(x, "scorecam", 1, "conv2", scorecam_max_n=8)
    other = Explainer(model, "custom")
    other.visualizer("scorecam", "conv2")
    del other.linear_model("conv2").predict
    keras_own = other.explain_patches(x, "scorecam", 1, "conv2", scorecam_max_n=8)
    np.testing.assert_allclose(whole, keras_own, rtol=1e-4, atol=1e-6)


def test_compiled_prefix_gives_the_same_maps_and_bypassed_layers_fall_back(patches) -> None:
    from keras import layers

    model = random_model(2, PATCH, seed=2)
    fast = Explainer(model, "custom")
    assert fast.split("conv2") is not None
    slow = Explainer(model, "custom")
    slow._splits["conv2"] = None  # force the whole clone through tf-keras-vis
    for method in ("gradcam", "gradcam++"):
        np.testing.assert_allclose(
            fast.explain_patches(patches, method, 1, "conv2"),
            slow.explain_patches(patches, method, 1, "conv2"),
            rtol=1e-4,
            atol=1e-6,
        )
    # A skip connection that bypasses conv_b: no split, the whole clone is used.
    inp = keras.Input((PATCH, PATCH, 1))
    a = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    b = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_b")(a)
    c = layers.Conv2D(4, 1, name="conv_c")(inp)
    y = layers.GlobalMaxPooling2D()(layers.Add()([b, c]))
    skip = keras.Model(inp, layers.Dense(2, activation="softmax")(y))
    xp = Explainer(skip)
    assert xp.split("conv_b") is None
    cams = xp.explain_patches(patches, "gradcam", 1, "conv_b")
    assert cams.shape == patches.shape and np.isfinite(cams).all()


@pytest.mark.parametrize("layer", ["conv2", "conv1", "pool1"])  # pool1 holds no variable
def test_compiled_gradcam_gives_tf_keras_vis_maps(model, explainer, patches, layer) -> None:
    from mcalc.explain.explainer import _pooled_by

    assert explainer.compiled and explainer.compiled_gradcam(layer) is not None
    # conv2 feeds the global pooling: its weights come from the pooled vector's gradient.
    assert (_pooled_by(explainer.split(layer)[1], layer) is not None) == (layer == "conv2")
    oracle = Explainer(model, "custom", compiled=False)  # tf-keras-vis' Gradcam
    for class_index in (0, 1):
        ours = explainer.explain_patches(patches, "gradcam", class_index, layer)
        ref = oracle.explain_patches(patches, "gradcam", class_index, layer)
        assert ours.shape == ref.shape == patches.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-6 * max(float(ref.max()), 1.0))


def test_the_explained_clone_computes_what_the_model_computes(tmp_path, monkeypatch) -> None:
    # Keras' Normalization (EfficientNet's stem, holding ImageNet's mean and variance when
    # the weights came from Keras) normalises with copies made from its weights when they
    # are loaded: set_weights() on a clone left it at mean 0, variance 1, so Grad-CAM
    # explained another function than the model's (the probabilities differed, the maps
    # correlated 0.66 and -0.18 with a tape Grad-CAM of the model itself).
    from mcalc.models.architectures import build_model
    from tests.models_fixtures import keras_efficientnet_file

    keras_efficientnet_file(tmp_path, monkeypatch)
    model = build_model("efficientnetb0", 32, 2, imagenet=True)
    head = model.get_layer("head_output")
    kernel, bias = head.get_weights()
    rng = np.random.default_rng(0)
    head.set_weights([rng.normal(size=kernel.shape).astype("float32"), bias])
    x = rng.random((3, 32, 32, 1)).astype("float32")
    explainer = Explainer(model, "efficientnetb0")
    clone = explainer.linear_model(explainer.default_layer())
    want = np.asarray(model(x, training=False))
    got = np.asarray(keras.activations.softmax(clone(x, training=False)))
    assert np.allclose(got, want, atol=1e-5)
