"""Case-level BI-RADS classification of a registered model on a dataset.

The model's whole-image outputs (:func:`mcalc.explain.detection_eval.detection_for_model`:
map scores, detections, clusters) become case features
(:func:`~mcalc.explain.detection_eval.case_features`), and
:func:`mcalc.models.birads_eval.evaluate_birads` classifies the cases with the chosen
aggregation rule. The ``logistic`` rule is fitted on the model's **training patients**
(its card's split), whose maps are computed here too (and cached like Predict's), so it
needs the dataset the model was trained on.

``python -m mcalc evaluate`` (``birads`` in its JSON) and Evaluate's BI-RADS tab both call
:func:`birads_for_model`.

Thresholds (:func:`case_threshold`): the ``max`` and ``mean`` rules' case scores are map
scores, the unit of the model's operating threshold (its card's decision threshold, at which
Predict reads an image): their metrics are read at it unless a threshold is given (with
``max``, a case reads suspicious exactly when Predict reads one of its images positive). The
``logistic`` rule's case score is the regression's probability, another unit: 0.5 unless
given. The detections a case counts (its ``detections`` and ``clusters``, the logistic rule's
features, and the temporal change count) are those the model calls: scoring at or above its
operating threshold, whatever threshold the metrics are read at (moving that threshold does
not refit the regression).

Example:
    >>> ev = detection_for_model("demo-custom", "data/demo", "models")  # doctest: +SKIP
    >>> out = birads_for_model("demo-custom", "data/demo", "models", ev, rule="max")  # doctest: +SKIP
    >>> out["all"]["auc"], out["rule_text"]  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mcalc.errors import ModelError
from mcalc.explain.detection_eval import (
    DetectionEvalSettings,
    DetectionEvaluation,
    case_features,
    detection_for_model,
)
from mcalc.explain.results import ResultsCache
from mcalc.explain.scoring import MAP_SCORE, DecisionThreshold, decision_threshold
from mcalc.models.birads_eval import CaseFeatures
from mcalc.models.published import prior_use
from mcalc.progress import ProgressFn

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import CaseRecord
    from mcalc.explain.detection_eval import ImageDetections
    from mcalc.models.card import ModelCard

#: The logistic rule's threshold on its probability, unless one is given.
LOGISTIC_THRESHOLD = 0.5


def _points(im: ImageDetections, threshold: float) -> np.ndarray:
    """Full-resolution (row, col) of an image's detections at or above ``threshold``."""
    pts = [[d.row / im.factor, d.col / im.factor] for d in im.detections if d.score >= threshold]
    return np.asarray(pts, float).reshape(-1, 2)


def change_counts(
    detection: DetectionEvaluation,
    cases: Sequence[CaseRecord],
    cache: ImageCache,
    *,
    score_threshold: float = 0.5,
) -> dict[str, int]:
    """Per case, the detections (score at least ``score_threshold``: :func:`birads_for_model`
    gives the model's operating threshold) on the recent images
    with no counterpart on the registered prior of the same view: the temporal change a
    case-level rule can use. Views without both rounds analysed are left out; a case with
    none is absent from the result.

    The prior is registered to the recent image (:func:`mcalc.temporal.register_pair`,
    cached) and the two rounds' detections are matched through it
    (:func:`mcalc.temporal.change.track_points`, :data:`CHANGE_TOLERANCE_MM`).
    """
    from mcalc.errors import McalcError
    from mcalc.temporal import pair_records, register_pair
    from mcalc.temporal.change import count_statuses, track_points

    by_key = {im.key: im for im in detection.images}
    out: dict[str, int] = {}
    for case in cases:
        for view in ("CC", "MLO"):
            try:
                rec_r, rec_p = pair_records(case, view)
            except McalcError:
                continue
            im_r, im_p = by_key.get(rec_r.key), by_key.get(rec_p.key)
            if im_r is None or im_p is None:
                continue
            try:
                pair = register_pair(cache, case, view)
            except McalcError as exc:  # no breast, unreadable: this view gives no count
                log.info("%s %s: no temporal change count (%s)", case.case_id, view, exc)
                continue
            items = track_points(
                _points(im_r, score_threshold),
                _points(im_p, score_threshold),
                pair.registration,
                tolerance_mm=CHANGE_TOLERANCE_MM,
            )
            out[case.case_id] = out.get(case.case_id, 0) + count_statuses(items)["new"]
    return out


__all__ = [
    "LOGISTIC_THRESHOLD",
    "birads_for_model",
    "case_threshold",
    "change_counts",
    "check_change_count",
]


def case_threshold(card: ModelCard, rule: str) -> DecisionThreshold:
    """The threshold the case scores of ``rule`` are read at by default, with its source in
    words (see the module): the model's operating threshold for ``max`` and ``mean`` (map
    scores), :data:`LOGISTIC_THRESHOLD` for ``logistic`` (the regression's probability).

    >>> from mcalc.models.card import ModelCard
    >>> card = ModelCard.from_json({"decision_threshold": {"value": 0.921513, "source": "the card"}})
    >>> case_threshold(card, "max").value, case_threshold(card, "logistic").value
    (0.921513, 0.5)
    """
    op = decision_threshold(card)
    if rule == "logistic":
        return DecisionThreshold(
            LOGISTIC_THRESHOLD,
            f"0.5 on the logistic regression's probability: its case scores are not "
            f"{MAP_SCORE}s, the unit of the model's operating threshold ({op.text})",
        )
    return DecisionThreshold(
        op.value, f"the model's operating threshold, a {MAP_SCORE} threshold: {op.source}"
    )


#: Largest distance (mm, after registration) between a recent and a prior detection of the
#: same finding (as the temporal section's tracking of marks).
CHANGE_TOLERANCE_MM = 5.0


def check_change_count(model: str | Path, models_dir: str | Path) -> None:
    """Refuse the temporal change count (``--birads-change``) for a model that cannot give
    it: :func:`change_counts` matches the model's detections on the recent image with its
    detections on the prior, and a temporal model reads no prior image (every case's
    ``new_findings`` was ``None`` and the logistic rule dropped the feature, silently).

    Raises:
        ModelError: ``model`` is a temporal model (or cannot be found).
    """
    from mcalc.models.registry import load_card, resolve_model

    card = load_card(resolve_model(model, models_dir))
    if card.patch.temporal:
        raise ModelError(
            f"model {card.id!r} is a temporal model, and a temporal model reads no prior "
            "image: there are no detections on the prior to match, so the count of new "
            "findings since the prior (--birads-change, the BI-RADS tab's \"Count new "
            'findings since the prior") cannot be made; its input already holds the '
            "subtraction of the registered prior. Leave the count out, or use it with a "
            "recent-only model"
        )


def birads_for_model(
    model: str | Path,
    data: str | Path,
    models_dir: str | Path,
    detection: DetectionEvaluation,
    *,
    rule: str = "max",
    threshold: float | None = None,
    n_boot: int = 1000,
    temporal: bool = False,
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The case-level BI-RADS result of ``model`` on the cases ``detection`` evaluated.

    Args:
        model, data, models_dir: the model and dataset ``detection`` was computed on.
        detection: the model's detection evaluation of the cases to classify.
        rule: ``max``, ``mean`` or ``logistic`` (:data:`mcalc.models.birads_eval.AGGREGATIONS`).
        threshold: the threshold of the binary metrics (``None``: :func:`case_threshold`,
            the model's operating threshold for ``max`` and ``mean``).
        n_boot: patient bootstrap resamples of the AUC interval (0: none).
        temporal: count each case's new findings since the prior (:func:`change_counts`);
            the logistic rule then uses them as a feature.
        results, progress: as :func:`detection_for_model` (training cases' maps).

    Returns:
        :func:`mcalc.models.birads_eval.evaluate_birads`'s dict, with ``threshold_source``
        (where ``threshold`` comes from: ``given``, or :func:`case_threshold`'s words) and
        ``detection_threshold`` (``value``, ``source``: where the detections counted start).

    Raises:
        ModelError: the logistic rule on data the model was not trained on, or the rule
            cannot be applied (unknown rule, too few training cases of a class).
    """
    from mcalc.dataset import open_dataset
    from mcalc.models.birads_eval import evaluate_birads
    from mcalc.models.evaluate import evaluation_scope
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.registry import load_card, resolve_model

    if temporal:
        check_change_count(model, models_dir)
    card = load_card(resolve_model(model, models_dir))
    used = case_threshold(card, rule) if threshold is None else None
    calls = decision_threshold(card)  # the detections the model calls are counted
    index = open_dataset(data)
    evaluated = {im.case_id for im in detection.images}
    records = [c for c in index.cases if c.case_id in evaluated]
    cases = case_features(detection, records, score_threshold=calls.value)
    train: list[CaseFeatures] = []
    train_ev: DetectionEvaluation | None = None
    if rule == "logistic":
        scope, _ = evaluation_scope(card, index, dataset_fingerprint(index))
        if scope != "test-split" or not card.split.train:
            raise ModelError(
                "the logistic BI-RADS rule is fitted on the model's training patients, so it "
                "needs the dataset the model was trained on; use the max or mean rule on "
                "other data"
            )
        wanted = set(card.split.train)
        train_cases = [c for c in index.cases if c.case_id in wanted]
        settings = DetectionEvalSettings(
            detection=detection.settings.detection,
            tolerance_mm=detection.settings.tolerance_mm,
            cluster_tolerance_mm=detection.settings.cluster_tolerance_mm,
            sliding=detection.settings.sliding,
        )  # no bootstrap: only the training cases' features are used
        train_ev = detection_for_model(
            model,
            data,
            models_dir,
            settings,
            case_ids=[c.case_id for c in train_cases],
            results=results,
            progress=progress,
        )
        train = case_features(train_ev, train_cases, score_threshold=calls.value)
    if temporal:
        from mcalc.cache import ImageCache
        from mcalc.config import get_settings

        s = get_settings()
        cache = ImageCache(s.cache_dir, default_spacing_mm=s.default_pixel_spacing_mm)
        by_id = {c.case_id: c for c in index.cases}
        evs = [(cases, detection)] + ([(train, train_ev)] if train_ev is not None else [])
        for feats, ev in evs:
            counts = change_counts(
                ev, [by_id[f.case_id] for f in feats], cache, score_threshold=calls.value
            )
            feats[:] = [replace(f, new_findings=counts.get(f.case_id)) for f in feats]
    value = used.value if used is not None else float(threshold)  # type: ignore[arg-type]
    try:
        out = evaluate_birads(cases, rule=rule, train=train, threshold=value, n_boot=n_boot)
    except ValueError as exc:
        raise ModelError(f"BI-RADS classification: {exc}") from exc
    out["threshold_source"] = "given" if used is None else used.source
    out["detection_threshold"] = {
        "value": calls.value,
        "source": f"the model's operating threshold: {calls.source}",
    }
    # How the case scores used the prior mammograms, for the published results beside them.
    out["prior"] = prior_use(card.patch.temporal, (im.key for im in detection.images))
    return out
