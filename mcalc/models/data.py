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
    import keras
    import tensorflow as tf

__all__ = ["augment", "eval_dataset", "predict_array", "steps_per_epoch", "train_dataset"]

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


#: Bytes of patches one graph call of the training stream prepares. Each call of a tf.data
#: function costs a few hundred microseconds of CPU whatever its size, as much as a small
#: model's train step can spare; a block of batches spreads that over many batches and
#: stays small beside the patches themselves.
_BLOCK_BYTES = 4 << 20
_MAX_BLOCK = 64

#: Most bytes the four orientations of the training patches (:func:`_orientations`) may
#: take. Within it, a block's patches, flips and rotations are one gather of pixel rows;
#: beyond it (large patches, whose models' steps dwarf the stream), one gather of pixels.
_ORIENTED_BYTES = 1 << 30


def _block_batches(batch_bytes: int) -> int:
    """Batches per graph call of the training stream, for batches of ``batch_bytes``."""
    return int(max(1, min(_MAX_BLOCK, _BLOCK_BYTES // max(1, int(batch_bytes)))))


def _orientations(x4: np.ndarray) -> np.ndarray:
    """The patches ``(N, S, S, C)``, then left-right flipped, transposed, and transposed then
    left-right flipped, as pixel rows ``(4 * N * S, S * C)``: with a choice of rows (an
    up-down flip or not) they give the eight flips and rotations of every patch."""
    side, channels = x4.shape[1], x4.shape[3]
    t = x4.transpose(0, 2, 1, 3)
    return np.concatenate([x4, x4[:, :, ::-1], t, t[:, :, ::-1]]).reshape(-1, side * channels)


def _draws(seed: tf.Tensor, rows: tf.Tensor, shard: tuple[int, int]) -> tuple:
    """Each row's flips (left-right, up-down, transposition: int32 0/1), gain and offset,
    drawn for the ``rows * shards`` rows of the whole batch and kept for this shard's."""
    import tensorflow as tf

    shards, index = shard
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    n = rows * shards

    def draw(i: int, lo: float = 0.0, hi: float = 1.0) -> tf.Tensor:
        return tf.random.stateless_uniform([n], seeds[i], lo, hi)[index::shards]

    lr, ud, tr = (tf.cast(draw(i) < 0.5, tf.int32) for i in range(3))
    return lr, ud, tr, draw(3, 0.9, 1.1), draw(4, -0.05, 0.05)


def _gain(x: tf.Tensor, gain: tf.Tensor, offset: tf.Tensor) -> tf.Tensor:
    """Gain and offset of each patch's first (image) channel, clipped to [0, 1]."""
    import tensorflow as tf

    gain, offset = gain[:, None, None, None], offset[:, None, None, None]
    image = tf.clip_by_value(x[..., :1] * gain + offset, 0.0, 1.0)
    return image if x.shape[-1] == 1 else tf.concat([image, x[..., 1:]], axis=-1)


def _gather_rows(
    oriented: tf.Tensor,
    n: int,
    side: int,
    channels: int,
    idx: tf.Tensor,
    seed: tf.Tensor | None,
    shard: tuple[int, int],
) -> tf.Tensor:
    """Patches ``idx`` of the ``n`` whose :func:`_orientations` are ``oriented``, augmented
    as :func:`augment` says when ``seed`` is given: one gather of pixel rows.

    A transposition after the flips equals the transposed patch flipped the other way
    round (``T . UD = LR . T``, ``T . LR = UD . T``): each of the eight outcomes is one of
    the four orientations with its rows in order or reversed.
    """
    import tensorflow as tf

    h = tf.range(side, dtype=tf.int64)[None]
    idx = tf.cast(idx, tf.int64)
    if seed is None:
        rows = idx[:, None] * side + h
        return tf.reshape(tf.gather(oriented, rows), [-1, side, side, channels])
    lr, ud, tr, gain, offset = _draws(seed, tf.shape(idx)[0], shard)
    which = tf.cast(tf.where(tr == 1, 2 + ud, lr), tf.int64)
    reverse = tf.where(tr == 1, lr, ud) == 1
    rows = (which * n + idx)[:, None] * side + tf.where(reverse[:, None], side - 1 - h, h)
    x = tf.reshape(tf.gather(oriented, rows), [-1, side, side, channels])
    return _gain(x, gain, offset)


def _gather_pixels(
    flat: tf.Tensor, side: int, idx: tf.Tensor, seed: tf.Tensor | None, shard: tuple[int, int]
) -> tf.Tensor:
    """Patches ``idx`` of ``flat`` (the pixels of square patches as ``(N * side * side,
    C)``), augmented as :func:`augment` says when ``seed`` is given: each output pixel
    gathered from its source pixel, flips and rotation included."""
    import tensorflow as tf

    channels = flat.shape[-1]
    grid = np.arange(side * side, dtype=np.int64).reshape(side, side)
    base = tf.cast(idx, tf.int64)[:, None] * (side * side)
    if seed is None:
        pixels = tf.gather(flat, base + tf.constant(grid.ravel())[None])
        return tf.reshape(pixels, [-1, side, side, channels])
    lr, ud, tr, gain, offset = _draws(seed, tf.shape(idx)[0], shard)
    # Row lr + 2 ud + 4 tr: the source pixel of each output pixel under those flips.
    table = []
    for code in range(8):
        g = grid[:, ::-1] if code & 1 else grid
        g = g[::-1, :] if code & 2 else g
        table.append((g.T if code & 4 else g).ravel())
    code = lr + 2 * ud + 4 * tr
    pixels = tf.gather(flat, base + tf.gather(tf.constant(np.stack(table)), code))
    return _gain(tf.reshape(pixels, [-1, side, side, channels]), gain, offset)


def augment(x: tf.Tensor, seed: tf.Tensor, *, shard: tuple[int, int] | None = None) -> tf.Tensor:
    """Random flips, 90-degree rotation and mild gain/offset of a batch ``(B, H, W, C)`` of
    square patches, each patch its own draw.

    A left-right flip, an up-down flip and a transposition, in that order, each with
    probability 1/2, draw the eight flips and rotations of a square uniformly (the same law
    as two flips and a uniform number of quarter turns). Stateless random ops keyed by
    ``seed`` (shape ``[2]``): runs are reproducible. The gain and offset touch the first
    (image) channel only: the others of a temporal input are differences whose 0.5 means
    "no change". :func:`train_dataset` gives its patches exactly these draws.

    ``shard=(shards, index)``: ``x`` holds rows ``index, index + shards, ...`` of a batch of
    ``B * shards`` patches, and gets exactly the draws those rows get there.
    """
    import tensorflow as tf

    side, channels = int(x.shape[1]), int(x.shape[-1])
    flat = tf.reshape(x, [-1, channels])
    return _gather_pixels(flat, side, tf.range(tf.shape(x)[0]), seed, shard or (1, 0))


def _batch_indices(
    y: np.ndarray, n_classes: int, batch: int, seed: int, balance: bool
) -> tf.data.Dataset:
    """Endless groups of ``batch`` patch indices drawn with replacement, each class present
    equally likely when balancing: one vectorised draw per group (stateless, keyed by the
    seed and the group's number)."""
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

    The patches stay in memory as one tensor (with their four orientations when they fit
    in ``_ORIENTED_BYTES``: made once, they turn each block's flips and rotations into one
    gather of pixel rows). Batches are made a block at a time (see :func:`_block_batches`):
    one graph call draws the indices of the block's batches, gathers and augments their
    patches, the next block is made in the background, and the block is cut into batches,
    so the stream costs the CPU little beside a train step fed from memory.

    Args:
        x: float32 patches ``(N, H, W)`` in [0, 1], or ``(N, H, W, C)`` (temporal input).
        y: int class indices ``(N,)``.
        n_classes: number of classes (one-hot depth).
        batch: batch size.
        seed: sampling and augmentation seed: the same seed gives the same batches.
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
    n, side, width, channels = x4.shape
    if side != width:
        raise ValueError(f"training patches must be square, got {side}x{width}")
    y = np.asarray(y, np.int64)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    oriented = 4 * x4.nbytes <= _ORIENTED_BYTES
    pixels = _orientations(x4) if oriented else x4.reshape(-1, channels)
    data = tf.data.Dataset.from_tensors((pixels, onehot)).cache().repeat()
    whole = int(batch) * shards  # the single-process batch this one is a share of
    blocks = _block_batches(whole * x4[0].nbytes)
    indices = _batch_indices(y, n_classes, whole * blocks, int(seed), balance)
    counter = tf.data.Dataset.counter()

    def make(arrays: tuple[tf.Tensor, tf.Tensor], idx: tf.Tensor, i: tf.Tensor) -> tuple:
        # Rows k * whole + b of the block: b = index, index + shards, ... of each batch.
        idx = idx[index::shards]
        key = tf.stack([tf.cast(seed, tf.int64), i]) if augment_data else None
        if oriented:
            xb = _gather_rows(arrays[0], n, side, channels, idx, key, (shards, index))
        else:
            xb = _gather_pixels(arrays[0], side, idx, key, (shards, index))
        yb = tf.gather(arrays[1], idx)
        return (
            tf.reshape(xb, [blocks, batch, side, side, channels]),
            tf.reshape(yb, [blocks, batch, n_classes]),
        )

    # The next block is made in the background while this one is cut into batches (a
    # slice: no thread hand-over per batch, which costs a small model's step more CPU).
    ds = tf.data.Dataset.zip((data, indices, counter)).map(make).prefetch(1).unbatch()
    return ds.with_options(_options())


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
    # Batched before the cache: each epoch reads whole batches back, not patch by patch.
    return ds.batch(batch).cache().prefetch(_AUTOTUNE).with_options(_options())


def predict_array(model: keras.Model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Class probabilities ``(N, C)`` of patches ``(N, H, W)`` (or ``(N, H, W, channels)``)
    in [0, 1]."""
    if len(x) == 0:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    out = model.predict(eval_dataset(x, None, 1, batch), verbose=0)
    return np.asarray(out, dtype=np.float32)
