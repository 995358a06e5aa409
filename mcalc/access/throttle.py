"""Wrong passwords slow down the next tries of that user name, on this server.

The sign-in form asked for nothing but bcrypt's cost between guesses: a script opening
session after session (streamlit-authenticator counts its attempts per browser session)
tried about two passwords a second per core (bcrypt cost 12, measured), for as long as it
liked. After
:data:`FREE_TRIES` wrong passwords in a row for one name, each further try waits
:data:`FIRST_WAIT_S` seconds, doubled at each failure up to :data:`MAX_WAIT_S`; a
right password clears the count. Kept in the server's memory, like
:mod:`mcalc.access.signouts`. (Someone who types a name's wrong passwords on purpose
makes its owner wait at most :data:`MAX_WAIT_S` seconds too: the price of the limit.)

Example:
    >>> t = SignInThrottle()
    >>> for i in range(FREE_TRIES):
    ...     t.failed("rita", at=100.0)
    >>> t.wait("rita", at=100.0), t.wait("adam", at=100.0)
    (0.0, 0.0)
    >>> t.failed("rita", at=100.0)
    >>> t.wait("rita", at=101.0), t.wait("rita", at=100.0 + FIRST_WAIT_S)
    (1.0, 0.0)
    >>> t.succeeded("rita"); t.wait("rita", at=100.0)
    0.0
"""

from __future__ import annotations

import threading
import time

__all__ = ["FREE_TRIES", "FIRST_WAIT_S", "MAX_WAIT_S", "SIGN_IN_THROTTLE", "SignInThrottle"]

#: Wrong passwords in a row a name may have before its tries wait.
FREE_TRIES = 5
#: The first wait, in seconds; doubled at each further failure.
FIRST_WAIT_S = 2.0
#: The longest wait, in seconds.
MAX_WAIT_S = 300.0


class SignInThrottle:
    """Failures and the time of the last one, per user name (thread-safe)."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(name: str) -> str:
        return str(name).strip().lower()

    def failed(self, name: str, *, at: float | None = None) -> None:
        """A wrong password for ``name`` (at ``at``, Unix seconds; default now)."""
        when = time.time() if at is None else at
        with self._lock:
            count, _ = self._failures.get(self._key(name), (0, when))
            self._failures[self._key(name)] = (count + 1, when)

    def succeeded(self, name: str) -> None:
        """The right password for ``name``: its count starts again."""
        with self._lock:
            self._failures.pop(self._key(name), None)

    def wait(self, name: str, *, at: float | None = None) -> float:
        """Seconds before ``name`` may try again (0: now)."""
        now = time.time() if at is None else at
        with self._lock:
            count, last = self._failures.get(self._key(name), (0, now))
        if count <= FREE_TRIES:
            return 0.0
        pause = min(FIRST_WAIT_S * 2 ** (count - FREE_TRIES - 1), MAX_WAIT_S)
        return max(0.0, last + pause - now)


#: This server's sign-in throttle.
SIGN_IN_THROTTLE = SignInThrottle()
