"""The layers of a model a class activation map can show: lists with feature-map sizes,
the default layer, and checks that name what was expected.

Example:
    >>> from mcalc.models.architectures import build_model  # doctest: +SKIP
    >>> model = build_model("custom", 32, 2)  # doctest: +SKIP
    >>> layer_infos(model)[-1].label, default_layer(model, "custom")  # doctest: +SKIP
    ('conv2 · Conv2D · 13×13×64', 'conv2')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcalc.explain.errors import LayerError

if TYPE_CHECKING:
    import keras

__all__ = ["LayerInfo", "layer_infos", "default_layer", "check_layer"]


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
