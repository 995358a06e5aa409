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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from mcalc.models.tasks import TASKS, Task, positive_class_for

__all__ = [
    "CARD_VERSION",
    "ModelCard",
    "CardFreeze",
    "CardWeights",
    "CardPatch",
    "CardData",
    "CardSplit",
    "CardHyperparameters",
]

#: Version of the card layout; cards with a higher version are reported, not read.
CARD_VERSION = 1
#: Fields of the one-line summary (audit records), in order.
_SUMMARY_KEYS = ("architecture", "task", "classes", "patch", "created", "val_auc", "metrics")

Json = dict[str, Any]
S = TypeVar("S", bound="_Section")


# ------------------------------------------------------------------ value readers
# Each returns the typed value or raises TypeError; a value of another type is kept, as
# it was, in ``extra`` (so a round trip never changes it).


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError
    return v


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError
    return v


def _opt_int(v: Any) -> int | None:
    return None if v is None else _int(v)


def _opt_float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise TypeError
    return v  # an int stays an int, so the JSON is written back unchanged


def _strs(v: Any) -> tuple[str, ...]:
    if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v):
        raise TypeError
    return tuple(v)


def _mapping(v: Any) -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise TypeError
    return dict(v)


def _views(v: Any) -> dict[str, tuple[str, ...]]:
    return {str(k): _strs(x) for k, x in _mapping(v).items()}


def _records(v: Any) -> tuple[dict[str, Any], ...]:
    if not isinstance(v, list | tuple) or not all(isinstance(x, Mapping) for x in v):
        raise TypeError
    return tuple(dict(x) for x in v)


def _plain(value: Any) -> Any:
    """A field's JSON value: sections by their ``to_json``, tuples as lists."""
    if isinstance(value, _Section):
        return value.to_json()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class _Section:
    """A JSON object with typed fields; ``extra`` keeps the keys it does not type, and
    ``keys`` the order of the object it was read from (``None``: built in code)."""

    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    #: JSON key -> reader, for each typed field (attribute name = JSON key).
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    @classmethod
    def from_json(cls: type[S], data: Mapping[str, Any]) -> S:
        typed: Json = {}
        extra: Json = {}
        for key, value in data.items():
            reader = cls.READERS.get(key)
            if reader is None:
                extra[key] = value
                continue
            try:
                typed[key] = reader(value)
            except (TypeError, ValueError):
                extra[key] = value
        return cls(**typed, extra=extra, keys=tuple(data))

    def to_json(self) -> Json:
        """The JSON object: the keys read, in their order, then the ones set in code."""
        typed = {f.name: getattr(self, f.name) for f in fields(self) if f.name in self.READERS}
        out: Json = {}
        order = self.keys if self.keys is not None else tuple(typed)
        for key in order:
            if key in self.extra:
                out[key] = self.extra[key]
            elif key in typed:
                out[key] = _plain(typed[key])
        for key, value in self.extra.items():
            out.setdefault(key, value)
        return out


def _section(cls: type[S]) -> Callable[[Any], S]:
    return lambda v: cls.from_json(_mapping(v))


@dataclass(frozen=True)
class CardFreeze(_Section):
    """Which layers trained: the strategy, whether in two stages, and each stage."""

    strategy: str = "?"
    two_stage: bool = False
    stages: tuple[dict[str, Any], ...] = ()
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "strategy": _str,
        "two_stage": _bool,
        "stages": _records,
    }


@dataclass(frozen=True)
class CardWeights(_Section):
    """Where the starting weights came from."""

    source: str = "?"
    pretrained: bool = False
    detail: str = ""
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "source": _str,
        "pretrained": _bool,
        "detail": _str,
    }


@dataclass(frozen=True)
class CardPatch(_Section):
    """How the model's input patches are made (size in pixels, spacing, window)."""

    size: int = 0
    spacing_mm: float | None = None
    window: str = "file"
    input: str = ""
    pos_per_image: int = 16
    neg_per_image: int = 16
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "size": _int,
        "spacing_mm": _opt_float,
        "window": _str,
        "input": _str,
        "pos_per_image": _int,
        "neg_per_image": _int,
    }


@dataclass(frozen=True)
class CardData(_Section):
    """The dataset the model was trained on."""

    path: str = ""
    fingerprint: str = ""
    synthetic: bool = False
    source: str = ""
    cases: int | None = None
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "path": _str,
        "fingerprint": _str,
        "synthetic": _bool,
        "source": _str,
        "cases": _opt_int,
    }


@dataclass(frozen=True)
class CardSplit(_Section):
    """The case ids of each part of the patient-level split."""

    train: tuple[str, ...] = ()
    val: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    seed: int | None = None
    by: str = ""
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "train": _strs,
        "val": _strs,
        "test": _strs,
        "seed": _opt_int,
        "by": _str,
    }


@dataclass(frozen=True)
class CardHyperparameters(_Section):
    """The training run's main settings (the rest stay in ``extra``)."""

    epochs: int | None = None
    epochs_run: int | None = None
    batch: int | None = None
    optimizer: str = ""
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "epochs": _opt_int,
        "epochs_run": _opt_int,
        "batch": _opt_int,
        "optimizer": _str,
    }


@dataclass(frozen=True)
class ModelCard(_Section):
    """A registered model's card (see the module docstring).

    ``id`` and ``path`` (the model's folder) are set by the registry when it reads a card.
    ``metrics`` maps a split (``val``, ``test``) to
    :func:`mcalc.models.metrics.classification_metrics` of it; ``history`` holds Keras'
    per-epoch curves by stage.
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
    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "card_version": _int,
        "id": _str,
        "architecture": _str,
        "task_name": _str,
        "classes": _strs,
        "binary_views": _views,
        "freeze": _section(CardFreeze),
        "trainable_params": _opt_int,
        "total_params": _opt_int,
        "weights": _section(CardWeights),
        "pretrained": _bool,
        "patch": _section(CardPatch),
        "data": _section(CardData),
        "split": _section(CardSplit),
        "hyperparameters": _section(CardHyperparameters),
        "seed": _int,
        "metrics": lambda v: {str(k): _mapping(x) for k, x in _mapping(v).items()},
        "history": _mapping,
        "training_seconds": _opt_float,
        "versions": _mapping,
        "created": _str,
        "warnings": _strs,
        "path": _str,
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
        return {("task" if k == "task_name" else k): v for k, v in super().to_json().items()}

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

    @property
    def model_file(self) -> Path:
        """The Keras file of the model (the registry knows the folder's layout)."""
        from mcalc.models.registry import model_file

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
        }
