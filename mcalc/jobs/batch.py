"""Background batch runs: ``python -m mcalc predict --all`` in a child process, for the app.

Like a training job (:mod:`mcalc.jobs.manager`), a batch run is a separate process in its
own session (:mod:`mcalc.jobs.procs`), so it survives reruns, reloads and closed tabs,
and is followed through files. Its folder is its run folder,
``<runs_dir>/batch/<model>--<dataset>-<hash>/``: one per model and dataset, so launching
the same model on the same data again *resumes* (the table skips what is done). It holds

- ``job.json``: the launch (command, options, user), state, PID and start time, times,
  exit code, error;
- ``results.parquet``, ``results.csv``, ``progress.json``, ``maps/`` (written by the run,
  :mod:`mcalc.batch.table`); ``stdout.log``, ``stderr.log``.

States: ``running``, then ``done``, ``failed`` (with the reason) or ``cancelled``. At most
``settings.max_jobs`` batch runs run at once; launching more is refused with a message
(nothing queues: a run holds every worker it is given). Changes of state happen under a
lock of ``<runs_dir>/batch/.lock``.

Example:
    >>> job = submit_batch("demo-custom", "data/demo", BatchOptions(workers=2))  # doctest: +SKIP
    >>> refresh_batch(job.name).progress()["done"]  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from mcalc.batch import (
    ENGINES,
    EXIT_SOME_FAILED,
    BatchError,
    ray_available,
    read_progress,
    read_results,
)
from mcalc.batch.table import measured_speeds, write_progress
from mcalc.config import REPO_ROOT, Settings, get_settings
from mcalc.errors import JobError, McalcError
from mcalc.fileio import LockTimeout, atomic_write_json, file_lock
from mcalc.jobs import procs
from mcalc.jobs.progress import quiet_tail, tail_text
from mcalc.lru import LRU
from mcalc.plural import counted

__all__ = [
    "BatchOptions",
    "BatchJob",
    "batch_root",
    "run_name",
    "model_run_folders",
    "batch_command",
    "submit_batch",
    "list_batch_jobs",
    "last_launch",
    "runs_of_dataset",
    "refresh_batch",
    "cancel_batch",
]

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
STDOUT_FILE = "stdout.log"
STDERR_FILE = "stderr.log"
_LOCK_TIMEOUT_S = 30.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BatchOptions:
    """How the app launches a run (the flags of ``predict --all`` it passes).

    Attributes:
        engine: ``local`` or ``ray``.
        workers: processes or actors (``None``: the engine's default).
        address: a Ray cluster (``None``: a local instance).
        cam: explanation method per image (``None``: none).
        maps: write each image's maps.
    """

    engine: str = "local"
    workers: int | None = None
    address: str | None = None
    cam: str | None = None
    maps: bool = False

    def check(self) -> None:
        """Raises:
        BatchError: unknown engine, Ray missing, a bad worker count or a stray address."""
        if self.engine not in ENGINES:
            raise BatchError(f"unknown engine {self.engine!r}; expected one of {ENGINES}")
        if self.engine == "ray" and not ray_available():
            raise BatchError("the ray engine needs Ray Data (`ray[data]`), not installed here")
        if self.workers is not None and self.workers < 1:
            raise BatchError(f"workers must be >= 1, got {self.workers}")
        if self.address and self.engine != "ray":
            raise BatchError("a cluster address needs the ray engine")


@dataclass
class BatchJob:
    """One batch run folder and its latest launch."""

    name: str
    folder: Path
    model_id: str
    data: str
    options: BatchOptions
    state: str = "running"
    user: str = ""
    created: float = 0.0
    ended: float | None = None
    pid: int | None = None
    pid_ticks: int | None = None
    exit_code: int | None = None
    error: str | None = None
    cancel_requested: bool = False
    command: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state == "running"

    def progress(self) -> dict[str, Any]:
        """The run's ``progress.json`` (``{}`` before its first save), as it was when first
        asked of this object: read once per listing (:func:`list_batch_jobs`; its row, its
        speeds and its progress line read it three times on each rerun of the Batch page);
        list the runs again for a newer state."""
        held: dict[str, Any] | None = self.__dict__.get("_progress")
        if held is None:  # not a dataclass field: kept out of job.json and comparisons
            held = self.__dict__["_progress"] = read_progress(self.folder)
        return held

    def speeds(self) -> dict[str, dict[str, Any]]:
        """The speeds this folder's launches measured, by explanation method (``""``: none;
        :func:`mcalc.batch.table.measured_speeds`)."""
        legacy = (self.options.cam, self.options.engine, self.options.workers)
        return measured_speeds(self.progress(), legacy)

    def results(self) -> pd.DataFrame:
        """The run's results table (empty before its first save)."""
        return read_results(self.folder)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the run's stderr, TensorFlow's start-up noise left out."""
        return quiet_tail(self.folder / STDERR_FILE, lines=lines)

    def progress_line(self) -> str:
        """The run's progress in words, for a progress bar: ``running · 12/48 images · 0
        failed · 2.10 images/s``; a run that has analysed nothing yet says it is starting
        (loading TensorFlow and the model takes seconds before the first image)."""
        prog = self.progress()
        done, failed = int(prog.get("done", 0)), int(prog.get("failed", 0))
        total = int(prog.get("total", 0) or 0)
        count = f"{done}/{total} images" if total else f"{done} images"
        text = f"{self.state} · {count} · {failed} failed"
        if self.active and not int(prog.get("analysed", 0) or 0) and not failed:
            text += " · starting: loading TensorFlow and the model"
        if prog.get("images_per_s"):
            text += f" · {prog['images_per_s']:.2f} images/s"
        return text

    def summary_row(self) -> dict[str, Any]:
        """One line of a table of runs: what, where, how far, how fast."""
        prog = self.progress()
        return {
            "run": self.name,
            "model": self.model_id,
            "dataset": self.data,
            "engine": self.options.engine,
            "state": self.state,
            "done": f"{prog.get('done', 0)}/{prog.get('total', '?')}",
            "failed": prog.get("failed", 0),
            "images/s": prog.get("images_per_s"),
            "launched": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
            "error": self.error or "",
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["folder"] = str(self.folder)
        return out

    @classmethod
    def from_folder(cls, folder: Path) -> BatchJob:
        """Raises: JobError: no readable ``job.json``."""
        try:
            data = json.loads((folder / JOB_FILE).read_text(encoding="utf-8"))
            data["options"] = BatchOptions(**data["options"])
            data["folder"] = folder
            data["name"] = folder.name
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JobError(f"{folder}: unreadable batch job ({exc})") from exc


def batch_root(settings: Settings | None = None) -> Path:
    """``<runs_dir>/batch``: one folder per model and dataset."""
    return Path((settings or get_settings()).runs_dir) / "batch"


def run_name(model_id: str, data: str | Path) -> str:
    """The run folder's name of a model on a dataset (the same pair: the same folder)."""
    path = Path(data).expanduser().resolve()
    digest = hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:8]
    return f"{_SAFE.sub('_', model_id)}--{_SAFE.sub('_', path.stem)}-{digest}"


#: A listing of the batch root is trusted only once the root's modification time is older
#: than this: a folder added within the same tick of a coarse file-system clock (2 s on
#: FAT, a few ms on ext4) leaves the time as it was, so a root changed this recently is
#: listed again (as git treats a racily clean index).
_RACY_NS = 2_000_000_000
#: ``(root, model prefix)`` -> ``(the root's st_mtime_ns, its run folders of the model)``.
_listings: LRU[tuple[str, str], tuple[int, tuple[Path, ...]]] = LRU(64)


def model_run_folders(model_id: str, settings: Settings | None = None) -> list[Path]:
    """The batch run folders of ``model_id`` (by their names, :func:`run_name`: no file
    read; a model whose id begins like another's may bring that one's too, which the rows'
    ``model_key`` tells apart).

    The batch root is listed again only when its modification time changed (a run folder
    made or removed; Audit asks at every rerun): one ``stat`` otherwise. A change inside a
    run folder (its tables replaced) does not change the root: callers that read the
    tables stat them (``pages/audit.py``).
    """
    root = batch_root(settings)
    prefix = f"{_SAFE.sub('_', model_id)}--"
    key = (str(root), prefix)
    try:
        stamp = root.stat().st_mtime_ns
        held = _listings.get(key)
        if held is not None and held[0] == stamp:
            return list(held[1])
        folders = tuple(
            sorted(p for p in root.iterdir() if p.name.startswith(prefix) and p.is_dir())
        )
    except OSError:
        return []
    if time.time_ns() - stamp > _RACY_NS:
        _listings.put(key, (stamp, folders))
    return list(folders)


def batch_command(job: BatchJob, models_dir: str | Path) -> list[str]:
    """The child's command line: ``python -m mcalc predict --all ... --json``."""
    opts = job.options
    cmd = [sys.executable, "-m", "mcalc", "--log-level", "INFO", "predict", "--all",
           "--model", job.model_id, "--models", str(models_dir), "--data", job.data,
           "--out", str(job.folder), "--engine", opts.engine, "--json"]  # fmt: skip
    if opts.workers:
        cmd += ["--workers", str(opts.workers)]
    if opts.address:
        cmd += ["--address", opts.address]
    cmd += ["--cam", opts.cam or "none"]
    if opts.maps:
        cmd.append("--maps")
    return cmd


def _folder_error(root: Path, exc: OSError) -> JobError:
    return JobError(f"cannot use the batch folder {root}: {exc}")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    try:
        with file_lock(root, timeout_s=_LOCK_TIMEOUT_S, lock_name=".lock", error=_folder_error):
            yield
    except LockTimeout as exc:
        raise JobError(
            f"the batch folder {root} stayed locked: another mcalc process holds it; retry"
        ) from exc


def _save(job: BatchJob) -> None:
    atomic_write_json(job.folder / JOB_FILE, job.to_json(), indent=2)


def _all(root: Path) -> list[BatchJob]:
    if not root.is_dir():
        return []
    jobs = []
    for folder in sorted(root.iterdir()):
        if folder.is_dir() and (folder / JOB_FILE).is_file():
            try:
                jobs.append(BatchJob.from_folder(folder))
            except JobError as exc:
                log.warning("skipping batch folder: %s", exc)
    return jobs


def _env(settings: Settings, models_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["MCALC_RUNS"] = str(Path(settings.runs_dir).resolve())
    env["MCALC_MODELS"] = str(models_dir)
    env["PYTHONUNBUFFERED"] = "1"
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + path if path else "")
    return env


def submit_batch(
    model_id: str,
    data: str | Path,
    options: BatchOptions | None = None,
    settings: Settings | None = None,
    *,
    user: str = "",
) -> BatchJob:
    """Check and launch a batch run of a registered model over a dataset.

    Raises:
        ModelError: unknown model. DatasetError: the dataset cannot be opened.
        BatchError: bad options. JobError: this model already runs on this dataset, too
            many batch runs run, or the process cannot start.
    """
    from mcalc.dataset import open_dataset
    from mcalc.models.registry import load_card, resolve_model

    settings = settings or get_settings()
    options = options or BatchOptions()
    options.check()
    models_dir = Path(settings.models_dir).resolve()
    card = load_card(resolve_model(model_id, models_dir))
    data_path = str(Path(data).expanduser().resolve())
    index = open_dataset(data_path)  # a dataset that cannot open fails here, not in the child
    root = batch_root(settings)
    with _locked(root):
        jobs = {j.name: j for j in _refresh_all(root)}
        name = run_name(str(card.id), data_path)
        if name in jobs and jobs[name].active:
            raise JobError(f"model {card.id} already runs on this dataset: wait or cancel it")
        running = sum(j.active for j in jobs.values())
        if running >= max(1, settings.max_jobs):
            raise JobError(
                f"{counted(running, 'batch run')} already running (at most {settings.max_jobs}, "
                "MCALC_MAX_JOBS): wait or cancel one"
            )
        job = BatchJob(name, root / name, str(card.id), data_path, options, user=user)
        job.created = time.time()
        job.command = batch_command(job, models_dir)
        try:
            job.folder.mkdir(parents=True, exist_ok=True)
            # The new launch starts at zero: the previous launch's progress showed (its
            # 8/8 done, its speed) until the child's first save. Its speeds are kept.
            speeds = jobs[name].speeds() if name in jobs else {}
            write_progress(
                job.folder,
                # The total is known now (the child counts the same images): the Runs
                # table said "0/?" until the child's first save.
                {
                    "state": "starting",
                    "done": 0,
                    "total": len(index.images()),
                    "failed": 0,
                    "analysed": 0,
                    "speeds": speeds,
                },
            )
            job.pid, job.pid_ticks = procs.launch(
                job.command,
                cwd=REPO_ROOT,
                env=_env(settings, models_dir),
                stdout=job.folder / STDOUT_FILE,
                stderr=job.folder / STDERR_FILE,
            )
        except OSError as exc:
            raise JobError(f"could not start the batch run: {exc}") from exc
        try:
            _save(job)
        except McalcError as exc:
            # Unrecorded, the child would run on where no page or cancel can reach it.
            _stop_unrecorded(job)
            raise JobError(f"{exc} The batch process it had started was stopped.") from exc
    log.info("batch run %s started as pid %s", job.name, job.pid)
    return job


def _stop_unrecorded(job: BatchJob) -> None:
    """Stop a child whose launch could not be recorded (its ``job.json`` not written)."""
    if not job.pid:
        return
    try:
        procs.stop_group(job.pid, job.pid_ticks, grace=2.0)
    except RuntimeError as exc:  # pragma: no cover - survived SIGKILL
        log.error("batch run %s: %s", job.name, exc)
    procs.forget_owned(job.pid)


def _error_line(stderr: str) -> str | None:
    for line in reversed(stderr.splitlines()):
        if line.startswith("error: "):
            return line[len("error: ") :].strip()
    return None


def _finish(job: BatchJob, code: int | None) -> None:
    job.ended = job.ended or time.time()
    job.exit_code = code
    if job.cancel_requested:
        job.state, job.error = "cancelled", "cancelled by the user; launch again to resume"
    elif code in (0, EXIT_SOME_FAILED) or (
        code is None and read_progress(job.folder).get("state") == "done"
    ):
        # Another app process launched it: its exit status is unknown here, its files tell.
        # EXIT_SOME_FAILED: the run completed; its rows say which images failed.
        job.state, job.error = "done", None
    else:
        job.state = "failed"
        stderr = tail_text(job.folder / STDERR_FILE, lines=200)
        job.error = _error_line(stderr) or (
            f"the batch process exited with status {code}"
            if code is not None
            else "the batch process ended without a status (killed, or the machine restarted)"
        )
    _save(job)
    if job.pid:
        procs.forget_owned(job.pid)


def _refresh_all(root: Path) -> list[BatchJob]:
    codes = procs.reap_owned()
    jobs = _all(root)
    for job in jobs:
        if job.active:
            code = codes.get(job.pid or -1)
            if code is not None or not procs.is_alive(job.pid, job.pid_ticks):
                _finish(job, code)
    return jobs


def list_batch_jobs(settings: Settings | None = None) -> list[BatchJob]:
    """Every batch run folder, newest launch first, with ended runs recorded."""
    root = batch_root(settings)
    if not root.is_dir():
        return []
    with _locked(root):
        jobs = _refresh_all(root)
    return sorted(jobs, key=lambda j: j.created, reverse=True)


def runs_of_dataset(jobs: Iterable[BatchJob], data: str | Path) -> list[BatchJob]:
    """The runs of ``jobs`` over the dataset or manifest ``data`` (paths compared resolved),
    in their order."""
    path = Path(data).expanduser().resolve()
    return [j for j in jobs if Path(j.data).expanduser().resolve() == path]


def last_launch(jobs: Iterable[BatchJob], model_id: str, data: str | Path) -> BatchOptions | None:
    """The options of the last launch of ``model_id`` on ``data`` (its run folder's
    ``job.json``; ``None``: it never ran there): a launch with the same explanation and
    maps resumes that run, one with others begins another set of rows over every image."""
    name = run_name(model_id, data)
    return next((j.options for j in jobs if j.name == name), None)


def refresh_batch(name: str, settings: Settings | None = None) -> BatchJob:
    """The run ``name``, its state brought up to date.

    Raises:
        JobError: no such run.
    """
    for job in list_batch_jobs(settings):
        if job.name == name:
            return job
    raise JobError(f"no batch run {name!r} in {batch_root(settings)}")


def cancel_batch(name: str, settings: Settings | None = None, grace: float = 15.0) -> BatchJob:
    """Stop a running batch run (SIGTERM: it saves its rows; SIGKILL after ``grace`` s).

    Raises:
        JobError: no such run, it is not running, or its processes survived.
    """
    root = batch_root(settings)
    with _locked(root):
        job = next((j for j in _refresh_all(root) if j.name == name), None)
        if job is None:
            raise JobError(f"no batch run {name!r} in {root}")
        if not job.active:
            raise JobError(f"batch run {name} is not running ({job.state}): nothing to cancel")
        job.cancel_requested = True
        _save(job)
    if job.pid:
        try:
            # The run first: its group may hold a local Ray instance, needed while it saves.
            procs.stop_group(job.pid, job.pid_ticks, grace=grace, leader_first=True)
        except RuntimeError as exc:
            raise JobError(f"could not stop batch run {name}: {exc}") from exc
    return refresh_batch(name, settings)
