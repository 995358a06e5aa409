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

Every name tried was kept for the server's life: a script trying new names grew it without
end. A name's failures are forgotten :data:`FORGET_AFTER_S` after its last one (waiting that
long for :data:`FREE_TRIES` fresh tries is slower than the longest wait between tries, so
forgetting gives an attacker nothing), and at most :data:`MAX_NAMES` names are kept: past it
the name with the fewest failures goes first (the oldest of them), so that a flood of new
names evicts its own one-failure names, not a name being guessed. A long name is kept as its
SHA-256.

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

import hashlib
import threading
import time
from collections import OrderedDict

__all__ = [
    "FREE_TRIES",
    "FIRST_WAIT_S",
    "MAX_WAIT_S",
    "FORGET_AFTER_S",
    "MAX_NAMES",
    "SIGN_IN_THROTTLE",
    "SignInThrottle",
]

#: Wrong passwords in a row a name may have before its tries wait.
FREE_TRIES = 5
#: The first wait, in seconds; doubled at each further failure.
FIRST_WAIT_S = 2.0
#: The longest wait, in seconds.
MAX_WAIT_S = 300.0
#: Seconds after a name's last failure when it is forgotten: at least ``FREE_TRIES *
#: MAX_WAIT_S`` (25 min), so that tries gained by waiting it out come no faster than tries
#: after the longest wait.
FORGET_AFTER_S = 3600.0
#: Names kept at most (about 200 bytes each).
MAX_NAMES = 10_000
#: A longer name is kept as its SHA-256 (a name of a megabyte, 10 000 times, was 10 GB).
_LONGEST_KEY = 128


class SignInThrottle:
    """Failures and the time of the last one, per user name (thread-safe), for at most
    ``max_names`` names (see the module)."""

    def __init__(self, max_names: int = MAX_NAMES) -> None:
        if max_names < 1:
            raise ValueError(f"max_names must be at least 1, got {max_names}")
        self.max_names = max_names
        # Oldest last failure first: a failure moves its name to the end.
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Names with failures kept."""
        with self._lock:
            return len(self._failures)

    @staticmethod
    def _key(name: str) -> str:
        key = str(name).strip().lower()
        if len(key) > _LONGEST_KEY:
            return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()
        return key

    def _forget_old(self, now: float) -> None:
        """Drop the names whose last failure is :data:`FORGET_AFTER_S` old (lock held)."""
        while self._failures:
            key, (_, last) = next(iter(self._failures.items()))
            if now - last < FORGET_AFTER_S:
                return
            del self._failures[key]

    def _make_room(self) -> None:
        """Drop one name to stay within ``max_names`` (lock held): the one with the fewest
        failures, the oldest of those (a scan, as long as a bcrypt check's hundredth)."""
        victim, _ = min(self._failures.items(), key=lambda item: item[1][0])
        del self._failures[victim]

    def failed(self, name: str, *, at: float | None = None) -> None:
        """A wrong password for ``name`` (at ``at``, Unix seconds; default now)."""
        when = time.time() if at is None else at
        key = self._key(name)
        with self._lock:
            self._forget_old(when)
            count, _ = self._failures.pop(key, (0, when))
            while len(self._failures) >= self.max_names:
                self._make_room()
            self._failures[key] = (count + 1, when)

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
