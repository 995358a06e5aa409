"""A comparison table of registered models, so users can pick the best run.

Example:
    >>> rows = comparison_rows([{"id": "m", "architecture": "custom", "task": "calcification",
    ...     "freeze": {"strategy": "full"}, "weights": {"source": "random"},
    ...     "metrics": {"test": {"auc": 0.9}}, "training_seconds": 12.5}])
    >>> rows[0]["test AUC"], rows[0]["strategy"]
    (0.9, 'full')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["comparison_rows", "COLUMNS"]

#: Columns of :func:`comparison_rows`, in order.
COLUMNS: tuple[str, ...] = (
    "model",
    "architecture",
    "task",
    "strategy",
    "weights",
    "pre-trained",
    "test AUC",
    "accuracy",
    "sensitivity",
    "specificity",
    "test patches",
    "trainable params",
    "training s",
    "synthetic data",
    "created",
)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparison_rows(cards: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model card (see :data:`COLUMNS`); missing values are ``None``.

    Args:
        cards: cards from :func:`mcalc.models.registry.list_models` (each with ``id``).
    """
    rows = []
    for card in cards:
        freeze = card.get("freeze") or {}
        strategy = str(freeze.get("strategy", "?"))
        if freeze.get("two_stage"):
            strategy += " (two-stage)"
        test = (card.get("metrics") or {}).get("test") or {}
        weights = card.get("weights") or {}
        rows.append(
            {
                "model": card.get("id"),
                "architecture": card.get("architecture"),
                "task": card.get("task"),
                "strategy": strategy,
                "weights": weights.get("source"),
                "pre-trained": bool(card.get("pretrained", False)),
                "test AUC": _num(test.get("auc")),
                "accuracy": _num(test.get("accuracy")),
                "sensitivity": _num(test.get("sensitivity")),
                "specificity": _num(test.get("specificity")),
                "test patches": test.get("n"),
                "trainable params": card.get("trainable_params"),
                "training s": _num(card.get("training_seconds")),
                "synthetic data": bool((card.get("data") or {}).get("synthetic", False)),
                "created": card.get("created"),
            }
        )
    return rows
