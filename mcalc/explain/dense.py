"""Dense inference: a patch classifier run fully convolutionally over the whole image.

A classifier whose head is a global pooling over a fully convolutional base gives, for a
patch, a function of the base's feature map over that patch only. When the base pads
nothing (every convolution and pooling ``valid``) and the patch starts on a multiple of the
base's total stride ``S``, the patch's feature map is exactly a window of the feature map
of the whole image (Long et al. 2015, "Fully Convolutional Networks for Semantic
Segmentation", CVPR, section 3.1). One pass of the base over the image, a windowed max (or
mean) and the head applied to every window then give the same probabilities as the
sliding window at its grid points, and as many more as the lattice of step ``S`` holds,
for the cost of the base over the image once instead of once per overlapping patch.

Which models qualify is read from the model's graph (:func:`dense_obstacle`), never from
its name:

- one input and one output; exactly one ``GlobalMaxPooling2D`` or ``GlobalAveragePooling2D``;
- after it, a chain of per-vector layers only (``Dense``, ``Dropout``, activations);
- before it, only layers that commute with cropping: ``valid`` convolutions and poolings
  without dilation, pointwise layers (activations, ``Rescaling``, ``BatchNormalization``
  in inference, ``Dropout``) and merges of aligned branches (``Concatenate``, ``Add``...).

A ``same``-padded convolution zero-pads every patch at its border, where the whole image
has real pixels, so a model with one (ResNet, VGG, EfficientNet, and ``custom`` models
registered before the base became ``valid``) keeps the sliding window. Whatever the graph
says, a plan is used only after a self-check against the patch model on a random image.

Example:
    >>> from mcalc.explain.dense import dense_plan  # doctest: +SKIP
    >>> plan = dense_plan(model)  # doctest: +SKIP
    >>> plan.stride, plan.window  # doctest: +SKIP
    (2, 29)
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcalc.progress import ProgressFn

__all__ = ["DensePlan", "DenseRunner", "dense_obstacle", "dense_plan", "dense_runner"]

log = logging.getLogger(__name__)

#: Layers that act on each pixel (or each vector) alone: they commute with cropping.
_POINTWISE = {
    "Activation",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Softmax",
    "PReLU",
    "Rescaling",
    "BatchNormalization",
    "Dropout",
    "SpatialDropout2D",
    "GaussianNoise",
    "GaussianDropout",
}
#: Merges of branches of one shape (aligned when their strides agree).
_MERGES = {"Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"}
_CONVS = {"Conv2D", "DepthwiseConv2D", "SeparableConv2D"}
_POOLS = {"MaxPooling2D", "AveragePooling2D"}
_GLOBAL = {"GlobalMaxPooling2D": "max", "GlobalAveragePooling2D": "average"}
_HEAD = {"Dense", "Dropout", "Activation", "ReLU", "LeakyReLU", "Softmax"}
#: Largest difference allowed between the dense and the patch model in the self-check.
SELF_CHECK_ATOL = 1e-4


@dataclass(frozen=True)
class DensePlan:
    """How a model runs densely.

    Attributes:
        stride: the base's total stride ``S`` (input pixels per feature cell).
        window: feature cells per patch side (the feature map of one patch).
        pooling: ``max`` or ``average`` (the global pooling of the head).
        feature_layer: the layer whose output the global pooling reads.
        head: the per-vector layers after the pooling, in order.
        patch: the model's patch side in pixels.
    """

    stride: int
    window: int
    pooling: str
    feature_layer: str
    head: tuple[str, ...]
    patch: int

    def fine_stride(self, grid_stride: int, target: int | None = None) -> int | None:
        """The lattice step (pixels) of the dense map for a grid of ``grid_stride``.

        A multiple of :attr:`stride` dividing ``grid_stride`` (so the grid points are on
        the lattice), the largest not above ``target`` (default: an eighth of a patch, so the
        head costs little beside the base); ``None`` when the grid is not on the lattice.
        """
        if grid_stride % self.stride:
            return None
        limit = max(self.stride, target or self.patch // 8)
        steps = [
            d for d in range(self.stride, grid_stride + 1, self.stride) if grid_stride % d == 0
        ]
        fitting = [d for d in steps if d <= limit]
        return max(fitting) if fitting else min(steps)


def _class(layer: Any) -> str:
    return type(layer).__name__


def _inputs_of(layer: Any) -> list[Any]:
    node = layer._inbound_nodes[0]
    return list(node.input_tensors)


def _analyse(model: Any) -> DensePlan | str:
    """The plan of ``model``, or why it has none (a sentence)."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return f"{len(model.inputs)} inputs and {len(model.outputs)} outputs (expected 1 and 1)"
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3 or shape[0] is None or shape[0] != shape[1]:
        return f"input shape {shape} is not a square patch"
    if shape[2] != 1:
        # Temporal models see (recent, subtraction) channels; the dense runner feeds one.
        return f"input has {shape[2]} channels (the dense runner feeds gray images only)"
    for layer in model.layers:
        if len(layer._inbound_nodes) > 1:
            return f"layer {layer.name!r} is used more than once"
    producer = {id(layer.output): layer for layer in model.layers}
    pools = [layer for layer in model.layers if _class(layer) in _GLOBAL]
    if len(pools) != 1:
        return f"{len(pools)} global pooling layers (expected 1 at the head)"
    pool = pools[0]
    if getattr(pool, "keepdims", False) or getattr(pool, "data_format", "") != "channels_last":
        return f"global pooling {pool.name!r} keeps its dims or is not channels-last"
    # The head: a chain of per-vector layers from the pooling to the output.
    consumers: dict[int, list[Any]] = {}
    for layer in model.layers:
        if _class(layer) == "InputLayer":
            continue
        for t in _inputs_of(layer):
            consumers.setdefault(id(t), []).append(layer)
    head: list[str] = []
    current = pool
    while current.output is not model.outputs[0]:
        nxt = consumers.get(id(current.output), [])
        if len(nxt) != 1 or len(_inputs_of(nxt[0])) != 1:
            return f"the head branches after {current.name!r}"
        current = nxt[0]
        if _class(current) not in _HEAD:
            return f"head layer {current.name!r} ({_class(current)}) is not per-vector"
        head.append(current.name)
    # The base: every ancestor of the pooling's input, with its total stride.
    stride: dict[int, int] = {}
    base: set[str] = set()

    def visit(tensor: Any) -> int | str:
        if id(tensor) in stride:
            return stride[id(tensor)]
        if any(tensor is t for t in model.inputs):
            stride[id(tensor)] = 1
            return 1
        layer = producer.get(id(tensor))
        if layer is None:
            return "a tensor of the base comes from outside the model"
        kind = _class(layer)
        base.add(layer.name)
        parents = [visit(t) for t in _inputs_of(layer)]
        for p in parents:
            if isinstance(p, str):
                return p
        ints = [int(p) for p in parents]
        if kind in _CONVS or kind in _POOLS:
            if getattr(layer, "padding", "valid") != "valid":
                return (
                    f"{layer.name!r} ({kind}) pads its input ({layer.padding!r}): each patch "
                    "would see zeros where the whole image has pixels"
                )
            if kind in _CONVS and tuple(getattr(layer, "dilation_rate", (1, 1))) != (1, 1):
                return f"{layer.name!r} is dilated"
            if getattr(layer, "data_format", "channels_last") != "channels_last":
                return f"{layer.name!r} is not channels-last"
            s = tuple(layer.strides)
            if s[0] != s[1]:
                return f"{layer.name!r} has unequal strides {s}"
            out = ints[0] * int(s[0])
        elif kind in _POINTWISE:
            out = ints[0]
        elif kind in _MERGES:
            if len(set(ints)) != 1:
                return f"{layer.name!r} merges branches of strides {sorted(set(ints))}"
            out = ints[0]
        else:
            return f"{layer.name!r} ({kind}) is not known to commute with cropping"
        stride[id(tensor)] = out
        return out

    feature = _inputs_of(pool)[0]
    total = visit(feature)
    if isinstance(total, str):
        return total
    others = {
        layer.name
        for layer in model.layers
        if _class(layer) != "InputLayer" and layer.name not in base | {pool.name, *head}
    }
    if others:
        return f"layers outside the base and head: {', '.join(sorted(others))}"
    fshape = tuple(feature.shape[1:3])
    if fshape[0] is None or fshape[0] != fshape[1] or fshape[0] < 1:
        return f"the patch's feature map {fshape} is not square"
    return DensePlan(
        stride=int(total),
        window=int(fshape[0]),
        pooling=_GLOBAL[_class(pool)],
        feature_layer=producer[id(feature)].name,
        head=tuple(head),
        patch=int(shape[0]),
    )


def dense_obstacle(model: Any) -> str | None:
    """Why ``model`` cannot run densely and exactly (a sentence), or ``None`` if it can
    (as far as its graph tells; :func:`dense_runner` also checks its numbers)."""
    found = _analyse(model)
    return found if isinstance(found, str) else None


def dense_plan(model: Any) -> DensePlan | None:
    """The model's :class:`DensePlan`, or ``None`` (see :func:`dense_obstacle`)."""
    found = _analyse(model)
    return found if isinstance(found, DensePlan) else None


class DenseRunner:
    """One model run densely: the base over any image size, the windowed pooling and the
    head, as one compiled function (traced once, for every image size).

    Build with :func:`dense_runner` (cached per model, self-checked).
    """

    def __init__(self, model: Any, plan: DensePlan) -> None:
        import keras
        import tensorflow as tf

        self.model = model
        self.plan = plan
        feature_out = model.get_layer(plan.feature_layer).output
        base = keras.Model(model.inputs, feature_out)
        # The same layers (shared weights) called on an input of any size.
        self._base = keras.models.clone_model(
            base, input_tensors=[keras.Input((None, None, 1))], clone_function=lambda layer: layer
        )
        channels = int(feature_out.shape[-1])
        vec = keras.Input((channels,))
        y = vec
        for name in plan.head:
            y = model.get_layer(name)(y)
        self._head = keras.Model(vec, y)
        self._steps: dict[int, Any] = {}
        self._features: Any = None
        self._tf = tf

    def _step(self, q: int) -> Any:
        """The compiled ``(image (1, H, W, 1), wanted (h, w)) -> (h, w, C)`` of lattice step
        ``q`` cells (0 where not wanted)."""
        if q not in self._steps:
            tf = self._tf
            k = self.plan.window
            pool = tf.nn.max_pool2d if self.plan.pooling == "max" else tf.nn.avg_pool2d
            base, head = self._base, self._head

            def run(image: Any, wanted: Any) -> Any:
                features = base(image, training=False)
                # The window's max (or mean) is separable (2k comparisons per lattice point
                # instead of k*k): columns first, where a window's cells lie side by side
                # in memory, then rows on a map q times smaller (half the time of rows first).
                cols = pool(features, ksize=[1, 1, k, 1], strides=[1, 1, q, 1], padding="VALID")
                pooled = pool(cols, ksize=[1, k, 1, 1], strides=[1, q, 1, 1], padding="VALID")[0]
                h, w = tf.shape(pooled)[0], tf.shape(pooled)[1]
                # The head only where a patch is wanted (the breast: ~40% of a mammogram).
                mask = wanted[:h, :w]
                mask = tf.pad(mask, [[0, h - tf.shape(mask)[0]], [0, w - tf.shape(mask)[1]]])
                where = tf.cast(tf.where(mask), tf.int32)
                proba = tf.cast(head(tf.gather_nd(pooled, where), training=False), tf.float32)
                return tf.scatter_nd(where, proba, tf.stack([h, w, tf.shape(proba)[-1]]))

            self._steps[q] = tf.function(
                run,
                input_signature=[
                    tf.TensorSpec((1, None, None, 1), tf.float32),
                    tf.TensorSpec((None, None), tf.bool),
                ],
            )
        return self._steps[q]

    def features(self, image: np.ndarray) -> np.ndarray:
        """The base's feature map of an image ``(H, W)``: the model's raw forward pass over
        those pixels (compiled, any size), the floor the dense map is measured against."""
        if self._features is None:
            tf = self._tf
            base = self._base
            self._features = tf.function(
                lambda x: base(x, training=False),
                input_signature=[tf.TensorSpec((1, None, None, 1), tf.float32)],
            )
        x = np.asarray(image, np.float32)[None, ..., None]  # TensorFlow makes it contiguous
        return np.asarray(self._features(x))

    def tiles(
        self, image: np.ndarray, step: int, wanted: np.ndarray, budget_px: int = 1 << 21
    ) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        """The bands :meth:`lattice` runs: ``((t0, t1, u0, u1), pixels)`` each, float32:
        a view of a float32 image where the band lies inside it, otherwise a copy with the
        image's edge pixels repeated past its edge (as
        :func:`mcalc.explain.grid.pad_to_grid`)."""
        p = self.plan.patch
        live = np.flatnonzero(wanted.any(axis=1))
        out = []
        for t0, t1, u0, u1 in _bands(wanted, live, step, p, budget_px):
            r0, r1, c0, c1 = t0 * step, (t1 - 1) * step + p, u0 * step, (u1 - 1) * step + p
            inside = image[r0:r1, c0:c1]
            ih, iw = inside.shape[:2]
            if ih < 1 or iw < 1:
                raise ValueError(
                    f"band rows {r0}:{r1}, cols {c0}:{c1} lies outside the {image.shape} image"
                )
            if (ih, iw) == (r1 - r0, c1 - c0) and inside.dtype == np.float32:
                # TensorFlow copies a NumPy input into a tensor of its own on every call
                # (contiguous, whatever the strides): a copy here would be a second one.
                out.append(((t0, t1, u0, u1), inside))
                continue
            # Past the image's edge: one copy of the band, the edge repeated, instead of a
            # padded copy of the whole image and then of each band.
            pixels = np.empty((r1 - r0, c1 - c0), np.float32)
            pixels[:ih, :iw] = inside
            pixels[:ih, iw:] = inside[:, iw - 1 : iw]
            pixels[ih:] = pixels[ih - 1 : ih]
            out.append(((t0, t1, u0, u1), pixels))
        return out

    def lattice(
        self,
        padded: np.ndarray,
        step: int,
        wanted: np.ndarray,
        *,
        budget_px: int = 1 << 21,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Probabilities of the patches at ``(t * step, u * step)`` of an image.

        Args:
            padded: the [0, 1] image; its edge repeated past it (it may be padded already).
            step: the lattice step in pixels (a multiple of :attr:`DensePlan.stride`).
            wanted: ``(T, U)`` which lattice patches to compute; the others read 0.
            budget_px: input pixels per pass (bands of rows; memory stays bounded).
            progress: called ``(done, total, message)`` after each band.

        Returns:
            ``(T, U, C)`` float32 probabilities.
        """
        plan = self.plan
        if step % plan.stride:
            raise ValueError(f"lattice step {step} is not a multiple of stride {plan.stride}")
        rows, cols = wanted.shape
        out: np.ndarray | None = None
        bands = self.tiles(padded, step, wanted, budget_px)
        run = self._step(step // plan.stride)
        for done, ((t0, t1, u0, u1), tile) in enumerate(bands, start=1):
            proba = np.asarray(run(tile[None, ..., None], wanted[t0:t1, u0:u1]))
            if out is None:
                out = np.zeros((rows, cols, proba.shape[-1]), np.float32)
            out[t0:t1, u0:u1] = proba[: t1 - t0, : u1 - u0]
            if progress is not None:
                progress(done, len(bands), f"band {done}/{len(bands)}")
        if out is None:
            out = np.zeros((rows, cols, int(self._head.output_shape[-1])), np.float32)
        return out  # 0 where not wanted (the head ran on the wanted patches only)


def _bands(
    wanted: np.ndarray, live: np.ndarray, step: int, patch: int, budget_px: int
) -> list[tuple[int, int, int, int]]:
    """Bands ``(t0, t1, u0, u1)`` of lattice rows with a wanted patch, each about
    ``budget_px`` input pixels, cropped to the columns wanted in the band."""
    bands: list[tuple[int, int, int, int]] = []
    if len(live) == 0:
        return bands
    t = int(live[0])
    last = int(live[-1])
    while t <= last:
        cols = np.flatnonzero(wanted[t:].any(axis=0))
        width = (int(cols[-1]) - int(cols[0])) * step + patch
        n = max(1, (budget_px // max(width, 1) - patch) // step + 1)
        t1 = min(last + 1, t + n)
        used = np.flatnonzero(wanted[t:t1].any(axis=0))
        if len(used):
            bands.append((t, t1, int(used[0]), int(used[-1]) + 1))
        nxt = live[live >= t1]
        t = int(nxt[0]) if len(nxt) else last + 1
    return bands


_RUNNERS: weakref.WeakKeyDictionary[Any, DenseRunner | None] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _self_check(runner: DenseRunner) -> float:
    """Largest difference between the dense pass and the patch model on a random image."""
    plan = runner.plan
    s, p = plan.stride, plan.patch
    rng = np.random.default_rng(0)
    image = rng.random((p + 3 * s, p + 2 * s), np.float32)
    wanted = np.ones((4, 3), bool)
    dense = runner.lattice(image, s, wanted)
    patches = np.stack(
        [image[t * s : t * s + p, u * s : u * s + p] for t in range(4) for u in range(3)]
    )
    direct = np.asarray(runner.model(patches[..., None], training=False), np.float32)
    return float(np.abs(dense.reshape(-1, dense.shape[-1]) - direct).max())


def dense_runner(model: Any) -> DenseRunner | None:
    """The model's :class:`DenseRunner`, built once per model and checked against the patch
    model; ``None`` when the model does not qualify (logged with the reason)."""
    with _LOCK:
        if model in _RUNNERS:
            return _RUNNERS[model]
        found = _analyse(model)
        runner: DenseRunner | None = None
        if isinstance(found, str):
            log.info("%s runs patch by patch: %s", model.name, found)
        else:
            candidate = DenseRunner(model, found)
            error = _self_check(candidate)
            if error <= SELF_CHECK_ATOL:
                runner = candidate
            else:
                log.warning(
                    "%s: the dense pass differs from the patch model by %.2g (allowed %.0e); "
                    "it runs patch by patch",
                    model.name,
                    error,
                    SELF_CHECK_ATOL,
                )
        _RUNNERS[model] = runner
        return runner
