"""Metrics of a registered model on a dataset, with the patch scores behind them.

On the dataset it was trained on (same fingerprint) the model is scored on the test
patients of its card's split, re-sampled exactly as in training, so the card's test
metrics are reproduced. On any other dataset every patient is used.

The result keeps every patch's truth and probabilities (:class:`EvalScores`) so that
curves, confidence intervals and metrics at any threshold can be drawn without scoring
again (:mod:`mcalc.models.analysis`). With ``cache=True`` it is stored per model and
dataset under ``Settings.cache_dir`` (``evaluations/``, see :func:`evaluation_path`) and
reused while the model file is unchanged (:meth:`ModelCard.fingerprint`); the model and its
card are never touched.

Example:
    >>> result = evaluate_model("demo-custom", "data/demo", "models", cache=True)  # doctest: +SKIP
    >>> result.scope, result.metrics["auc"], len(result.scores)  # doctest: +SKIP
    ('test-split', 1.0, 234)
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.config import get_settings
from mcalc.errors import DatasetError, WriteError
from mcalc.fileio import atomic_write_text
from mcalc.models.card import ModelCard
from mcalc.models.fingerprint import dataset_fingerprint
from mcalc.models.metrics import classification_metrics
from mcalc.models.patches import PatchConfig
from mcalc.models.registry import load_card, resolve_model
from mcalc.models.sampling import sample_dataset
from mcalc.models.scores import EvalScores
from mcalc.models.tasks import positives_for
from mcalc.plural import counted
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    from mcalc.dataset.records import DatasetIndex

__all__ = [
    "EVALUATIONS_DIR",
    "CACHE_FORMAT",
    "EvaluationResult",
    "evaluate_model",
    "evaluation_scope",
    "evaluation_path",
    "data_files",
    "load_evaluation",
    "save_evaluation",
]

log = logging.getLogger(__name__)

#: Folder of a model's cached evaluations.
EVALUATIONS_DIR = "evaluations"
#: Layout version of a cached evaluation; bump it when sampling or scoring changes.
#: (2: the model file is identified by :meth:`ModelCard.fingerprint`; 3: the data files'
#: sizes and modification times are recorded and checked, :func:`data_files`.)
CACHE_FORMAT = 3


@dataclass
class EvaluationResult:
    """Metrics of a model on a dataset, which patients they cover, and the patch scores.

    ``scope`` is ``test-split`` (the card's test patients of the training dataset) or
    ``all-patients`` (another dataset).

    Attributes:
        model_id, data: the model and the dataset path.
        scope, cases: see above; ``cases`` lists the case ids scored.
        metrics: :func:`mcalc.models.metrics.classification_metrics` of the patches.
        card_metrics: the card's test metrics when the scope is ``test-split``.
        task: the model's task.
        fingerprint: the dataset's fingerprint.
        scores: every patch's truth and probabilities (``None`` only for old results).
        seconds: time spent sampling and predicting when the result was computed.
        from_cache: read from the evaluation cache (:func:`evaluation_path`).
        created: when the result was computed (ISO 8601, UTC).
        skipped_images: ``image key -> reason`` of the images left out (unreadable files).
        in_sample: on another dataset (``all-patients``), the case ids scored that name the
            model's training or validation cases (:func:`in_sample_cases`): the same patients
            if this is the same data changed (a file fixed, a case added), whose scores are
            then in-sample; ids that merely coincide across collections mean nothing.
    """

    model_id: str
    data: str
    scope: str
    cases: list[str]
    metrics: dict[str, Any]
    card_metrics: Mapping[str, Any] | None
    task: str = ""
    fingerprint: str = ""
    scores: EvalScores | None = None
    seconds: float | None = None
    from_cache: bool = False
    created: str = ""
    skipped_images: dict[str, str] = field(default_factory=dict)
    in_sample: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The summary printed by ``python -m mcalc evaluate --json`` (no patch scores)."""
        return {
            "model_id": self.model_id,
            "data": self.data,
            "scope": self.scope,
            "cases": self.cases,
            "metrics": self.metrics,
            "card_metrics": self.card_metrics,
            "task": self.task,
            "fingerprint": self.fingerprint,
            "seconds": self.seconds,
            "skipped_images": self.skipped_images,
            "in_sample": self.in_sample,
        }


def evaluation_scope(
    card: ModelCard, index: DatasetIndex, fingerprint: str
) -> tuple[str, list[str]]:
    """``("test-split", test case ids)`` when ``index`` is the model's training data,
    else ``("all-patients", every case id)``."""
    if fingerprint == card.data.fingerprint and card.split.test:
        return "test-split", list(card.split.test)
    return "all-patients", [c.case_id for c in index.cases]


def in_sample_cases(card: ModelCard, case_ids: Iterable[str]) -> list[str]:
    """The ids among ``case_ids`` that name the model's training or validation cases (its
    card's split), sorted. On a dataset with another fingerprint the scope is every patient,
    and a copy of the training data changed in one file is such a dataset: its training
    patients are scored as if unseen (the metrics optimistic) unless someone says so.

    Example:
        >>> from types import SimpleNamespace
        >>> card = SimpleNamespace(split=SimpleNamespace(train=("a", "b"), val=("c",)))
        >>> in_sample_cases(card, ["c", "d", "a"])
        ['a', 'c']
    """
    seen = set(card.split.train) | set(card.split.val)
    return sorted(seen & set(case_ids))


def _check_labels(index: DatasetIndex, task: str, cases: list[str]) -> None:
    """Fail before any work when the chosen cases cannot give the task's labels."""
    chosen = [c for c in index.cases if c.case_id in set(cases)]
    if not chosen:
        raise DatasetError(
            f"none of the {counted(len(cases), 'case')} to evaluate is in {index.root} "
            f"(expected e.g. {', '.join(cases[:3])}): open the dataset the model was "
            "trained on, or another dataset"
        )
    if task == "birads":
        labelled = [c for c in chosen if c.birads_group is not None]
        if not labelled:
            raise DatasetError(
                f"the birads task needs a BI-RADS category (1, 2 or 4-5) per case, but none "
                f"of the {counted(len(chosen), 'case')} of {index.root} has one: add them to "
                "Description.xlsx or the manifest's birads column"
            )
    elif task == "calcification" and not any(c.has_annotations for c in chosen):
        raise DatasetError(
            f"the calcification task needs annotation masks (GT files), but none of the "
            f"{counted(len(chosen), 'case')} of {index.root} has one: annotate calcifications first, "
            "or evaluate a birads model"
        )


def evaluation_path(model_folder: str | Path, fingerprint: str) -> Path:
    """Where the evaluation of a model on the dataset ``fingerprint`` is cached: under
    ``Settings.cache_dir``, in a folder per model folder (its name and a hash of its path)."""
    folder = Path(model_folder).resolve()
    key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return (
        get_settings().cache_dir / EVALUATIONS_DIR / f"{folder.name}-{key}" / f"{fingerprint}.json"
    )


def data_files(index: DatasetIndex, cases: Iterable[str]) -> dict[str, list[int]]:
    """``path -> [size, mtime_ns]`` of the image and annotation files of ``cases``.

    The dataset's fingerprint reads names and sizes only (a copy elsewhere keeps it), so a
    file rewritten at the same size (a DICOM's pixels replaced) kept it, and the cache
    served the scores of the data before the change as this data's; a cached evaluation
    is now read only while these files are as they were."""
    wanted = set(cases)
    out: dict[str, list[int]] = {}
    for case in index.cases:
        if case.case_id not in wanted:
            continue
        for rec in case.images:
            for path in (rec.image_path, rec.annotation_path):
                if path is not None:
                    out[str(Path(path).resolve())] = _stat(Path(path))
    return out


def _stat(path: Path) -> list[int]:
    try:
        st = path.stat()
    except OSError:
        return [-1, -1]
    return [st.st_size, st.st_mtime_ns]


def load_evaluation(
    card: ModelCard, fingerprint: str, files: Mapping[str, list[int]]
) -> EvaluationResult | None:
    """The cached evaluation of a registered model on a dataset, or ``None`` when there is
    none, it is unreadable, of another format, older than the model file, or made from
    other data files than ``files``, the ones about to be scored (:func:`data_files`:
    a file changed since, or another copy of the dataset; logged, not raised)."""
    path = evaluation_path(card.path, fingerprint)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != CACHE_FORMAT:
            log.info(
                "%s: cache format %r, expected %d; ignored", path, data.get("format"), CACHE_FORMAT
            )
            return None
        stamp = card.fingerprint()
        if stamp == "unknown" or data.get("model_file") != stamp:
            log.info("%s: the model file changed since this evaluation; ignored", path)
            return None
        if data["files"] != {k: list(v) for k, v in files.items()}:
            log.info("%s: made from other data files, or they changed since; ignored", path)
            return None
        return EvaluationResult(
            model_id=str(data["model_id"]),
            data=str(data["data"]),
            scope=str(data["scope"]),
            cases=list(data["cases"]),
            metrics=dict(data["metrics"]),
            card_metrics=data.get("card_metrics"),
            task=str(data.get("task", "")),
            fingerprint=str(data["fingerprint"]),
            scores=EvalScores.from_json(data["scores"]),
            seconds=data.get("seconds"),
            from_cache=True,
            created=str(data.get("created", "")),
            skipped_images=dict(data.get("skipped_images") or {}),
        )
    except (
        OSError,
        UnicodeDecodeError,
        json.JSONDecodeError,
        KeyError,
        TypeError,
        ValueError,
    ) as exc:
        log.warning("%s: unreadable cached evaluation (%s); it will be computed again", path, exc)
        return None


def save_evaluation(
    card: ModelCard, result: EvaluationResult, files: Mapping[str, list[int]]
) -> Path | None:
    """Write ``result`` to the evaluation cache (:func:`evaluation_path`) atomically, with
    the ``files`` it scored as they were before it (:func:`data_files`).

    Returns:
        The file written, or ``None`` when the registry cannot be written (read-only,
        full disk): the cache is an optimisation, so that is logged, not raised.
    """
    path = evaluation_path(card.path, result.fingerprint)
    payload = {
        "format": CACHE_FORMAT,
        "model_file": card.fingerprint(),
        "files": dict(files),
        **result.as_dict(),
        "created": result.created,
        "scores": result.scores.as_json() if result.scores is not None else None,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(payload))
    except (OSError, WriteError) as exc:
        log.warning("cannot cache the evaluation in %s (%s); it will be computed again", path, exc)
        return None
    return path


def evaluate_model(
    model: str | Path,
    data: str | Path,
    models_dir: str | Path,
    *,
    batch: int | None = None,
    progress: ProgressFn | None = None,
    threshold: float = 0.5,
    cache: bool = False,
) -> EvaluationResult:
    """Score a registered model on ``data``.

    Args:
        model: registry id or model folder.
        data: dataset folder or manifest.
        models_dir: the registry.
        batch: prediction batch size (default: the card's).
        progress: called ``(done, total, message)`` per image sampled, and once more when
            the patches are predicted.
        threshold: decision threshold of ``metrics`` (binary tasks and views).
        cache: reuse the model's cached evaluation on this dataset, or store a new one.

    Raises:
        ModelError: unknown model, bad card, or a model file that cannot be loaded.
        DatasetError: the dataset is unusable, lacks the labels of the model's task, or
            yields no patch.
    """
    from mcalc.dataset import open_dataset

    folder = resolve_model(model, models_dir)
    card = load_card(folder)
    index = open_dataset(data)
    fingerprint = dataset_fingerprint(index)
    scope, cases = evaluation_scope(card, index, fingerprint)
    task = card.task_name
    _check_labels(index, task, cases)
    files = data_files(index, cases)  # before scoring: a change meanwhile makes it stale
    if cache:
        cached = load_evaluation(card, fingerprint, files)
        if cached is not None:
            log.info("evaluation of %s on %s read from the cache", card.id, data)
            if threshold != cached.metrics.get("threshold", 0.5) and cached.scores is not None:
                cached.metrics = _patch_metrics(cached.scores, card, threshold)
            cached.in_sample = in_sample_cases(card, cases) if scope == "all-patients" else []
            return cached
    if scope == "all-patients":
        log.info("dataset differs from the training data: evaluating on all %d cases", len(cases))

    from mcalc.models.inference import load_model, predict_patches

    t0 = time.perf_counter()
    loaded = load_model(folder, models_dir)
    cfg = PatchConfig(
        size=loaded.patch_size,
        spacing_mm=loaded.spacing_mm,
        pos_per_image=card.patch.pos_per_image,
        neg_per_image=card.patch.neg_per_image,
        input=card.patch.input_mode,
    )
    n_images = sum(len(c.images) for c in index.cases if c.case_id in set(cases))

    def sampled(done: int, total: int, message: str) -> None:
        if progress is not None:
            progress(done, total + 1, message)

    patches = sample_dataset(index, task, cfg, card.seed, case_ids=cases, progress=sampled)
    batch = batch or card.hyperparameters.batch or 64
    proba = predict_patches(loaded, patches.x, batch=batch)
    if progress is not None:
        progress(n_images + 1, n_images + 1, f"predicted {len(proba)} patches")
    patients = {c.case_id: c.patient_id for c in index.cases}
    scores = EvalScores(
        loaded.classes,
        positives_for(loaded.classes, card.binary_views),
        patches.y,
        proba,
        patches.case_ids.astype(str),
        np.asarray([patients.get(c, c) for c in patches.case_ids], dtype=str),
        patches.keys.astype(str),
    )
    metrics = classification_metrics(
        patches.y,
        proba,
        loaded.classes,
        binary_views=card.binary_views,
        threshold=threshold,
    )
    result = EvaluationResult(
        loaded.model_id,
        str(data),
        scope,
        cases,
        metrics,
        dict(card.test_metrics) if scope == "test-split" and card.test_metrics else None,
        task=task,
        fingerprint=fingerprint,
        scores=scores,
        seconds=round(time.perf_counter() - t0, 3),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        skipped_images=dict(patches.skipped),
        in_sample=in_sample_cases(card, cases) if scope == "all-patients" else [],
    )
    if cache:
        # Cached at the default threshold, so that every reader gets the same metrics.
        stored = result
        if threshold != 0.5:
            stored = replace(result, metrics=_patch_metrics(scores, card, 0.5))
        save_evaluation(card, stored, files)
    return result


def _patch_metrics(scores: EvalScores, card: ModelCard, threshold: float) -> dict[str, Any]:
    return classification_metrics(
        scores.y,
        scores.proba,
        scores.classes,
        binary_views=card.binary_views,
        threshold=threshold,
    )
