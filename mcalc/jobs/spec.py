"""What a training job is: its arguments, their checks, and per-architecture defaults.

A :class:`JobConfig` holds the arguments of ``python -m mcalc train``. :func:`check_config`
validates one *before* any process starts (names, numbers, the dataset, the weights file)
and never imports TensorFlow, so the app stays light and a bad launch leaves no process
behind.

Example:
    >>> cfg = JobConfig(data="data/demo", arch="custom", epochs=1, batch=8)
    >>> cfg.cli_args(model_id="m1", models_dir="models")[:4]
    ['train', '--data', 'data/demo', '--arch']
"""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from mcalc.errors import DatasetError, JobError, ModelError

__all__ = [
    "JobConfig",
    "CheckedJob",
    "check_config",
    "suggested_lr",
    "arch_defaults",
    "MAX_BATCH",
    "MAX_EPOCHS",
    "MAX_PATCH_SIZE",
    "MIN_FREE_BYTES",
]

log = logging.getLogger(__name__)

#: Largest batch the app accepts (a bigger one does not fit any machine mcalc targets).
MAX_BATCH = 1024
#: Most epochs the app accepts for one job.
MAX_EPOCHS = 1000
#: Largest patch side in pixels (patches are a few millimetres at ~0.1 mm a pixel).
MAX_PATCH_SIZE = 512
#: Free space the registry's disk needs before a job is launched.
MIN_FREE_BYTES = 1 << 20

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: Names a model id must not take: ``<runs_dir>/<id>`` is the trainer's run folder and the
#: trainer deletes it at start, so an id equal to the job folder's name would wipe the jobs.
_RESERVED_IDS = {"jobs"}


@dataclass(frozen=True)
class JobConfig:
    """The arguments of one ``python -m mcalc train`` run.

    Attributes:
        data: dataset folder or manifest (what ``scan`` takes).
        arch, task, freeze: architecture, task and freeze strategy names.
        epochs: most epochs; batch: batch size; lr: learning rate (``None``: the trainer's
            default for the strategy); seed: seed of split, sampling and initialisation.
        weights: a weights file, ``None`` / ``"auto"`` (the default order) or ``"none"``.
        patch_size: patch side in pixels (``None``: the architecture's).
        patches_per_image: patches of each kind sampled per image.
        two_stage: train the head first, then fine-tune with ``freeze``.
        boundary: first trainable layer of ``partial`` (``None``: the architecture's).
        patience: early-stopping patience in epochs.
        max_steps: cap of batches per epoch (quick runs).
        model_id: registry id (``None``: chosen at submission).
        augment: flips, 90-degree rotations and mild intensity changes of training batches.
    """

    data: str
    arch: str = "custom"
    task: str = "calcification"
    freeze: str = "full"
    epochs: int = 10
    batch: int = 32
    lr: float | None = None
    seed: int = 0
    weights: str | None = None
    patch_size: int | None = None
    patches_per_image: int = 16
    two_stage: bool = False
    boundary: str | None = None
    patience: int = 3
    max_steps: int | None = None
    model_id: str | None = None
    augment: bool = True

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobConfig:
        """Inverse of :meth:`to_dict`; unknown keys (from a newer mcalc) are ignored.

        Raises:
            JobError: ``data`` is not a mapping or lacks ``data``.
        """
        if not isinstance(data, dict) or "data" not in data:
            raise JobError(f"a job configuration needs at least 'data'; got {data!r:.80}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def cli_args(self, model_id: str, models_dir: str | Path) -> list[str]:
        """Arguments of ``python -m mcalc`` that run this job (``train ...``)."""
        args = [
            "train",
            "--data",
            str(self.data),
            "--arch",
            self.arch,
            "--task",
            self.task,
            "--freeze",
            self.freeze,
            "--epochs",
            str(self.epochs),
            "--batch",
            str(self.batch),
            "--seed",
            str(self.seed),
            "--patience",
            str(self.patience),
            "--patches-per-image",
            str(self.patches_per_image),
            "--models",
            str(models_dir),
            "--id",
            model_id,
            "--json",
        ]
        optional = {
            "--lr": self.lr,
            "--weights": self.weights,
            "--patch-size": self.patch_size,
            "--boundary": self.boundary,
            "--max-steps": self.max_steps,
        }
        for flag, value in optional.items():
            if value is not None and str(value) != "":
                args += [flag, repr(value) if isinstance(value, float) else str(value)]
        if self.two_stage:
            args.append("--two-stage")
        if not self.augment:
            args.append("--no-augment")
        return args


@dataclass(frozen=True)
class CheckedJob:
    """What :func:`check_config` learned about a valid job (shown before launch)."""

    cases: int
    patients: int
    annotated_images: int
    weights_source: str
    weights_detail: str
    pretrained: bool
    warnings: tuple[str, ...] = ()


def suggested_lr(arch: str, freeze: str, pretrained: bool) -> float:
    """The learning rate the trainer picks when none is given (:func:`default_lr`)."""
    from mcalc.models.freeze import default_lr

    return default_lr(arch, freeze, pretrained)


def arch_defaults(arch: str, freeze: str = "full", pretrained: bool = False) -> dict[str, Any]:
    """Sensible starting hyperparameters for ``arch``: epochs, batch, lr, patch size.

    The custom two-convolution network is small: bigger batches, more epochs. Backbones
    are heavy on a CPU: smaller batches, and fewer epochs when only the head trains.

    Raises:
        ModelError: unknown architecture.
    """
    from mcalc.models.architectures import arch_spec

    spec = arch_spec(arch)
    small = spec.keras_app is None
    return {
        "epochs": 10 if small else (5 if freeze == "head" else 8),
        "batch": 32 if small else 16,
        "lr": suggested_lr(spec.name, freeze, pretrained),
        "patch_size": spec.patch_size,
    }


@lru_cache(maxsize=16)
def _check_numbers(cfg: JobConfig) -> None:
    from mcalc.models.architectures import MIN_PATCH_SIZE, arch_spec
    from mcalc.models.freeze import STRATEGIES
    from mcalc.models.tasks import task_classes

    arch_spec(cfg.arch)
    task_classes(cfg.task)
    if cfg.freeze not in STRATEGIES:
        raise ModelError(
            f"unknown freeze strategy {cfg.freeze!r}; expected one of: {', '.join(STRATEGIES)}"
        )
    checks = [
        ("epochs", cfg.epochs, 1, MAX_EPOCHS),
        ("batch size", cfg.batch, 1, MAX_BATCH),
        ("patches per image", cfg.patches_per_image, 1, 10_000),
        ("patience", cfg.patience, 0, MAX_EPOCHS),
    ]
    if cfg.patch_size is not None:
        checks.append(("patch size", cfg.patch_size, MIN_PATCH_SIZE, MAX_PATCH_SIZE))
    if cfg.max_steps is not None:
        checks.append(("max steps per epoch", cfg.max_steps, 1, 10_000_000))
    for name, value, low, high in checks:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ModelError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    if cfg.lr is not None and not 0 < float(cfg.lr) < 1:
        raise ModelError(f"learning rate must be in (0, 1), got {cfg.lr}")
    if cfg.two_stage and cfg.epochs <= 2:
        raise ModelError(
            f"a two-stage schedule trains the head for 2 epochs first: it needs more than 2 "
            f"epochs, got {cfg.epochs}"
        )
    if cfg.model_id is not None and (
        not _ID_RE.match(cfg.model_id) or cfg.model_id in _RESERVED_IDS
    ):
        raise ModelError(
            f"bad model id {cfg.model_id!r}: use letters, digits, '.', '_' and '-' only "
            f"(and not {', '.join(sorted(_RESERVED_IDS))})"
        )


def _check_dataset(cfg: JobConfig) -> tuple[int, int, int, int]:
    """Cases, patients, annotated images and images of the dataset, after checks."""
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
        split_cases(index.cases, seed=cfg.seed)
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
    most = len(images) * 2 * cfg.patches_per_image
    if cfg.batch > most:
        raise ModelError(
            f"batch size {cfg.batch} is larger than the at most {most} patches this dataset "
            f"gives ({len(images)} images x 2 x {cfg.patches_per_image}); lower the batch size"
        )
    return len(index.cases), len(patients), annotated, len(images)


def check_config(cfg: JobConfig, models_dir: str | Path) -> CheckedJob:
    """Validate a job before anything is launched (no TensorFlow is imported).

    Args:
        cfg: the job.
        models_dir: the registry the model will be written to.

    Returns:
        What was found: dataset size, where the weights come from, warnings.

    Raises:
        ModelError: unknown architecture, task or strategy, a number out of range, a bad or
            taken model id, or a missing weights file.
        DatasetError: the dataset cannot be opened, has too few patients, or lacks what
            the task needs.
        JobError: the registry's disk is full, or an option this mcalc cannot pass.
    """
    from mcalc.models.weights import resolve_weights

    _check_numbers(cfg)
    if cfg.weights not in (None, "", "auto", "none", "random"):
        path = Path(str(cfg.weights)).expanduser()
        if not path.is_file():
            raise ModelError(
                f"weights file {path} does not exist: give the path of a .weights.h5 or "
                "Keras-applications .h5 file, or choose automatic weights"
            )
        if not path.name.endswith(".h5"):
            raise ModelError(
                f"weights file {path} should be a .weights.h5 or .h5 file, got {path.suffix!r}"
            )
    winfo = resolve_weights(cfg.arch, cfg.weights)
    cases, patients, annotated, _ = _check_dataset(cfg)
    models = Path(models_dir)
    if cfg.model_id is not None and (models / cfg.model_id).exists():
        raise ModelError(
            f"model id {cfg.model_id!r} is taken in {models}: choose another or leave it empty"
        )
    probe = models if models.exists() else next((p for p in models.parents if p.exists()), None)
    if probe is not None:
        free = shutil.disk_usage(probe).free
        if free < MIN_FREE_BYTES:
            raise JobError(
                f"the disk of {models} is full ({free} bytes free, need at least "
                f"{MIN_FREE_BYTES}): free space, then launch again"
            )
    warnings = []
    if winfo.warning:
        warnings.append(winfo.warning)
    if cfg.freeze != "full" and not winfo.pretrained:
        warnings.append(
            f"freeze {cfg.freeze!r} keeps layers of a randomly initialised {cfg.arch} base "
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
