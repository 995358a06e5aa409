"""ROC and precision-recall curves, bootstrap confidence intervals, operating points.

Pure functions over numpy arrays (scikit-learn does the curve work); nothing here knows
about models or files. A prediction is positive when ``score >= threshold``, as in
:func:`mcalc.models.metrics.binary_metrics` and scikit-learn's ``roc_curve``.

Patches (and images) of one patient are correlated, so confidence intervals resample
whole patients: :func:`bootstrap_auc` draws clusters (``groups``) with replacement and
keeps every patch of each drawn cluster (the cluster bootstrap; Efron & Tibshirani 1993,
ch. 13; for ROC analysis see Obuchowski, Biometrics 1997, doi 10.2307/2533973).

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1]); s = np.array([0.1, 0.4, 0.35, 0.8])
    >>> roc(y, s).auc
    0.75
    >>> youden(y, s).threshold
    0.8
    >>> ids, yy, ss = group_scores(y, s, np.array(["a", "a", "b", "b"]))
    >>> ids.tolist(), yy.tolist(), ss.tolist()
    (['a', 'b'], [0, 1], [0.4, 0.8])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from mcalc.plural import counted

__all__ = [
    "GROUP_RULES",
    "CI_LEVEL",
    "DEFAULT_BOOTSTRAP",
    "RocCurve",
    "PrCurve",
    "ConfidenceInterval",
    "OperatingPoint",
    "roc",
    "precision_recall",
    "bootstrap_auc",
    "youden",
    "operating_point",
    "group_scores",
    "PairedAuc",
    "paired_auc",
]

log = logging.getLogger(__name__)

#: Ways to turn the scores of a group's patches into one score (see :func:`group_scores`).
GROUP_RULES: tuple[str, ...] = ("max", "mean")
#: Coverage of the confidence intervals.
CI_LEVEL = 0.95
#: Bootstrap resamples drawn by default.
DEFAULT_BOOTSTRAP = 1000


@dataclass(frozen=True)
class RocCurve:
    """Points of a ROC curve (false-positive rate, true-positive rate) and its AUC.

    ``thresholds[i]`` gives ``(fpr[i], tpr[i])``; the first threshold is ``inf`` (nothing
    positive), as in scikit-learn.
    """

    fpr: list[float]
    tpr: list[float]
    thresholds: list[float]
    auc: float


@dataclass(frozen=True)
class PrCurve:
    """Points of a precision-recall curve, its average precision and the prevalence
    (the precision of a classifier that guesses)."""

    precision: list[float]
    recall: list[float]
    thresholds: list[float]
    average_precision: float
    prevalence: float


@dataclass(frozen=True)
class ConfidenceInterval:
    """A percentile bootstrap interval.

    Attributes:
        low, high: the interval's ends.
        level: its coverage (0.95).
        n_boot: resamples drawn.
        n_valid: resamples that held both classes (the others have no AUC and are dropped).
        n_groups: clusters resampled (patients).
        seed: the generator's seed (the same seed gives the same interval).
    """

    low: float
    high: float
    level: float
    n_boot: int
    n_valid: int
    n_groups: int
    seed: int


@dataclass(frozen=True)
class OperatingPoint:
    """Sensitivity and specificity at one threshold, with Youden's J = sens + spec - 1."""

    threshold: float
    sensitivity: float
    specificity: float
    j: float


def _binary(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.shape != y.shape:
        raise ValueError(
            f"expected 1-D truth and scores of one length, got {y.shape} and {s.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"expected 0/1 truth, got values {sorted(set(np.unique(y).tolist()))}")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or infinite values")
    return y.astype(int), s


def _need_both(y: np.ndarray, what: str) -> None:
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(
            f"{what} needs positives and negatives; got {counted(n_pos, 'positive')} of {len(y)}"
        )


def roc(y_true: np.ndarray, score: np.ndarray) -> RocCurve:
    """The ROC curve and its AUC.

    Raises:
        ValueError: bad shapes, non-0/1 truth, or only one class present.
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    y, s = _binary(y_true, score)
    _need_both(y, "a ROC curve")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=True)
    return RocCurve(fpr.tolist(), tpr.tolist(), thr.tolist(), float(roc_auc_score(y, s)))


def precision_recall(y_true: np.ndarray, score: np.ndarray) -> PrCurve:
    """The precision-recall curve, its average precision and the prevalence.

    Raises:
        ValueError: bad shapes, non-0/1 truth, or only one class present.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve

    y, s = _binary(y_true, score)
    _need_both(y, "a precision-recall curve")
    precision, recall, thr = precision_recall_curve(y, s)
    return PrCurve(
        precision.tolist(),
        recall.tolist(),
        thr.tolist(),
        float(average_precision_score(y, s)),
        float(y.mean()),
    )


def _auc_fast(y: np.ndarray, s: np.ndarray) -> float:
    """Mann-Whitney AUC with mid-ranks for ties (equals ``roc_auc_score``; cheaper inside a bootstrap loop)."""
    from scipy.stats import rankdata

    ranks = rankdata(s)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _members(groups: np.ndarray) -> list[np.ndarray]:
    """The item indices of each group (the clusters a bootstrap draws)."""
    _, inverse = np.unique(groups, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    counts = np.bincount(inverse)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return [order[a : a + n] for a, n in zip(starts, counts, strict=True)]


def bootstrap_auc(
    y_true: np.ndarray,
    score: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> ConfidenceInterval | None:
    """Percentile confidence interval of the AUC, resampling whole groups (patients).

    Each resample draws as many groups as there are, with replacement, and keeps every
    item of each drawn group (a group drawn twice counts twice). Resamples with a single
    class have no AUC and are dropped (``n_valid`` says how many were kept).

    Args:
        y_true: 0/1 truth of each item (patch, image or case).
        score: score of each item.
        groups: the cluster of each item (patient id); pass ``np.arange(n)`` to resample
            items independently.
        n_boot: resamples to draw.
        seed: seed of the generator.
        level: coverage of the interval.

    Returns:
        The interval, or ``None`` when fewer than 10 resamples held both classes (too few
        patients of one class to say anything).

    Raises:
        ValueError: bad shapes or values, ``n_boot < 1`` or ``level`` outside (0, 1).
    """
    y, s = _binary(y_true, score)
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"expected one group per item ({y.shape}), got {g.shape}")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"expected n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    _need_both(y, "an AUC")
    members = _members(g)
    n_groups = len(members)
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        drawn = rng.integers(0, n_groups, size=n_groups)
        idx = np.concatenate([members[k] for k in drawn])
        yb = y[idx]
        n_pos = int(yb.sum())
        if 0 < n_pos < len(yb):
            aucs.append(_auc_fast(yb, s[idx]))
    if len(aucs) < 10:
        log.info("bootstrap: %d of %d resamples held both classes; no interval", len(aucs), n_boot)
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(aucs, [tail, 100.0 - tail])
    return ConfidenceInterval(float(low), float(high), level, n_boot, len(aucs), n_groups, seed)


def operating_point(y_true: np.ndarray, score: np.ndarray, threshold: float) -> OperatingPoint:
    """Sensitivity, specificity and Youden's J when ``score >= threshold`` is positive.

    Raises:
        ValueError: bad shapes or values, or only one class present.
    """
    y, s = _binary(y_true, score)
    _need_both(y, "sensitivity and specificity")
    pred = s >= threshold
    sens = float(pred[y == 1].mean())
    spec = float((~pred[y == 0]).mean())
    return OperatingPoint(float(threshold), sens, spec, sens + spec - 1.0)


def youden(y_true: np.ndarray, score: np.ndarray) -> OperatingPoint:
    """The threshold that maximises Youden's J = sensitivity + specificity - 1.

    Candidate thresholds are the scores themselves (the ROC curve's corners). On ties the
    highest threshold wins (the more specific choice).

    Raises:
        ValueError: bad shapes or values, or only one class present.
    """
    from sklearn.metrics import roc_curve

    y, s = _binary(y_true, score)
    _need_both(y, "Youden's J")
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    finite = np.isfinite(thr)
    j = np.where(finite, tpr - fpr, -np.inf)
    # Thresholds decrease, so the first J within round-off of the best is the highest
    # threshold: a bare argmax read 0.5 + 2/3 - 1 as above 1/6 and broke the tie the other way.
    best = int(np.flatnonzero(j >= j.max() - 1e-12)[0])
    return OperatingPoint(
        float(thr[best]), float(tpr[best]), float(1.0 - fpr[best]), float(j[best])
    )


def group_scores(
    y_true: np.ndarray, score: np.ndarray, groups: np.ndarray, rule: str = "max"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One truth and one score per group (image or case) from its items (sampled patches).

    The truth of a group is positive when any item is (calcifications anywhere make the
    image positive); its score is the ``max`` (default: the most suspicious patch decides)
    or the ``mean`` of its items' scores. Evaluation's image and case scores; not the map
    score of a whole-image sliding window (:mod:`mcalc.explain.sliding`).

    Returns:
        ``(group ids sorted, truth, score)``.

    Raises:
        ValueError: unknown rule, or bad shapes or values.
    """
    if rule not in GROUP_RULES:
        raise ValueError(f"unknown grouping rule {rule!r}; expected one of {GROUP_RULES}")
    y, s = _binary(y_true, score)
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"expected one group per item ({y.shape}), got {g.shape}")
    ids, inverse = np.unique(g, return_inverse=True)
    y_out = np.zeros(len(ids), int)
    np.maximum.at(y_out, inverse, y)
    if rule == "max":
        s_out = np.full(len(ids), -np.inf)
        np.maximum.at(s_out, inverse, s)
    else:
        s_out = np.bincount(inverse, weights=s, minlength=len(ids)) / np.bincount(inverse)
    return ids, y_out, s_out


@dataclass(frozen=True)
class PairedAuc:
    """Two models' AUCs on the same items and their difference (``a - b``).

    Attributes:
        auc_a, auc_b, difference: the AUCs and ``auc_a - auc_b``.
        low, high: percentile bootstrap interval of the difference (``None``: too few
            usable resamples).
        p_value: two-sided bootstrap p-value of "no difference": twice the smaller share of
            resamples on either side of 0 (at least 1 / usable resamples).
        level, n_boot, n_valid, n_groups, seed: as in :class:`ConfidenceInterval`.
    """

    auc_a: float
    auc_b: float
    difference: float
    low: float | None
    high: float | None
    p_value: float | None
    level: float
    n_boot: int
    n_valid: int
    n_groups: int
    seed: int


def paired_auc(
    y_true: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    groups: np.ndarray,
    *,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    level: float = CI_LEVEL,
) -> PairedAuc:
    """Difference in AUC of two models scored on the same items, with a paired cluster
    bootstrap: each resample draws patients with replacement and recomputes **both** AUCs
    on the same drawn items, so the correlation between the models is kept (the paired
    design; cf. DeLong et al., *Biometrics* 44, 1988, for the asymptotic alternative).

    Example:
        >>> y = np.array([0, 0, 1, 1]); a = np.array([0.1, 0.2, 0.8, 0.9])
        >>> b = np.array([0.1, 0.9, 0.8, 0.2])
        >>> r = paired_auc(y, a, b, np.arange(4), n_boot=200)
        >>> r.auc_a, r.auc_b, r.difference
        (1.0, 0.5, 0.5)

    Raises:
        ValueError: bad shapes or values, one class only, ``n_boot < 1`` or a bad level.
    """
    y, sa = _binary(y_true, score_a)
    _, sb = _binary(y_true, score_b)
    if sb.shape != sa.shape:
        raise ValueError(
            f"expected both models' scores of one length, got {sa.shape} and {sb.shape}"
        )
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"expected one group per item ({y.shape}), got {g.shape}")
    if n_boot < 1 or not 0.0 < level < 1.0:
        raise ValueError(f"expected n_boot >= 1 and 0 < level < 1, got {n_boot} and {level}")
    _need_both(y, "an AUC")
    auc_a, auc_b = _auc_fast(y, sa), _auc_fast(y, sb)
    members = _members(g)
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        yb = y[idx]
        if 0 < int(yb.sum()) < len(yb):
            diffs.append(_auc_fast(yb, sa[idx]) - _auc_fast(yb, sb[idx]))
    low = high = p = None
    if len(diffs) >= 10:
        d = np.asarray(diffs)
        tail = (1.0 - level) / 2.0 * 100.0
        lo, hi = np.percentile(d, [tail, 100.0 - tail])
        low, high = float(lo), float(hi)
        side = min(float((d <= 0).mean()), float((d >= 0).mean()))
        p = float(min(1.0, max(2.0 * side, 1.0 / len(d))))
    return PairedAuc(
        auc_a, auc_b, auc_a - auc_b, low, high, p, level, n_boot, len(diffs), len(members), seed
    )
