"""Hard-negative mining: the false positives of a first training stage, as new negatives.

Tissue patches are drawn at random (:func:`mcalc.models.patches.sample_image_patches`), so
structures that cover a small part of an image, such as the pectoral muscle's edge of an MLO
view or the image's border, are rare among them; a patch model can then score them high
everywhere while its patch-level AUC does not notice. Detection systems for
micro-calcifications have long been trained by bootstrapping instead (Sung & Poggio 1998,
"Example-based learning for view-based human face detection", IEEE TPAMI 20(1); for
calcifications, e.g. El-Naqa et al. 2002, IEEE TMI 21(12)): train, run the detector over
the training images, add its highest-scoring false positives to the negatives, train on.

The rule, exactly (:func:`mine_image`): the model is slid over a training image as Predict
slides it (:func:`mcalc.explain.sliding.predict_map`, the same map and breast); its
detections are found by Predict's rule (:func:`mcalc.models.detection.find_detections`,
:data:`~mcalc.models.detection.DEFAULT_MIN_DISTANCE_MM` apart) among the pixels that are

- farther than the FROC's matching tolerance
  (:data:`~mcalc.models.froc.DEFAULT_TOLERANCE_MM`) from every annotated pixel, and
- centres of a patch holding no annotated pixel: training labels a patch by whether it
  holds an annotated pixel (whatever its centre), so a patch that does is a positive, never
  a negative;

and the ``n`` highest-scoring ones are cut as patches of class 0. Only the images of the
training patients are mined (:func:`mine_hard_negatives` takes the case ids): validation and
test images never shape the training set.

Example:
    >>> values = np.zeros((40, 40), np.float32); values[10, 10] = 0.9; values[30, 30] = 0.8
    >>> calc = np.zeros((40, 40), bool); calc[30, 31] = True
    >>> region = mining_region(calc, np.ones((40, 40), bool), 8, (0.1, 0.1))
    >>> [(d.row, d.col) for d in mine_image(values, region, (0.1, 0.1), 5)]
    [(10, 10)]
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from mcalc.errors import AnnotationError, ImageReadError
from mcalc.models.detection import DEFAULT_MIN_DISTANCE_MM, Detection, find_detections
from mcalc.models.froc import DEFAULT_TOLERANCE_MM
from mcalc.models.patches import PatchConfig, PatchSet, extract_patch, load_training_image

if TYPE_CHECKING:
    import keras

    from mcalc.dataset.records import DatasetIndex
    from mcalc.models.train_events import TrainEvent

__all__ = ["HardNegatives", "mining_region", "mine_image", "mine_hard_negatives"]

log = logging.getLogger(__name__)


def mining_region(
    calc_mask: np.ndarray,
    breast: np.ndarray,
    size: int,
    spacing_mm: Sequence[float],
    tolerance_mm: float = DEFAULT_TOLERANCE_MM,
) -> np.ndarray:
    """The pixels a hard negative may be centred on: in the breast, farther than
    ``tolerance_mm`` from every annotated pixel, and centre of a ``size`` px patch (cut as
    :func:`~mcalc.models.patches.extract_patch` cuts it) that holds no annotated pixel.

    Args:
        calc_mask: ``(H, W)`` annotated calcification (or region) pixels.
        breast: ``(H, W)`` breast mask.
        size: patch side in pixels.
        spacing_mm: (row, column) pixel spacing in mm.
        tolerance_mm: the matching tolerance of a detection to a finding (> 0).

    Raises:
        ValueError: masks of different shapes, a bad size, spacing or tolerance.
    """
    calc = np.asarray(calc_mask, bool)
    inside = np.asarray(breast, bool)
    if calc.ndim != 2 or calc.shape != inside.shape:
        raise ValueError(
            f"calcification mask {calc.shape} and breast mask {inside.shape} must be one 2-D shape"
        )
    if size < 1:
        raise ValueError(f"patch size must be >= 1 pixel, got {size}")
    sr, sc = (float(s) for s in spacing_mm)
    if not (sr > 0 and sc > 0 and np.isfinite(sr) and np.isfinite(sc)):
        raise ValueError(f"pixel spacing must be positive, got {tuple(spacing_mm)!r}")
    if not (np.isfinite(tolerance_mm) and tolerance_mm > 0):
        raise ValueError(f"tolerance_mm must be a positive number of mm, got {tolerance_mm!r}")
    if not calc.any():
        return inside.copy()
    # Distance (mm) of each pixel to the nearest annotated one; anisotropic pixels are
    # handled by measuring on the finer axis and checking both (a conservative bound).
    dist = cv2.distanceTransform((~calc).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    far = dist.astype(np.float64) * min(sr, sc) > tolerance_mm
    # A patch centred at (r, c) spans rows r - size // 2 .. r - size // 2 + size - 1 (and the
    # same in columns; past the border it repeats pixels inside it): it holds an annotated
    # pixel when the maximum of the mask over that window is set. OpenCV's dilation takes
    # the maximum over r - anchor .. r - anchor + size - 1.
    kernel = np.ones((size, size), np.uint8)
    anchor = (size // 2, size // 2)
    touched = cv2.dilate(
        calc.astype(np.uint8), kernel, anchor=anchor, borderType=cv2.BORDER_CONSTANT, borderValue=0
    ).astype(bool)
    return inside & far & ~touched


def mine_image(
    values: np.ndarray,
    region: np.ndarray,
    spacing_mm: Sequence[float],
    n: int,
    *,
    min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM,
) -> list[Detection]:
    """The ``n`` highest-scoring detections of a map inside ``region`` (by decreasing score).

    Args:
        values: ``(H, W)`` positive-class map (``ProbabilityMap.dense()``).
        region: where hard negatives may lie (:func:`mining_region`).
        spacing_mm: (row, column) pixel spacing of the map in mm.
        n: most detections (>= 1).
        min_distance_mm: smallest distance between two of them (Predict's detection rule).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1 hard negative, got {n}")
    return find_detections(
        values, spacing_mm, min_distance_mm=min_distance_mm, max_detections=n, valid=region
    )


@dataclass
class HardNegatives:
    """What mining found.

    Attributes:
        patches: the mined patches as class-0 samples (same layout as the training set).
        images: images mined (the training patients' readable images).
        scores: the map score of each mined patch, in ``patches``' order.
        skipped: ``image key -> reason`` of images that could not be mined.
    """

    patches: PatchSet
    images: int
    scores: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)

    def summary(self, per_image: int, stage: str, after_epoch: int) -> dict[str, Any]:
        """The card's ``hard_negatives`` section."""
        scores = self.scores
        return {
            "per_image": per_image,
            "mined": len(self.patches),
            "images": self.images,
            "stage": stage,
            "after_epoch": after_epoch,
            "tolerance_mm": DEFAULT_TOLERANCE_MM,
            "min_distance_mm": DEFAULT_MIN_DISTANCE_MM,
            "score_median": round(float(np.median(scores)), 6) if len(scores) else None,
            "score_min": round(float(scores.min()), 6) if len(scores) else None,
            **({"skipped_images": dict(self.skipped)} if self.skipped else {}),
        }


def _wrapped(model: keras.Model, patch: PatchConfig, task: str, classes: tuple[str, ...]) -> Any:
    """The model as :func:`~mcalc.explain.sliding.predict_map` takes it (a card of the run's
    patch facts; nothing is registered or copied)."""
    from mcalc.models.card import CardPatch, ModelCard
    from mcalc.models.inference import LoadedModel

    card = ModelCard(
        id="(training)",
        task_name=task,
        classes=classes,
        patch=CardPatch(size=patch.size, spacing_mm=patch.spacing_mm, channels=("recent",)),
    )
    return LoadedModel(
        model=model,
        card=card,
        patch_size=patch.size,
        spacing_mm=patch.spacing_mm,
        classes=classes,
        window=card.patch.window,
    )


def mine_hard_negatives(
    model: keras.Model,
    index: DatasetIndex,
    case_ids: Iterable[str],
    patch: PatchConfig,
    n: int,
    *,
    task: str = "calcification",
    classes: tuple[str, ...] = ("no-calcification", "calcification"),
    progress: Callable[[TrainEvent], None] | None = None,
    check_stop: Callable[[], None] | None = None,
) -> HardNegatives:
    """Slide ``model`` over every image of the cases ``case_ids`` and cut up to ``n`` hard
    negatives from each (the module's rule).

    Args:
        model: the model being trained (read only: its weights are not changed).
        index: the dataset.
        case_ids: the training patients (the only images mined).
        patch: the run's patch configuration (size, spacing).
        n: hard negatives per image (>= 1).
        task, classes: the run's task and class names (for the map's positive class).
        progress: receives ``{"event": "mining", "done", "total", "message"}`` per image.
        check_stop: called before each image; raises to stop (a cancelled run).

    Images that cannot be read (or that hold no breast) are left out and listed in
    :attr:`HardNegatives.skipped`.
    """
    from mcalc.explain.errors import NoBreastRegionError
    from mcalc.explain.sliding import SlidingSettings, predict_map
    from mcalc.imageio import read_record

    if patch.input != "recent":
        raise ValueError(f"hard-negative mining takes recent-input models, got {patch.input!r}")
    wanted = set(case_ids)
    records = [
        (case.case_id, rec) for case in index.cases if case.case_id in wanted for rec in case.images
    ]
    loaded = _wrapped(model, patch, task, classes)
    settings = SlidingSettings()
    xs: list[np.ndarray] = []
    cids: list[str] = []
    keys: list[str] = []
    scores: list[float] = []
    skipped: dict[str, str] = {}
    mined_images = 0
    for done, (case_id, rec) in enumerate(records, start=1):
        if check_stop is not None:
            check_stop()
        try:
            # Decoded once: the native spacing (a run without resampling) is read from it too.
            mammo = read_record(rec)
            unit, calc, breast = load_training_image(rec, patch.spacing_mm, mammogram=mammo)
            pmap = predict_map(loaded, unit, settings=settings, breast=breast)
        except (ImageReadError, AnnotationError, NoBreastRegionError) as exc:
            log.warning("%s not mined: %s", rec.key, exc)
            skipped[rec.key] = str(exc)
            found = []
        else:
            spacing = (patch.spacing_mm or float(np.mean(mammo.pixel_spacing_mm)),) * 2
            region = mining_region(calc, breast, patch.size, spacing)
            found = mine_image(pmap.dense(), region, spacing, n)
            mined_images += 1
            for d in found:
                xs.append(extract_patch(unit, (d.row, d.col), patch.size))
                cids.append(case_id)
                keys.append(rec.key)
                scores.append(d.score)
        if progress is not None:
            progress(
                {
                    "event": "mining",
                    "done": done,
                    "total": len(records),
                    "found": len(found),
                    "message": rec.key + (" (unreadable, left out)" if rec.key in skipped else ""),
                }
            )
    size = patch.size
    x = np.stack(xs).astype(np.float32) if xs else np.zeros((0, size, size), np.float32)
    patches = PatchSet(
        x,
        np.zeros(len(xs), np.int64),
        np.array(cids, dtype=object),
        np.array(keys, dtype=object),
        classes,
    )
    return HardNegatives(patches, mined_images, np.asarray(scores, np.float64), skipped)
