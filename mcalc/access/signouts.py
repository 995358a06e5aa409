"""Sign-outs that end every session of the account on this server.

Each browser tab is a session of its own, holding who signed in; the sign-in cookie is
the browser's. *Sign out* in one tab deleted the cookie and ended that tab's session, but
another tab stayed signed in and went on recording verdicts under the name (a user check,
6 December 2026). A sign-out is therefore recorded here, per account and with its time:
every session of that account that signed in before it (by the form, or from a cookie
issued before it) is signed out at its next run.

Kept in the server's memory: a restart ends every session anyway, and the sign-out tab
deleted its cookie in the browser.

Example:
    >>> outs = SignOuts()
    >>> outs.record("rita", at=100.0)
    >>> outs.ended("rita", signed_in_at=99.0), outs.ended("rita", signed_in_at=101.0)
    (True, False)
    >>> outs.ended("adam", signed_in_at=0.0)
    False
"""

from __future__ import annotations

import threading
import time

__all__ = ["SIGN_OUTS", "SignOuts"]


class SignOuts:
    """The last sign-out time of each account (thread-safe; one per server process)."""

    def __init__(self) -> None:
        self._at: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, name: str, *, at: float | None = None) -> None:
        """``name`` signed out (at ``at``, Unix seconds; default now)."""
        when = time.time() if at is None else at
        with self._lock:
            self._at[name] = max(when, self._at.get(name, when))

    def ended(self, name: str, signed_in_at: float) -> bool:
        """Whether a session of ``name`` that signed in at ``signed_in_at`` was ended by a
        sign-out since."""
        with self._lock:
            out = self._at.get(name)
        return out is not None and signed_in_at < out


#: This server's sign-outs.
SIGN_OUTS = SignOuts()
