"""Patches at (near) full resolution: what the models see, for training and inference.

Micro-calcifications are a few pixels across at about 0.07 mm a pixel; a whole mammogram
shrunk to 224 px loses them. So models classify square patches resampled to a fixed pixel
spacing (``spacing_mm``, 0.1 mm by default), and image-level answers aggregate patches.

One function, :func:`model_input_image`, turns a mammogram into the [0, 1] array the models
are trained on; training (here) and inference (:mod:`mcalc.models.inference`) both call it,
so they cannot drift. Its pixels are the file's own presentation (``WINDOW``:
:func:`mcalc.imaging.file_unit`, the VOI LUT or window and MONOCHROME1 inversion, the same
as the viewer's ``file`` window), then resampling to the target spacing.

Tasks:

- ``calcification``: binary, does the patch contain annotated calcifications? Positive
  patches are centred (with jitter) on annotated calcifications (or, for a ``region``
  annotation, on pixels spread throughout the region), negative patches are drawn
  from breast tissue with no annotated pixel. The label is computed from the mask itself.
- ``birads``: normal / benign / suspicious from the case's BI-RADS category; patches where
  the calcifications are for benign and suspicious cases, tissue patches for normal cases.
  Its binary view (suspicious vs the rest) is scored with ROC metrics too.

Example:
    >>> import numpy as np
    >>> unit = np.full((200, 200), 0.5, np.float32)
    >>> calc = np.zeros((200, 200), bool); calc[100:103, 60:63] = True
    >>> breast = np.ones((200, 200), bool)
    >>> p = sample_image_patches(unit, calc, breast, 32, 2, 2, np.random.default_rng(0))
    >>> p.contains.tolist()
    [True, False, False]
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np

from mcalc.breast import without_film_border
from mcalc.errors import AnnotationError
from mcalc.imaging import file_unit, resample_mask

if TYPE_CHECKING:
    from mcalc.dataset.records import ImageRecord
    from mcalc.imageio import Mammogram

__all__ = [
    "WINDOW",
    "INPUT_MODES",
    "input_channels",
    "DEFAULT_SPACING_MM",
    "PatchConfig",
    "ImagePatches",
    "PatchSet",
    "model_input_image",
    "resample_mask",
    "extract_patch",
    "sample_image_patches",
    "image_seed",
    "load_training_image",
    "training_marks",
]

log = logging.getLogger(__name__)


#: The window used to turn modality values into [0, 1] (recorded in model cards).
WINDOW = "file"

#: Default pixel spacing of patches, in millimetres.
DEFAULT_SPACING_MM = 0.1

#: What a model sees: ``recent`` (the image alone, one channel) or ``temporal`` (the recent
#: image and the subtraction of its registered prior, two channels on the recent grid; see
#: :mod:`mcalc.models.temporal_input`).
INPUT_MODES: tuple[str, ...] = ("recent", "temporal")
_CHANNELS = {"recent": ("recent",), "temporal": ("recent", "subtraction")}


def input_channels(mode: str) -> tuple[str, ...]:
    """The channels of an input mode, in order (``recent`` -> ``("recent",)``).

    Raises:
        ValueError: unknown mode.
    """
    if mode not in _CHANNELS:
        raise ValueError(f"unknown input {mode!r}; expected one of: {', '.join(INPUT_MODES)}")
    return _CHANNELS[mode]


@dataclass(frozen=True)
class PatchConfig:
    """How patches are cut.

    Attributes:
        size: patch side in pixels (at ``spacing_mm``).
        spacing_mm: pixel spacing patches are resampled to; ``None`` keeps the native one.
        pos_per_image: at most this many patches at calcifications per image (exactly
            this many inside the regions of a ``region``-annotated image).
        neg_per_image: tissue patches per image.
        jitter: largest shift of a calcification from the patch centre, as a fraction of
            ``size``.
        min_breast: smallest fraction of breast tissue in a tissue patch.
        input: ``recent`` (gray patches ``(N, size, size)``) or ``temporal`` (patches
            ``(N, size, size, 2)``: recent and subtraction, recent images only).
    """

    size: int = 64
    spacing_mm: float | None = DEFAULT_SPACING_MM
    pos_per_image: int = 16
    neg_per_image: int = 16
    jitter: float = 0.25
    min_breast: float = 0.6
    input: str = "recent"


@dataclass
class ImagePatches:
    """Patches of one image: pixels ``(N, size, size)``, whether each holds annotated
    calcifications, and their centres (row, column) in the resampled image."""

    patches: np.ndarray
    contains: np.ndarray
    centers: np.ndarray


@dataclass
class PatchSet:
    """Labelled patches of many images.

    Attributes:
        x: float32 ``(N, size, size)`` in [0, 1] (``(N, size, size, C)`` for a temporal
            input: see :func:`input_channels`).
        y: int64 class indices into ``classes``.
        case_ids: the case of each patch (for splits by patient).
        keys: the image of each patch (``case/VIEW_time``).
        classes: class names.
        notes: what was noticed while sampling (images skipped and why).
        skipped: ``image key -> reason`` of the images that could not be read (an
            unreadable image or annotation file): left out, never a stop.
    """

    x: np.ndarray
    y: np.ndarray
    case_ids: np.ndarray
    keys: np.ndarray
    classes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, case_ids: Iterable[str]) -> PatchSet:
        """The patches of the given cases (order kept)."""
        keep = np.isin(self.case_ids, list(case_ids))
        return PatchSet(
            self.x[keep],
            self.y[keep],
            self.case_ids[keep],
            self.keys[keep],
            self.classes,
            skipped=dict(self.skipped),
        )

    def counts(self) -> dict[str, int]:
        """Number of patches per class."""
        return {c: int((self.y == i).sum()) for i, c in enumerate(self.classes)}


def model_input_image(
    mammogram: Mammogram, spacing_mm: float | None = DEFAULT_SPACING_MM
) -> tuple[np.ndarray, float]:
    """The [0, 1] float32 image models are trained on, and the resampling factor used.

    Stages: :func:`mcalc.imaging.file_unit` (the file's VOI LUT or window, MONOCHROME1
    inversion: what the reader sees in the ``file`` window) -> the bright border bands of a
    scanned film set to the background (:func:`mcalc.breast.without_film_border`; digital
    images have none and are unchanged) -> resampling to ``spacing_mm``
    (area averaging when shrinking). Shared by training and inference.

    Args:
        mammogram: a decoded mammogram (:func:`mcalc.imageio.read_image`).
        spacing_mm: target pixel spacing; ``None`` keeps the native spacing.

    Returns:
        ``(unit, factor)``: ``factor`` multiplies native pixel coordinates into ``unit``'s.
    """
    unit = without_film_border(file_unit(mammogram))
    if spacing_mm is None:
        return unit, 1.0
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be > 0, got {spacing_mm}")
    native = float(np.mean(mammogram.pixel_spacing_mm))
    factor = native / float(spacing_mm)
    if abs(factor - 1.0) < 1e-3:
        return unit, 1.0
    h, w = unit.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR
    out = cv2.resize(unit, size, interpolation=interp)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False), factor


def extract_patch(image: np.ndarray, center: tuple[int, int], size: int) -> np.ndarray:
    """The ``size`` x ``size`` window whose centre is ``center``; past the image's border the
    nearest edge pixel is repeated (channels, if ``image`` has them, kept: ``(size, size,
    C)``).

    Edge replication, not zeros: a breast image often ends in bright tissue (the chest wall
    of a CC view), and a zero band beside it is a sharp bright-dark step that a
    calcification model reads as a calcification (a patch 2 px past the edge scored 1.000 on
    a normal demo image, ``docs/measurements.md``, 4 December 2026). The sliding window, the
    dense pass and the Grad-CAM read past the edge the same way (:func:`mcalc.explain.grid.
    pad_to_grid`)."""
    r, c = int(center[0]), int(center[1])
    top, left = r - size // 2, c - size // 2
    h, w = image.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"cannot cut a patch from an empty image of shape {image.shape}")
    if top >= 0 and left >= 0 and top + size <= h and left + size <= w:
        return image[top : top + size, left : left + size].copy()
    rows = np.clip(np.arange(top, top + size), 0, h - 1)
    cols = np.clip(np.arange(left, left + size), 0, w - 1)
    return image[np.ix_(rows, cols)]


def _clamp_center(center: np.ndarray, shape: tuple[int, int], size: int) -> np.ndarray:
    lo = size // 2
    hi = np.array([max(lo, shape[0] - (size - lo)), max(lo, shape[1] - (size - lo))])
    return np.clip(center, lo, hi)


def sample_image_patches(
    unit: np.ndarray,
    calc_mask: np.ndarray,
    breast: np.ndarray,
    size: int,
    n_pos: int,
    n_neg: int,
    rng: np.random.Generator,
    *,
    jitter: float = 0.25,
    min_breast: float = 0.6,
    region: bool = False,
) -> ImagePatches:
    """Cut patches at calcifications and from calcification-free breast tissue.

    Args:
        unit: [0, 1] image (:func:`model_input_image`), or ``(H, W, C)`` channels of one
            (a temporal model's input); patches then keep the channels.
        calc_mask: annotated calcification pixels, same (row, col) shape.
        breast: breast region, same shape.
        size: patch side.
        n_pos: at most this many patches centred (with jitter) on calcifications, one per
            calcification (components picked at random when there are more). With
            ``region`` exactly this many, centred on pixels drawn throughout the regions.
        n_neg: tissue patches holding no annotated pixel and at least ``min_breast`` breast.
        rng: random generator (seeded by the caller).
        region: ``calc_mask`` marks regions that hold calcifications (annotation kind
            ``region``), not calcifications: a region is one connected area, so one patch
            per component would give one positive per image; positives are then spread
            throughout the regions instead (:func:`_region_centers`).

    Returns:
        Positive patches first, then tissue patches; ``contains`` is computed from the mask
        of each patch, so it is the truth whatever the sampling intended.
    """
    if unit.shape[:2] != calc_mask.shape or unit.shape[:2] != breast.shape:
        raise ValueError(
            f"image {unit.shape}, calcification mask {calc_mask.shape} and breast mask "
            f"{breast.shape} must have one shape"
        )
    centers: list[np.ndarray] = []
    if n_pos > 0 and region and calc_mask.any():
        centers.extend(
            _clamp_center(c, unit.shape, size) for c in _region_centers(calc_mask, n_pos, rng)
        )
    elif n_pos > 0 and calc_mask.any():
        n, _, _, centroids = cv2.connectedComponentsWithStats(
            calc_mask.astype(np.uint8), connectivity=8
        )
        comps = centroids[1:n][:, ::-1]  # (row, col)
        order = rng.permutation(len(comps))[:n_pos]
        shift = max(1, int(size * jitter))
        for i in order:
            c = np.round(comps[i]).astype(int) + rng.integers(-shift, shift + 1, size=2)
            centers.append(_clamp_center(c, unit.shape, size))
    n_first = len(centers)
    if n_neg > 0:
        rows, cols = np.nonzero(breast)
        attempts = 0
        while len(centers) - n_first < n_neg and attempts < 40 * n_neg and rows.size:
            attempts += 1
            k = int(rng.integers(rows.size))
            c = _clamp_center(np.array([rows[k], cols[k]]), unit.shape, size)
            if extract_patch(calc_mask, tuple(c), size).any():
                continue
            if extract_patch(breast, tuple(c), size).mean() < min_breast:
                continue
            centers.append(c)
    if not centers:
        empty = np.zeros((0, size, size, *unit.shape[2:]), np.float32)
        return ImagePatches(empty, np.zeros(0, bool), np.zeros((0, 2), int))
    arr = np.stack(centers).astype(int)
    patches = np.stack([extract_patch(unit, tuple(c), size) for c in arr]).astype(np.float32)
    contains = np.array([extract_patch(calc_mask, tuple(c), size).any() for c in arr])
    return ImagePatches(patches, contains, arr)


def _region_centers(mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` (row, col) pixels spread throughout the non-zero area of ``mask``.

    Stratified: the region's pixels, in raster order, are cut into ``n`` runs of equal
    size and one pixel is drawn from each, so the centres cover the whole region (top to
    bottom) rather than clumping where a plain random draw happens to fall.
    """
    rows, cols = np.nonzero(mask)
    edges = np.linspace(0, rows.size, n + 1)
    lo = np.floor(edges[:-1]).astype(int)
    hi = np.maximum(lo + 1, np.floor(edges[1:]).astype(int))
    pick = np.minimum(lo + (rng.random(n) * (hi - lo)).astype(int), rows.size - 1)
    return np.column_stack([rows[pick], cols[pick]])


def image_seed(seed: int, key: str) -> int:
    """A per-image seed, the same whichever set the image lands in (so evaluation can
    re-sample exactly the test patches of training)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def load_training_image(
    rec: ImageRecord, spacing_mm: float | None, *, mammogram: Mammogram | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unit, calcification mask, breast mask)`` of one dataset image, at ``spacing_mm``.

    ``mammogram``: ``rec``'s image already decoded (:func:`mcalc.imageio.read_record`), for
    a caller that needs more of it (its native spacing): the file is then not read again.
    """
    from mcalc.breast import breast_mask
    from mcalc.imageio import read_record

    mammo = mammogram if mammogram is not None else read_record(rec)
    unit, _ = model_input_image(mammo, spacing_mm)
    calc = training_marks(rec, mammo.shape, unit.shape)
    breast = np.asarray(breast_mask(unit), bool)
    return unit, calc, breast


def training_marks(
    rec: ImageRecord, native_shape: tuple[int, int], shape: tuple[int, int]
) -> np.ndarray:
    """The image's annotated calcifications resampled to ``shape`` (none: all False).

    Raises:
        AnnotationError: the annotation file cannot be read, or the collection should have
            one for this image and does not (:meth:`ImageRecord.unknown_annotation`): its
            calcifications are unknown, and sampling them as negatives would teach a
            model that they are tissue.
    """
    from mcalc.annotations import load_annotation_mask

    unknown = rec.unknown_annotation()
    if unknown is not None:
        raise AnnotationError(f"{unknown}; left out rather than read as free of them")
    if rec.annotation_path is None or rec.annotation_kind == "none":
        return np.zeros(shape, bool)
    mask, _notes = load_annotation_mask(rec.annotation_path, rec.annotation_kind, native_shape)
    return resample_mask(np.asarray(mask, bool), shape)
