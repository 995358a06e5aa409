"""Class activation maps of patches through tf-keras-vis: Grad-CAM, Grad-CAM++, Score-CAM.

Methods:

- ``gradcam``: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
  Gradient-based Localization" (ICCV): feature maps weighted by the spatial mean of the
  class score's gradient, then ReLU.
- ``gradcam++``: Chattopadhay et al. 2018, "Grad-CAM++: Generalized Gradient-Based Visual
  Explanations for Deep Convolutional Networks" (WACV): pixel-wise weighting of positive
  gradients, better when a class has several instances (a cluster of calcifications).
- ``scorecam``: Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for
  Convolutional Neural Networks" (CVPR workshops): feature maps weighted by the class
  probability of the input masked by each (upsampled, normalised) map; no gradients. With
  ``scorecam_max_n`` only the channels of largest spatial variance are used ("Faster
  Score-CAM", tf-keras-vis' ``max_N``).

One :class:`Explainer` per model holds, per explained layer, a clone of the model whose
output activation is linear (class scores are logits, as Grad-CAM asks), built on first
use, and one tf-keras-vis object per method, all reused for every later call. The shared,
cached model is never modified: tf-keras-vis would edit the model it is given in place when
asked to replace the softmax, so it is only ever given the clone. The layer is always
passed with ``seek_penultimate_conv_layer=False``: otherwise tf-keras-vis silently walks
back to an earlier convolution when the chosen layer is not one.

Example:
    >>> from mcalc.models.architectures import build_model  # doctest: +SKIP
    >>> explainer = Explainer(build_model("custom", 32, 2), "custom")  # doctest: +SKIP
    >>> cams = explainer.explain_patches(patches, "gradcam", class_index=1)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.layers import LayerInfo, check_layer, default_layer, layer_infos
from mcalc.explain.methods import CAM_METHODS
from mcalc.lru import LRU
from mcalc.models.architectures import copy_weights
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    import keras

    from mcalc.models.inference import LoadedModel

__all__ = ["CAM_METHODS", "Explainer"]

log = logging.getLogger(__name__)


#: Patches per call of the compiled Grad-CAM (:meth:`Explainer.compiled_gradcam`), at
#: least: a progress report, where cancelled work stops (an analysis ahead that a reader's
#: run waits for, :mod:`mcalc.explain.ahead`), follows each call. 64 explained 400 patches
#: of the demo model in 67-73 ms against 82-89 ms in calls of 256 (4 December 2026, the
#: 2-core machine), and a call lasts about 15 ms instead of about 60.
COMPILED_BATCH = 64


class Explainer:
    """Class activation maps of one model's patches; build once per model and reuse.

    Args:
        model: the (shared, possibly cached) Keras model; it is never modified.
        architecture: its architecture name (for the default layer).
        max_layers: how many layers' clones are kept (least recently used dropped).

    For each explained layer the explainer builds, on first use, one clone of the model
    whose output activation is linear (class scores are logits, as Grad-CAM asks) and whose
    graph stops gradients at the layer's input: tf-keras-vis watches the input image, so
    without the stop every call would back-propagate through the whole base for nothing
    (the gradient at the layer itself is unchanged). For the gradient methods the clone is
    also cut at the layer's input when possible (:meth:`split`): the base runs as one
    compiled forward pass and tf-keras-vis explains the rest, so a Grad-CAM costs about one
    forward pass plus the head's gradient. The tf-keras-vis objects are built on first use.
    Clones are costly (seconds for a large base on a CPU): the last ``max_layers`` layers'
    are kept and reused. Safe to share between threads.
    """

    def __init__(
        self,
        model: keras.Model,
        architecture: str | None = None,
        *,
        max_layers: int = 3,
        compiled: bool = True,
    ) -> None:
        self.model = model
        self.architecture = architecture
        self.max_layers = max(1, int(max_layers))
        self.compiled = bool(compiled)
        self._gradcams: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._clones: LRU[str, keras.Model] = LRU(self.max_layers, on_evict=self._forget)
        self._methods: dict[tuple[str, str, bool], Any] = {}
        self._splits: dict[str, tuple[keras.Model, keras.Model] | None] = {}
        self._layers: list[LayerInfo] | None = None
        # Checked once: the model never changes, and a region's explanation lasts well under
        # a millisecond, where looking through the model's layers again is not free.
        self._default: str | None = None
        self._checked: dict[str, LayerInfo] = {}

    @classmethod
    def for_model(cls, loaded: LoadedModel) -> Explainer:
        """The explainer of a registered model (its card names the architecture)."""
        return cls(loaded.model, loaded.card.architecture)

    def layers(self) -> list[LayerInfo]:
        """Layers with a spatial output, in model order."""
        if self._layers is None:
            self._layers = layer_infos(self.model)
        return self._layers

    def default_layer(self) -> str:
        if self._default is None:
            self._default = default_layer(self.model, self.architecture)
        return self._default

    def checked_layer(self, layer: str | None = None) -> LayerInfo:
        """:func:`check_layer` of ``layer`` (default: :meth:`default_layer`), kept."""
        name = layer or self.default_layer()
        info = self._checked.get(name)
        if info is None:
            info = self._checked[name] = check_layer(self.model, name)
        return info

    @functools.cached_property
    def _input_shape(self) -> tuple[int, ...]:
        return tuple(int(v) for v in self.model.input_shape[1:])

    @functools.cached_property
    def classes(self) -> int:
        return int(self.model.output_shape[-1])

    def linear_model(self, layer: str) -> keras.Model:
        """The clone used to explain ``layer`` (built once, kept for the last few layers)."""
        self.checked_layer(layer)
        with self._lock:
            return self._clones.get_or_put(layer, lambda: self._build_clone(layer))

    def _forget(self, layer: str, _clone: Any) -> None:
        """Drop what was built over an evicted clone (its split and tf-keras-vis objects)."""
        with self._lock:
            self._splits.pop(layer, None)
            self._gradcams.pop(layer, None)
            for key in [k for k in self._methods if k[0] == layer]:
                del self._methods[key]

    def _build_clone(self, layer: str) -> keras.Model:
        import keras

        start = time.perf_counter()

        stop = _gradient_stop_class()

        def call(target: Any, *args: Any, **kwargs: Any) -> Any:
            if target.name == layer:
                args = keras.tree.map_structure(
                    lambda t: stop(name=f"{layer}_gradient_stop")(t), args
                )
            return target(*args, **kwargs)

        clone = keras.models.clone_model(self.model, call_function=call)
        copy_weights(self.model, clone)
        for name in clone.output_names:
            out = clone.get_layer(name)
            if hasattr(out, "activation"):
                out.activation = keras.activations.linear
        # Score-CAM calls predict(); keep Keras' progress bar off the terminal.
        clone.predict = functools.partial(clone.predict, verbose=0)
        log.info(
            "explainer clone of %s for layer %s built in %.2f s",
            self.model.name,
            layer,
            time.perf_counter() - start,
        )
        return clone

    def split(self, layer: str) -> tuple[keras.Model, keras.Model] | None:
        """``(prefix, suffix)`` of the layer's clone cut at the layer's input, or ``None``.

        The prefix (input to the layer's input, no gradient needed) runs as one compiled
        forward pass; the gradient methods then run tf-keras-vis on the suffix (the layer
        to the output) with the prefix's output as seed, which gives the same maps at a
        fraction of the cost of an eager pass through the whole base. Only possible when the
        layer has one input and every path to the output goes through it (a block output of
        ResNet, the last convolution of any architecture); otherwise ``None``.
        """
        import keras

        with self._lock:
            if layer in self._splits:
                return self._splits[layer]
            clone = self.linear_model(layer)
            target = clone.get_layer(layer)
            split = None
            inputs = target.input
            if not isinstance(inputs, list | tuple) and inputs is not clone.inputs[0]:
                try:
                    prefix = keras.Model(clone.inputs, inputs, name=f"{layer}_prefix")
                    part = keras.Model(inputs, clone.outputs)
                    # Its own graph (new input, cloned layers), where layer.output is
                    # connected to its input, as tf-keras-vis needs.
                    suffix = keras.models.clone_model(part)
                    copy_weights(part, suffix)
                    if any(lay.name == layer for lay in suffix.layers):
                        split = (prefix, suffix)
                except (ValueError, TypeError) as exc:  # another path bypasses the layer
                    log.debug("no split at %s: %s", layer, exc)
            self._splits[layer] = split
            return split

    def visualizer(self, method: str, layer: str, *, split: bool = False) -> Any:
        """The tf-keras-vis object of ``method`` (``Gradcam``, ``GradcamPlusPlus`` or
        ``Scorecam``) for ``layer``, built on first use over the layer's clone (or, with
        ``split``, over the suffix of :meth:`split`)."""
        if method not in CAM_METHODS:
            raise ValueError(
                f"unknown explanation method {method!r}; expected one of {', '.join(CAM_METHODS)}"
            )
        with self._lock:
            parts = self.split(layer) if split else None
            target = parts[1] if parts is not None else self.linear_model(layer)
            key = (layer, method, parts is not None)
            if key not in self._methods:
                from tf_keras_vis.gradcam import Gradcam
                from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
                from tf_keras_vis.scorecam import Scorecam

                cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "scorecam": Scorecam}
                # No model_modifier and clone=False: the clone is ours already.
                self._methods[key] = cls[method](target, model_modifier=None, clone=False)
                if method == "scorecam":
                    # Score-CAM's masked inputs (patches x channels) go through the
                    # clone's predict in one call: batch by batch here, so that a cancel
                    # is seen between batches (_STEP), not at the call's end.
                    target.predict = functools.partial(_stepped_predict, target)
            return self._methods[key]

    def explain_patches(
        self,
        patches: np.ndarray,
        method: str = "gradcam",
        class_index: int = 1,
        layer: str | None = None,
        *,
        batch: int = 32,
        scorecam_max_n: int | None = 64,
        progress: ProgressFn | None = None,
    ) -> np.ndarray:
        """Raw class activation maps ``(N, P, P)`` of patches ``(N, P, P)`` in [0, 1].

        Args:
            patches: gray patches at the model's input size.
            method: one of :data:`CAM_METHODS`.
            class_index: output column explained.
            layer: layer explained (default: :meth:`default_layer`).
            batch: patches per call.
            scorecam_max_n: Score-CAM channel cap (see :class:`CamSettings`).
            progress: called ``(done, total, message)`` after each batch.

        Returns:
            Non-negative, finite float32 maps upsampled to the patch size, not normalised
            (one patch's map is comparable with another's of the same call settings).

        Raises:
            LayerError: unknown layer or one without spatial output.
            ValueError: patches of the wrong shape, or a class index out of range.
        """
        info = self.checked_layer(layer)
        x = self._checked_patches(patches, class_index)
        if method == "gradcam" and self.compiled:
            run = self.compiled_gradcam(info.name)
            if run is not None:
                return _compiled_in_batches(
                    x,
                    max(batch, COMPILED_BATCH),
                    progress,
                    method,
                    lambda seed: run(seed, class_index),
                    f"{method} of {info.name}",
                )
        # Gradient methods only need the layer's activations: run the base compiled and
        # tf-keras-vis on the rest (Score-CAM masks the input image, so it needs the whole).
        parts = self.split(info.name) if method != "scorecam" else None
        vis = self.visualizer(method, info.name, split=parts is not None)
        score = _score_class()(class_index, unit_exp=method == "gradcam++")
        kwargs: dict[str, Any] = {
            "penultimate_layer": info.name,
            "seek_penultimate_conv_layer": False,
            "expand_cam": parts is None,
            "normalize_cam": False,
        }
        if method == "scorecam":
            channels = info.shape[-1] or 1
            max_n = None if scorecam_max_n is None else min(int(scorecam_max_n), channels)
            kwargs.update(max_N=max_n if max_n != channels else None)
        out = np.zeros(x.shape[:3], np.float32)
        total = len(x)
        for lo in range(0, total, batch):
            seed = x[lo : lo + batch]
            seed = seed[..., None] if seed.ndim == 3 else seed
            n = len(seed)
            if parts is not None:
                seed = np.asarray(parts[0].predict_on_batch(seed), dtype=np.float32)
            if method == "scorecam":
                kwargs["batch_size"] = max(32, n)
            step = None
            if progress is not None and method == "scorecam":

                def step(done: int, of: int, lo: int = lo, n: int = n) -> None:
                    progress(
                        lo,
                        total,
                        f"{method}: patches {lo + 1}-{lo + n} of {total}, masked input {done}/{of}",
                    )

            with warnings.catch_warnings(), _stepping(step):
                # Score-CAM passes a list where Keras expects one tensor: harmless.
                warnings.filterwarnings("ignore", message="The structure of `inputs`")
                cam = np.asarray(vis(score, seed, **kwargs), dtype=np.float32)
            out[lo : lo + n] = _finite_maps(cam, x.shape[1:3], f"{method} of {info.name}")
            if progress is not None:
                progress(lo + n, total, f"{method}: {lo + n}/{total} patches")
        return out

    def compiled_gradcam(self, layer: str) -> Any:
        """Grad-CAM of ``layer`` as one compiled function, or ``None`` without a split.

        ``run(patches (N, P, P, 1), class_index) -> (maps, all_finite)``: raw maps
        ``(N, P, P)`` upsampled to the patch (tensors): the prefix of :meth:`split` and,
        under a ``tf.GradientTape``, the suffix to the class logit; weights are the spatial
        means of the logit's gradient (Selvaraju et al. 2017, eq. 1), the map their ReLU-ed
        sum over channels (eq. 2); ``all_finite`` is false when a map holds a non-finite
        value (the caller reads those as 0). The same maps as tf-keras-vis' ``Gradcam`` on
        the suffix (tested against it) without its eager pass and per-call set-up. Built
        once per layer.
        """
        with self._lock:
            if layer in self._gradcams:
                return self._gradcams[layer]
            parts = self.split(layer)
            run = None
            if parts is not None:
                run = _gradcam_function(parts[0], parts[1], layer, self.model.input_shape[1:])
            self._gradcams[layer] = run
            return run

    def _checked_patches(self, patches: np.ndarray, class_index: int) -> np.ndarray:
        """Patches as ``(N, P, P)`` float32 (``(N, P, P, C)`` for a model of C > 1 input
        channels, a temporal one), checked against the model's input and outputs."""
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        expected = self._input_shape[:2]
        channels = self._input_shape[-1]
        want = 3 if channels == 1 else 4
        if (
            x.ndim != want
            or tuple(x.shape[1:3]) != expected
            or (want == 4 and x.shape[-1] != channels)
        ):
            shape = f"{expected[0]}, {expected[1]}" + (f", {channels}" if want == 4 else "")
            raise ValueError(f"expected patches of shape (N, {shape}), got {x.shape}")
        if not 0 <= int(class_index) < self.classes:
            raise ValueError(f"class index {class_index} out of range 0..{self.classes - 1}")
        return x


#: The current thread's report between two batches of a stepped predict (a thread's own:
#: two analyses may explain with one explainer at once).
_STEP = threading.local()


@contextlib.contextmanager
def _stepping(step: Callable[[int, int], None] | None) -> Iterator[None]:
    """Make ``step(done, total)`` the report of :func:`_stepped_predict` in this thread."""
    before = getattr(_STEP, "report", None)
    _STEP.report = step
    try:
        yield
    finally:
        _STEP.report = before


def _stepped_predict(model: Any, x: Any, batch_size: int | None = 32, **_: Any) -> np.ndarray:
    """``model.predict(x, batch_size)`` batch by batch, calling this thread's
    :func:`_stepping` report after each (where a cancelled analysis stops), without
    Keras' ``predict`` set-up of a dataset per call."""
    inputs = x[0] if isinstance(x, list | tuple) and len(x) == 1 else x
    size = max(1, int(batch_size or 32))
    total = len(inputs)
    report = getattr(_STEP, "report", None)
    parts = []
    for lo in range(0, total, size):
        parts.append(np.asarray(model.predict_on_batch(inputs[lo : lo + size])))
        if report is not None:
            report(min(lo + size, total), total)
    return np.concatenate(parts) if parts else np.zeros((0,), np.float32)


def _compiled_in_batches(
    x: np.ndarray,
    batch: int,
    progress: ProgressFn | None,
    method: str,
    fn: Any,
    what: str,
) -> np.ndarray:
    """``fn`` over ``x`` in batches; ``fn(seed) -> (maps, all_finite)`` gives maps upsampled
    to the patch (:func:`_gradcam_function`), cleaned by :func:`_finite_maps` only when
    ``all_finite`` is false, and kept as they come when one call covers every patch."""
    total = len(x)
    parts = []
    for lo in range(0, total, batch):
        seed = x[lo : lo + batch]
        seed = seed[..., None] if seed.ndim == 3 else seed  # gray, or C channels (temporal)
        maps, finite = fn(seed)
        # numpy(): a copy (the tensor's own buffer is read-only), the caller's to change.
        parts.append(maps.numpy() if bool(finite) else _finite_maps(maps.numpy(), (), what))
        if progress is not None:
            progress(lo + len(seed), total, f"{method}: {lo + len(seed)}/{total} patches")
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(x.shape[:3], np.float32)


def _pooled_by(model: Any, layer: str) -> Any:
    """The global pooling layer that is the only reader of ``layer``'s output in ``model``
    (channels-last, no kept dims), or ``None``."""
    out = model.get_layer(layer).output
    readers = [
        lay
        for lay in model.layers
        if lay._inbound_nodes
        and any(t is out for t in lay._inbound_nodes[0].input_tensors)
        and type(lay).__name__ != "InputLayer"
    ]
    if len(readers) != 1 or any(out is o for o in model.outputs):
        return None
    pool = readers[0]
    if (
        type(pool).__name__ not in ("GlobalMaxPooling2D", "GlobalAveragePooling2D")
        or getattr(pool, "keepdims", False)
        or getattr(pool, "data_format", "channels_last") != "channels_last"
    ):
        return None
    return pool


def _gradcam_function(prefix: Any, suffix: Any, layer: str, input_shape: tuple) -> Any:
    """The compiled Grad-CAM of :meth:`Explainer.compiled_gradcam`.

    When the layer's only reader is a global max or average pooling (the last convolution of
    every architecture here), the spatial mean of d(score)/d(features) is d(score)/d(pooled)
    divided by the map's area: the pooling's gradient spreads each channel's gradient over
    its maximum (ties share it) or evenly, so it sums to that channel's. The tape then only
    goes back through the head's vectors, not over the whole feature map.
    """
    import keras
    import tensorflow as tf

    pool = _pooled_by(suffix, layer)
    size = tf.constant(input_shape[:2], tf.int32)

    def cam_of(features: Any, weights: Any) -> Any:
        cam = tf.nn.relu(tf.reduce_sum(features * weights, axis=-1, keepdims=True))
        # Linear upsampling with the corners aligned: scipy's zoom(order=1), which
        # tf-keras-vis (and _finite_maps) use, on the graph.
        up = tf.raw_ops.ResizeBilinear(images=cam, size=size, align_corners=True)
        # Finiteness is checked at the layer's size, on a fifth of the pixels: an upsampled
        # value is a weighted mean of finite neighbours there. The rare non-finite map is
        # cleaned by the caller (_finite_maps); the last ReLU is _finite_maps' own.
        return tf.nn.relu(up[..., 0]), tf.reduce_all(tf.math.is_finite(cam))

    if pool is not None:
        pooled_model = keras.Model(suffix.inputs, [suffix.get_layer(layer).output, pool.output])
        head = keras.Model(pool.output, suffix.outputs[0])

        def run(x: Any, index: Any) -> Any:
            features, pooled = pooled_model(prefix(x, training=False), training=False)
            with tf.GradientTape() as tape:
                tape.watch(pooled)
                score = tf.gather(head(pooled, training=False), index, axis=1)
            grads = tape.gradient(score, pooled)  # (N, C): summed over the map
            area = tf.cast(tf.shape(features)[1] * tf.shape(features)[2], grads.dtype)
            return cam_of(features, (grads / area)[:, None, None, :])

    else:
        inner = keras.Model(suffix.inputs, [suffix.get_layer(layer).output, suffix.outputs[0]])

        def run(x: Any, index: Any) -> Any:
            seed = prefix(x, training=False)
            with tf.GradientTape() as tape:
                tape.watch(seed)  # the layer may hold no variable (an activation) to record by
                features, logits = inner(seed, training=False)
                score = tf.gather(logits, index, axis=1)
            grads = tape.gradient(score, features)
            return cam_of(features, tf.reduce_mean(grads, axis=(1, 2), keepdims=True))

    compiled = tf.function(
        run,
        input_signature=[
            tf.TensorSpec((None, *input_shape), tf.float32),
            tf.TensorSpec((), tf.int32),
        ],
    ).get_concrete_function()  # called directly: no signature binding per call

    return lambda x, index: compiled(tf.constant(x, tf.float32), tf.constant(int(index), tf.int32))


def _finite_maps(cam: np.ndarray, patch_shape: tuple[int, ...], what: str) -> np.ndarray:
    """Maps ``(n, h, w)`` upsampled to the patch (when tf-keras-vis did not, on a split
    model; ``patch_shape=()``: as they are), non-finite values read as 0, then ReLU."""
    patch_shape = tuple(patch_shape) or cam.shape[1:]
    if cam.shape[1:] != patch_shape:  # tf-keras-vis' own upsampling, to the patch
        from scipy.ndimage import zoom

        cam = zoom(cam, (1, patch_shape[0] / cam.shape[1], patch_shape[1] / cam.shape[2]), order=1)
    cam = cam.reshape(len(cam), *patch_shape)
    if not np.isfinite(cam).all():
        log.warning("%s gave non-finite values; read as 0", what)
    return np.maximum(np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0), 0.0)


@functools.cache
def _gradient_stop_class() -> type:
    import keras
    import tensorflow as tf

    @tf.custom_gradient
    def _identity_no_gradient(x: Any) -> Any:
        def grad(dy: Any) -> None:
            return None

        return tf.identity(x), grad

    class GradientStop(keras.layers.Layer):
        """Identity whose gradient is *no* gradient (not zeros, and unlike
        ``stop_gradient`` the tape still records what follows): back-propagation ends here."""

        def call(self, x: Any) -> Any:
            return _identity_no_gradient(x)

    return GradientStop


@functools.cache
def _score_class() -> type:
    import tensorflow as tf
    from tf_keras_vis.utils.scores import Score

    class ClassScore(Score):
        """Column ``index`` of the output for every sample, in one vectorised op
        (tf-keras-vis' ``CategoricalScore`` slices the batch sample by sample).

        With ``unit_exp`` the score is ``logit - stop_gradient(logit)``: the same gradient,
        a value of 0. tf-keras-vis' Grad-CAM++ multiplies every derivative by
        ``exp(score)``; that factor scales each patch's map by a positive constant and
        cancels out of the normalised map (Chattopadhay et al. 2018, eq. 19), but overflows
        float32 for logits above ~88 and would weight stitched patches by ``exp(logit)``.
        """

        def __init__(self, index: int, unit_exp: bool = False) -> None:
            super().__init__("ClassScore")
            self.index = int(index)
            self.unit_exp = unit_exp

        def __call__(self, output: Any) -> Any:
            score = output[:, self.index]
            return score - tf.stop_gradient(score) if self.unit_exp else score

    return ClassScore
