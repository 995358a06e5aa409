"""The sign-in throttle's memory is bounded without freeing a name being guessed."""

from __future__ import annotations

import pytest

from mcalc.access.throttle import FORGET_AFTER_S, FREE_TRIES, MAX_WAIT_S, SignInThrottle


def test_a_flood_of_new_names_is_bounded_and_keeps_the_names_being_guessed() -> None:
    """Before: every name tried stayed for the server's life (1000 names: 1000 entries)."""
    t = SignInThrottle(max_names=100)
    for _ in range(FREE_TRIES + 2):
        t.failed("rita", at=10.0)  # locked
    for _ in range(FREE_TRIES):
        t.failed("adam", at=10.0)  # its free tries spent, not yet waiting
    for k in range(1000):
        t.failed(f"name-{k}", at=11.0 + k / 1000)
    assert len(t) == 100
    assert t.wait("rita", at=12.0) > 0  # still waiting
    t.failed("adam", at=12.0)  # the sixth wrong password: adam waits, not free tries again
    assert t.wait("adam", at=12.5) > 0
    assert len(t) == 100


def test_a_name_is_forgotten_only_when_forgetting_gives_no_faster_tries() -> None:
    assert FORGET_AFTER_S >= FREE_TRIES * MAX_WAIT_S
    t = SignInThrottle()
    for _ in range(FREE_TRIES + 1):
        t.failed("rita", at=0.0)
    t.failed("adam", at=FORGET_AFTER_S - 1)
    assert len(t) == 2 and t.wait("rita", at=1.0) > 0
    t.failed("eve", at=FORGET_AFTER_S + 1)  # any failure clears the names long idle
    assert len(t) == 2 and t.wait("rita", at=FORGET_AFTER_S + 1) == 0.0


def test_a_long_name_is_kept_short_and_still_throttled() -> None:
    t = SignInThrottle()
    long_name = "x" * 1_000_000
    for _ in range(FREE_TRIES + 1):
        t.failed(long_name, at=0.0)
    assert t.wait(long_name, at=0.5) > 0 and t.wait("x" * 999_999, at=0.5) == 0.0
    assert max(len(k) for k in t._failures) < 100  # not a megabyte per name


def test_max_names_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SignInThrottle(max_names=0)
