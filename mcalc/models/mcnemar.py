"""Accuracy of two models on the same cases at one stated threshold, and McNemar's exact
test of its difference.

Each model decides a case positive when its score is at or above the threshold (one value
in the scores' own units, chosen before these cases were seen: never tuned on them). The
two accuracies differ only through the *discordant* cases, those one model gets right and
the other wrong; McNemar's test (McNemar 1947) asks whether those split evenly. Its exact
(conditional) form: under equal accuracies the count of cases only model A gets right is
Binomial(discordant, 1/2), and the two-sided p-value is that binomial test's
(:func:`scipy.stats.binomtest`: ``min(1, 2 * P(X <= min(b, c)))``). Fagerland, Lydersen &
Laake, BMC Med Res Methodol 2013;13:91, work the example ``b = 1, c = 7`` to an exact
conditional p of 0.070 (``2 * 9 / 256``).

Example:
    >>> import numpy as np
    >>> out = paired_accuracy(np.array([0, 1, 1, 0]), np.array([.2, .7, .4, .1]),
    ...                       np.array([.6, .8, .9, .3]), 0.5)
    >>> out["accuracy_a"], out["accuracy_b"], out["a_only"], out["b_only"], out["p_value"]
    (0.75, 0.75, 1, 1, 1.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcalc.plural import counted, plural

__all__ = ["MCNEMAR_METHOD", "mcnemar_exact", "paired_accuracy"]

#: The test, as results name it.
MCNEMAR_METHOD = "McNemar's exact test (binomial on the discordant items), items independent"


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: ``a_only`` items only
    model A got right, ``b_only`` only model B; 1.0 when there is none.

    Example:
        >>> round(mcnemar_exact(1, 7), 4)  # Fagerland et al. 2013: 0.070
        0.0703

    Raises:
        ValueError: a negative count.
    """
    if a_only < 0 or b_only < 0:
        raise ValueError(f"expected discordant counts >= 0, got {a_only} and {b_only}")
    if a_only + b_only == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(int(a_only), int(a_only + b_only), 0.5).pvalue)


def paired_accuracy(
    y: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    threshold: float,
    n_patients: int | None = None,
    item: str = "case",
) -> dict[str, Any]:
    """Each model's accuracy on the same items at one threshold (``score >= threshold`` is
    positive), their difference ``a - b`` and McNemar's exact test of it.

    Args:
        y: 0/1 truth of each item.
        score_a, score_b: each model's score of the same items, in the same order.
        threshold: in both scores' units (a card's map-score decision threshold is not).
        n_patients: patients the items come from (fewer than items: a note says the test
            takes the items as independent).
        item: what an item is (``case``, ``image``), as the notes name it.

    Returns:
        JSON-ready: ``n``, ``threshold``, ``correct_a/b``, ``accuracy_a/b``,
        ``difference``, ``a_only``, ``b_only`` (discordant counts), ``p_value``,
        ``method`` and ``notes``.

    Raises:
        ValueError: arrays of different lengths, no item, or a threshold outside [0, 1].
    """
    y = np.asarray(y).astype(int)
    sa, sb = np.asarray(score_a, float), np.asarray(score_b, float)
    if not (len(y) == len(sa) == len(sb)) or not len(y):
        raise ValueError(
            f"expected truth and two scores of one length > 0, got {len(y)}, {len(sa)}, {len(sb)}"
        )
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"expected a threshold in [0, 1], got {threshold}")
    right_a = (sa >= threshold).astype(int) == y
    right_b = (sb >= threshold).astype(int) == y
    a_only, b_only = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    acc_a, acc_b = float(right_a.mean()), float(right_b.mean())
    notes = []
    if a_only + b_only < 6:
        # Below 6 discordant cases even the most lopsided split has p >= 2 / 2**5.
        notes.append(
            f"{counted(a_only + b_only, 'discordant ' + item)}: the smallest p-value McNemar's exact "
            f"test could give here is {mcnemar_exact(0, a_only + b_only):.3f}, so its p is "
            "no evidence either way"
        )
    if n_patients is not None and n_patients < len(y):
        notes.append(
            f"{counted(len(y), item)} from {counted(n_patients, 'patient')}: McNemar's test takes the "
            f"{plural(item)} as independent"
        )
    return {
        "n": len(y),
        "threshold": float(threshold),
        "correct_a": int(right_a.sum()),
        "correct_b": int(right_b.sum()),
        "accuracy_a": round(acc_a, 6),
        "accuracy_b": round(acc_b, 6),
        "difference": round(acc_a - acc_b, 6),
        "a_only": a_only,
        "b_only": b_only,
        "p_value": round(mcnemar_exact(a_only, b_only), 6),
        "method": MCNEMAR_METHOD,
        "notes": notes,
    }
