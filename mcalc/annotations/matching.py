"""One-to-one matching of two point sets under a feasibility rule (the Hungarian method).

The one matcher of the project: reader agreement (:mod:`mcalc.store.reader_agreement`) and
detection FROC (:mod:`mcalc.models.froc`) both call :func:`assign`. Among all one-to-one
matchings that use only feasible pairs it returns one with the most pairs and, among
those, the smallest total cost (an assignment problem solved with
:func:`scipy.optimize.linear_sum_assignment`; Kuhn, *Naval Research Logistics Quarterly*
2, 1955). A greedy nearest-first match can pair the wrong points and lose a match; this
cannot.

Example:
    >>> import numpy as np
    >>> cost = np.array([[0.1, 0.2], [0.3, 9.0]])
    >>> assign(cost, cost <= 1.0)
    [(0, 1), (1, 0)]
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["assign", "distances_mm"]


def distances_mm(a: np.ndarray, b: np.ndarray, spacing_mm: tuple[float, float]) -> np.ndarray:
    """``(len(a), len(b))`` distances in mm between (row, col) pixel points.

    Example:
        >>> distances_mm(np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), (1.0, 1.0)).tolist()
        [[5.0]]
    """
    sr, sc = float(spacing_mm[0]), float(spacing_mm[1])
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    b = np.asarray(b, dtype=float).reshape(-1, 2)
    return np.hypot((a[:, None, 0] - b[None, :, 0]) * sr, (a[:, None, 1] - b[None, :, 1]) * sc)


def assign(cost: np.ndarray, feasible: np.ndarray) -> list[tuple[int, int]]:
    """The largest one-to-one set of feasible pairs, with the smallest total cost.

    Args:
        cost: ``(N, M)`` non-negative finite cost of pairing row ``i`` with column ``j``.
        feasible: ``(N, M)`` booleans, the pairs allowed.

    Returns:
        ``(row, column)`` pairs sorted by row.

    Raises:
        ValueError: shapes differ, or costs are negative or not finite.
    """
    c = np.asarray(cost, dtype=float)
    ok = np.asarray(feasible, dtype=bool)
    if c.ndim != 2 or ok.shape != c.shape:
        raise ValueError(
            f"expected 2-D cost and feasibility of one shape, got {c.shape}, {ok.shape}"
        )
    if c.size == 0 or not ok.any():
        return []
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("costs must be finite and non-negative")
    # A penalty above any sum of feasible costs: the solver first maximises the number of
    # feasible pairs, then minimises their total cost.
    penalty = float(c[ok].max()) * (min(c.shape) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(ok, c, penalty))
    return sorted((int(i), int(j)) for i, j in zip(rows, cols, strict=True) if ok[i, j])
