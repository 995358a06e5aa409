"""Where a batch run's images are analysed: a process pool here, or a Ray cluster.

Both engines build one :class:`~mcalc.batch.worker.BatchWorker` (one loaded model) per
worker and hand every finished row to ``on_rows`` as it comes, in no particular order;
the caller sorts and saves them. No scheduler of our own:

- :func:`run_local`: :class:`concurrent.futures.ProcessPoolExecutor` with ``spawn``
  (TensorFlow does not survive a ``fork``), one model per process, TensorFlow's threads
  shared out between the processes; one worker runs in this process.
- :func:`run_ray`: Ray Data, ``map_batches`` over an actor pool (one model per actor, a
  GPU per actor when the cluster has GPUs), on the cluster at ``address`` or on a local
  instance started for the run (and stopped after it). A Ray session already started by
  the caller (``ray.init``) is used as it is and left running.

On a cluster, every node must see the model folder and the images at the same paths
(shared storage) and have mcalc and its requirements installed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import multiprocessing
import os
import sys
import time
import types
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from multiprocessing.connection import wait as wait_for_exit
from typing import Any

from mcalc.batch.settings import BatchError, BatchItem, WorkerSpec, default_workers
from mcalc.batch.table import columns_to_rows
from mcalc.batch.worker import BatchWorker
from mcalc.cluster import NO_GPU_ENV, init_ray
from mcalc.config import import_tensorflow_quietly_if_asked
from mcalc.errors import McalcError

__all__ = [
    "RowsFn",
    "run_local",
    "run_ray",
    "ray_available",
    "ActorPlan",
    "plan_actors",
    "oversubscribed",
]

log = logging.getLogger(__name__)

#: Called with rows as they are finished.
RowsFn = Callable[[list[dict[str, Any]]], None]

_worker: BatchWorker | None = None
_worker_error: McalcError | None = None


def _init_process(spec: WorkerSpec) -> None:
    """Pool initializer: this process's model (an error is kept and raised per task)."""
    global _worker, _worker_error
    import_tensorflow_quietly_if_asked()  # before the model loads it (one thread still)
    try:
        _worker = BatchWorker(spec)
    except McalcError as exc:
        _worker_error = exc


def _analyse_chunk(items: list[BatchItem]) -> list[dict[str, Any]]:
    if _worker is None:
        raise _worker_error or BatchError("the worker process has no model")
    return [_worker.analyse(item) for item in items]


def run_local(items: Sequence[BatchItem], spec: WorkerSpec, workers: int, on_rows: RowsFn) -> None:
    """Analyse ``items`` in ``workers`` processes (``1``: in this process).

    Raises:
        ModelError: the model cannot be loaded. BatchError: a worker process died.
    """
    if not items:
        return
    workers = max(1, min(int(workers), len(items)))
    if workers == 1:
        # The command line imports TensorFlow only here then (quietly, as it asked).
        import_tensorflow_quietly_if_asked()
        worker = BatchWorker(replace(spec, engine="local"))
        for item in items:
            on_rows([worker.analyse(item)])
        return
    if warning := oversubscribed(workers, default_workers(), "worker processes"):
        log.warning(warning)
    threads = max(1, default_workers() // workers)
    spec = replace(spec, threads=threads, engine="local")
    todo = list(items)
    for attempt in range(1 + POOL_RETRIES):
        todo, broken = _run_pool(todo, spec, min(workers, len(todo)), threads, on_rows)
        if broken is None or not todo:
            return
        if attempt < POOL_RETRIES:
            log.warning(
                "a batch worker process died (%s); %d image(s) left, trying once more with "
                "new processes",
                broken,
                len(todo),
            )
    raise BatchError(
        f"a worker process died ({broken}), twice: out of memory? Retry with fewer --workers; "
        "finished images are kept"
    ) from broken


#: How many times the images left are given to new processes when a worker process dies
#: (out of memory, a crash in native code). A safety net: the start failure seen in the
#: test suite (a circular-import error in a worker's TensorFlow import) came from the
#: caller's ``__main__`` script run again in every worker, which :func:`_no_main_script`
#: ends.
POOL_RETRIES = 1


def _run_pool(
    items: list[BatchItem], spec: WorkerSpec, workers: int, threads: int, on_rows: RowsFn
) -> tuple[list[BatchItem], BrokenProcessPool | None]:
    """One process pool over ``items``: returns the items not finished and the pool's
    failure when a worker process died (``[]`` and ``None`` when all were done)."""
    others = {p.pid for p in multiprocessing.active_children()}
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_process,
        initargs=(spec,),
    )
    broken: BrokenProcessPool | None = None
    try:
        # The processes start on the first submits.
        with _thread_env(threads), _no_main_script():
            left: dict[Future[list[dict[str, Any]]], BatchItem] = {
                pool.submit(_analyse_chunk, [item]): item for item in items
            }
        pending = set(left)
        while pending and broken is None:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                try:
                    rows = fut.result()
                except BrokenProcessPool as exc:
                    broken = exc
                    continue
                on_rows(rows)
                del left[fut]
    except BaseException:
        # Interrupted (Ctrl-C, a cancelled job) or a worker's error: stop the workers now
        # rather than wait for the images they are on.
        _stop_workers(others, grace_s=0.0)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_workers(others, grace_s=0.0 if broken is not None else EXIT_GRACE_S)
    return list(left.values()), broken


#: How long the pool's processes get to exit once their work is done (they normally take
#: well under a second) before they are stopped.
EXIT_GRACE_S = 30.0


def _stop_workers(others: set[int | None], grace_s: float) -> None:
    """Wait up to ``grace_s`` in all for this call's worker processes (the children not in
    ``others``) to exit, then terminate any left. Every row is handed to ``on_rows`` before
    this runs, so nothing is lost: a worker that hangs on its way out (seen once in the test
    suite on a loaded machine: a spawned TensorFlow process that never exited, and the pool's
    shutdown waited on it for ever; its workers had run the app's page again, see
    :func:`_no_main_script`, the likely cause) no longer holds the run."""
    deadline = time.monotonic() + grace_s
    for child in multiprocessing.active_children():
        if child.pid in others:
            continue
        # Its sentinel, not ``join``/``is_alive``: the pool's own thread joins its processes
        # too, and when it reaps one first, ``waitpid`` here finds no status (ECHILD) and
        # ``is_alive`` said True for a process that had exited.
        if not wait_for_exit([child.sentinel], max(0.0, deadline - time.monotonic())):
            if grace_s > 0:
                log.warning(
                    "batch worker process %s did not exit %.0f s after its work: stopped",
                    child.pid,
                    grace_s,
                )
            child.terminate()
            child.join(5.0)


@contextlib.contextmanager
def _no_main_script() -> Iterator[None]:
    """Processes spawned inside do not run this process's ``__main__`` script again.

    ``spawn`` runs the parent's ``__main__`` module again in every child (as
    ``__mp_main__``), for objects defined there; the pool's processes need none (their work
    and its arguments live in mcalc). Under Streamlit, ``__main__`` is the last script it
    ran in this process (its script runner installs each page as ``__main__``, AppTest's
    too, and leaves it there): every worker ran the app's page again, in bare mode, and the
    page's frame started TensorFlow's warm-up thread (:mod:`mcalc.models.warmup`), whose
    import raced the worker's own: a circular-import error in the worker's ``import
    tensorflow``, seen in the test suite (and a worker that never exited, in a run whose
    workers had run the page too).

    A module without ``__file__`` nor ``__spec__`` (what ``python -c`` has) stands in while
    the processes start; the real one is put back unless someone replaced it meanwhile.
    """
    main = sys.modules.get("__main__")
    stand_in = types.ModuleType("__main__")
    sys.modules["__main__"] = stand_in
    try:
        yield
    finally:
        if sys.modules.get("__main__") is stand_in:
            if main is None:
                del sys.modules["__main__"]
            else:
                sys.modules["__main__"] = main


#: Thread-count variables of the OpenMP and BLAS libraries, read when they load.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def _thread_env(threads: int) -> Iterator[None]:
    """Processes started inside get ``threads`` OpenMP/BLAS threads (what Ray gives its
    workers), unless the user set them; this process's environment is restored after."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    for k in _THREAD_VARS:
        os.environ.setdefault(k, str(threads))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def oversubscribed(workers: int, cores: int, what: str) -> str | None:
    """Why ``workers`` workers (processes, or actors of a local Ray instance) on this
    machine's ``cores`` cores is more than it can run at once; ``None`` when they fit.

    Example:
        >>> oversubscribed(4, 2, "worker processes")[:52]
        '4 worker processes on the 2 cores of this machine: t'
        >>> oversubscribed(2, 2, "worker processes") is None
        True
    """
    if workers <= cores:
        return None
    return (
        f"{workers} {what} on the {cores} cores of this machine: they share the cores (each "
        f"slower, each with its own model in memory); pass --workers {cores} or fewer"
    )


def ray_available() -> bool:
    """Whether Ray is installed here (looked up, not imported: importing it takes seconds)."""
    return importlib.util.find_spec("ray") is not None


def _connect(address: str | None, workers: int | None) -> bool:
    """Join the cluster at ``address`` or start a local instance; whether one was started."""
    import ray

    if ray.is_initialized():
        return False
    try:
        if address:
            init_ray(address=address, log_to_driver=False)
            return False
        # A local instance is given a CPU per actor asked for, so that the pool fits and
        # runs (with fewer CPUs it would wait for ever); more actors than this machine has
        # cores then share them, and that is said here, as the local pool says it.
        cores = default_workers()
        if workers and (warning := oversubscribed(workers, cores, "Ray actors")):
            log.warning(warning)
        init_ray(num_cpus=workers or cores, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise BatchError(
            f"cannot use {where}: {exc}. Check the address (`ray status` on the head node) "
            "or leave --address out to start a local instance"
        ) from exc
    return True


@dataclasses.dataclass(frozen=True)
class ActorPlan:
    """How many actors a Ray run starts and what each asks for, against what the cluster has.

    Attributes:
        size: actors in the pool (all started before the first image).
        num_cpus, num_gpus: what each actor asks for (``num_gpus`` ``None``: no GPU).
        cpus, gpus: the cluster's totals.
    """

    size: int
    num_cpus: float
    num_gpus: float | None
    cpus: float
    gpus: float

    @property
    def remote_args(self) -> dict[str, Any]:
        """What each actor asks Ray for: its CPUs, its GPU share, and with no GPU, no CUDA
        device in its environment (:data:`mcalc.cluster.NO_GPU_ENV`, whatever the cluster's
        ``RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO``).

        Example:
            >>> ActorPlan(2, 1.0, None, 2.0, 0.0).remote_args["runtime_env"]
            {'env_vars': {'CUDA_VISIBLE_DEVICES': ''}}
        """
        if self.num_gpus:
            return {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus}
        env = {"env_vars": dict(NO_GPU_ENV)}
        return {"num_cpus": self.num_cpus, "num_gpus": None, "runtime_env": env}

    @property
    def shortfall(self) -> str | None:
        """Why the pool cannot start on this cluster as it is (``None``: it fits)."""
        need_cpu = self.size * self.num_cpus
        need_gpu = self.size * (self.num_gpus or 0.0)
        if need_cpu <= self.cpus and need_gpu <= self.gpus + 1e-9:
            return None
        gpu = f" and {need_gpu:g} GPU" if need_gpu else ""
        have_gpu = f" and {self.gpus:g} GPU" if need_gpu else ""
        return (
            f"{self.size} Ray actors need {need_cpu:g} CPU{gpu} but the cluster has "
            f"{self.cpus:g} CPU{have_gpu}: the run waits until the cluster grows (Ray's "
            f"'may hang forever' below); pass --workers {max(1, int(self.cpus // self.num_cpus))} "
            "or fewer on a cluster that does not scale up"
        )


def plan_actors(cpus: float, gpus: float, workers: int | None, n_items: int) -> ActorPlan:
    """The actor pool of ``run_ray``: ``workers`` actors (default: one per GPU, else one per
    CPU), at most one per image; each a GPU share, else an even share of the CPUs.

    Example:
        >>> plan_actors(2.0, 0.0, 2, 48)
        ActorPlan(size=2, num_cpus=1.0, num_gpus=None, cpus=2.0, gpus=0.0)
    """
    size = workers or (int(gpus) if gpus >= 1 else int(cpus))
    size = max(1, min(size, n_items))
    num_gpus = min(1.0, gpus / size) if gpus > 0 else None
    num_cpus = 1.0 if num_gpus else max(1.0, float(int(cpus // size)))
    return ActorPlan(size, num_cpus, num_gpus, cpus, gpus)


#: Ray Data's warning when its first operator cannot reserve its minimum resources.
_RAY_LOW_RESOURCES = "Cluster resources are not enough to run any task from"
#: Ray Data's advice, once per process, to give its object store half the memory.
_RAY_OBJECT_STORE = "Ray's object store is configured to use only"
#: The Ray Data logger that gives both.
_RAY_RESOURCE_LOGGER = "ray.data._internal.execution.resource_manager"


class _RayDataNoiseFilter(logging.Filter):
    """Drops the Ray Data warnings that do not apply to a batch run, and only those:

    * "Cluster resources are not enough ... may hang forever" (``drop_low_resources``, for
      a pool that fits the cluster): Ray Data 2.52's first resource reservation runs before
      it has read the cluster's size (its limits are still 0 CPU then,
      ``ResourceManager.update_usages`` reads the cached ``_global_limits`` before
      ``get_global_limits`` first fills it), so any actor pool, even one actor on a 2-CPU
      instance, got it once, then ran. A pool that does not fit is said in our own words
      (:attr:`ActorPlan.shortfall`) and Ray's line is kept.
    * "Ray's object store is configured to use only 42.9% of available memory ... we
      recommend ... at least 50%" (always): advice for pipelines whose blocks are data. A
      batch run's blocks are rows: an image's path and key in, its scores, regions and
      detections out (about 2 kB each, 48 demo rows; maps, with ``--maps``, are written by the
      actor to the output folder, not returned), so Ray's default store (30 % of the
      memory, 5.9 GiB on the 2-core, 23 GiB machine) is thousands of times what a run
      holds, and giving it half the memory of a machine others share would take that
      memory from the actors' TensorFlow for nothing.

    Every other record of the logger, errors included, passes.
    """

    def __init__(self, drop_low_resources: bool) -> None:
        super().__init__()
        self.drop = (
            (_RAY_OBJECT_STORE, _RAY_LOW_RESOURCES) if drop_low_resources else (_RAY_OBJECT_STORE,)
        )

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.WARNING:
            return True
        message = record.getMessage()
        return not any(text in message for text in self.drop)


@contextlib.contextmanager
def _quiet_ray_data_warnings(plan: ActorPlan) -> Iterator[None]:
    """Ray Data's warnings that do not apply to this run dropped while ``plan`` runs
    (:class:`_RayDataNoiseFilter`); a pool that does not fit the cluster is said."""
    shortfall = plan.shortfall
    if shortfall is not None:
        log.warning(shortfall)
    ray_log = logging.getLogger(_RAY_RESOURCE_LOGGER)
    quiet = _RayDataNoiseFilter(drop_low_resources=shortfall is None)
    ray_log.addFilter(quiet)
    try:
        yield
    finally:
        ray_log.removeFilter(quiet)


def run_ray(
    items: Sequence[BatchItem],
    spec: WorkerSpec,
    workers: int | None,
    on_rows: RowsFn,
    *,
    address: str | None = None,
) -> int:
    """Analyse ``items`` with Ray Data on an actor pool of ``workers`` actors; returns the
    pool's size (``0`` when there was nothing to do).

    ``workers`` ``None``: one actor per GPU of the cluster, else one per CPU. With GPUs,
    each actor asks for its share of one (a whole GPU when there are enough).

    Raises:
        BatchError: Ray is missing, the cluster cannot be reached, or the workers failed.
    """
    if not items:
        return 0
    if not ray_available():
        raise BatchError(
            "--engine ray needs Ray Data: pip install the `ray[data]` version pinned in "
            "requirements.txt, or use --engine local"
        )
    import ray
    import ray.data
    from ray.exceptions import RayError

    started = _connect(address, workers and min(workers, len(items)))
    try:
        resources = ray.cluster_resources()
        plan = plan_actors(
            float(resources.get("CPU", 1.0)), float(resources.get("GPU", 0.0)), workers, len(items)
        )
        size, num_cpus, num_gpus = plan.size, plan.num_cpus, plan.num_gpus
        spec = replace(spec, threads=None if num_gpus else int(num_cpus), engine="ray")
        ray.data.DataContext.get_current().enable_progress_bars = False
        ds = ray.data.from_items(
            [item.as_row() for item in items], override_num_blocks=min(len(items), size * 4)
        )
        batch = max(1, min(8, len(items) // (size * 4)))
        mapped = ds.map_batches(
            BatchWorker,
            fn_constructor_args=(spec,),
            batch_size=batch,
            compute=ray.data.ActorPoolStrategy(size=size),
            batch_format="numpy",
            **plan.remote_args,
        )
        log.info("ray: %d actor(s), %.0f CPU and %.2f GPU each", size, num_cpus, num_gpus or 0)
        with _quiet_ray_data_warnings(plan):
            for out in mapped.iter_batches(batch_size=None, batch_format="numpy"):
                on_rows(columns_to_rows(out))
    except RayError as exc:
        if started:
            ray.shutdown()
        raise BatchError(f"the Ray workers failed: {exc}") from exc
    # Not in a ``finally``: interrupted (Ctrl-C, a cancelled job), Ray is left to its exit
    # hook. Shut down then, Ray Data's threads still running called into the shut-down
    # worker and Ray ended the process at once (exit 1, "The core worker has already been
    # shutdown"), before the caller saved the rows done since the last save.
    if started:
        ray.shutdown()
    return size
