"""tf.data input pipelines over patch arrays: caching, class balancing, augmentation.

Training batches are drawn class-balanced (each class equally likely, so rare
calcification patches are not drowned by tissue) and augmented with flips, 90-degree
rotations and mild intensity changes. Evaluation batches are neither balanced nor augmented.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["train_dataset", "eval_dataset", "steps_per_epoch"]

_AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module load


def steps_per_epoch(y: np.ndarray, batch: int, n_classes: int, balance: bool = True) -> int:
    """Batches per epoch: one pass over the largest class per class when balancing."""
    if balance:
        largest = max(int((y == k).sum()) for k in range(n_classes))
        n = largest * int(sum((y == k).any() for k in range(n_classes)))
    else:
        n = len(y)
    return max(1, math.ceil(n / batch))


def _with_channels(x: np.ndarray) -> np.ndarray:
    """Patches as ``(N, H, W, C)`` float32: gray ``(N, H, W)`` get one channel."""
    arr = np.asarray(x, np.float32)
    return arr[..., None] if arr.ndim == 3 else arr


def _options() -> tf.data.Options:
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    return options


def augment(x: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Random flips, 90-degree rotation and mild gain/offset of one ``(H, W, C)`` patch.

    The gain and offset touch the first (image) channel only: the others of a temporal
    input are differences whose 0.5 means "no change", and must keep that meaning.

    Uses stateless random ops keyed by ``seed`` (shape ``[2]``), so runs are reproducible.
    """
    import tensorflow as tf

    seeds = tf.random.experimental.stateless_split(seed, num=5)
    x = tf.image.stateless_random_flip_left_right(x, seeds[0])
    x = tf.image.stateless_random_flip_up_down(x, seeds[1])
    k = tf.random.stateless_uniform([], seeds[2], 0, 4, dtype=tf.int32)
    x = tf.image.rot90(x, k)
    gain = tf.random.stateless_uniform([], seeds[3], 0.9, 1.1)
    offset = tf.random.stateless_uniform([], seeds[4], -0.05, 0.05)
    image = tf.clip_by_value(x[..., :1] * gain + offset, 0.0, 1.0)
    return tf.concat([image, x[..., 1:]], axis=-1)


def train_dataset(
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    batch: int,
    *,
    seed: int = 0,
    balance: bool = True,
    augment_data: bool = True,
    shard: tuple[int, int] | None = None,
) -> tf.data.Dataset:
    """An endless, shuffled, optionally class-balanced and augmented training stream.

    Args:
        x: float32 patches ``(N, H, W)`` in [0, 1], or ``(N, H, W, C)`` (temporal input).
        y: int class indices ``(N,)``.
        n_classes: number of classes (one-hot depth).
        batch: batch size.
        seed: shuffling, sampling and augmentation seed.
        balance: draw each class present with equal probability.
        augment_data: apply :func:`augment`.
        shard: ``(shards, index)``: keep elements ``index, index + shards, ...`` of the
            stream (one worker's part in multi-worker training), each augmented as it is
            in the whole stream; ``batch`` is then this worker's share of a batch.

    Returns:
        Batches ``((B, H, W, 1) float32, (B, n_classes) float32)``; use
        :func:`steps_per_epoch` for ``fit(steps_per_epoch=...)``.
    """
    import tensorflow as tf

    x4 = _with_channels(x)
    onehot = np.eye(n_classes, dtype=np.float32)[np.asarray(y, np.int64)]
    present = [k for k in range(n_classes) if (y == k).any()]
    if balance and len(present) > 1:
        parts = [
            tf.data.Dataset.from_tensor_slices((x4[y == k], onehot[y == k]))
            .cache()
            .shuffle(int((y == k).sum()), seed=seed + k, reshuffle_each_iteration=True)
            .repeat()
            for k in present
        ]
        ds = tf.data.Dataset.sample_from_datasets(
            parts, weights=[1.0 / len(present)] * len(present), seed=seed
        )
    else:
        ds = (
            tf.data.Dataset.from_tensor_slices((x4, onehot))
            .cache()
            .shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
            .repeat()
        )
    shards, index = shard or (1, 0)
    if shards > 1:
        ds = ds.shard(shards, index)
    if augment_data:
        # The seed of element i of the whole stream is (seed, i), in a shard as well.
        counter = tf.data.Dataset.counter(start=index, step=shards).map(
            lambda i: tf.stack([tf.cast(seed, tf.int64), i])
        )
        ds = tf.data.Dataset.zip((ds, counter)).map(
            lambda xy, s: (augment(xy[0], s), xy[1]), num_parallel_calls=_AUTOTUNE
        )
    return ds.batch(batch, drop_remainder=False).prefetch(_AUTOTUNE).with_options(_options())


def eval_dataset(
    x: np.ndarray, y: np.ndarray | None, n_classes: int, batch: int
) -> tf.data.Dataset:
    """Patches in order, batched, cached and prefetched (labels one-hot when given)."""
    import tensorflow as tf

    x4 = _with_channels(x)
    if y is None:
        ds = tf.data.Dataset.from_tensor_slices(x4)
    else:
        onehot = np.eye(n_classes, dtype=np.float32)[np.asarray(y, np.int64)]
        ds = tf.data.Dataset.from_tensor_slices((x4, onehot))
    return ds.cache().batch(batch).prefetch(_AUTOTUNE).with_options(_options())
