"""Metrics agree with hand-computed values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcalc.models.metrics import binary_metrics, classification_metrics


def test_binary_by_hand() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    score = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.3, 0.05])
    m = binary_metrics(y, score)
    assert m["confusion_matrix"] == [[4, 1], [1, 2]]
    assert m["sensitivity"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["specificity"] == pytest.approx(4 / 5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["auc"] == pytest.approx(13 / 15, abs=1e-6)


def test_one_class_gives_none_not_nan() -> None:
    m = binary_metrics(np.zeros(4, int), np.array([0.1, 0.2, 0.7, 0.3]))
    assert m["auc"] is None and m["sensitivity"] is None
    assert m["specificity"] == 0.75
    json.dumps(m, allow_nan=False)


def test_three_classes_per_class_and_suspicious_view() -> None:
    classes = ("normal", "benign", "suspicious")
    y = np.array([0, 0, 1, 1, 2, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.3, 0.6, 0.1],
            [0.1, 0.8, 0.1],
            [0.2, 0.3, 0.5],
            [0.1, 0.1, 0.8],
            [0.1, 0.2, 0.7],
        ]
    )
    m = classification_metrics(y, proba, classes, binary_views={"suspicious": ["suspicious"]})
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert m["per_class"]["suspicious"]["sensitivity"] == 1.0
    assert m["per_class"]["suspicious"]["specificity"] == 0.75
    assert m["per_class"]["normal"]["sensitivity"] == 0.5
    assert m["binary_suspicious"]["auc"] == 1.0
    assert 0.0 < m["auc"] <= 1.0
    json.dumps(m, allow_nan=False)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        classification_metrics(np.array([0, 1]), np.ones((2, 3)), ("a", "b"))
