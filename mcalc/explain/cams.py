"""Class activation maps through tf-keras-vis: Grad-CAM, Grad-CAM++ and Score-CAM.

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

One :class:`Explainer` per model holds a single clone of the model whose output activation
is linear (class scores are logits, as Grad-CAM asks), built on first use, and one
tf-keras-vis object per method built on first use, all reused for every later call. The
shared, cached model is never modified: tf-keras-vis would edit the model it is given in
place when asked to replace the softmax, so it is only ever given the clone. The layer is
always passed with ``seek_penultimate_conv_layer=False``: otherwise tf-keras-vis silently
walks back to an earlier convolution when the chosen layer is not one.

Patch maps come back raw (ReLU'd, upsampled to the patch, never NaN) so that they can be
stitched and two images shown on one colour scale; :func:`normalize_map` scales them to
[0, 1] with an epsilon. The full-image map (:func:`explain_map`) is the mean of the
overlapping patch maps under a tapering window (no seams at patch borders), each patch's
map multiplied by its probability of the explained class (``weighting="probability"``), so
that tissue the model calls negative stays dark instead of showing what would raise a score
it does not give.

Example:
    >>> from mcalc.models.architectures import build_model  # doctest: +SKIP
    >>> explainer = Explainer(build_model("custom", 32, 2), "custom")  # doctest: +SKIP
    >>> [layer.label for layer in explainer.layers()][-1]  # doctest: +SKIP
    'pool2 · MaxPooling2D · 8×8×64'
    >>> cams = explainer.explain_patches(patches, "gradcam", class_index=1)  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.explain.errors import ExplainError, LayerError
from mcalc.explain.sliding import (
    PatchGrid,
    ProbabilityMap,
    ProgressFn,
    SlidingSettings,
    gather_patches,
    top_regions,
)

if TYPE_CHECKING:
    import keras

__all__ = [
    "CAM_METHODS",
    "SCOPES",
    "EPS",
    "LayerInfo",
    "CamSettings",
    "CamMap",
    "Explainer",
    "layer_infos",
    "default_layer",
    "check_layer",
    "normalize_map",
    "joint_range",
    "stitch",
    "taper_window",
    "WEIGHTINGS",
    "explain_map",
    "cells_for_scope",
]

log = logging.getLogger(__name__)

#: Explanation methods, by their names in the CLI and the page.
CAM_METHODS: tuple[str, ...] = ("gradcam", "gradcam++", "scorecam")
#: Which patches a full-image map is stitched from (``auto``: ``breast`` for the gradient
#: methods, ``regions`` for Score-CAM, which costs one forward pass per channel).
SCOPES: tuple[str, ...] = ("auto", "regions", "breast")
#: How patch maps are weighted when stitched: by the patch's probability of the explained
#: class (patches the model calls negative stay dark), or not at all.
WEIGHTINGS: tuple[str, ...] = ("probability", "none")
#: Epsilon of every normalisation.
EPS = 1e-7


@dataclass(frozen=True)
class LayerInfo:
    """A layer of a model and the shape of its output (without the batch axis)."""

    name: str
    kind: str
    shape: tuple[int | None, ...]

    @property
    def spatial(self) -> bool:
        """Whether the output is a (height, width, channels) map."""
        return len(self.shape) == 3

    @property
    def label(self) -> str:
        """``conv2 · Conv2D · 16×16×64``: what the page's layer list shows."""
        dims = "×".join("?" if v is None else str(v) for v in self.shape)
        return f"{self.name} · {self.kind} · {dims}"


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ()
    return tuple(None if v is None else int(v) for v in shape[1:])


def layer_infos(model: keras.Model, *, spatial_only: bool = True) -> list[LayerInfo]:
    """The model's layers in order with their output shapes (by default, spatial ones only).

    The input layer is left out: a map of the input says nothing about the model.
    """
    out = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        info = LayerInfo(layer.name, layer.__class__.__name__, _output_shape(layer))
        if info.spatial or not spatial_only:
            out.append(info)
    return out


def default_layer(model: keras.Model, architecture: str | None = None) -> str:
    """The layer explained by default: the architecture's last convolution.

    For a model of a known architecture that is the name in
    :data:`mcalc.models.architectures.ARCHITECTURES`; otherwise the last convolutional
    layer with a spatial output, else the last layer with a spatial output.

    Raises:
        LayerError: the model has no layer with a spatial output.
    """
    from mcalc.models.architectures import ARCHITECTURES

    names = {layer.name for layer in model.layers}
    spec = ARCHITECTURES.get(str(architecture or "").lower())
    if spec is not None and spec.last_conv in names:
        return spec.last_conv
    infos = layer_infos(model)
    if not infos:
        raise LayerError(
            f"model {model.name!r} has no layer with a (height, width, channels) output: "
            "there is nothing for a class activation map to show"
        )
    convs = [i for i in infos if "Conv" in i.kind]
    return (convs or infos)[-1].name


def check_layer(model: keras.Model, name: str) -> LayerInfo:
    """The :class:`LayerInfo` of ``name``, checked to have a spatial output.

    Raises:
        LayerError: no such layer, or its output has no (height, width, channels) map.
    """
    try:
        layer = model.get_layer(name)
    except ValueError as exc:
        spatial = [i.name for i in layer_infos(model)]
        hint = ", ".join(spatial[-5:]) or "none"
        raise LayerError(
            f"model {model.name!r} has no layer {name!r}; layers with spatial output end with: "
            f"{hint}"
        ) from exc
    info = LayerInfo(layer.name, layer.__class__.__name__, _output_shape(layer))
    if not info.spatial:
        spatial = [i.name for i in layer_infos(model)]
        hint = spatial[-1] if spatial else "none"
        raise LayerError(
            f"layer {name!r} ({info.kind}) outputs shape {info.shape}: expected a "
            f"(height, width, channels) feature map to explain; choose a convolutional layer "
            f"such as {hint!r}"
        )
    return info


def normalize_map(
    cam: np.ndarray, vmin: float | None = None, vmax: float | None = None, eps: float = EPS
) -> np.ndarray:
    """Scale a map to [0, 1]: ``(cam - vmin) / (vmax - vmin + eps)``, clipped; never NaN.

    ``vmin``/``vmax`` default to the map's own minimum and maximum; pass the same range
    (:func:`joint_range`) to show several maps on one colour scale. NaN and infinities
    read as 0. A constant map comes out all 0 (or all ~1 with ``vmin=0``), never NaN.
    """
    x = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size == 0:
        return x
    lo = float(x.min()) if vmin is None else float(vmin)
    hi = float(x.max()) if vmax is None else float(vmax)
    out = (x - lo) / (max(hi - lo, 0.0) + eps)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def joint_range(maps: Sequence[np.ndarray]) -> tuple[float, float]:
    """``(0, max)`` over several non-negative maps: one colour scale for all of them."""
    peaks = [float(np.nanmax(m)) for m in maps if np.size(m)]
    peak = max([p for p in peaks if np.isfinite(p)], default=0.0)
    return 0.0, max(peak, 0.0)


@dataclass(frozen=True)
class CamSettings:
    """Which explanation to compute.

    Attributes:
        method: one of :data:`CAM_METHODS`.
        layer: layer explained (``None``: :func:`default_layer`).
        target: class explained, by name (``None``: the positive class).
        scope: patches stitched into the full-image map (:data:`SCOPES`).
        batch: patches per explanation call.
        scorecam_max_n: Score-CAM uses at most this many channels (those of largest
            spatial variance); ``None``: every channel.
        weighting: patch maps are multiplied by their probability of the target class
            before stitching (``probability``, default) or not (``none``).
    """

    method: str = "gradcam"
    layer: str | None = None
    target: str | None = None
    scope: str = "auto"
    batch: int = 32
    scorecam_max_n: int | None = 64
    weighting: str = "probability"

    def __post_init__(self) -> None:
        if self.method not in CAM_METHODS:
            raise ValueError(
                f"unknown explanation method {self.method!r}; expected one of "
                f"{', '.join(CAM_METHODS)}"
            )
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; expected one of {', '.join(SCOPES)}")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"unknown weighting {self.weighting!r}; expected one of {', '.join(WEIGHTINGS)}"
            )
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if self.scorecam_max_n is not None and self.scorecam_max_n < 1:
            raise ValueError(f"scorecam_max_n must be >= 1 or None, got {self.scorecam_max_n}")

    @property
    def resolved_scope(self) -> str:
        if self.scope != "auto":
            return self.scope
        return "regions" if self.method == "scorecam" else "breast"

    def key(self) -> str:
        """A stable text of the settings, for cache keys."""
        return json.dumps({**asdict(self), "scope": self.resolved_scope}, sort_keys=True)


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
    forward pass plus the head's gradient. The tf-keras-vis objects are built on first use. A clone costs from ~0.05 s for
    ``custom`` to a few seconds for ResNet-50 on a CPU; everything is kept and reused.
    Safe to share between threads.
    """

    def __init__(
        self, model: keras.Model, architecture: str | None = None, *, max_layers: int = 3
    ) -> None:
        self.model = model
        self.architecture = architecture
        self.max_layers = max(1, int(max_layers))
        self._lock = threading.RLock()
        self._clones: OrderedDict[str, keras.Model] = OrderedDict()
        self._methods: dict[tuple[str, str, bool], Any] = {}
        self._splits: dict[str, tuple[keras.Model, keras.Model] | None] = {}
        self._layers: list[LayerInfo] | None = None

    def layers(self) -> list[LayerInfo]:
        """Layers with a spatial output, in model order."""
        if self._layers is None:
            self._layers = layer_infos(self.model)
        return self._layers

    def default_layer(self) -> str:
        return default_layer(self.model, self.architecture)

    @property
    def classes(self) -> int:
        return int(self.model.output_shape[-1])

    def linear_model(self, layer: str) -> keras.Model:
        """The clone used to explain ``layer`` (built once, kept for the last few layers)."""
        check_layer(self.model, layer)
        with self._lock:
            if layer in self._clones:
                self._clones.move_to_end(layer)
                return self._clones[layer]
            clone = self._build_clone(layer)
            self._clones[layer] = clone
            while len(self._clones) > self.max_layers:
                old, _ = self._clones.popitem(last=False)
                self._splits.pop(old, None)
                for key in [k for k in self._methods if k[0] == old]:
                    del self._methods[key]
            return clone

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
        clone.set_weights(self.model.get_weights())
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
                    suffix.set_weights(part.get_weights())
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
        layer = layer or self.default_layer()
        info = check_layer(self.model, layer)
        x = np.asarray(patches, dtype=np.float32)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        expected = tuple(self.model.input_shape[1:3])
        if x.ndim != 3 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected patches of shape (N, {expected[0]}, {expected[1]}), got {x.shape}"
            )
        if not 0 <= int(class_index) < self.classes:
            raise ValueError(f"class index {class_index} out of range 0..{self.classes - 1}")
        # Gradient methods only need the layer's activations: run the base compiled and
        # tf-keras-vis on the rest (Score-CAM masks the input image, so it needs the whole).
        parts = self.split(info.name) if method != "scorecam" else None
        vis = self.visualizer(method, info.name, split=parts is not None)
        out = np.zeros(x.shape, np.float32)
        total = len(x)
        for lo in range(0, total, batch):
            seed = x[lo : lo + batch, ..., None]
            n = len(seed)
            score = _score_class()(class_index, unit_exp=method == "gradcam++")
            kwargs: dict[str, Any] = {
                "penultimate_layer": info.name,
                "seek_penultimate_conv_layer": False,
                "expand_cam": parts is None,
                "normalize_cam": False,
            }
            if parts is not None:
                seed = np.asarray(parts[0].predict_on_batch(seed), dtype=np.float32)
            if method == "scorecam":
                channels = info.shape[-1] or 1
                max_n = None if scorecam_max_n is None else min(int(scorecam_max_n), channels)
                kwargs.update(batch_size=max(32, n), max_N=max_n if max_n != channels else None)
            with warnings.catch_warnings():
                # Score-CAM passes a list where Keras expects one tensor: harmless.
                warnings.filterwarnings("ignore", message="The structure of `inputs`")
                cam = np.asarray(vis(score, seed, **kwargs), dtype=np.float32)
            if parts is not None:  # tf-keras-vis' own upsampling, to the patch
                from scipy.ndimage import zoom

                cam = zoom(cam, (1, x.shape[1] / cam.shape[1], x.shape[2] / cam.shape[2]), order=1)
            cam = cam.reshape(n, *x.shape[1:])
            if not np.isfinite(cam).all():
                log.warning("%s of layer %s gave non-finite values; read as 0", method, layer)
            out[lo : lo + n] = np.maximum(np.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
            if progress is not None:
                progress(lo + n, total, f"{method}: {lo + n}/{total} patches")
        return out


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


def taper_window(size: int) -> np.ndarray:
    """``(size, size)`` separable sine-squared (Hann) window, positive everywhere.

    With a stride of half a patch, overlapping windows add up to a constant, so a stitched
    map has no seams at patch borders (where convolution padding distorts every CAM).
    """
    n = np.arange(size, dtype=np.float64)
    w = np.sin(np.pi * (n + 0.5) / size) ** 2
    return np.outer(w, w).astype(np.float32)


def stitch(
    cams: np.ndarray,
    cells: np.ndarray,
    grid: PatchGrid,
    weights: np.ndarray | None = None,
    *,
    taper: bool = True,
) -> np.ndarray:
    """A full-image map from patch maps: their window-weighted mean at each pixel.

    Args:
        cams: ``(N, P, P)`` patch maps.
        cells: ``(N, 2)`` grid cells of the patches.
        grid: the grid (its image shape is the output's).
        weights: a factor per patch (e.g. its probability of the explained class).
        taper: weight pixels by :func:`taper_window` (else a plain mean).

    Returns:
        ``grid.image_shape`` float32 map, 0 where no patch was explained.
    """
    ph, pw = grid.padded_shape
    total = np.zeros((ph, pw), np.float32)
    norm = np.zeros((ph, pw), np.float32)
    p, s = grid.patch, grid.stride
    window = taper_window(p) if taper else np.ones((p, p), np.float32)
    factors = np.ones(len(cams), np.float32) if weights is None else np.asarray(weights, np.float32)
    for cam, (i, j), f in zip(cams, np.asarray(cells, dtype=np.int64), factors, strict=True):
        total[i * s : i * s + p, j * s : j * s + p] += window * (f * cam)
        norm[i * s : i * s + p, j * s : j * s + p] += window
    h, w = grid.image_shape
    out = np.where(norm > 0, total / np.maximum(norm, EPS), 0.0)
    return out[:h, :w].astype(np.float32)


@dataclass
class CamMap:
    """A full-image explanation stitched from patch maps (model-input pixels).

    Attributes:
        heat: raw map (non-negative, finite), on the probability map's grid image.
        settings: what was computed (method, layer, target, scope).
        layer: the layer actually explained.
        target: the class explained.
        cells: ``(N, 2)`` grid cells whose patch maps were stitched.
        seconds: time taken.
    """

    heat: np.ndarray
    settings: CamSettings
    layer: str
    target: str
    cells: np.ndarray
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def normalized(self, vmax: float | None = None) -> np.ndarray:
        """The map in [0, 1] (``vmax``: a shared maximum, see :func:`joint_range`)."""
        return normalize_map(self.heat, 0.0, vmax)

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {
            "settings": asdict(self.settings),
            "layer": self.layer,
            "target": self.target,
            "seconds": self.seconds,
            "notes": self.notes,
        }
        return {"heat": self.heat, "cells": self.cells, "meta": np.array(json.dumps(meta))}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> CamMap:
        meta = json.loads(str(arrays["meta"]))
        return cls(
            heat=np.asarray(arrays["heat"], np.float32),
            settings=CamSettings(**meta["settings"]),
            layer=str(meta["layer"]),
            target=str(meta["target"]),
            cells=np.asarray(arrays["cells"], np.int64).reshape(-1, 2),
            seconds=float(meta["seconds"]),
            notes=list(meta.get("notes", [])),
        )


def cells_for_scope(
    pmap: ProbabilityMap,
    scope: str,
    target: str | None = None,
    sliding: SlidingSettings | None = None,
) -> np.ndarray:
    """Grid cells ``(N, 2)`` to explain: every evaluated patch (``breast``) or the top
    regions (``regions``: the best ``max_regions`` non-overlapping patches of the target
    class, whatever their score, so that a normal image is explained too)."""
    if scope == "breast":
        return np.argwhere(pmap.evaluated)
    if scope != "regions":
        raise ValueError(f"scope must be 'regions' or 'breast', got {scope!r}")
    settings = replace(sliding or SlidingSettings(), min_region_score=0.0)
    regions = top_regions(pmap, target, settings=settings)
    return np.array([r.cell for r in regions], dtype=np.int64).reshape(-1, 2)


def explain_map(
    explainer: Explainer,
    unit: np.ndarray,
    pmap: ProbabilityMap,
    settings: CamSettings | None = None,
    *,
    sliding: SlidingSettings | None = None,
    cells: np.ndarray | None = None,
    progress: ProgressFn | None = None,
) -> CamMap:
    """Explain the patches of an image and stitch their maps into a full-image map.

    Args:
        explainer: the model's :class:`Explainer`.
        unit: the model-input image the probability map was computed on.
        pmap: its probability map (grid, evaluated patches, classes).
        settings: method, layer, target class and scope.
        sliding: the sliding settings (number of regions for the ``regions`` scope).
        cells: explain exactly these grid cells instead of the scope's.
        progress: called ``(done, total, message)`` after each batch.

    Raises:
        LayerError: bad layer. ExplainError: the image is not the map's.
    """
    settings = settings or CamSettings()
    img = np.asarray(unit, dtype=np.float32)
    if img.shape != pmap.unit_shape:
        raise ExplainError(
            f"image of shape {img.shape} is not the one of the probability map "
            f"({pmap.unit_shape}): pass the model-input image it was computed on"
        )
    target = settings.target or pmap.positive
    class_index = pmap.class_index(target)
    layer = settings.layer or explainer.default_layer()
    check_layer(explainer.model, layer)
    if cells is None:
        cells = cells_for_scope(pmap, settings.resolved_scope, target, sliding)
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    start = time.perf_counter()
    padded = np.zeros(pmap.grid.padded_shape, np.float32)
    padded[: img.shape[0], : img.shape[1]] = img
    patches = gather_patches(padded, pmap.grid, cells)
    cams = explainer.explain_patches(
        patches,
        settings.method,
        class_index,
        layer,
        batch=settings.batch,
        scorecam_max_n=settings.scorecam_max_n,
        progress=progress,
    )
    weights = None
    if settings.weighting == "probability" and len(cells):
        weights = pmap.proba[cells[:, 0], cells[:, 1], class_index]
    heat = stitch(cams, cells, pmap.grid, weights)
    notes = []
    if len(cells) == 0:
        notes.append("no patch to explain")
    return CamMap(
        heat=heat,
        settings=settings,
        layer=layer,
        target=target,
        cells=cells,
        seconds=time.perf_counter() - start,
        notes=notes,
    )
