"""``train-workers``' launcher (:mod:`mcalc.jobs.workers`) when a worker dies: real processes,
no TensorFlow (the two-worker training itself is in ``test_distributed.py``)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcalc.errors import JobError
from mcalc.jobs.workers import _wait


def _python(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def test_a_worker_killed_while_the_chief_waits_is_named_at_once(tmp_path: Path) -> None:
    """A non-chief worker killed (``kill -9``) while worker 0 still runs: the launcher
    polled the workers with ``any(...)``, which stopped at the first one running, so it
    saw no death until worker 0 ended and then named worker 0 ("worker 0 failed (exit 1)",
    6 December: the chief's collective op failed 10 s later). A chief that waits longer
    held the launcher as long."""
    chief = _python("import time; time.sleep(60)")
    killed = _python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    t0 = time.monotonic()
    try:
        with pytest.raises(JobError) as err:
            _wait([chief, killed], logs, timeout=None, progress=None)
    finally:
        chief.kill()
        chief.wait()
    assert time.monotonic() - t0 < 20
    assert "worker 1" in str(err.value) and "SIGKILL" in str(err.value)
    assert str(logs[1]) in str(err.value)
    assert chief.returncode is not None


def test_a_worker_that_fails_says_why_in_the_launchers_error(tmp_path: Path) -> None:
    """A worker's own error line ("error: ...", what ``python -m mcalc train`` prints) is in
    the launcher's message: with ``MLFLOW_TRACKING_URI`` set and no mlflow installed,
    ``train-workers`` said only "worker 0 failed (exit 2)" and the reason was in the log."""
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    procs = []
    for log in logs:
        with log.open("w", encoding="utf-8") as err:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "import sys; print('INFO x\\nerror: no mlflow', "
                        "file=sys.stderr); sys.exit(2)",
                    ],
                    stderr=err,
                )
            )
    with pytest.raises(JobError) as err:
        _wait(procs, logs, timeout=None, progress=None)
    assert "worker 0 failed (exit 2)" in str(err.value)
    assert "(exit 2): no mlflow; see" in str(err.value) and str(logs[0]) in str(err.value)
