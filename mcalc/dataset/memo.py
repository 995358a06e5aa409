"""Values computed once per dataset index object (names, lookups over every image).

A page's index is one cached object reused by every rerun: what is derived from it over
all its images (20,000 in a real collection) is made once and shared, read only.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TypeVar

from mcalc.dataset.records import DatasetIndex

__all__ = ["per_index"]

T = TypeVar("T")


def per_index(build: Callable[[DatasetIndex], T]) -> Callable[[DatasetIndex], T]:
    """``build`` made once per index object (by identity: a frozen index never changes;
    an equal one built anew is built for anew); an entry goes with its index (a weak
    reference). What it returns is shared: it must be read only.

    Example:
        >>> from pathlib import Path
        >>> count = per_index(lambda index: len(index.cases))
        >>> index = DatasetIndex(Path("."), "manifest", False, ())
        >>> count(index), count(index)
        (0, 0)
    """
    made: dict[int, tuple[weakref.ref[DatasetIndex], T]] = {}

    @functools.wraps(build)
    def once(index: DatasetIndex) -> T:
        key = id(index)
        hit = made.get(key)
        if hit is not None and hit[0]() is index:
            return hit[1]
        value = build(index)
        made[key] = (weakref.ref(index, lambda _ref: made.pop(key, None)), value)
        return value

    return once
