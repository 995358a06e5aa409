"""Each freeze strategy freezes what it says (parameter counts asserted)."""

from __future__ import annotations

import keras  # noqa: F401  (a broken install fails here, not skips)
import numpy as np
import pytest

from mcalc.errors import ModelError
from mcalc.models.architectures import base_layers, build_model, head_layers
from mcalc.models.freeze import apply_freeze, count_params


def _params(layers, trainable_only: bool = False) -> int:
    ws = [
        w
        for layer in layers
        for w in (layer.trainable_weights if trainable_only else layer.weights)
    ]
    return sum(int(np.prod(w.shape)) for w in ws)


@pytest.fixture(scope="module")
def vgg():
    return build_model("vgg16", 32, 2)


@pytest.fixture(scope="module")
def resnet():
    return build_model("resnet50", 32, 3)


def test_full_trains_everything(vgg) -> None:
    report = apply_freeze(vgg, "vgg16", "full")
    assert report.trainable_params == report.total_params == vgg.count_params()
    assert report.frozen_layers == 0


def test_head_trains_only_the_head(vgg) -> None:
    report = apply_freeze(vgg, "vgg16", "head")
    head = _params(head_layers(vgg))
    assert report.trainable_params == head == 512 * 2 + 2
    assert report.total_params == vgg.count_params()
    assert all(not layer.trainable for layer in base_layers(vgg))


def test_partial_freezes_up_to_the_boundary(vgg) -> None:
    report = apply_freeze(vgg, "vgg16", "partial")
    assert report.boundary == "block5_conv1"
    block5 = _params([vgg.get_layer(f"block5_conv{i}") for i in (1, 2, 3)])
    assert report.trainable_params == block5 + _params(head_layers(vgg))
    assert not vgg.get_layer("block4_conv3").trainable
    assert vgg.get_layer("block5_conv1").trainable


def test_partial_boundary_is_configurable_and_checked(vgg) -> None:
    report = apply_freeze(vgg, "vgg16", "partial", boundary="block4_conv1")
    assert report.trainable_params > _params([vgg.get_layer("block5_conv1")])
    with pytest.raises(ModelError, match="boundary layer 'nope'"):
        apply_freeze(vgg, "vgg16", "partial", boundary="nope")


def test_unknown_strategy_is_refused(vgg) -> None:
    with pytest.raises(ModelError, match="full, partial, head"):
        apply_freeze(vgg, "vgg16", "most")


def test_random_backbone_freeze_is_warned(vgg, caplog) -> None:
    report = apply_freeze(vgg, "vgg16", "head", pretrained=False)
    assert report.warnings and "randomly initialised" in report.warnings[0]
    assert not apply_freeze(vgg, "vgg16", "full", pretrained=False).warnings


@pytest.mark.parametrize("then", ["full", "partial", "head"])
def test_a_head_stage_before_another_is_not_warned(vgg, caplog, then) -> None:
    """``--two-stage --freeze full``: the head's stage warned "'head' freezes 2 layers ...
    (use --freeze full, ...)" although --freeze full was given; the later stage decides
    whether random layers stay frozen, and warns for itself."""
    import logging

    with caplog.at_level(logging.WARNING, logger="mcalc.models.freeze"):
        report = apply_freeze(vgg, "vgg16", "head", pretrained=False, then=then)
    assert report.frozen_layers and not report.warnings and not caplog.records


def test_resnet_partial_keeps_batchnorm_frozen_in_inference_mode(resnet) -> None:
    report = apply_freeze(resnet, "resnet50", "partial")
    bn = resnet.get_layer("conv5_block1_1_bn")
    assert not bn.trainable
    assert resnet.get_layer("conv5_block1_1_conv").trainable
    t = np.random.default_rng(0).random((4, 1, 1, bn.weights[0].shape[0])).astype("float32")
    # A frozen BatchNorm uses its moving statistics even when called with training=True.
    np.testing.assert_allclose(bn(t, training=True), bn(t, training=False), atol=1e-6)
    trainable, total = count_params(resnet)
    assert (trainable, total) == (report.trainable_params, report.total_params)
    assert 0 < trainable < total


def test_custom_head_and_partial_counts() -> None:
    model = build_model("custom", 32, 2)
    conv1, conv2 = model.get_layer("conv1"), model.get_layer("conv2")
    head = _params(head_layers(model))
    assert apply_freeze(model, "custom", "head").trainable_params == head
    assert apply_freeze(model, "custom", "partial").trainable_params == head + _params([conv2])
    assert apply_freeze(model, "custom", "full").trainable_params == head + _params([conv1, conv2])


def test_trainable_share_never_rounds_to_zero_or_all() -> None:
    """Train's "Share that trains": a ResNet-50 head (4,098 of 23,591,810) read "0.0%"."""
    from mcalc.models.plan import FreezePlan

    def share(trainable: int, total: int) -> str:
        return FreezePlan("a", "head", None, trainable, total).trainable_share

    assert share(4098, 23591810) == "0.017%"
    assert share(23591810 - 4098, 23591810) == "99.983%"
    assert (share(0, 10), share(10, 10), share(22786, 23106)) == ("0.0%", "100.0%", "98.6%")


@pytest.mark.parametrize("channels", [1, 2])
def test_the_plan_counts_what_the_trained_model_has(channels) -> None:
    """The Train page showed a temporal (two-channel) custom CNN's parameters as a gray
    one's: 23,106 where the model it trains has 23,394 (its first convolution has a kernel
    per channel). Oracle: Keras' own ``trainable_weights`` of the model training builds."""
    from mcalc.models.plan import freeze_plan

    plans = freeze_plan("custom", 2, channels=channels)
    for strategy, plan in plans.items():
        model = build_model("custom", 48, 2, channels=channels)
        apply_freeze(model, "custom", strategy)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert (plan.trainable_params, plan.total_params) == (trainable, model.count_params())
