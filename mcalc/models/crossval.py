"""Patient-level k-fold cross-validation (and leave-one-patient-out).

One split of a hundred breasts can be lucky. Here the patients are dealt into ``k`` folds,
stratified by BI-RADS group and seeded (:func:`mcalc.models.split.patient_folds`); one model
is trained per fold by :func:`mcalc.models.training.train` with a :class:`TrainConfig` that
names its fold (``folds``, ``fold``: the fold's patients are its test set), each is scored on
its own test patients (:func:`mcalc.models.evaluate.evaluate_model`), and the out-of-fold
scores are pooled. Reported per level (patch, image, case): every fold's AUC, their mean and
standard deviation, and the pooled AUC with a patient-bootstrap interval; with detection, each
fold's FROC summary and their mean and standard deviation. ``k = 0`` means one fold per
patient (leave-one-patient-out, as in the published work on small sets).

The folds are independent jobs (:func:`run_fold`): ``engine="local"`` runs them one after
another here, ``engine="ray"`` as parallel tasks on a Ray cluster
(:mod:`mcalc.models.crossval_ray`); with the same seed both give the same result.

Example:
    >>> out = crossval(TrainConfig(data="data/demo", epochs=2), 3)  # doctest: +SKIP
    >>> out["pooled"]["case"]["auc"], out["mean_sd"]["case"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

import numpy as np

from mcalc.errors import ModelError
from mcalc.models.analysis import analyse, ci_text
from mcalc.models.scores import LEVELS, EvalScores
from mcalc.models.split import patient_folds
from mcalc.models.train_config import TrainConfig
from mcalc.progress import ProgressFn

__all__ = ["ENGINES", "crossval", "pool_scores", "run_fold"]

#: Where the folds run: one after another in this process, or as Ray tasks.
ENGINES = ("local", "ray")

log = logging.getLogger(__name__)


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


def run_fold(
    config: TrainConfig, k: int, i: int, model_id: str, patients: list[str], detection: bool
) -> tuple[dict[str, Any], EvalScores]:
    """Train fold ``i`` of ``k`` as ``model_id`` and score it on its test patients.

    Returns:
        The fold's JSON entry and its out-of-fold scores.
    """
    from mcalc.models.evaluate import evaluate_model
    from mcalc.models.training import train

    cfg = replace(config, folds=k, fold=i, model_id=model_id)
    result = train(cfg)
    models_dir = cfg.models_dir or _models_dir()
    ev = evaluate_model(result.path, config.data, models_dir)
    if ev.scores is None:
        raise ValueError(f"fold {i + 1}: the evaluation kept no scores")
    entry: dict[str, Any] = {
        "fold": i + 1,
        "model_id": result.model_id,
        "patients": list(patients),
        "test_cases": list(ev.cases),
        "auc": {},
    }
    for level in LEVELS:
        a = analyse(ev.scores, level, n_boot=0)
        entry["auc"][level] = None if a.roc is None else round(a.roc.auc, 6)
    if detection:
        from mcalc.explain.detection_eval import detection_for_model

        det = detection_for_model(result.path, config.data, models_dir, case_ids=ev.cases)
        entry["detection"] = det.summary()
    return entry, ev.scores


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
        n_boot: resamples of the pooled AUC's interval.
        detection: also evaluate each fold's model over whole images (FROC summary).
        progress: called ``(fold done, folds, message)``.
        engine: one of :data:`ENGINES`.
        address: with ``engine="ray"``, the cluster (``ray://host:10001``, ``auto``);
            ``None`` starts a local Ray instance for the run (unless one is running).

    Raises:
        ModelError, DatasetError: from training or evaluation (bad settings, too few
            patients for ``k`` folds), an unknown engine, or Ray missing.
    """
    from mcalc.dataset import open_dataset

    if engine not in ENGINES:
        raise ModelError(f"unknown engine {engine!r}; expected one of: {', '.join(ENGINES)}")
    config.validate()
    t0 = time.perf_counter()
    index = open_dataset(config.data)
    rows = [(c.patient_id, c.case_id, c.birads_group) for c in index.cases]
    if k == 0:
        k = len({r[0] for r in rows})
    folds = patient_folds(rows, k, seed=config.seed)
    prefix = config.model_id or f"cv-{config.arch}-{config.task}-{time.strftime('%Y%m%d-%H%M%S')}"
    calls = [
        (config, k, i, f"{prefix}-fold{i + 1}of{k}", list(folds[i]), detection) for i in range(k)
    ]
    if engine == "ray":
        from mcalc.models.crossval_ray import run_on_ray

        outcomes = run_on_ray(run_fold, calls, address=address, progress=progress)
    else:
        outcomes = []
        for i, call in enumerate(calls):
            outcomes.append(run_fold(*call))
            if progress is not None:
                progress(i + 1, k, f"fold {i + 1} of {k}: {call[3]}")
    fold_out = [entry for entry, _ in outcomes]
    parts = [scores for _, scores in outcomes]
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
        "k": k,
        "leave_one_patient_out": k == len({r[0] for r in rows}),
        "seed": config.seed,
        "stratified_by": "BI-RADS group",
        "folds": fold_out,
        "fold_patients": [list(f) for f in folds],
        "mean_sd": {level: _mean_sd([f["auc"][level] for f in fold_out]) for level in LEVELS},
        "pooled": pooled_out,
        "config": config.to_json(),
        "engine": engine,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if detection:
        out["detection_mean_sd"] = {
            "cpm": _mean_sd([f["detection"]["cpm"] for f in fold_out]),
            "cluster_cpm": _mean_sd([f["detection"]["cluster_cpm"] for f in fold_out]),
        }
    return out


def _models_dir() -> str:
    from mcalc.config import get_settings

    return str(get_settings().models_dir)
