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
    """

    def __init__(self, maxsize: int, *, on_evict: Callable[[K, V], None] | None = None) -> None:
        if int(maxsize) < 1:
            raise ValueError(f"an LRU keeps at least 1 item, got maxsize={maxsize}")
        self.maxsize = int(maxsize)
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.RLock()
        self._on_evict = on_evict

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
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                evicted.append(self._items.popitem(last=False))
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
            return self._items.pop(key, default)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

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
