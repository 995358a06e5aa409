"""One measured figure of ``bench/all.py``: a value, the floor it is compared with, the ratio
and whether the aim is met.

Aims are written as the issue's table words them:

- ``"<= 1.5x"``: the value costs at most 1.5 times the floor (ratio = value / floor);
- ``">= 0.9x"``: the value reaches at least 0.9 of the floor's throughput (ratio = floor /
  value, both times for the same work);
- ``"< 1 s"`` / ``"< 50 ms"``: an absolute time (no floor, ratio ``None``).

Values and floors are seconds.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "figure",
    "best_of",
    "paired",
    "rounds",
    "median_index",
    "median_of",
    "KEYS",
]

KEYS = ("name", "value", "floor", "ratio", "aim", "met")
_AIM = re.compile(r"^\s*(<=|>=|<)\s*([0-9.]+)\s*(x|s|ms)\s*$")


def figure(name: str, value: float, floor: float | None, aim: str, **extra: Any) -> dict:
    """The figure's dict (:data:`KEYS`, then ``extra`` details)."""
    m = _AIM.match(aim)
    if m is None:
        raise ValueError(f"aim {aim!r} is not '<= Nx', '>= Nx', '< N s' or '< N ms'")
    op, bound, unit = m.group(1), float(m.group(2)), m.group(3)
    ratio: float | None = None
    if unit == "x":
        if floor is None or floor <= 0 or value <= 0:
            raise ValueError(f"{name}: a ratio aim needs a positive value and floor")
        ratio = value / floor if op == "<=" else floor / value
        met = ratio <= bound if op == "<=" else ratio >= bound
    else:
        limit = bound / 1000.0 if unit == "ms" else bound
        met = value < limit if op == "<" else value <= limit
    return {
        "name": name,
        "value": round(float(value), 6),
        "floor": None if floor is None else round(float(floor), 6),
        "ratio": None if ratio is None else round(ratio, 3),
        "aim": aim,
        "met": bool(met),
        **extra,
    }


def best_of(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``fn`` (seconds)."""
    best = float("inf")
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def median_of(fn: Callable[[], Any], repeats: int) -> float:
    """The median of ``repeats`` runs of ``fn`` (seconds)."""
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def rounds(
    fns: tuple[Callable[[], Any], ...],
    repeats: int,
    *,
    min_seconds: float = 0.0,
    max_repeats: int = 1000,
    settle: Callable[[], Any] | None = None,
) -> list[list[float]]:
    """Rounds of ``fns`` called back to back, in order (``repeats`` rounds at least, more
    until ``min_seconds`` have passed, at most ``max_repeats``): one list of times (seconds)
    per function, its k-th time from round k. ``settle`` as in :func:`paired`."""
    times: list[list[float]] = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < max(1, repeats) or (
        len(times[0]) < max_repeats and time.perf_counter() - start < min_seconds
    ):
        for fn, got in zip(fns, times, strict=True):
            got.append(best_of(fn, 1))
            if settle is not None:
                settle()
    return times


def paired(
    a: Callable[[], Any],
    b: Callable[[], Any],
    repeats: int,
    *,
    min_seconds: float = 0.0,
    max_repeats: int = 1000,
    settle: Callable[[], Any] | None = None,
) -> tuple[float, float, list[float]]:
    """The pair of times ``(a, b)`` whose ratio ``a / b`` is the median of pairs run back to
    back (``repeats`` at least, more until ``min_seconds`` have passed, at most
    ``max_repeats``), and every pair's ratio. With an even count, the lower middle pair.

    Each pair shares the load of its moment. The best of each side, taken
    alternately, compares two lucky moments, which on a shared machine need not be alike: a lull that
    catches one side's call and not the other's moves the ratio by a third on its own.
    ``settle``, when given, runs after every call of ``a`` and of ``b``, off both clocks (a
    cold path's files left to a writer thread, waited for and removed), so that no call
    pays for the work its predecessor left behind.
    """
    ta, tb = rounds(
        (a, b), repeats, min_seconds=min_seconds, max_repeats=max_repeats, settle=settle
    )
    ratios = [x / y for x, y in zip(ta, tb, strict=True)]
    k = median_index(ratios)
    return ta[k], tb[k], ratios


def median_index(values: list[float]) -> int:
    """Where the median of ``values`` is (the lower middle one of an even count): the pair
    :func:`paired` keeps."""
    if not values:
        raise ValueError("median_index needs at least one value, got none")
    return sorted(range(len(values)), key=values.__getitem__)[(len(values) - 1) // 2]
