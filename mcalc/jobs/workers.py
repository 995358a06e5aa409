"""Multi-worker training on one machine, for a try: N ``python -m mcalc train`` processes.

Each worker is the same command as a background job's child (:func:`train_command`) with
its own ``TF_CONFIG`` (:func:`mcalc.models.distributed.local_tf_configs`, free ports on
``localhost``); worker 0 is the chief and registers the model. On a real cluster, start
the same command on every node with that node's ``TF_CONFIG`` instead (docs/guide/scaling.md, "Multi-worker
training").

Example:
    >>> out = run_local_workers(TrainConfig(data="data/demo", epochs=1, batch=8),
    ...                         2, log_dir=Path("runs/try"))  # doctest: +SKIP
    >>> out.model_id, out.exit_codes  # doctest: +SKIP
    ('custom-calcification-...', [0, 0])
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mcalc.config import REPO_ROOT, get_settings
from mcalc.errors import JobError
from mcalc.fileio import atomic_write_json
from mcalc.jobs.manager import train_command
from mcalc.jobs.procs import exit_reason, exit_signal, start_ticks
from mcalc.jobs.run_folders import WORKERS_OUTCOME, WORKERS_PROCESSES
from mcalc.models.distributed import local_tf_configs
from mcalc.models.registry import new_model_id
from mcalc.models.train_config import WORKERS_SUFFIX, TrainConfig
from mcalc.plural import counted
from mcalc.progress import ProgressFn

__all__ = ["MAX_LOCAL_WORKERS", "WorkersResult", "free_ports", "run_local_workers"]

log = logging.getLogger(__name__)

#: Most workers started on one machine (a try, not a cluster).
MAX_LOCAL_WORKERS = 8


@dataclass
class WorkersResult:
    """What the workers did: the model id, each exit code, their logs, the chief's card."""

    model_id: str
    exit_codes: list[int]
    logs: list[Path]
    card: dict[str, Any]
    seconds: float


def free_ports(n: int, host: str = "localhost") -> list[int]:
    """``n`` TCP ports free on ``host`` now (the operating system picks them)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def _env(tf_config: str) -> dict[str, str]:
    env = dict(os.environ)
    env["TF_CONFIG"] = tf_config
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    return env


def run_local_workers(
    config: TrainConfig,
    workers: int,
    *,
    log_dir: Path | None = None,
    timeout: float | None = None,
    progress: ProgressFn | None = None,
) -> WorkersResult:
    """Train ``config`` on ``workers`` local processes with ``MultiWorkerMirroredStrategy``.

    Args:
        config: the run (its strategy becomes ``multiworker``; an id is chosen if it has none).
        workers: number of processes (2 to :data:`MAX_LOCAL_WORKERS`).
        log_dir: where ``config.json``, ``worker<i>.log`` / ``.out`` and ``processes.json``
            (this process and the workers', for ``delete job``) go (default
            ``<runs_dir>/<id>.workers``).
        timeout: seconds before every worker is stopped (``None``: no limit).
        progress: called ``(workers finished, workers, "N workers training")``.

    Raises:
        JobError: a bad number of workers, a worker that failed (the others are stopped)
            or the timeout; the message names the log to read.
    """
    if not 2 <= workers <= MAX_LOCAL_WORKERS:
        raise JobError(f"--workers must be from 2 to {MAX_LOCAL_WORKERS}, got {workers}")
    settings = get_settings()
    models_dir = Path(config.models_dir or settings.models_dir)
    model_id = config.model_id or new_model_id(config.arch, config.task, models_dir)
    config = replace(config, strategy="multiworker", model_id=model_id)
    config.validate()
    runs_dir = Path(config.runs_dir or settings.runs_dir)
    folder = Path(log_dir or runs_dir / f"{model_id}{WORKERS_SUFFIX}")
    folder.mkdir(parents=True, exist_ok=True)
    _name_processes(folder, [os.getpid()])  # first: never deleted while this runs
    (folder / WORKERS_OUTCOME).unlink(missing_ok=True)  # an earlier run's of this id
    config_file = folder / "config.json"
    atomic_write_json(config_file, config.to_json())
    logs = [folder / f"worker{i}.log" for i in range(workers)]
    outs = [folder / f"worker{i}.out" for i in range(workers)]
    t0 = time.perf_counter()
    with ExitStack() as stack:
        procs = [
            subprocess.Popen(
                train_command(config_file),
                env=_env(tf_config),
                stdout=stack.enter_context(out.open("w", encoding="utf-8")),
                stderr=stack.enter_context(log.open("w", encoding="utf-8")),
                cwd=REPO_ROOT,
            )
            for tf_config, log, out in zip(
                local_tf_configs(free_ports(workers)), logs, outs, strict=True
            )
        ]
        # The workers too: killed with this launcher (kill -9), they would run on alone.
        _name_processes(folder, [os.getpid(), *(p.pid for p in procs)])
        try:
            codes = _wait(procs, logs, timeout, progress)
        except JobError as exc:
            _record_failure(folder, str(exc))
            raise
        except BaseException:  # Ctrl+C, or a SIGTERM (`kill`): the workers ran on, unseen
            _stop(procs)
            _record_failure(folder, "the launcher was interrupted: the workers were stopped")
            raise
    card = json.loads(outs[0].read_text(encoding="utf-8") or "{}")
    return WorkersResult(model_id, codes, logs, card, round(time.perf_counter() - t0, 2))


def _name_processes(folder: Path, pids: list[int]) -> None:
    """Write ``folder``'s :data:`~mcalc.jobs.run_folders.WORKERS_PROCESSES`: deleting the run
    (``delete job``) leaves the folder alone while one of them runs."""
    named = [{"pid": pid, "pid_ticks": start_ticks(pid)} for pid in pids]
    atomic_write_json(folder / WORKERS_PROCESSES, {"processes": named})


def _wait(
    procs: list[subprocess.Popen[Any]],
    logs: list[Path],
    timeout: float | None,
    progress: ProgressFn | None,
) -> list[int]:
    """Wait for every worker; stop the rest when one fails or time runs out."""
    t0 = time.monotonic()
    failed: list[int] = []  # the workers seen failed, in the order seen
    # Every worker polled each time (not ``any``, which stopped at the first one running):
    # a worker that dies while the chief runs is seen at once, and named.
    while None in (codes := [p.poll() for p in procs]):
        failed += _newly_failed(codes, failed)
        if progress is not None:
            running = sum(c is None for c in codes)
            progress(len(procs) - running, len(procs), f"{counted(running, 'worker')} training")
        message = ""
        if failed:
            message = _failure(failed[0], codes[failed[0]], logs[failed[0]], stopped=True)
        elif timeout is not None and time.monotonic() - t0 > timeout:
            message = f"the workers ran past {timeout:g} s (they were stopped); see {logs[0]}"
        if message:
            _stop(procs)
            raise JobError(message)
        time.sleep(0.5)
    failed += _newly_failed(codes, failed)
    if failed:
        raise JobError(_failure(failed[0], codes[failed[0]], logs[failed[0]]))
    if progress is not None:
        progress(len(procs), len(procs), "")
    return [int(c) for c in codes if c is not None]


def _newly_failed(codes: list[int | None], seen: list[int]) -> list[int]:
    """The workers failed since ``seen``; of those seen at once, those a signal ended first:
    one worker killed, the others' collective operations fail with it seconds later ("lost
    contact"), and the one killed is the one to name."""
    new = [i for i, c in enumerate(codes) if c not in (None, 0) and i not in seen]
    return sorted(new, key=lambda i: exit_signal(codes[i]) is None)


def _failure(index: int, code: int | None, log: Path, stopped: bool = False) -> str:
    """What a failed worker did: its exit status, or the signal that ended it and what
    that usually means (:func:`~mcalc.jobs.procs.exit_reason`); its own last error line."""
    said = _last_error(log)
    if said:  # after a signal's likely cause, which holds colons of its own
        said = f"{'; it said' if exit_signal(code) else ''}: {said}"
    return f"worker {index} {exit_reason(code)}{said}; see {log}" + (
        "; the other workers were stopped" if stopped else ""
    )


def _record_failure(folder: Path, message: str) -> None:
    """Keep why the run failed in its ``.workers`` folder, for the Train page (a folder
    that cannot be written is only logged: the error is said all the same)."""
    try:
        atomic_write_json(folder / WORKERS_OUTCOME, {"state": "failed", "error": message})
    except OSError as exc:
        log.warning("cannot write %s: %s", folder / WORKERS_OUTCOME, exc)


def _last_error(log: Path) -> str:
    """The worker's last ``error: ...`` line (what the CLI prints when it stops), or ``""``."""
    try:
        tail = log.read_text(encoding="utf-8", errors="replace")[-20_000:]
    except OSError:
        return ""
    lines = [line.strip() for line in tail.splitlines() if line.startswith("error: ")]
    return lines[-1].removeprefix("error: ") if lines else ""


def _stop(procs: list[subprocess.Popen[Any]], grace: float = 10.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
