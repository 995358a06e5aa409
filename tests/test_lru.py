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


def test_a_value_that_grows_after_it_was_stored_leaves_with_the_weight_it_came_with():
    """An analysis kept by Predict's shared analyses may keep a map made after it was
    stored: taking it out (pop, replacement, eviction) must subtract what was added, not
    its weight now, or the total drifts below what is held (and past the bound)."""
    c: LRU[str, bytearray] = LRU(10, weigh=len, max_weight=100)
    a, b = bytearray(b"1234"), bytearray(b"1234")
    c.put("a", a)
    c.put("b", b)
    a.extend(b"56789")  # grew by 5 once stored
    assert c.weight == 8
    assert c.pop("a") is a and c.weight == 4
    b.extend(b"xx")
    c.put("b", bytearray(b"12"))  # replaced: its 4 out, 2 in
    assert c.weight == 2
    grown = bytearray(b"x" * 50)
    c.put("g", grown)
    grown.extend(b"y" * 100)
    c.put("h", bytearray(b"z" * 60))  # 2 + 50 + 60 > 100: the least recent ("b") goes first
    assert c.keys() == ["h"] and c.weight == 60
