"""Detection evaluation of a model over whole images: detections, FROC and cluster FROC.

The model is slid over every image of the chosen cases by the one analysis call
(:func:`mcalc.explain.service.analyse_case`, so maps come from and go to the results cache
exactly as for Predict); each map's positive-class probabilities, interpolated to the
model-input image (:meth:`ProbabilityMap.dense`), give the detections
(:func:`mcalc.models.detection.find_detections`, inside the breast); the annotation, mapped
onto the same grid, gives the findings (:class:`mcalc.models.froc.ImageTruth`); and the
counts of every image give the FROC and cluster FROC (:func:`mcalc.models.froc.froc`).

Findings are taken on the model-input grid (the model's pixel spacing), where the map
lives: marks closer than a model pixel merge into one calcification there.

Example:
    >>> from mcalc.models.inference import load_model  # doctest: +SKIP
    >>> loaded = load_model("demo-custom", "models")  # doctest: +SKIP
    >>> ev = evaluate_detection(loaded, index.cases)  # doctest: +SKIP
    >>> ev.froc.cpm, ev.as_dict()["froc"][:2]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcalc.explain.results import ResultsCache
from mcalc.explain.service import AnalysisSettings, ImageInput, analyse_case
from mcalc.explain.sliding import SlidingSettings
from mcalc.models.birads_eval import GROUPS, CaseFeatures
from mcalc.models.detection import (
    Detection,
    DetectionSettings,
    detection_clusters,
    detection_points,
)
from mcalc.models.froc import (
    DEFAULT_CLUSTER_TOLERANCE_MM,
    DEFAULT_TOLERANCE_MM,
    FrocResult,
    ImageCounts,
    ImageTruth,
    calcification_counts,
    cluster_counts,
    froc,
)
from mcalc.plural import counted
from mcalc.progress import ProgressFn

if TYPE_CHECKING:
    import numpy as np

    from mcalc.dataset.records import CaseRecord, ImageRecord
    from mcalc.models.inference import LoadedModel

__all__ = [
    "DetectionEvalSettings",
    "ImageDetections",
    "DetectionEvaluation",
    "evaluate_detection",
    "case_features",
    "detection_for_model",
    "pool_detections",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionEvalSettings:
    """Everything that changes a detection evaluation.

    Attributes:
        detection: how detections are found (min distance, threshold, cap).
        tolerance_mm: largest detection-to-calcification distance of a hit.
        cluster_tolerance_mm: largest distance between cluster centroids of a hit.
        n_boot: patient bootstrap resamples of the bands (0: none).
        seed: the bootstrap's seed.
        sliding: the sliding window (stride, breast threshold).
    """

    detection: DetectionSettings = field(default_factory=DetectionSettings)
    tolerance_mm: float = DEFAULT_TOLERANCE_MM
    cluster_tolerance_mm: float = DEFAULT_CLUSTER_TOLERANCE_MM
    n_boot: int = 0
    seed: int = 0
    sliding: SlidingSettings = field(default_factory=SlidingSettings)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.detection.as_dict(),
            "tolerance_mm": self.tolerance_mm,
            "cluster_tolerance_mm": self.cluster_tolerance_mm,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "stride": self.sliding.stride,
            "min_breast": self.sliding.min_breast,
        }


@dataclass(frozen=True)
class ImageDetections:
    """One image's detections and findings (positions in model-input pixels).

    Attributes:
        key, case_id, patient: which image.
        detections: by decreasing score.
        n_findings, n_clusters: annotated findings and clusters (regions count in both).
        spacing_mm: the model-input grid's pixel spacing.
        factor: native pixels x ``factor`` = model-input pixels.
        map_score: the image's map score (:func:`mcalc.explain.scoring.map_scores`).
        class_scores: the map score of every class of the model.
    """

    key: str
    case_id: str
    patient: str
    detections: tuple[Detection, ...]
    n_findings: int
    n_clusters: int
    spacing_mm: tuple[float, float]
    factor: float
    map_score: float = 0.0
    class_scores: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "case_id": self.case_id,
            "patient": self.patient,
            "n_findings": self.n_findings,
            "n_clusters": self.n_clusters,
            "map_score": self.map_score,
            "detections": [
                {
                    "row": round(d.row / self.factor, 1),
                    "col": round(d.col / self.factor, 1),
                    "score": round(d.score, 4),
                    "size_mm": d.size_mm,
                }
                for d in self.detections
            ],
        }


@dataclass
class DetectionEvaluation:
    """FROC and cluster FROC of a model over images, with what they were computed from
    (``counts``, ``cluster_counts``: each image's hits per threshold, for pooling)."""

    froc: FrocResult
    cluster_froc: FrocResult
    images: list[ImageDetections]
    settings: DetectionEvalSettings
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counts: list[ImageCounts] = field(default_factory=list)
    cluster_counts: list[ImageCounts] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The summary numbers (no curves), for tables."""
        f, c = self.froc.as_dict(), self.cluster_froc.as_dict()
        return {
            "sensitivity_at": f["sensitivity_at"],
            "cpm": f["cpm"],
            "ci": f["ci"],
            "cluster_sensitivity_at": c["sensitivity_at"],
            "cluster_cpm": c["cpm"],
            "cluster_ci": c["ci"],
            "cpm_convention": f["cpm_convention"],
            "n_images": f["n_images"],
            "n_patients": f["n_patients"],
            "n_findings": f["n_findings"],
            "n_clusters": c["n_findings"],
            "n_detections": sum(len(im.detections) for im in self.images),
        }

    def as_dict(self) -> dict[str, Any]:
        """The ``detection`` object of ``python -m mcalc evaluate --json``."""
        f, c = self.froc.as_dict(), self.cluster_froc.as_dict()
        return {
            "froc": f["froc"],
            "cluster_froc": c["froc"],
            "summary": self.summary(),
            "band": f["band"],
            "cluster_band": c["band"],
            "settings": self.settings.as_dict(),
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }


def _unknown_truth(rec: ImageRecord | None, marks: np.ndarray | None) -> str | None:
    """Why an image's findings are unknown (no annotation file where the collection has
    one, or one that cannot be read); ``None`` when known (none marked included)."""
    if rec is None:
        return None
    unknown = rec.unknown_annotation()
    if unknown is None and rec.annotation_path is not None and marks is None:
        unknown = f"{rec.key}: its annotation {rec.annotation_path.name} cannot be read"
    return unknown


def _reasons(skipped: list[str], keys_shown: int = 3) -> str:
    """``skipped`` ("key: reason") grouped by reason, each with its first image keys: the
    first reason alone (one unreadable file) hid that every other image failed for another
    (no breast region at the model's patch size), so fixing that file changed nothing."""
    by_reason: dict[str, list[str]] = {}
    for item in skipped:
        key, _, reason = item.partition(": ")
        by_reason.setdefault(reason or key, []).append(key)
    parts = []
    for reason, keys in by_reason.items():
        more = f" and {len(keys) - keys_shown} more" if len(keys) > keys_shown else ""
        parts.append(f"{', '.join(keys[:keys_shown])}{more}: {reason}")
    return "; ".join(parts)


def evaluate_detection(
    loaded: LoadedModel,
    cases: Sequence[CaseRecord],
    settings: DetectionEvalSettings | None = None,
    *,
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> DetectionEvaluation:
    """Detections of ``loaded`` on every image of ``cases`` and their FROC curves.

    Images without an annotation count as images without findings (their detections are
    false positives). Images the model cannot analyse (unreadable, no breast) and images
    whose annotation is unknown (a missing GT file, :meth:`ImageRecord.unknown_annotation`,
    or one that cannot be read: counting them as clean made every detection on their
    calcifications a false positive) are skipped and listed.

    Raises:
        ModelError: the model cannot be slid over images.
        ValueError: no image could be analysed.
    """
    settings = settings or DetectionEvalSettings()
    t0 = time.perf_counter()
    analysis = AnalysisSettings(sliding=settings.sliding)
    det = settings.detection
    images: list[ImageDetections] = []
    counts: list[ImageCounts] = []
    cluster: list[ImageCounts] = []
    skipped: list[str] = []
    total = sum(len(c.images) for c in cases)
    done = 0
    for case in cases:
        inputs = [ImageInput.from_record(r, case) for r in case.images]
        kinds = {r.key: r.annotation_kind for r in case.images}
        out = analyse_case(loaded, inputs, analysis, results=results)
        # Named: a reason such as "no breast region found in this image" does not say which.
        skipped += [f"{s.key}: {s.message}" for s in out.skipped]
        records = {r.key: r for r in case.images}
        for im in out.images:
            unknown = _unknown_truth(records.get(im.key), im.marks)
            if unknown is not None:
                skipped.append(f"{unknown}; left out of detection")
                continue
            dets = im.detections(det)
            truth = ImageTruth.from_mask(im.marks, im.spacing_mm, kinds.get(im.key, "mask"))
            pts, scores = detection_points(dets)
            counts.append(
                calcification_counts(
                    pts, scores, truth, tolerance_mm=settings.tolerance_mm, patient=case.patient_id
                )
            )
            cluster.append(
                cluster_counts(
                    pts,
                    scores,
                    truth,
                    tolerance_mm=settings.cluster_tolerance_mm,
                    patient=case.patient_id,
                )
            )
            images.append(
                ImageDetections(
                    im.key,
                    case.case_id,
                    case.patient_id,
                    tuple(dets),
                    truth.n_findings,
                    truth.n_cluster_findings,
                    im.spacing_mm,
                    im.pmap.factor,
                    float(im.scores.score),
                    dict(im.scores.classes),
                )
            )
        done += len(case.images)
        if progress is not None:
            progress(done, total, f"{case.case_id}: {counted(len(out.images), 'image')} analysed")
    if not counts:
        raise ValueError(
            f"no image of the {counted(len(cases), 'case')} could be analysed"
            + (f" ({_reasons(skipped)})" if skipped else "")
            + ": check the images, or choose other cases"
        )
    n_boot, seed = settings.n_boot, settings.seed
    return DetectionEvaluation(
        froc(counts, n_boot=n_boot, seed=seed),
        froc(cluster, n_boot=n_boot, seed=seed),
        images,
        settings,
        skipped,
        time.perf_counter() - t0,
        counts,
        cluster,
    )


def pool_detections(
    evaluations: Sequence[DetectionEvaluation], *, n_boot: int = 0, seed: int = 0
) -> DetectionEvaluation:
    """One FROC and cluster FROC over the images of several evaluations: the folds of a
    cross-validation, each fold's model on its own test patients (out-of-fold detections).

    As for the pooled AUC, the scores of the folds' models are taken to be on one scale
    (same architecture and training settings); the bootstrap resamples patients across
    all folds.

    Raises:
        ValueError: no evaluation, one without per-image counts, or different settings.
    """
    if not evaluations:
        raise ValueError("no detection evaluation to pool")
    if any(not ev.counts for ev in evaluations):
        raise ValueError("a detection evaluation without per-image counts cannot be pooled")
    first = {k: v for k, v in evaluations[0].settings.as_dict().items() if k != "n_boot"}
    for ev in evaluations[1:]:
        other = {k: v for k, v in ev.settings.as_dict().items() if k != "n_boot"}
        if other != first:
            raise ValueError(f"detections made with different settings: {first} vs {other}")
    counts = [c for ev in evaluations for c in ev.counts]
    cluster = [c for ev in evaluations for c in ev.cluster_counts]
    return DetectionEvaluation(
        froc(counts, n_boot=n_boot, seed=seed),
        froc(cluster, n_boot=n_boot, seed=seed),
        [im for ev in evaluations for im in ev.images],
        replace(evaluations[0].settings, n_boot=n_boot, seed=seed),
        [s for ev in evaluations for s in ev.skipped],
        sum(ev.seconds for ev in evaluations),
        counts,
        cluster,
    )


def case_features(
    ev: DetectionEvaluation,
    cases: Sequence[CaseRecord],
    *,
    score_threshold: float = 0.5,
) -> list[CaseFeatures]:
    """Each case's image scores, detections and clusters at or above ``score_threshold``,
    for the case-level BI-RADS classification (:mod:`mcalc.models.birads_eval`)."""
    by_case: dict[str, list[ImageDetections]] = {}
    for im in ev.images:
        by_case.setdefault(im.case_id, []).append(im)
    out = []
    for case in cases:
        ims = by_case.get(case.case_id, [])
        if not ims:
            continue
        n_det = n_clu = 0
        for im in ims:
            kept = [d for d in im.detections if d.score >= score_threshold]
            n_det += len(kept)
            n_clu += len(detection_clusters(kept, im.spacing_mm))
        per_class = None
        if all(set(GROUPS) <= set(im.class_scores) for im in ims):
            per_class = tuple(tuple(im.class_scores[g] for g in GROUPS) for im in ims)
        out.append(
            CaseFeatures(
                case.case_id,
                case.patient_id,
                case.birads_group,
                case.biopsy or None,
                tuple(im.map_score for im in ims),
                n_det,
                n_clu,
                per_class,
            )
        )
    return out


def detection_for_model(
    model: str | Path,
    data: str | Path,
    models_dir: str | Path,
    settings: DetectionEvalSettings | None = None,
    *,
    case_ids: Sequence[str] | None = None,
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> DetectionEvaluation:
    """:func:`evaluate_detection` of a registered model on a dataset's evaluated cases: the
    card's test patients on its training data, every case of another dataset
    (:func:`mcalc.models.evaluate.evaluation_scope`), or ``case_ids`` when given.

    Maps go through ``results`` (default: the results cache Predict uses, under
    ``Settings.cache_dir``), so a second evaluation only recounts.

    Raises:
        ModelError: unknown model or one that cannot be slid over images.
        DatasetError: an unusable dataset. ValueError: no image could be analysed.
    """
    from mcalc.config import get_settings
    from mcalc.dataset import open_dataset
    from mcalc.models.evaluate import evaluation_scope
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.inference import load_model
    from mcalc.models.registry import load_card, resolve_model

    index = open_dataset(data)
    if case_ids is None:
        card = load_card(resolve_model(model, models_dir))
        _, case_ids = evaluation_scope(card, index, dataset_fingerprint(index))
    wanted = set(case_ids)
    cases = [c for c in index.cases if c.case_id in wanted]
    if results is None:
        results = ResultsCache(get_settings().cache_dir / "predict")
    loaded = load_model(model, models_dir)
    return evaluate_detection(loaded, cases, settings, results=results, progress=progress)
