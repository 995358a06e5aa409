"""Case-level BI-RADS classification: aggregation rules and metrics by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.models.birads_eval import CaseFeatures, case_scores, evaluate_birads


def _case(i: int, group: str, scores, biopsy=None, det=0, classes=None) -> CaseFeatures:
    return CaseFeatures(f"c{i}", f"p{i}", group, biopsy, tuple(scores), det, 0, classes)


CASES = [
    _case(0, "normal", (0.1, 0.2)),
    _case(1, "benign", (0.3, 0.5)),
    _case(2, "suspicious", (0.4, 0.9), biopsy="DCIS"),
    _case(3, "suspicious", (0.2, 0.4), biopsy="benign"),
]


def test_max_and_mean_rules() -> None:
    assert case_scores(CASES, "max")[0].tolist() == [0.2, 0.5, 0.9, 0.4]
    assert case_scores(CASES, "mean")[0] == pytest.approx([0.15, 0.4, 0.65, 0.3])
    with pytest.raises(ValueError, match="unknown aggregation rule"):
        case_scores(CASES, "median")


def test_binary_metrics_by_hand() -> None:
    out = evaluate_birads(CASES, rule="max", threshold=0.45, n_boot=200)
    m = out["all"]
    # max scores 0.2 0.5 | 0.9 0.4 (suspicious): pairs won 0.9>0.2, 0.9>0.5, 0.4>0.2 -> 3/4.
    assert m["auc"] == 0.75 and m["n"] == 4 and m["suspicious"] == 2
    at = m["at_threshold"]  # positive at >= 0.45: 0.5 (benign, FP), 0.9 (TP)
    assert (at["sensitivity"], at["specificity"], at["accuracy"]) == (0.5, 0.5, 0.5)
    assert at["confusion_matrix"] == [[1, 1], [1, 1]]
    # Youden: threshold 0.4 (sens 1, spec 0.5) and 0.9 (sens 0.5, spec 1) tie at J 0.5;
    # on ties the higher threshold wins (curves.youden): 0.9.
    assert m["youden"]["threshold"] == 0.9 and m["youden"]["specificity"] == 1.0
    assert "no three-class scores" in " ".join(m["notes"])
    b = out["biopsy_confirmed"]
    assert b["n"] == 2 and "auc" not in b  # both biopsied cases are suspicious
    assert [c["score"] for c in out["cases"]] == [0.2, 0.5, 0.9, 0.4]


def test_three_class_scores_of_a_birads_model() -> None:
    cls = [
        _case(0, "normal", (0.1,), classes=((0.8, 0.1, 0.1),)),
        _case(1, "benign", (0.2,), classes=((0.2, 0.7, 0.1),)),
        _case(2, "suspicious", (0.9,), classes=((0.1, 0.2, 0.7),)),
    ]
    m = evaluate_birads(cls, rule="max", n_boot=0)["all"]
    assert m["confusion_matrix_3class"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert m["accuracy_3class"] == 1.0
    assert m["per_class_auc"] == {"normal": 1.0, "benign": 1.0, "suspicious": 1.0}


def test_logistic_rule_is_fitted_on_training_cases_only() -> None:
    rng = np.random.default_rng(0)
    train = [
        _case(10 + i, g, (s, s / 2), det=d)
        for i, (g, s, d) in enumerate(
            [("normal", 0.1, 0), ("benign", 0.2, 1), ("suspicious", 0.8, 5), ("suspicious", 0.9, 7)]
            * 3
        )
    ]
    score, groups = case_scores(CASES, "logistic", train)
    assert score.shape == (4,) and groups is not None and groups.shape == (4, 3)
    assert score[2] > score[0]  # the most suspicious evaluated case scores highest
    # Changing the evaluated cases does not change the fit: same case, same score.
    again, _ = case_scores([CASES[2], _case(9, "normal", tuple(rng.random(2)))], "logistic", train)
    assert again[0] == pytest.approx(score[2])
    with pytest.raises(ValueError, match="not both suspicious and not"):
        case_scores(CASES, "logistic", [c for c in train if c.group == "normal"])
