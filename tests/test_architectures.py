"""Each architecture builds flat, trains one tiny step, explains with Grad-CAM, and
survives a save / safe-mode load round trip."""

from __future__ import annotations

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


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_builds_flat_trains_and_explains(arch: str, tmp_path) -> None:
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore

    spec = arch_spec(arch)
    model = build_model(arch, SIZE, 2)
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


def test_preprocessing_lives_in_the_model() -> None:
    model = build_model("vgg16", SIZE, 2)
    names = [layer.name for layer in model.layers]
    assert "pre_gray_to_rgb" in names and "pre_caffe_scale" in names
    assert model.get_layer("block1_conv1").input.shape[-1] == 3
