"""Run a check as an unprivileged user, also where the tests run as root (CI).

Root ignores file permissions, so a test of "this folder is read-only" proves nothing as
root. :func:`run_unprivileged` runs the check directly for a normal user; as root it forks,
drops to ``nobody`` in the child (the interpreter and imported modules are already in
memory, so an interpreter under ``/root`` does not need to be readable by nobody) and
reports the child's failure with its traceback.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

__all__ = ["run_unprivileged"]


def run_unprivileged(check: Callable[[Path], None]) -> None:
    """Call ``check(folder)`` as a user who is not root, with a fresh folder of theirs.

    Raises ``AssertionError`` with the child's traceback when the check fails as nobody.
    """
    # A folder of its own in the system temp folder: pytest's tmp_path is under a
    # root-only folder that nobody cannot enter.
    folder = Path(tempfile.mkdtemp(prefix="mcalc-unprivileged-"))
    try:
        if os.geteuid() != 0:
            check(folder)
        else:
            _check_as_nobody(check, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_as_nobody(check: Callable[[Path], None], folder: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        os.close(read)
        status = 1
        try:
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            check(folder)
            status = 0
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _, wait_status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(wait_status) != 0:
        raise AssertionError(f"the check failed as user nobody:\n{report}")
