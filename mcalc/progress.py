"""Progress reporting: the one callback type of long work, and a terminal progress bar.

Long work (decoding a collection, sliding a model over an image, sampling patches) takes
an optional ``progress(done, total, message)`` callback. The app turns it into a progress
bar, the CLI into :class:`TerminalProgress`, tests into a list. Nothing here prints unless
asked.

Example:
    >>> seen = []
    >>> report = phase(lambda d, t, m: seen.append((d, t, m)), "map")
    >>> report(1, 4, "patches")
    >>> seen
    [(1, 4, 'map: patches')]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressFn", "phase", "TerminalProgress"]

#: ``progress(done, total, message)``: ``done`` of ``total`` steps are finished.
ProgressFn = Callable[[int, int, str], None]


def phase(progress: ProgressFn | None, label: str) -> ProgressFn | None:
    """``progress`` with every message prefixed by ``label:`` (``None`` stays ``None``)."""
    if progress is None:
        return None

    def report(done: int, total: int, message: str = "") -> None:
        progress(done, total, f"{label}: {message}")

    return report


class TerminalProgress:
    """A one-line progress bar on a terminal, usable as a :data:`ProgressFn`.

    Args:
        label: text in front of the bar.
        enabled: draw at all (the bar is also off when the stream is not a terminal).
        width: characters of the bar.
        stream: where to draw (default: standard error).
    """

    def __init__(
        self, label: str, *, enabled: bool = True, width: int = 30, stream: TextIO | None = None
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.width = width
        self.start = time.perf_counter()

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(max(done / total, 0.0), 1.0)
        filled = int(frac * self.width)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:5.1f}s eta {eta:5.1f}s {message[:40]:<40}"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()
