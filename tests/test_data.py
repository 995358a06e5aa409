"""The training stream (mcalc.models.data): reproducible, and augmented exactly as the
readable definition of the augmentation says (flips and a transposition, then gain/offset).
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")


def _reference_augment(x, seed, shard=(1, 0)):
    """The oracle: a left-right flip, an up-down flip and a transposition, each where its
    draw is below 1/2, then gain and offset on the first channel (the stateless draws
    of mcalc.models.data.augment, applied with tf.reverse / tf.transpose)."""
    shards, index = shard
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    n = tf.shape(x)[0] * shards

    def draw(i, lo=0.0, hi=1.0):
        return tf.random.stateless_uniform([n, 1, 1, 1], seeds[i], lo, hi)[index::shards]

    x = tf.where(draw(0) < 0.5, tf.reverse(x, axis=[2]), x)
    x = tf.where(draw(1) < 0.5, tf.reverse(x, axis=[1]), x)
    x = tf.where(draw(2) < 0.5, tf.transpose(x, [0, 2, 1, 3]), x)
    image = tf.clip_by_value(x[..., :1] * draw(3, 0.9, 1.1) + draw(4, -0.05, 0.05), 0.0, 1.0)
    return tf.concat([image, x[..., 1:]], axis=-1).numpy()


def _batches(ds, k):
    return [tuple(t.numpy() for t in b) for b in ds.take(k)]


@pytest.mark.parametrize("channels", [1, 2])
def test_augment_matches_the_flips_and_transposition(channels) -> None:
    from mcalc.models.data import augment

    x = tf.constant(np.random.default_rng(1).random((12, 5, 5, channels), dtype=np.float32))
    seed = tf.constant([3, 5], tf.int64)
    np.testing.assert_array_equal(augment(x, seed).numpy(), _reference_augment(x, seed))
    part = augment(x[1::3], seed, shard=(3, 1)).numpy()
    np.testing.assert_array_equal(part, _reference_augment(x[1::3], seed, (3, 1)))


def test_the_stream_is_reproducible_and_augmented_as_defined(monkeypatch) -> None:
    """The first block of batches is the oracle's augmentation of the patches drawn (found
    again in an unaugmented stream), on both paths (patches gathered as oriented pixel
    rows, or pixel by pixel); the same seed gives the same batches."""
    from mcalc.models import data

    rng = np.random.default_rng(0)
    x = rng.random((20, 6, 6, 2), dtype=np.float32)
    y = np.array([0] * 15 + [1] * 5)
    monkeypatch.setattr(data, "_MAX_BLOCK", 3)  # the first block: 3 batches of 4

    def first(**kw):
        return _batches(data.train_dataset(x, y, 2, 4, seed=7, **kw), 3)

    plain = np.concatenate([b[0] for b in first(augment_data=False)])
    idx = np.array([np.flatnonzero((x == p).all(axis=(1, 2, 3)))[0] for p in plain])
    assert {0, 1} <= set(y[idx])  # both classes drawn
    expected = _reference_augment(tf.constant(x[idx]), tf.constant([7, 0], tf.int64))
    oriented, again = first(), first()
    monkeypatch.setattr(data, "_ORIENTED_BYTES", 0)
    for stream in (oriented, again, first()):
        np.testing.assert_array_equal(np.concatenate([b[0] for b in stream]), expected)
        np.testing.assert_array_equal(
            np.concatenate([b[1] for b in stream]), np.eye(2, dtype=np.float32)[y[idx]]
        )
