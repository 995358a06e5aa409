"""Files written so that a crash never leaves half of one: atomic writes and file locks.

Every module that writes a file another process may read (the store, job folders, the
registry, caches) writes it here: a temporary file in the same folder, ``fsync``, then
``os.replace`` over the target and an ``fsync`` of the folder, so readers see the old or
the new content and never a mix. The file gets the mode ``open()`` would give it: an
existing target keeps its own, a new one gets ``0o666`` less the process's umask (the
temporary file is made private, ``0o600``, and would otherwise keep that); a caller that
writes a secret passes ``mode=0o600``. :func:`file_lock` serialises writers across processes
and threads with an exclusive ``flock`` on a hidden lock file beside the path.

A process killed between the temporary file and the rename leaves the hidden temporary file
(``.NAME.XXXXXXXX.tmp``) behind; a write removes those of its folder that are older than
:data:`STALE_TEMP_S` (:func:`remove_stale_temps`, at most once per folder every
:data:`SWEEP_EVERY_S` in a process), never a younger one: a concurrent writer's own.

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
import json
import logging
import os
import re
import stat
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
    "current_umask",
    "file_lock",
    "fsync_dir",
    "LockTimeout",
    "remove_stale_temps",
    "STALE_TEMP_S",
    "SWEEP_EVERY_S",
]

log = logging.getLogger(__name__)

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


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process's file-creation mask, read without changing it where the system tells
    (Linux: ``/proc/self/status``); elsewhere set and put back at once, under a lock.

    Example:
        >>> 0 <= current_umask() <= 0o777
        True
    """
    with (
        contextlib.suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as fh,
    ):
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _target_mode(path: Path, mode: int | None) -> int:
    """The permission bits ``path`` gets: ``mode`` when given, else those of the file it
    replaces, else ``0o666`` less the umask (what ``open(path, "w")`` gives)."""
    if mode is not None:
        return mode
    with contextlib.suppress(OSError):
        return stat.S_IMODE(os.stat(path).st_mode)
    return 0o666 & ~current_umask()


#: Age past which an atomic write's temporary file is a leftover of a killed process: a write
#: takes seconds at most (a results table of thousands of rows), so an hour-old one has no
#: writer left.
STALE_TEMP_S = 3600.0
#: How often one process looks for leftovers in a folder it writes (a listing of the folder:
#: not on every write of a folder of thousands of maps).
SWEEP_EVERY_S = 600.0
#: The name :func:`atomic_write_with` gives its temporary file: ``mkstemp``'s eight random
#: characters between ``.NAME.`` and ``.tmp``.
_TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: Folder -> when this process last looked for leftovers there (bounded: oldest dropped).
_SWEPT: dict[str, float] = {}
_SWEPT_MAX = 4096
_SWEPT_LOCK = threading.Lock()


def remove_stale_temps(folder: str | Path, *, older_than_s: float = STALE_TEMP_S) -> list[Path]:
    """Remove the temporary files of atomic writes that a killed process left in ``folder``
    (hidden ``.NAME.XXXXXXXX.tmp`` files last modified more than ``older_than_s`` ago);
    returns those removed. Never fails: a file that cannot be removed stays.

    Example:
        >>> import tempfile, pathlib
        >>> remove_stale_temps(pathlib.Path(tempfile.mkdtemp()))
        []
    """
    cutoff = time.time() - older_than_s
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not _TEMP_NAME.match(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                log.info("removed %s, left by a write that was killed", entry.path)
    return removed


def _sweep(folder: Path) -> None:
    """:func:`remove_stale_temps` of ``folder`` unless this process did it in the last
    :data:`SWEEP_EVERY_S`."""
    key, now = str(folder), time.monotonic()
    with _SWEPT_LOCK:
        last = _SWEPT.get(key)
        if last is not None and now - last < SWEEP_EVERY_S:
            return
        _SWEPT.pop(key, None)
        _SWEPT[key] = now
        while len(_SWEPT) > _SWEPT_MAX:
            del _SWEPT[next(iter(_SWEPT))]
    remove_stale_temps(folder)


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
        mode: permission bits of the file (``0o600`` for a secret: it is never readable by
            others, not even for a moment); ``None``: as ``open()`` would (the replaced
            file's, else ``0o666`` less the umask).

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
        # mkstemp makes the file 0o600 whatever the umask; set the target's bits before any
        # byte is written, so a secret (mode 0o600) is never readable by others. A file
        # system that refuses modes keeps mkstemp's private one (the write goes on).
        with contextlib.suppress(OSError, AttributeError):  # no fchmod: Windows < 3.13
            os.fchmod(fd, _target_mode(path, mode))
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
    _sweep(path.parent)


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
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_with`)."""
    atomic_write_bytes(path, text.encode("utf-8"), error=error, mode=mode)


def atomic_write_json(
    path: str | Path,
    obj: Any,
    *,
    indent: int | None = 1,
    error: ErrorFactory = write_error,
    mode: int | None = None,
) -> None:
    """Write ``obj`` as JSON (UTF-8, no NaN) to ``path`` atomically, with a final newline."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent, allow_nan=False) + "\n"
    atomic_write_text(path, text, error=error, mode=mode)


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
