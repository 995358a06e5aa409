"""Training run folders that no job owns: what ``delete job <model id>`` may remove.

Every training run writes ``<runs_dir>/<model id>/`` (``progress.jsonl``, TensorBoard logs,
checkpoints, ``FAILED`` when it registered nothing). A job's run folder goes with the job
(:func:`mcalc.jobs.delete_job`) and a registered model's is its training record; a run of
``python -m mcalc train`` that was killed or failed belongs to neither, and until
6 December 2026 it had to be removed by hand. Its ``start`` event names the process that
wrote it (``pid`` and ``pid_ticks``, its start time), so that it is never deleted while that
process runs; a folder of an earlier run names none, and unless it says the run ended, the
refusal says how to remove it.
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
from mcalc.models.train_config import RESERVED_IDS

__all__ = ["PROGRESS_FILE", "END_EVENTS", "OrphanRun", "orphan_run", "orphan_runs"]

#: The trainer's event log in its run folder.
PROGRESS_FILE = "progress.jsonl"
#: The events that end a run's log: nothing writes to it afterwards.
END_EVENTS = frozenset({"done", "failed", "interrupted"})


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
    the process that wrote it has ended; ``None`` when there is no such run folder.

    Args:
        run_id: the model id the run trained.
        runs_dir, models_dir: the settings' folders.
        job_run_dirs: the run folders of the jobs (``Job.run_dir``).

    Raises:
        JobError: the folder belongs to a job or to a registered model, its process still
            runs, or it names no process and does not say it ended (the message says how
            to remove it by hand).
    """
    name = str(run_id)
    folder = Path(runs_dir) / name
    # The reserved ids are the runs folder's own (jobs, batch runs): never a run folder.
    if name in RESERVED_IDS or not _ID_RE.match(name) or not (folder / PROGRESS_FILE).is_file():
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
    start, last = _events(folder / PROGRESS_FILE)
    pid = start.get("pid")
    if isinstance(pid, int):
        if _writer_runs(start):
            raise JobError(
                f"the training run {name} is still running (process {pid}): stop it first "
                f"(`kill {pid}`), then delete it; nothing deleted"
            )
        return folder
    if (folder / FAILED_FILE).is_file() or last.get("event") in END_EVENTS:
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
        folder: ``<runs_dir>/<id>``.
        refusal: why it cannot be deleted yet (:func:`orphan_run`'s refusal); ``""``: it can.
    """

    id: str
    folder: Path
    refusal: str = ""


def orphan_runs(
    runs_dir: str | Path, models_dir: str | Path, job_run_dirs: Iterable[str]
) -> list[OrphanRun]:
    """Every training run folder under ``runs_dir`` that no job and no registered model
    owns (a ``python -m mcalc train`` killed or failed, or its model deleted), by name: what
    an admin may delete (:func:`orphan_run` answers for each). A run whose process still
    runs is not one: a ``train`` under way from the command line."""
    root = Path(runs_dir)
    owned = {Path(d).resolve() for d in job_run_dirs if d}
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError:
        return []
    out = []
    for folder in folders:
        name = folder.name
        if (
            name in RESERVED_IDS
            or not _ID_RE.match(name)
            or not (folder / PROGRESS_FILE).is_file()
            or folder.resolve() in owned
            or is_registered(models_dir, name)
            or _writer_runs(_events(folder / PROGRESS_FILE)[0])
        ):
            continue
        try:
            orphan_run(name, root, models_dir, ())
        except JobError as exc:
            out.append(OrphanRun(name, folder, str(exc)))
        else:
            out.append(OrphanRun(name, folder))
    return out
