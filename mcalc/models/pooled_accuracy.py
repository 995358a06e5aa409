"""The pooled out-of-fold accuracy of a cross-validation on the papers' task, and the rule
that a stored run's accuracy was computed by.

Since 7 December 2026, 23:01 UTC (5b12e6e0) each case's score (the maximum of sampled patch
probabilities) is read at 0.5, as Evaluate and ``compare`` read them
(:func:`papers_task_accuracy`, the rule :data:`ACCURACY_RULE`, kept in each new result).
Runs pooled before read it at each fold card's decision threshold, which
``--operating-point`` makes a map-score threshold of whole images: other units.
:func:`stored_accuracy` says which rule a stored run used, recomputes its accuracy where the
folds' case scores are at hand, and otherwise leaves it out of comparisons with the rule it
used in words: a researcher must not set the two side by side unknowingly.

Example:
    >>> stored_accuracy({"accuracy": 0.9, "correct": 9, "n": 10,
    ...                  "accuracy_at": "each fold's decision threshold: fold 1 0.92, "
    ...                                 "fold 2 0.88 (from the cards)"}).accuracy is None
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcalc.models.analysis import papers_task_scores, threshold_metrics
from mcalc.models.scores import EvalScores

if TYPE_CHECKING:
    from mcalc.explain.scoring import DecisionThreshold

__all__ = [
    "ACCURACY_RULE",
    "CHANGED",
    "FOLD_CARDS",
    "StoredAccuracy",
    "papers_task_accuracy",
    "stored_accuracy",
]

#: The rule of :func:`papers_task_accuracy` (``accuracy_rule`` of a result's ``papers_task``).
ACCURACY_RULE = "case scores at 0.5"
#: The rule of runs pooled before :data:`CHANGED`: each fold card's decision threshold.
FOLD_CARDS = "fold cards"
#: When the rule changed (5b12e6e0).
CHANGED = "7 December 2026, 23:01 UTC"
#: How :func:`papers_task_accuracy` words its rule (runs pooled since :data:`CHANGED` and
#: before the rule was stored by name say only this).
_NOW = "on every fold's case scores"
#: How the old rule worded every fold at 0.50 (a card naming none): the same numbers.
_OLD_AT_HALF = "each fold's decision threshold, 0.50 ("


def papers_task_accuracy(
    parts: list[EvalScores], cards: list[DecisionThreshold], at: float | None = None
) -> dict[str, Any]:
    """The pooled out-of-fold accuracy on the papers' task (benign vs suspicious, normal cases
    left out; case score as for the AUC): each case decided by its own fold's model, as
    Loizidou 2020 report leave-one-patient-out accuracies, its case score (the maximum of
    sampled patch probabilities) read at ``at`` (``None``: Evaluate's and ``compare``'s
    default, :data:`~mcalc.explain.metrics_threshold.METRICS_THRESHOLD`, 0.5).
    Each fold card's decision threshold (``cards``, in fold order) is a map-score threshold
    in other units (``--operating-point`` chooses one on whole images' dense maps): named,
    not used (it was until :data:`CHANGED`: with a card at 0.92, cases at 0.6 and 0.7 read
    benign). JSON-ready: ``accuracy`` (``None`` without a case), ``correct``,
    ``accuracy_at`` (in words) and ``accuracy_rule`` (:data:`ACCURACY_RULE`).

    Example:
        >>> papers_task_accuracy([], [])["accuracy"] is None
        True
    """
    from mcalc.explain.metrics_threshold import DEFAULT_WHY, METRICS_THRESHOLD, OTHER_UNITS
    from mcalc.explain.scoring import threshold_label

    why = DEFAULT_WHY if at is None else "given"
    at = METRICS_THRESHOLD if at is None else at

    correct = total = 0
    for scores in parts:
        task = papers_task_scores(scores)
        if len(task.y) == 0:  # a fold of normal cases only
            continue
        m = threshold_metrics(task, "case", at)
        (tn, _), (_, tp) = m.confusion_matrix
        correct, total = correct + tn + tp, total + m.n
    said = f"{threshold_label(at)} {_NOW} ({why})"
    named = [(i, t) for i, t in enumerate(cards, 1) if not t.is_default]
    if named:
        each = ", ".join(f"fold {i} {t.value:g} ({t.source})" for i, t in named)
        said += f"; each fold card's decision threshold is {OTHER_UNITS}: {each}"
    return {
        "accuracy": round(correct / total, 6) if total else None,
        "correct": correct,
        "accuracy_at": said,
        "accuracy_rule": ACCURACY_RULE,
    }


@dataclass(frozen=True)
class StoredAccuracy:
    """A stored run's pooled accuracy as it may be set beside others.

    Attributes:
        accuracy: the accuracy by :data:`ACCURACY_RULE` (stored, or recomputed); ``None``
            where the run has none, or has one by another rule only.
        at: its rule in words (``accuracy_at``), ``""`` without an accuracy.
        rule: :data:`ACCURACY_RULE`, :data:`FOLD_CARDS`, or ``None`` (no accuracy stored).
        note: what a reader must be told (another rule: recomputed, the same numbers, or
            left out), else ``None``.
    """

    accuracy: float | None
    at: str
    rule: str | None
    note: str | None = None


def stored_accuracy(papers: Mapping[str, Any], pooled: EvalScores | None = None) -> StoredAccuracy:
    """The accuracy of a stored run's ``papers_task`` (its ``result.json``) by today's rule.

    Args:
        papers: the stored ``papers_task``.
        pooled: the run's out-of-fold scores, where at hand
            (:func:`mcalc.jobs.crossval.pooled_scores`): a run stored at its fold cards'
            thresholds is then recomputed.
    """
    accuracy = papers.get("accuracy")
    if accuracy is None:  # pooled before 7 December 2026: no accuracy at all
        return StoredAccuracy(None, "", None)
    at = str(papers.get("accuracy_at", ""))
    if papers.get("accuracy_rule") == ACCURACY_RULE or _NOW in at:
        return StoredAccuracy(float(accuracy), at, ACCURACY_RULE)
    old = (
        f"it stored {float(accuracy):.3f} ({papers.get('correct', '?')} of "
        f"{papers.get('n', '?')} cases) at {at}"
    )
    if at.startswith(_OLD_AT_HALF):
        return StoredAccuracy(
            float(accuracy),
            at,
            FOLD_CARDS,
            f"Pooled before {CHANGED}, at each fold card's decision threshold: {old}. Every "
            f"fold's was 0.50, so its accuracy is the same as today's rule gives "
            f"({ACCURACY_RULE}).",
        )
    if pooled is not None:
        again = papers_task_accuracy([pooled], [])
        if again["accuracy"] is not None:
            return StoredAccuracy(
                float(again["accuracy"]),
                str(again["accuracy_at"]),
                ACCURACY_RULE,
                f"Accuracy recomputed from the folds' cached case scores ({ACCURACY_RULE}): "
                f"pooled before {CHANGED}, {old}, each fold card's map-score threshold, in "
                "other units.",
            )
    return StoredAccuracy(
        None,
        at,
        FOLD_CARDS,
        f"Pooled before {CHANGED}, at each fold card's decision threshold, a map-score "
        f"threshold of whole images in other units: {old}. That accuracy is not comparable "
        f"with runs pooled since ({ACCURACY_RULE}) and is left out here; *Pool the folds* "
        "again to recompute it.",
    )
