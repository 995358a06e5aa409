"""Metrics of a registered model on a dataset.

On the dataset it was trained on (same fingerprint) the model is scored on the test
patients of its card's split, re-sampled exactly as in training, so the card's test
metrics are reproduced. On any other dataset every patient is used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcalc.models.inference import load_model, predict_patches
from mcalc.models.metrics import classification_metrics
from mcalc.models.patches import PatchConfig, sample_dataset

__all__ = ["EvaluationResult", "evaluate_model"]

log = logging.getLogger(__name__)


@dataclass
class EvaluationResult:
    """Metrics of a model on a dataset, and which patients they cover.

    ``scope`` is ``test-split`` (the card's test patients of the training dataset) or
    ``all-patients`` (another dataset).
    """

    model_id: str
    data: str
    scope: str
    cases: list[str]
    metrics: dict[str, Any]
    card_metrics: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "data": self.data,
            "scope": self.scope,
            "cases": self.cases,
            "metrics": self.metrics,
            "card_metrics": self.card_metrics,
        }


def evaluate_model(
    model: str | Path,
    data: str | Path,
    models_dir: str | Path,
    *,
    batch: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> EvaluationResult:
    """Score a registered model on ``data``.

    Raises:
        ModelError: the model cannot be loaded.
        DatasetError: the dataset is unusable or yields no patch.
    """
    from mcalc.dataset import open_dataset
    from mcalc.models.training import dataset_fingerprint

    loaded = load_model(model, models_dir)
    card = loaded.card
    index = open_dataset(data)
    same = dataset_fingerprint(index) == card.get("data", {}).get("fingerprint")
    if same:
        cases = list(card["split"]["test"])
        scope = "test-split"
    else:
        cases = [c.case_id for c in index.cases]
        scope = "all-patients"
        log.info("dataset differs from the training data: evaluating on all %d cases", len(cases))
    patch = card["patch"]
    cfg = PatchConfig(
        size=loaded.patch_size,
        spacing_mm=loaded.spacing_mm,
        pos_per_image=int(patch.get("pos_per_image", 16)),
        neg_per_image=int(patch.get("neg_per_image", 16)),
    )
    patches = sample_dataset(
        index, card["task"], cfg, int(card.get("seed", 0)), case_ids=cases, progress=progress
    )
    batch = batch or int(card.get("hyperparameters", {}).get("batch", 64))
    proba = predict_patches(loaded, patches.x, batch=batch)
    metrics = classification_metrics(
        patches.y, proba, loaded.classes, binary_views=card.get("binary_views") or {}
    )
    return EvaluationResult(
        loaded.model_id,
        str(data),
        scope,
        cases,
        metrics,
        card.get("metrics", {}).get("test") if same else None,
    )
