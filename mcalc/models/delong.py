"""DeLong's test: two correlated ROC curves (two models scored on the same cases) compared.

DeLong, DeLong & Clarke-Pearson, *Biometrics* 44 (1988) 837-845, doi 10.2307/2531595: the
AUC is a Mann-Whitney U statistic, and the covariance of several AUCs measured on the same
cases follows from their *structural components* (placement values): for a positive case
``X_i`` the share of negatives it outranks, ``V10_i = mean_j psi(X_i, Y_j)``, and for a
negative ``Y_j`` the share of positives that outrank it, ``V01_j = mean_i psi(X_i, Y_j)``
(``psi`` = 1, 1/2, 0 for >, =, <). Then ``S = S10 / m + S01 / n`` with ``S10``, ``S01`` the
sample covariance matrices of the components over the ``m`` positives and ``n`` negatives.

The components are computed with the fast algorithm of Sun & Xu, *IEEE Signal Processing
Letters* 21 (2014) 1389-1393, doi 10.1109/LSP.2014.2337313: mid-ranks of the positives among
themselves, of the negatives among themselves and of all together give every placement
value in ``O((m + n) log(m + n))`` instead of ``O(m n)``.

The test treats cases as independent. Where one patient contributes several items (images,
or both breasts), the patient bootstrap of :func:`mcalc.models.curves.paired_auc` is the
one that respects that; both are reported by ``python -m mcalc compare``.

Example:
    >>> import numpy as np
    >>> y = np.array([1, 1, 1, 0, 0, 0])
    >>> r = delong_test(y, np.array([.9, .8, .4, .5, .2, .1]), np.array([.9, .3, .6, .5, .2, .7]))
    >>> round(r.auc_a, 4), round(r.auc_b, 4), round(r.difference, 4)
    (0.8889, 0.6667, 0.2222)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

__all__ = ["placement_values", "delong_covariance", "DelongResult", "delong_test"]


def _two_classes(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(truth as bool, scores as (k, N) float)``, checked."""
    y = np.asarray(y_true)
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if y.ndim != 1 or s.shape[1] != len(y):
        raise ValueError(
            f"expected one truth per case and (k, {len(y)}) scores, got {y.shape} and {s.shape}"
        )
    if not np.isin(y, (0, 1)).all():
        raise ValueError("truth must be 0 or 1")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or infinite values")
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        raise ValueError(
            f"DeLong's test needs positive and negative cases; got {n_pos} of {len(y)} positive"
        )
    return y.astype(bool), s


def placement_values(
    y_true: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs and structural components of ``k`` score vectors on the same cases (Sun & Xu).

    Args:
        y_true: ``(N,)`` 0/1 truth.
        scores: ``(k, N)`` (or ``(N,)``) scores; higher means more positive.

    Returns:
        ``(auc (k,), v10 (k, m), v01 (k, n))``: the AUCs, each positive's share of negatives
        it outranks and each negative's share of positives that outrank it (ties count 1/2).

    Raises:
        ValueError: bad shapes, non-finite scores, or a single class.
    """
    from scipy.stats import rankdata

    y, s = _two_classes(y_true, scores)
    pos, neg = s[:, y], s[:, ~y]
    m, n = pos.shape[1], neg.shape[1]
    tx = rankdata(pos, axis=1)  # mid-ranks among the positives
    ty = rankdata(neg, axis=1)  # among the negatives
    tz = rankdata(np.concatenate([pos, neg], axis=1), axis=1)  # among all
    auc = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return auc, v10, v01


def delong_covariance(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(auc (k,), covariance (k, k))`` of ``k`` AUCs on the same cases (DeLong 1988).

    Raises:
        ValueError: as :func:`placement_values`, or fewer than 2 cases of a class (no
            sample covariance).
    """
    auc, v10, v01 = placement_values(y_true, scores)
    m, n = v10.shape[1], v01.shape[1]
    if m < 2 or n < 2:
        raise ValueError(
            f"DeLong's variance needs at least 2 positive and 2 negative cases; got {m} and {n}"
        )
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return auc, s10 / m + s01 / n


@dataclass(frozen=True)
class DelongResult:
    """DeLong's paired test of ``auc_a - auc_b``.

    Attributes:
        auc_a, auc_b, difference: the AUCs and ``auc_a - auc_b``.
        se: standard error of the difference.
        z, p_value: the statistic and its two-sided p-value (``None`` when ``se`` is 0:
            the two score vectors rank the cases identically).
        low, high: the normal ``level`` interval of the difference.
        level, n_positive, n_negative: coverage and cases.
    """

    auc_a: float
    auc_b: float
    difference: float
    se: float
    z: float | None
    p_value: float | None
    low: float
    high: float
    level: float
    n_positive: int
    n_negative: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded to 6 decimals."""
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in asdict(self).items()}


def delong_test(
    y_true: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *, level: float = 0.95
) -> DelongResult:
    """DeLong's test of two models' AUCs on the same cases.

    Args:
        y_true: ``(N,)`` 0/1 truth.
        score_a, score_b: ``(N,)`` each model's scores of the same cases, in the same order.
        level: coverage of the interval.

    Raises:
        ValueError: scores of different lengths, a single class, fewer than 2 cases of a
            class, or ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"expected 0 < level < 1, got {level}")
    a, b = np.asarray(score_a, float), np.asarray(score_b, float)
    if a.shape != b.shape:
        raise ValueError(f"expected both models' scores of one length, got {a.shape} and {b.shape}")
    auc, cov = delong_covariance(y_true, np.stack([a, b]))
    diff = float(auc[0] - auc[1])
    var = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = float(np.sqrt(max(var, 0.0)))
    normal = NormalDist()
    half = normal.inv_cdf(0.5 + level / 2.0) * se
    z = p = None
    if se > 1e-12:
        z = diff / se
        p = float(min(1.0, 2.0 * (1.0 - normal.cdf(abs(z)))))
    y = np.asarray(y_true)
    return DelongResult(
        float(auc[0]),
        float(auc[1]),
        diff,
        se,
        z,
        p,
        diff - half,
        diff + half,
        level,
        int(y.sum()),
        int(len(y) - y.sum()),
    )
