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

Example:
    >>> ev = detection_for_model("demo-custom", "data/demo", "models")  # doctest: +SKIP
    >>> out = birads_for_model("demo-custom", "data/demo", "models", ev, rule="max")  # doctest: +SKIP
    >>> out["all"]["auc"], out["rule_text"]  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcalc.errors import ModelError
from mcalc.explain.detection_eval import (
    DetectionEvalSettings,
    DetectionEvaluation,
    case_features,
    detection_for_model,
)
from mcalc.explain.results import ResultsCache
from mcalc.progress import ProgressFn

__all__ = ["birads_for_model"]


def birads_for_model(
    model: str | Path,
    data: str | Path,
    models_dir: str | Path,
    detection: DetectionEvaluation,
    *,
    rule: str = "max",
    threshold: float = 0.5,
    n_boot: int = 1000,
    results: ResultsCache | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """The case-level BI-RADS result of ``model`` on the cases ``detection`` evaluated.

    Args:
        model, data, models_dir: the model and dataset ``detection`` was computed on.
        detection: the model's detection evaluation of the cases to classify.
        rule: ``max``, ``mean`` or ``logistic`` (:data:`mcalc.models.birads_eval.AGGREGATIONS`).
        threshold: the operating threshold of the binary metrics.
        n_boot: patient bootstrap resamples of the AUC interval (0: none).
        results, progress: as :func:`detection_for_model` (training cases' maps).

    Returns:
        :func:`mcalc.models.birads_eval.evaluate_birads`'s dict.

    Raises:
        ModelError: the logistic rule on data the model was not trained on, or the rule
            cannot be applied (unknown rule, too few training cases of a class).
    """
    from mcalc.dataset import open_dataset
    from mcalc.models.birads_eval import evaluate_birads
    from mcalc.models.evaluate import evaluation_scope
    from mcalc.models.fingerprint import dataset_fingerprint
    from mcalc.models.registry import load_card, resolve_model

    index = open_dataset(data)
    evaluated = {im.case_id for im in detection.images}
    cases = case_features(detection, [c for c in index.cases if c.case_id in evaluated])
    train = []
    if rule == "logistic":
        card = load_card(resolve_model(model, models_dir))
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
        train = case_features(train_ev, train_cases)
    try:
        return evaluate_birads(cases, rule=rule, train=train, threshold=threshold, n_boot=n_boot)
    except ValueError as exc:
        raise ModelError(f"BI-RADS classification: {exc}") from exc
