"""A small thread-safe least-recently-used map: the one memory cache of mcalc.

Example:
    >>> c: LRU[str, int] = LRU(2)
    >>> for key, value in [("a", 1), ("b", 2)]:
    ...     _ = c.put(key, value)
    >>> c.get("a")
    1
    >>> _ = c.put("c", 3)  # "b" is now the least recently used: dropped
    >>> "b" in c, c.keys()
    (False, ['a', 'c'])
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most ``maxsize`` items; the least recently used goes first. Safe between threads.

    Args:
        maxsize: how many items are kept (at least 1).
        on_evict: called with ``(key, value)`` of each item dropped for room.
        weigh: with ``max_weight``, the weight of a value (bytes, say): the items' total
            weight stays at most ``max_weight`` too; a value heavier than that alone is
            returned by :meth:`put` but not kept.
        max_weight: the bound of the total weight (``weigh`` required). Each value counts
            with its weight when it was stored: one that grows afterwards (an analysis that
            keeps a map made later) is not weighed again, and taking it out subtracts what
            was added.
    """

    def __init__(
        self,
        maxsize: int,
        *,
        on_evict: Callable[[K, V], None] | None = None,
        weigh: Callable[[V], int] | None = None,
        max_weight: int | None = None,
    ) -> None:
        if int(maxsize) < 1:
            raise ValueError(f"an LRU keeps at least 1 item, got maxsize={maxsize}")
        if (weigh is None) != (max_weight is None):
            raise ValueError("weigh and max_weight go together: give both or neither")
        self.maxsize = int(maxsize)
        self.max_weight = max_weight
        self._weigh = weigh
        self._weight = 0
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weights: dict[K, int] = {}  # each item's weight when it was stored
        self._lock = threading.RLock()
        self._on_evict = on_evict

    def _w(self, value: V) -> int:
        return int(self._weigh(value)) if self._weigh is not None else 0

    @property
    def weight(self) -> int:
        """The total weight of the items kept (0 without ``weigh``)."""
        with self._lock:
            return self._weight

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key`` (now the most recent), else ``default``."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return default

    def put(self, key: K, value: V) -> V:
        """Store ``value`` under ``key`` and return it; drops the oldest items past ``maxsize``."""
        evicted: list[tuple[K, V]] = []
        with self._lock:
            if key in self._items:
                del self._items[key]
                self._weight -= self._weights.pop(key)
            w = self._w(value)
            if self.max_weight is not None and w > self.max_weight:
                return value  # could never fit: not kept (nothing else is dropped for it)
            self._items[key] = value
            self._weights[key] = w
            self._weight += w
            while len(self._items) > self.maxsize or (
                self.max_weight is not None and self._weight > self.max_weight
            ):
                old = self._items.popitem(last=False)
                self._weight -= self._weights.pop(old[0])
                evicted.append(old)
        if self._on_evict is not None:
            for k, v in evicted:
                self._on_evict(k, v)
        return value

    def get_or_put(self, key: K, make: Callable[[], V]) -> V:
        """The value of ``key``, else ``make()`` stored under it (``make`` runs unlocked)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return self.put(key, make())

    def pop(self, key: K, default: V | None = None) -> V | None:
        with self._lock:
            if key not in self._items:
                return default
            value = self._items.pop(key)
            self._weight -= self._weights.pop(key)
            return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weights.clear()
            self._weight = 0

    def items(self) -> list[tuple[K, V]]:
        """The items, oldest first (a copy; no item becomes more recent)."""
        with self._lock:
            return list(self._items.items())

    def keys(self) -> list[K]:
        """Keys from the least to the most recently used."""
        with self._lock:
            return list(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
