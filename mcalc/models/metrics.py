"""Classification metrics with scikit-learn: AUC, accuracy, sensitivity, specificity,
confusion matrix, per class (one-vs-rest) where there are several.

Undefined values (an AUC with one class present, a sensitivity with no positive) are
``None``, never NaN, so that cards stay valid JSON.

Example:
    >>> import numpy as np
    >>> m = classification_metrics(np.array([0, 1, 1, 0]),
    ...                            np.array([[.9, .1], [.2, .8], [.6, .4], [.7, .3]]),
    ...                            ("no", "yes"))
    >>> m["accuracy"], m["sensitivity"], m["specificity"], m["auc"]
    (0.75, 0.5, 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["classification_metrics", "binary_metrics"]


def _safe(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def binary_metrics(y_true: np.ndarray, score: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """AUC, accuracy, sensitivity, specificity and confusion matrix of a binary problem.

    Args:
        y_true: 0/1 truth.
        score: probability of class 1.
        threshold: decision threshold on ``score``.
    """
    from sklearn.metrics import confusion_matrix, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    score = np.asarray(score, dtype=np.float64)
    pred = (score >= threshold).astype(int)
    tn, fp, fn, tp = confusion_matrix(y_true, pred, labels=[0, 1]).ravel()
    auc = roc_auc_score(y_true, score) if len(np.unique(y_true)) == 2 else None
    return {
        "n": len(y_true),
        "auc": _safe(auc) if auc is not None else None,
        "accuracy": _safe((tp + tn) / max(len(y_true), 1)),
        "sensitivity": _safe(tp / (tp + fn)) if tp + fn else None,
        "specificity": _safe(tn / (tn + fp)) if tn + fp else None,
        "threshold": threshold,
        "confusion_matrix": [[int(tn), int(fp)], [int(fn), int(tp)]],
    }


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray,
    classes: Sequence[str],
    *,
    binary_views: Mapping[str, Sequence[str]] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Metrics of a classifier's probabilities ``(N, C)`` against class indices ``(N,)``.

    Two classes: the binary metrics of class 1 at ``threshold`` at the top level. More
    classes: accuracy, confusion matrix, macro one-vs-rest AUC and ``per_class`` metrics
    (each class against the rest, decided by argmax).

    Args:
        y_true: class indices.
        proba: class probabilities.
        classes: class names, in column order.
        binary_views: extra binary problems, name -> positive classes; e.g.
            ``{"suspicious": ["suspicious"]}`` scores ``p(suspicious)`` for ROC analysis.
        threshold: decision threshold of the binary metrics (two classes, binary views);
            more classes are decided by argmax.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, roc_auc_score

    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != len(y_true) or proba.shape[1] != len(classes):
        raise ValueError(
            f"expected probabilities of shape ({len(y_true)}, {len(classes)}), got {proba.shape}"
        )
    out: dict[str, Any] = {"classes": list(classes), "n": len(y_true)}
    out["support"] = {c: int((y_true == i).sum()) for i, c in enumerate(classes)}
    if len(classes) == 2:
        out.update(binary_metrics(y_true, proba[:, 1], threshold))
        out["classes"] = list(classes)
    else:
        pred = proba.argmax(axis=1)
        out["accuracy"] = _safe(accuracy_score(y_true, pred)) if len(y_true) else None
        out["confusion_matrix"] = confusion_matrix(
            y_true, pred, labels=list(range(len(classes)))
        ).tolist()
        per_class: dict[str, Any] = {}
        aucs = []
        for i, name in enumerate(classes):
            m = binary_metrics((y_true == i).astype(int), proba[:, i])
            pos = pred == i
            truth = y_true == i
            m["sensitivity"] = _safe(np.mean(pos[truth])) if truth.any() else None
            m["specificity"] = _safe(np.mean(~pos[~truth])) if (~truth).any() else None
            m["accuracy"] = _safe(np.mean(pos == truth)) if len(truth) else None
            m["threshold"] = "argmax"
            per_class[name] = m
            if m["auc"] is not None:
                aucs.append(m["auc"])
        out["per_class"] = per_class
        present = np.unique(y_true)
        if len(present) == len(classes):
            out["auc"] = _safe(
                roc_auc_score(y_true, proba, multi_class="ovr", labels=list(range(len(classes))))
            )
        else:
            out["auc"] = _safe(float(np.mean(aucs))) if aucs else None
        out["auc_kind"] = "macro one-vs-rest"
    for name, positives in (binary_views or {}).items():
        idx = [classes.index(p) for p in positives]
        out[f"binary_{name}"] = binary_metrics(
            np.isin(y_true, idx).astype(int), proba[:, idx].sum(axis=1), threshold
        )
    return out
