"""From the patch scores of one evaluation to what readers of this field compare: ROC and
precision-recall curves, the AUC with a patient-bootstrap confidence interval, Youden's
threshold and metrics at any threshold, per level (patch, image, case; see
:mod:`mcalc.models.scores` for how image and case scores are made).

The binary view scored by ROC analysis is ``calcification`` vs not for the
``calcification`` task and ``suspicious`` vs the rest (normal + benign) for ``birads``.
Confidence intervals resample patients (:func:`mcalc.models.curves.bootstrap_auc`);
:func:`ci_text` is the one place that decides how an interval is shown.

Example:
    >>> import numpy as np
    >>> s = EvalScores(("no", "yes"), ("yes",), np.array([0, 1, 0, 0]),
    ...     np.array([[.9, .1], [.3, .7], [.8, .2], [.6, .4]]),
    ...     np.array(["a", "a", "b", "b"]), np.array(["a", "a", "b", "b"]),
    ...     np.array(["a/CC", "a/CC", "b/CC", "b/MLO"]))
    >>> threshold_metrics(s, "patch", 0.5).confusion_matrix
    [[3, 0], [0, 1]]
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mcalc.models.curves import (
    DEFAULT_BOOTSTRAP,
    ConfidenceInterval,
    OperatingPoint,
    PrCurve,
    RocCurve,
    bootstrap_auc,
    paired_auc,
    precision_recall,
    roc,
    youden,
)
from mcalc.models.scores import GROUP_RULE, LEVEL_RULES, EvalScores, LevelScores
from mcalc.models.tasks import PAPERS_TASK, PAPERS_TASK_CLASSES, PAPERS_TASK_TEXT, has_papers_task
from mcalc.plural import counted

__all__ = [
    "FEW_PATIENTS",
    "few_patients_note",
    "LevelAnalysis",
    "analyse",
    "ci_text",
    "interval_text",
    "ThresholdMetrics",
    "threshold_metrics",
    "class_metrics",
    "summary_row",
    "level_summary",
    "CASE_SETS",
    "papers_task_scores",
    "papers_task_summary",
    "paired_comparison",
]

log = logging.getLogger(__name__)

#: Fewer patients than this make a bootstrap interval unreliable (a note says so).
FEW_PATIENTS = 10


def few_patients_note(n_patients: int) -> str | None:
    """The warning beside a bootstrap interval over fewer than :data:`FEW_PATIENTS`
    patients (``None`` from more): one rule and one wording for every interval the app
    shows (classification, BI-RADS, detection).

    Example:
        >>> few_patients_note(3)
        'only 3 patients: a bootstrap over so few patients understates the uncertainty; read the interval as a lower bound on it'
        >>> few_patients_note(10) is None
        True
    """
    if n_patients >= FEW_PATIENTS:
        return None
    return (
        f"only {n_patients} patient{'' if n_patients == 1 else 's'}: a bootstrap over so few "
        "patients understates the uncertainty; read the interval as a lower bound on it"
    )


def ci_text(ci: ConfidenceInterval | None, n_patients: int) -> str | None:
    """How an AUC interval is shown, in tables and legends alike: ``0.871–0.948``, or
    ``n/a (3 patients)`` for a zero-width interval from too few patients (which is not an
    interval), or ``None`` when there is none."""
    return None if ci is None else interval_text(ci.low, ci.high, n_patients)


def interval_text(low: float, high: float, n_patients: int) -> str:
    """:func:`ci_text` of an interval given by its ends (e.g. read back from JSON)."""
    if high - low < 1e-9 and n_patients < FEW_PATIENTS:
        return f"n/a ({counted(n_patients, 'patient')})"
    return f"{low:.3f}–{high:.3f}"


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

    @property
    def ci_text(self) -> str | None:
        """The AUC interval as shown (:func:`ci_text`)."""
        return ci_text(self.auc_ci, self.n_patients)


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
                f"no confidence interval: {counted(n_patients, 'patient')} {'is' if n_patients == 1 else 'are'} too few for both classes "
                "to appear in resamples"
            )
        elif (note := few_patients_note(n_patients)) is not None:
            out.notes.append(note)
    return out


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class ThresholdMetrics:
    """Binary metrics of one level when ``score >= threshold`` is positive; a ratio is
    ``None`` when undefined. ``confusion_matrix`` is ``[[TN, FP], [FN, TP]]`` (rows truth)."""

    n: int
    positives: int
    negatives: int
    threshold: float
    sensitivity: float | None
    specificity: float | None
    ppv: float | None
    npv: float | None
    accuracy: float | None
    f1: float | None
    confusion_matrix: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``python -m mcalc evaluate --bootstrap``)."""
        return asdict(self)


def threshold_metrics(scores: EvalScores, level: str, threshold: float) -> ThresholdMetrics:
    """Binary metrics of a level when ``score >= threshold`` is positive.

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
    return ThresholdMetrics(
        n=len(ls.y),
        positives=tp + fn,
        negatives=tn + fp,
        threshold=float(threshold),
        sensitivity=_ratio(tp, tp + fn),
        specificity=_ratio(tn, tn + fp),
        ppv=_ratio(tp, tp + fp),
        npv=_ratio(tn, tn + fn),
        accuracy=_ratio(tp + tn, len(ls.y)),
        f1=_ratio(2 * tp, 2 * tp + fp + fn),
        confusion_matrix=[[tn, fp], [fn, tp]],
    )


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


def summary_row(name: str, analysis: LevelAnalysis, at: ThresholdMetrics) -> dict[str, Any]:
    """One row of a comparison table: threshold-free results and metrics at a threshold.

    Args:
        name: the model's id.
        analysis: :func:`analyse` of the level.
        at: :func:`threshold_metrics` of the same level.
    """
    return {
        "model": name,
        "level": analysis.level,
        "positive class": analysis.positive,
        "n": analysis.n,
        "positives": analysis.n_pos,
        "patients": analysis.n_patients,
        "AUC": analysis.auc,
        "AUC 95% CI": analysis.ci_text,
        "AP": None if analysis.pr is None else analysis.pr.average_precision,
        "Youden threshold": None if analysis.youden is None else analysis.youden.threshold,
        "threshold": at.threshold,
        "sensitivity": at.sensitivity,
        "specificity": at.specificity,
        "PPV": at.ppv,
        "NPV": at.npv,
        "accuracy": at.accuracy,
        "F1": at.f1,
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
        "aggregation": "none" if level == "patch" else GROUP_RULE,
        "score": LEVEL_RULES[level],
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
        "auc_ci_text": a.ci_text,
        "average_precision": None if a.pr is None else a.pr.average_precision,
        "youden": None
        if a.youden is None
        else {
            "threshold": a.youden.threshold,
            "sensitivity": a.youden.sensitivity,
            "specificity": a.youden.specificity,
            "j": a.youden.j,
        },
        "at_threshold": threshold_metrics(scores, level, threshold).as_dict(),
        "notes": a.notes,
    }


#: The sets of cases a paired comparison can be made on, and what each compares: every case
#: (the binary view: suspicious vs the rest for a ``birads`` model), or the papers' task
#: (:data:`mcalc.models.tasks.PAPERS_TASK`).
CASE_SETS: dict[str, str] = {
    "all": "every case, the model's binary view ({positive} vs not)",
    PAPERS_TASK: f"{PAPERS_TASK_TEXT} (the published work's task)",
}


def papers_task_scores(scores: EvalScores) -> EvalScores:
    """The patches of the cases of the papers' task (:data:`mcalc.models.tasks.PAPERS_TASK`):
    benign and suspicious cases, the normal ones left out; the binary view is then
    suspicious vs benign.

    Raises:
        ValueError: the model does not answer that task (a ``calcification`` model: its
            truth is a calcification in the patch, not the case's BI-RADS group).
    """
    if not has_papers_task(scores.classes):
        raise ValueError(
            f"the papers' task ({PAPERS_TASK_TEXT}) needs models whose truth is the case's "
            f"BI-RADS group (task birads), but these have classes {list(scores.classes)}: "
            "train them with --task birads, or compare on every case"
        )
    return scores.of_case_classes(PAPERS_TASK_CLASSES)


def papers_task_summary(
    scores: EvalScores, *, n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0
) -> dict[str, Any] | None:
    """The case-level AUC on the papers' task (:func:`papers_task_scores`: suspicious vs
    benign, normal cases left out) with its patient-bootstrap interval, JSON-ready;
    ``None`` for a model that does not answer that task (a ``calcification`` model)."""
    if not has_papers_task(scores.classes):
        return None
    a = analyse(papers_task_scores(scores), "case", n_boot=n_boot, seed=seed)
    return {
        "task": PAPERS_TASK,
        "text": PAPERS_TASK_TEXT,
        "level": "case",
        "auc": None if a.auc is None else round(a.auc, 6),
        "auc_ci": None if a.auc_ci is None else [round(a.auc_ci.low, 6), round(a.auc_ci.high, 6)],
        "auc_ci_text": a.ci_text,
        "n": a.n,
        "positives": a.n_pos,
        "patients": a.n_patients,
        "notes": a.notes,
    }


def paired_comparison(
    a: EvalScores,
    b: EvalScores,
    level: str = "case",
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    cases: str = "all",
    threshold: tuple[float, str] | None = None,
) -> dict[str, Any]:
    """Difference in AUC of two models on the **same** images or cases: by a paired
    patient bootstrap (:func:`mcalc.models.curves.paired_auc`) and by DeLong's test
    (``delong``: :func:`mcalc.models.delong.delong_test`); with ``threshold`` (a value on
    the compared scores and why it is that one:
    :func:`mcalc.explain.metrics_threshold.paired_threshold_source`), both models'
    accuracies there too (``accuracy``: :func:`mcalc.models.mcnemar.paired_accuracy`,
    McNemar's exact test). The threshold must be in the scores' units (the maximum of
    sampled patch probabilities: :data:`~mcalc.explain.metrics_threshold.METRICS_THRESHOLD`
    by default), not a card's map-score decision threshold, and never chosen on these items.

    Only the items both evaluations scored are compared, and a case only through the images
    both scored (a temporal model scores recent images only: the recent-only model's case
    scores are then built from its recent images too, ``restricted_to_common_images``);
    patches are sampled per model (size, seed), so the level must be ``image`` or ``case``.
    ``cases`` (:data:`CASE_SETS`): every case, or the papers' task (benign vs suspicious,
    normal cases left out: ``left_out`` counts them; case level only, as published).

    Raises:
        ValueError: ``patch`` level, no common item, different truths, one class only, an
            unknown case set, or the papers' task at the image level or for models that do
            not answer it.
    """
    if level not in ("image", "case"):
        raise ValueError(
            f"a paired comparison needs the same items for both models: level image or case, "
            f"got {level!r} (patches are sampled per model)"
        )
    if cases not in CASE_SETS:
        raise ValueError(f"unknown set of cases {cases!r}; expected one of {list(CASE_SETS)}")
    if cases == PAPERS_TASK and level != "case":
        raise ValueError(
            f"the papers' task ({PAPERS_TASK_TEXT}) is classified per case: compare at the "
            f"case level, got {level!r}"
        )
    # A case's score must come from the same images for both models: a temporal model scores
    # recent images only (they have a prior to subtract), a recent-only model both rounds.
    scored = (len(a.binary(level).ids), len(b.binary(level).ids))
    images = set(a.image_keys.tolist()) & set(b.image_keys.tolist())
    restricted = images != set(a.image_keys.tolist()) or images != set(b.image_keys.tolist())
    if restricted and images:
        a, b = a.of_images(images), b.of_images(images)
    left_out = 0
    if cases == PAPERS_TASK:
        both = set(a.case_ids.tolist()) & set(b.case_ids.tolist())
        a, b = papers_task_scores(a), papers_task_scores(b)
        left_out = len(both - (set(a.case_ids.tolist()) & set(b.case_ids.tolist())))
    la, lb = a.binary(level), b.binary(level)
    common = sorted(set(la.ids.tolist()) & set(lb.ids.tolist()))
    if not common and left_out:
        raise ValueError(
            f"the {counted(left_out, 'case')} both models scored {'is' if left_out == 1 else 'are all'} normal, which the papers' "
            f"task leaves out ({PAPERS_TASK_TEXT}): compare on data with benign and "
            "suspicious cases"
        )
    if not common:
        raise ValueError(
            f"the two evaluations share no {level}: on the data a model was trained on, only "
            "its own test patients are scored (its card's split), and these two have none in "
            "common (two cross-validation folds, or two seeds); compare models of one split, "
            "or on data neither was trained on"
        )
    ia = {k: i for i, k in enumerate(la.ids.tolist())}
    ib = {k: i for i, k in enumerate(lb.ids.tolist())}
    xa = np.asarray([ia[k] for k in common])
    xb = np.asarray([ib[k] for k in common])
    if not np.array_equal(la.y[xa], lb.y[xb]):
        raise ValueError(
            f"the two models disagree on the truth of the same {level}s (different tasks or "
            f"positive classes: {a.positive_label} vs {b.positive_label}); compare models of one task"
        )
    n_pos = int(la.y[xa].sum())
    if n_pos in (0, len(common)):
        # Said here, not by the AUC: two models evaluated on their own held-out test
        # patients may share a single case, and "0 positive(s) of 1" alone said neither
        # why so few nor what to do.
        why = (
            f"the models were scored on different {level}s ({scored[0]} and {scored[1]}: "
            "each on its own held-out test patients, when this is the data it was trained "
            "on) and share only these; compare models trained with the same split (same "
            "data and seed), or on a dataset neither was trained on"
            if len(common) < max(scored)
            else "compare on more data"
            + (", or at the image level" if level == "case" and cases == "all" else "")
        )
        raise ValueError(
            f"the {counted(len(common), level)} both models scored {'is' if len(common) == 1 else 'are all'} "
            f"{'positive' if n_pos else 'negative'} ({a.positive_label}: {n_pos} of "
            f"{len(common)}), and an AUC needs both classes: {why}"
        )
    r = paired_auc(la.y[xa], la.score[xa], lb.score[xb], la.patients[xa], n_boot=n_boot, seed=seed)

    def rnd(x: float | None) -> float | None:
        return None if x is None else round(x, 6)

    notes = []
    if r.n_groups < FEW_PATIENTS:
        # A bootstrap over a handful of patients has few distinct resamples: its interval
        # is too narrow and its p-value no smaller than 1 / usable resamples.
        notes.append(
            f"only {r.n_groups} patients: a bootstrap over so few patients understates the "
            "uncertainty; read its interval as a lower bound on it and its p-value as no "
            "evidence of a difference"
        )
    return {
        "level": level,
        "n": len(common),
        "positives": int(la.y[xa].sum()),
        "patients": r.n_groups,
        "auc_a": rnd(r.auc_a),
        "auc_b": rnd(r.auc_b),
        "difference": rnd(r.difference),
        "ci": None if r.low is None else [rnd(r.low), rnd(r.high)],
        "ci_level": r.level,
        "p_value": rnd(r.p_value),
        "n_boot": r.n_boot,
        "n_valid": r.n_valid,
        "method": "paired patient bootstrap of the AUC difference (percentile interval)",
        "delong": _delong(la.y[xa], la.score[xa], lb.score[xb], r.n_groups),
        "images": len(images),
        "restricted_to_common_images": bool(restricted),
        # Whether the compared case scores took prior images in (what the published rows
        # say of each model's use of the prior).
        "prior_images": any(str(k).endswith("_prior") for k in a.image_keys.tolist()),
        "cases": cases,
        "cases_text": CASE_SETS[cases].format(positive=a.positive_label),
        "left_out": left_out,
        "notes": notes,
        **({} if threshold is None else {"accuracy": _accuracy(la, lb, xa, xb, threshold, level)}),
    }


def _accuracy(
    la: LevelScores,
    lb: LevelScores,
    xa: np.ndarray,
    xb: np.ndarray,
    threshold: tuple[float, str],
    level: str,
) -> dict[str, Any]:
    """:func:`mcalc.models.mcnemar.paired_accuracy` of the compared items, both read at
    one threshold (``threshold``, with why it is that one: ``threshold_source``)."""
    from mcalc.models.mcnemar import paired_accuracy

    t, why = threshold
    n_patients = len(np.unique(la.patients[xa]))
    out = paired_accuracy(la.y[xa], la.score[xa], lb.score[xb], t, n_patients, level)
    return out | {"threshold_source": why}


def _delong(y: np.ndarray, a: np.ndarray, b: np.ndarray, n_patients: int) -> dict[str, Any]:
    """DeLong's test of the same items (:func:`mcalc.models.delong.delong_test`), or a note
    saying why there is none."""
    from mcalc.models.delong import delong_test

    try:
        out: dict[str, Any] = delong_test(y, a, b).as_dict()
    except ValueError as exc:
        return {"note": f"no DeLong test: {exc}"}
    out["method"] = "DeLong et al. 1988 (fast algorithm of Sun & Xu 2014), items independent"
    if n_patients < len(y):
        out["note"] = (
            f"{counted(len(y), 'item')} from {counted(n_patients, 'patient')}: DeLong treats items as independent; "
            "the patient bootstrap accounts for the patients"
        )
    return out
