"""A comparison table of registered models, so users can pick the best run.

Example:
    >>> from mcalc.models.card import ModelCard
    >>> card = ModelCard.from_json({"id": "m", "architecture": "custom",
    ...     "task": "calcification", "freeze": {"strategy": "full"},
    ...     "weights": {"source": "random"}, "metrics": {"test": {"auc": 0.9}},
    ...     "training_seconds": 12.5})
    >>> rows = comparison_rows([card])
    >>> rows[0]["test AUC"], rows[0]["strategy"]
    (0.9, 'full')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mcalc.models.card import ModelCard

__all__ = [
    "comparison_rows",
    "page_table_columns",
    "COLUMNS",
    "METRIC_COLUMNS",
    "PAGE_HEADERS",
    "PAGE_IN_VIEW",
    "LONG_ID_CHARS",
]

#: Columns of :func:`comparison_rows`, in order.
COLUMNS: tuple[str, ...] = (
    "model",
    "architecture",
    "task",
    "input",
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
    "trained by",
)


#: The test metrics: on a page's table, first after the model (Train's 17 columns left them
#: out of sight on a projector at 125 %, where a new model is compared with the demo's).
METRIC_COLUMNS: tuple[str, ...] = ("test AUC", "accuracy", "sensitivity", "specificity")
#: The short headers of the app's tables of models (Train's and Evaluate's alike); the
#: columns keep their names in the CLI's ``compare`` and the CSVs.
PAGE_HEADERS: dict[str, str] = {
    "architecture": "arch.",
    "strategy": "freeze",
    "synthetic data": "synthetic",
    "test AUC": "AUC",
    "sensitivity": "sens.",
    "specificity": "spec.",
}

#: The columns a page's table of models shows (the rest under it, one click away): all of
#: them scrolled sideways on a projector (1280 px at 125 %: 690 px of table beside the
#: sidebar), Evaluate's 12 and Train's 17 (docs/measurements.md, h/projector).
PAGE_IN_VIEW: tuple[str, ...] = (
    "model",
    *METRIC_COLUMNS,
    "architecture",
    "task",
    "synthetic data",
)


#: The longest model id that a page's table of models sizes its model column to: longer ones
#: (a cross-validation fold's 54 characters made the table 751 px in a projector's 690, a
#: user's 81-character ``--id`` 788 px, the id cut before its fold) are wrapped in a column
#: of a set width, whole, every column of :data:`PAGE_IN_VIEW` still in view (h/ids,
#: h/trainids; ``pages.wide_tables``).
LONG_ID_CHARS = 40


def page_table_columns(columns: Iterable[str]) -> list[str]:
    """``columns`` (of :func:`comparison_rows`) in a page table's order: the model, the
    test metrics, then the rest in their order.

    >>> page_table_columns(["model", "task", "accuracy", "test AUC"])
    ['model', 'test AUC', 'accuracy', 'task']
    """
    chosen = list(columns)
    first = [c for c in ("model", *METRIC_COLUMNS) if c in chosen]
    return first + [c for c in chosen if c not in first]


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparison_rows(cards: Iterable[ModelCard]) -> list[dict[str, Any]]:
    """One row per model card (see :data:`COLUMNS`); missing values are ``None``.

    Args:
        cards: cards from :func:`mcalc.models.registry.list_models`.
    """
    rows = []
    for card in cards:
        strategy = card.freeze.strategy + (" (two-stage)" if card.freeze.two_stage else "")
        test = card.test_metrics
        rows.append(
            {
                "model": card.id,
                "architecture": card.architecture,
                "task": card.task_name,
                "input": card.patch.input_mode,
                "strategy": strategy,
                "weights": card.weights.source,
                "pre-trained": card.pretrained,
                "test AUC": _num(test.get("auc")),
                "accuracy": _num(test.get("accuracy")),
                "sensitivity": _num(test.get("sensitivity")),
                "specificity": _num(test.get("specificity")),
                "test patches": test.get("n"),
                "trainable params": card.trainable_params,
                "training s": _num(card.training_seconds),
                "synthetic data": card.data.synthetic,
                "created": card.created or None,
                "trained by": card.trained_by or None,
            }
        )
    return rows
