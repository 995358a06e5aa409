"""Cross-validation folds as parallel Ray tasks (``python -m mcalc crossval --engine ray``).

Each fold (:func:`mcalc.models.crossval.train_fold`) is one Ray task that trains and
registers one model; the driver gets the folds' models in fold order, scores and pools them
as the local engine does, so the same seed gives the same result. The tasks
write to the registry and read the dataset by path: on a cluster of several machines both
must be on storage every node sees, with mcalc installed on every node.

Ray is an optional engine here: without the package, asking for it is an error that says
what to install.

Example:
    >>> import ray  # doctest: +SKIP
    >>> ray.init(num_cpus=2)  # doctest: +SKIP
    >>> run_on_ray(pow, [(2, 3), (3, 2)])  # doctest: +SKIP
    [8, 9]
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mcalc.cluster import NO_GPU_ENV, init_ray
from mcalc.config import REPO_ROOT, prepare_tensorflow
from mcalc.errors import McalcError, ModelError
from mcalc.progress import (
    ProgressFn,
    interruptible,
    pop_stop_hook,
    push_stop_hook,
    reclaim_sigterm,
)

__all__ = ["run_on_ray", "cancel_tasks"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def _task(fn: Callable[..., T], *args: Any) -> T:
    """One call inside a Ray worker (quiet TensorFlow first, as the CLI does), which Ray's
    polite cancel can interrupt (:func:`mcalc.progress.interruptible`)."""
    prepare_tensorflow()
    interruptible()
    return fn(*args)


def run_on_ray(
    fn: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    *,
    address: str | None = None,
    cpus_per_call: float = 1.0,
    progress: ProgressFn | None = None,
) -> list[T]:
    """``[fn(*c) for c in calls]``, each call a Ray task; results in the order of ``calls``.

    Uses the Ray instance this process is connected to; otherwise connects to ``address``
    (``None``: starts a local instance) and disconnects at the end.

    Args:
        fn: a module-level function (Ray ships it by reference).
        calls: the argument tuples.
        address: the Ray cluster when not connected yet.
        cpus_per_call: CPUs Ray reserves for each call (tasks beyond the cluster's CPUs wait).
        progress: called ``(calls done, calls, message)`` as they finish.

    Raises:
        ModelError: Ray is not installed, or a task failed for a reason that is not an
            mcalc error (an mcalc error of a task is raised as it is).
    """
    try:
        import ray
        from ray.exceptions import RayTaskError
    except ImportError as exc:
        raise ModelError(
            "--engine ray needs the ray package: pip install 'ray[data]' (see "
            "requirements.txt), or use --engine local"
        ) from exc
    started = not ray.is_initialized()
    handler = signal.getsignal(signal.SIGTERM)  # the command line's (mcalc.cli.main)
    if started:
        # A local instance's workers import mcalc from this checkout.
        env = {"env_vars": {"PYTHONPATH": str(REPO_ROOT)}} if address is None else None
        init_ray(address=address, runtime_env=env, log_to_driver=False)
    # Ray's start puts its own SIGTERM handlers in place (a stack trace, then abort): the
    # command's stop (push_stop_hook) never came, nor the note of the folds kept.
    reclaim_sigterm(handler)
    stop = threading.Event()
    pending: list[Any] = []
    try:
        # No GPU asked for: none seen (NO_GPU_ENV), as Ray's override on zero GPUs gave.
        no_gpu = {"env_vars": dict(NO_GPU_ENV)}
        remote = ray.remote(num_cpus=cpus_per_call, max_retries=0, runtime_env=no_gpu)(_task)
        refs = [remote.remote(fn, *call) for call in calls]
        pending = list(refs)
        push_stop_hook(stop.set)
        while pending:
            if stop.is_set():  # SIGTERM: ended here, with the tasks, as the interrupt it was
                raise KeyboardInterrupt("stop requested")
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            ray.get(ready)  # a failed task raises here, at once
            if ready and progress is not None:
                progress(len(refs) - len(pending), len(refs), "done on Ray")
        return list(ray.get(refs))
    except RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else None
        if isinstance(cause, McalcError | ValueError):
            raise cause from exc
        raise ModelError(f"a Ray task failed: {exc}") from exc
    finally:
        pop_stop_hook(stop.set)
        cancel_tasks(pending)  # none runs on: on a cluster that outlives this driver, they did
        if started:
            ray.shutdown()


def cancel_tasks(refs: Sequence[Any], grace: float = 5.0) -> int:
    """Cancel the Ray tasks of ``refs`` that have not ended, and wait for them to end.

    A task running is first asked to stop (``ray.cancel``: a ``KeyboardInterrupt`` in it, so
    that a fold's training ends as interrupted and cleans up after itself); one still
    running ``grace`` seconds later is killed (``force=True``: its worker process ends).

    Returns:
        How many tasks were still running when asked.
    """
    import ray

    if not refs:
        return 0
    _, running = ray.wait(list(refs), num_returns=len(refs), timeout=0)
    for ref in running:
        ray.cancel(ref)
    _, left = ray.wait(running, num_returns=len(running), timeout=grace) if running else ([], [])
    for ref in left:
        ray.cancel(ref, force=True)
    if left:
        ray.wait(left, num_returns=len(left), timeout=grace)
    log.info("cancelled %d Ray task(s), %d of them killed", len(running), len(left))
    return len(running)
