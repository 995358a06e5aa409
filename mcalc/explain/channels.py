"""Which input channel a temporal model's evidence came from: the recent image or the change.

A temporal model (:mod:`mcalc.models.temporal_input`) sees the recent image and the
subtraction of the registered prior. For each of its top regions this module splits the
evidence between the two by **gradient x input** against a "nothing there" baseline
(Shrikumar et al. 2016; Ancona et al., ICLR 2018): black for the recent image and 0.5 (no
change) for the subtraction. The share of a channel is the sum of ``|gradient x (input -
baseline)|`` over its pixels divided by the sum over all channels: a high ``subtraction``
share says the model answered from what changed since the prior round.

Example:
    >>> shares = result.channel_evidence(loaded)  # an ImageAnalysis  # doctest: +SKIP
    >>> shares[0]["subtraction"]  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.grid import PatchGrid, pad_to_grid, patches_at

if TYPE_CHECKING:
    from mcalc.models.inference import LoadedModel

__all__ = ["BASELINES", "channel_shares", "region_evidence"]

#: The "nothing there" value of each channel of a temporal input.
BASELINES = {"recent": 0.0, "subtraction": 0.5}
_EPS = 1e-12


def channel_shares(
    model: Any, patches: np.ndarray, class_index: int, baselines: tuple[float, ...]
) -> np.ndarray:
    """``(N, C)`` share of each channel in ``|gradient x (patch - baseline)|`` of the class.

    Args:
        model: a Keras model taking ``(N, P, P, C)``.
        patches: ``(N, P, P, C)`` float32 in [0, 1].
        class_index: the output explained.
        baselines: one value per channel.

    Raises:
        ValueError: patches without channels or a baseline per channel.
    """
    import tensorflow as tf

    x = np.asarray(patches, np.float32)
    if x.ndim != 4 or x.shape[-1] != len(baselines):
        raise ValueError(
            f"expected patches (N, P, P, {len(baselines)}), one baseline per channel; got {x.shape}"
        )
    if not len(x):
        return np.zeros((0, len(baselines)), np.float32)
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        out = model(xt, training=False)[:, class_index]
    grad = tape.gradient(out, xt).numpy()
    attribution = np.abs(grad * (x - np.asarray(baselines, np.float32))).sum(axis=(1, 2))
    return (attribution / (attribution.sum(axis=1, keepdims=True) + _EPS)).astype(np.float32)


def region_evidence(
    loaded: LoadedModel,
    model_input: np.ndarray,
    grid: PatchGrid,
    origins: np.ndarray,
    class_index: int,
) -> list[dict[str, float]]:
    """Per region of a temporal model's map: each channel's share of the evidence.

    Args:
        loaded: the temporal model (its card names the channels).
        model_input: what the model was slid over, ``(H, W, C)``.
        grid: the map's patch grid.
        origins: ``(N, 2)`` top-left corners of the regions' patches (model-input
            pixels, :attr:`~mcalc.explain.scoring.Region.origin`), in order.
        class_index: the output explained.
    """
    if len(origins) == 0:
        return []
    names = loaded.card.patch.channels
    patches = patches_at(pad_to_grid(model_input, grid), origins, grid.patch)
    baselines = tuple(BASELINES.get(n, 0.0) for n in names)
    shares = channel_shares(loaded.model, patches, class_index, baselines)
    return [{n: round(float(v), 3) for n, v in zip(names, row, strict=True)} for row in shares]
