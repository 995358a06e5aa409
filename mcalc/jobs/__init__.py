"""Background training jobs: submit, queue, follow and cancel ``python -m mcalc train``.

The app launches training as a separate process (so the server stays responsive, a crash
cannot take it down, and the job survives a reload or a closed tab) and follows it through
files: ``<runs_dir>/jobs/<job_id>/`` for the job, the trainer's ``progress.jsonl`` for its
progress. Nothing here imports Streamlit or (at import time) TensorFlow.

A job runs one :class:`~mcalc.models.train_config.TrainConfig`. Modules:
:mod:`~mcalc.jobs.check` (checks that need the disk, before launch),
:mod:`~mcalc.jobs.manager` (queue, scheduler, cancel), :mod:`~mcalc.jobs.procs` (process
identity and stopping), :mod:`~mcalc.jobs.workers` (multi-worker training on this machine), :mod:`~mcalc.jobs.progress` (reading a run's log),
:mod:`~mcalc.models.plan` (what a freeze strategy trains), :mod:`~mcalc.models.compare` and
:mod:`~mcalc.present.train_figures` (tables and plots for the app).
:mod:`~mcalc.jobs.batch` runs ``python -m mcalc predict --all`` (batch inference) the same
way, one folder per model and dataset.

Example:
    >>> from mcalc.jobs import TrainConfig, submit, reconcile, progress  # doctest: +SKIP
    >>> job = submit(TrainConfig(data="data/demo", arch="custom", epochs=1))  # doctest: +SKIP
    >>> progress(job).summary()  # doctest: +SKIP
    'epoch 1/1 · batch 3/20 · about 12 s left'
"""

from mcalc.jobs.check import CheckedJob, check_dataset, check_job
from mcalc.jobs.manager import (
    ACTIVE_STATES,
    FINAL_STATES,
    STATES,
    BrokenJob,
    Job,
    broken_jobs,
    cancel,
    delete_job,
    ensure_scheduler,
    get_job,
    jobs_root,
    list_jobs,
    log_tail,
    orphan_run_folders,
    progress,
    reconcile,
    submit,
)
from mcalc.jobs.progress import Progress, read_progress
from mcalc.models.train_config import TrainConfig, arch_defaults

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "STATES",
    "Job",
    "BrokenJob",
    "broken_jobs",
    "orphan_run_folders",
    "TrainConfig",
    "CheckedJob",
    "Progress",
    "submit",
    "reconcile",
    "cancel",
    "delete_job",
    "list_jobs",
    "get_job",
    "jobs_root",
    "progress",
    "read_progress",
    "log_tail",
    "ensure_scheduler",
    "check_dataset",
    "check_job",
    "arch_defaults",
]
