"""mcalc.lru: the count bound and the optional weight bound (bytes, say)."""

from __future__ import annotations

import pytest

from mcalc.lru import LRU


def test_weight_bound_drops_the_least_recent_and_never_keeps_what_cannot_fit():
    dropped: list[str] = []
    c: LRU[str, bytes] = LRU(10, weigh=len, max_weight=10, on_evict=lambda k, v: dropped.append(k))
    c.put("a", b"1234")
    c.put("b", b"1234")
    assert c.get("a") == b"1234"  # "b" is now the least recent
    c.put("c", b"1234")  # 12 > 10: "b" goes
    assert c.keys() == ["a", "c"] and c.weight == 8 and dropped == ["b"]
    c.put("a", b"1")  # replacing a value re-weighs it
    assert c.weight == 5
    assert c.put("big", b"x" * 11) == b"x" * 11 and "big" not in c and c.weight == 5
    assert c.pop("a") == b"1" and c.weight == 4
    c.clear()
    assert c.weight == 0 and len(c) == 0
    with pytest.raises(ValueError, match="together"):
        LRU(3, weigh=len)
