"""Experiment tracking: TensorBoard logs of every run, and MLflow when it is asked for.

Every training run writes TensorBoard logs into ``<runs_dir>/<id>/tensorboard/<stage>/``
while it runs; the registry keeps a copy beside the model (``tensorboard/`` in its folder),
so ``tensorboard --logdir <models_dir>`` shows every registered model's curves.

When ``MLFLOW_TRACKING_URI`` is set, :func:`open_mlflow` starts an MLflow run (experiment
``MLFLOW_EXPERIMENT_NAME``, default ``mcalc``) holding the run's parameters, and
:class:`MlflowRun` logs each epoch's metrics as the training events arrive
(:meth:`MlflowRun.on_event`), then the model card and the model file. MLflow is optional:
``pip install mlflow-skinny`` (or ``mlflow``); a set URI without it is an error that says so.
The MLflow calls go through a client object (``mlflow.MlflowClient``, or any object with
its methods), so a test can pass its own.

This module imports neither TensorFlow nor MLflow at load; the Train page reads
:func:`run_links` to point at both.

Example:
    >>> links = TrackingLinks(tensorboard_dir="/runs/m1/tensorboard")
    >>> links.tensorboard_command
    'tensorboard --logdir /runs/m1/tensorboard'
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mcalc.errors import ModelError
from mcalc.models.layout import CARD_FILE, MODEL_FILE, TENSORBOARD_DIR

__all__ = [
    "TENSORBOARD_DIR",
    "URI_ENV",
    "EXPERIMENT_ENV",
    "DEFAULT_EXPERIMENT",
    "MlflowRun",
    "TrackingLinks",
    "open_mlflow",
    "run_params",
    "run_links",
    "shown_uri",
    "tee_events",
    "tensorboard_dir",
    "tracking_event",
]

log = logging.getLogger(__name__)

#: MLflow's own variables: where runs go, and under which experiment.
URI_ENV = "MLFLOW_TRACKING_URI"
EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
DEFAULT_EXPERIMENT = "mcalc"
#: Largest parameter value MLflow stores (longer values are cut).
_MAX_PARAM = 500


def shown_uri(uri: str) -> str:
    """``uri`` as it may be written and shown: a password in it (basic auth,
    ``https://ana:s3cret@host``, which the HTTP client sends) replaced by ``***``.

    >>> shown_uri("https://ana:s3cret@mlflow.example.org:5000/x"), shown_uri("file:///m")
    ('https://ana:***@mlflow.example.org:5000/x', 'file:///m')
    """
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def tensorboard_dir(run_dir: str | Path) -> Path:
    """The TensorBoard log folder of a run folder (or of a registered model's folder)."""
    return Path(run_dir) / TENSORBOARD_DIR


def run_params(config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """MLflow parameters of a run: its configuration (and ``extra``), as text."""
    out: dict[str, str] = {}
    for key, value in {**dict(config), **dict(extra or {})}.items():
        text = value if isinstance(value, str) else json.dumps(value)
        out[key] = text[:_MAX_PARAM]
    return out


@dataclass
class MlflowRun:
    """One MLflow run fed by a training run's events.

    Attributes:
        client: ``mlflow.MlflowClient`` or an object with its methods (``create_run``,
            ``log_param``, ``log_metric``, ``log_dict``, ``log_artifact``,
            ``log_artifacts``, ``set_terminated``).
        tracking_uri, experiment_id, run_id: where the run is.
        errors: exceptions of the client that only stop the logging (a tracking server
            that goes away must not end hours of training); the first is logged.
    """

    client: Any
    tracking_uri: str
    experiment_id: str
    run_id: str
    errors: tuple[type[BaseException], ...] = (OSError,)
    epochs_logged: int = 0
    broken: str = ""

    @property
    def url(self) -> str | None:
        """The run's page in the MLflow UI, when the tracking URI is a server."""
        if not self.tracking_uri.startswith(("http://", "https://")):
            return None
        base = shown_uri(self.tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def as_dict(self) -> dict[str, Any]:
        """The card's ``tracking.mlflow`` entry (no password: :func:`shown_uri`)."""
        return {
            "tracking_uri": shown_uri(self.tracking_uri),
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "url": self.url,
        }

    def _call(self, method: str, *args: Any, **kwargs: Any) -> None:
        if self.broken:
            return
        try:
            getattr(self.client, method)(self.run_id, *args, **kwargs)
        except self.errors as exc:
            self.broken = f"{method}: {exc}"
            log.warning("MLflow logging stopped (%s); training goes on", self.broken)

    def log_params(self, params: Mapping[str, str]) -> None:
        for key, value in params.items():
            self._call("log_param", key, value)

    def on_event(self, event: Mapping[str, Any]) -> None:
        """A training event: each ``epoch`` event's numbers become metrics at the next
        step (epochs count on across the stages of a two-stage run)."""
        if event.get("event") != "epoch":
            return
        self.epochs_logged += 1
        for key, value in event.items():
            if key in ("event", "stage", "epoch", "epochs", "time", "seconds"):
                continue
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._call("log_metric", key, float(value), step=self.epochs_logged)

    def finish(self, card: Mapping[str, Any], model_folder: Path) -> None:
        """Log the card, the model and its TensorBoard logs, and close the run."""
        self._call("log_dict", dict(card), CARD_FILE)
        self._call("log_artifact", str(Path(model_folder) / MODEL_FILE), "model")
        tb = tensorboard_dir(model_folder)
        if tb.is_dir():
            self._call("log_artifacts", str(tb), TENSORBOARD_DIR)
        self.end("FINISHED")

    def end(self, status: str) -> None:
        """Close the run as ``FINISHED``, ``FAILED`` or ``KILLED``."""
        self._call("set_terminated", status=status)


def open_mlflow(
    run_name: str,
    params: Mapping[str, str],
    tags: Mapping[str, str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    client: Any = None,
) -> MlflowRun | None:
    """Start an MLflow run when ``MLFLOW_TRACKING_URI`` is set; ``None`` when it is not.

    Args:
        run_name: the run's name (the model id).
        params: its parameters (:func:`run_params`).
        tags: extra tags.
        environ: the environment (default ``os.environ``).
        client: an MLflow client to use instead of ``mlflow.MlflowClient(uri)``.

    Raises:
        ModelError: the URI is set but MLflow is not installed, or the tracking store
            cannot be reached.
    """
    env = os.environ if environ is None else environ
    uri = env.get(URI_ENV, "").strip()
    if not uri:
        return None
    errors: tuple[type[BaseException], ...] = (OSError,)
    mlflow: Any = None
    if client is None:
        try:
            import mlflow as mlflow_module
            from mlflow.exceptions import MlflowException
        except ImportError as exc:
            raise ModelError(
                f"{URI_ENV} is set ({shown_uri(uri)}) but the mlflow package is not installed: "
                f"`pip install mlflow-skinny` (or mlflow), or unset {URI_ENV}"
            ) from exc
        mlflow = mlflow_module
        errors = (MlflowException, OSError)
    name = env.get(EXPERIMENT_ENV, "").strip() or DEFAULT_EXPERIMENT
    try:
        if client is None:  # a store MLflow refuses (file stores are opt-in) raises here
            client = mlflow.MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found is not None else client.create_experiment(name)
        run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags or {}))
    except errors as exc:
        raise ModelError(
            f"cannot start an MLflow run at {shown_uri(uri)} (experiment {name!r}): {exc}; check "
            f"{URI_ENV}, or unset it to train without MLflow"
        ) from exc
    out = MlflowRun(client, uri, str(experiment_id), str(run.info.run_id), errors)
    out.log_params(params)
    return out


def tee_events(
    mlflow: MlflowRun | None, outer: Callable[[dict[str, Any]], None] | None
) -> Callable[[dict[str, Any]], None] | None:
    """An event sink feeding ``mlflow`` (when there is one) and then ``outer``."""
    if mlflow is None:
        return outer

    def tee(event: dict[str, Any]) -> None:
        mlflow.on_event(event)
        if outer is not None:
            outer(event)

    return tee


def tracking_event(mlflow: MlflowRun | None) -> dict[str, Any]:
    """The ``tracking`` event of a run's log: where its TensorBoard logs and MLflow run are
    (the MLflow run is what :func:`run_links` reads back).

    The TensorBoard folder is named relative to the log's own folder (``tensorboard``):
    it lies beside the log in the run's folder, and beside its copy in the registered
    model's folder, so the log names no one's machine (an absolute run folder in a
    committed model's log did)."""
    return {
        "event": "tracking",
        "tensorboard": TENSORBOARD_DIR,
        "mlflow": mlflow.as_dict() if mlflow else {},
    }


@dataclass(frozen=True)
class TrackingLinks:
    """Where a run's curves can be looked at."""

    tensorboard_dir: str = ""
    mlflow_run_id: str = ""
    mlflow_url: str | None = None
    mlflow_uri: str = ""

    @property
    def tensorboard_command(self) -> str:
        """The command that serves the TensorBoard logs."""
        return f"tensorboard --logdir {shlex.quote(self.tensorboard_dir)}"


def run_links(progress_path: str | Path, model_path: str | Path | None = None) -> TrackingLinks:
    """Tracking of a run: its model's copy of the logs once registered, else the run
    folder's; the MLflow run named by its ``tracking`` event."""
    run_dir = Path(progress_path).parent
    folder = Path(model_path) if model_path and tensorboard_dir(model_path).is_dir() else run_dir
    tb = tensorboard_dir(folder)
    mlflow: Mapping[str, Any] = {}
    try:
        with Path(progress_path).open(encoding="utf-8") as f:
            for line in f:
                if '"tracking"' in line:
                    event = json.loads(line)
                    if event.get("event") == "tracking":
                        mlflow = event.get("mlflow") or {}
                        break
    except (OSError, json.JSONDecodeError):
        pass  # no log yet, or one being written: no MLflow link this time
    return TrackingLinks(
        tensorboard_dir=str(tb) if tb.is_dir() else "",
        mlflow_run_id=str(mlflow.get("run_id") or ""),
        mlflow_url=mlflow.get("url"),
        mlflow_uri=str(mlflow.get("tracking_uri") or ""),
    )
