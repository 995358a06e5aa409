"""Progress reporting: the one callback type of long work, a terminal progress bar, and
work run in a background thread that reports progress and can be cancelled.

Long work (decoding a collection, sliding a model over an image, sampling patches) takes
an optional ``progress(done, total, message)`` callback. The app turns it into a progress
bar, the CLI into :class:`TerminalProgress`, tests into a list. Nothing here prints unless
asked.

:class:`BackgroundWork` runs a function that takes a progress callback in a thread; the
callback it is given raises :class:`Cancelled` once :meth:`BackgroundWork.cancel` was called,
so long work stops at its next progress report (the app's Predict page polls it). Work
started ``after`` another waits for that one to finish first (a new choice queued behind a
cancelled run, so that two analyses never share the processor).

Example:
    >>> seen = []
    >>> report = phase(lambda d, t, m: seen.append((d, t, m)), "map")
    >>> report(1, 4, "patches")
    >>> seen
    [(1, 4, 'map: patches')]
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TextIO, TypeVar

__all__ = [
    "ProgressFn",
    "format_duration",
    "phase",
    "TerminalProgress",
    "Cancelled",
    "BackgroundWork",
    "at_main_thread_exit",
    "push_stop_hook",
    "pop_stop_hook",
    "stop_hook",
    "reclaim_sigterm",
    "interruptible",
]

T = TypeVar("T")

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
    """Progress on standard error, usable as a :data:`ProgressFn`: a one-line bar redrawn in
    place on a terminal; elsewhere (a log file, a pipe, a batch system's output, an app
    job's log) a plain line at most every ``interval`` seconds, and a last one when the
    work ends if any was written (short work stays silent, as it always was; a long
    ``predict --all`` under ``nohup`` printed nothing for hours).

    Args:
        label: text in front of the bar.
        enabled: report at all (``--json`` turns it off).
        width: characters of the bar.
        stream: where to write (default: standard error).
        interval: seconds between two plain lines when ``stream`` is not a terminal
            (default: :attr:`mcalc.config.Settings.progress_every`, ``MCALC_PROGRESS_EVERY``;
            0: no plain line).
        clock: the time source (seconds; default :func:`time.perf_counter`).

    Example:
        >>> import io
        >>> now = [0.0]
        >>> out = io.StringIO()
        >>> bar = TerminalProgress("scan", stream=out, interval=30, clock=lambda: now[0])
        >>> bar(1, 4, "case 1")  # not a terminal: nothing before 30 s
        >>> now[0] = 31.0
        >>> bar(2, 4, "case 2")
        >>> now[0] = 40.0
        >>> bar(4, 4, "")
        >>> print(out.getvalue(), end="")
        scan: 2/4 (50%) 31 s, about 1 min left · case 2
        scan: 4/4 (100%) 40 s, done
    """

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        width: int = 30,
        stream: TextIO | None = None,
        interval: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.terminal = _is_terminal(self.stream)
        self.width = width
        if interval is None:
            from mcalc.config import get_settings

            interval = float(get_settings().progress_every)
        self.interval = interval
        self._clock = clock or (lambda: _now())
        self.start = self._clock()
        self._last_line = self.start
        self._lines = 0
        self._first: tuple[float, int] | None = None

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(max(done / total, 0.0), 1.0)
        now = self._clock()
        elapsed = now - self.start
        eta = self._eta(done, total, now)
        if not self.terminal:
            self._plain_line(done, total, frac, now, elapsed, eta, message)
            return
        filled = int(frac * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(
            f"\r{self.label} [{bar}] {done}/{total} {elapsed:5.1f}s eta "
            + (f"{eta:5.1f}s" if eta is not None else "    ?")
            + f" {message[:40]:<40}"
        )
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()

    def _eta(self, done: int, total: int, now: float) -> float | None:
        """Seconds left at the pace since the first report of work done (the start-up
        before it, such as worker processes importing TensorFlow for 25 s, made the first
        estimate of a 48-image run 21 minutes for 12 s of work); ``None`` before two."""
        if self._first is None:
            if done > 0:
                self._first = (now, done)
            return None
        t0, d0 = self._first
        if done <= d0:
            return None
        return (now - t0) / (done - d0) * max(total - done, 0)

    def _plain_line(
        self,
        done: int,
        total: int,
        frac: float,
        now: float,
        elapsed: float,
        eta: float | None,
        message: str,
    ) -> None:
        finished = done >= total
        if self.interval <= 0 or (finished and not self._lines):
            return  # short work: silent, as without a terminal before
        if not finished and now - self._last_line < self.interval:
            return
        if finished:
            tail = "done"
        else:
            tail = (
                f"about {format_duration(eta)} left" if eta is not None else "time left unknown yet"
            )
        text = f" · {message[:60]}" if message and not finished else ""
        self.stream.write(
            f"{self.label}: {done}/{total} ({frac:.0%}) {format_duration(elapsed, precise=True)}, {tail}{text}\n"
        )
        self.stream.flush()
        self._last_line = now
        self._lines += 1


def _now() -> float:
    """The clock of :class:`TerminalProgress` (a module function: tests move it on)."""
    return time.perf_counter()


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def format_duration(seconds: float, *, precise: bool = False) -> str:
    """A duration as people read it: ``42 s``, ``3 min``, ``1 h 05 min``; ``precise`` keeps
    the seconds under an hour (``3 min 05 s``), for a clock that ticks (elapsed time in a
    progress line). The one formatter of durations: rounded once to whole seconds (or
    minutes), so ``59.6`` reads ``1 min``, never ``60 s``, and ``3570`` ``1 h 00 min``,
    never ``60 min``.

    Example:
        >>> format_duration(12), format_duration(800), format_duration(7500)
        ('12 s', '13 min', '2 h 05 min')
        >>> format_duration(59.6), format_duration(3570), format_duration(185, precise=True)
        ('1 min', '1 h 00 min', '3 min 05 s')
    """
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s} s"
    if precise and s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    minutes = round(s / 60) if not precise else s // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


#: What :func:`stop_hook` gives, innermost last (:func:`push_stop_hook`).
_STOP_HOOKS: list[Callable[[], None]] = []


def push_stop_hook(stop: Callable[[], None]) -> None:
    """Ask the process's termination handler to call ``stop`` instead of raising, until
    :func:`pop_stop_hook`.

    ``python -m mcalc`` turns SIGTERM into an interruption raised where the main thread is
    (:func:`mcalc.cli.main`); work that must not be interrupted there registers a hook
    meanwhile and stops itself at its next safe point: a Keras fit, where an exception
    raised inside TensorFlow's step function surfaces as a ``SystemError``
    (:class:`mcalc.models.train_events.StopRequest`). Elsewhere nothing calls the hook.
    """
    _STOP_HOOKS.append(stop)


def pop_stop_hook(stop: Callable[[], None]) -> None:
    """Withdraw a hook of :func:`push_stop_hook` (nothing when it is not registered)."""
    if stop in _STOP_HOOKS:
        _STOP_HOOKS.remove(stop)


def stop_hook() -> Callable[[], None] | None:
    """The hook a termination handler calls instead of raising: the innermost registered,
    or ``None`` (raise)."""
    return _STOP_HOOKS[-1] if _STOP_HOOKS else None


def reclaim_sigterm(handler: Any = None) -> None:
    """Put a Python SIGTERM handler back in place after a library replaced it: ``handler``
    (what :func:`signal.getsignal` gave before), else the one Python reports now.

    TensorFlow's coordination service (``MultiWorkerMirroredStrategy``) puts a native handler
    in place of Python's while Python still reports its own: a worker sent SIGTERM trained on
    to the end. ``ray.init`` puts its own in Python and a native one that prints a stack
    trace and aborts: a crossval's driver ended with status 134, its folds' runs unfinished.
    Nothing when the handler is not a Python function, or off the main thread."""
    handler = handler if handler is not None else signal.getsignal(signal.SIGTERM)
    if callable(handler) and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def interruptible() -> None:
    """Let ``KeyboardInterrupt`` reach this process's main thread again where SIGINT is
    ignored (Python's default handler put back; nothing off the main thread, or where a
    handler of Python's is in place).

    A process started in the background (``cmd &`` in a script, nohup, a job of an app
    server started so) ignores SIGINT, and so do the processes it starts, Ray's workers
    among them. Ray's polite cancel raises ``KeyboardInterrupt`` in a running task through
    ``_thread.interrupt_main``, which does nothing then: a cross-validation's folds
    trained on until the forced kill (:func:`mcalc.models.crossval_ray.cancel_tasks`)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL):
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Cancelled(Exception):
    """Raised inside cancelled work by its progress callback (see :class:`BackgroundWork`)."""


class BackgroundWork(Generic[T]):
    """``work(progress)`` in a daemon thread: progress to poll, a result, a cancel switch.

    The work must report progress now and then: the callback it gets raises
    :class:`Cancelled` after :meth:`cancel`, which ends the work at that report. Nothing
    here touches a user interface; a page polls :meth:`snapshot` and :attr:`state`.

    Args:
        work: the function to run; it receives a :data:`ProgressFn`.
        key: what the work computes (the caller's own identifier, kept as given).
        label: a short description for messages.
        after: work to wait for before this one starts (typically one just cancelled);
            meanwhile the progress says so, and a cancel still ends this one at once.

    Example:
        >>> job = BackgroundWork(lambda progress: (progress(1, 1, "done"), 41 + 1)[1], key="x")
        >>> job.start().wait(5)
        True
        >>> job.state, job.result, job.snapshot()
        ('done', 42, (1, 1, 'done'))
    """

    def __init__(
        self,
        work: Callable[[ProgressFn], T],
        *,
        key: object = None,
        label: str = "",
        after: BackgroundWork[Any] | None = None,
    ) -> None:
        self.key = key
        self.label = label
        self._work = work
        self._after = after
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._lock = threading.Lock()
        self._progress: tuple[int, int, str] = (0, 0, "starting")
        self._thread: threading.Thread | None = None
        self.state = "new"  # new -> running -> done | failed | cancelled
        self.result: T | None = None
        self.error: BaseException | None = None
        self.started = 0.0
        self.seconds = 0.0
        #: When the work finished (Unix seconds; 0 until then): for logs that line it up
        #: with other clocks (``bench/browser_predict.py``'s timeline).
        self.finished_at = 0.0

    def _report(self, done: int, total: int, message: str = "") -> None:
        with self._lock:
            self._progress = (int(done), int(total), str(message))
        if self._cancel.is_set():
            raise Cancelled(f"{self.label or 'work'} cancelled")

    def _wait_for_after(self) -> None:
        """Wait for the work this one queued behind (cancellable, polled every 0.1 s)."""
        after, self._after = self._after, None  # not kept alive once over
        if after is None:
            return
        what = after.label or "previous work"
        while not after.wait(0.1):
            self._report(0, 0, f"waiting for the {what} to stop")

    def _run(self) -> None:
        try:
            self._wait_for_after()
            value = self._work(self._report)
        except Cancelled:
            self.state = "cancelled"
        except Exception as exc:  # handed to the poller, which shows it
            self.error = exc
            self.state = "cancelled" if self._cancel.is_set() else "failed"
        else:
            self.result = value
            self.state = "cancelled" if self._cancel.is_set() else "done"
        finally:
            self.seconds = time.perf_counter() - self.started
            self.finished_at = time.time()
            self._finished.set()

    def start(self) -> BackgroundWork[T]:
        """Start the thread (once); returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("this work was started already")
        self.state = "running"
        self.started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"mcalc-{self.label}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report (no effect once finished)."""
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set() and not self._finished.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the work has finished (``True``) or ``timeout`` seconds passed."""
        return self._finished.wait(timeout)

    def snapshot(self) -> tuple[int, int, str]:
        """The last progress report ``(done, total, message)``."""
        with self._lock:
            return self._progress

    def elapsed(self) -> float:
        """Seconds since the start (the whole run once finished)."""
        if self._finished.is_set():
            return self.seconds
        return time.perf_counter() - self.started if self.started else 0.0


def at_main_thread_exit(func: Callable[[], object]) -> None:
    """Run ``func`` when the main thread ends, before non-daemon threads are joined and
    before any :mod:`atexit` callback (CPython's ``threading._register_atexit``, the hook
    :mod:`concurrent.futures` uses; plain :func:`atexit.register` where there is none): for
    work in a daemon thread (:class:`BackgroundWork`) that must stop while the interpreter
    still runs (a daemon thread left inside TensorFlow at shutdown can crash it).

    While these hooks run, an import that registers such a hook raises "can't register
    atexit after shutdown": :mod:`concurrent.futures`'s two, imported by TensorFlow, are
    imported here first, so that a TensorFlow import an exit hook waits for completes.

    Raises:
        RuntimeError: the process is exiting already (the hooks have run).
    """
    import atexit
    import concurrent.futures.process
    import concurrent.futures.thread  # noqa: F401

    register = getattr(threading, "_register_atexit", None)
    if register is None:
        atexit.register(func)
    else:
        register(func)
