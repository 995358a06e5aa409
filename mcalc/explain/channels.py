"""Which input channel a temporal model's evidence came from: the recent image or the change.

A temporal model (:mod:`mcalc.models.temporal_input`) sees the recent image and the
subtraction of the registered prior. For each of its top regions this module splits the
evidence between the two by **gradient x input** against a "nothing there" baseline
(Shrikumar et al. 2016; Ancona et al., ICLR 2018): black for the recent image and 0.5 (no
change) for the subtraction. The share of a channel is the sum of ``|gradient x (input -
baseline)|`` over its pixels divided by the sum over all channels: a high ``subtraction``
share says the model answered from what changed since the prior round.

Example:
    >>> shares = region_evidence(loaded, result)  # doctest: +SKIP
    >>> shares[0]["subtraction"]  # doctest: +SKIP
    0.71
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.grid import gather_patches, pad_to_grid

if TYPE_CHECKING:
    from mcalc.explain.image_analysis import ImageAnalysis
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


def region_evidence(loaded: LoadedModel, result: ImageAnalysis) -> list[dict[str, float]]:
    """Per top region of a temporal model's analysis: each channel's share of the evidence
    (empty for other models)."""
    if result.temporal is None or not result.regions:
        return []
    names = loaded.card.patch.channels
    grid = result.pmap.grid
    cells = np.array([r.cell for r in result.regions], dtype=np.int64)
    patches = gather_patches(pad_to_grid(result.model_input, grid), grid, cells)
    k = result.pmap.class_index(None)
    shares = channel_shares(loaded.model, patches, k, tuple(BASELINES.get(n, 0.0) for n in names))
    return [{n: round(float(v), 3) for n, v in zip(names, row, strict=True)} for row in shares]
