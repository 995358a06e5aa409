"""Files written so that a crash never leaves half of one: atomic writes and file locks.

Every module that writes a file another process may read (the store, job folders, the
registry, caches) writes it here: a temporary file in the same folder, ``fsync``, then
``os.replace`` over the target and an ``fsync`` of the folder, so readers see the old or
the new content and never a mix. :func:`file_lock` serialises writers across processes
and threads with an exclusive ``flock`` on a hidden lock file beside the path. A file
written here gets the permissions ``open()`` would give it (``0o666`` less the process'
umask), not the ``0o600`` of a temporary file: a manifest, a mask, a report or a model
card is read by other accounts too (the app's service user, colleagues); a file that must
stay private says so (``mode=0o600``, as the accounts file does).

Example:
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a" / "x.json"
    >>> atomic_write_json(p, {"n": 1})
    >>> p.read_text()
    '{\\n "n": 1\\n}\\n'
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from mcalc.errors import McalcError, WriteError

try:  # POSIX only; elsewhere writes are still atomic but not serialised between processes.
    import fcntl
except ImportError:  # pragma: no cover - not on the platforms mcalc targets
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ErrorFactory",
    "write_error",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_with",
    "file_lock",
    "fsync_dir",
    "LockTimeout",
]

#: Turns the ``OSError`` of a failed write of ``path`` into the error the caller raises.
ErrorFactory = Callable[[Path, OSError], McalcError]


class LockTimeout(WriteError):
    """A lock stayed held by another process for longer than the caller waits."""


def write_error(path: Path, exc: OSError) -> WriteError:
    """A :class:`~mcalc.errors.WriteError` saying why ``path`` could not be written and what to do."""
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        why, todo = "the disk is full", "free some space and retry"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why, todo = "the folder is read-only or not writable by this user", "make it writable"
    else:
        why, todo = f"the system refused ({exc.strerror or exc})", "check the folder"
    return WriteError(f"cannot write {path}: {why}; nothing was changed there. {todo}.")


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (silently skipped where the OS cannot)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@functools.cache
def _umask() -> int:
    """The process' umask, read without changing it where Linux says it (``os.umask``
    sets it to read it, and a file another thread makes meanwhile would get that mask)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_with(
    path: str | Path,
    write: Callable[[IO[bytes]], None],
    *,
    error: ErrorFactory = write_error,
    mode: int | None = None,
) -> None:
    """Write ``path`` atomically through ``write(file)`` (e.g. ``np.save``); ``path`` is replaced whole.

    Args:
        path: the target; its folder is created.
        write: writes the content to the open binary file it is given.
        error: makes the error raised when the system refuses.
        mode: the file's permissions; default ``0o666`` less the umask, as ``open()``
            gives (the temporary file's own ``0o600`` is changed before it is filled).

    Raises:
        McalcError: from ``error``; ``path`` is unchanged and no temporary file is left.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise error(path, exc) from exc
    try:
        os.fchmod(fd, 0o666 & ~_umask() if mode is None else mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise error(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(
    path: str | Path, data: bytes, *, error: ErrorFactory = write_error, mode: int | None = None
) -> None:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write_with`)."""

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    atomic_write_with(path, write, error=error, mode=mode)


def atomic_write_text(
    path: str | Path, text: str, *, error: ErrorFactory = write_error, mode: int | None = None
) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), error=error, mode=mode)


def atomic_write_json(
    path: str | Path, obj: Any, *, indent: int | None = 1, error: ErrorFactory = write_error
) -> None:
    """Write ``obj`` as JSON (UTF-8, no NaN) to ``path`` atomically, with a final newline."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
    atomic_write_text(path, text, error=error)


_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


def _thread_lock(lock_path: Path) -> threading.RLock:
    # flock is per open file: two threads of one process each opening the lock file would
    # both get it on some systems, so threads are serialised here as well.
    with _THREAD_LOCKS_GUARD:
        return _THREAD_LOCKS.setdefault(str(lock_path), threading.RLock())


@contextlib.contextmanager
def file_lock(
    path: str | Path,
    *,
    timeout_s: float | None = None,
    lock_name: str | None = None,
    error: ErrorFactory = write_error,
) -> Iterator[None]:
    """Hold an exclusive lock tied to ``path`` across processes and threads.

    The lock is a hidden file beside ``path`` (``.<name>.lock``), or ``lock_name`` inside
    the folder ``path`` when given.

    Args:
        path: what is protected (a file, or a folder with ``lock_name``).
        timeout_s: wait at most this long (``None``: wait as long as it takes).
        lock_name: name of the lock file inside the folder ``path``.
        error: makes the error raised when the lock file cannot be created.

    Raises:
        LockTimeout: another holder kept it past ``timeout_s``.
        McalcError: from ``error``, when the lock file cannot be created.
    """
    path = Path(path)
    lock = path / lock_name if lock_name else path.with_name(f".{path.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise error(path, exc) from exc
    tlock = _thread_lock(lock)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        if not tlock.acquire(timeout=-1 if timeout_s is None else max(timeout_s, 0.0)):
            raise LockTimeout(
                f"{path} stayed locked for {timeout_s:.0f} s by another thread; retry"
            )
        try:
            if fcntl is not None:
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | (0 if deadline is None else fcntl.LOCK_NB))
                        break
                    except BlockingIOError:
                        if deadline is not None and time.monotonic() > deadline:
                            raise LockTimeout(
                                f"{path} stayed locked for {timeout_s:.0f} s; another mcalc "
                                "process holds it: retry"
                            ) from None
                        time.sleep(0.02)
            try:
                yield
            finally:
                if fcntl is not None:
                    with contextlib.suppress(OSError):
                        fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            tlock.release()
    finally:
        os.close(fd)
