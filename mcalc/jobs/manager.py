"""The job queue: submit, schedule, follow and cancel training jobs, one folder each.

Each job lives in ``<runs_dir>/jobs/<job_id>/``:

- ``config.json``: the :class:`~mcalc.models.train_config.TrainConfig` the child runs
  (``python -m mcalc train --config <job>/config.json``), with its model id and folders;
- ``status.json``: state (``queued``, ``running``, ``done``, ``failed``, ``cancelled``),
  PID and process start time, timestamps, exit code, error, model id;
- ``stdout.log`` / ``stderr.log``: the child's output.

The trainer writes its own run folder ``<runs_dir>/<model_id>/`` (``progress.jsonl``) and
deletes it at start, so job bookkeeping stays out of it. Everything is rebuilt from the
folders, so the history survives an app restart; the child runs in its own session, so it
survives a page reload, a closed tab or the app itself.

:func:`reconcile` is the scheduler step: it records jobs whose process has ended (done,
failed with the reason, or cancelled) and starts queued jobs while fewer than
``settings.max_jobs`` run. Every change of state happens under an exclusive lock of
``<runs_dir>/jobs/.lock`` (:func:`mcalc.fileio.file_lock`), so many Streamlit sessions,
threads or processes may call it at once. Files are replaced atomically
(:func:`mcalc.fileio.atomic_write_json`). Whether a model was registered is the registry's
answer (:func:`~mcalc.models.registry.is_registered`), never a look into its folders.

Example:
    >>> from mcalc.jobs import TrainConfig, submit, reconcile, list_jobs  # doctest: +SKIP
    >>> job = submit(TrainConfig(data="data/demo", epochs=1, max_steps=2))  # doctest: +SKIP
    >>> reconcile(); [j.state for j in list_jobs()]  # doctest: +SKIP
    ['running']
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from mcalc.access.admin import check_allowed, record_action
from mcalc.config import REPO_ROOT, Settings, get_settings, prepare_tensorflow
from mcalc.errors import JobError
from mcalc.jobs import procs
from mcalc.jobs.check import check_job
from mcalc.jobs.folders import (
    ACTIVE_STATES,
    CONFIG_FILE,
    FINAL_STATES,
    STATES,
    STDERR_FILE,
    STDOUT_FILE,
    BrokenJob,
    Job,
    all_jobs,
    broken_jobs,
    get_job,
    jobs_root,
    list_jobs,
    locked,
    raw_status,
    save_job,
    write_json,
)
from mcalc.jobs.progress import Progress, quiet_tail, read_progress, tail_text
from mcalc.jobs.run_folders import (
    OrphanRun,
    check_workers_ended,
    orphan_run,
    orphan_runs,
    workers_folder,
)
from mcalc.models.registry import discard_partial, is_registered, new_model_id, resolve_model
from mcalc.models.train_config import TrainConfig

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "DEDUPE_SECONDS",
    "Job",
    "jobs_root",
    "submit",
    "reconcile",
    "cancel",
    "list_jobs",
    "BrokenJob",
    "broken_jobs",
    "orphan_run_folders",
    "get_job",
    "progress",
    "log_tail",
    "ensure_scheduler",
    "train_command",
]

log = logging.getLogger(__name__)

#: An identical configuration submitted again within this many seconds returns the first
#: job (a double click launches once).
DEDUPE_SECONDS = 10.0


def _fingerprint(config: TrainConfig) -> str:
    text = json.dumps(config.to_json(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _model_id(config: TrainConfig, models_dir: Path, jobs: list[Job]) -> str:
    """The job's model id: the one asked for, else a fresh registry id no other job holds."""
    if config.model_id:
        if any(j.model_id == config.model_id and j.state != "failed" for j in jobs):
            raise JobError(
                f"model id {config.model_id!r} is already used by another job: choose another "
                "or leave it empty"
            )
        return config.model_id
    model_id = new_model_id(config.arch, config.task, models_dir)
    if any(j.model_id == model_id for j in jobs):  # queued jobs have not registered yet
        model_id = f"{model_id}-{uuid.uuid4().hex[:6]}"
    return model_id


def submit(
    config: TrainConfig, settings: Settings | None = None, *, start: bool = True, user: str = ""
) -> Job:
    """Check a job, queue it, and (with ``start``) start it if no other job runs.

    Everything is validated before a process is launched (see
    :func:`mcalc.jobs.check.check_job`). The same configuration submitted again within
    :data:`DEDUPE_SECONDS` returns the first job instead of launching twice.

    Args:
        config: what to train. Its data path is made absolute; unset model and run
            folders are taken from ``settings``; an unset model id is chosen here.
        settings: where jobs, runs and models live (default: the environment's).
        start: run a scheduler step right away.
        user: who submits it (kept in the job's status).

    Returns:
        The job (queued, or running if it could start).

    Raises:
        ModelError, DatasetError, JobError: the job cannot run (nothing was launched).
    """
    settings = settings or get_settings()
    config = replace(
        config,
        data=str(Path(config.data).expanduser().resolve()),
        models_dir=str(Path(config.models_dir or settings.models_dir).resolve()),
        runs_dir=str(Path(config.runs_dir or settings.runs_dir).resolve()),
        trained_by=user or config.trained_by,  # the card says who trained it
    )
    check_job(config, settings)
    root = jobs_root(settings)
    fingerprint = _fingerprint(config)
    with locked(root):
        now = time.time()
        jobs = all_jobs(root)
        for other in jobs:
            if other.fingerprint == fingerprint and now - other.created < DEDUPE_SECONDS:
                log.info(
                    "same job submitted %.1f s ago: returning %s", now - other.created, other.id
                )
                other.extra = {**other.extra, "deduplicated": True}
                return other
        models_dir = Path(str(config.models_dir))
        config = replace(config, model_id=_model_id(config, models_dir, jobs))
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
        job_id = f"{stamp}-{config.arch}-{uuid.uuid4().hex[:6]}"
        folder = root / job_id
        job = Job(
            id=job_id,
            folder=folder,
            config=config,
            model_id=str(config.model_id),
            models_dir=str(models_dir),
            run_dir=str(Path(str(config.runs_dir)) / str(config.model_id)),
            created=now,
            fingerprint=fingerprint,
            user=user,
        )
        try:
            folder.mkdir(parents=True)
        except OSError as exc:
            raise JobError(f"cannot create the job folder {folder}: {exc}") from exc
        try:
            write_json(folder / CONFIG_FILE, config.to_json())
            save_job(job)
        except JobError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info("queued job %s (model %s)", job_id, config.model_id)
    if start:
        reconcile(settings)
        job = get_job(job_id, settings)
    return job


def _child_env(settings: Settings, job: Job) -> dict[str, str]:
    env = dict(os.environ)
    env["MCALC_RUNS"] = str(Path(settings.runs_dir).resolve())
    env["MCALC_MODELS"] = job.models_dir
    env["PYTHONUNBUFFERED"] = "1"
    # As the command line's own start does (a level set here before it runs reads as the
    # user's: a job submitted from a script that had not prepared TensorFlow logged the
    # cuInit error of a machine without a GPU). The user's own values are kept.
    prepare_tensorflow(env)
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    return env


def train_command(config_file: Path) -> list[str]:
    """The child's command line: ``python -m mcalc train --config <config_file> --json``."""
    return [
        sys.executable,
        "-m",
        "mcalc",
        "--log-level",
        "INFO",
        "train",
        "--config",
        str(config_file),
        "--json",
    ]


def _start(job: Job, settings: Settings) -> None:
    cmd = train_command(job.folder / CONFIG_FILE)
    try:
        job.pid, job.pid_ticks = procs.launch(
            cmd,
            cwd=REPO_ROOT,
            env=_child_env(settings, job),
            stdout=job.folder / STDOUT_FILE,
            stderr=job.folder / STDERR_FILE,
        )
    except OSError as exc:
        job.state, job.ended = "failed", time.time()
        job.error = f"could not start the training process: {exc}"
        save_job(job)
        return
    job.state, job.started = "running", time.time()
    job.extra = {**job.extra, "command": cmd}
    try:
        save_job(job)
    except JobError as exc:
        # Still "queued" on disk, the trainer would run unseen and be started again by
        # the next step: stop it; the job starts once its folder can be written.
        with contextlib.suppress(RuntimeError):
            procs.stop_group(job.pid, job.pid_ticks, grace=2.0)
        procs.forget_owned(job.pid)
        raise JobError(f"{exc} (the training process it had started was stopped)") from exc
    log.info("started job %s as pid %d", job.id, job.pid)


def _error_line(stderr: str) -> str | None:
    """The command's last word: its error, or how a signal not sent by :func:`cancel` ended
    it (``python -m mcalc``'s "terminated: nothing was registered")."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line[len("error: ") :].strip()
        if line.startswith(("terminated", "interrupted")):
            return f"the training process was {line.strip()}"
    return None


def _finish(job: Job, exit_code: int | None) -> None:
    """Record the outcome of a job whose process has ended."""
    job.ended = job.ended or time.time()
    job.exit_code = exit_code
    prog = read_progress(job.progress_path)
    if is_registered(job.models_dir, job.model_id):  # registration is atomic: complete
        folder = resolve_model(job.model_id, job.models_dir)
        job.state, job.model_path, job.error = "done", str(folder), None
    elif job.cancel_requested:
        job.state, job.error = "cancelled", "cancelled by the user"
    else:
        job.state = "failed"
        stderr = tail_text(job.folder / STDERR_FILE, lines=200)
        job.error_tail = quiet_tail(job.folder / STDERR_FILE, lines=20) or None
        if exit_code is not None and exit_code < 0:
            reason = f"the training process {procs.exit_reason(exit_code)}"
        elif exit_code == 0:
            reason = "the training process exited without registering a model"
        else:
            reason = _error_line(stderr) or prog.message or ""
            if not reason:
                reason = (
                    f"the training process exited with status {exit_code}"
                    if exit_code is not None
                    else "the training process ended without writing a final status "
                    "(killed from outside, out of memory, or the machine restarted)"
                )
        job.error = reason
    if job.state != "done":
        # A killed trainer may leave a half-written registration: only this job's is removed.
        discard_partial(job.models_dir, job.model_id)
    save_job(job)
    if job.pid:
        procs.forget_owned(job.pid)
    log.info("job %s %s%s", job.id, job.state, f": {job.error}" if job.error else "")


def reconcile(settings: Settings | None = None, max_running: int | None = None) -> list[Job]:
    """One scheduler step: record ended jobs, then start queued ones (oldest first).

    Safe to call from many threads and processes at once (it holds the folder lock).

    Args:
        settings: where jobs live (default: the environment's).
        max_running: jobs allowed to run at once (default ``settings.max_jobs``).

    Returns:
        Every job after the step, newest first.
    """
    settings = settings or get_settings()
    limit = max(1, int(max_running if max_running is not None else settings.max_jobs))
    root = jobs_root(settings)
    with locked(root):
        codes = procs.reap_owned()
        jobs = all_jobs(root)
        for job in jobs:
            if job.state != "running":
                continue
            code = codes.get(job.pid or -1)
            if code is not None or not procs.is_alive(job.pid, job.pid_ticks):
                _finish(job, code)
        running = sum(1 for j in jobs if j.state == "running")
        for job in sorted((j for j in jobs if j.state == "queued"), key=lambda j: j.created):
            if running >= limit:
                break
            _start(job, settings)
            running += job.state == "running"
    jobs.sort(key=lambda j: (j.created, j.id), reverse=True)
    return jobs


def cancel(job_id: str, settings: Settings | None = None, grace: float = 5.0) -> Job:
    """Cancel a job: a queued one never starts; a running one's process group gets
    SIGTERM, then SIGKILL after ``grace`` seconds. Returns when no process of it is left.

    Raises:
        JobError: no such job, it already ended, or its processes could not be stopped.
    """
    settings = settings or get_settings()
    root = jobs_root(settings)
    with locked(root):
        job = get_job(job_id, settings)
        if job.state in FINAL_STATES:
            raise JobError(f"job {job_id} already ended ({job.state}): nothing to cancel")
        if job.state == "queued":
            job.state, job.ended, job.error = (
                "cancelled",
                time.time(),
                "cancelled before it started",
            )
            save_job(job)
            return job
        job.cancel_requested = True
        save_job(job)
        pid, ticks = job.pid, job.pid_ticks
    if pid:
        try:
            how = procs.stop_group(pid, ticks, grace=grace)
        except RuntimeError as exc:
            raise JobError(f"could not stop job {job_id}: {exc}") from exc
        log.info("job %s: process group %d %s", job_id, pid, how)
    with locked(root):
        job = get_job(job_id, settings)
        if job.state == "running":
            code = procs.reap_owned().get(pid or -1)
            _finish(job, code)
    reconcile(settings)  # the next queued job may start
    return get_job(job_id, settings)


def orphan_run_folders(
    settings: Settings | None = None,
    jobs: Sequence[Job] | None = None,
    broken: Sequence[BrokenJob] | None = None,
) -> list[OrphanRun]:
    """The training run folders of ``<runs_dir>`` that no job (readable or not) and no
    registered model owns, each with why it cannot be deleted yet
    (:func:`~mcalc.jobs.run_folders.orphan_runs`): :func:`delete_job` deletes the others.
    ``jobs`` and ``broken``: :func:`list_jobs` and :func:`broken_jobs` when the caller has
    read them already (else read here)."""
    settings = settings or get_settings()
    jobs = list_jobs(settings) if jobs is None else jobs
    broken = broken_jobs(settings) if broken is None else broken
    dirs = [j.run_dir for j in jobs]
    dirs += [str(raw_status(b.folder).get("run_dir") or "") for b in broken]
    return orphan_runs(settings.runs_dir, settings.models_dir, dirs)


def _deletable(job_id: str, settings: Settings) -> tuple[Path, str]:
    """The folder of job ``job_id`` and its run folder, when the job may be deleted: it has
    ended, or its folder cannot be read (damaged, or half made by a killed process) and no
    process it names still runs; else a training run folder ``<runs_dir>/<job_id>`` that no
    job nor registered model owns, whose process has ended (:func:`orphan_run`; its run
    folder ``""``). Hold :func:`locked`.

    Raises:
        JobError: no such job, or it is queued or running.
    """
    try:
        job = get_job(job_id, settings)
    except JobError:
        broken = next((b for b in broken_jobs(settings) if b.id == str(job_id)), None)
        if broken is None:
            dirs = [j.run_dir for j in list_jobs(settings)]
            run = orphan_run(job_id, settings.runs_dir, settings.models_dir, dirs)
            if run is None:
                raise
            return run, ""
        status = raw_status(broken.folder)
        pid, ticks = status.get("pid"), status.get("pid_ticks")
        if (
            status.get("state") in ACTIVE_STATES
            and isinstance(pid, int)
            and procs.is_alive(pid, ticks if isinstance(ticks, int) else None)
        ):
            raise JobError(
                f"job {job_id}'s folder cannot be read but its process {pid} is still running: "
                "stop it first, then delete the job"
            ) from None
        return broken.folder, str(status.get("run_dir") or "")
    if job.active:
        raise JobError(f"job {job_id} is {job.state}: cancel it first, then delete it")
    return job.folder, job.run_dir


def delete_job(
    job_id: str, settings: Settings | None = None, *, role: str | None, user: str = ""
) -> None:
    """Delete a finished job's folder and its run folder (admins only); record who did it.

    A folder that cannot be read (:func:`broken_jobs`: damaged, or half made by a killed
    process) is deleted too, unless the process its status names still runs, and so is the
    run folder ``<runs_dir>/<job_id>`` of a ``python -m mcalc train`` killed outside the job
    queue (:func:`~mcalc.jobs.run_folders.orphan_run`: no job, no registered model of that
    id, its process ended), with what it left half-registered. A multi-worker run's
    ``<runs_dir>/<id>.workers`` (config and worker logs) goes with its run folder, or alone,
    unless a process it names still runs (:func:`~mcalc.jobs.run_folders.check_workers_ended`).

    The model a job registered stays in the registry (delete it with
    :func:`mcalc.models.registry.delete_model`).

    Raises:
        NotAllowed: ``role`` may not delete jobs.
        JobError: no such job, or it is queued or running (cancel it first).
    """
    check_allowed(role, "delete_job", user)
    settings = settings or get_settings()
    root = jobs_root(settings)
    if not root.is_dir():  # no jobs folder (or its lock) made for nothing
        if orphan_run(job_id, settings.runs_dir, settings.models_dir, ()) is None:
            raise JobError(f"no job {job_id!r}: {root} holds no jobs (check MCALC_RUNS)")
        root.mkdir(parents=True, exist_ok=True)  # its lock and admin log
    with locked(root):
        folder, run_dir = _deletable(job_id, settings)
        runs = Path(settings.runs_dir).resolve()
        ours = not run_dir or Path(run_dir).parent == runs  # a run folder of this runs folder
        run_id = Path(run_dir).name if run_dir else str(job_id)
        workers = workers_folder(runs, run_id)  # a multi-worker run's config and worker logs
        if ours:
            check_workers_ended(workers, run_id, run_ended=True)
        if folder.parent != root:  # a run folder no job owns (a killed `mcalc train`)
            discard_partial(settings.models_dir, str(job_id))
        trash = root / f".deleted-{folder.name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(folder, trash)
        except OSError as exc:
            raise JobError(f"cannot delete job {job_id}: {exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)
        if run_dir and ours:
            shutil.rmtree(run_dir, ignore_errors=True)  # the trainer's logs of this job
        if ours and workers.is_dir():
            shutil.rmtree(workers, ignore_errors=True)
        record_action(root, "delete_job", folder.name, user, str(role))
    log.info("job %s deleted by %s (%s)", job_id, user or "-", role)


def progress(job: Job) -> Progress:
    """The job's training progress, from the trainer's ``progress.jsonl``."""
    n_stages = len(job.config.stage_plan())
    return read_progress(job.progress_path, n_stages=n_stages, total_epochs=job.config.epochs)


def log_tail(job: Job, lines: int = 30, stream: str = "stderr", *, raw: bool = False) -> str:
    """The last ``lines`` lines of the job's ``stderr`` (default) or ``stdout``.

    Unless ``raw``, TensorFlow's start-up messages (CUDA probes, CPU features) are left
    out and counted in one line, so the training lines show.
    """
    path = job.folder / (STDERR_FILE if stream == "stderr" else STDOUT_FILE)
    return tail_text(path, lines=lines) if raw else quiet_tail(path, lines=lines)


_schedulers: dict[str, threading.Thread] = {}
_schedulers_lock = threading.Lock()


def _scheduler_loop(settings: Settings, interval: float) -> None:
    key = str(jobs_root(settings))
    try:
        while True:
            try:
                jobs = reconcile(settings)
            except JobError as exc:
                log.warning("job scheduler: %s", exc)
                jobs = []
            if not any(j.active for j in jobs):
                return
            time.sleep(interval)
    finally:
        with _schedulers_lock:
            if _schedulers.get(key) is threading.current_thread():
                del _schedulers[key]


def ensure_scheduler(settings: Settings | None = None, interval: float = 2.0) -> bool:
    """Keep a daemon thread reconciling every ``interval`` seconds while jobs are active,
    so the queue advances (and ended children are reaped) even when no page is watching.

    Returns:
        Whether a new thread was started (``False``: one already runs, or nothing to do).
    """
    settings = settings or get_settings()
    key = str(jobs_root(settings))
    with _schedulers_lock:
        thread = _schedulers.get(key)
        if thread is not None and thread.is_alive():
            return False
        if not any(j.active for j in list_jobs(settings)):
            return False
        thread = threading.Thread(
            target=_scheduler_loop, args=(settings, interval), name="mcalc-jobs", daemon=True
        )
        _schedulers[key] = thread
        thread.start()
    return True
