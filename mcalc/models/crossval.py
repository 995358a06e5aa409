"""Patient-level k-fold cross-validation (and leave-one-patient-out).

One split of a hundred breasts can be lucky. Here the patients are dealt into ``k`` folds,
stratified by BI-RADS group and seeded (:func:`plan_folds`, by
:func:`mcalc.models.split.patient_folds`); one model is trained per fold by
:func:`mcalc.models.training.train` with a :class:`TrainConfig` that names its fold
(``folds``, ``fold``: the fold's patients are its test set); :func:`summarise_folds` scores
each on its own test patients (:func:`mcalc.models.evaluate.evaluate_model`) and pools the
out-of-fold scores. Reported per level (patch, image, case): every fold's AUC, their mean and
standard deviation, and the pooled AUC with a patient-bootstrap interval; with detection,
each fold's FROC summary, their mean and standard deviation, and the FROC pooled over the
folds (:func:`mcalc.explain.detection_eval.pool_detections`). ``k = 0`` means one fold per
patient (leave-one-patient-out, as in the published work on small sets).

:func:`crossval` does all of it for ``python -m mcalc crossval``: the folds train one after
another here (``engine="local"``) or as parallel tasks on a Ray cluster (``engine="ray"``,
:mod:`mcalc.models.crossval_ray`); with the same seed both give the same result.
:mod:`mcalc.jobs.crossval` runs the same folds as background training jobs for the app.

Example:
    >>> out = crossval(TrainConfig(data="data/demo", epochs=2), 3)  # doctest: +SKIP
    >>> out["pooled"]["case"]["auc"], out["mean_sd"]["case"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.cluster import unreachable_ray_address
from mcalc.errors import DatasetError, McalcError, ModelError
from mcalc.models.analysis import (
    analyse,
    ci_text,
    papers_task_summary,
)
from mcalc.models.pooled_accuracy import papers_task_accuracy
from mcalc.models.scores import LEVELS, EvalScores
from mcalc.models.split import MIN_PATIENTS, patient_folds
from mcalc.models.train_config import TrainConfig
from mcalc.plural import counted
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.config import Settings
    from mcalc.explain.scoring import DecisionThreshold

__all__ = [
    "ENGINES",
    "CrossvalPlan",
    "CrossvalResult",
    "CrossvalStopped",
    "check_fold_count",
    "choose_fold_thresholds",
    "close_killed_folds",
    "crossval",
    "fold_threshold",
    "fold_threshold_lines",
    "papers_task_accuracy",
    "plan_folds",
    "pool_scores",
    "summarise_folds",
]

log = logging.getLogger(__name__)

#: Where the folds train: one after another in this process, or as Ray tasks.
ENGINES = ("local", "ray")


def fold_threshold(model: str | Path, models_dir: Path) -> DecisionThreshold:
    """A fold model's decision threshold: its card's, else the stated default 0.5
    (:func:`mcalc.explain.scoring.decision_threshold`); never one chosen on its test fold."""
    from mcalc.explain.scoring import decision_threshold
    from mcalc.models.registry import load_card, resolve_model

    return decision_threshold(load_card(resolve_model(str(model), models_dir)))


def pool_scores(parts: list[EvalScores]) -> EvalScores:
    """The out-of-fold scores of every fold as one evaluation.

    Raises:
        ValueError: no part, or parts of different classes.
    """
    if not parts:
        raise ValueError("no fold scores to pool")
    if len({p.classes for p in parts}) != 1:
        raise ValueError("the folds' models have different classes; they cannot be pooled")
    return EvalScores(
        parts[0].classes,
        parts[0].positive,
        np.concatenate([p.y for p in parts]),
        np.concatenate([p.proba for p in parts]),
        np.concatenate([np.asarray(p.case_ids, str) for p in parts]),
        np.concatenate([np.asarray(p.patient_ids, str) for p in parts]),
        np.concatenate([np.asarray(p.image_keys, str) for p in parts]),
    )


def _mean_sd(values: list[float | None]) -> dict[str, Any]:
    v = [x for x in values if x is not None]
    if not v:
        return {"mean": None, "sd": None, "n": 0}
    return {
        "mean": round(float(np.mean(v)), 6),
        "sd": round(float(np.std(v, ddof=1)), 6) if len(v) > 1 else None,
        "n": len(v),
    }


@dataclass(frozen=True)
class CrossvalPlan:
    """The folds of a cross-validation, before any training.

    Attributes:
        config: the settings shared by every fold.
        k: folds (leave-one-patient-out: as many as patients).
        folds: each fold's patients (its test set).
        prefix: the folds' registry ids are ``<prefix>-fold<i>of<k>``.
        leave_one_patient_out: one fold per patient.
    """

    config: TrainConfig
    k: int
    folds: list[tuple[str, ...]]
    prefix: str
    leave_one_patient_out: bool

    def configs(self) -> list[TrainConfig]:
        """One training configuration per fold (its fold's patients are the test set)."""
        return [
            replace(self.config, folds=self.k, fold=i, model_id=self.model_id(i))
            for i in range(self.k)
        ]

    def model_id(self, fold: int) -> str:
        """The registry id of fold ``fold`` (0-based)."""
        return f"{self.prefix}-fold{fold + 1}of{self.k}"


class CrossvalStopped(KeyboardInterrupt):
    """A run stopped before its last fold (Ctrl+C, SIGTERM): an interrupt still, with its
    ``plan`` and the folds it had ``finished`` (registered, each a whole model of its fold),
    so that the caller can record it."""

    def __init__(self, plan: CrossvalPlan, finished: list[str]) -> None:
        super().__init__(f"cross-validation {plan.prefix} stopped")
        self.plan = plan
        self.finished = finished


def _trainable(n_patients: int, k: int) -> bool:
    """Whether every fold of ``k`` leaves 2 patients or more to train and validate on."""
    return 2 <= k <= n_patients and n_patients - -(-n_patients // k) >= 2


def check_fold_count(n_patients: int, k: int, data: str | Path = "the dataset") -> None:
    """Refuse ``k`` folds (0: one per patient) of ``n_patients`` patients that cannot all
    train: each fold tests its own patients and needs at least one other patient to train
    on and one to validate on, so a run needs at least :data:`MIN_PATIENTS` patients.

    Example:
        >>> try:
        ...     check_fold_count(4, 5, "data/few")
        ... except DatasetError as exc:
        ...     print(exc)
        data/few: found 4 patients, but 5-fold cross-validation needs at least 5 (each fold tests its own patients, and trains and validates on the others); use 2 to 4 folds, or 0 (leave-one-patient-out: 4 folds)

    Raises:
        DatasetError: what was found, what the folds need and what to do.
    """
    kk = n_patients if k == 0 else k
    if _trainable(n_patients, kk):
        return
    what = "leave-one-patient-out cross-validation" if k == 0 else f"{k}-fold cross-validation"
    found = f"{data}: found {n_patients} patient{'' if n_patients == 1 else 's'}"
    why = "(each fold tests its own patients, and trains and validates on the others)"
    good = [j for j in range(2, n_patients + 1) if _trainable(n_patients, j)]
    if not good:
        raise DatasetError(
            f"{found}, but {what} needs at least {max(MIN_PATIENTS, k)} {why}; choose a "
            "dataset with more patients"
        )
    use = f"{good[0]} folds" if len(good) == 1 else f"{good[0]} to {good[-1]} folds"
    todo = f"use {use}, or 0 (leave-one-patient-out: {n_patients} folds)"
    if k > n_patients:
        raise DatasetError(f"{found}, but {what} needs at least {k} {why}; {todo}")
    largest = -(-n_patients // k)
    raise DatasetError(
        f"{found}: {k} folds put {largest} in the largest fold, which leaves "
        f"{n_patients - largest} to train and validate on (2 at least); {todo}"
    )


def plan_folds(config: TrainConfig, k: int) -> CrossvalPlan:
    """Deal the dataset's patients into ``k`` folds (0: one per patient).

    Raises:
        ModelError: bad settings. DatasetError: an unusable dataset or too few patients.
    """
    from mcalc.dataset import open_dataset

    config.validate()
    index = open_dataset(config.data)
    rows = [(c.patient_id, c.case_id, c.birads_group) for c in index.cases]
    n_patients = len({r[0] for r in rows})
    check_fold_count(n_patients, k, config.data)
    kk = n_patients if k == 0 else k
    folds = patient_folds(rows, kk, seed=config.seed)
    prefix = config.model_id or f"cv-{config.arch}-{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"
    return CrossvalPlan(config, kk, folds, prefix, kk == n_patients)


@dataclass
class CrossvalResult:
    """Scores of every fold's model on its own test patients, pooled.

    Attributes:
        summary: the JSON of ``python -m mcalc crossval`` (see :func:`crossval`).
        pooled: the out-of-fold scores of every fold as one evaluation.
        detection: the pooled detection evaluation's dict (``None`` without detection).
    """

    summary: dict[str, Any]
    pooled: EvalScores
    detection: dict[str, Any] | None = None


def summarise_folds(
    plan: CrossvalPlan,
    fold_models: list[str | Path],
    *,
    n_boot: int = 1000,
    detection: bool = False,
    cache: bool = False,
    progress: ProgressFn | None = None,
) -> CrossvalResult:
    """Score each fold's trained model on its own test patients and pool the scores.

    Args:
        plan: the folds (:func:`plan_folds`).
        fold_models: each fold's registered model (id or folder), in fold order.
        n_boot: resamples of the pooled intervals (AUC, FROC bands).
        detection: also the detections of each fold's model over whole images (FROC per
            fold and pooled over the folds).
        cache: read and write evaluations through the evaluation cache (the app does).
        progress: called ``(fold done, folds, message)``.

    Raises:
        ValueError: a model per fold was not given, or an evaluation kept no scores.
        DatasetError: a fold's model was scored on patients outside its fold (the dataset
            is no longer the one the folds were trained on).
        ModelError, DatasetError: from the evaluation.
    """
    from mcalc.models.evaluate import evaluate_model

    if len(fold_models) != plan.k:
        raise ValueError(f"expected one model per fold ({plan.k}), got {len(fold_models)}")
    config = plan.config
    models_dir = config.models_dir or _models_dir()
    fold_out: list[dict[str, Any]] = []
    parts: list[EvalScores] = []
    detections = []
    for i, model in enumerate(fold_models):
        ev = evaluate_model(model, config.data, models_dir, cache=cache)
        if ev.scores is None:
            raise ValueError(f"fold {i + 1}: the evaluation kept no scores")
        # Out-of-fold means the fold's own patients only: an evaluation on every patient
        # (the dataset's fingerprint no longer that of the fold's training) holds the
        # model's training patients, and pooled it counts every patient once per fold.
        outside = sorted(set(ev.scores.patient_ids.tolist()) - set(plan.folds[i]))
        if outside:
            raise DatasetError(
                f"fold {i + 1}: {ev.model_id} was scored on {counted(len(outside), 'patient')} "
                f"outside its test fold ({', '.join(outside[:5])}"
                f"{', ...' if len(outside) > 5 else ''}; scope {ev.scope}): the dataset "
                "differs from the one the folds were trained on, so the folds cannot be "
                "pooled out of fold; pool them on that data, or run the cross-validation again"
            )
        parts.append(ev.scores)
        entry: dict[str, Any] = {
            "fold": i + 1,
            "model_id": ev.model_id,
            "patients": list(plan.folds[i]),
            "test_cases": list(ev.cases),
            "auc": {},
        }
        for level in LEVELS:
            a = analyse(ev.scores, level, n_boot=0)
            entry["auc"][level] = None if a.roc is None else round(a.roc.auc, 6)
        if detection:
            from mcalc.explain.detection_eval import detection_for_model

            det = detection_for_model(model, config.data, models_dir, case_ids=ev.cases)
            detections.append(det)
            entry["detection"] = det.summary()
        fold_out.append(entry)
        if progress is not None:
            progress(i + 1, plan.k, f"fold {i + 1} of {plan.k} scored: {ev.model_id}")
    pooled = pool_scores(parts)
    pooled_out: dict[str, Any] = {}
    for level in LEVELS:
        a = analyse(pooled, level, n_boot=n_boot, seed=config.seed)
        pooled_out[level] = {
            "auc": None if a.roc is None else round(a.roc.auc, 6),
            "auc_ci": None
            if a.auc_ci is None
            else [round(a.auc_ci.low, 6), round(a.auc_ci.high, 6)],
            "auc_ci_text": ci_text(a.auc_ci, a.n_patients),
            "n": a.n,
            "patients": a.n_patients,
            "notes": a.notes,
        }
    out: dict[str, Any] = {
        "k": plan.k,
        "leave_one_patient_out": plan.leave_one_patient_out,
        "seed": config.seed,
        "stratified_by": "BI-RADS group",
        "prefix": plan.prefix,
        "folds": fold_out,
        "fold_patients": [list(f) for f in plan.folds],
        "mean_sd": {level: _mean_sd([f["auc"][level] for f in fold_out]) for level in LEVELS},
        "pooled": pooled_out,
        "config": config.to_json(),
    }
    # The papers' task (benign vs suspicious, normal cases left out), what the published
    # results are set beside; a calcification model's runs answer another question.
    papers = papers_task_summary(pooled, n_boot=n_boot, seed=config.seed)
    if papers is not None:
        thresholds = [fold_threshold(model, Path(models_dir)) for model in fold_models]
        out["papers_task"] = papers | papers_task_accuracy(parts, thresholds)
    pooled_det = None
    if detection:
        from mcalc.explain.detection_eval import pool_detections

        out["detection_mean_sd"] = {
            "cpm": _mean_sd([f["detection"]["cpm"] for f in fold_out]),
            "cluster_cpm": _mean_sd([f["detection"]["cluster_cpm"] for f in fold_out]),
        }
        pooled_det = pool_detections(detections, n_boot=n_boot, seed=config.seed).as_dict()
        out["detection_pooled"] = pooled_det
    return CrossvalResult(out, pooled, pooled_det)


def crossval(
    config: TrainConfig,
    k: int,
    *,
    n_boot: int = 1000,
    detection: bool = False,
    progress: ProgressFn | None = None,
    engine: str = "local",
    address: str | None = None,
) -> dict[str, Any]:
    """Train and score one model per fold; the JSON of ``python -m mcalc crossval``.

    Args:
        config: the training settings shared by every fold (its ``model_id``, if any, is
            the prefix of the folds' ids).
        k: folds (>= 2), or 0 for leave-one-patient-out.
        n_boot: resamples of the pooled AUC's interval (and the pooled FROC's bands).
        detection: also evaluate each fold's model over whole images (FROC summary per
            fold, their mean and sd, and the FROC pooled over the folds).
        progress: called ``(folds trained, folds, message)``.
        engine: one of :data:`ENGINES`: ``ray`` trains the folds as parallel Ray tasks
            (then scores them here, as the local engine does).
        address: with ``engine="ray"``, the cluster (``ray://host:10001``, ``auto``);
            ``None`` starts a local Ray instance for the run (unless one is running).

    Returns:
        ``k``, ``seed``, ``engine``, ``folds`` (each fold's model, patients, test cases and AUC per
        level), ``mean_sd`` and ``pooled`` (AUC with CI) per level, ``config``, ``seconds``;
        with detection, ``detection_mean_sd`` and ``detection_pooled``; for a ``birads``
        model, ``papers_task`` (:func:`mcalc.models.analysis.papers_task_summary`).

    Raises:
        ModelError, DatasetError: from training or evaluation (bad settings, too few
            patients for ``k`` folds), an unknown engine, or Ray missing.
    """
    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r}; expected one of: {', '.join(ENGINES)}")
    if address and engine != "ray":
        # Refused, not ignored: the folds would train here while the user meant a cluster.
        raise ModelError(
            f"address {address!r} is a Ray cluster, but the engine is {engine!r}: "
            "add --engine ray (engine='ray'), or leave out the address to train here"
        )
    if engine == "ray" and (problem := unreachable_ray_address(address)):
        raise ModelError(problem)  # at once: Ray itself waits for minutes
    t0 = time.perf_counter()
    plan = plan_folds(config, k)
    calls = [(cfg,) for cfg in plan.configs()]
    paths: list[str | Path] = []
    try:
        if engine == "ray":
            from mcalc.models.crossval_ray import run_on_ray

            paths = list(run_on_ray(train_fold, calls, address=address, progress=progress))
        else:
            for i, (cfg,) in enumerate(calls):
                paths.append(train_fold(cfg))
                if progress is not None:
                    progress(i + 1, plan.k, f"fold {i + 1} of {plan.k} trained: {cfg.model_id}")
    except (KeyboardInterrupt, ModelError) as exc:
        # A fold's training turns the interrupt into "training of <fold> was interrupted:
        # nothing was registered" (true of that fold only).
        if not (isinstance(exc, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt)):
            raise
        finished = _registered(plan)
        if engine == "ray":
            close_killed_folds(plan, finished)
        if note := stopped_folds_note(plan):
            log.warning(note)
        raise CrossvalStopped(plan, finished) from exc
    # The config's rule (``crossval --operating-point``, the tab's toggle): each fold's
    # decision threshold chosen on its validation patients before the folds are pooled.
    rule = config.operating_point
    chosen = None if rule == "none" else choose_fold_thresholds(plan, paths, rule)
    out = summarise_folds(plan, paths, n_boot=n_boot, detection=detection).summary
    if chosen is not None:
        out["operating_points"] = chosen
    out["engine"] = engine
    out["seconds"] = round(time.perf_counter() - t0, 3)
    return out


def stopped_folds_note(plan: CrossvalPlan) -> str:
    """What a run stopped before its last fold leaves: the folds it registered (each a
    whole model) and what to do about them (a rerun with the same id stops at the first);
    ``""`` when it registered none."""
    kept = _registered(plan)
    if not kept:
        return ""
    return (
        f"cross-validation stopped with {len(kept)} of {plan.k} folds registered: "
        f"{', '.join(kept)} (each a whole model of its fold; no pooled result). A rerun "
        f"with the same --id stops at {kept[0]}: choose another --id, or delete them "
        f"(`python -m mcalc delete model ID --as NAME`, an admin)"
    )


def close_killed_folds(plan: CrossvalPlan, finished: list[str]) -> list[str]:
    """End the run folders of the folds that a stop killed on Ray (``ray.cancel(force=True)``
    ends the worker process: its ``progress.jsonl`` stopped on a batch, as if it still ran)
    as a fold stopped here ends: an ``interrupted`` event, the ``FAILED`` file, no half-made
    registration. Folders this machine does not see (a cluster's own disks) are left.

    Returns:
        The folds so ended.
    """
    from mcalc.models.registry import discard_partial
    from mcalc.models.train_events import emit_event, mark_failed

    runs_dir = Path(plan.config.runs_dir or _settings().runs_dir)
    closed = []
    for model_id in (plan.model_id(i) for i in range(plan.k)):
        path = runs_dir / model_id / "progress.jsonl"
        if model_id in finished or _last_event(path) in (None, "done", "failed", "interrupted"):
            continue
        event = {"event": "interrupted", "message": "its Ray task was cancelled"}
        emit_event(path, None, event)
        mark_failed(path.parent, model_id, event)
        discard_partial(plan.config.models_dir or _settings().models_dir, model_id)
        closed.append(model_id)
    return closed


def _last_event(path: Path) -> str | None:
    """The ``event`` of the last line of a run's ``progress.jsonl``; ``None``: no such file,
    or no event to read."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return str(json.loads(lines[-1]).get("event")) if lines else None
    except (OSError, UnicodeDecodeError, ValueError, AttributeError):
        return None


def _registered(plan: CrossvalPlan) -> list[str]:
    """The folds of ``plan`` registered now (each a whole model of its fold)."""
    from mcalc.models.registry import is_registered

    models_dir = plan.config.models_dir or _models_dir()
    return [plan.model_id(i) for i in range(plan.k) if is_registered(models_dir, plan.model_id(i))]


def choose_fold_thresholds(
    plan: CrossvalPlan, fold_models: list[str | Path], rule: str
) -> list[dict[str, Any]]:
    """Each fold model's decision threshold chosen by ``rule`` on that fold's validation
    patients and recorded on its card, as ``train --operating-point`` does
    (:func:`mcalc.explain.operating.choose_operating_point`); a fold where none can be
    chosen (validation images of one class, likely with few patients) keeps the default,
    and its entry says why. JSON-ready, in fold order."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.operating import choose_operating_point
    from mcalc.models.inference import load_model
    from mcalc.models.operating_point import parse_rule, record_threshold

    parsed = parse_rule(rule)
    index = open_dataset(plan.config.data)
    out: list[dict[str, Any]] = []
    for i, model in enumerate(fold_models, start=1):
        folder = Path(model)
        try:
            loaded = load_model(folder, folder.parent)
            choice, _ = choose_operating_point(loaded, index, parsed, by=plan.config.trained_by)
        except McalcError as exc:
            log.info("fold %d: no decision threshold chosen: %s", i, exc)  # said in the result
            out.append({"fold": i, "value": None, "note": f"{exc}: it decides at 0.5"})
            continue
        record_threshold(folder, choice)
        out.append({"fold": i, "value": choice.value, "source": choice.source})
    return out


def fold_threshold_lines(points: list[dict[str, Any]]) -> list[str]:
    """A result's ``operating_points`` in words, one line a fold, as the command and the
    Evaluate page say them: ``fold 1 decides at 0.70: <its source, or why none>``."""
    from mcalc.explain.scoring import DEFAULT_THRESHOLD, threshold_label

    return [
        f"fold {t['fold']} decides at "
        f"{threshold_label(DEFAULT_THRESHOLD if t['value'] is None else t['value'])}: "
        f"{t.get('source') or t.get('note')}"
        for t in points
    ]


def train_fold(config: TrainConfig) -> str:
    """Train one fold's model (a Ray task with ``engine="ray"``); its registry folder."""
    from mcalc.models.training import train

    return str(train(config).path)


def _models_dir() -> str:
    return str(_settings().models_dir)


def _settings() -> Settings:
    from mcalc.config import get_settings

    return get_settings()
