"""The first start's demo set: generated once per process (and once across processes),
whatever the sessions, and a generation cut short is never read as the dataset."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

import mcalc.synthetic.first_start as first_start
from mcalc.errors import McalcError
from mcalc.synthetic import is_synthetic
from mcalc.synthetic.first_start import start_demo

TINY = {"cases": 3, "seed": 0, "shape": (256, 208)}


def test_concurrent_starts_generate_once_and_a_second_session_sees_its_progress(
    tmp_path, monkeypatch
) -> None:
    calls: list[Path] = []
    real = first_start.generate_demo
    release = threading.Event()

    def counted(out, progress=None, **options):
        calls.append(out)
        release.wait(30)  # both sessions ask while it runs
        return real(out, progress=progress, **options)

    monkeypatch.setattr(first_start, "generate_demo", counted)
    out = tmp_path / "demo"
    jobs: list[object] = []
    starts = [threading.Thread(target=lambda: jobs.append(start_demo(out, **TINY))) for _ in "ab"]
    for t in starts:
        t.start()
    for t in starts:
        t.join(10)
    assert len(jobs) == 2 and jobs[0] is jobs[1] is not None
    job = jobs[0]
    assert job.running and not out.exists()  # nothing there until it is whole
    assert start_demo(out, **TINY) is job  # a session that comes meanwhile: the same job
    release.set()
    assert job.wait(120) and job.state == "done", job.error
    assert len(calls) == 1 and is_synthetic(out)
    assert job.snapshot()[0] == job.snapshot()[1] == 12  # its progress: every image
    assert start_demo(out, **TINY) is None  # made: nothing more to start


_KILLED_MIDWAY = """
import os, signal, sys
from mcalc.synthetic import generate_demo
def progress(done, total, message):
    if done == 5:
        os.kill(os.getpid(), signal.SIGKILL)  # the server killed midway
generate_demo(sys.argv[1], cases=3, seed=0, shape=(256, 208), progress=progress)
"""


def test_a_generation_killed_midway_is_not_the_dataset_and_is_made_again(tmp_path) -> None:
    from mcalc.dataset import open_dataset

    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-c", _KILLED_MIDWAY, str(out)], check=False)
    assert done.returncode == -9
    partial = [p.name for p in tmp_path.iterdir()]
    assert len(partial) == 1 and partial[0].startswith(".demo.partial-")  # hidden, half made
    assert not out.exists() and not is_synthetic(out)
    with pytest.raises(McalcError):
        open_dataset(out)
    job = start_demo(out, **TINY)
    assert job is not None and job.wait(120) and job.state == "done", job.error
    assert len(open_dataset(out).cases) == 3


# Both processes import first, then start together (a file each, then wait for the other's):
# a process that imported slower on a busy machine came after the other had made the set
# and found it before asking (start_demo -> None), so the lock was never contended.
_ONE_PROCESS = """
import os, sys, time
from pathlib import Path
from mcalc.synthetic.first_start import start_demo
out, ready = Path(sys.argv[1]), Path(sys.argv[2])
(ready / str(os.getpid())).touch()
end = time.monotonic() + 120
while len(list(ready.iterdir())) < 2 and time.monotonic() < end:
    time.sleep(0.005)
job = start_demo(out, cases=3, seed=0, shape=(256, 208))
if job is None:  # made by the other before this one asked: found, as a lock wait would
    print("found")
    sys.exit(0)
assert job.wait(120) and job.state == "done", job.error
print("generated" if job.result is not None else "found")
"""


def test_two_processes_generate_once(tmp_path) -> None:
    out, ready = tmp_path / "demo", tmp_path / "ready"
    ready.mkdir()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ONE_PROCESS, str(out), str(ready)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    said = sorted(p.communicate(timeout=180)[0].strip() for p in procs)
    assert [p.returncode for p in procs] == [0, 0]
    assert said == ["found", "generated"] and is_synthetic(out)
