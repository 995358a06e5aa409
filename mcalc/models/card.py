"""The model card: what a registered model is, how it was trained and how well it did.

A card is written as ``card.json`` beside the model (by training) and read back by the
registry (:func:`mcalc.models.registry.load_card`). :class:`ModelCard` is its one typed
form: every page, command and cache reads the fields and methods here instead of digging
in nested dicts. It does not import TensorFlow.

Cards written by older versions lack fields; keys this version does not know are kept in
``extra`` (of the card or of a section). ``ModelCard.from_json(d).to_json()`` holds every key
of ``d`` with its value, in ``d``'s order, so nothing is lost on a round trip.

Example:
    >>> card = ModelCard.from_json({"architecture": "custom", "task": "calcification",
    ...     "classes": ["no-calcification", "calcification"], "patch": {"size": 64},
    ...     "metrics": {"test": {"auc": 0.9}}, "note": "kept"})
    >>> card.patch.size, card.test_metrics["auc"], card.task.positive_class
    (64, 0.9, 'calcification')
    >>> card.to_json()["note"]
    'kept'
    >>> card.summary_line(72)
    'architecture=custom; task=calcification; classes=no-calcification,calcif'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from mcalc.models.card_json import (
    Json,
    JsonSection,
    Reader,
    read_bool,
    read_int,
    read_mapping,
    read_opt_float,
    read_opt_int,
    read_records,
    read_str,
    read_strs,
    read_views,
    section,
)
from mcalc.models.layout import model_file
from mcalc.models.tasks import TASKS, Task, positive_class_for
from mcalc.plural import counted

__all__ = [
    "CARD_VERSION",
    "ModelCard",
    "CardFreeze",
    "CardWeights",
    "CardPatch",
    "CardData",
    "CardSplit",
    "CardHyperparameters",
    "CardTracking",
    "CardHardNegatives",
    "CardDecisionThreshold",
]

#: Version of the card layout; cards with a higher version are reported, not read.
CARD_VERSION = 1
#: Fields of the one-line summary (audit records), in order.
_SUMMARY_KEYS = ("architecture", "task", "classes", "patch", "created", "val_auc", "metrics")


@dataclass(frozen=True)
class CardFreeze(JsonSection):
    """Which layers trained: the strategy, whether in two stages, and each stage.

    Each of ``stages`` is a freeze record (stage, epochs, lr, strategy, boundary, trainable
    and total parameters, frozen layers, warnings), the same keys for every stage. The
    ``hardneg`` stage of cards written before 5 December 2026 also has ``mined``, kept as
    read: the count is :class:`CardHardNegatives`' (``hard_negatives.mined``), where new
    cards keep it alone.
    """

    strategy: str = "?"
    two_stage: bool = False
    stages: tuple[dict[str, Any], ...] = ()
    READERS: ClassVar[dict[str, Reader]] = {
        "strategy": read_str,
        "two_stage": read_bool,
        "stages": read_records,
    }


@dataclass(frozen=True)
class CardWeights(JsonSection):
    """Where the starting weights came from."""

    source: str = "?"
    pretrained: bool = False
    detail: str = ""
    READERS: ClassVar[dict[str, Reader]] = {
        "source": read_str,
        "pretrained": read_bool,
        "detail": read_str,
    }


@dataclass(frozen=True)
class CardPatch(JsonSection):
    """How the model's input patches are made (size in pixels, spacing, window).

    ``input_mode`` is ``recent`` (the image alone; every card written before temporal
    models) or ``temporal`` (the recent image and the subtraction of its registered prior:
    :mod:`mcalc.models.temporal_input`); ``channels`` names the input channels in order.
    ``input`` is a free description.
    """

    size: int = 0
    spacing_mm: float | None = None
    window: str = "file"
    input: str = ""
    pos_per_image: int = 16
    neg_per_image: int = 16
    input_mode: str = "recent"
    channels: tuple[str, ...] = ("recent",)
    READERS: ClassVar[dict[str, Reader]] = {
        "size": read_int,
        "spacing_mm": read_opt_float,
        "window": read_str,
        "input": read_str,
        "pos_per_image": read_int,
        "neg_per_image": read_int,
        "input_mode": read_str,
        "channels": read_strs,
    }

    @property
    def temporal(self) -> bool:
        """The model sees the registered prior too (``input_mode == "temporal"``)."""
        return self.input_mode == "temporal"


@dataclass(frozen=True)
class CardData(JsonSection):
    """The dataset the model was trained on."""

    path: str = ""
    fingerprint: str = ""
    synthetic: bool = False
    source: str = ""
    cases: int | None = None
    READERS: ClassVar[dict[str, Reader]] = {
        "path": read_str,
        "fingerprint": read_str,
        "synthetic": read_bool,
        "source": read_str,
        "cases": read_opt_int,
    }


@dataclass(frozen=True)
class CardSplit(JsonSection):
    """The case ids of each part of the patient-level split."""

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    seed: int | None = None
    by: str = ""
    READERS: ClassVar[dict[str, Reader]] = {
        "train": read_strs,
        "val": read_strs,
        "test": read_strs,
        "seed": read_opt_int,
        "by": read_str,
    }


@dataclass(frozen=True)
class CardHyperparameters(JsonSection):
    """The training run's main settings (the rest stay in ``extra``).

    ``distribution`` is the ``tf.distribute`` strategy's class name (``MirroredStrategy``,
    ``MultiWorkerMirroredStrategy``, ...), ``replicas`` the replicas it trained on and
    ``workers`` the machines (processes) they spanned; cards older than multi-worker
    training have no ``workers`` (``None``: one machine).
    """

    epochs: int | None = None
    epochs_run: int | None = None
    batch: int | None = None
    optimizer: str = ""
    distribution: str = ""
    replicas: int | None = None
    workers: int | None = None
    READERS: ClassVar[dict[str, Reader]] = {
        "epochs": read_opt_int,
        "epochs_run": read_opt_int,
        "batch": read_opt_int,
        "optimizer": read_str,
        "distribution": read_str,
        "replicas": read_opt_int,
        "workers": read_opt_int,
    }


@dataclass(frozen=True)
class CardHardNegatives(JsonSection):
    """Hard-negative mining of the run (:mod:`mcalc.models.hard_negatives`): patches asked
    for per image, patches mined, from how many training images, the stage that trained on
    them and after how many epochs they were mined. Cards of runs without mining have no
    such section (:attr:`ModelCard.hard_negatives` ``None``)."""

    per_image: int = 0
    mined: int = 0
    images: int = 0
    stage: str = ""
    after_epoch: int | None = None
    tolerance_mm: float | None = None
    READERS: ClassVar[dict[str, Reader]] = {
        "per_image": read_int,
        "mined": read_int,
        "images": read_int,
        "stage": read_str,
        "after_epoch": read_opt_int,
        "tolerance_mm": read_opt_float,
    }

    def text(self) -> str:
        """``312 hard negatives from 24 training images (16 per image), mined after epoch
        20 for stage hardneg``."""
        after = f" after epoch {self.after_epoch}" if self.after_epoch is not None else ""
        return (
            f"{self.mined} hard negatives from {self.images} training images "
            f"({self.per_image} per image), mined{after} for stage {self.stage or '?'}"
        )


@dataclass(frozen=True)
class CardTracking(JsonSection):
    """Where the run's curves are: ``tensorboard`` names the TensorBoard folder inside the
    model's folder; ``mlflow`` holds ``tracking_uri``, ``experiment_id``, ``run_id`` and
    ``url`` (``None`` unless a server) when the run was logged to MLflow (else empty)."""

    tensorboard: str = ""
    mlflow: Mapping[str, Any] = field(default_factory=dict)
    READERS: ClassVar[dict[str, Reader]] = {
        "tensorboard": read_str,
        "mlflow": read_mapping,
    }


@dataclass(frozen=True)
class CardDecisionThreshold(JsonSection):
    """The model's operating point (:mod:`mcalc.models.operating_point`): the map-score
    threshold at or above which an image reads as the positive class, where it comes from
    in words, and, when chosen on data, the rule, split, counts and the sensitivity and
    specificity reached there. Cards that name none have no such section
    (:attr:`ModelCard.decision_threshold` ``None``: 0.5, said as the default)."""

    value: float | None = None
    source: str = ""
    rule: str = ""
    split: str = ""
    images: int | None = None
    positives: int | None = None
    patients: int | None = None
    sensitivity: float | None = None
    specificity: float | None = None
    data_fingerprint: str = ""
    chosen_at: str = ""
    set_by: str = ""
    READERS: ClassVar[dict[str, Reader]] = {
        "value": read_opt_float,
        "source": read_str,
        "rule": read_str,
        "split": read_str,
        "images": read_opt_int,
        "positives": read_opt_int,
        "patients": read_opt_int,
        "sensitivity": read_opt_float,
        "specificity": read_opt_float,
        "data_fingerprint": read_str,
        "chosen_at": read_str,
        "set_by": read_str,
    }


@dataclass(frozen=True)
class ModelCard(JsonSection):
    """A registered model's card (see the module docstring).

    ``id`` and ``path`` (the model's folder) are set by the registry when it reads a card.
    ``metrics`` maps a split (``val``, ``test``) to
    :func:`mcalc.models.metrics.classification_metrics` of it; ``history`` holds Keras'
    per-epoch curves by stage. ``skipped_images`` maps each image left out of training
    (its file could not be read) to the reason; older cards have none. ``trained_by`` is
    the user who trained it (empty on older cards and when not known). ``tracking`` says
    where its TensorBoard logs and MLflow run are (older cards: empty).
    ``hard_negatives`` says what hard-negative mining added (``None``: none was asked for).
    ``decision_threshold`` is the operating point chosen or set after training (``None``:
    none, the default 0.5).
    """

    card_version: int = CARD_VERSION
    id: str = ""
    architecture: str = ""
    task_name: str = ""
    classes: tuple[str, ...] = ()
    binary_views: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    freeze: CardFreeze = field(default_factory=CardFreeze)
    trainable_params: int | None = None
    total_params: int | None = None
    weights: CardWeights = field(default_factory=CardWeights)
    pretrained: bool = False
    patch: CardPatch = field(default_factory=CardPatch)
    data: CardData = field(default_factory=CardData)
    split: CardSplit = field(default_factory=CardSplit)
    hyperparameters: CardHyperparameters = field(default_factory=CardHyperparameters)
    seed: int = 0
    metrics: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    history: Mapping[str, Any] = field(default_factory=dict)
    training_seconds: float | None = None
    versions: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""
    warnings: tuple[str, ...] = ()
    path: str = ""
    skipped_images: Mapping[str, str] = field(default_factory=dict)
    trained_by: str = ""
    tracking: CardTracking = field(default_factory=CardTracking)
    hard_negatives: CardHardNegatives | None = None
    decision_threshold: CardDecisionThreshold | None = None
    READERS: ClassVar[dict[str, Reader]] = {
        "card_version": read_int,
        "id": read_str,
        "architecture": read_str,
        "task_name": read_str,
        "classes": read_strs,
        "binary_views": read_views,
        "freeze": section(CardFreeze),
        "trainable_params": read_opt_int,
        "total_params": read_opt_int,
        "weights": section(CardWeights),
        "pretrained": read_bool,
        "patch": section(CardPatch),
        "data": section(CardData),
        "split": section(CardSplit),
        "hyperparameters": section(CardHyperparameters),
        "seed": read_int,
        "metrics": lambda v: {str(k): read_mapping(x) for k, x in read_mapping(v).items()},
        "history": read_mapping,
        "training_seconds": read_opt_float,
        "versions": read_mapping,
        "created": read_str,
        "warnings": read_strs,
        "path": read_str,
        "skipped_images": lambda v: {str(k): str(x) for k, x in read_mapping(v).items()},
        "trained_by": read_str,
        "tracking": section(CardTracking),
        "hard_negatives": section(CardHardNegatives),
        "decision_threshold": section(CardDecisionThreshold),
    }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelCard:
        """Read a card's JSON object (any card written so far; missing fields default).

        The JSON key ``task`` is the field ``task_name`` (``task`` is the :class:`Task`).
        """
        renamed = {("task_name" if k == "task" else k): v for k, v in data.items()}
        return super().from_json(renamed)

    def to_json(self) -> Json:
        """The card as a JSON object (the inverse of :meth:`from_json`)."""
        out = {("task" if k == "task_name" else k): v for k, v in super().to_json().items()}
        if self.hard_negatives is None and "hard_negatives" not in self.extra:
            out.pop("hard_negatives", None)  # a run without mining has no such section
        if self.decision_threshold is None and "decision_threshold" not in self.extra:
            out.pop("decision_threshold", None)  # no operating point chosen: no section
        return out

    def located(self, model_id: str, folder: Path) -> ModelCard:
        """The card with its registry ``id`` and folder ``path`` set."""
        keys = self.keys
        if keys is not None:
            keys = (*keys, *(k for k in ("id", "path") if k not in keys))
        return replace(self, id=model_id, path=str(folder), keys=keys)

    @property
    def task(self) -> Task:
        """The model's task; a card whose classes are not its task's (a foreign or older
        model) gets a task built from its own classes and binary views. A card without
        classes has its task's."""
        known = TASKS.get(self.task_name)
        if known is not None and self.classes in ((), known.classes):
            return known
        return Task(
            self.task_name,
            self.classes,
            positive_class_for(self.classes) if self.classes else "",
            dict(self.binary_views),
        )

    @property
    def test_metrics(self) -> Mapping[str, Any]:
        """Metrics on the held-out test patients (empty when the card has none)."""
        return self.metrics.get("test") or {}

    def test_scope_note(self, open_fingerprint: str) -> str | None:
        """``None`` when the card's test metrics were measured on the dataset whose
        :func:`~mcalc.models.fingerprint.dataset_fingerprint` is ``open_fingerprint``;
        else a sentence saying where they come from (they say nothing of the open data).

        >>> card = ModelCard(data=CardData(path="data/demo", fingerprint="ab", cases=12))
        >>> card.test_scope_note("ab") is None
        True
        >>> card.test_scope_note("cd")[:60]
        'Its test figures were measured on the test patients of the d'
        """
        if not self.data.fingerprint:
            return (
                "Its card does not record the data its test figures were measured on: they "
                "may not be of the dataset open here (Evaluate measures it on this one)."
            )
        if self.data.fingerprint == open_fingerprint:
            return None
        where = f"`{self.data.path}`" if self.data.path else "not recorded on its card"
        if self.data.cases is not None:
            where += f", {counted(self.data.cases, 'case')}"
        return (
            "Its test figures were measured on the test patients of the data it was trained "
            f"on ({where}), not on the dataset open here: Evaluate measures it on this one."
        )

    @property
    def model_file(self) -> Path:
        """The Keras file of the model (the registry knows the folder's layout)."""
        return model_file(self.path)

    def fingerprint(self) -> str:
        """A key that changes when the model file does (path, size, modification time);
        ``unknown`` when the file cannot be read. Caches of results key models by it."""
        from mcalc.cache import file_key

        try:
            return file_key(self.model_file)
        except OSError:
            return "unknown"

    def summary_line(self, max_len: int = 300) -> str:
        """One line naming the model (for audit records), at most ``max_len`` characters."""
        data = self.to_json()
        parts = []
        for key in _SUMMARY_KEYS:
            value = data.get(key)
            if value is None or value == "":
                continue
            if isinstance(value, list | tuple):
                value = ",".join(str(v) for v in value)
            elif isinstance(value, Mapping):
                value = ",".join(f"{k}:{v}" for k, v in list(value.items())[:4])
            parts.append(f"{key}={value}")
        return "; ".join(parts)[:max_len]

    def summary_fields(self) -> dict[str, Any]:
        """What an audit verdict records of the card: the fields of the one-line summary
        (architecture, task, classes, patch, created, val_auc, metrics) that the card has,
        whole and as in its JSON (:func:`mcalc.models.card_text.summary_json`)."""
        data = self.to_json()
        return {k: data[k] for k in _SUMMARY_KEYS if data.get(k) not in (None, "")}

    def summary_dict(self) -> dict[str, Any]:
        """What a prediction reports about its model (``python -m mcalc predict --json``)."""
        test = self.test_metrics
        return {
            "id": self.id,
            "architecture": self.architecture,
            "task": self.task_name,
            "classes": list(self.classes),
            "freeze": self.freeze.strategy,
            "weights": self.weights.source,
            "pretrained": self.pretrained,
            "synthetic_data": self.data.synthetic,
            "patch": self.patch.to_json(),
            "test_auc": test.get("auc"),
            "test_accuracy": test.get("accuracy"),
            "trained_by": self.trained_by,
        }
