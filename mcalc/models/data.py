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


def augment(x: tf.Tensor, seed: tf.Tensor, *, shard: tuple[int, int] | None = None) -> tf.Tensor:
    """Random flips, 90-degree rotation and mild gain/offset of a batch ``(B, H, W, C)`` of
    square patches, each patch its own draw.

    A left-right flip, an up-down flip and a transposition, each with probability 1/2, draw
    the eight flips and rotations of a square uniformly (the same law as two flips and a
    uniform number of quarter turns), with three cheap ops. Vectorised over the batch: one
    graph call per batch, not one ``map`` call per patch, so the input pipeline costs little
    beside a small model's train step. Stateless random ops keyed by ``seed`` (shape
    ``[2]``): runs are reproducible. The gain and offset touch the first (image) channel
    only: the others of a temporal input are differences whose 0.5 means "no change".

    ``shard=(shards, index)``: ``x`` holds rows ``index, index + shards, ...`` of a batch of
    ``B * shards`` patches, and gets exactly the draws those rows get there.
    """
    import tensorflow as tf

    shards, index = shard or (1, 0)
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    n = tf.shape(x)[0] * shards

    def draw(i: int, lo: float = 0.0, hi: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_uniform([n, 1, 1, 1], seeds[i], lo, hi)[index::shards]

    x = tf.where(draw(0) < 0.5, tf.reverse(x, axis=[2]), x)
    x = tf.where(draw(1) < 0.5, tf.reverse(x, axis=[1]), x)
    x = tf.where(draw(2) < 0.5, tf.transpose(x, [0, 2, 1, 3]), x)
    image = tf.clip_by_value(x[..., :1] * draw(3, 0.9, 1.1) + draw(4, -0.05, 0.05), 0.0, 1.0)
    return tf.concat([image, x[..., 1:]], axis=-1)


def _batch_indices(
    y: np.ndarray, n_classes: int, batch: int, seed: int, balance: bool
) -> tf.data.Dataset:
    """Endless batches of patch indices drawn with replacement, each class present equally
    likely when balancing: one vectorised draw per batch (stateless, keyed by the seed and
    the batch number)."""
    import tensorflow as tf

    present = [k for k in range(n_classes) if (y == k).any()]
    if not (balance and len(present) > 1):
        present = [-1]  # one pool: every patch
    order = np.concatenate(
        [np.flatnonzero(y == k) if k >= 0 else np.arange(len(y)) for k in present]
    ).astype(np.int64)
    counts = np.array([(y == k).sum() if k >= 0 else len(y) for k in present], np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    order_t, counts_t, offsets_t = (tf.constant(a) for a in (order, counts, offsets))

    def draw(i: tf.Tensor) -> tf.Tensor:
        key = tf.stack([tf.cast(seed, tf.int64) + 7919, i])
        seeds = tf.random.experimental.stateless_split(key, num=2)
        group = tf.random.stateless_uniform([batch], seeds[0], 0, len(present), dtype=tf.int32)
        u = tf.random.stateless_uniform([batch], seeds[1], dtype=tf.float64)
        size = tf.gather(counts_t, group)
        within = tf.minimum(tf.cast(u * tf.cast(size, tf.float64), tf.int64), size - 1)
        return tf.gather(order_t, tf.gather(offsets_t, group) + within)

    return tf.data.Dataset.counter().map(draw)


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

    The patches stay in memory as one tensor; each batch is one vectorised step (draw the
    indices, gather, augment on the graph), prefetched while the model trains, so the
    stream keeps up with a train step fed from memory.

    Args:
        x: float32 patches ``(N, H, W)`` in [0, 1], or ``(N, H, W, C)`` (temporal input).
        y: int class indices ``(N,)``.
        n_classes: number of classes (one-hot depth).
        batch: batch size.
        seed: sampling and augmentation seed.
        balance: draw each class present with equal probability (else every patch).
        augment_data: apply :func:`augment`.
        shard: ``(shards, index)``: keep rows ``index, index + shards, ...`` of each batch of
            the single-process stream of ``batch * shards`` (one worker's part in
            multi-worker training), each augmented as it is there; ``batch`` is this
            worker's share of a batch.

    Returns:
        Batches ``((B, H, W, C) float32, (B, n_classes) float32)`` drawn with replacement;
        use :func:`steps_per_epoch` for ``fit(steps_per_epoch=...)``.
    """
    import tensorflow as tf

    shards, index = shard or (1, 0)
    x4 = np.ascontiguousarray(_with_channels(x))
    y = np.asarray(y, np.int64)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    data = tf.data.Dataset.from_tensors((x4, onehot)).cache().repeat()
    indices = _batch_indices(y, n_classes, int(batch) * shards, int(seed), balance)
    counter = tf.data.Dataset.counter()

    def make(arrays: tuple[tf.Tensor, tf.Tensor], idx: tf.Tensor, i: tf.Tensor) -> tuple:
        idx = idx[index::shards]
        xb, yb = tf.gather(arrays[0], idx), tf.gather(arrays[1], idx)
        if augment_data:
            xb = augment(xb, tf.stack([tf.cast(seed, tf.int64), i]), shard=(shards, index))
        return xb, yb

    ds = tf.data.Dataset.zip((data, indices, counter)).map(make, num_parallel_calls=_AUTOTUNE)
    return ds.prefetch(_AUTOTUNE).with_options(_options())


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
