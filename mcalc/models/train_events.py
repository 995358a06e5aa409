"""What a training run tells the world while it runs, and how it is asked to stop.

Every event is a JSON line of ``<runs_dir>/<id>/progress.jsonl`` (another process, the app,
follows the run from it), a log line for the events a person reads, and a call of the
caller's :data:`TrainEventFn`. :class:`StopRequest` stops a fit at the end of a batch: a
cancelled job's SIGTERM must not raise inside TensorFlow's step function (that surfaces
as a ``SystemError`` instead of an orderly interruption).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from mcalc.plural import counted
from mcalc.progress import pop_stop_hook, push_stop_hook

__all__ = [
    "TrainEvent",
    "TrainEventFn",
    "ProgressLogger",
    "StopRequest",
    "StopOnRequest",
    "emit_event",
    "mark_failed",
    "this_process",
]

log = logging.getLogger("mcalc.models.training")

#: One training event (``start``, ``sampling``, ``patches``, ``stage``, ``batch``, ``epoch``,
#: ``threshold``, ``done``, ``failed``, ``interrupted``): a JSON-able dict, one line of
#: ``progress.jsonl``.
TrainEvent = dict[str, Any]
#: Receives each :data:`TrainEvent`; unlike :data:`mcalc.progress.ProgressFn` it carries the
#: whole event, not a count.
TrainEventFn = Callable[[TrainEvent], None]


class StopRequest:
    """A request to stop training, safe to set from a signal handler.

    While a fit runs (:attr:`fitting`), a SIGTERM of ``python -m mcalc`` only sets the
    request (:func:`mcalc.progress.push_stop_hook`) and :class:`StopOnRequest` ends the fit
    after the current batch; the trainer then raises ``KeyboardInterrupt`` itself, outside
    TensorFlow. Outside a fit the SIGTERM interrupts at once, as in every command.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._fitting = False

    @property
    def fitting(self) -> bool:
        """Whether TensorFlow runs the training now (a fit, hard-negative mining): while
        it does, :meth:`set` is the process's stop hook."""
        return self._fitting

    @fitting.setter
    def fitting(self, value: bool) -> None:
        if value and not self._fitting:
            push_stop_hook(self.set)
        elif not value and self._fitting:
            pop_stop_hook(self.set)
        self._fitting = value

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


class StopOnRequest(keras.callbacks.Callback):
    """Ends a fit at the end of the batch during which a :class:`StopRequest` was set.

    ``at_once`` (a worker of a multi-worker run): raise ``KeyboardInterrupt`` there instead
    of letting the fit end its epoch. The epoch's end runs collective operations (the
    validation) that the other workers, still training, never join: a worker stopped so
    failed with "Shape mismatch in the collective instance", and the others with it. Its
    exit ends the others' collectives within seconds ("unhealthy tasks").
    """

    def __init__(self, request: StopRequest, *, at_once: bool = False) -> None:
        super().__init__()
        self.request = request
        self.at_once = at_once

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self.request.fitting = True

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        self.request.fitting = False

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        if self.request.is_set():
            if self.at_once:
                raise KeyboardInterrupt("stop requested")
            self.model.stop_training = True


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
        progress: TrainEventFn | None = None,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.steps = steps
        self.epochs = epochs
        self.stage = stage
        self.progress = progress
        self.epoch = 0
        self.t0 = time.perf_counter()

    def emit(self, event: TrainEvent) -> None:
        emit_event(self.path, self.progress, event)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
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

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
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


def _log_line(event: TrainEvent) -> str | None:
    """One readable log line for the events a person follows (not batches)."""
    kind = event.get("event")
    if kind == "start":
        return f"training {event.get('model_id')}"
    if kind == "patches":
        counts = {k: v for k, v in event.items() if k in ("train", "val", "test")}
        return f"patches sampled: {counts}"
    if kind == "stage":
        return (
            f"stage {event['stage']}: freeze {event.get('strategy')}, {counted(event['epochs'], 'epoch')}, "
            f"lr {event['lr']:g}, {event.get('trainable_params', 0):,} parameters trainable"
        )
    if kind == "epoch":
        shown = " ".join(
            f"{k} {v:.4f}"
            for k, v in event.items()
            if k.startswith(("loss", "acc", "val_")) and isinstance(v, float)
        )
        return f"{event['stage']} epoch {event['epoch']}/{event['epochs']}: {shown}"
    return None


def emit_event(path: Path, progress: TrainEventFn | None, event: TrainEvent) -> None:
    event = {"time": round(time.time(), 3), **event}
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(event) + "\n")
    line = _log_line(event)
    if line:
        log.info(line)
    if progress is not None:
        progress(event)


def mark_failed(run_dir: Path, model_id: str, event: TrainEvent) -> None:
    """Write the run folder's ``FAILED`` file (:data:`mcalc.models.layout.FAILED_FILE`)
    for a run that ends with ``event`` (``failed`` or ``interrupted``) and registers
    nothing: the folder then says so itself, beside its ``progress.jsonl``, and no listing
    of models reads it as one (:func:`mcalc.models.registry.load_card`)."""
    from mcalc.fileio import atomic_write_text
    from mcalc.models.layout import FAILED_FILE

    message = event.get("message")
    why = f"training of {model_id} {event.get('event', 'failed')}" + (
        f": {message}" if message else ""
    )
    atomic_write_text(
        Path(run_dir) / FAILED_FILE,
        f"{why}\nNothing was registered: this folder is not a model. progress.jsonl is the "
        "run's record; best-*.weights.h5, when present, are its checkpoints.\n",
    )


def this_process() -> dict[str, int | None]:
    """This process as a run's ``start`` event records it (``pid``, and ``pid_ticks``: its
    start time, as job folders keep it), so that ``delete job`` never removes the folder of
    a run that still runs (:func:`mcalc.jobs.run_folders.orphan_run`)."""
    from mcalc.jobs.procs import start_ticks

    return {"pid": os.getpid(), "pid_ticks": start_ticks(os.getpid())}
