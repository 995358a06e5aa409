"""What one training run is: :class:`TrainConfig`, its checks, and its forms on disk and argv.

One frozen value for every path into training: the CLI flags build it (:meth:`from_args`),
a background job stores it as ``config.json`` (:meth:`to_json`, read back by
:meth:`from_json`) and its child runs ``python -m mcalc train --config <file>``. One
:meth:`validate` checks names and numbers without touching the disk; checks that need the
disk (the dataset, a weights file, free space) live in :func:`mcalc.jobs.check_job`.

This module imports no TensorFlow, so the app can build and check a configuration cheaply.

Example:
    >>> cfg = TrainConfig(data="data/demo", epochs=2, batch=8)
    >>> cfg.validate()
    >>> TrainConfig.from_json({**cfg.to_json(), "option_of_a_newer_mcalc": 1}) == cfg
    True
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mcalc.errors import FieldError, ModelError
from mcalc.models.architectures import MIN_PATCH_SIZE, arch_spec
from mcalc.models.freeze import STRATEGIES, default_lr
from mcalc.models.patches import DEFAULT_SPACING_MM, INPUT_MODES
from mcalc.models.registry import _ID_RE as MODEL_ID_RE
from mcalc.models.tasks import task_classes
from mcalc.plural import counted

__all__ = [
    "TrainConfig",
    "RESERVED_IDS",
    "WORKERS_SUFFIX",
    "DISTRIBUTION_STRATEGIES",
    "HARD_NEGATIVE_STAGE",
    "MAX_BATCH",
    "MAX_EPOCHS",
    "MAX_PATCH_SIZE",
    "MAX_PER_IMAGE",
    "MAX_STEPS",
    "MAX_SEED",
    "arch_defaults",
    "arg_dest",
    "defaults_text",
    "check_model_id",
]

#: Largest batch accepted (a bigger one does not fit any machine mcalc targets).
MAX_BATCH = 1024
#: Most epochs accepted for one run.
MAX_EPOCHS = 1000
#: Largest patch side in pixels (patches are a few millimetres at ~0.1 mm a pixel).
MAX_PATCH_SIZE = 512
#: Most patches of one kind sampled per image.
MAX_PER_IMAGE = 10_000
#: Largest cap of batches per epoch.
MAX_STEPS = 10_000_000
#: Largest seed (numpy seeds are 32-bit).
MAX_SEED = 2**32 - 1
#: Ids a model cannot take, in any case: ``<runs_dir>/<id>`` is the trainer's run folder,
#: emptied at start, and ``<runs_dir>/jobs`` holds the app's job folders,
#: ``<runs_dir>/batch`` its batch runs, ``<runs_dir>/crossval`` its cross-validation runs
#: (a model ``crossval`` deleted them all; a case-insensitive disk takes ``Batch`` for it).
RESERVED_IDS: frozenset[str] = frozenset({"jobs", "batch", "crossval"})
#: ``<runs_dir>/<id>.workers`` holds a multi-worker run's config and worker logs
#: (:func:`mcalc.jobs.workers.run_local_workers`): no model id ends with it.
WORKERS_SUFFIX = ".workers"
#: ``tf.distribute`` choices: ``auto`` (several workers when ``TF_CONFIG`` names a cluster,
#: else mirrored on several GPUs), ``default`` (never), ``mirrored`` (always, one machine),
#: ``multiworker`` (``MultiWorkerMirroredStrategy`` over the ``TF_CONFIG`` cluster; see
#: :mod:`mcalc.models.distributed`).
DISTRIBUTION_STRATEGIES: tuple[str, ...] = ("auto", "default", "mirrored", "multiworker")

#: The stage that trains on the mined hard negatives (:meth:`TrainConfig.stage_plan`).
HARD_NEGATIVE_STAGE = "hardneg"

#: Fields holding paths: kept as text so the value is JSON-able and hashable.
_PATH_FIELDS = ("data", "weights", "models_dir", "runs_dir")


def check_model_id(model_id: str) -> None:
    """Refuse an id the registry cannot hold or the runs area reserves.

    Raises:
        ModelError: bad characters, a reserved id, or one ending in :data:`WORKERS_SUFFIX`.
    """
    if not MODEL_ID_RE.match(model_id):
        raise ModelError(
            f"bad model id {model_id!r}: use letters, digits, '.', '_' and '-' only, "
            "starting with a letter or digit"
        )
    if model_id.lower() in RESERVED_IDS:
        raise ModelError(
            f"bad model id {model_id!r}: it is reserved ({', '.join(sorted(RESERVED_IDS))} "
            "name folders of the runs area); choose another id"
        )
    if model_id.endswith(WORKERS_SUFFIX):
        # A trainer empties <runs_dir>/<id> at start: it would delete that model's logs.
        raise ModelError(
            f"bad model id {model_id!r}: <runs>/{model_id} is the multi-worker training "
            f"folder of model {model_id.removesuffix(WORKERS_SUFFIX)!r} (its config and "
            f"worker logs); choose an id not ending in {WORKERS_SUFFIX!r}"
        )


def _whole(field: str, value: object, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise FieldError(field, f"must be a whole number from {low} to {high}, got {value!r}")


@contextlib.contextmanager
def _about(field: str) -> Iterator[None]:
    """A check's :class:`ModelError` raised as the :class:`FieldError` of ``field``."""
    try:
        yield
    except FieldError:
        raise
    except ModelError as exc:
        raise FieldError(field, f": {exc}") from None


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        data: dataset folder or manifest (what ``scan`` takes).
        arch, task, freeze: architecture, task and freeze strategy names.
        epochs: most epochs (early stopping may end sooner); with ``two_stage`` the head
            stage counts towards them.
        batch: batch size (global, across replicas).
        lr: learning rate; ``None`` picks :func:`~mcalc.models.freeze.default_lr`.
        seed: seed of the split, the sampling, the initialisation and the augmentation.
        weights: weights file, ``auto``/``None`` (default order) or ``none`` (random).
        models_dir, runs_dir: registry and run folders (``None``: the settings').
        patch_size: patch side (``None``: the architecture's); spacing_mm: patch spacing.
        pos_per_image, neg_per_image: patches at findings and of tissue per image.
        boundary: ``partial`` freeze boundary layer (``None``: the architecture's).
        two_stage: train the head first (``head`` strategy), then fine-tune with ``freeze``.
        head_epochs: epochs of the first stage of a two-stage run.
        patience: early-stopping patience in epochs (on validation loss).
        fractions: train / validation / test fractions of patients.
        model_id: registry id (``None``: ``<arch>-<task>-<time>``, chosen by the registry).
        strategy: one of :data:`DISTRIBUTION_STRATEGIES`; a multi-worker run needs a
            ``model_id`` (every worker must name the same model).
        max_steps: cap of batches per epoch (quick runs and tests).
        balance, augment: class-balanced sampling and augmentation of training batches.
        folds, fold: cross-validation (``python -m mcalc crossval``): with ``folds >= 2`` the
            test set is fold ``fold`` (0-based) of a patient-level k-fold split stratified by
            BI-RADS group and seeded by ``seed`` (:func:`mcalc.models.split.fold_split`);
            validation takes ``fractions[1] / (fractions[0] + fractions[1])`` of the other
            patients (a quarter by default). 0: the usual split.
        trained_by: who trained it (the signed-in user a job was submitted by, or
            ``--trained-by``); written to the card. Empty: not known.
        input: what the model sees (:data:`mcalc.models.patches.INPUT_MODES`): ``recent``
            (the image alone, the default and every older configuration's) or ``temporal``
            (the recent patch and the subtraction of the registered prior, two channels:
            :mod:`mcalc.models.temporal_input`).
        hard_negatives: hard-negative patches mined per training image (0: off, the
            default). The last stage's epochs are split: its first ``epochs - epochs // 2``
            train on the sampled patches, then the model is slid over the training patients'
            images (never validation or test ones), the ``hard_negatives`` highest-scoring
            detections of each image that lie farther than the matching tolerance from every
            annotated finding (and whose patch holds no annotated pixel) join the negatives,
            and the last ``epochs // 2`` continue on them (stage ``hardneg``, the same
            optimiser, as many batches per epoch as before). See
            :mod:`mcalc.models.hard_negatives`.
        operating_point: the rule that chooses the model's decision threshold on its
            validation patients once it is registered (``youden`` or ``sensitivity:T``, as
            ``python -m mcalc models threshold``; :mod:`mcalc.models.operating_point`), or
            ``none`` (the default): the model decides at 0.5 until one is set. Chosen by
            ``python -m mcalc train`` (its ``--operating-point``, and an app job's child);
            for cross-validation, each fold's once the folds are trained
            (:func:`mcalc.models.crossval.crossval`).
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
    models_dir: str | None = None
    runs_dir: str | None = None
    patch_size: int | None = None
    spacing_mm: float | None = DEFAULT_SPACING_MM
    pos_per_image: int = 16
    neg_per_image: int = 16
    boundary: str | None = None
    two_stage: bool = False
    head_epochs: int = 2
    patience: int = 3
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    model_id: str | None = None
    strategy: str = "auto"
    max_steps: int | None = None
    balance: bool = True
    augment: bool = True
    folds: int = 0
    fold: int = 0
    trained_by: str = ""
    # Temporal models (issue 11): its own lines, so other fields merge beside it.
    input: str = "recent"
    # Hard-negative mining: its own lines, so other fields merge beside it.
    hard_negatives: int = 0
    # The decision threshold chosen at the end: its own lines, so other fields merge beside it.
    operating_point: str = "none"

    def __post_init__(self) -> None:
        # Callers may pass Path objects and lists; the stored value is text and a tuple.
        for name in _PATH_FIELDS:
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
        if not isinstance(self.fractions, tuple):
            object.__setattr__(self, "fractions", tuple(self.fractions))

    def validate(self) -> None:
        """Check names and numbers before any expensive work (no disk, no TensorFlow).

        Raises:
            ModelError: an unknown architecture, task or strategy, a number out of range, a
                bad or reserved model id, or a two-stage plan with no epoch left to fine-tune.
        """
        with _about("arch"):
            arch_spec(self.arch)
        with _about("task"):
            task_classes(self.task)
        if self.freeze not in STRATEGIES:
            raise FieldError(
                "freeze",
                f": unknown freeze strategy {self.freeze!r}; expected one of: "
                f"{', '.join(STRATEGIES)}",
            )
        if self.strategy not in DISTRIBUTION_STRATEGIES:
            raise FieldError(
                "strategy",
                f": unknown distribution strategy {self.strategy!r}; expected one of: "
                f"{', '.join(DISTRIBUTION_STRATEGIES)}",
            )
        _whole("epochs", self.epochs, 1, MAX_EPOCHS)
        _whole("batch", self.batch, 1, MAX_BATCH)
        _whole("seed", self.seed, 0, MAX_SEED)
        _whole("pos_per_image", self.pos_per_image, 1, MAX_PER_IMAGE)
        _whole("neg_per_image", self.neg_per_image, 1, MAX_PER_IMAGE)
        _whole("patience", self.patience, 0, MAX_EPOCHS)
        _whole("head_epochs", self.head_epochs, 1, MAX_EPOCHS)
        if self.patch_size is not None:
            _whole("patch_size", self.patch_size, MIN_PATCH_SIZE, MAX_PATCH_SIZE)
        if self.max_steps is not None:
            _whole("max_steps", self.max_steps, 1, MAX_STEPS)
        if self.lr is not None and not 0 < float(self.lr) < 1:
            raise FieldError("lr", f"must be in (0, 1), got {self.lr}")
        if self.operating_point != "none":
            from mcalc.models.operating_point import ThresholdError, parse_rule

            try:
                parse_rule(self.operating_point)
            except ThresholdError as exc:
                raise FieldError("operating_point", f": {exc}, or none") from exc
        if self.spacing_mm is not None and not (
            math.isfinite(self.spacing_mm) and self.spacing_mm > 0
        ):
            raise FieldError(
                "spacing_mm", f"must be a positive number of mm, got {self.spacing_mm}"
            )
        if len(self.fractions) != 3 or not all(f > 0 for f in self.fractions):
            raise ModelError(
                f"fractions must be three positive shares (train, validation, test), got "
                f"{self.fractions}"
            )
        if self.two_stage and self.epochs <= self.head_epochs:
            raise ModelError(
                f"a two-stage schedule trains the head for {counted(self.head_epochs, 'epoch')} first: "
                f"it needs more epochs than that, got {self.epochs}"
            )
        if self.model_id is not None:
            with _about("model_id"):
                check_model_id(self.model_id)
        elif self.strategy == "multiworker":
            raise ModelError(
                "multi-worker training needs a model id (--id): every worker must name the "
                "same model"
            )
        if (
            not isinstance(self.trained_by, str)
            or len(self.trained_by) > 64
            or any(not ch.isprintable() for ch in self.trained_by)
        ):
            raise FieldError(
                "trained_by",
                f"must be a user name of at most 64 printable characters, got "
                f"{self.trained_by!r:.80}",
            )
        if self.input not in INPUT_MODES:
            raise FieldError(
                "input",
                f": unknown input {self.input!r}; expected one of: {', '.join(INPUT_MODES)}",
            )
        self._validate_hard_negatives()
        if self.folds != 0 and not (2 <= self.folds <= 1000 and 0 <= self.fold < self.folds):
            raise ModelError(
                f"cross-validation needs folds >= 2 and 0 <= fold < folds, got folds "
                f"{self.folds} and fold {self.fold}"
            )

    def _validate_hard_negatives(self) -> None:
        _whole("hard_negatives", self.hard_negatives, 0, MAX_PER_IMAGE)
        if not self.hard_negatives:
            return
        if self.task != "calcification":
            raise ModelError(
                f"hard-negative mining needs the calcification task (its negatives are "
                f"locations away from annotated calcifications), got task {self.task!r}: set "
                "hard_negatives to 0"
            )
        if self.input != "recent":
            raise ModelError(
                f"hard-negative mining slides the model over recent-input images only, got "
                f"input {self.input!r}: set hard_negatives to 0 or input to 'recent'"
            )
        if self.strategy == "multiworker":
            raise ModelError(
                "hard-negative mining runs in one process: it cannot be combined with "
                "multi-worker training; set hard_negatives to 0 or another strategy"
            )
        stage, last = (
            ("finetune", self.epochs - self.head_epochs)
            if self.two_stage
            else (
                "train",
                self.epochs,
            )
        )
        if last < 2:
            raise ModelError(
                f"hard-negative mining splits the last stage's epochs in two (before and after "
                f"mining): it needs at least 2, the {stage!r} stage has {last}; raise epochs"
            )

    def stage_plan(self) -> list[tuple[str, str, int]]:
        """``(stage, freeze strategy, epochs)`` of each fit stage, in order.

        ``train`` (or ``head`` then ``finetune`` with ``two_stage``); with
        ``hard_negatives`` the last stage keeps its first ``epochs - epochs // 2`` epochs and
        a ``hardneg`` stage, with the same strategy, takes the rest after mining.

        Example:
            >>> TrainConfig(data="d", epochs=40, hard_negatives=16).stage_plan()
            [('train', 'full', 20), ('hardneg', 'full', 20)]
        """
        if self.two_stage:
            plan = [
                ("head", "head", self.head_epochs),
                ("finetune", self.freeze, self.epochs - self.head_epochs),
            ]
        else:
            plan = [("train", self.freeze, self.epochs)]
        if self.hard_negatives and plan[-1][2] >= 2:
            stage, strategy, epochs = plan[-1]
            plan[-1] = (stage, strategy, epochs - epochs // 2)
            plan.append((HARD_NEGATIVE_STAGE, strategy, epochs // 2))
        return plan

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (paths as text, fractions as a list)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["fractions"] = list(self.fractions)
        return out

    @classmethod
    def from_json(cls, data: object) -> TrainConfig:
        """Inverse of :meth:`to_json`; keys of a newer mcalc are ignored, and the
        ``patches_per_image`` of older job files sets both kinds.

        Raises:
            ModelError: ``data`` is not a mapping, lacks ``data`` or holds a wrong type.
        """
        if not isinstance(data, dict) or "data" not in data:
            raise ModelError(f"a training configuration needs at least 'data'; got {data!r:.80}")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        legacy = data.get("patches_per_image")
        if legacy is not None:
            values.setdefault("pos_per_image", legacy)
            values.setdefault("neg_per_image", legacy)
        if isinstance(values.get("fractions"), list):
            values["fractions"] = tuple(values["fractions"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelError(f"unreadable training configuration: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path, *, strict: bool = False) -> TrainConfig:
        """Read a configuration written by :meth:`to_json`.

        Args:
            strict: refuse keys that are not settings (what ``train --config`` does: a
                hand-written ``"epoch": 1`` was ignored and the run took the default 10
                epochs); otherwise they are ignored, as :meth:`from_json` does.

        Raises:
            ModelError: the file is missing or not such a configuration, or (``strict``)
                holds an unknown key.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read the training configuration {path}: {exc}") from exc
        if strict and isinstance(data, dict):
            known = sorted({f.name for f in fields(cls)} | {"patches_per_image"})
            unknown = [k for k in data if k not in known]
            if unknown:
                hints = [
                    f"{k!r}" + (f" (did you mean {m[0]!r}?)" if m else "")
                    for k in unknown
                    for m in [difflib.get_close_matches(str(k), known, n=1)]
                ]
                raise ModelError(
                    f"{path}: unknown {'key' if len(hints) == 1 else 'keys'} {', '.join(hints)}; a training configuration "
                    f"takes: {', '.join(known)}"
                )
        return cls.from_json(data)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """The configuration of ``python -m mcalc train``: ``--config FILE`` (if given)
        with every flag given on the command line on top.

        ``--patches-per-image`` sets both ``--pos-per-image`` and ``--neg-per-image``;
        each of those, when given, wins over it.

        Raises:
            ModelError: no ``--data`` and no ``--config``, or an unreadable file.
        """
        ns = vars(args)
        base = cls.from_file(ns["config"], strict=True) if ns.get("config") else None
        flags: dict[str, Any] = {field: ns.get(arg_dest(field)) for field in _FLAG_FIELDS}
        flags["two_stage"] = True if ns.get("two_stage") else None
        flags["augment"] = False if ns.get("no_augment") else None
        if flags["pos_per_image"] is None:
            flags["pos_per_image"] = ns.get("patches_per_image")
        if flags["neg_per_image"] is None:
            flags["neg_per_image"] = ns.get("patches_per_image")
        given = {k: v for k, v in flags.items() if v is not None}
        if base is not None:
            return replace(base, **given)
        if "data" not in given:
            raise ModelError("train needs --data DIR (or --config FILE)")
        # Epochs and batch left out: the architecture's, as the Train page proposes them (a
        # backbone took the custom CNN's 10 epochs of 32 here, and 8 of 16 there).
        try:
            proposed = arch_defaults(given.get("arch", "custom"), given.get("freeze", "full"))
        except ModelError:  # an unknown architecture: validate() names the known ones
            proposed = {}
        for key in ("epochs", "batch"):
            if key not in given and key in proposed:
                given[key] = proposed[key]
        return cls(**given)


#: The fields ``train``'s flags set one for one (its flag is :func:`arg_dest`'s).
_FLAG_FIELDS = (
    "data", "arch", "task", "freeze", "epochs", "batch", "lr", "seed", "weights", "models_dir",
    "patch_size", "spacing_mm", "pos_per_image", "neg_per_image", "boundary", "head_epochs",
    "patience", "model_id", "strategy", "max_steps", "trained_by", "input", "hard_negatives",
    "operating_point",
)  # fmt: skip

#: Fields whose flag has another name (``--spacing`` sets ``spacing_mm``).
_DEST_OF_FIELD = {"models_dir": "models", "spacing_mm": "spacing", "model_id": "id"}


def arg_dest(field: str) -> str:
    """The ``argparse`` destination of the flag that sets :class:`TrainConfig`'s ``field``
    in ``train``, ``crossval`` and ``train-workers`` (``--spacing``: ``spacing``); its
    flag is ``--`` and the destination with ``-`` for ``_``.

    Example:
        >>> arg_dest("spacing_mm"), arg_dest("epochs")
        ('spacing', 'epochs')
    """
    return _DEST_OF_FIELD.get(field, field)


def arch_defaults(arch: str, freeze: str = "full", pretrained: bool = False) -> dict[str, Any]:
    """Sensible starting hyperparameters for ``arch``: epochs, batch, lr, patch size.

    The custom two-convolution network is small: bigger batches, more epochs. Backbones
    are heavy on a CPU: smaller batches, and fewer epochs when only the head trains.

    Raises:
        ModelError: unknown architecture.
    """
    spec = arch_spec(arch)
    small = spec.keras_app is None
    return {
        "epochs": 10 if small else (5 if freeze == "head" else 8),
        "batch": 32 if small else 16,
        "lr": default_lr(spec.name, freeze, pretrained),
        "patch_size": spec.patch_size,
    }


def defaults_text() -> tuple[str, str]:
    """How the command line says its default epochs and batch (``train``, ``crossval``):
    :func:`arch_defaults`', which :meth:`TrainConfig.from_args` fills in.

    >>> defaults_text()[1]
    'default 32 for custom, 16 for a backbone'
    """
    small, big = arch_defaults("custom"), arch_defaults("resnet50")
    head = arch_defaults("resnet50", "head")
    return (
        f"default {small['epochs']} for custom, {big['epochs']} for a backbone, "
        f"{head['epochs']} with --freeze head; the Train page's defaults",
        f"default {small['batch']} for custom, {big['batch']} for a backbone",
    )
