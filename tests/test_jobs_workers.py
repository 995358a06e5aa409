"""``train-workers``' launcher (:mod:`mcalc.jobs.workers`) when a worker dies: real processes,
no TensorFlow (the two-worker training itself is in ``test_distributed.py``)."""

from __future__ import annotations

import json
import os
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


def _ended(code: str) -> subprocess.Popen[bytes]:
    """A worker that has ended already, as ``code`` ended it."""
    proc = _python(code)
    proc.wait()
    return proc


KILLED = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
#: What ``python -m mcalc train`` does after a SIGTERM: "terminated: ...", status 143.
TERMINATED = "import sys; sys.exit(143)"
#: A worker whose collective failed when another died ("lost worker 1", status 2).
LOST = "import sys; sys.exit(2)"


@pytest.mark.parametrize(
    ("codes", "said"),
    [
        # The OOM killer's SIGKILL: named with its likely cause (it said "was killed by SIGKILL").
        ([None, KILLED], "worker 1 was killed by SIGKILL: likely out of memory"),
        # A worker sent SIGTERM ends with 143: it said "worker 1 failed (exit 143)".
        ([None, TERMINATED], "worker 1 was stopped by SIGTERM (exit 143): stopped from outside"),
        # Both ended by the launcher's next look: worker 0's collective failed because worker
        # 1 was killed; the lowest index was named ("worker 0 failed (exit 2)").
        ([LOST, KILLED], "worker 1 was killed by SIGKILL"),
    ],
)
def test_the_worker_that_died_is_named_with_how_and_the_likely_cause(
    tmp_path: Path, codes: list[str | None], said: str
) -> None:
    procs = [_ended(c) if c else _python("import time; time.sleep(60)") for c in codes]
    logs = [tmp_path / f"worker{i}.log" for i in range(len(procs))]
    try:
        with pytest.raises(JobError) as err:
            _wait(procs, logs, timeout=None, progress=None)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert str(err.value).startswith(said), str(err.value)
    assert f"see {logs[int(said.split()[1])]}" in str(err.value)


def test_an_interrupted_launcher_stops_its_workers_and_says_why(tmp_path: Path, monkeypatch):
    """`train-workers` sent SIGTERM (or Ctrl+C) said "terminated: nothing was registered" and
    exited while its workers trained on, unseen, and registered the model (7 December 2026).
    Now it stops them, and its ``.workers`` folder keeps why the run failed (the Train page
    shows it)."""
    from mcalc.jobs import workers
    from mcalc.models.train_config import TrainConfig

    started: list[int] = []
    monkeypatch.setattr(
        workers, "train_command", lambda _: [sys.executable, "-c", "import time; time.sleep(60)"]
    )

    def interrupt(done: int, total: int, message: str) -> None:
        started.extend(json.loads((folder / "processes.json").read_text())["processes"])
        raise KeyboardInterrupt

    folder = tmp_path / "runs" / "mw.workers"
    config = TrainConfig(data=str(tmp_path), model_id="mw", models_dir=str(tmp_path / "models"),
                         runs_dir=str(tmp_path / "runs"))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        workers.run_local_workers(config, 2, progress=interrupt)
    pids = [p["pid"] for p in started[1:]]
    assert len(pids) == 2
    for pid in pids:  # stopped and reaped: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    outcome = json.loads((folder / "outcome.json").read_text())
    assert outcome["state"] == "failed" and "workers were stopped" in outcome["error"]


def test_progress_while_waiting_says_how_many_workers_still_train(tmp_path: Path) -> None:
    """The line read "workers: 0/2 (0%) 30 s, time left unknown yet · workers finished"
    while both trained: the note said finished of workers that were not."""
    seen: list[tuple[int, int, str]] = []
    procs = [_python("import time; time.sleep(1.2)"), _python("pass")]
    logs = [tmp_path / "worker0.log", tmp_path / "worker1.log"]
    _wait(procs, logs, timeout=None, progress=lambda *a: seen.append(a))
    assert (0, 2, "2 workers training") in seen or (1, 2, "1 worker training") in seen, seen
    assert {m for *_, m in seen} <= {"2 workers training", "1 worker training", ""}, seen
    assert seen[-1] == (2, 2, "")  # the line ends "done"
