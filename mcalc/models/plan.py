"""What a freeze strategy trains, block by block, for one architecture.

:func:`freeze_plan` builds the architecture once (no weights are loaded; parameter counts
do not depend on them nor on the patch size, since the head pools globally, but they do on
the input's channels), applies each strategy with :func:`mcalc.models.freeze.apply_freeze`,
and reports per block whether it trains. Building a big backbone takes a few seconds: callers should cache the result (the
app does, with ``st.cache_resource``).

Example:
    >>> plans = freeze_plan("custom", n_classes=2)  # doctest: +SKIP
    >>> plans["head"].trainable_params < plans["full"].trainable_params  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "STRATEGY_LABEL",
    "STRATEGY_TEXT",
    "random_freeze_text",
    "BlockRow",
    "FreezePlan",
    "freeze_plan",
    "block_name",
]

log = logging.getLogger(__name__)

#: Each freeze strategy's name as people read it (the app's choice and its warnings).
STRATEGY_LABEL: dict[str, str] = {"full": "Full", "partial": "Partial", "head": "Head only"}


def random_freeze_text(strategy: str, arch: str) -> str:
    """What freezing layers without pre-trained weights means, as the app says it (Train,
    Evaluate's cross-validation): those layers stay random.

    Example:
        >>> random_freeze_text("head", "vgg16")[:46]
        'The freeze strategy **Head only** freezes laye'
    """
    return (
        f"The freeze strategy **{STRATEGY_LABEL[strategy]}** freezes layers of a {arch} base "
        "that has no pre-trained weights: those layers stay random and the model can only "
        "learn in what still trains."
    )


#: Each freeze strategy in plain words.
STRATEGY_TEXT: dict[str, str] = {
    "full": (
        "Every layer learns. The most flexible choice, and the right one when the backbone "
        "has no pre-trained weights; it needs the most data and time, and can overfit a "
        "small dataset."
    ),
    "partial": (
        "The early blocks (edges, textures) stay as they are; the later blocks and the "
        "classifier head learn. The usual fine-tuning of a pre-trained backbone: fewer "
        "parameters to fit, small learning rate. BatchNorm layers stay frozen so small "
        "batches cannot spoil their statistics."
    ),
    "head": (
        "The whole convolutional base stays frozen and works as a fixed feature extractor; "
        "only the small classifier head learns. Fast and hard to overfit, but only as good "
        "as the features the base already has: useless with a random base."
    ),
}

_EFFNET_BLOCK = re.compile(r"^(block\d+)[a-z]$")


def block_name(layer_name: str) -> str:
    """The block a layer belongs to: ``conv2_block1_1_conv`` -> ``conv2``,
    ``block6a_expand_conv`` -> ``block6``, ``head_dense`` -> ``head``."""
    if layer_name.startswith("head_"):
        return "head"
    first = layer_name.split("_")[0]
    match = _EFFNET_BLOCK.match(first)
    return match.group(1) if match else first


@dataclass(frozen=True)
class BlockRow:
    """One block: its layers with weights and how many of its parameters train.

    ``learnable`` counts the parameters that train when everything trains (BatchNorm's
    moving statistics, for one, never do), so ``status`` compares like with like.
    """

    block: str
    layers: int
    params: int
    learnable: int
    trainable: int

    @property
    def status(self) -> str:
        """``trains``, ``frozen``, ``partly`` (e.g. BatchNorm kept frozen) or ``fixed``
        (nothing in it ever trains, e.g. input normalisation)."""
        if self.learnable == 0:
            return "fixed"
        if self.trainable == 0:
            return "frozen"
        return "trains" if self.trainable >= self.learnable else "partly"

    def as_dict(self) -> dict[str, Any]:
        return {
            "block": self.block,
            "layers": self.layers,
            "parameters": self.params,
            "trainable": self.trainable,
            "status": self.status,
        }


@dataclass(frozen=True)
class FreezePlan:
    """What one strategy trains in one architecture."""

    arch: str
    strategy: str
    boundary: str | None
    trainable_params: int
    total_params: int
    blocks: tuple[BlockRow, ...] = field(default_factory=tuple)

    @property
    def trainable_fraction(self) -> float:
        return self.trainable_params / max(self.total_params, 1)

    @property
    def trainable_share(self) -> str:
        """The fraction as a percentage that never reads 0 (or 100) when it is not: a
        ResNet-50 head (4,098 of 23.6 million parameters) read "0.0%".

        >>> FreezePlan("resnet50", "head", None, 4098, 23591810).trainable_share
        '0.017%'
        >>> FreezePlan("custom", "partial", "conv2", 22786, 23106).trainable_share
        '98.6%'
        """
        f = self.trainable_fraction
        if f in (0.0, 1.0) or 0.001 <= f <= 0.999:
            return f"{f:.1%}"
        return f"{f:.3%}"


def _weights_size(weights: list[Any]) -> int:
    import numpy as np

    return sum(int(np.prod(w.shape)) for w in weights)


def freeze_plan(
    arch: str, n_classes: int = 2, boundary: str | None = None, channels: int = 1
) -> dict[str, FreezePlan]:
    """The plan of every strategy for ``arch`` (builds the model once; slow for big ones).

    Args:
        arch: architecture name.
        n_classes: outputs of the head (2 for ``calcification``, 3 for ``birads``).
        boundary: ``partial`` boundary layer (default: the architecture's).
        channels: input channels (1 gray, 2 a temporal input): the custom CNN's first
            convolution has a kernel per channel, and a backbone's fixed channel mixing
            counts in its total.

    Returns:
        Strategy name -> :class:`FreezePlan`.

    Raises:
        ModelError: unknown architecture or boundary layer.
    """
    from mcalc.models.architectures import MIN_PATCH_SIZE, arch_spec, build_model
    from mcalc.models.freeze import STRATEGIES, apply_freeze

    spec = arch_spec(arch)
    model = build_model(spec.name, MIN_PATCH_SIZE, n_classes, channels=channels)
    layers = [
        layer for layer in model.layers if layer.weights and not layer.name.startswith("pre_")
    ]
    apply_freeze(model, spec.name, "full")
    learnable = {layer.name: _weights_size(layer.trainable_weights) for layer in layers}
    plans = {}
    for strategy in STRATEGIES:
        # pretrained=True: only the counts matter here, not the warning about random bases.
        report = apply_freeze(model, spec.name, strategy, boundary=boundary, pretrained=True)
        rows: dict[str, list[int]] = {}
        for layer in layers:
            row = rows.setdefault(block_name(layer.name), [0, 0, 0, 0])
            row[0] += 1
            row[1] += _weights_size(layer.weights)
            row[2] += learnable[layer.name]
            row[3] += _weights_size(layer.trainable_weights)
        plans[strategy] = FreezePlan(
            arch=spec.name,
            strategy=strategy,
            boundary=report.boundary,
            trainable_params=report.trainable_params,
            total_params=report.total_params,
            blocks=tuple(BlockRow(name, *counts) for name, counts in rows.items()),
        )
    log.debug("freeze plans of %s computed", spec.name)
    return plans
