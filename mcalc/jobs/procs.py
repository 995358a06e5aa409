"""Child processes of training jobs: launch, identify, reap and stop them.

A job's process is started in a new session (its own process group), so it survives the
app's reruns, reloads and restarts, and so that stopping it reaches every process it
started. A PID alone is not an identity (PIDs are reused): a process is "ours" only when
its PID *and* its start time (``/proc/<pid>/stat``, field 22) match what was recorded at
launch.

The process that launched a child keeps its :class:`subprocess.Popen` here, to learn its
exit status and reap it (no zombies). Any other process (another app worker, the app after
a restart) sees only the PID and the start time, and infers the outcome from the files the
child left.

Linux ``/proc`` is used where present; elsewhere the start time is unknown and the PID is
trusted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "launch",
    "start_ticks",
    "is_alive",
    "group_members",
    "owned_exit_code",
    "reap_owned",
    "forget_owned",
    "stop_group",
    "exit_signal",
    "exit_reason",
]

log = logging.getLogger(__name__)

_PROC = Path("/proc")
_children: dict[int, subprocess.Popen[bytes]] = {}
_children_lock = threading.Lock()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of ``/proc/<pid>/stat`` (after the command name), or ``None``."""
    try:
        text = (_PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    return text[text.rfind(")") + 2 :].split()


def start_ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot, or ``None`` if unknown."""
    fields = _stat_fields(pid)
    if fields is None or len(fields) < 20:
        return None
    return int(fields[19])


def is_alive(pid: int | None, ticks: int | None) -> bool:
    """Whether the process ``pid`` that started at ``ticks`` still runs (zombies do not)."""
    if not pid:
        return False
    with _children_lock:
        child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    if _PROC.is_dir():
        fields = _stat_fields(pid)
        if fields is None or fields[0] in {"Z", "X", "x"}:
            return False
        return ticks is None or start_ticks(pid) == ticks
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of the process group ``pgid``."""
    if not _PROC.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return []
        return [pgid]
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields and len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in "ZXx":
            members.append(int(entry.name))
    return members


def launch(
    cmd: Sequence[str],
    *,
    cwd: str | Path,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
) -> tuple[int, int | None]:
    """Start ``cmd`` in a new session with its output in two files.

    Returns:
        The PID and its start time in ticks.

    Raises:
        OSError: the program cannot be started.
    """
    with open(stdout, "ab") as out, open(stderr, "ab") as err:
        child = subprocess.Popen(
            list(cmd),
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            close_fds=True,
        )
    with _children_lock:
        _children[child.pid] = child
    log.info("started pid %d: %s", child.pid, " ".join(cmd))
    return child.pid, start_ticks(child.pid)


def owned_exit_code(pid: int | None) -> int | None:
    """Exit status of a finished child this process launched (negative: killed by a
    signal); ``None`` if it runs, or was not launched here."""
    if not pid:
        return None
    with _children_lock:
        child = _children.get(pid)
    return None if child is None else child.poll()


def reap_owned() -> dict[int, int]:
    """Collect every finished child launched here (no zombies); returns PID -> status.

    Children stay known until reaped so that their status can still be read once.
    """
    done: dict[int, int] = {}
    with _children_lock:
        for pid, child in list(_children.items()):
            code = child.poll()
            if code is not None:
                done[pid] = code
    return done


def forget_owned(pid: int) -> None:
    """Drop a reaped child from the table (after its status was recorded)."""
    with _children_lock:
        child = _children.get(pid)
        if child is not None and child.poll() is not None:
            del _children[pid]


def _wait_group(pgid: int, pid: int, ticks: int | None, seconds: float) -> bool:
    """Wait until the leader and every member of the group are gone; True if they are."""
    deadline = time.monotonic() + seconds
    while True:
        owned_exit_code(pid)  # reaps the leader if it is ours
        if not is_alive(pid, ticks) and not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_group(
    pid: int, ticks: int | None, grace: float = 5.0, *, leader_first: bool = False
) -> str:
    """Stop a job's process group: SIGTERM, then SIGKILL after ``grace`` seconds.

    ``leader_first``: SIGTERM to the leader alone first, and to the group only if it has
    not ended ``grace`` seconds later (a batch run on a local Ray instance: the group holds
    Ray's own processes, which must outlive the run while it saves and shuts Ray down).

    The group is signalled only while it is provably the job's: its leader matches PID
    and start time, or members of the group (which keeps its id while it has members)
    remain.

    Returns:
        ``"gone"`` (nothing ran), ``"terminated"`` or ``"killed"``.

    Raises:
        ProcessLookupError: never (a vanished group counts as stopped).
        RuntimeError: processes of the group survived SIGKILL.
    """
    pgid = pid  # start_new_session: the child leads its own group
    if not is_alive(pid, ticks) and not group_members(pgid):
        return "gone"
    if leader_first and is_alive(pid, ticks):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if _wait_group(pgid, pid, ticks, grace):
            log.info("process group %d terminated (its leader first)", pgid)
            return "terminated"
    for sig, wait, outcome in (
        (signal.SIGTERM, grace, "terminated"),
        (signal.SIGKILL, 10.0, "killed"),
    ):
        with contextlib.suppress(ProcessLookupError):  # the group ended meanwhile
            os.killpg(pgid, sig)
        if _wait_group(pgid, pid, ticks, wait):
            log.info("process group %d %s", pgid, outcome)
            return outcome
    left = group_members(pgid)
    raise RuntimeError(f"processes {left} of group {pgid} survived SIGKILL")


#: What a signal that ended a process usually means (a likely cause, never a certainty).
_LIKELY = {
    signal.SIGKILL: "likely out of memory: the kernel's out-of-memory killer sends SIGKILL "
    "(`dmesg` or `journalctl -k` then says 'Killed process <pid>'); else a `kill -9`",
    signal.SIGTERM: "stopped from outside: a `kill`, a scheduler's time limit or a shutdown",
    signal.SIGINT: "interrupted (Ctrl+C)",
    signal.SIGHUP: "its terminal or session closed",
    signal.SIGSEGV: "a crash in native code (TensorFlow's or a library's)",
    signal.SIGBUS: "a crash in native code (TensorFlow's or a library's)",
    signal.SIGABRT: "aborted by native code (TensorFlow's or a library's); its log may say why",
}


def exit_signal(code: int | None) -> signal.Signals | None:
    """The signal that ended a process of exit status ``code``: ``-N`` (Python's
    :attr:`subprocess.Popen.returncode`), or ``128 + N`` for the signals of
    :data:`_LIKELY` (what a shell reports, and ``python -m mcalc`` after a SIGTERM: 143);
    ``None`` otherwise."""
    if code is None:
        return None
    number = -code if code < 0 else code - 128
    try:
        sig = signal.Signals(number)
    except ValueError:
        return None
    return sig if code < 0 or sig in _LIKELY else None


def exit_reason(code: int | None) -> str:
    """How a process of exit status ``code`` ended, as the end of a sentence about it, with
    what a signal usually means.

    Example:
        >>> exit_reason(-9)[:50]
        'was killed by SIGKILL: likely out of memory: the k'
        >>> exit_reason(143)[:55]
        'was stopped by SIGTERM (exit 143): stopped from outside'
        >>> exit_reason(2)
        'failed (exit 2)'
    """
    if code is None:
        return "ended, its exit status unknown here"
    sig = exit_signal(code)
    if sig is None:
        return "exited normally" if code == 0 else f"failed (exit {code})"
    how = "was stopped by" if sig in (signal.SIGTERM, signal.SIGINT) else "was killed by"
    status = f" (exit {code})" if code > 0 else ""
    likely = _LIKELY.get(sig)
    return f"{how} {sig.name}{status}" + (f": {likely}" if likely else "")
