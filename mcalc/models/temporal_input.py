"""A temporal model's input: the recent image and the subtraction of its registered prior.

A model trained with ``--input temporal`` sees two channels per patch, both on the recent
image's grid at the model's spacing:

0. ``recent``: the recent image as any model sees it
   (:func:`mcalc.models.patches.model_input_image`);
1. ``subtraction``: the recent image minus the prior registered onto it and matched in
   intensity (:func:`mcalc.temporal.subtraction`), shifted to ``0.5 + difference`` and
   clipped to [0, 1], so 0.5 reads "no change" and brighter reads "brighter now". The scale
   is fixed (not per image), so a model can learn how large a change matters.

Why these two and not the registered prior itself: the published method on this dataset
(Loizidou et al., IEEE Access 2020; Eur Radiol Exp 2021) detects and classifies
micro-calcifications from the **temporal subtraction** image with the recent image, and the
registered prior is (up to the intensity match) ``recent - subtraction``, so a third channel
would add no information. Pre-trained backbones, which take three colour channels, get
``(recent, subtraction, recent)`` through a fixed 1x1 mixing layer
(:func:`mcalc.models.architectures.build_model`): the first and last ImageNet channel filters
see the image they see in a recent-only model, the middle one the change.

Only recent images have a prior to subtract, so a temporal model is trained and evaluated on
the recent images of cases that have both rounds; an image without a prior (or whose pair
does not register) is left out with the reason, like an unreadable file.

Example:
    >>> import numpy as np
    >>> subtraction_channel(np.full((4, 4), 0.2, np.float32), (2, 2)).tolist()
    [[0.699999988079071, 0.699999988079071], [0.699999988079071, 0.699999988079071]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mcalc.models.patches import model_input_image, training_marks

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import CaseRecord, ImageRecord
    from mcalc.temporal import Change, RegistrationSettings, TemporalPair

__all__ = [
    "SUBTRACTION_OFFSET",
    "TemporalInput",
    "subtraction_channel",
    "temporal_input_image",
    "load_temporal_training_image",
    "training_cache",
]

#: The subtraction channel's value for "no change".
SUBTRACTION_OFFSET = 0.5


@dataclass(frozen=True)
class TemporalInput:
    """A recent image's temporal model input and what it was made from.

    Attributes:
        stack: ``(H, W, 2)`` float32 in [0, 1] at the model's spacing (recent, subtraction).
        factor: native recent pixels x ``factor`` = ``stack`` pixels.
        pair: the registered pair (full-resolution images, masks, the registration).
        change: the subtraction at full resolution (registered prior, intensity match).
        prior_key: the prior file's cache key (results computed from the stack depend on it).
    """

    stack: np.ndarray
    factor: float
    pair: TemporalPair
    change: Change
    prior_key: str = ""

    @property
    def recent(self) -> np.ndarray:
        """The recent channel (what a recent-only model would see)."""
        return self.stack[..., 0]


def subtraction_channel(difference: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``0.5 + difference`` resized to ``shape`` (area averaging when shrinking), in [0, 1]."""
    h, w = int(shape[0]), int(shape[1])
    diff = np.asarray(difference, np.float32)
    if diff.shape != (h, w):
        shrink = h * w < diff.shape[0] * diff.shape[1]
        interp = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        diff = np.asarray(cv2.resize(diff, (w, h), interpolation=interp), np.float32)
    return np.clip(SUBTRACTION_OFFSET + diff, 0.0, 1.0).astype(np.float32)


def temporal_input_image(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    spacing_mm: float | None,
    settings: RegistrationSettings | None = None,
) -> TemporalInput:
    """Register ``case``'s prior ``view`` to its recent one and stack the model's channels.

    Raises:
        TemporalError: the case lacks a round of ``view``, or the two are of different
            views or breasts.
        RegistrationError: no breast to register in one of the images.
        ImageReadError: a file cannot be decoded.
    """
    from mcalc.temporal import pair_records, register_pair, subtraction

    pair = register_pair(cache, case, view, settings)
    change = subtraction(
        pair.recent, pair.prior, pair.recent_mask, pair.prior_mask, pair.registration
    )
    from mcalc.cache import file_key

    rec, prior = pair_records(case, view)
    unit, factor = model_input_image(cache.load_record(rec), spacing_mm)
    stack = np.stack([unit, subtraction_channel(change.subtraction, unit.shape)], axis=-1)
    return TemporalInput(stack, factor, pair, change, file_key(prior.image_path))


def load_temporal_training_image(
    cache: ImageCache, case: CaseRecord, rec: ImageRecord, spacing_mm: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(channels, calcification mask, breast mask)`` of a recent image, at ``spacing_mm``
    (the temporal twin of :func:`mcalc.models.patches.load_training_image`)."""
    from mcalc.breast import breast_mask

    got = temporal_input_image(cache, case, rec.view, spacing_mm)
    calc = training_marks(rec, cache.load_record(rec).shape, got.stack.shape[:2])
    return got.stack, calc, np.asarray(breast_mask(got.recent), bool)


def training_cache() -> ImageCache:
    """The image cache training and evaluation register pairs through (the user's, so the
    app and later runs reuse the registrations)."""
    from mcalc.cache import ImageCache
    from mcalc.config import get_settings

    s = get_settings()
    return ImageCache(s.cache_dir, default_spacing_mm=s.default_pixel_spacing_mm)
