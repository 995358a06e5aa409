"""Sliding-window inference: a patch model over the whole breast, as a probability map.

A registered model classifies square patches at its own pixel spacing (see
:mod:`mcalc.models.patches`). To answer for a whole mammogram, the image is turned into the
model's [0, 1] input by the very function training used
(:func:`mcalc.models.inference.image_to_unit`), a regular grid of patches (stride half a
patch by default, :mod:`~mcalc.explain.grid`) is laid over it, and every patch holding
enough breast tissue is classified in batches. The result, a :class:`ProbabilityMap`, holds
one probability per class and grid cell; :meth:`ProbabilityMap.dense` interpolates it
between patch centres to any image size. What it adds up to (map score, case score, top
regions) is :mod:`~mcalc.explain.scoring`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.errors import ModelError
from mcalc.explain.dense import dense_runner
from mcalc.explain.errors import NoBreastRegionError
from mcalc.explain.grid import (
    PatchGrid,
    breast_fractions,
    gather_patches,
    interpolation_weights,
    make_grid,
    pad_to_grid,
)
from mcalc.models.tasks import TASKS, positive_class_for
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.imageio import Mammogram
    from mcalc.models.inference import LoadedModel

__all__ = [
    "SlidingSettings",
    "ProbabilityMap",
    "check_model_fits",
    "predict_map",
    "predict_mammogram",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlidingSettings:
    """How the model is slid over an image and its answers scored (:mod:`~mcalc.explain.scoring`).

    Attributes:
        stride: step between patches in model-input pixels; ``None``: half a patch.
        batch: patches per forward pass.
        min_breast: smallest fraction of breast tissue in a patch for it to be classified;
            patches under it score 0 and count as not evaluated.
        max_regions: most top regions listed.
        min_region_score: smallest score of a listed region (its detection's: the
            positive class's dense map at its peak).
        nms_overlap: largest intersection over union between two listed regions' patches.
        dense: run the model fully convolutionally over the image when that gives the same
            probabilities at the grid points (:mod:`~mcalc.explain.dense`), with a denser
            map besides; the patch-by-patch sliding window otherwise, or when ``False``.
    """

    stride: int | None = None
    batch: int = 64
    min_breast: float = 0.25
    max_regions: int = 8
    min_region_score: float = 0.5
    nms_overlap: float = 0.1
    dense: bool = True

    def __post_init__(self) -> None:
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 pixel or None, got {self.stride}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if not 0.0 <= self.min_breast <= 1.0:
            raise ValueError(f"min_breast must be in [0, 1], got {self.min_breast}")
        if self.max_regions < 0:
            raise ValueError(f"max_regions must be >= 0, got {self.max_regions}")
        if not 0.0 <= self.nms_overlap <= 1.0:
            raise ValueError(f"nms_overlap must be in [0, 1], got {self.nms_overlap}")

    def stride_for(self, patch: int) -> int:
        """The stride used with ``patch`` px patches."""
        return int(self.stride) if self.stride is not None else max(1, patch // 2)

    def map_key(self) -> str:
        """What changes the probability map (not the scoring): for cache keys."""
        return json.dumps(
            {"stride": self.stride, "min_breast": self.min_breast, "dense": self.dense, "v": 2},
            sort_keys=True,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_model_fits(loaded: LoadedModel) -> None:
    """Check that a loaded model can be slid over images.

    Raises:
        ModelError: the model does not take one gray square patch, its outputs do not match
            its classes, or its task is not one the Predict page knows.
    """
    model = loaded.model
    if len(model.inputs) != 1:
        raise ModelError(
            f"model {loaded.model_id!r} has {len(model.inputs)} inputs; expected 1 gray patch input"
        )
    shape = tuple(model.input_shape[1:])
    expected = (loaded.patch_size, loaded.patch_size, loaded.channels)
    if shape != expected:
        raise ModelError(
            f"model {loaded.model_id!r} takes inputs of shape {shape}; expected {expected} "
            "(a square patch of the card's size and channels): retrain it with mcalc"
        )
    if len(model.outputs) != 1 or int(model.output_shape[-1]) != len(loaded.classes):
        raise ModelError(
            f"model {loaded.model_id!r} outputs {model.output_shape}; expected "
            f"(None, {len(loaded.classes)}) for classes {', '.join(loaded.classes)}"
        )
    task = loaded.card.task_name
    if task not in TASKS:
        raise ModelError(
            f"model {loaded.model_id!r} has task {task!r}; Predict knows {', '.join(TASKS)}"
        )
    if tuple(loaded.classes) != TASKS[task].classes:
        raise ModelError(
            f"model {loaded.model_id!r}: classes {list(loaded.classes)} do not match task "
            f"{task!r} ({list(TASKS[task].classes)})"
        )


@dataclass
class ProbabilityMap:
    """Patch probabilities over an image's grid.

    Attributes:
        proba: ``(rows, cols, C)`` class probabilities; 0 where not evaluated.
        evaluated: ``(rows, cols)`` patches that were classified (enough breast).
        grid: the patch grid, in model-input pixels.
        classes: class names, in column order.
        factor: native pixels x ``factor`` = model-input pixels.
        native_shape: (rows, cols) of the full-resolution image.
        breast_fraction: fraction of the image that is breast.
        seconds: time taken by the forward passes and patch extraction.
        fine: ``(T, U, C)`` probabilities on a denser lattice (step ``fine_stride``, the grid
            points among them) when the model ran densely; ``None`` otherwise.
        fine_stride: the dense lattice's step in model-input pixels (0: none).
    """

    proba: np.ndarray
    evaluated: np.ndarray
    grid: PatchGrid
    classes: tuple[str, ...]
    factor: float = 1.0
    native_shape: tuple[int, int] = (0, 0)
    breast_fraction: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    fine: np.ndarray | None = None
    fine_stride: int = 0
    #: :meth:`dense` of the positive class at the model-input size, made once (read-only).
    _dense: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_patches(self) -> int:
        """Number of patches classified."""
        return int(self.evaluated.sum())

    @property
    def unit_shape(self) -> tuple[int, int]:
        """Shape of the model-input image the grid lies on."""
        return self.grid.image_shape

    @property
    def positive(self) -> str:
        """The class the map score is about (the task's positive class)."""
        return positive_class_for(self.classes)

    def class_index(self, name: str | int | None = None) -> int:
        """Column of class ``name`` (default: the positive class).

        Raises:
            ValueError: unknown class (the message lists the known ones).
        """
        if name is None:
            name = self.positive
        if isinstance(name, int | np.integer):
            if not 0 <= int(name) < len(self.classes):
                raise ValueError(f"class index {name} out of range 0..{len(self.classes) - 1}")
            return int(name)
        if name not in self.classes:
            raise ValueError(f"unknown class {name!r}; expected one of {', '.join(self.classes)}")
        return self.classes.index(name)

    def values(self, name: str | int | None = None) -> np.ndarray:
        """``(rows, cols)`` probabilities of one class (default: the positive class)."""
        return self.proba[..., self.class_index(name)]

    def dense(
        self, name: str | int | None = None, shape: tuple[int, int] | None = None
    ) -> np.ndarray:
        """The map of one class interpolated between patch centres to ``shape``.

        ``shape`` defaults to the model-input image; pass the native shape (or a preview's)
        for other sizes: the map covers the same field of view whatever the size. From the
        dense lattice (:attr:`fine`) when there is one.

        The positive class's map at the model-input size (no ``name``, no ``shape``) is
        made once and returned read-only: the analysis, the detections and the page's
        layers each asked for it (20-50 ms a demo image on the 2-core machine, three times
        per image after a cold case's analysis; docs/measurements.md, 4 December 2026).
        """
        default = shape is None and self.class_index(name) == self.class_index(None)
        if default and self._dense is not None:
            return self._dense
        values = self.values(name)
        grid = self.grid
        if self.fine is not None and self.fine_stride:
            values = self.fine[..., self.class_index(name)]
            grid = self.fine_grid
        h, w = self.unit_shape
        out_shape = (h, w) if shape is None else (int(shape[0]), int(shape[1]))
        wy = interpolation_weights(out_shape[0], h, grid.rows, grid)
        wx = interpolation_weights(out_shape[1], w, grid.cols, grid)
        out = (wy @ values.astype(np.float32) @ wx.T).astype(np.float32)
        if default:
            out.setflags(write=False)
            self._dense = out
        return out

    def dense_at(
        self, rows: np.ndarray, cols: np.ndarray, name: str | int | None = None
    ) -> np.ndarray:
        """:meth:`dense` of one class at the model-input size, at the pixels
        ``(rows[k], cols[k])`` only (the same interpolation, without the whole map).

        Example:
            >>> from mcalc.explain.grid import make_grid
            >>> grid = make_grid((40, 40), 16, 8)
            >>> proba = np.random.default_rng(0).random((grid.rows, grid.cols, 2), np.float32)
            >>> pmap = ProbabilityMap(proba, np.ones(proba.shape[:2], bool), grid, ("a", "b"))
            >>> bool(np.allclose(pmap.dense_at(np.array([3, 30]), np.array([17, 2]), "a"),
            ...                  pmap.dense("a")[[3, 30], [17, 2]]))
            True
        """
        values, grid = self.values(name), self.grid
        if self.fine is not None and self.fine_stride:
            values, grid = self.fine[..., self.class_index(name)], self.fine_grid
        h, w = self.unit_shape
        wy = interpolation_weights(h, h, grid.rows, grid)[np.asarray(rows, np.int64)]
        wx = interpolation_weights(w, w, grid.cols, grid)[np.asarray(cols, np.int64)]
        return np.einsum("ki,ij,kj->k", wy, values.astype(np.float32), wx).astype(np.float32)

    @property
    def fine_grid(self) -> PatchGrid:
        """The dense lattice as a grid (same patch, step :attr:`fine_stride`)."""
        if self.fine is None or not self.fine_stride:
            raise ValueError("this map has no dense lattice (the model ran patch by patch)")
        rows, cols = self.fine.shape[:2]
        return PatchGrid(self.grid.image_shape, self.grid.patch, self.fine_stride, rows, cols)

    def to_native(self, row: float, col: float) -> tuple[float, float]:
        """A model-input position in native (full-resolution) pixels."""
        return row / self.factor, col / self.factor

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The map as plain arrays and JSON text, for the results cache."""
        meta = {
            "grid": asdict(self.grid),
            "classes": list(self.classes),
            "factor": self.factor,
            "native_shape": list(self.native_shape),
            "breast_fraction": self.breast_fraction,
            "seconds": self.seconds,
            "notes": self.notes,
            "fine_stride": self.fine_stride,
        }
        arrays = {
            "proba": self.proba,
            "evaluated": self.evaluated,
            "meta": np.array(json.dumps(meta)),
        }
        if self.fine is not None:
            arrays["fine"] = self.fine
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ProbabilityMap:
        meta = json.loads(str(arrays["meta"]))
        g = meta["grid"]
        grid = PatchGrid(
            tuple(g["image_shape"]),
            int(g["patch"]),
            int(g["stride"]),
            int(g["rows"]),
            int(g["cols"]),
        )
        return cls(
            proba=np.asarray(arrays["proba"], np.float32),
            evaluated=np.asarray(arrays["evaluated"], bool),
            grid=grid,
            classes=tuple(meta["classes"]),
            factor=float(meta["factor"]),
            native_shape=tuple(meta["native_shape"]),
            breast_fraction=float(meta["breast_fraction"]),
            seconds=float(meta["seconds"]),
            notes=list(meta.get("notes", [])),
            fine=np.asarray(arrays["fine"], np.float32) if "fine" in arrays else None,
            fine_stride=int(meta.get("fine_stride", 0)),
        )


def _forward(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities of one batch ``(N, P, P)`` or ``(N, P, P, C)`` (compiled
    predict function)."""
    out = model.predict_on_batch(x[..., None] if x.ndim == 3 else x)
    return np.asarray(out, dtype=np.float32)


def _checked_breast(img: np.ndarray, breast: np.ndarray | None) -> np.ndarray:
    """The breast mask of ``img`` (computed when not given), checked to be non-empty."""
    from mcalc.breast import breast_mask

    if img.ndim == 3:  # a temporal input: the breast is the recent channel's
        img = img[..., 0]
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D [0, 1] image, got shape {img.shape}")
    mask = np.asarray(breast_mask(img) if breast is None else breast, bool)
    if mask.shape != img.shape:
        raise ValueError(f"breast mask {mask.shape} and image {img.shape} differ in shape")
    if not mask.any():
        raise NoBreastRegionError(
            "no breast region found in this image (blank, constant or not a mammogram?): "
            "check the file and its window, or choose another image"
        )
    return mask


def _classify(
    model: Any,
    padded: np.ndarray,
    grid: PatchGrid,
    cells: np.ndarray,
    n_classes: int,
    batch: int,
    progress: ProgressFn | None,
) -> np.ndarray:
    """``(rows, cols, n_classes)`` probabilities of the cells, in batches (0 elsewhere)."""
    proba = np.zeros((grid.rows, grid.cols, n_classes), np.float32)
    total = len(cells)
    for lo in range(0, total, batch):
        chunk = cells[lo : lo + batch]
        proba[chunk[:, 0], chunk[:, 1]] = _forward(model, gather_patches(padded, grid, chunk))
        if progress is not None:
            progress(min(lo + len(chunk), total), total, f"{lo + len(chunk)}/{total} patches")
    return proba


def predict_map(
    loaded: LoadedModel,
    unit: np.ndarray,
    *,
    settings: SlidingSettings | None = None,
    breast: np.ndarray | None = None,
    factor: float = 1.0,
    native_shape: tuple[int, int] | None = None,
    progress: ProgressFn | None = None,
) -> ProbabilityMap:
    """Slide a model over a model-input image and return its probability map.

    Args:
        loaded: the model (:func:`mcalc.models.inference.load_model`).
        unit: the [0, 1] model-input image (:func:`mcalc.models.inference.image_to_unit`),
            or a temporal model's ``(H, W, 2)`` channels
            (:func:`mcalc.models.temporal_input.temporal_input_image`).
        settings: stride, batch and breast threshold (defaults: :class:`SlidingSettings`).
        breast: the breast mask of ``unit``; computed with :func:`mcalc.breast.breast_mask`
            when not given.
        factor: native pixels x ``factor`` = ``unit`` pixels (recorded for coordinates).
        native_shape: the full-resolution shape (default: ``unit``'s divided by ``factor``).
        progress: called ``(done, total, message)`` after each batch.

    Returns:
        The :class:`ProbabilityMap`; the patch at cell ``(i, j)`` is exactly
        ``extract_patch(unit, grid.centers()[i, j], patch)``.

    Raises:
        ModelError: the model does not fit (:func:`check_model_fits`).
        NoBreastRegionError: no breast region in the image, or no patch with enough breast.
    """
    check_model_fits(loaded)
    settings = settings or SlidingSettings()
    img = np.asarray(unit, dtype=np.float32)
    start = time.perf_counter()
    mask = _checked_breast(img, breast)
    patch = loaded.patch_size
    grid = make_grid(img.shape[:2], patch, settings.stride_for(patch))
    threshold = max(settings.min_breast, 1e-9)
    runner = dense_runner(loaded.model) if settings.dense else None
    step = runner.plan.fine_stride(grid.stride) if runner is not None else None
    fine_wanted = None
    if step is not None:  # the grid's points are every k-th of the lattice's: one pass
        k = grid.stride // step
        fine_wanted = breast_fractions(mask, _fine_grid(grid, step)) >= threshold
        evaluated = np.ascontiguousarray(fine_wanted[::k, ::k])
    else:
        evaluated = breast_fractions(mask, grid) >= threshold
    cells = np.argwhere(evaluated)
    if len(cells) == 0:  # no setting of the app or command line lowers min_breast
        h, w = img.shape[:2]
        why = (
            f"the image ({w}x{h} px at the model's pixel spacing) is smaller than the patch"
            if min(h, w) < patch
            else "the breast region is too small for this model"
        )
        raise NoBreastRegionError(
            f"no {patch} px patch holds {settings.min_breast:.0%} breast: {why}; "
            "choose another image"
        )
    fine, fine_stride = None, 0
    if runner is not None and step is not None and fine_wanted is not None:
        fine = runner.lattice(img, step, fine_wanted, progress=progress)
        proba = np.ascontiguousarray(fine[:: grid.stride // step, :: grid.stride // step])
        fine_stride = step
    else:
        padded = pad_to_grid(img, grid)
        proba = _classify(
            loaded.model, padded, grid, cells, len(loaded.classes), settings.batch, progress
        )
    proba *= evaluated[..., None]
    seconds = time.perf_counter() - start
    native = native_shape or (round(img.shape[0] / factor), round(img.shape[1] / factor))
    log.info(
        "%s: %d patches of %d px (stride %d, %s) in %.2f s",
        loaded.model_id,
        len(cells),
        patch,
        grid.stride,
        f"dense, lattice step {fine_stride}" if fine is not None else "patch by patch",
        seconds,
    )
    return ProbabilityMap(
        proba=proba,
        evaluated=evaluated,
        grid=grid,
        classes=tuple(loaded.classes),
        factor=float(factor),
        native_shape=(int(native[0]), int(native[1])),
        breast_fraction=np.count_nonzero(mask) / mask.size,
        seconds=seconds,
        fine=fine,
        fine_stride=fine_stride,
    )


def _fine_grid(grid: PatchGrid, step: int) -> PatchGrid:
    """The dense lattice of step ``step`` over the grid's own extent (so that its padding
    and its points are the grid's: every ``grid.stride // step``-th)."""
    k = grid.stride // step
    return PatchGrid(
        grid.image_shape, grid.patch, step, (grid.rows - 1) * k + 1, (grid.cols - 1) * k + 1
    )


def predict_mammogram(
    loaded: LoadedModel,
    mammogram: Mammogram,
    *,
    settings: SlidingSettings | None = None,
    progress: ProgressFn | None = None,
) -> tuple[ProbabilityMap, np.ndarray]:
    """The probability map of a mammogram and its model-input image.

    The image goes through the preprocessing shared with training
    (:func:`mcalc.models.inference.image_to_unit`).
    """
    from mcalc.models.inference import image_to_unit

    unit, factor = image_to_unit(mammogram, loaded)
    pmap = predict_map(
        loaded,
        unit,
        settings=settings,
        factor=factor,
        native_shape=mammogram.shape,
        progress=progress,
    )
    return pmap, unit
