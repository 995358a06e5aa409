"""From the patch scores of one evaluation to what readers of this field compare.

An evaluation scores patches. :class:`EvalScores` keeps, for every patch, its true class,
the model's class probabilities, its image and its case and patient; from them it builds
three levels:

- ``patch``: every patch on its own;
- ``image``: one answer per mammogram;
- ``case``: one answer per case (a breast's prior and recent CC and MLO views).

**Aggregation rule** (image and case levels): a group is positive when any of its patches
is, and its score is the *maximum* of its patches' scores (the most suspicious patch
decides, as a reader reports the worst finding). For the class-wise metrics of the 3-class
``birads`` task the class probabilities are *averaged* over the group and the argmax is
the group's class; the true class of a group is the most frequent one of its patches (all
patches of a case share the case's BI-RADS group).

The binary view scored by ROC analysis is ``calcification`` vs not for the
``calcification`` task and ``suspicious`` vs the rest (normal + benign) for ``birads``.
Confidence intervals resample patients (:func:`mcalc.models.curves.bootstrap_auc`).

Caveat: patches are sampled where the annotations are (calcification patches) and from
tissue, not by sliding a window over the whole mammogram, so image- and case-level numbers
say how well the model tells sampled lesion patches from tissue; they are not a detection
study.

Example:
    >>> import numpy as np
    >>> s = EvalScores(("no", "yes"), ("yes",), np.array([0, 1, 0, 0]),
    ...     np.array([[.9, .1], [.3, .7], [.8, .2], [.6, .4]]),
    ...     np.array(["a", "a", "b", "b"]), np.array(["a", "a", "b", "b"]),
    ...     np.array(["a/CC", "a/CC", "b/CC", "b/MLO"]))
    >>> s.binary("image").y.tolist(), s.binary("image").score.tolist()
    ([1, 0, 0], [0.7, 0.2, 0.4])
    >>> threshold_metrics(s, "patch", 0.5)["confusion_matrix"]
    [[3, 0], [0, 1]]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcalc.models.curves import (
    DEFAULT_BOOTSTRAP,
    ConfidenceInterval,
    OperatingPoint,
    PrCurve,
    RocCurve,
    aggregate,
    bootstrap_auc,
    precision_recall,
    roc,
    youden,
)

__all__ = [
    "LEVELS",
    "AGGREGATION",
    "FEW_PATIENTS",
    "EvalScores",
    "LevelScores",
    "LevelAnalysis",
    "analyse",
    "threshold_metrics",
    "class_metrics",
    "summary_row",
    "level_summary",
]

log = logging.getLogger(__name__)

#: Levels at which an evaluation can be analysed.
LEVELS: tuple[str, ...] = ("patch", "image", "case")
#: How patch scores become image and case scores (see the module docstring).
AGGREGATION = "max"
#: Fewer patients than this make a bootstrap interval unreliable (a note says so).
FEW_PATIENTS = 10



@dataclass(frozen=True)
class LevelScores:
    """Binary truth and score per item of one level, with each item's patient.

    Attributes:
        ids: item ids (patch index, image key or case id).
        y: 0/1 truth.
        score: probability of the positive classes (aggregated per :data:`AGGREGATION`).
        patients: the patient of each item (the bootstrap's clusters).
    """

    ids: np.ndarray
    y: np.ndarray
    score: np.ndarray
    patients: np.ndarray


@dataclass
class EvalScores:
    """Per-patch truth and probabilities of one evaluation.

    Attributes:
        classes: class names, in the model's output order.
        positive: classes counted as positive by the binary view.
        y: true class index of each patch, ``(N,)``.
        proba: class probabilities, ``(N, C)``.
        case_ids, patient_ids, image_keys: where each patch comes from, ``(N,)``.
    """

    classes: tuple[str, ...]
    positive: tuple[str, ...]
    y: np.ndarray
    proba: np.ndarray
    case_ids: np.ndarray
    patient_ids: np.ndarray
    image_keys: np.ndarray

    def __post_init__(self) -> None:
        self.classes = tuple(self.classes)
        self.positive = tuple(self.positive)
        self.y = np.asarray(self.y, dtype=np.int64)
        self.proba = np.asarray(self.proba, dtype=np.float64)
        self.case_ids = np.asarray(self.case_ids, dtype=str)
        self.patient_ids = np.asarray(self.patient_ids, dtype=str)
        self.image_keys = np.asarray(self.image_keys, dtype=str)
        n, c = len(self.y), len(self.classes)
        if self.proba.shape != (n, c):
            raise ValueError(f"expected probabilities of shape ({n}, {c}), got {self.proba.shape}")
        for name in ("case_ids", "patient_ids", "image_keys"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"expected {n} {name}, got {getattr(self, name).shape}")
        unknown = [p for p in self.positive if p not in self.classes]
        if unknown or not self.positive:
            raise ValueError(f"positive classes {list(self.positive)} not in {list(self.classes)}")
        if n and (self.y.min() < 0 or self.y.max() >= c):
            raise ValueError(
                f"class indices must lie in [0, {c}), got {self.y.min()}..{self.y.max()}"
            )

    def __len__(self) -> int:
        return len(self.y)

    @property
    def positive_label(self) -> str:
        """The binary view's name, e.g. ``calcification`` or ``suspicious``."""
        return " + ".join(self.positive)

    def _binary_patches(self) -> tuple[np.ndarray, np.ndarray]:
        idx = [self.classes.index(p) for p in self.positive]
        return np.isin(self.y, idx).astype(int), self.proba[:, idx].sum(axis=1)

    def _groups(self, level: str) -> np.ndarray:
        if level == "patch":
            return np.arange(len(self.y)).astype(str)
        if level == "image":
            return self.image_keys
        if level == "case":
            return self.case_ids
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")

    def binary(self, level: str) -> LevelScores:
        """Binary truth and score per patch, image or case.

        Raises:
            ValueError: unknown level.
        """
        y, score = self._binary_patches()
        if level == "patch":
            return LevelScores(np.arange(len(y)), y, score, self.patient_ids)
        groups = self._groups(level)
        ids, yg, sg = aggregate(y, score, groups, AGGREGATION)
        first = {g: p for g, p in zip(groups[::-1], self.patient_ids[::-1], strict=True)}
        return LevelScores(ids, yg, sg, np.array([first[i] for i in ids], dtype=str))

    def multiclass(self, level: str) -> tuple[np.ndarray, np.ndarray]:
        """True class and class probabilities per item of a level (mean over patches).

        Raises:
            ValueError: unknown level.
        """
        if level == "patch":
            return self.y, self.proba
        groups = self._groups(level)
        ids, inverse = np.unique(groups, return_inverse=True)
        counts = np.bincount(inverse).astype(np.float64)
        proba = (
            np.stack(
                [
                    np.bincount(inverse, weights=self.proba[:, k], minlength=len(ids))
                    for k in range(len(self.classes))
                ],
                axis=1,
            )
            / counts[:, None]
        )
        votes = np.zeros((len(ids), len(self.classes)), np.int64)
        np.add.at(votes, (inverse, self.y), 1)
        return votes.argmax(axis=1), proba

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (probabilities rounded to 6 decimals)."""
        return {
            "classes": list(self.classes),
            "positive": list(self.positive),
            "y": self.y.tolist(),
            "proba": np.round(self.proba, 6).tolist(),
            "case_ids": self.case_ids.tolist(),
            "patient_ids": self.patient_ids.tolist(),
            "image_keys": self.image_keys.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvalScores:
        """The inverse of :meth:`as_json`.

        Raises:
            ValueError: a field is missing or inconsistent.
        """
        try:
            n_classes = len(data["classes"])
            proba = np.asarray(data["proba"], dtype=np.float64).reshape(-1, n_classes)
            return cls(
                tuple(data["classes"]),
                tuple(data["positive"]),
                np.asarray(data["y"], dtype=np.int64),
                proba,
                np.asarray(data["case_ids"], dtype=str),
                np.asarray(data["patient_ids"], dtype=str),
                np.asarray(data["image_keys"], dtype=str),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"evaluation scores lack a field or have a bad one: {exc}") from exc


@dataclass
class LevelAnalysis:
    """Threshold-free results of one level: curves, AUC with its CI, Youden's point.

    ``roc``, ``pr``, ``auc_ci`` and ``youden`` are ``None`` when they are undefined (one
    class only, or too few patients of a class); ``notes`` says why.
    """

    level: str
    positive: str
    n: int
    n_pos: int
    n_patients: int
    roc: RocCurve | None
    pr: PrCurve | None
    auc_ci: ConfidenceInterval | None
    youden: OperatingPoint | None
    notes: list[str] = field(default_factory=list)

    @property
    def auc(self) -> float | None:
        return None if self.roc is None else self.roc.auc


def analyse(
    scores: EvalScores, level: str, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> LevelAnalysis:
    """ROC and PR curves, AUC with a patient-bootstrap 95% CI and Youden's threshold.

    Args:
        scores: the evaluation's patch scores.
        level: ``patch``, ``image`` or ``case``.
        n_boot: bootstrap resamples (0: no interval).
        seed: bootstrap seed.

    Raises:
        ValueError: unknown level.
    """
    ls = scores.binary(level)
    n_pos = int(ls.y.sum())
    n_patients = len(np.unique(ls.patients))
    out = LevelAnalysis(
        level, scores.positive_label, len(ls.y), n_pos, n_patients, None, None, None, None
    )
    if n_pos == 0 or n_pos == len(ls.y):
        out.notes.append(
            f"only one class at the {level} level ({n_pos} {scores.positive_label} of "
            f"{len(ls.y)}): no ROC curve, AUC or Youden threshold; evaluate on data with "
            "both classes"
        )
        return out
    out.roc = roc(ls.y, ls.score)
    out.pr = precision_recall(ls.y, ls.score)
    out.youden = youden(ls.y, ls.score)
    if n_boot > 0:
        out.auc_ci = bootstrap_auc(ls.y, ls.score, ls.patients, n_boot=n_boot, seed=seed)
        if out.auc_ci is None:
            out.notes.append(
                f"no confidence interval: {n_patients} patient(s) are too few for both classes "
                "to appear in resamples"
            )
        elif n_patients < FEW_PATIENTS:
            out.notes.append(
                f"only {n_patients} patients: a bootstrap over so few patients understates "
                "the uncertainty; read the interval as a lower bound on it"
            )
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def threshold_metrics(scores: EvalScores, level: str, threshold: float) -> dict[str, Any]:
    """Binary metrics when ``score >= threshold`` is positive.

    Returns:
        ``n``, ``positives``, ``negatives``, ``threshold``, ``sensitivity``,
        ``specificity``, ``ppv``, ``npv``, ``accuracy``, ``f1`` (``None`` when undefined)
        and ``confusion_matrix`` ``[[TN, FP], [FN, TP]]`` (rows truth).

    Raises:
        ValueError: unknown level.
    """
    ls = scores.binary(level)
    pred = ls.score >= threshold
    truth = ls.y == 1
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    tn = int((~pred & ~truth).sum())
    return {
        "n": len(ls.y),
        "positives": tp + fn,
        "negatives": tn + fp,
        "threshold": float(threshold),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "ppv": _ratio(tp, tp + fp),
        "npv": _ratio(tn, tn + fn),
        "accuracy": _ratio(tp + tn, len(ls.y)),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "confusion_matrix": [[tn, fp], [fn, tp]],
    }


def class_metrics(scores: EvalScores, level: str) -> dict[str, Any] | None:
    """Per-class metrics (one vs rest, decided by argmax) of a task with more than two
    classes, at one level; ``None`` for binary tasks.

    Returns:
        :func:`mcalc.models.metrics.classification_metrics` of the level: ``accuracy``,
        ``confusion_matrix`` (rows truth, columns predicted), ``per_class``, ``auc``.

    Raises:
        ValueError: unknown level.
    """
    from mcalc.models.metrics import classification_metrics

    if len(scores.classes) <= 2:
        return None
    y, proba = scores.multiclass(level)
    return classification_metrics(y, proba, scores.classes)


def summary_row(name: str, analysis: LevelAnalysis, at: dict[str, Any]) -> dict[str, Any]:
    """One row of a comparison table: threshold-free results and metrics at a threshold.

    Args:
        name: the model's id.
        analysis: :func:`analyse` of the level.
        at: :func:`threshold_metrics` of the same level.
    """
    ci = analysis.auc_ci
    return {
        "model": name,
        "level": analysis.level,
        "positive class": analysis.positive,
        "n": analysis.n,
        "positives": analysis.n_pos,
        "patients": analysis.n_patients,
        "AUC": analysis.auc,
        "AUC 95% CI": _ci_text(ci, analysis.n_patients),
        "AP": None if analysis.pr is None else analysis.pr.average_precision,
        "Youden threshold": None if analysis.youden is None else analysis.youden.threshold,
        "threshold": at["threshold"],
        "sensitivity": at["sensitivity"],
        "specificity": at["specificity"],
        "PPV": at["ppv"],
        "NPV": at["npv"],
        "accuracy": at["accuracy"],
        "F1": at["f1"],
    }


def level_summary(
    scores: EvalScores,
    level: str,
    threshold: float = 0.5,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """A JSON-ready summary of one level: AUC with its CI, average precision, Youden's
    point and the metrics at ``threshold`` (what ``python -m mcalc evaluate --bootstrap``
    prints).

    Raises:
        ValueError: unknown level.
    """
    a = analyse(scores, level, n_boot=n_boot, seed=seed)
    ci = a.auc_ci
    return {
        "level": level,
        "positive": a.positive,
        "aggregation": "none" if level == "patch" else AGGREGATION,
        "n": a.n,
        "positives": a.n_pos,
        "patients": a.n_patients,
        "auc": a.auc,
        "auc_ci": None
        if ci is None
        else {
            "low": ci.low,
            "high": ci.high,
            "level": ci.level,
            "n_boot": ci.n_boot,
            "n_valid": ci.n_valid,
            "seed": ci.seed,
            "resampled": "patients",
        },
        "average_precision": None if a.pr is None else a.pr.average_precision,
        "youden": None
        if a.youden is None
        else {
            "threshold": a.youden.threshold,
            "sensitivity": a.youden.sensitivity,
            "specificity": a.youden.specificity,
            "j": a.youden.j,
        },
        "at_threshold": threshold_metrics(scores, level, threshold),
        "notes": a.notes,
    }


def _ci_text(ci: ConfidenceInterval | None, n_patients: int) -> str | None:
    """The interval as text; a zero-width interval from too few patients is not one."""
    if ci is None:
        return None
    if ci.high - ci.low < 1e-9 and n_patients < FEW_PATIENTS:
        return f"n/a ({n_patients} patients)"
    return f"{ci.low:.3f}–{ci.high:.3f}"
