"""Job folders: the :class:`Job` record, its files, the lock, and reading them back.

Each job lives in ``<runs_dir>/jobs/<job_id>/`` (``config.json``, ``status.json``,
``stdout.log``, ``stderr.log``; see :mod:`mcalc.jobs.manager`, which submits, schedules and
cancels them). Every change of state happens under an exclusive lock of
``<runs_dir>/jobs/.lock`` (:func:`locked`) and files are replaced atomically, so many
sessions, threads or processes may read and write the folders at once.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcalc.config import Settings, get_settings
from mcalc.errors import JobError, McalcError
from mcalc.fileio import LockTimeout, atomic_write_json, file_lock
from mcalc.models.train_config import TrainConfig

__all__ = [
    "STATES",
    "ACTIVE_STATES",
    "FINAL_STATES",
    "CONFIG_FILE",
    "STATUS_FILE",
    "STDOUT_FILE",
    "STDERR_FILE",
    "Job",
    "BrokenJob",
    "jobs_root",
    "list_jobs",
    "broken_jobs",
    "get_job",
]

log = logging.getLogger(__name__)

STATES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
ACTIVE_STATES = frozenset({"queued", "running"})
FINAL_STATES = frozenset({"done", "failed", "cancelled"})
CONFIG_FILE = "config.json"
STATUS_FILE = "status.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
_LOCK_FILE = ".lock"
_LOCK_TIMEOUT_S = 30.0


@dataclass
class Job:
    """One training job, as its folder describes it.

    Attributes:
        id: job id (the folder's name).
        folder: ``<runs_dir>/jobs/<id>``.
        config: what to train.
        state: one of :data:`STATES`.
        model_id: the registry id the trainer writes.
        models_dir: the registry; run_dir: the trainer's run folder (``progress.jsonl``).
        created, started, ended: UNIX times (``None`` until reached).
        pid, pid_ticks: the child's PID and start time (clock ticks since boot).
        exit_code: the child's exit status when known (negative: killed by a signal).
        error: why a job failed (one line); error_tail: the end of its stderr.
        cancel_requested: a cancel was asked for while it ran.
        fingerprint: hash of the configuration (double-submit protection).
        model_path: the registered model's folder when done.
        user: who submitted it (the signed-in user; empty without accounts).
    """

    id: str
    folder: Path
    config: TrainConfig
    state: str = "queued"
    model_id: str = ""
    models_dir: str = ""
    run_dir: str = ""
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    pid: int | None = None
    pid_ticks: int | None = None
    exit_code: int | None = None
    error: str | None = None
    error_tail: str | None = None
    cancel_requested: bool = False
    fingerprint: str = ""
    model_path: str | None = None
    user: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Queued or running."""
        return self.state in ACTIVE_STATES

    @property
    def seconds(self) -> float | None:
        """Run time so far (running) or in all (finished); ``None`` before the start."""
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    @property
    def progress_path(self) -> Path:
        """The trainer's ``progress.jsonl``."""
        return Path(self.run_dir) / "progress.jsonl"

    def status_dict(self) -> dict[str, Any]:
        """What ``status.json`` holds."""
        out = asdict(self)
        out.pop("folder")
        out.pop("config")
        return out


def jobs_root(settings: Settings | None = None) -> Path:
    """``<runs_dir>/jobs``: one folder per job."""
    return Path((settings or get_settings()).runs_dir) / "jobs"


#: What to do when the runs folder cannot be written.
_RUNS_TODO = "make it writable, or point MCALC_RUNS at a writable folder"


def _write_error(path: Path, exc: OSError) -> JobError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return JobError(f"disk full while writing {path}: free space and retry")
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return JobError(f"cannot write {path}: the folder is read-only; {_RUNS_TODO}")
    return JobError(f"cannot write {path}: {exc}")


def _folder_error(root: Path, exc: OSError) -> JobError:
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return JobError(
            f"cannot use the job folder {root}: it is read-only or not writable by this user "
            f"(jobs keep their state there); {_RUNS_TODO}"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return JobError(f"cannot use the job folder {root}: the disk is full; free some space")
    return JobError(f"cannot use the job folder {root}: {exc}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` with ``data`` atomically; a full disk is a :class:`JobError`."""
    atomic_write_json(path, data, indent=2, error=_write_error)


def load_job(folder: Path) -> Job:
    try:
        status = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
        config = TrainConfig.from_file(folder / CONFIG_FILE)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, McalcError) as exc:
        raise JobError(f"{folder}: unreadable job folder ({exc})") from exc
    if not isinstance(status, dict) or status.get("state") not in STATES:
        raise JobError(f"{folder}: {STATUS_FILE} holds no known state")
    known = {k: v for k, v in status.items() if k in Job.__dataclass_fields__}
    known.pop("folder", None)
    known.pop("config", None)
    known["id"] = folder.name
    return Job(folder=folder, config=config, **known)


def save_job(job: Job) -> None:
    """Write ``status.json`` of ``job`` (atomically; hold :func:`locked` to change state)."""
    write_json(job.folder / STATUS_FILE, job.status_dict())


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Exclusive lock of the job folders (between processes and threads alike)."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                file_lock(
                    root, timeout_s=_LOCK_TIMEOUT_S, lock_name=_LOCK_FILE, error=_folder_error
                )
            )
        except LockTimeout as exc:
            raise JobError(
                f"the job folder {root} stayed locked for {_LOCK_TIMEOUT_S:.0f} s; "
                "another mcalc process holds it: retry"
            ) from exc
        yield


@dataclass(frozen=True)
class BrokenJob:
    """A job folder that cannot be read: its files damaged, or half made by a process
    killed between them. :func:`list_jobs` leaves it out; ``delete job`` removes it."""

    id: str
    folder: Path
    reason: str


def _job_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [f for f in sorted(root.iterdir()) if f.is_dir() and not f.name.startswith(".")]


def all_jobs(root: Path) -> list[Job]:
    """Every readable job folder under ``root``, by folder name (unreadable ones skipped:
    :func:`broken_jobs` names them)."""
    jobs: list[Job] = []
    for folder in _job_folders(root):
        try:
            jobs.append(load_job(folder))
        except JobError as exc:
            log.warning("skipping job folder: %s", exc)
    return jobs


def broken_jobs(settings: Settings | None = None) -> list[BrokenJob]:
    """The job folders :func:`list_jobs` leaves out because they cannot be read, with why."""
    out = []
    for folder in _job_folders(jobs_root(settings)):
        try:
            load_job(folder)
        except JobError as exc:
            out.append(BrokenJob(folder.name, folder, str(exc)))
    return out


def raw_status(folder: Path) -> dict[str, Any]:
    """What a job folder's ``status.json`` holds, as far as it can be read (``{}`` if not)."""
    try:
        status = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return status if isinstance(status, dict) else {}


def list_jobs(settings: Settings | None = None) -> list[Job]:
    """Every job, newest first, read from the folders (unreadable folders are skipped)."""
    jobs = all_jobs(jobs_root(settings))
    jobs.sort(key=lambda j: (j.created, j.id), reverse=True)
    return jobs


def get_job(job_id: str, settings: Settings | None = None) -> Job:
    """The job ``job_id``.

    Raises:
        JobError: no such job.
    """
    folder = jobs_root(settings) / str(job_id)
    if not str(job_id) or "/" in str(job_id) or not (folder / STATUS_FILE).is_file():
        raise JobError(f"no job {job_id!r} in {jobs_root(settings)}")
    return load_job(folder)
