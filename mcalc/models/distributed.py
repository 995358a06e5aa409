"""Training on several machines: TensorFlow's ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``.

Every worker runs the same ``python -m mcalc train --strategy multiworker --id ID`` with its
own ``TF_CONFIG`` (the standard TensorFlow cluster description: the same ``cluster`` on every
node, a different ``task`` each). The workers train one model in lockstep: each feeds its own
shard of the training stream (:func:`distributed_input`: worker ``i`` of ``n`` takes elements
``i, i + n, ...`` of the seeded class-balanced stream, with the augmentation seeds that
element has in a single-process run), gradients are all-reduced, and the chief (task
``chief``, else worker 0) alone evaluates and registers the model; the others wait at a
final :func:`barrier` so that none exits while the chief still writes.

This module reads ``TF_CONFIG`` without TensorFlow (:func:`cluster_from_env`); the rest imports
it inside the functions.

Example (two workers on one machine; ``python -m mcalc train-workers`` does this for you):
    >>> import json
    >>> spec = {"cluster": {"worker": ["localhost:12345", "localhost:12346"]},
    ...         "task": {"type": "worker", "index": 1}}
    >>> role = cluster_from_env({"TF_CONFIG": json.dumps(spec)})
    >>> role.workers, role.index, role.is_chief
    (2, 1, False)
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcalc.errors import ModelError
from mcalc.progress import reclaim_sigterm

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

__all__ = [
    "TRAINING_TASK_TYPES",
    "WorkerRole",
    "cluster_from_env",
    "local_tf_configs",
    "worker_role",
    "multiworker_strategy",
    "select_strategy",
    "prepare_model",
    "distributed_input",
    "barrier",
    "lost_workers",
]

#: Task types that train (``ps`` and ``evaluator`` tasks do not run this strategy).
TRAINING_TASK_TYPES = ("chief", "worker")


@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster named by ``TF_CONFIG``.

    Attributes:
        workers: training tasks in the cluster (chief and workers).
        index: this task's rank among them (the chief is 0).
        task_type, task_index: the task as ``TF_CONFIG`` names it.
        is_chief: this task evaluates and registers the model.
    """

    workers: int
    index: int
    task_type: str
    task_index: int
    is_chief: bool


def _bad(detail: str) -> ModelError:
    return ModelError(
        f"TF_CONFIG is not a usable cluster description: {detail}. Expected JSON like "
        '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
        '"index": 0}}; see docs/guide/scaling.md, "Multi-worker training"'
    )


def cluster_from_env(environ: Mapping[str, str]) -> WorkerRole | None:
    """The role ``TF_CONFIG`` gives this process; ``None`` when it names no cluster.

    Raises:
        ModelError: ``TF_CONFIG`` is not JSON, or its task is not in its cluster.
    """
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(f"not JSON ({exc})") from exc
    if not isinstance(spec, dict):
        raise _bad(f"expected a JSON object, got {type(spec).__name__}")
    cluster = spec.get("cluster") or {}
    task = spec.get("task") or {}
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise _bad("'cluster' and 'task' must be objects")
    if not cluster:
        return None
    chiefs = list(cluster.get("chief") or [])
    workers = list(cluster.get("worker") or [])
    if len(chiefs) > 1:
        raise _bad(f"at most one chief, got {len(chiefs)}")
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in TRAINING_TASK_TYPES:
        raise _bad(f"task type must be one of {TRAINING_TASK_TYPES}, got {task_type!r}")
    members = chiefs if task_type == "chief" else workers
    if not isinstance(task_index, int) or not 0 <= task_index < len(members):
        raise _bad(f"task {task_type} {task_index!r} is not in the cluster's {len(members)}")
    rank = task_index if task_type == "chief" else len(chiefs) + task_index
    return WorkerRole(
        workers=len(chiefs) + len(workers),
        index=rank,
        task_type=str(task_type),
        task_index=int(task_index),
        is_chief=rank == 0,
    )


def worker_role(kind: str, environ: Mapping[str, str]) -> WorkerRole | None:
    """This process's role in a multi-worker run with distribution ``kind``, or ``None``
    for a one-process run: ``multiworker`` always reads ``TF_CONFIG``; ``auto`` does when it
    names several workers.

    Raises:
        ModelError: a malformed ``TF_CONFIG``, or ``multiworker`` without one.
    """
    if kind not in ("auto", "multiworker"):
        return None
    role = cluster_from_env(environ)
    if kind == "multiworker" and role is None:
        raise ModelError(
            "strategy 'multiworker' needs TF_CONFIG naming the cluster and this worker's "
            "task (or run `python -m mcalc train-workers --workers N` to try it here)"
        )
    return role if role is not None and (kind == "multiworker" or role.workers > 1) else None


def local_tf_configs(ports: list[int], host: str = "localhost") -> list[str]:
    """``TF_CONFIG`` of each of ``len(ports)`` workers on one machine (worker 0 is chief)."""
    cluster = {"worker": [f"{host}:{p}" for p in ports]}
    return [
        json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        for i in range(len(ports))
    ]


def select_strategy(kind: str = "auto") -> Any:
    """The ``tf.distribute`` strategy: over the workers of ``TF_CONFIG`` (see
    :func:`worker_role`), else mirrored over several GPUs (or CPUs when asked). Call it
    before other TensorFlow work: a multi-worker strategy must come first."""
    import os

    if worker_role(kind, os.environ) is not None:
        return multiworker_strategy()
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if kind == "mirrored" or (kind == "auto" and len(gpus) > 1):
        devices = gpus if len(gpus) > 1 else tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
    return tf.distribute.get_strategy()


def multiworker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """The strategy of the cluster in ``TF_CONFIG``.

    Call it before any other TensorFlow work of the process: collective operations can only
    be configured while TensorFlow's runtime has not started.

    Raises:
        ModelError: no cluster in ``TF_CONFIG``, or TensorFlow had already started.
    """
    import os

    import tensorflow as tf

    role = cluster_from_env(os.environ)
    if role is None:
        raise ModelError(
            "multi-worker training needs TF_CONFIG naming the cluster and this worker's task "
            "(or run `python -m mcalc train-workers --workers N` to try it on one machine)"
        )
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        # Its coordination service puts a native SIGTERM handler of its own (preemption
        # notices) in place of Python's: a worker sent SIGTERM trained on to the end, and
        # registered the model while its launcher said "terminated".
        reclaim_sigterm()
        return strategy
    except RuntimeError as exc:
        raise ModelError(
            f"cannot start multi-worker training in this process ({exc}): create the "
            "strategy before any other TensorFlow work (run `python -m mcalc train` afresh)"
        ) from exc


def prepare_model(model: keras.Model) -> None:
    """Let Keras 3's ``fit`` run under a multi-worker strategy (call before ``fit``).

    Keras 3.15 cannot: it reduces the first batch across workers to build the model
    symbolically, and reduces each replica's scalar metrics with ``axis=0`` (keras-team/keras
    issue 20585). Here the model defers its build to the traced step (it takes the
    strategy from the scope ``fit`` runs in, see :func:`distributed_input`), and its train
    and test steps return one-element metrics, whose mean across replicas Keras then
    computes. Epoch-end logs are read from the metrics' synchronised state: the same on
    every worker, so early stopping and checkpoints agree.
    """
    import tensorflow as tf

    def one_element(step: Callable[[Any], dict[str, Any]]) -> Callable[[Any, Any], Any]:
        def wrapped(self: Any, data: Any) -> dict[str, Any]:
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

        return wrapped

    if getattr(model, "_mcalc_multiworker", False):
        return
    model.train_step = types.MethodType(one_element(model.train_step), model)
    model.test_step = types.MethodType(one_element(model.test_step), model)
    model._distribute_strategy = None  # see the docstring
    model._mcalc_multiworker = True


def distributed_input(
    strategy: tf.distribute.Strategy,
    batch: int,
    make: Callable[[int, tuple[int, int]], tf.data.Dataset],
) -> Any:
    """Each worker's shard of a training stream, for ``fit`` (inside ``strategy.scope()``).

    Args:
        strategy: the multi-worker strategy.
        batch: global batch size (across every replica of every worker).
        make: ``make(per_replica_batch, (shards, shard))`` builds one worker's stream.

    Raises:
        ModelError: ``batch`` does not divide evenly among the replicas.
    """
    replicas = int(strategy.num_replicas_in_sync)
    if batch % replicas:
        raise ModelError(
            f"batch {batch} does not divide among {replicas} replicas: choose a multiple "
            f"of {replicas} (e.g. {max(replicas, batch - batch % replicas)})"
        )

    def per_worker(ctx: tf.distribute.InputContext) -> tf.data.Dataset:
        shard = (int(ctx.num_input_pipelines), int(ctx.input_pipeline_id))
        return make(int(ctx.get_per_replica_batch_size(batch)), shard)

    return strategy.distribute_datasets_from_function(per_worker)


def barrier(strategy: tf.distribute.Strategy, done: bool) -> bool:
    """Wait for every worker; whether any of them passed ``done`` (the chief's verdict)."""
    import tensorflow as tf

    per_replica = strategy.run(lambda: tf.constant(1.0 if done else 0.0))
    return float(strategy.reduce("SUM", per_replica, axis=None)) > 0


#: A task named in TensorFlow's error text: ``/job:worker/replica:0/task:1``.
_TASK_RE = re.compile(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)")


def lost_workers(role: WorkerRole | None, exc: BaseException) -> ModelError | None:
    """The error of a multi-worker run's collective operation that failed because another
    worker stopped, crashed or cannot be reached, said as such (TensorFlow's own, an
    ``UnavailableError`` of gRPC detail, read as a bug in mcalc); ``None`` for any other error.

    TensorFlow ends such a wait by itself: within seconds of the other worker's exit
    (connection refused or reset), or once it has missed its heartbeats (a frozen worker).
    """
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError)
    text = str(exc)
    if role is None or not (isinstance(exc, lost) or "Collective ops is aborted" in text):
        return None
    me = (role.task_type, role.task_index)
    tasks = sorted({(job, int(i)) for job, i in _TASK_RE.findall(text)} - {me})
    who = ", ".join(f"{job} {i}" for job, i in tasks) or "another worker"
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [""]
    first = next((line for line in lines if "aborted by" in line), lines[0])
    return ModelError(
        f"worker {role.index} lost {who} during training (it stopped, crashed or cannot be "
        f"reached; its log says why): {first[:300]}"
    )
