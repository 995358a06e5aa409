"""Training run folders that no job owns: what ``delete job <model id>`` may remove.

Every training run writes ``<runs_dir>/<model id>/`` (``progress.jsonl``, TensorBoard logs,
checkpoints, ``FAILED`` when it registered nothing). A job's run folder goes with the job
(:func:`mcalc.jobs.delete_job`) and a registered model's is its training record; a run of
``python -m mcalc train`` that was killed or failed belongs to neither, and until
6 December 2026 it had to be removed by hand. Its ``start`` event names the process that
wrote it (``pid`` and ``pid_ticks``, its start time), so that it is never deleted while that
process runs; a folder of an earlier run names none, and unless it says the run ended, the
refusal says how to remove it.

A multi-worker run (``train-workers``) also writes ``<runs_dir>/<model id>.workers/`` (its
config and worker logs, and :data:`WORKERS_PROCESSES`: the processes that write there). It
goes with its run folder, and alone (a run whose chief never started its run folder) it is
one itself; never while a process it names runs. Until 7 December 2026 it was neither
listed nor deleted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcalc.errors import JobError
from mcalc.jobs import procs
from mcalc.models.layout import FAILED_FILE
from mcalc.models.registry import _ID_RE, is_registered
from mcalc.models.train_config import RESERVED_IDS, WORKERS_SUFFIX

__all__ = [
    "PROGRESS_FILE",
    "END_EVENTS",
    "WORKERS_PROCESSES",
    "OrphanRun",
    "orphan_run",
    "orphan_runs",
    "workers_folder",
    "check_workers_ended",
    "WORKERS_OUTCOME",
]

#: The trainer's event log in its run folder.
PROGRESS_FILE = "progress.jsonl"
#: The events that end a run's log: nothing writes to it afterwards.
END_EVENTS = frozenset({"done", "failed", "interrupted"})
#: In a ``.workers`` folder: ``{"processes": [{"pid", "pid_ticks"}, ...]}``, the launcher
#: and each worker (:func:`mcalc.jobs.workers.run_local_workers`).
WORKERS_PROCESSES = "processes.json"
#: In a ``.workers`` folder of a failed run: ``{"state": "failed", "error"}``, why (which
#: worker ended how, its log), as the launcher said it.
WORKERS_OUTCOME = "outcome.json"


def workers_folder(runs_dir: str | Path, run_id: str) -> Path:
    """``<runs_dir>/<run_id>.workers``: a multi-worker run's config and worker logs."""
    return Path(runs_dir) / f"{run_id}{WORKERS_SUFFIX}"


def _workers_pid(folder: Path) -> int | None:
    """A process that ``folder`` (a ``.workers`` one) names and that still runs; ``None``
    when none does.

    Raises:
        JobError: it names no process (written before 7 December 2026, or cut short)."""
    try:
        listed = json.loads((folder / WORKERS_PROCESSES).read_text(encoding="utf-8"))
        named = [(int(p["pid"]), p.get("pid_ticks")) for p in listed["processes"]]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise JobError(
            f"{folder} does not say which processes write it: if no `python -m mcalc "
            f"train-workers` of it runs any more, remove it with `rm -r {folder}`; nothing "
            "deleted"
        ) from exc
    alive = (pid for pid, t in named if procs.is_alive(pid, t if isinstance(t, int) else None))
    return next(alive, None)


def _workers_run(folder: Path) -> bool:
    """Whether a process that the ``.workers`` ``folder`` names still runs."""
    try:
        return folder.is_dir() and _workers_pid(folder) is not None
    except JobError:  # names none: listed, with the refusal that says so
        return False


def check_workers_ended(folder: Path, name: str, *, run_ended: bool = False) -> None:
    """Refuse (:class:`JobError`) to delete the ``.workers`` folder of run ``name`` while a
    process it names runs, or, unless its run folder says the run ended (``run_ended``: the
    chief's process ended; the others end with it), when it names none. Nothing when there
    is no such folder."""
    if not folder.is_dir():
        return
    try:
        pid = _workers_pid(folder)
    except JobError:
        if run_ended:
            return
        raise
    if pid is not None:
        raise JobError(
            f"the training run {name} is still running (process {pid}, of its workers in "
            f"{folder}): stop it first (`kill {pid}`), then delete it; nothing deleted"
        )


def _events(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first and the last event of a ``progress.jsonl`` (``{}`` where unreadable)."""
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError):
        return {}, {}

    def event(line: str) -> dict[str, Any]:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by the kill
            return {}
        return value if isinstance(value, dict) else {}

    return (event(lines[0]), event(lines[-1])) if lines else ({}, {})


def _writer_runs(start: dict[str, Any]) -> bool:
    """Whether the process a run's ``start`` event names still runs."""
    pid, ticks = start.get("pid"), start.get("pid_ticks")
    return isinstance(pid, int) and procs.is_alive(pid, ticks if isinstance(ticks, int) else None)


def orphan_run(
    run_id: str, runs_dir: str | Path, models_dir: str | Path, job_run_dirs: Iterable[str]
) -> Path | None:
    """The run folder ``<runs_dir>/<run_id>`` when no job and no registered model own it and
    the process that wrote it has ended; ``None`` when there is no such run folder. A
    multi-worker run's ``<run_id>.workers`` folder (:func:`workers_folder`) must have ended
    too; alone, without a run folder, it is the one returned.

    Args:
        run_id: the model id the run trained.
        runs_dir, models_dir: the settings' folders.
        job_run_dirs: the run folders of the jobs (``Job.run_dir``).

    Raises:
        JobError: the folder belongs to a job or to a registered model, its process (or
            one its ``.workers`` folder names) still runs, or it names no process and does
            not say it ended (the message says how to remove it by hand).
    """
    name = str(run_id)
    folder = Path(runs_dir) / name
    workers = workers_folder(runs_dir, name)
    # The reserved ids are the runs folder's own (jobs, batch runs): never a run folder.
    if name.lower() in RESERVED_IDS or not _ID_RE.match(name) or name.endswith(WORKERS_SUFFIX):
        return None
    alone = not (folder / PROGRESS_FILE).is_file()
    if alone and not workers.is_dir():
        return None
    for run_dir in job_run_dirs:
        if run_dir and Path(run_dir).resolve() == folder.resolve():
            raise JobError(
                f"{folder} is the run folder of a job: delete that job (the Train page's job "
                "history names it); nothing deleted"
            )
    if is_registered(models_dir, name):
        raise JobError(
            f"{folder} is the training record of the registered model {name}, not a job: "
            f"nothing deleted (`python -m mcalc delete model {name}` deletes the model; its "
            "run folder can then be deleted as a job)"
        )
    if alone:
        check_workers_ended(workers, name)
        return workers
    start, last = _events(folder / PROGRESS_FILE)
    pid = start.get("pid")
    if isinstance(pid, int):
        if _writer_runs(start):
            raise JobError(
                f"the training run {name} is still running (process {pid}): stop it first "
                f"(`kill {pid}`), then delete it; nothing deleted"
            )
        check_workers_ended(workers, name, run_ended=True)
        return folder
    if (folder / FAILED_FILE).is_file() or last.get("event") in END_EVENTS:
        check_workers_ended(workers, name, run_ended=True)
        return folder
    raise JobError(
        f"{folder} is the folder of a training run that does not say which process wrote it "
        f"(runs started before 6 December 2026): if no `python -m mcalc train` of {name} "
        f"runs any more (`pgrep -af 'mcalc train'`), remove it with `rm -r {folder}`; "
        "nothing deleted"
    )


@dataclass(frozen=True)
class OrphanRun:
    """A training run folder that no job and no registered model owns.

    Attributes:
        id: its name, the model id the run trained (``delete job <id>`` deletes it).
        folder: ``<runs_dir>/<id>`` (with ``<id>.workers`` when there is one); a
            multi-worker run's ``<runs_dir>/<id>.workers`` when it is alone.
        refusal: why it cannot be deleted yet (:func:`orphan_run`'s refusal); ``""``: it can.
        error: why a multi-worker run failed (its :data:`WORKERS_OUTCOME`), else ``""``.
    """

    id: str
    folder: Path
    refusal: str = ""
    error: str = ""


def orphan_runs(
    runs_dir: str | Path, models_dir: str | Path, job_run_dirs: Iterable[str]
) -> list[OrphanRun]:
    """Every training run folder under ``runs_dir`` that no job and no registered model
    owns (a ``python -m mcalc train`` killed or failed, or its model deleted), by name: what
    an admin may delete (:func:`orphan_run` answers for each). A run whose process still
    runs is not one: a ``train`` (or ``train-workers``) under way from the command line."""
    root = Path(runs_dir)
    owned = {Path(d).resolve() for d in job_run_dirs if d}
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    out = []
    for folder in folders:
        name = folder.name.removesuffix(WORKERS_SUFFIX)
        run = root / name
        has_run = (run / PROGRESS_FILE).is_file()
        if (
            name.lower() in RESERVED_IDS
            or not _ID_RE.match(name)
            or has_run != (folder == run)  # no log; or workers listed with their run folder
            or run.resolve() in owned
            or is_registered(models_dir, name)
            or _writer_runs(_events(run / PROGRESS_FILE)[0])
            or _workers_run(workers_folder(root, name))
        ):
            continue
        refusal = ""
        try:
            orphan_run(name, root, models_dir, ())
        except JobError as exc:
            refusal = str(exc)
        out.append(OrphanRun(name, folder, refusal, _workers_error(workers_folder(root, name))))
    return out


def _workers_error(folder: Path) -> str:
    """The error a multi-worker run's launcher recorded in ``folder``; ``""``: none."""
    try:
        said = json.loads((folder / WORKERS_OUTCOME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""
    return str(said.get("error") or "") if isinstance(said, dict) else ""
