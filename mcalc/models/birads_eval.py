"""Case-level BI-RADS classification from a model's outputs over a case's images.

The published work on this dataset classifies *cases* (a breast: CC and MLO, prior and
recent) into normal (BI-RADS 1), benign (2-3) and suspicious (4-5), and reports the binary
suspicious-vs-not. A patch model answers per image (its map scores, its detections), so the
case needs an **aggregation rule**, stated with every result:

- ``max``: the case score is the highest map score of its images (the most suspicious
  image decides), for the binary score and, for a ``birads`` model, per class;
- ``mean``: the mean over its images;
- ``logistic``: a logistic regression over case features (highest and mean map score,
  detections at or above the detection threshold, detected clusters; plus each class's
  highest map score for a ``birads`` model; with the temporal analysis, the detections on
  the recent images with no counterpart on the registered prior), standardised, fitted on
  the **training patients only** (the card's split) and applied to the evaluated ones; binary
  (suspicious vs not) and multinomial (the three groups) fits.

Metrics (:func:`birads_metrics`): binary AUC with a patient bootstrap interval
(:func:`mcalc.models.curves.bootstrap_auc`), accuracy, sensitivity and specificity at the
chosen threshold and at Youden's; with three-class scores, per-class one-vs-rest AUC, the
3x3 confusion matrix and accuracy. The biopsy-confirmed cases (a biopsy result recorded) are
reported again on their own.

Example:
    >>> cases = [CaseFeatures("a", "a", "normal", None, (0.1, 0.2)),
    ...          CaseFeatures("b", "b", "suspicious", "DCIS", (0.9, 0.3))]
    >>> case_scores(cases, "max")[0].tolist()
    [0.2, 0.9]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcalc.models.analysis import few_patients_note
from mcalc.models.curves import bootstrap_auc, operating_point, roc, youden
from mcalc.models.tasks import PAPERS_TASK, PAPERS_TASK_CLASSES, PAPERS_TASK_TEXT
from mcalc.plural import counted

__all__ = [
    "AGGREGATIONS",
    "GROUPS",
    "SUBSETS",
    "CaseFeatures",
    "case_features",
    "case_scores",
    "birads_metrics",
    "evaluate_birads",
]

log = logging.getLogger(__name__)

#: Case aggregation rules.
AGGREGATIONS: tuple[str, ...] = ("max", "mean", "logistic")
#: BI-RADS groups, in the order of the three-class scores.
GROUPS: tuple[str, ...] = ("normal", "benign", "suspicious")
#: The sets of cases measured (``evaluate_birads``'s keys) and their names: every case;
#: benign vs suspicious with the normal (BI-RADS 1) cases left out, the published task's
#: analogue (Loizidou et al.: benign vs suspicious micro-calcifications per case); the
#: biopsy-confirmed cases.
SUBSETS: tuple[tuple[str, str], ...] = (
    ("all", "all cases"),
    (PAPERS_TASK, PAPERS_TASK_TEXT),
    ("biopsy_confirmed", "biopsy-confirmed"),
)
#: What each rule is, in words (printed with the result).
RULE_TEXT = {
    "max": "case score = highest map score of its images",
    "mean": "case score = mean map score of its images",
    "logistic": "logistic regression over case features (max and mean map score, "
    "detections, clusters, and new findings since the prior where the temporal analysis was "
    "run), fitted on the training patients only",
}


@dataclass(frozen=True)
class CaseFeatures:
    """What a model said about one case's images.

    Attributes:
        case_id, patient: the case.
        group: its BI-RADS group (``normal``, ``benign``, ``suspicious``) or ``None``.
        biopsy: the recorded biopsy result, or ``None``.
        image_scores: the positive-class map score of each image.
        detections: detections at or above the detection threshold, all images.
        clusters: detected clusters, all images.
        class_scores: per image, the map score of each of :data:`GROUPS` (``birads``
            models), else ``None``.
        new_findings: detections on the recent images with no counterpart on the
            registered prior (temporal change), or ``None`` when not measured.
    """

    case_id: str
    patient: str
    group: str | None
    biopsy: str | None
    image_scores: tuple[float, ...]
    detections: int = 0
    clusters: int = 0
    class_scores: tuple[tuple[float, ...], ...] | None = None
    new_findings: int | None = None


def case_features(cases: Sequence[CaseFeatures], *, with_change: bool = False) -> np.ndarray:
    """``(n, f)`` features of the logistic rule (see the module); ``with_change`` adds the
    count of new findings since the prior (every case must have it)."""
    rows = []
    for c in cases:
        s = np.asarray(c.image_scores, float)
        row = [s.max(), s.mean(), float(c.detections), float(c.clusters)]
        if c.class_scores is not None:
            row += np.asarray(c.class_scores, float).max(axis=0).tolist()
        if with_change:
            row.append(float(c.new_findings or 0))
        rows.append(row)
    return np.asarray(rows, float)


def _check(cases: Sequence[CaseFeatures], rule: str) -> None:
    if rule not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation rule {rule!r}; expected one of {AGGREGATIONS}")
    empty = [c.case_id for c in cases if not c.image_scores]
    if empty:
        raise ValueError(
            f"{'case' if len(empty) == 1 else 'cases'} without any image score: {', '.join(empty[:5])}"
        )


def _fit(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, y)


def case_scores(
    cases: Sequence[CaseFeatures],
    rule: str = "max",
    train: Sequence[CaseFeatures] = (),
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(suspicion score per case, (n, 3) group scores or None)`` by ``rule``.

    Raises:
        ValueError: unknown rule, a case without images, or (``logistic``) training cases
            lacking suspicious or non-suspicious ones.
    """
    _check(cases, rule)
    if rule in ("max", "mean"):
        agg = np.max if rule == "max" else np.mean
        binary = np.asarray([float(agg(c.image_scores)) for c in cases])
        if all(c.class_scores is not None for c in cases) and cases:
            per = np.asarray([agg(np.asarray(c.class_scores), axis=0) for c in cases], float)
            return binary, per / np.maximum(per.sum(axis=1, keepdims=True), 1e-12)
        return binary, None
    _check(train, rule)
    labelled = [c for c in train if c.group in GROUPS]
    y = np.asarray([c.group == "suspicious" for c in labelled], int)
    if len(set(y.tolist())) < 2:
        raise ValueError(
            f"the logistic rule is fitted on the training patients, but their "
            f"{counted(len(labelled), 'labelled case')} {'is' if len(labelled) == 1 else 'are'} "
            "not both suspicious and not: use the max or mean rule, or "
            "a model trained on more cases"
        )
    # The temporal change count is a feature when every case, trained on or scored, has it.
    change = all(c.new_findings is not None for c in [*labelled, *cases])
    x_train, x = (
        case_features(labelled, with_change=change),
        case_features(cases, with_change=change),
    )
    binary = _fit(x_train, y).predict_proba(x)[:, 1]
    groups = np.asarray([GROUPS.index(str(c.group)) for c in labelled])
    if len(set(groups.tolist())) < len(GROUPS):
        return binary, None
    return binary, _fit(x_train, groups).predict_proba(x)


def _at(y: np.ndarray, s: np.ndarray, threshold: float) -> dict[str, Any]:
    op = operating_point(y, s, threshold)
    pred = (s >= threshold).astype(int)
    tn, fp, fn, tp = (int(((y == a) & (pred == b)).sum()) for a in (0, 1) for b in (0, 1))
    return {
        "threshold": round(float(threshold), 6),
        "accuracy": round(float((pred == y).mean()), 6),
        "sensitivity": round(op.sensitivity, 6),
        "specificity": round(op.specificity, 6),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def birads_metrics(
    cases: Sequence[CaseFeatures],
    score: np.ndarray,
    group_scores: np.ndarray | None,
    *,
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Binary and three-class metrics of case scores (see the module); ``notes`` says what
    could not be computed and why."""
    labelled = [i for i, c in enumerate(cases) if c.group in GROUPS]
    out: dict[str, Any] = {"n": len(labelled), "notes": []}
    if not labelled:
        out["notes"].append("no case with a BI-RADS group")
        return out
    idx = np.asarray(labelled)
    y = np.asarray([cases[i].group == "suspicious" for i in idx], int)
    s = np.asarray(score, float)[idx]
    patients = np.asarray([cases[i].patient for i in idx])
    out["suspicious"] = int(y.sum())
    out["patients"] = len(set(patients.tolist()))
    if 0 < y.sum() < len(y):
        out["auc"] = round(roc(y, s).auc, 6)
        ci = bootstrap_auc(y, s, patients, n_boot=n_boot, seed=seed) if n_boot else None
        out["auc_ci"] = None if ci is None else [round(ci.low, 6), round(ci.high, 6)]
        if ci is not None and (note := few_patients_note(out["patients"])) is not None:
            out["notes"].append(note)
        out["at_threshold"] = _at(y, s, threshold)
        out["youden"] = _at(y, s, youden(y, s).threshold)
    else:
        out["notes"].append(
            f"binary metrics need both classes; {int(y.sum())} of {len(y)} suspicious"
        )
    if group_scores is None:
        out["notes"].append(
            "no three-class scores (the model is not a birads model and the rule is not logistic, or training lacked a group)"
        )
        return out
    g = np.asarray([GROUPS.index(str(cases[i].group)) for i in idx])
    p = np.asarray(group_scores, float)[idx]
    pred = p.argmax(axis=1)
    out["accuracy_3class"] = round(float((pred == g).mean()), 6)
    out["confusion_matrix_3class"] = [
        [int(((g == a) & (pred == b)).sum()) for b in range(len(GROUPS))]
        for a in range(len(GROUPS))
    ]
    out["per_class_auc"] = {
        name: (
            round(roc((g == k).astype(int), p[:, k]).auc, 6)
            if 0 < (g == k).sum() < len(g)
            else None
        )
        for k, name in enumerate(GROUPS)
    }
    return out


def evaluate_birads(
    cases: Sequence[CaseFeatures],
    *,
    rule: str = "max",
    train: Sequence[CaseFeatures] = (),
    threshold: float = 0.5,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``birads`` object of ``python -m mcalc evaluate --json``: the rule, the metrics on
    each of :data:`SUBSETS` (every labelled case, benign vs suspicious, the biopsy-confirmed
    ones), and each case's scores."""
    score, groups = case_scores(cases, rule, train)
    members = {
        "all": list(range(len(cases))),
        PAPERS_TASK: [i for i, c in enumerate(cases) if c.group in PAPERS_TASK_CLASSES],
        "biopsy_confirmed": [i for i, c in enumerate(cases) if c.biopsy],
    }
    return {
        "rule": rule,
        "rule_text": RULE_TEXT[rule],
        "threshold": threshold,
        "n_train_cases": len(train) if rule == "logistic" else 0,
        **{
            name: birads_metrics(
                [cases[i] for i in idx],
                score[idx],
                None if groups is None else groups[idx],
                threshold=threshold,
                n_boot=n_boot,
                seed=seed,
            )
            for name, idx in members.items()
        },
        "cases": [
            {
                "case_id": c.case_id,
                "group": c.group,
                "biopsy": c.biopsy,
                "score": round(float(score[i]), 6),
                "detections": c.detections,
                "clusters": c.clusters,
                "new_findings": c.new_findings,
                **(
                    {}
                    if groups is None
                    else {"group_scores": [round(float(v), 6) for v in groups[i]]}
                ),
            }
            for i, c in enumerate(cases)
        ],
    }
