"""Sliding-window inference: a patch model over the whole breast, and what it adds up to.

A registered model classifies square patches at its own pixel spacing (see
:mod:`mcalc.models.patches`). To answer for a whole mammogram, the image is turned into the
model's [0, 1] input by the very function training used
(:func:`mcalc.models.inference.image_to_unit`), a regular grid of patches (stride half a
patch by default) is laid over it, and every patch holding enough breast tissue is classified
in batches. The result, a :class:`ProbabilityMap`, holds one probability per class and grid
cell; :meth:`ProbabilityMap.dense` interpolates it between patch centres to any image size.

Aggregation (documented rules, used by the CLI and the Predict page):

- **Image score**: the mean of the ``top_k`` highest patch probabilities of the *positive
  class* among evaluated patches (``top_k=1`` is the maximum). The positive class is
  ``calcification`` for the calcification task and ``suspicious`` for the BI-RADS task (its
  binary "suspicious vs the rest" view); other classes are reported the same way. A mean of a
  few peaks is less noisy than the maximum yet, unlike a mean over the breast, is not diluted
  by the thousands of normal patches around a few-millimetre finding.
- **Case score**: the maximum of the image scores of the case's images (one view suffices to
  show a finding). The Predict page reports it per screening round.
- **Top regions**: greedy non-maximum suppression over the grid: the highest-scoring patch
  is kept, every patch overlapping it by more than ``nms_overlap`` (intersection over union)
  is dropped, and so on, down to ``min_region_score`` or ``max_regions`` regions.

Example:
    >>> import numpy as np
    >>> grid = make_grid((100, 90), patch=32, stride=16)
    >>> (grid.rows, grid.cols), grid.padded_shape
    ((6, 5), (112, 96))
    >>> aggregate(np.array([0.1, 0.9, 0.5, 0.7]), rule="topk", k=2)
    0.8
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mcalc.errors import ModelError
from mcalc.explain.errors import NoBreastRegionError
from mcalc.models.tasks import TASKS, positive_class_for

if TYPE_CHECKING:
    from mcalc.imageio import Mammogram
    from mcalc.models.inference import LoadedModel

__all__ = [
    "ProgressFn",
    "SlidingSettings",
    "PatchGrid",
    "ProbabilityMap",
    "Region",
    "AGGREGATION_RULES",
    "make_grid",
    "breast_fractions",
    "gather_patches",
    "check_model_fits",
    "predict_map",
    "predict_mammogram",
    "aggregate",
    "image_scores",
    "case_score",
    "top_regions",
    "interpolation_weights",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]

#: Image-level aggregation rules: ``max`` of the patch probabilities, or ``topk`` mean.
AGGREGATION_RULES: tuple[str, ...] = ("max", "topk")


@dataclass(frozen=True)
class SlidingSettings:
    """How the model is slid over an image and its answers aggregated.

    Attributes:
        stride: step between patches in model-input pixels; ``None``: half a patch.
        batch: patches per forward pass.
        min_breast: smallest fraction of breast tissue in a patch for it to be classified;
            patches under it score 0 and count as not evaluated.
        top_k: image score = mean of the ``top_k`` best patch probabilities (1: maximum).
        max_regions: most top regions listed.
        min_region_score: smallest positive-class probability of a listed region.
        nms_overlap: largest intersection over union between two listed regions' patches.
    """

    stride: int | None = None
    batch: int = 64
    min_breast: float = 0.25
    top_k: int = 3
    max_regions: int = 8
    min_region_score: float = 0.5
    nms_overlap: float = 0.1

    def __post_init__(self) -> None:
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1 pixel or None, got {self.stride}")
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")
        if not 0.0 <= self.min_breast <= 1.0:
            raise ValueError(f"min_breast must be in [0, 1], got {self.min_breast}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.max_regions < 0:
            raise ValueError(f"max_regions must be >= 0, got {self.max_regions}")
        if not 0.0 <= self.nms_overlap <= 1.0:
            raise ValueError(f"nms_overlap must be in [0, 1], got {self.nms_overlap}")

    def stride_for(self, patch: int) -> int:
        """The stride used with ``patch`` px patches."""
        return int(self.stride) if self.stride is not None else max(1, patch // 2)

    def map_key(self) -> str:
        """What changes the probability map (not the aggregation): for cache keys."""
        return json.dumps(
            {"stride": self.stride, "min_breast": self.min_breast, "v": 1}, sort_keys=True
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PatchGrid:
    """A regular grid of square patches over an image (model-input pixels).

    Patch ``(i, j)`` covers rows ``[i*stride, i*stride + patch)`` and columns
    ``[j*stride, j*stride + patch)``; its centre in the sense of
    :func:`mcalc.models.patches.extract_patch` is ``top + patch // 2``. The last row and
    column of patches may reach past the image, where pixels read as 0 (the zero padding
    of :func:`~mcalc.models.patches.extract_patch`).
    """

    image_shape: tuple[int, int]
    patch: int
    stride: int
    rows: int
    cols: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (
            (self.rows - 1) * self.stride + self.patch,
            (self.cols - 1) * self.stride + self.patch,
        )

    @property
    def size(self) -> int:
        return self.rows * self.cols

    def centers(self) -> np.ndarray:
        """``(rows, cols, 2)`` patch centres (row, col) as :func:`extract_patch` takes them."""
        r = np.arange(self.rows) * self.stride + self.patch // 2
        c = np.arange(self.cols) * self.stride + self.patch // 2
        rr, cc = np.meshgrid(r, c, indexing="ij")
        return np.stack([rr, cc], axis=-1)

    def box(self, i: int, j: int) -> tuple[int, int, int, int]:
        """``(r0, r1, c0, c1)`` of patch ``(i, j)``, clipped to the image."""
        h, w = self.image_shape
        r0, c0 = i * self.stride, j * self.stride
        return r0, min(r0 + self.patch, h), c0, min(c0 + self.patch, w)


def make_grid(shape: tuple[int, int], patch: int, stride: int) -> PatchGrid:
    """The grid of ``patch`` px patches every ``stride`` px covering an image of ``shape``.

    Raises:
        ValueError: a non-positive patch or stride, or an empty image.
    """
    h, w = int(shape[0]), int(shape[1])
    if patch < 1 or stride < 1:
        raise ValueError(f"patch and stride must be >= 1, got {patch} and {stride}")
    if h < 1 or w < 1:
        raise ValueError(f"cannot lay patches over an empty image of shape {shape}")
    rows = 1 + max(0, math.ceil((h - patch) / stride))
    cols = 1 + max(0, math.ceil((w - patch) / stride))
    return PatchGrid((h, w), int(patch), int(stride), rows, cols)


def _pad(image: np.ndarray, grid: PatchGrid) -> np.ndarray:
    ph, pw = grid.padded_shape
    out = np.zeros((max(ph, image.shape[0]), max(pw, image.shape[1])), dtype=image.dtype)
    out[: image.shape[0], : image.shape[1]] = image
    return out


def breast_fractions(breast: np.ndarray, grid: PatchGrid) -> np.ndarray:
    """``(rows, cols)`` fraction of each patch's pixels that are breast (padding is not)."""
    padded = _pad(np.asarray(breast, dtype=np.uint8), grid)
    integral = cv2.integral(padded, sdepth=cv2.CV_64F)
    r0 = np.arange(grid.rows) * grid.stride
    c0 = np.arange(grid.cols) * grid.stride
    r1, c1 = r0 + grid.patch, c0 + grid.patch
    total = (
        integral[np.ix_(r1, c1)]
        - integral[np.ix_(r0, c1)]
        - integral[np.ix_(r1, c0)]
        + integral[np.ix_(r0, c0)]
    )
    return (total / float(grid.patch * grid.patch)).astype(np.float32)


def gather_patches(padded: np.ndarray, grid: PatchGrid, cells: np.ndarray) -> np.ndarray:
    """Patches ``(N, patch, patch)`` of the cells ``(N, 2)`` from a padded image.

    ``padded`` is the image zero-padded to at least :attr:`PatchGrid.padded_shape`.
    """
    p, s = grid.patch, grid.stride
    idx = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    # A strided view of every grid patch (no copy), then one fancy-indexing copy.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (p, p))[::s, ::s]
    return np.ascontiguousarray(windows[idx[:, 0], idx[:, 1]], dtype=np.float32)


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
    expected = (loaded.patch_size, loaded.patch_size, 1)
    if shape != expected:
        raise ModelError(
            f"model {loaded.model_id!r} takes inputs of shape {shape}; expected {expected} "
            "(a square gray patch of the card's size): retrain it with mcalc"
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
        """The class the image score is about (the task's positive class)."""
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

    def dense(self, name: str | int | None = None, shape: tuple[int, int] | None = None):
        """The map of one class interpolated between patch centres to ``shape``.

        ``shape`` defaults to the model-input image; pass the native shape (or a preview's)
        for other sizes: the map covers the same field of view whatever the size.
        """
        values = self.values(name)
        h, w = self.unit_shape
        out_shape = (h, w) if shape is None else (int(shape[0]), int(shape[1]))
        wy = interpolation_weights(out_shape[0], h, self.grid.rows, self.grid)
        wx = interpolation_weights(out_shape[1], w, self.grid.cols, self.grid)
        return (wy @ values.astype(np.float32) @ wx.T).astype(np.float32)

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
        }
        return {
            "proba": self.proba,
            "evaluated": self.evaluated,
            "meta": np.array(json.dumps(meta)),
        }

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
        )


def interpolation_weights(n_out: int, n_unit: int, n_grid: int, grid: PatchGrid) -> np.ndarray:
    """``(n_out, n_grid)`` linear-interpolation weights from grid cells to output pixels.

    Output pixel ``k`` of ``n_out`` spans the same field as the model-input image of
    ``n_unit`` pixels; it is placed between the two nearest patch centres (geometric
    centre ``top + (patch - 1) / 2``) and clamped at the ends.
    """
    if n_out < 1:
        raise ValueError(f"output size must be >= 1, got {n_out}")
    unit = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_unit / n_out) - 0.5
    g = np.clip((unit - (grid.patch - 1) / 2.0) / grid.stride, 0.0, n_grid - 1)
    lo = np.floor(g).astype(np.int64)
    hi = np.minimum(lo + 1, n_grid - 1)
    frac = (g - lo).astype(np.float32)
    weights = np.zeros((n_out, n_grid), np.float32)
    rows = np.arange(n_out)
    np.add.at(weights, (rows, lo), 1.0 - frac)
    np.add.at(weights, (rows, hi), frac)
    return weights


def _forward(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities of one batch ``(N, P, P)`` (compiled predict function)."""
    out = model.predict_on_batch(x[..., None])
    return np.asarray(out, dtype=np.float32)


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
        unit: the [0, 1] model-input image (:func:`mcalc.models.inference.image_to_unit`).
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
    from mcalc.breast import breast_mask

    check_model_fits(loaded)
    settings = settings or SlidingSettings()
    img = np.asarray(unit, dtype=np.float32)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D [0, 1] image, got shape {img.shape}")
    start = time.perf_counter()
    if breast is None:
        breast = breast_mask(img)
    breast = np.asarray(breast, bool)
    if breast.shape != img.shape:
        raise ValueError(f"breast mask {breast.shape} and image {img.shape} differ in shape")
    if not breast.any():
        raise NoBreastRegionError(
            "no breast region found in this image (blank, constant or not a mammogram?): "
            "check the file and its window, or choose another image"
        )
    patch = loaded.patch_size
    grid = make_grid(img.shape, patch, settings.stride_for(patch))
    fractions = breast_fractions(breast, grid)
    evaluated = fractions >= max(settings.min_breast, 1e-9)
    cells = np.argwhere(evaluated)
    if len(cells) == 0:
        raise NoBreastRegionError(
            f"no {patch} px patch holds {settings.min_breast:.0%} breast: the breast region is "
            "too small for this model; lower the breast threshold or choose another image"
        )
    padded = _pad(img, grid)
    n_classes = len(loaded.classes)
    proba = np.zeros((grid.rows, grid.cols, n_classes), np.float32)
    total = len(cells)
    for lo in range(0, total, settings.batch):
        chunk = cells[lo : lo + settings.batch]
        out = _forward(loaded.model, gather_patches(padded, grid, chunk))
        proba[chunk[:, 0], chunk[:, 1]] = out
        if progress is not None:
            progress(min(lo + len(chunk), total), total, f"{lo + len(chunk)}/{total} patches")
    seconds = time.perf_counter() - start
    native = native_shape or (round(img.shape[0] / factor), round(img.shape[1] / factor))
    log.info(
        "%s: %d patches of %d px (stride %d) in %.2f s",
        loaded.model_id,
        total,
        patch,
        grid.stride,
        seconds,
    )
    return ProbabilityMap(
        proba=proba,
        evaluated=evaluated,
        grid=grid,
        classes=tuple(loaded.classes),
        factor=float(factor),
        native_shape=(int(native[0]), int(native[1])),
        breast_fraction=float(breast.mean()),
        seconds=seconds,
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


def aggregate(
    values: np.ndarray, evaluated: np.ndarray | None = None, *, rule: str = "topk", k: int = 3
) -> float:
    """One score from patch probabilities: ``max``, or the mean of the ``k`` largest.

    Args:
        values: probabilities, any shape.
        evaluated: which values count (default: all).
        rule: ``max`` or ``topk``.
        k: how many of the largest values ``topk`` averages (fewer when fewer count).

    Returns:
        The score; 0.0 when no value counts.

    Raises:
        ValueError: unknown rule or ``k`` < 1.
    """
    if rule not in AGGREGATION_RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(AGGREGATION_RULES)}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    v = np.asarray(values, dtype=np.float64)
    if evaluated is not None:
        v = v[np.asarray(evaluated, bool)]
    v = v[np.isfinite(v)].ravel()
    if v.size == 0:
        return 0.0
    if rule == "max":
        return float(v.max())
    k = min(k, v.size)
    return float(np.partition(v, v.size - k)[v.size - k :].mean())


def image_scores(pmap: ProbabilityMap, settings: SlidingSettings | None = None) -> dict[str, Any]:
    """Image-level scores: the positive class's and every class's, with the rule used."""
    settings = settings or SlidingSettings()
    rule = "max" if settings.top_k == 1 else "topk"
    per_class = {
        name: round(aggregate(pmap.values(name), pmap.evaluated, rule=rule, k=settings.top_k), 6)
        for name in pmap.classes
    }
    return {
        "score": per_class[pmap.positive],
        "positive_class": pmap.positive,
        "classes": per_class,
        "rule": f"mean of the top {settings.top_k} patch probabilities"
        if rule == "topk"
        else "maximum patch probability",
        "patches": pmap.n_patches,
    }


def case_score(scores: Iterable[float], rule: str = "max") -> float:
    """A case's score from its images' scores: their maximum (or ``mean``).

    Raises:
        ValueError: no score, or an unknown rule.
    """
    values = [float(s) for s in scores]
    if not values:
        raise ValueError("a case score needs at least one image score")
    if rule == "max":
        return max(values)
    if rule == "mean":
        return float(np.mean(values))
    raise ValueError(f"unknown case rule {rule!r}; expected 'max' or 'mean'")


@dataclass(frozen=True)
class Region:
    """One of the top regions of a probability map.

    Attributes:
        rank: 1 for the highest score.
        score: the positive-class (or chosen class) probability of its patch.
        cell: (i, j) grid cell.
        center: (row, col) of the patch centre in native (full-resolution) pixels.
        box: (r0, r1, c0, c1) of the patch in native pixels, clipped to the image.
        scores: every class's probability at that patch.
    """

    rank: int
    score: float
    cell: tuple[int, int]
    center: tuple[float, float]
    box: tuple[int, int, int, int]
    scores: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "cell": list(self.cell),
            "center": [round(v, 1) for v in self.center],
            "box": list(self.box),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
        }


def _iou(grid: PatchGrid, a: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """IoU of the patch at cell ``a`` with the patches at ``cells`` (same size patches)."""
    p, s = grid.patch, grid.stride
    dy = np.maximum(0, p - np.abs(cells[:, 0] - a[0]) * s)
    dx = np.maximum(0, p - np.abs(cells[:, 1] - a[1]) * s)
    inter = (dy * dx).astype(np.float64)
    return inter / (2.0 * p * p - inter)


def top_regions(
    pmap: ProbabilityMap,
    name: str | int | None = None,
    *,
    settings: SlidingSettings | None = None,
) -> list[Region]:
    """The best-scoring, non-overlapping patches of a map (greedy NMS over the grid).

    Args:
        pmap: the probability map.
        name: the class ranked (default: the positive class).
        settings: ``max_regions``, ``min_region_score`` and ``nms_overlap``.
    """
    settings = settings or SlidingSettings()
    values = pmap.values(name)
    cells = np.argwhere(pmap.evaluated & (values >= settings.min_region_score))
    if len(cells) == 0 or settings.max_regions == 0:
        return []
    order = np.argsort(-values[cells[:, 0], cells[:, 1]], kind="stable")
    cells = cells[order]
    keep: list[np.ndarray] = []
    alive = np.ones(len(cells), bool)
    for n in range(len(cells)):
        if not alive[n]:
            continue
        keep.append(cells[n])
        if len(keep) >= settings.max_regions:
            break
        alive &= _iou(pmap.grid, cells[n], cells) <= settings.nms_overlap
    h, w = pmap.native_shape
    centers = pmap.grid.centers()
    regions = []
    for rank, (i, j) in enumerate(keep, start=1):
        r0, r1, c0, c1 = pmap.grid.box(int(i), int(j))
        f = pmap.factor
        box = (
            max(0, math.floor(r0 / f)),
            min(h, math.ceil(r1 / f)),
            max(0, math.floor(c0 / f)),
            min(w, math.ceil(c1 / f)),
        )
        center = centers[i, j]
        regions.append(
            Region(
                rank=rank,
                score=float(values[i, j]),
                cell=(int(i), int(j)),
                center=pmap.to_native(float(center[0]), float(center[1])),
                box=box,
                scores={c: float(pmap.proba[i, j, k]) for k, c in enumerate(pmap.classes)},
            )
        )
    return regions
