"""Freeze strategies: which layers train.

- ``full``: every layer trains;
- ``partial``: the base is frozen up to a boundary layer (per architecture, configurable),
  later blocks and the head train; BatchNorm layers stay frozen (inference mode) so that
  small batches cannot wreck their statistics (keras-io transfer-learning guide);
- ``head``: the whole convolutional base is frozen, only the classifier head trains.

In Keras 3 a BatchNormalization layer with ``trainable = False`` runs in inference mode, so
a frozen base keeps its statistics. The model must be (re)compiled after this function:
:func:`apply_freeze` does not compile.

Example:
    >>> from mcalc.models.architectures import build_model  # doctest: +SKIP
    >>> report = apply_freeze(build_model("custom", 32), "custom", "head")  # doctest: +SKIP
    >>> report.trainable_params < report.total_params  # doctest: +SKIP
    True
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mcalc.errors import ModelError
from mcalc.models.architectures import arch_spec, base_layers

if TYPE_CHECKING:
    import keras

__all__ = ["STRATEGIES", "FreezeReport", "apply_freeze", "count_params", "default_lr"]

log = logging.getLogger(__name__)

STRATEGIES: tuple[str, ...] = ("full", "partial", "head")


@dataclass(frozen=True)
class FreezeReport:
    """What a strategy froze (recorded in the card)."""

    strategy: str
    boundary: str | None
    trainable_params: int
    total_params: int
    frozen_layers: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        return out


def count_params(model: keras.Model) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts of ``model``."""
    import numpy as np

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    return trainable, total


def _is_batchnorm(layer: Any) -> bool:
    return layer.__class__.__name__ == "BatchNormalization"


def apply_freeze(
    model: keras.Model,
    arch: str,
    strategy: str,
    *,
    boundary: str | None = None,
    pretrained: bool = True,
    freeze_batchnorm: bool = True,
    then: str | None = None,
) -> FreezeReport:
    """Set ``trainable`` on ``model``'s layers according to ``strategy``.

    Args:
        model: a model from :func:`mcalc.models.architectures.build_model`.
        arch: its architecture name.
        strategy: ``full``, ``partial`` or ``head``.
        boundary: ``partial`` only: the first layer that trains (default: the
            architecture's).
        pretrained: whether the base holds pre-trained weights; freezing random weights is
            allowed but warned about.
        freeze_batchnorm: ``partial`` only: keep every BatchNorm layer frozen.
        then: the strategy of a later stage (``--two-stage``: this is the head's stage).
            Random layers frozen now then stay random only as far as that stage freezes
            them, and its own call warns of that: none is warned of here.

    Returns:
        A :class:`FreezeReport` with the trainable and total parameter counts.

    Raises:
        ModelError: unknown strategy or boundary layer.
    """
    if strategy not in STRATEGIES:
        raise ModelError(
            f"unknown freeze strategy {strategy!r}; expected one of: {', '.join(STRATEGIES)}"
        )
    spec = arch_spec(arch)
    base = base_layers(model)
    names = [layer.name for layer in base]
    model.trainable = True
    for layer in model.layers:
        # Preprocessing (``pre_``) is fixed: a temporal input's channel mixing never trains.
        layer.trainable = not layer.name.startswith("pre_")
    used_boundary: str | None = None
    if strategy == "head":
        for layer in base:
            layer.trainable = False
    elif strategy == "partial":
        used_boundary = boundary or spec.partial_boundary
        if used_boundary not in names:
            raise ModelError(
                f"boundary layer {used_boundary!r} is not in the base of {spec.name}; "
                f"expected one of its layers, e.g. {spec.partial_boundary!r}"
            )
        cut = names.index(used_boundary)
        for i, layer in enumerate(base):
            if i < cut or (freeze_batchnorm and _is_batchnorm(layer)):
                layer.trainable = False
    frozen = sum(1 for layer in base if not layer.trainable and layer.weights)
    warnings: list[str] = []
    if frozen and not pretrained and then is None:
        message = (
            f"{strategy!r} freezes {frozen} layers of a randomly initialised {spec.name} base: "
            "they stay random (use --freeze full, or pre-trained weights)"
        )
        log.warning(message)
        warnings.append(message)
    trainable, total = count_params(model)
    return FreezeReport(strategy, used_boundary, trainable, total, frozen, tuple(warnings))


def default_lr(arch: str, strategy: str, pretrained: bool) -> float:
    """Learning rate when none is given: 1e-3 from scratch or for a head alone, 1e-4 when
    fine-tuning pre-trained layers (small steps keep what they learned).

    Example:
        >>> default_lr("vgg16", "partial", pretrained=True)
        0.0001
    """
    if strategy == "head" or not pretrained or arch == "custom":
        return 1e-3
    return 1e-4
