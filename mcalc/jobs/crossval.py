"""Cross-validation runs in the background: one training job per fold, pooled when done.

:func:`submit_crossval` deals the patients into folds (:func:`mcalc.models.crossval.
plan_folds`), submits one training job per fold to the job queue (:func:`mcalc.jobs.submit`:
each its own process, progress, log and cancel, at most ``settings.max_jobs`` at once) and
records the run in ``<runs_dir>/crossval/<run id>/run.json`` (the folds' patients, job and
model ids). :func:`list_runs` rebuilds every run from those folders, so a run survives a page
reload or an app restart. When every fold's job is done, :func:`pool_run` scores each fold's
model on its own test patients and pools them (:func:`mcalc.models.crossval.summarise_folds`),
and keeps the pooled summary in ``result.json`` beside the record. ``python -m mcalc
crossval`` records its result in the same place (:func:`record_result`), so the Evaluate
page shows runs from both.

Example:
    >>> run = submit_crossval(TrainConfig(data="data/demo", epochs=2), 3)  # doctest: +SKIP
    >>> [j.state for j in run_jobs(run)]  # doctest: +SKIP
    ['running', 'queued', 'queued']
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.config import Settings, get_settings
from mcalc.errors import JobError, McalcError
from mcalc.fileio import atomic_write_json
from mcalc.jobs.manager import Job, get_job, list_jobs, submit
from mcalc.models.train_config import TrainConfig
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.models.crossval import CrossvalStopped
    from mcalc.models.scores import EvalScores

__all__ = [
    "CrossvalRun",
    "submit_crossval",
    "list_runs",
    "run_jobs",
    "run_state",
    "pool_run",
    "pooled_scores",
    "recorded_thresholds",
    "run_data_kind",
    "record_result",
    "record_stopped",
]

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
RESULT_FILE = "result.json"


@dataclass
class CrossvalRun:
    """One cross-validation run, as its folder describes it.

    Attributes:
        id: the run's id (its folds' model-id prefix; the folder's name).
        folder: ``<runs_dir>/crossval/<id>``.
        config: the training settings shared by the folds.
        k: folds; folds: each fold's patients.
        job_ids, model_ids: the fold jobs (empty for a command-line run) and models.
        created: UNIX time; user: who started it; source: ``app`` or ``cli``.
        leave_one_patient_out: one fold per patient.
        result: the pooled summary once computed (``result.json``), else ``None``.
        finished: a command-line run stopped before its last fold (Ctrl+C, SIGTERM): the
            folds it had registered (its state is ``cancelled``); ``None``: not stopped.
    """

    id: str
    folder: Path
    config: TrainConfig
    k: int
    folds: list[list[str]]
    model_ids: list[str]
    job_ids: list[str] = field(default_factory=list)
    created: float = 0.0
    user: str = ""
    source: str = "app"
    leave_one_patient_out: bool = False
    result: dict[str, Any] | None = None
    finished: list[str] | None = None

    def record(self) -> dict[str, Any]:
        """What ``run.json`` holds."""
        return {
            "id": self.id,
            "config": self.config.to_json(),
            "k": self.k,
            "folds": self.folds,
            "model_ids": self.model_ids,
            "job_ids": self.job_ids,
            "created": self.created,
            "user": self.user,
            "source": self.source,
            "leave_one_patient_out": self.leave_one_patient_out,
            **({} if self.finished is None else {"stopped": True, "finished": self.finished}),
        }


def _root(settings: Settings | None) -> Path:
    return Path((settings or get_settings()).runs_dir) / "crossval"


def _write(path: Path, data: dict[str, Any]) -> None:
    def error(p: Path, exc: OSError) -> JobError:
        return JobError(f"cannot write {p}: {exc}; check the runs folder's space and rights")

    atomic_write_json(path, data, indent=2, error=error)


def _load(folder: Path) -> CrossvalRun:
    try:
        rec = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
        config = TrainConfig.from_json(rec["config"])
        result = None
        if (folder / RESULT_FILE).is_file():
            result = json.loads((folder / RESULT_FILE).read_text(encoding="utf-8"))
        return CrossvalRun(
            id=folder.name,
            folder=folder,
            config=config,
            k=int(rec["k"]),
            folds=[list(f) for f in rec["folds"]],
            model_ids=list(rec["model_ids"]),
            job_ids=list(rec.get("job_ids", [])),
            created=float(rec.get("created", 0.0)),
            user=str(rec.get("user", "")),
            source=str(rec.get("source", "app")),
            leave_one_patient_out=bool(rec.get("leave_one_patient_out", False)),
            result=result,
            finished=[str(m) for m in rec["finished"]] if rec.get("stopped") else None,
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise JobError(f"{folder}: unreadable cross-validation run ({exc})") from exc
    except McalcError as exc:
        raise JobError(f"{folder}: unreadable cross-validation run ({exc})") from exc


def submit_crossval(
    config: TrainConfig, k: int, settings: Settings | None = None, *, user: str = ""
) -> CrossvalRun:
    """Plan the folds, record the run and submit one training job per fold.

    Args:
        config: the training settings shared by every fold (``model_id``: the prefix of
            the folds' ids; default ``cv-<arch>-<task>-<time>``).
        k: folds (>= 2), or 0 for leave-one-patient-out.
        settings: where jobs, runs and models live.
        user: who starts it.

    Raises:
        ModelError, DatasetError, JobError: bad settings, too few patients, or a job that
            cannot be queued (folds already queued stay queued and are listed in the run).
    """
    from dataclasses import replace

    from mcalc.models.crossval import plan_folds

    settings = settings or get_settings()
    if k < 0 or k == 1:
        raise JobError(f"folds must be >= 2, or 0 for leave-one-patient-out; got {k}")
    config = replace(
        config,
        data=str(Path(config.data).expanduser().resolve()),
        models_dir=str(Path(config.models_dir or settings.models_dir).resolve()),
    )
    plan = plan_folds(config, k)
    folder = _root(settings) / plan.prefix
    if folder.exists():
        raise JobError(f"a cross-validation run {plan.prefix!r} exists already: choose another id")
    run = CrossvalRun(
        id=plan.prefix,
        folder=folder,
        config=config,
        k=plan.k,
        folds=[list(f) for f in plan.folds],
        model_ids=[plan.model_id(i) for i in range(plan.k)],
        created=time.time(),
        user=user,
        leave_one_patient_out=plan.leave_one_patient_out,
    )
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise JobError(f"cannot create the run folder {folder}: {exc}") from exc
    _write(folder / RUN_FILE, run.record())
    for i, cfg in enumerate(plan.configs()):
        job = submit(cfg, settings, start=i == 0, user=user)
        run.job_ids.append(job.id)
        _write(folder / RUN_FILE, run.record())
    log.info("cross-validation %s: %d fold jobs queued", run.id, run.k)
    return run


def record_result(summary: dict[str, Any], settings: Settings | None = None) -> CrossvalRun:
    """Record a finished command-line run (``python -m mcalc crossval``'s JSON).

    Raises:
        JobError: the result cannot be written.
    """
    folder = _root(settings) / str(summary["prefix"])
    run = CrossvalRun(
        id=folder.name,
        folder=folder,
        config=TrainConfig.from_json(summary["config"]),
        k=int(summary["k"]),
        folds=[list(f) for f in summary["fold_patients"]],
        model_ids=[f["model_id"] for f in summary["folds"]],
        created=time.time(),
        source="cli",
        leave_one_patient_out=bool(summary["leave_one_patient_out"]),
        result=summary,
    )
    _write(folder / RUN_FILE, run.record())
    _write(folder / RESULT_FILE, summary)
    return run


def record_stopped(stopped: CrossvalStopped, settings: Settings | None = None) -> CrossvalRun:
    """Record a command-line run stopped before its last fold as ``cancelled``, with the
    folds it finished (the Evaluate page lists it; it stayed unrecorded).

    Raises:
        JobError: the record cannot be written.
    """
    plan = stopped.plan
    run = CrossvalRun(
        id=plan.prefix,
        folder=_root(settings) / plan.prefix,
        config=plan.config,
        k=plan.k,
        folds=[list(f) for f in plan.folds],
        model_ids=[plan.model_id(i) for i in range(plan.k)],
        created=time.time(),
        source="cli",
        leave_one_patient_out=plan.leave_one_patient_out,
        finished=list(stopped.finished),
    )
    _write(run.folder / RUN_FILE, run.record())
    return run


def list_runs(settings: Settings | None = None) -> list[CrossvalRun]:
    """Every recorded run, newest first (unreadable folders are skipped with a warning)."""
    root = _root(settings)
    runs = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        if not (folder / RUN_FILE).is_file():
            continue
        try:
            runs.append(_load(folder))
        except JobError as exc:
            log.warning("skipping: %s", exc)
    runs.sort(key=lambda r: (r.created, r.id), reverse=True)
    return runs


def run_jobs(run: CrossvalRun, settings: Settings | None = None) -> list[Job]:
    """The run's fold jobs as they are now (in fold order; a vanished job is skipped)."""
    known = {j.id: j for j in list_jobs(settings)}
    out = []
    for job_id in run.job_ids:
        job = known.get(job_id)
        if job is None:
            try:
                job = get_job(job_id, settings)
            except JobError:
                continue
        out.append(job)
    return out


def run_state(run: CrossvalRun, settings: Settings | None = None) -> str:
    """``pooled`` (result recorded), ``ready`` (every fold done), ``running`` (some fold
    queued or running), ``cancelled`` (a command-line run stopped: :attr:`CrossvalRun.finished`),
    or ``failed`` (a fold failed or was cancelled)."""
    if run.result is not None:
        return "pooled"
    if run.finished is not None:
        return "cancelled"
    jobs = run_jobs(run, settings)
    if len(jobs) < len(run.model_ids):
        return "failed"
    if all(j.state == "done" for j in jobs):
        return "ready"
    if any(j.active for j in jobs):
        return "running"
    return "failed"


def pool_run(
    run: CrossvalRun,
    settings: Settings | None = None,
    *,
    n_boot: int = 1000,
    detection: bool = False,
    progress: ProgressFn | None = None,
) -> CrossvalRun:
    """Score every fold's model on its own test patients, pool, and record the result.

    Returns the run with its ``result``; the pooled scores are not kept (the page redraws
    curves from the evaluation cache through :func:`pooled_scores`). A run whose folds chose
    their thresholds (``config.operating_point``) says each fold's, from its card
    (:func:`recorded_thresholds`).

    Raises:
        JobError: a fold has not finished. ModelError, DatasetError: from the evaluation.
    """
    from mcalc.models.crossval import CrossvalPlan, summarise_folds

    state = run_state(run, settings)
    if state not in ("ready", "pooled"):
        raise JobError(
            f"cross-validation {run.id} is {state}: every fold's training job must be done "
            "before the folds are pooled"
        )
    plan = CrossvalPlan(
        run.config, run.k, [tuple(f) for f in run.folds], run.id, run.leave_one_patient_out
    )
    t0 = time.perf_counter()
    result = summarise_folds(
        plan, list(run.model_ids), n_boot=n_boot, detection=detection, cache=True,
        progress=progress,
    )  # fmt: skip
    summary = {**result.summary, "seconds": round(time.perf_counter() - t0, 3)}
    if run.config.operating_point != "none":
        summary["operating_points"] = recorded_thresholds(run, settings)
    _write(run.folder / RESULT_FILE, summary)
    run.result = summary
    return run


#: What a fold whose training job chose no threshold (validation images of one class, most
#: likely) says, with the reason its job recorded (:data:`NO_THRESHOLD_EVENT`); its card
#: names none.
NOT_CHOSEN = "none could be chosen on its validation patients ({reason}): it decides at 0.5"

#: The reason where the job recorded none (a job run before 7 December 2026, 19:30 UTC).
NO_REASON = "its training job recorded no reason; its log may say"

#: The progress event in which ``train --operating-point`` says why it chose no threshold.
NO_THRESHOLD_EVENT = "no_threshold"


def _not_chosen_reasons(run: CrossvalRun, settings: Settings | None) -> dict[str, str]:
    """Each fold model's reason for no threshold, from its job's ``progress.jsonl`` (the
    last :data:`NO_THRESHOLD_EVENT`'s message); folds without one are left out."""
    out: dict[str, str] = {}
    for job in run_jobs(run, settings):
        try:
            lines = job.progress_path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:  # a half-written last line
                continue
            if isinstance(event, dict) and event.get("event") == NO_THRESHOLD_EVENT:
                out[job.model_id] = str(event.get("message") or NO_REASON)
    return out


def recorded_thresholds(run: CrossvalRun, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Each fold model's decision threshold as its card records it: the one its training
    job chose on the fold's validation patients by ``run.config.operating_point`` (as
    ``train --operating-point`` does), or :data:`NOT_CHOSEN`. In the form of ``crossval
    --operating-point``'s ``operating_points`` (:func:`mcalc.models.crossval.
    choose_fold_thresholds`), in fold order; a fold's reason for none, where the run's
    result said one (a command-line run pooled again), is kept.

    Raises:
        ModelError: a fold's model is not registered.
    """
    from mcalc.models import crossval as cv

    models_dir = Path(run.config.models_dir or get_settings().models_dir)
    said = {t.get("fold"): t.get("note") for t in (run.result or {}).get("operating_points", [])}
    reasons = _not_chosen_reasons(run, settings)
    out: list[dict[str, Any]] = []
    for i, model_id in enumerate(run.model_ids, start=1):
        t = cv.fold_threshold(model_id, models_dir)
        why = NOT_CHOSEN.format(reason=reasons.get(model_id, NO_REASON))
        out.append(
            {"fold": i, "value": None, "note": said.get(i) or why}
            if t.is_default
            else {"fold": i, "value": t.value, "source": t.source}
        )
    return out


def run_data_kind(run: CrossvalRun) -> tuple[bool, str] | None:
    """``(synthetic, source)`` of the data the run's folds were trained and scored on (its
    ``config.data``, not the dataset a page has open: a run on the demo, listed while real
    data is open, is still a run on synthetic data); ``None`` when it cannot be opened."""
    from mcalc.dataset import open_dataset

    try:
        index = open_dataset(run.config.data)
    except McalcError as exc:
        log.info("cross-validation %s: %s", run.id, exc)
        return None
    return index.synthetic, index.source


def pooled_scores(run: CrossvalRun) -> EvalScores | None:
    """The out-of-fold scores of a pooled run, from the evaluation cache (``None`` when a
    fold's evaluation is not cached, e.g. a command-line run or a retrained fold, or the
    run's dataset cannot be opened)."""
    from mcalc.dataset import open_dataset
    from mcalc.models.crossval import pool_scores
    from mcalc.models.evaluate import data_files, evaluation_scope, load_evaluation
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.registry import load_card, resolve_model

    try:
        index = open_dataset(run.config.data)
        fingerprint = dataset_fingerprint(index)
    except McalcError as exc:  # the run's dataset moved or is gone: no curves, the rest stays
        log.info("cross-validation %s: %s", run.id, exc)
        return None
    models_dir = run.config.models_dir or get_settings().models_dir
    parts = []
    for model_id in run.model_ids:
        try:
            card = load_card(resolve_model(model_id, models_dir))
        except McalcError:
            return None
        cases = evaluation_scope(card, index, fingerprint)[1]
        ev = load_evaluation(card, fingerprint, data_files(index, cases))
        if ev is None or ev.scores is None:
            return None
        parts.append(ev.scores)
    return pool_scores(parts)
