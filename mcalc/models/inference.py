"""Using a registered model: load it with what is needed to feed it, and predict patches.

The Predict page and ``evaluate`` go through here. :func:`image_to_unit` is the very
function training used to turn a mammogram into the model's [0, 1] input
(:func:`mcalc.models.patches.model_input_image`), so training and inference cannot drift.

Example:
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> unit, factor = image_to_unit(mammogram, loaded)  # doctest: +SKIP
    >>> proba = predict_patches(loaded, patches)  # (N, len(loaded.classes))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.errors import ModelError
from mcalc.models.card import ModelCard
from mcalc.models.patches import model_input_image
from mcalc.models.registry import load_card, load_keras_model, resolve_model

if TYPE_CHECKING:
    import keras

    from mcalc.imageio import Mammogram

__all__ = ["LoadedModel", "load_model", "predict_patches", "image_to_unit"]


@dataclass
class LoadedModel:
    """A model with its card and the preprocessing facts needed to feed it.

    Attributes:
        model: the Keras model (do not train or edit it: it may be shared and cached).
        card: the model card (with ``id`` and ``path``).
        patch_size: patch side in pixels.
        spacing_mm: pixel spacing patches are resampled to (``None``: native).
        classes: output class names, in column order.
        window: how modality values were windowed (``file``: the file's VOI window).
    """

    model: keras.Model
    card: ModelCard
    patch_size: int
    spacing_mm: float | None
    classes: tuple[str, ...]
    window: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return self.card.id


def load_model(id_or_path: str | Path, models_dir: str | Path) -> LoadedModel:
    """Load a registered model (registry id or folder path) in Keras safe mode.

    Raises:
        ModelError: unknown id, bad card, or a model file that cannot be loaded or does not
            match its card.
    """
    folder = resolve_model(id_or_path, models_dir)
    card = load_card(folder)
    model = load_keras_model(folder)
    size = card.patch.size
    classes = card.classes
    if tuple(model.input_shape[1:]) != (size, size, 1):
        raise ModelError(
            f"{folder}: model input {model.input_shape[1:]} does not match the card's patch "
            f"size {size}"
        )
    if int(model.output_shape[-1]) != len(classes):
        raise ModelError(
            f"{folder}: model has {model.output_shape[-1]} outputs, the card {len(classes)} classes"
        )
    spacing = card.patch.spacing_mm
    return LoadedModel(
        model=model,
        card=card,
        patch_size=size,
        spacing_mm=None if spacing is None else float(spacing),
        classes=classes,
        window=card.patch.window,
    )


def image_to_unit(mammogram: Mammogram, loaded: LoadedModel) -> tuple[np.ndarray, float]:
    """The [0, 1] image the model was trained on and the factor from native pixels to it."""
    return model_input_image(mammogram, loaded.spacing_mm)


def predict_patches(
    loaded: LoadedModel | keras.Model, patches: np.ndarray, batch: int = 64
) -> np.ndarray:
    """Class probabilities ``(N, C)`` of patches ``(N, H, W)`` float32 in [0, 1].

    Raises:
        ModelError: the patches' shape does not match the model's input.
    """
    from mcalc.models.training import predict_array

    model = loaded.model if isinstance(loaded, LoadedModel) else loaded
    x = np.asarray(patches, dtype=np.float32)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    expected = tuple(model.input_shape[1:3])
    if x.ndim != 3 or tuple(x.shape[1:]) != expected:
        raise ModelError(
            f"expected patches of shape (N, {expected[0]}, {expected[1]}), got {x.shape}"
        )
    return predict_array(model, x, batch=batch)
