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

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.errors import ModelError
from mcalc.models.card import ModelCard
from mcalc.models.patches import model_input_image
from mcalc.models.registry import load_card, load_keras_model, resolve_model
from mcalc.plural import counted

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

    A temporal model (``card.patch.temporal``) takes ``(H, W, 2)`` patches: the recent
    image and the subtraction of its registered prior
    (:func:`mcalc.models.temporal_input.temporal_input_image`).
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

    def with_card(self, card: ModelCard) -> LoadedModel:
        """This model with ``card``, a newer reading of its own card (the same Keras model,
        not copied): a card changes without its model file (its decision threshold,
        ``models threshold``), and a model cached by its file would keep the old one.
        ``self`` when ``card`` is the one it has.

        Raises:
            ModelError: ``card`` is another model's (another folder).
        """
        if card == self.card:
            return self
        if card.path != self.card.path:
            raise ModelError(
                f"the card of {card.path or card.id!r} given to the model of {self.card.path!r}"
            )
        return replace(self, card=card)

    @property
    def temporal(self) -> bool:
        """The model needs the registered prior as well as the image (``--input temporal``)."""
        return self.card.patch.temporal

    @property
    def channels(self) -> int:
        """Input channels per patch (1 gray; 2 for a temporal model)."""
        return max(1, len(self.card.patch.channels))


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
    channels = len(card.patch.channels) or 1
    if tuple(model.input_shape[1:]) != (size, size, channels):
        raise ModelError(
            f"{folder}: model input {model.input_shape[1:]} does not match the card's patch "
            f"size {size} and {counted(channels, 'channel')} ({', '.join(card.patch.channels)})"
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
    """The [0, 1] image the model was trained on and the factor from native pixels to it.

    Raises:
        ModelError: a temporal model, which needs the registered prior as well
            (:func:`mcalc.models.temporal_input.temporal_input_image`).
    """
    if loaded.temporal:
        raise ModelError(
            f"model {loaded.model_id!r} is temporal: it needs the case's prior image "
            "registered to this one; analyse a dataset case with both exams"
        )
    return model_input_image(mammogram, loaded.spacing_mm)


def predict_patches(
    loaded: LoadedModel | keras.Model, patches: np.ndarray, batch: int = 64
) -> np.ndarray:
    """Class probabilities of patches ``(N, H, W)`` (gray) or ``(N, H, W, channels)``
    float32 in [0, 1].

    Raises:
        ModelError: the patches' shape does not match the model's input.
    """
    from mcalc.models.data import predict_array

    model = loaded.model if isinstance(loaded, LoadedModel) else loaded
    x = np.asarray(patches, dtype=np.float32)
    if x.ndim == 3:
        x = x[..., None]
    expected = tuple(model.input_shape[1:4])
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        gray = expected[-1] == 1  # gray patches are named without their one channel
        shape = ", ".join(str(v) for v in (expected[:2] if gray else expected))
        raise ModelError(f"expected patches of shape (N, {shape}), got {x.shape}")
    return predict_array(model, x, batch=batch)
