"""Checks of a training run that need the disk, made before any process starts.

:meth:`TrainConfig.validate <mcalc.models.train_config.TrainConfig.validate>` checks names
and numbers; :func:`check_job` adds what only the disk can tell (the dataset opens and
suits the task, a weights file is one of the architecture, the model id is free, the registry has space). The
app's Train page and :func:`mcalc.jobs.submit` both call it, and it never imports
TensorFlow, so a bad launch leaves no process behind.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from mcalc.config import Settings, get_settings
from mcalc.errors import DatasetError, JobError, ModelError
from mcalc.models.registry import is_registered
from mcalc.models.tasks import get_task
from mcalc.models.train_config import TrainConfig

__all__ = ["CheckedJob", "check_dataset", "check_job", "MIN_FREE_BYTES"]

log = logging.getLogger(__name__)

#: Free space the registry's disk needs before a job is launched.
MIN_FREE_BYTES = 1 << 20


@dataclass(frozen=True)
class CheckedJob:
    """What :func:`check_job` learned about a valid run (shown before launch)."""

    cases: int
    patients: int
    annotated_images: int
    weights_source: str
    weights_detail: str
    pretrained: bool
    warnings: tuple[str, ...] = ()


def check_dataset(cfg: TrainConfig) -> tuple[int, int, int]:
    """Cases, patients and annotated images of the dataset, after checks (also
    ``python -m mcalc train``'s, before TensorFlow starts).

    Raises:
        DatasetError: the dataset cannot be opened, has too few patients, or lacks what
            the task needs.
        ModelError: the batch is larger than the patches the dataset can give.
    """
    from mcalc.dataset import open_dataset
    from mcalc.models.split import MIN_PATIENTS, split_cases

    index = open_dataset(cfg.data)
    patients = {c.patient_id for c in index.cases}
    if len(patients) < MIN_PATIENTS:
        raise DatasetError(
            f"{cfg.data}: too few patients for a split by patient: need at least "
            f"{MIN_PATIENTS} (one each for training, validation and test), got {len(patients)}; "
            "choose a dataset with more patients"
        )
    try:
        split_cases(index.cases, seed=cfg.seed, fractions=cfg.fractions)
    except DatasetError as exc:
        raise DatasetError(f"{cfg.data}: {exc}") from exc
    images = index.images()
    annotated = sum(1 for rec in images if rec.annotation_kind != "none")
    if cfg.task == "calcification" and annotated == 0:
        raise DatasetError(
            f"{cfg.data}: the calcification task needs annotated images, found none of "
            f"{len(images)}; choose a dataset with annotations or the birads task"
        )
    if cfg.task == "birads":
        groups = {c.birads_group for c in index.cases if c.birads_group}
        if len(groups) < 2:
            raise DatasetError(
                f"{cfg.data}: the birads task needs cases of at least two BI-RADS groups, "
                f"found {sorted(groups) or 'none'}"
            )
        positive = get_task(cfg.task).positive_class
        if positive not in groups:  # every score the model gives is this class's probability
            raise DatasetError(
                f"{cfg.data}: the birads task scores the probability of {positive!r}, and no "
                f"case here is {positive} (found {sorted(groups)}): the model could never "
                f"learn it; add {positive} cases, or train the calcification task"
            )
    if cfg.input == "temporal":
        # A temporal model reads a recent image with its registered prior: both rounds.
        images = [
            r for c in index.cases for r in c.images
            if r.timepoint == "recent" and c.image(r.view, "prior") is not None
        ]  # fmt: skip
        if not images:
            raise DatasetError(
                f"{cfg.data}: a temporal model needs cases with a prior and a recent image of "
                "the same view; this dataset has none (every image is of one exam): train "
                "with input 'recent'"
            )
    per_image = cfg.pos_per_image + cfg.neg_per_image
    most = len(images) * per_image
    if cfg.batch > most:
        raise ModelError(
            f"batch size {cfg.batch} is larger than the at most {most} patches this dataset "
            f"gives ({len(images)} images x {per_image} patches); lower the batch size"
        )
    return len(index.cases), len(patients), annotated


def _check_free_space(models: Path) -> None:
    probe = models if models.exists() else next((p for p in models.parents if p.exists()), None)
    if probe is None:
        return
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_BYTES:
        raise JobError(
            f"the disk of {models} is full ({free} bytes free, need at least "
            f"{MIN_FREE_BYTES}): free space, then launch again"
        )


def check_job(config: TrainConfig, settings: Settings | None = None) -> CheckedJob:
    """Validate a run before anything is launched (no TensorFlow is imported).

    Args:
        config: the run.
        settings: where the registry is when ``config.models_dir`` is unset.

    Returns:
        What was found: dataset size, where the weights come from, warnings.

    Raises:
        ModelError: unknown architecture, task or strategy, a number out of range, a bad or
            taken model id, or a weights file that is missing or not one of the architecture
            (:func:`~mcalc.models.weights.check_weights_file`).
        DatasetError: the dataset cannot be opened, has too few patients, or lacks what
            the task needs.
        JobError: the registry's disk is full.
    """
    from mcalc.models.patches import input_channels
    from mcalc.models.weights import resolve_weights

    config.validate()
    winfo = resolve_weights(config.arch, config.weights, len(input_channels(config.input)))
    cases, patients, annotated = check_dataset(config)
    models = Path(config.models_dir or (settings or get_settings()).models_dir)
    if config.model_id is not None and is_registered(models, config.model_id):
        raise ModelError(
            f"model id {config.model_id!r} is taken in {models}: choose another or leave it empty"
        )
    _check_free_space(models)
    warnings = []
    if winfo.warning:
        warnings.append(winfo.warning)
    if config.freeze != "full" and not winfo.pretrained:
        warnings.append(
            f"freeze {config.freeze!r} keeps layers of a randomly initialised {config.arch} base "
            "frozen: they stay random. Use freeze 'full', or give pre-trained weights."
        )
    return CheckedJob(
        cases=cases,
        patients=patients,
        annotated_images=annotated,
        weights_source=winfo.source,
        weights_detail=winfo.detail,
        pretrained=winfo.pretrained,
        warnings=tuple(warnings),
    )
