"""Labelled patches from every image of a dataset: what training and evaluation sample.

Above both ways of reading an image for a model (:mod:`mcalc.models.patches` for the recent
image alone, :mod:`mcalc.models.temporal_input` for a recent image with its registered
prior), so that neither has to know the other.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from mcalc.errors import AnnotationError, DatasetError, ImageReadError
from mcalc.models.patches import (
    PatchConfig,
    PatchSet,
    image_seed,
    load_training_image,
    sample_image_patches,
)
from mcalc.models.tasks import task_classes
from mcalc.models.temporal_input import load_temporal_training_image, training_cache
from mcalc.plural import counted
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.dataset.records import DatasetIndex

__all__ = ["sample_dataset"]

log = logging.getLogger(__name__)


def sample_dataset(
    index: DatasetIndex,
    task: str,
    config: PatchConfig,
    seed: int = 0,
    case_ids: Iterable[str] | None = None,
    progress: ProgressFn | None = None,
) -> PatchSet:
    """Sample labelled patches from every image of the chosen cases.

    Args:
        index: the dataset (:func:`mcalc.dataset.open_dataset`).
        task: ``calcification`` or ``birads``.
        config: patch size, spacing and counts.
        seed: sampling seed; each image draws from its own seed (:func:`image_seed`).
        case_ids: restrict to these cases (default: all).
        progress: called ``(done, total, message)`` after each image.

    Images (or annotation files) that cannot be read are left out and listed in
    :attr:`PatchSet.skipped` with the reason; the rest are sampled.

    Raises:
        DatasetError: no usable patch, or no annotated calcification for a task that needs
            them.
    """
    classes = task_classes(task)
    wanted = set(case_ids) if case_ids is not None else None
    cases = [c for c in index.cases if wanted is None or c.case_id in wanted]
    temporal = config.input == "temporal"
    # A temporal model sees a recent image with its registered prior: recent images only.
    images = [
        (case, rec)
        for case in cases
        for rec in case.images
        if not temporal or rec.timepoint == "recent"
    ]
    cache = None
    unusable: tuple[type[Exception], ...] = (ImageReadError, AnnotationError)
    if temporal:
        from mcalc.temporal import RegistrationError, TemporalError

        cache = training_cache()
        unusable = (*unusable, TemporalError, RegistrationError)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    cids: list[str] = []
    keys: list[str] = []
    notes: list[str] = []
    skipped: dict[str, str] = {}
    unannotated = 0  # of the skipped: images read, whose annotation file is missing or bad
    for done, (case, rec) in enumerate(images, start=1):
        group = case.birads_group
        if task == "birads" and group not in classes:
            notes.append(f"{rec.key}: no BI-RADS group ({case.birads!r}), skipped")
            continue
        try:
            if cache is not None:
                unit, calc, breast = load_temporal_training_image(
                    cache, case, rec, config.spacing_mm
                )
            else:
                unit, calc, breast = load_training_image(rec, config.spacing_mm)
        except unusable as exc:
            # One unreadable file must not stop a collection: leave it out and say so.
            log.warning("%s left out: %s", rec.key, exc)
            skipped[rec.key] = str(exc)
            unannotated += isinstance(exc, AnnotationError)
            notes.append(f"{rec.key}: left out ({exc})")
            if progress is not None:
                progress(done, len(images), f"{rec.key} (unreadable, left out)")
            continue
        rng = np.random.default_rng(image_seed(seed, rec.key))
        if task == "calcification":
            n_pos, n_neg = config.pos_per_image, config.neg_per_image
        elif group == "normal":
            n_pos, n_neg = 0, config.neg_per_image
        else:
            n_pos, n_neg = config.pos_per_image, 0
        got = sample_image_patches(
            unit,
            calc,
            breast,
            config.size,
            n_pos,
            n_neg,
            rng,
            jitter=config.jitter,
            min_breast=config.min_breast,
            region=rec.annotation_kind == "region",
        )
        if len(got.patches):
            if task == "calcification":
                labels = got.contains.astype(np.int64)
            else:
                labels = np.full(len(got.patches), classes.index(group), np.int64)
            xs.append(got.patches)
            ys.append(labels)
            cids.extend([case.case_id] * len(labels))
            keys.extend([rec.key] * len(labels))
        if progress is not None:
            progress(done, len(images), rec.key)
    if not xs:
        raise DatasetError(
            f"no patch could be sampled for task {task!r} from {counted(len(images), 'image')} of "
            f"{index.root}{_left_out(skipped, unannotated)}: check that images hold breast "
            "tissue and annotations"
        )
    y = np.concatenate(ys)
    if task == "calcification" and not (y == 1).any():
        raise DatasetError(
            f"no annotated calcification in {index.root}: the calcification task needs "
            "annotation masks (GT files) with marked calcifications"
        )
    return PatchSet(
        np.concatenate(xs),
        y,
        np.array(cids, dtype=object),
        np.array(keys, dtype=object),
        classes,
        notes,
        skipped,
    )


def _left_out(skipped: dict[str, str], unannotated: int) -> str:
    """Why images were left out, for the error of a dataset that gave no patch: an image
    whose annotation file is missing was read, and "could not be read" sent people looking
    at the images (every ``*_GT.jpg`` of a copy gone: "24 could not be read")."""
    if not skipped:
        return ""
    parts = []
    if unannotated:
        parts.append(f"{unannotated} without a readable annotation")
    if len(skipped) > unannotated:
        parts.append(f"{len(skipped) - unannotated} could not be read")
    key, reason = next(iter(skipped.items()))
    first = reason if reason.startswith(key) else f"{key}: {reason}"
    return f" ({' and '.join(parts)}; the first, {first})"
