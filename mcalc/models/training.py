"""Training: patches -> split by patient -> tf.data -> fit -> test metrics -> registry.

:func:`train` runs one job described by a :class:`TrainConfig` and returns the registered
model. Progress goes to a callback and, as JSON lines, to ``<runs_dir>/<id>/progress.jsonl``
so that another process (the app) can follow the run. The model appears in the registry
only when complete (see :func:`mcalc.models.registry.register_model`).

Runs on a GPU without changes (mixed precision there), with
``tf.distribute.MirroredStrategy`` when several GPUs are visible (or when asked with
``strategy="mirrored"``, which on a CPU uses the logical CPU devices), and on several
machines with ``MultiWorkerMirroredStrategy`` (``strategy="multiworker"``, or ``auto`` under a
``TF_CONFIG`` cluster; see :mod:`mcalc.models.distributed`): only the chief registers.
Every run writes TensorBoard logs, and MLflow ones when ``MLFLOW_TRACKING_URI`` is set
(:mod:`mcalc.models.tracking`).

The run's data (dataset, split, patches) is prepared by :mod:`mcalc.models.train_data`, its
card built by :mod:`mcalc.models.train_card`; this module fits and registers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mcalc.config import get_settings
from mcalc.errors import McalcError, ModelError
from mcalc.models.architectures import ArchSpec, arch_spec, build_model, copy_weights
from mcalc.models.card import ModelCard
from mcalc.models.data import eval_dataset, predict_array, steps_per_epoch, train_dataset
from mcalc.models.distributed import (
    WorkerRole,
    barrier,
    lost_workers,
    select_strategy,
    worker_role,
)
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.freeze import FreezeReport, apply_freeze, default_lr
from mcalc.models.hard_negatives import mine_hard_negatives
from mcalc.models.metrics import classification_metrics
from mcalc.models.patches import PatchSet, input_channels
from mcalc.models.registry import (
    CARD_FILE,
    LOG_FILE,
    MODEL_FILE,
    check_new_id,
    discard_partial,
    is_registered,
    load_card,
    new_model_id,
    register_model,
)
from mcalc.models.tasks import get_task, task_classes
from mcalc.models.tracking import (
    MlflowRun,
    open_mlflow,
    run_params,
    tee_events,
    tensorboard_dir,
    tracking_event,
)
from mcalc.models.train_card import CardJson, Fitted, card_json, log_config, package_versions
from mcalc.models.train_config import HARD_NEGATIVE_STAGE, TrainConfig
from mcalc.models.train_data import TrainData, prepare_data
from mcalc.models.train_events import (
    ProgressLogger,
    StopOnRequest,
    StopRequest,
    TrainEvent,
    TrainEventFn,
    emit_event,
    mark_failed,
    this_process,
)
from mcalc.models.weights import WeightsInfo, apply_weights, resolve_weights

__all__ = [
    "TrainConfig",
    "TrainEvent",
    "TrainEventFn",
    "TrainResult",
    "ProgressLogger",
    "StopRequest",
    "train",
    "dataset_fingerprint",
    "package_versions",
    "select_strategy",
]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """A registered model: its id, folder and card (``chief`` is false on the other workers
    of a multi-worker run: the chief registered the model, whose card they may not see)."""

    model_id: str
    path: Path
    card: ModelCard = field(default_factory=ModelCard)
    chief: bool = True


def _seed_everything(seed: int, gpu: bool) -> bool:
    """Seed everything; whether TensorFlow's kernels are deterministic (the card says)."""
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:  # on GPUs some ops have no deterministic kernel and would raise: it stays off
        return not gpu and tf.config.experimental.enable_op_determinism() is None
    except (RuntimeError, AttributeError) as exc:
        log.info("op determinism unavailable: %s", exc)
        return False


def _compile(model: keras.Model, lr: float, gpu: bool) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=lr),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        # XLA pays off on GPUs; on CPUs it doubles the (already long) first-step compile time.
        jit_compile="auto" if gpu else False,
    )


@dataclass
class _Run:
    """What a run knows before data is read: names, folders, weights, the event sink."""

    config: TrainConfig
    spec: ArchSpec
    classes: tuple[str, ...]
    model_id: str
    models_dir: Path
    run_dir: Path
    winfo: WeightsInfo
    progress: TrainEventFn | None
    callbacks: Sequence[keras.callbacks.Callback]
    stop: StopRequest
    role: WorkerRole | None = None
    mlflow: MlflowRun | None = None

    def check_stop(self) -> None:
        """Raise ``KeyboardInterrupt`` (outside TensorFlow) when a stop was requested."""
        if self.stop.is_set():
            raise KeyboardInterrupt("stop requested")

    @property
    def log_path(self) -> Path:
        return self.run_dir / "progress.jsonl"

    @property
    def is_chief(self) -> bool:
        """Whether this process registers the model (always, in a one-process run)."""
        return self.role is None or self.role.is_chief

    def emit(self, event: TrainEvent) -> None:
        emit_event(self.log_path, self.progress, event)


def _start_run(
    config: TrainConfig,
    progress: TrainEventFn | None,
    callbacks: Sequence[keras.callbacks.Callback],
    stop: StopRequest,
    role: WorkerRole | None = None,
) -> _Run:
    """Check the configuration, choose the id and weights, and start a clean run folder
    (a private temporary one on a worker that is not the chief)."""
    config.validate()
    if role is not None and config.model_id is None:
        raise ModelError(
            "multi-worker training needs a model id (--id): every worker must name the same model"
        )
    settings = get_settings()
    models_dir = Path(config.models_dir or settings.models_dir)
    runs_dir = Path(config.runs_dir or settings.runs_dir)
    spec = arch_spec(config.arch)
    model_id = config.model_id or new_model_id(spec.name, config.task, models_dir)
    check_new_id(models_dir, model_id, named_dir=bool(config.models_dir))
    winfo = resolve_weights(spec.name, config.weights, len(input_channels(config.input)))
    if role is not None and not role.is_chief:
        run_dir = Path(tempfile.mkdtemp(prefix=f"mcalc-{model_id}-worker{role.index}-"))
    else:
        run_dir = runs_dir / model_id
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        # What a killed earlier run of this id left half-registered (a job's is removed
        # when the job ends; a command-line run killed outright cannot clean up itself).
        discard_partial(models_dir, model_id)
    run = _Run(
        config=config,
        spec=spec,
        classes=tuple(task_classes(config.task)),
        model_id=model_id,
        models_dir=models_dir,
        run_dir=run_dir,
        winfo=winfo,
        progress=progress,
        callbacks=(*callbacks, StopOnRequest(stop, at_once=role is not None)),
        stop=stop,
        role=role,
    )
    start = {"event": "start", "model_id": model_id, **this_process()}  # who: see delete job
    run.emit({**start, "config": log_config(config)})
    return run


def _start_tracking(run: _Run) -> None:
    """Start the MLflow run (when asked for) on the chief and tee the events to it."""
    if not run.is_chief:
        return
    params = run_params(run.config.to_json(), {"workers": run.role.workers if run.role else 1})
    tags = {"mcalc.model_id": run.model_id, "mcalc.architecture": run.spec.name}
    run.mlflow = open_mlflow(run.model_id, params, tags)
    run.progress = tee_events(run.mlflow, run.progress)
    run.emit(tracking_event(run.mlflow))


def _build(run: _Run, size: int, gpu: bool, strategy: Any) -> keras.Model:
    """The model (mixed precision on a GPU) with its starting weights, under ``strategy``."""
    previous_policy = keras.config.dtype_policy().name
    if gpu:
        keras.config.set_dtype_policy("mixed_float16")
    try:
        with strategy.scope():
            model = build_model(
                run.spec.name,
                size,
                len(run.classes),
                imagenet=run.winfo.source == "imagenet-keras-cache",
                channels=len(input_channels(run.config.input)),
            )
            apply_weights(model, run.spec.name, run.winfo)
    finally:
        keras.config.set_dtype_policy(previous_policy)
    if run.role is not None:
        from mcalc.models.distributed import prepare_model

        prepare_model(model)
    return model


def _fit_stages(run: _Run, data: TrainData, gpu: bool, strategy: Any) -> Fitted:
    """Build the model, then for each stage: freeze, recompile, fit; the ``hardneg`` stage
    of hard-negative mining mines first and fits on without either."""
    config, spec = run.config, run.spec
    deterministic = _seed_everything(config.seed, gpu)
    model = _build(run, data.patch.size, gpu, strategy)
    history: dict[str, dict[str, list[float]]] = {}
    stages: list[CardJson] = []
    lr_used: list[float] = []
    report: FreezeReport | None = None
    mined: CardJson | None = None
    steps: int | None = None
    plan = config.stage_plan()
    for i, (stage, strategy_name, epochs) in enumerate(plan):
        # The next stage's strategy (two stages: the fine-tuning after the head), which
        # decides whether random frozen layers stay random.
        then = next((s for name, s, _ in plan[i + 1 :] if name != HARD_NEGATIVE_STAGE), None)
        if stage == HARD_NEGATIVE_STAGE and report is not None:
            # Same layers, same optimiser (no recompile: Adam's moments carry on), and as
            # many batches per epoch as the stage before, so mining changes what the
            # batches hold, not how many there are.
            run.check_stop()
            done = sum(len(h.get("loss", [])) for h in history.values())
            data, mined = _mine(run, data, model, after_epoch=done)
            # The freeze record of the stage (the layers of the one before); what was mined
            # is the card's hard_negatives' alone.
            stages.append({**stages[-1], "stage": stage, "epochs": epochs})
            lr_used.append(lr_used[-1])
            run.emit({"event": "stage", **stages[-1]})
            history[stage] = _fit_stage(
                model, data.sets, run, strategy, epochs=epochs, stage=stage, steps=steps
            )
            run.check_stop()
            continue
        with strategy.scope():
            report = apply_freeze(
                model,
                spec.name,
                strategy_name,
                boundary=config.boundary,
                pretrained=run.winfo.pretrained,
                then=then,
            )
            lr = config.lr or default_lr(spec.name, strategy_name, run.winfo.pretrained)
            if i > 0:
                lr = lr / 10.0  # fine-tuning after a trained head: small steps
            _compile(model, lr, gpu)  # recompile: trainable flags changed
        lr_used.append(lr)
        stages.append({"stage": stage, "epochs": epochs, "lr": lr, **report.as_dict()})
        run.emit({"event": "stage", **stages[-1]})
        run.check_stop()
        history[stage] = _fit_stage(model, data.sets, run, strategy, epochs=epochs, stage=stage)
        steps = _steps(run, data.sets["train"])
        run.check_stop()  # a stop during the fit ended it early: do not go on as if done
    if report is None:  # the plan always has a stage; this guards a future empty one
        raise ModelError("no training stage was planned")
    return Fitted(model, strategy, gpu, history, stages, report, lr_used, mined, deterministic)


def _mine(
    run: _Run, data: TrainData, model: keras.Model, after_epoch: int
) -> tuple[TrainData, CardJson]:
    """Mine hard negatives on the training patients and add them to the training set."""
    train_set = data.sets["train"]
    # Mining runs TensorFlow too: a stop (SIGTERM) only flags the request, as during a fit,
    # and the check before each image raises it outside TensorFlow.
    was_fitting, run.stop.fitting = run.stop.fitting, True
    try:
        found = mine_hard_negatives(
            model,
            data.index,
            data.split.train,
            data.patch,
            run.config.hard_negatives,
            task=run.config.task,
            classes=run.classes,
            progress=lambda event: run.emit(event),
            check_stop=run.check_stop,
        )
    finally:
        run.stop.fitting = was_fitting
    summary = found.summary(run.config.hard_negatives, HARD_NEGATIVE_STAGE, after_epoch)
    run.emit({"event": "hard_negatives", **summary})
    extra = found.patches
    if not np.isin(extra.case_ids, list(data.split.train)).all():  # the rule, checked
        raise ModelError("hard negatives were mined outside the training patients")
    merged = PatchSet(
        np.concatenate([train_set.x, extra.x.reshape((-1, *train_set.x.shape[1:]))]),
        np.concatenate([train_set.y, extra.y]),
        np.concatenate([train_set.case_ids, extra.case_ids]),
        np.concatenate([train_set.keys, extra.keys]),
        train_set.classes,
        list(train_set.notes),
        dict(train_set.skipped),
    )
    return replace(data, sets={**data.sets, "train": merged}), summary


def _steps(run: _Run, train: PatchSet) -> int:
    """Batches per epoch of a stage on ``train``."""
    steps = steps_per_epoch(train.y, run.config.batch, len(run.classes), run.config.balance)
    return min(steps, run.config.max_steps) if run.config.max_steps else steps


def _fit_stage(
    model: keras.Model,
    sets: dict[str, PatchSet],
    run: _Run,
    strategy: Any,
    *,
    epochs: int,
    stage: str,
    steps: int | None = None,
) -> dict[str, list[float]]:
    """Fit one stage (``steps`` batches per epoch; ``None``: one pass over the largest
    class per class when balancing, see :func:`~mcalc.models.data.steps_per_epoch`)."""
    config, n_classes = run.config, len(run.classes)
    train, val = sets["train"], sets["val"]
    steps = steps or _steps(run, train)

    def stream(batch: int, shard: tuple[int, int]) -> Any:
        return train_dataset(
            train.x,
            train.y,
            n_classes,
            batch,
            seed=config.seed,
            balance=config.balance,
            augment_data=config.augment,
            shard=shard,
        )

    if run.role is not None:
        from mcalc.models.distributed import distributed_input

        ds = distributed_input(strategy, config.batch, stream)
    else:
        ds = stream(config.batch, (1, 0))
    val_ds = eval_dataset(val.x, val.y, n_classes, config.batch)
    best = run.run_dir / f"best-{stage}.weights.h5"
    cbs: list[keras.callbacks.Callback] = [
        ProgressLogger(
            run.log_path, steps=steps, epochs=epochs, stage=stage, progress=run.progress
        ),
        keras.callbacks.ModelCheckpoint(
            str(best), monitor="val_loss", save_best_only=True, save_weights_only=True
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=config.patience, restore_best_weights=False
        ),
        keras.callbacks.TerminateOnNaN(),
        *run.callbacks,
    ]
    if run.is_chief:
        cbs.append(
            keras.callbacks.TensorBoard(
                str(tensorboard_dir(run.run_dir) / stage), write_graph=False, profile_batch=0
            )
        )
    # A multi-worker model takes its strategy from the scope fit runs in (prepare_model).
    with strategy.scope() if run.role is not None else contextlib.nullcontext():
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


def _evaluate(run: _Run, data: TrainData, fitted: Fitted) -> tuple[keras.Model, CardJson]:
    """The model to save (float32) and its metrics on the validation and test patients."""
    model = fitted.model
    if fitted.gpu or run.role is not None:
        # A plain float32 twin: CPUs load it at full speed, and a multi-worker model's
        # predict would be spread over (and wait for) the other workers.
        model = _float32_copy(model)
    views: dict[str, Sequence[str]] = dict(get_task(run.config.task).binary_views_dict())
    metrics = {}
    for name in ("val", "test"):
        proba = predict_array(model, data.sets[name].x, batch=run.config.batch)
        metrics[name] = classification_metrics(
            data.sets[name].y, proba, run.classes, binary_views=views
        )
    return model, metrics


def _register(run: _Run, model: keras.Model, card: CardJson) -> Path:
    """Save the model, its card and the run's log into the registry, atomically."""

    def write(folder: Path) -> None:
        model.save(folder / MODEL_FILE)
        (folder / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
        shutil.copyfile(run.log_path, folder / LOG_FILE)
        logs = tensorboard_dir(run.run_dir)
        if logs.is_dir():
            shutil.copytree(logs, tensorboard_dir(folder))

    return register_model(run.models_dir, run.model_id, write)


def train(
    config: TrainConfig,
    progress: TrainEventFn | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    stop: StopRequest | None = None,
    after_register: Callable[[Path, TrainEventFn], CardJson] | None = None,
) -> TrainResult:
    """Train, evaluate on held-out patients and register a model.

    Args:
        config: the run.
        progress: receives every event (sampling, batches, epochs, stages) as a dict.
        callbacks: extra Keras callbacks.
        stop: set it (from a signal handler, another thread) to stop at the end of the
            current batch; the run then ends as interrupted. Without one, the run's own:
            ``python -m mcalc``'s SIGTERM sets it during a fit (``StopRequest.fitting``).
        after_register: on the chief, once the model is registered and before ``done``
            (a job reads as running meanwhile): given its folder and the event callback, it
            returns the card as it left it (``train --operating-point`` chooses the decision
            threshold here; mcalc.models cannot import the analysis it takes).

    Returns:
        The registered model's id, folder and card.

    Raises:
        ModelError: bad configuration, unfitting weights, an interrupted run or a write
            failure (nothing is registered then).
        DatasetError: the dataset is unusable for the task (too few patients, no
            annotations).
    """
    import tensorflow as tf

    role = worker_role(config.strategy, os.environ)
    run = _start_run(config, progress, callbacks, stop or StopRequest(), role)
    t_start = time.perf_counter()
    strategy: Any = None
    fitted: Fitted | None = None
    registered = False
    try:
        # The strategy comes before any other TensorFlow work: a multi-worker one must.
        strategy = select_strategy(config.strategy)
        _start_tracking(run)
        data = prepare_data(run.config, run.spec.patch_size, run.emit, run.progress)
        fitted = _fit_stages(run, data, bool(tf.config.list_physical_devices("GPU")), strategy)
        if not run.is_chief:
            return _follow_chief(run, strategy)
        model, metrics = _evaluate(run, data, fitted)
        seconds = round(time.perf_counter() - t_start, 2)
        card = card_json(
            run.config,
            model_id=run.model_id,
            arch=run.spec.name,
            classes=run.classes,
            weights=run.winfo,
            workers=run.role.workers if run.role else 1,
            mlflow=run.mlflow,
            data=data,
            fitted=fitted,
            metrics=metrics,
            seconds=seconds,
        )
        path = _register(run, model, card)
        registered = True
    except KeyboardInterrupt as exc:
        _failed(run, {"event": "interrupted"}, "KILLED")
        raise ModelError(
            f"training of {run.model_id} was interrupted: nothing was registered"
        ) from exc
    except McalcError as exc:
        _failed(run, {"event": "failed", "message": str(exc)}, "FAILED")
        raise
    except tf.errors.ResourceExhaustedError as exc:
        _failed(run, {"event": "failed", "message": "out of memory"}, "FAILED")
        raise ModelError(
            f"out of memory while training {run.spec.name}: lower --batch or the patch size"
        ) from exc
    except Exception as caught:  # any other failure (TensorFlow's, a library's, a lost worker)
        said = lost_workers(run.role, caught) or caught
        _failed(run, {"event": "failed", "message": f"{type(said).__name__}: {said}"}, "FAILED")
        raise said from (caught if said is not caught else caught.__cause__)
    finally:
        run.stop.fitting = False  # a fit that raised never called on_train_end
        if run.role is not None and run.is_chief and fitted is not None:
            barrier(strategy, registered)  # the other workers wait for the registration
        if not run.is_chief:
            shutil.rmtree(run.run_dir, ignore_errors=True)
    if after_register is not None:
        card = after_register(path, run.emit)
    if run.mlflow is not None:
        run.mlflow.finish(card, path)
    run.emit({"event": "done", "model_id": run.model_id, "path": str(path)})
    return TrainResult(
        run.model_id, path, ModelCard.from_json(card).located(run.model_id, path.resolve())
    )


def _failed(run: _Run, event: TrainEvent, mlflow_status: str) -> None:
    """End a run that registers nothing: its ``progress.jsonl`` ends with ``event`` (the
    record that it failed, as a job's ``status.json`` says; the run never reads as going
    on) and its ``FAILED`` file, and no half-made model folder of its id is left beside the
    registry."""
    emit_event(run.log_path, None, event)
    if run.is_chief:
        mark_failed(run.run_dir, run.model_id, event)
        discard_partial(run.models_dir, run.model_id)
    if run.mlflow is not None:
        run.mlflow.end(mlflow_status)


def _follow_chief(run: _Run, strategy: Any) -> TrainResult:
    """A worker that is not the chief: wait until the chief has registered the model."""
    role = run.role
    if not barrier(strategy, False):
        raise ModelError(
            f"worker {role.index if role else '?'}: the chief did not register "
            f"{run.model_id}; see the chief's log"
        )
    path = run.models_dir / run.model_id
    # The registry is the chief's: on another machine this worker may not see it.
    card = load_card(path) if is_registered(run.models_dir, run.model_id) else ModelCard()
    return TrainResult(run.model_id, path, card, chief=False)


def _float32_copy(model: keras.Model) -> keras.Model:
    """A float32 twin of a mixed-precision model, so CPUs load it at full speed: the same
    graph cloned (a rebuild without ImageNet weights lacked EfficientNet's ImageNet rescaling)."""

    def float32(layer: Any) -> Any:
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    twin = keras.models.clone_model(model, clone_function=float32)
    copy_weights(model, twin)
    return twin
