"""Analyses ahead: work done before the reader asks for it, never beside work they asked for.

Predict analyses the case it opens with once the app's warm-up has loaded the model
(:mod:`mcalc.models.warmup`), and the case after the one on screen once a result is drawn,
so that the reader's next choice finds its result cached. :class:`AheadSlot` holds that
work: one analysis ahead at a time per process (whatever the sessions), none started while
a run the reader asked for goes on (a *foreground* run, :meth:`AheadSlot.foreground`), and
one going on stops when a foreground run of another request starts (the foreground run
waits for it to stop, so two analyses never share the processor; a page may stop it
sooner, at the reader's choice, with :meth:`AheadSlot.stop`; the analyses report progress,
where they stop, every few tens of ms). A foreground run of the
very request being analysed ahead does not stop it: it waits for that work's result
instead of computing it a second time (:func:`mcalc.explain.runs.run_case`'s one run per
request). ``MCALC_ANALYSE_AHEAD=0`` turns it off (:attr:`mcalc.config.Settings.analyse_ahead`).

When the process exits, the slot closes (:meth:`AheadSlot.close`, registered when its first
work starts, to run as the main thread ends, before the :mod:`atexit` callbacks): the
work going on is cancelled and waited for at most :data:`EXIT_WAIT_S`, and none starts
after, so that no analysis runs a model in a daemon thread while the interpreter shuts
down (the warm-up's own stages stop the same way: :func:`mcalc.models.warmup.stop_at_exit`).

Example:
    >>> slot = AheadSlot()
    >>> work = slot.start("b", lambda progress: (progress(1, 1, "done"), "B")[1])
    >>> work is not None and work.wait(5) and work.result
    'B'
    >>> slot.start("b", lambda progress: "again") is None  # done once: not again
    True
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from mcalc.progress import BackgroundWork, Cancelled, ProgressFn, at_main_thread_exit

__all__ = ["AheadSlot", "AHEAD", "DoneFn", "EXIT_WAIT_S"]

log = logging.getLogger(__name__)

#: The longest the process's exit waits for the work ahead going on to stop (it stops at
#: its next progress report, tens of milliseconds apart).
EXIT_WAIT_S = 10.0

T = TypeVar("T")

#: ``done(label, state, end, wall)``: an analysis ahead ended (``state``: done, failed or
#: cancelled; ``end`` in Unix seconds, ``wall`` its seconds), for a run log.
DoneFn = Callable[[str, str, float, float], None]


class AheadSlot:
    """One piece of work ahead at a time, yielding to foreground runs.

    Args:
        remember: how many keys started ahead are remembered, so that one done is not
            started again (one stopped by a foreground run is forgotten: it may be tried
            again later).
    """

    def __init__(self, remember: int = 64) -> None:
        self._lock = threading.Lock()
        self._work: BackgroundWork[Any] | None = None
        self._busy = 0
        self._tried: deque[object] = deque(maxlen=max(1, remember))
        self._about: object = None
        self._closed = False
        self._exit_hook = False

    def start(
        self,
        key: object,
        work: Callable[[ProgressFn], T],
        *,
        label: str = "analysis ahead",
        done: DoneFn | None = None,
        delay_s: float = 0.0,
        about: object = None,
    ) -> BackgroundWork[T] | None:
        """Start ``work`` in the background for ``key``, ``delay_s`` seconds from now (the
        slot held meanwhile; a foreground run stops it at once); ``None`` (nothing
        started) while a foreground run or another piece of work ahead goes on, or when
        ``key`` was started before, or once the slot is closed (:meth:`close`: the process
        exits). ``done`` is told how it ended; ``about`` (what the work computes, for
        :meth:`stop`) is kept with it."""

        def run(progress: ProgressFn) -> T:
            t0, state = time.perf_counter(), "failed"
            try:
                while time.perf_counter() - t0 < delay_s:
                    progress(0, 1, "waiting to start")  # raises Cancelled once stopped
                    time.sleep(min(0.05, max(0.0, delay_s - (time.perf_counter() - t0))))
                t0 = time.perf_counter()  # the log's start: the work's, after the delay
                value = work(progress)
                state = "done"
                return value
            except Cancelled:
                state = "cancelled"
                raise
            finally:
                if state != "done":
                    self._forget(key)
                if done is not None:
                    done(label, state, time.time(), time.perf_counter() - t0)

        with self._lock:
            busy = self._work is not None and self._work.running
            if self._closed or self._busy or busy or key in self._tried:
                return None
            if not self._exit_hook:
                try:
                    at_main_thread_exit(self.close)
                except RuntimeError:  # the process is exiting already: nothing starts
                    return None
                self._exit_hook = True
            self._tried.append(key)
            self._about = about
            self._work = BackgroundWork(run, key=key, label=label).start()
            return self._work

    def stop(self, keep: Callable[[object], bool] | None = None) -> bool:
        """Ask the work ahead going on to stop now, unless ``keep(about)`` (``about`` as
        given to :meth:`start`): a reader's choice was made, and the run it starts will
        stop that work anyway, but only once the page's script has reached it (meanwhile
        the work takes the processor from that script). Returns whether work was asked to
        stop. Stopped, it is forgotten (it may start again later)."""
        with self._lock:
            work, about = self._work, self._about
        if work is None or not work.running or (keep is not None and keep(about)):
            return False
        work.cancel()
        return True

    def close(self, wait_s: float | None = None) -> bool:
        """Close the slot for good: no work starts after, the work going on is cancelled
        and waited for at most ``wait_s`` seconds (default :data:`EXIT_WAIT_S`). Run when
        the process's main thread ends (registered by the first :meth:`start`). Returns
        whether no work is left running."""
        with self._lock:
            self._closed = True
            work = self._work
        if work is None or not work.running:
            return True
        work.cancel()
        wait_s = EXIT_WAIT_S if wait_s is None else wait_s
        if work.wait(wait_s):
            return True
        log.warning(
            "the %s was still running %.0f s after it was cancelled for the process's exit; "
            "it is left to the interpreter's shutdown",
            work.label,
            wait_s,
        )
        return False

    def _forget(self, key: object) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._tried.remove(key)

    @contextlib.contextmanager
    def foreground(self, key: object, progress: ProgressFn | None = None) -> Iterator[None]:
        """Around a run the reader asked for: no work ahead starts meanwhile, and the one
        going on for another key stops first (this run waits for it, reporting so through
        ``progress``, which may raise :class:`~mcalc.progress.Cancelled` to give up)."""
        with self._lock:
            self._busy += 1
            work = self._work
        try:
            if work is not None and work.running and work.key != key:
                work.cancel()
                while not work.wait(0.05):
                    if progress is not None:
                        progress(0, 1, "waiting for the analysis ahead to stop")
            yield
        finally:
            with self._lock:
                self._busy -= 1

    @property
    def work(self) -> BackgroundWork[Any] | None:
        """The last piece of work started ahead (running or not), if any."""
        return self._work

    @property
    def busy(self) -> bool:
        """Whether a foreground run goes on."""
        return self._busy > 0


#: The process' slot: Predict's analyses ahead, whatever the session.
AHEAD = AheadSlot()
