"""Background training jobs: real tiny runs in subprocesses, cancel, kill, queue, bad input.

Each real job trains the ``custom`` model for one epoch of two batches on 32 px patches of
the 6-case tiny demo set (about 10 s, mostly TensorFlow's start-up): those tests are slow.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mcalc import jobs
from mcalc.config import Settings
from mcalc.errors import DatasetError, JobError, ModelError
from mcalc.jobs import procs
from mcalc.jobs.progress import is_runtime_noise, quiet_tail, read_progress, tail_text
from mcalc.models.compare import comparison_rows
from mcalc.models.registry import list_models
from mcalc.models.train_config import TrainConfig
from tests.conftest import REPO, TINY_SHAPE
from tests.procs_fixtures import launch_sleepers

#: A safety net only: the tests wait on states the child writes, never on a duration.
JOB_TIMEOUT_S = 300


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(runs_dir=tmp_path / "runs", models_dir=tmp_path / "models")


def tiny(data: Path, /, **changes) -> TrainConfig:
    base = {
        "data": str(data),
        "epochs": 1,
        "batch": 8,
        "max_steps": 2,
        "patch_size": 32,
        "pos_per_image": 4,
        "neg_per_image": 4,
    }
    return TrainConfig(**{**base, **changes})


def wait_for(settings: Settings, job_id: str, states, timeout: float = JOB_TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs.reconcile(settings)
        job = jobs.get_job(job_id, settings)
        if job.state in states:
            return job
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} not in {states} after {timeout} s: {job.state}")


def wait_for_phase(
    settings: Settings, job_id: str, phases, timeout: float = JOB_TIMEOUT_S, min_steps: int = 0
):
    """Wait until the child's ``progress.jsonl`` says it reached one of ``phases`` (and, with
    ``min_steps``, finished that many batches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = jobs.get_job(job_id, settings)
        prog = jobs.progress(job)
        if prog.phase in phases and prog.done_steps >= min_steps:
            return job
        if job.state in jobs.FINAL_STATES:
            raise AssertionError(f"job {job_id} ended ({job.state}: {job.error}) before {phases}")
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached {phases}")


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def wait_for_kernel_end(pid: int, timeout: float = JOB_TIMEOUT_S) -> None:
    """Wait until ``pid`` is a zombie or gone, as another process reading ``/proc`` sees it
    (``procs.is_alive`` from outside), without reaping it (``procs.is_alive`` in this
    process polls its own children, which reaps them)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return  # gone
        if stat[stat.rfind(")") + 2 :].split()[0] in {"Z", "X", "x"}:
            return
        assert time.monotonic() < deadline, f"process {pid} still runs {timeout} s after SIGKILL"
        time.sleep(0.01)


def job_folders(settings: Settings) -> list[Path]:
    root = jobs.jobs_root(settings)
    return [p for p in root.iterdir() if p.is_dir()] if root.exists() else []


# --- real jobs ------------------------------------------------------------------------------


@pytest.mark.slow
def test_second_job_waits_in_the_queue_then_cancel_stops_each(tiny_demo, settings):
    first = jobs.submit(tiny(tiny_demo), settings)
    second = jobs.submit(tiny(tiny_demo, seed=1), settings)
    assert first.state == "running"
    assert second.state == "queued" and second.pid is None
    jobs.reconcile(settings)
    assert jobs.get_job(second.id, settings).state == "queued"  # still waiting

    cancelled = jobs.cancel(first.id, settings, grace=3)
    assert cancelled.state == "cancelled" and pid_gone(first.pid)
    started = jobs.get_job(second.id, settings)  # cancel ran a scheduler step
    assert started.state == "running" and started.pid

    jobs.cancel(second.id, settings, grace=3)
    assert jobs.get_job(second.id, settings).state == "cancelled"
    assert pid_gone(started.pid) and not procs.group_members(started.pid)
    assert not list_models(settings.models_dir).models


@pytest.mark.slow
def test_cancel_mid_run_ends_the_process_group_with_no_orphans(tiny_demo, settings):
    job = jobs.submit(tiny(tiny_demo, epochs=50, max_steps=50), settings)
    # Wait on the child's own word that it trains (its SIGTERM handler is in place by then),
    # not on a duration: on a busy machine start-up takes any time.
    wait_for_phase(settings, job.id, {"training"}, min_steps=1)
    assert procs.group_members(job.pid) == [job.pid]

    # The grace is a safety net: an orderly stop ends long before it on any machine.
    out = jobs.cancel(job.id, settings, grace=JOB_TIMEOUT_S)
    assert out.state == "cancelled" and out.error == "cancelled by the user"
    # The command line's SIGTERM handler stops the fit after its batch and the run ends in
    # order (exit 143 as any terminated command; 2 until 7 December 2026, "error: ...");
    # it was never killed (-SIGKILL) after the grace period.
    assert out.exit_code in (143, -signal.SIGTERM)
    assert "terminated: nothing was registered" in (out.folder / "stderr.log").read_text()
    prog = jobs.progress(out)
    assert prog.phase == "interrupted", prog
    assert pid_gone(job.pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(job.pid, 0)  # nothing of the group survived
    assert not list_models(settings.models_dir).models
    assert not list(Path(settings.models_dir).glob(".tmp-*"))
    with pytest.raises(JobError, match="already ended"):
        jobs.cancel(job.id, settings)


@pytest.mark.slow
def test_job_killed_from_outside_is_failed_after_a_restart(tiny_demo, settings):
    job = jobs.submit(tiny(tiny_demo, epochs=50, max_steps=50), settings)
    wait_for_phase(settings, job.id, {"preparing", "training"})
    os.kill(job.pid, signal.SIGKILL)
    # Until the kernel has ended it (a zombie: this process has not reaped it), as the
    # restarted app sees it from outside; a fixed 0.3 s was short of that once the machine
    # was busy (0.11 s measured under load for a process with TensorFlow loaded).
    wait_for_kernel_end(job.pid)

    # A restarted app: a new process that knows only the folders.
    script = (
        "import json, sys; from mcalc.config import Settings; from mcalc import jobs;"
        f"s = Settings(runs_dir={str(settings.runs_dir)!r}, models_dir={str(settings.models_dir)!r});"
        "print(json.dumps([j.status_dict() for j in jobs.reconcile(s)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    (seen,) = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["state"] == "failed"
    assert "ended without writing a final status" in seen["error"]
    assert seen["error_tail"]  # the end of its stderr, for the page

    # The history survives: this process (the old app) reads the same outcome and reaps.
    again = jobs.reconcile(settings)
    assert [j.state for j in again] == ["failed"]
    assert pid_gone(job.pid)
    assert not list_models(settings.models_dir).models


@pytest.mark.slow
def test_tiny_job_outlives_the_app_that_launched_it_and_registers_its_model(tiny_demo, settings):
    """One real job end to end (one job for two checks: it was two jobs before): launched
    by an "old app" that exits at once, it runs on in its own process, and the "new app",
    which knows only the folders, sees it done with its model registered. The exit status
    and reaping of a job the running app launched itself: tests/test_app_train.py."""
    t0 = time.monotonic()
    # The "old app": a process that submits a job and exits at once.
    script = (
        "from mcalc.config import Settings; from mcalc import jobs;"
        f"s = Settings(runs_dir={str(settings.runs_dir)!r}, models_dir={str(settings.models_dir)!r});"
        f"job = jobs.submit(jobs.TrainConfig(data={str(tiny_demo)!r}, epochs=1, batch=8,"
        " max_steps=2, patch_size=32, pos_per_image=4, neg_per_image=4), s, user='rita');"
        "print(job.id)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    )
    job_id = out.stdout.strip().splitlines()[-1]
    job = jobs.get_job(job_id, settings)
    assert job.state == "running" and job.pid and job.pid != os.getpid()
    assert procs.is_alive(job.pid, job.pid_ticks)

    # The "new app" knows only the folders: no exit status, the outcome comes from the files.
    done = wait_for(settings, job_id, jobs.FINAL_STATES)
    elapsed = time.monotonic() - t0
    assert done.state == "done", (done.error, done.error_tail)
    assert done.exit_code is None and done.ended >= done.started >= done.created

    models = list_models(settings.models_dir).models
    assert [m.id for m in models] == [done.model_id]
    assert Path(done.model_path, "model.keras").is_file()
    card = models[0]
    assert card.architecture == "custom" and card.patch.size == 32
    assert card.trained_by == "rita"  # the signed-in user who submitted it
    assert "auc" in card.test_metrics

    prog = jobs.progress(done)
    assert prog.phase == "done" and prog.fraction == 1.0
    assert prog.batch_loss and prog.history and prog.history[0]["global_epoch"] == 1
    assert json.loads((done.folder / "stdout.log").read_text())["id"] == done.model_id
    config = json.loads((done.folder / "config.json").read_text())
    assert config["max_steps"] == 2 and config["data"] == str(tiny_demo.resolve())

    rows = comparison_rows(models)
    assert rows[0]["model"] == done.model_id and rows[0]["strategy"] == "full"
    print(f"tiny job end to end: {elapsed:.1f} s")


def _mount_tmpfs(path: Path, size: str) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    return result.returncode == 0


@pytest.mark.slow
def test_disk_full_at_registration_fails_the_job_and_registers_nothing(tiny_demo, tmp_path):
    models = tmp_path / "small-disk"
    if not _mount_tmpfs(models, "2m"):
        pytest.skip("needs root and tmpfs mounts to make a full disk")
    try:
        settings = Settings(runs_dir=tmp_path / "runs", models_dir=models)
        job = jobs.submit(tiny(tiny_demo), settings)
        # Leave about 64 KiB: far less than the ~320 KiB model the job will write.
        free = os.statvfs(models).f_bavail * os.statvfs(models).f_frsize
        with open(models / "filler", "wb") as f:
            f.write(b"\0" * max(free - 64 * 1024, 0))
        done = wait_for(settings, job.id, jobs.FINAL_STATES)
        assert done.state == "failed"
        assert "disk full" in done.error, done.error
        assert not list_models(models).models
        assert [p.name for p in models.iterdir()] == ["filler"]  # no half-written folder
    finally:
        subprocess.run(["umount", str(models)], check=False)


# --- bad input: nothing is launched -----------------------------------------------------------


@pytest.fixture(scope="module")
def two_patients(tmp_path_factory) -> Path:
    """A demo set with one of its three case folders removed: two patients."""
    from mcalc.synthetic import generate_demo

    out = tmp_path_factory.mktemp("two") / "demo"
    generate_demo(out, cases=3, seed=3, shape=TINY_SHAPE)
    shutil.rmtree(out / "Dataset" / "Normal_cases" / "2")
    return out


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"batch": 0}, ModelError, "batch must be a whole number from 1 to 1024, got 0"),
        ({"batch": 5000}, ModelError, "batch must be"),
        ({"batch": 1000}, ModelError, "larger than the at most 192 patches"),
        ({"epochs": 0}, ModelError, "epochs must be"),
        ({"arch": "alexnet"}, ModelError, "unknown architecture 'alexnet'; expected one of"),
        ({"task": "density"}, ModelError, "unknown task"),
        ({"freeze": "some"}, ModelError, "unknown freeze strategy"),
        ({"patch_size": 8}, ModelError, "patch_size must be a whole number from 32"),
        ({"lr": 2.0}, ModelError, r"lr must be in \(0, 1\)"),
        ({"model_id": "jobs"}, ModelError, "bad model id"),
        ({"model_id": "a/b"}, ModelError, "bad model id"),
        ({"weights": "/nonexistent/w.weights.h5"}, ModelError, "does not exist"),
        ({"data": "/nonexistent/dataset"}, DatasetError, "does not exist"),
    ],
)
def test_bad_input_is_refused_before_any_process_starts(tiny_demo, settings, changes, error, match):
    with pytest.raises(error, match=match):
        jobs.submit(tiny(tiny_demo, **changes), settings)
    assert job_folders(settings) == []


def test_no_model_id_names_a_folder_the_runs_area_keeps(settings):
    """A trainer empties ``<runs_dir>/<model id>`` at start: a model id ``crossval`` (the
    Train page's field) deleted every cross-validation run's record (seen with ``mcalc
    train --id crossval``). Each folder the runs area keeps is refused, in any case (a
    case-insensitive disk, macOS's, takes ``Batch`` for ``batch``)."""
    from mcalc.jobs.batch import batch_root
    from mcalc.jobs.crossval import _root as crossval_root
    from mcalc.models.train_config import check_model_id

    kept = [jobs.jobs_root(settings), crossval_root(settings), batch_root(settings)]
    assert {p.parent for p in kept} == {settings.runs_dir}
    for folder in kept:
        for model_id in (folder.name, folder.name.capitalize()):
            with pytest.raises(ModelError, match="reserved"):
                check_model_id(model_id)


def test_too_few_patients_is_a_clear_message(two_patients, settings):
    with pytest.raises(DatasetError, match=r"too few patients .* need at least 3 .* got 2"):
        jobs.submit(tiny(two_patients), settings)
    assert job_folders(settings) == []


def test_double_click_launches_once_and_a_taken_id_is_refused(tiny_demo, settings):
    config = tiny(tiny_demo)
    first = jobs.submit(config, settings, start=False)
    second = jobs.submit(config, settings, start=False)
    assert second.id == first.id and len(job_folders(settings)) == 1
    named = jobs.submit(tiny(tiny_demo, model_id="mine"), settings, start=False)
    with pytest.raises(JobError, match="already used by another job"):
        jobs.submit(tiny(tiny_demo, model_id="mine", seed=5), settings, start=False)
    for job in (first, named):
        assert jobs.cancel(job.id, settings).state == "cancelled"  # queued: never started
    assert all(jobs.get_job(j.id, settings).pid is None for j in (first, named))


def test_a_job_folder_held_by_another_process_is_a_job_error(settings, monkeypatch):
    from mcalc.jobs import folders

    monkeypatch.setattr(folders, "_LOCK_TIMEOUT_S", 0.3)
    root = jobs.jobs_root(settings)
    root.mkdir(parents=True)
    code = (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(root / ".lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(JobError, match="stayed locked for 0 s; another mcalc process"):
            jobs.reconcile(settings)
    finally:
        holder.kill()
        holder.wait()
    assert jobs.reconcile(settings) == []  # free again


def test_unknown_job_and_broken_folders(settings):
    with pytest.raises(JobError, match="no job 'nope'"):
        jobs.get_job("nope", settings)
    broken = jobs.jobs_root(settings) / "broken"
    broken.mkdir(parents=True)
    (broken / "status.json").write_text("{not json")
    assert jobs.list_jobs(settings) == []  # skipped, never fatal
    assert jobs.reconcile(settings) == []


def test_a_damaged_job_folder_is_named_with_its_reason_and_can_be_deleted(settings):
    """A job folder whose files were damaged, or half made by a process killed between
    them, was skipped in silence (gone from the Train page's history) and ``delete job``
    refused it ("unreadable job folder"): nothing could clean it."""
    root = jobs.jobs_root(settings)
    for name, files in {
        "bad-status": {"status.json": "{not json", "config.json": "{}"},
        "half-made": {"config.json": "{}"},  # killed before its status.json
        "bad-config": {"status.json": json.dumps({"state": "failed"}), "config.json": "{"},
    }.items():
        (root / name).mkdir(parents=True)
        for file, text in files.items():
            (root / name / file).write_text(text)
    broken = {b.id: b.reason for b in jobs.broken_jobs(settings)}
    assert set(broken) == {"bad-status", "half-made", "bad-config"}
    assert "status.json" in broken["half-made"] and "config.json" in broken["bad-config"]
    assert jobs.list_jobs(settings) == []
    for name in broken:
        jobs.delete_job(name, settings, role="admin", user="boss")
    assert jobs.broken_jobs(settings) == []
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]


def test_a_damaged_job_folder_whose_process_still_runs_is_not_deleted(settings):
    folder = jobs.jobs_root(settings) / "still-running"
    folder.mkdir(parents=True)
    status = {"state": "running", "pid": os.getpid(), "pid_ticks": procs.start_ticks(os.getpid())}
    (folder / "status.json").write_text(json.dumps(status))
    (folder / "config.json").write_text("{")
    with pytest.raises(JobError, match="still running"):
        jobs.delete_job("still-running", settings, role="admin", user="boss")
    assert (folder / "status.json").is_file()


def _run_folder(settings: Settings, model_id: str, *events: dict) -> Path:
    """``<runs_dir>/<model_id>/progress.jsonl`` holding ``events``: what `mcalc train` writes."""
    folder = Path(settings.runs_dir) / model_id
    folder.mkdir(parents=True)
    lines = [json.dumps({"time": 1.0, **e}) for e in events]
    (folder / "progress.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_a_killed_command_line_training_run_folder_is_deleted_as_a_job(settings):
    """A `python -m mcalc train` killed outside the job queue left ``<runs>/<id>/``, which
    `delete job <id>` did not know ("no job ...": it had to be removed by hand)."""
    me = {"pid": os.getpid(), "pid_ticks": procs.start_ticks(os.getpid())}
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = {"pid": ended.pid, "pid_ticks": 1}
    killed = _run_folder(settings, "killed", {"event": "start", **dead}, {"event": "batch"})
    half = Path(settings.models_dir) / ".tmp-killed-0badc0de"  # its half registration
    half.mkdir(parents=True)
    assert not jobs.jobs_root(settings).exists()
    jobs.delete_job("killed", settings, role="admin", user="boss")
    assert not killed.exists() and not half.exists()
    log = (jobs.jobs_root(settings) / ".admin-log.jsonl").read_text()
    assert '"id": "killed"' in log and '"by": "boss"' in log

    running = _run_folder(settings, "running", {"event": "start", **me}, {"event": "batch"})
    with pytest.raises(JobError, match=rf"still running \(process {os.getpid()}\)"):
        jobs.delete_job("running", settings, role="admin", user="boss")
    # A run of before 6 December 2026 names no process: deleted when its log says it ended,
    # else the refusal says how to remove it.
    old_failed = _run_folder(settings, "old-failed", {"event": "start"}, {"event": "failed"})
    jobs.delete_job("old-failed", settings, role="admin", user="boss")
    old = _run_folder(settings, "old", {"event": "start"}, {"event": "batch"})
    with pytest.raises(JobError, match=rf"remove it with `rm -r {old}`"):
        jobs.delete_job("old", settings, role="admin", user="boss")
    # A registered model's run folder is its training record, not a job's.
    model = Path(settings.models_dir) / "kept"
    model.mkdir(parents=True)
    (model / "card.json").write_text("{}")
    (model / "model.keras").write_bytes(b"")
    record = _run_folder(settings, "kept", {"event": "start", **dead}, {"event": "done"})
    with pytest.raises(JobError, match="training record of the registered model kept"):
        jobs.delete_job("kept", settings, role="admin", user="boss")
    # The Train page names the folders no job and no model owns; a run still running is
    # not one (a `train` under way), nor is a registered model's record.
    (found,) = jobs.orphan_run_folders(settings)
    assert found.id == "old" and found.refusal.startswith(f"{old} is the folder of a training")
    with pytest.raises(JobError, match="no job 'nothing'"):
        jobs.delete_job("nothing", settings, role="admin", user="boss")
    assert running.is_dir() and old.is_dir() and record.is_dir() and not old_failed.exists()


def test_a_read_only_runs_folder_says_so_and_what_to_do(settings, monkeypatch):
    """The Train page said "The job folder cannot be read: cannot use the job folder ...:
    [Errno 30] Read-only file system" (seen with MCALC_RUNS on a read-only mount): not
    what was wrong with it, nor what to do."""

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(JobError) as err:
        jobs.reconcile(settings)
    assert "read-only" in str(err.value) and "MCALC_RUNS" in str(err.value), err.value


def test_a_start_whose_status_cannot_be_written_leaves_no_process_behind(
    tiny_demo, settings, monkeypatch
):
    """A trainer started while its running status could not be written (the disk filled)
    ran on with its job still "queued": the next scheduler step started a second one."""
    from mcalc.jobs import manager

    job = jobs.submit(tiny(tiny_demo), settings, start=False)
    started = launch_sleepers(monkeypatch)

    def full(job) -> None:
        raise JobError(f"disk full while writing {job.folder}/status.json: free space and retry")

    monkeypatch.setattr(manager, "save_job", full)
    with pytest.raises(JobError, match="disk full") as err:
        jobs.reconcile(settings)
    assert "stopped" in str(err.value), err.value
    (pid,) = started
    assert pid_gone(pid)
    assert jobs.get_job(job.id, settings).state == "queued"  # starts again once writable


# --- progress, logs, command line ----------------------------------------------------------


def _write_events(path: Path, events: list[dict], tail: str = "") -> None:
    with path.open("a") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
        f.write(tail)


def test_progress_is_read_incrementally_with_fraction_and_time_left(tmp_path):
    path = tmp_path / "progress.jsonl"
    assert read_progress(path).phase == "waiting"
    now = time.time()
    _write_events(
        path,
        [
            {"event": "start", "time": now - 10, "model_id": "m"},
            {"event": "stage", "time": now - 8, "stage": "head", "epochs": 2},
            *[
                {
                    "event": "batch",
                    "time": now - 8 + b,
                    "epoch": 1,
                    "epochs": 2,
                    "batch": b,
                    "steps": 4,
                    "loss": 1.0 / b,
                }
                for b in (1, 2)
            ],
        ],
        tail='{"event": "batch", "ti',  # half-written line: left for the next read
    )
    p = read_progress(path, n_stages=2, total_epochs=4)
    assert (p.phase, p.stage, p.stage_index, p.epoch, p.batch) == ("training", "head", 1, 1, 2)
    assert (p.done_steps, p.total_steps) == (2, 16)
    assert p.fraction == pytest.approx(2 / 16)
    assert p.eta_s is not None and 0 < p.eta_s < 60
    assert "stage 1/2 (head)" in p.summary() and "left" in p.summary()
    _write_events(
        path,
        [],
        tail='me": 1, "epoch": 1, "epochs": 2, "batch": 3, "steps": 4}\n'
        + json.dumps({"event": "epoch", "time": now, "epoch": 1, "loss": 0.5, "val_loss": 0.6})
        + "\n",
    )
    p = read_progress(path, n_stages=2, total_epochs=4)
    assert p.done_steps == 4 and p.history[0]["val_loss"] == 0.6
    _write_events(path, [{"event": "failed", "time": now, "message": "out of memory"}])
    p = read_progress(path, n_stages=2, total_epochs=4)
    assert p.phase == "failed" and p.message == "out of memory"


def test_tail_collapses_carriage_return_bars(tmp_path):
    log = tmp_path / "stderr.log"
    log.write_text("a\nbar 1\rbar 2\rbar 3\nerror: boom\n")
    assert tail_text(log, lines=2) == "bar 3\nerror: boom"
    assert tail_text(tmp_path / "missing.log") == ""


def test_job_stores_its_config_and_runs_the_train_command_on_it(tiny_demo, settings):
    job = jobs.submit(
        tiny(tiny_demo, two_stage=True, epochs=3, head_epochs=1), settings, start=False
    )
    stored = TrainConfig.from_file(job.folder / "config.json")
    assert stored == job.config
    assert stored.model_id == job.model_id and stored.models_dir == job.models_dir
    assert stored.runs_dir is not None and Path(stored.runs_dir, job.model_id) == Path(job.run_dir)
    assert (stored.pos_per_image, stored.neg_per_image, stored.head_epochs) == (4, 4, 1)

    from mcalc.cli import build_parser
    from mcalc.jobs.manager import train_command

    cmd = train_command(job.folder / "config.json")
    args = build_parser().parse_args(cmd[cmd.index("--log-level") + 2 :])
    assert TrainConfig.from_args(args) == stored  # the child trains exactly this
    jobs.cancel(job.id, settings)


def test_a_job_folder_of_an_older_mcalc_still_loads(tiny_demo, settings):
    job = jobs.submit(tiny(tiny_demo), settings, start=False)
    legacy = {"data": str(tiny_demo), "arch": "custom", "epochs": 1, "patches_per_image": 7}
    (job.folder / "config.json").write_text(json.dumps(legacy))
    old = jobs.get_job(job.id, settings)
    assert (old.config.pos_per_image, old.config.neg_per_image) == (7, 7)
    jobs.cancel(job.id, settings)


def test_log_tail_hides_tensorflow_start_up_noise_but_keeps_the_raw_log(tiny_demo, settings):
    job = jobs.submit(tiny(tiny_demo), settings, start=False)
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796197283.222090   13355 port.cc:153] oneDNN custom operations are on.",
        "I0000 00:00:1796197283.222559   13355 cudart_stub.cc:31] Could not find cuda drivers",
        "To enable the following instructions: AVX2 FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.",
        "E0000 00:00:1796197289.231314   13355 cuda_platform.cc:52] failed call to cuInit: "
        "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
        "2024-01-01 12:00:00.123456: I tensorflow/core/util/port.cc:113] oneDNN custom ops",
    ]
    training = [
        "INFO:mcalc.models.training:stage train: freeze full, 1 epoch, lr 0.001",
        "INFO:mcalc.models.training:train epoch 1/1: loss 0.6931 val_loss 0.6900",
    ]
    (job.folder / "stderr.log").write_text(
        "\n".join([*noise[:3], training[0], *noise[3:], training[1]]) + "\n"
    )
    assert all(is_runtime_noise(line) for line in noise)
    assert not any(is_runtime_noise(line) for line in [*training, "error: disk full"])

    shown = jobs.log_tail(job, lines=10)
    assert shown.splitlines() == [
        f"[{len(noise)} lines of TensorFlow start-up messages hidden]",
        *training,
    ]
    raw = jobs.log_tail(job, lines=10, raw=True)
    assert "cuInit" in raw and training[1] in raw
    assert quiet_tail(job.folder / "missing.log") == ""
    jobs.cancel(job.id, settings)


def test_train_config_round_trips_and_validates_once():
    config = TrainConfig(
        data=Path("d"), arch="vgg16", freeze="partial", lr=1e-4, models_dir=Path("/m")
    )
    assert config.data == "d" and config.models_dir == "/m"  # paths are text
    assert TrainConfig.from_json({**config.to_json(), "future_option": 1}) == config
    assert json.loads(json.dumps(config.to_json())) == config.to_json()
    assert hash(config) == hash(TrainConfig.from_json(config.to_json()))
    for changes, match in [
        ({"two_stage": True, "epochs": 3, "head_epochs": 3}, "head for 3 epoch"),
        ({"model_id": "jobs"}, "reserved"),
        # <runs>/batch holds the batch runs, and a trainer empties its run folder at start:
        # `train --id batch` would have deleted them all (until 6 December 2026).
        ({"model_id": "batch"}, "reserved"),
        # <runs>/A.workers holds model A's multi-worker config and worker logs: `train --id
        # A.workers` emptied it as its own run folder (until 6 December 2026).
        ({"model_id": "A.workers"}, "multi-worker"),
        ({"model_id": "-x"}, "bad model id"),
        ({"strategy": "tpu"}, "distribution strategy"),
        ({"pos_per_image": 0}, "pos_per_image must be"),
        ({"neg_per_image": 10**6}, "neg_per_image must be"),
        ({"head_epochs": 0}, "head_epochs must be"),
        ({"seed": -1}, "seed"),
        ({"spacing_mm": 0.0}, "spacing"),
    ]:
        with pytest.raises(ModelError, match=match):
            TrainConfig(data="d", **changes).validate()
    TrainConfig(data="d", two_stage=True, epochs=4, head_epochs=3).validate()
    with pytest.raises(ModelError, match="needs at least 'data'"):
        TrainConfig.from_json({"arch": "custom"})
    assert jobs.arch_defaults("custom")["batch"] > jobs.arch_defaults("resnet50")["batch"]


def test_train_flags_build_the_same_config_and_patches_per_image_sets_both(tmp_path):
    from mcalc.cli import build_parser

    parse = build_parser().parse_args
    args = parse(["train", "--data", "d", "--arch", "vgg16", "--freeze", "partial", "--lr",
                  "1e-4", "--two-stage", "--head-epochs", "3", "--epochs", "5", "--weights",
                  "none", "--max-steps", "3", "--id", "m-1", "--models", "/tmp/models"])  # fmt: skip
    config = TrainConfig.from_args(args)
    assert config == TrainConfig(
        data="d", arch="vgg16", freeze="partial", lr=1e-4, two_stage=True, head_epochs=3,
        epochs=5, weights="none", max_steps=3, model_id="m-1", models_dir="/tmp/models",
        batch=16,  # left out: a backbone's, as the Train page proposes it
    )  # fmt: skip
    both = TrainConfig.from_args(parse(["train", "--data", "d", "--patches-per-image", "5"]))
    assert (both.pos_per_image, both.neg_per_image) == (5, 5)
    one = TrainConfig.from_args(
        parse(["train", "--data", "d", "--patches-per-image", "5", "--neg-per-image", "9"])
    )
    assert (one.pos_per_image, one.neg_per_image) == (5, 9)

    file = tmp_path / "config.json"
    file.write_text(json.dumps(config.to_json()))
    again = TrainConfig.from_args(parse(["train", "--config", str(file)]))
    assert again == config
    changed = TrainConfig.from_args(parse(["train", "--config", str(file), "--epochs", "7"]))
    assert changed == TrainConfig(
        **{**config.to_json(), "epochs": 7, "fractions": config.fractions}
    )
    with pytest.raises(ModelError, match="needs --data"):
        TrainConfig.from_args(parse(["train", "--epochs", "1"]))


def test_train_config_imports_no_tensorflow():
    code = (
        "import sys; import mcalc.models.train_config, mcalc.jobs;"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "False"], out.stdout


def test_freeze_plan_counts_and_blocks():
    from mcalc.models.plan import freeze_plan

    plans = freeze_plan("custom", n_classes=2)
    full, partial, head = plans["full"], plans["partial"], plans["head"]
    assert full.trainable_params == full.total_params
    assert head.trainable_params < partial.trainable_params < full.trainable_params
    assert {b.block: b.status for b in head.blocks} == {
        "conv1": "frozen",
        "conv2": "frozen",
        "head": "trains",
    }
    assert {b.block: b.status for b in partial.blocks}["conv2"] == "trains"
    assert sum(b.trainable for b in head.blocks) == head.trainable_params


def test_a_job_keeps_who_submitted_it(tiny_demo, settings, monkeypatch):
    job = jobs.submit(tiny(tiny_demo), settings, start=False, user="ana")
    assert jobs.get_job(job.id, settings).user == "ana"  # read back from status.json
    # Its process starts TensorFlow as the command line does, from a script that did not
    # (TF_CPP_MIN_LOG_LEVEL=2 was set for it, which the child read as the user's choice:
    # the cuInit error of a machine without a GPU in its log); the user's values are kept.
    from mcalc.config import _nvidia_present
    from mcalc.jobs.manager import _child_env

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    env = _child_env(settings, job)
    if not _nvidia_present():
        assert (env["CUDA_VISIBLE_DEVICES"], env["TF_CPP_MIN_LOG_LEVEL"]) == ("-1", "3")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    assert _child_env(settings, job)["TF_CPP_MIN_LOG_LEVEL"] == "0"
    jobs.cancel(job.id, settings)


def test_time_left_leaves_out_the_first_batch_that_builds_the_graph(tmp_path):
    """An EfficientNet-B0 stage's first batch came 77 s after the stage began (the graph's
    build), the next ones every 0.2 s: at epoch 4 of 30 the page said "about 10 min left"
    for under a minute, and "about 24 min" at a custom run's first batch, 10 s before it
    ended. The rate is now taken from the stage's first batch on."""
    path = tmp_path / "progress.jsonl"
    t = time.time() - 100
    events: list[dict] = [{"event": "start", "time": t, "model_id": "m"},
                          {"event": "stage", "time": t + 4, "stage": "train", "epochs": 30}]  # fmt: skip
    clock = t + 81.0
    for epoch in range(1, 5):
        for b in range(1, 6):
            events.append({"event": "batch", "time": clock, "epoch": epoch, "epochs": 30,
                           "batch": b, "steps": 5})  # fmt: skip
            clock += 0.2
        events.append({"event": "epoch", "time": clock, "epoch": epoch, "loss": 0.7})
        clock += 0.2
        if epoch == 1:
            first = read_progress(_first_batch_only(events, tmp_path), total_epochs=30)
            assert first.eta_s is None and "left" not in first.summary()
    _write_events(path, events)
    p = read_progress(path, total_epochs=30)
    # 130 batches left at 0.24 s each: half a minute, not ten.
    assert p.eta_s is not None and p.eta_s < 60, p.summary()


def test_time_left_does_not_take_the_first_validation_for_batch_time(tmp_path):
    """The first epoch's validation builds its graph (~10 s here for batches of 0.2 s):
    taken for batch time, the time left went from about 25 s at the epoch's last batch to
    about 5 min at its end, for an epoch; validations are now timed apart, from the
    stage's second epoch on (0.3 s each here)."""
    path = tmp_path / "progress.jsonl"
    t0 = time.time()
    clock = 0.0
    events: list[dict] = [{"event": "start", "time": 0.0, "model_id": "m"},
                          {"event": "stage", "time": 1.0, "stage": "train", "epochs": 30}]  # fmt: skip
    seen = []
    for epoch in (1, 2):
        clock += 5.0 if epoch == 1 else 0.2  # the first batch builds the training graph
        for b in range(1, 6):
            events.append({"event": "batch", "time": clock, "epoch": epoch, "epochs": 30,
                           "batch": b, "steps": 5})  # fmt: skip
            clock += 0.2
        seen.append(_eta_at(path, events, t0, clock - 0.2))
        clock += 10.0 if epoch == 1 else 0.3  # validation (the first builds its graph)
        events.append({"event": "epoch", "time": clock, "epoch": epoch, "val_loss": 0.7})
        seen.append(_eta_at(path, events, t0, clock))
    # At epoch 1's last batch, its end, epoch 2's last batch, its end: 145, 145, 140 and
    # 140 batches of 0.2 s left, and after epoch 2 the 0.5 s from an epoch's last batch to
    # its end (0.2 + its validation of 0.3) per epoch left.
    assert seen == pytest.approx([29.0, 29.0, 28.0, 28.0 + 28 * 0.5], abs=0.05)


def _eta_at(path: Path, events: list[dict], t0: float, at: float) -> float:
    """The time left read at the moment of the last event (``at`` s into the run)."""
    now = time.time()
    shifted = [{**e, "time": now - at + e["time"]} for e in events]
    path = path.with_name(f"progress-{len(events)}.jsonl")  # a file of its own each time
    _write_events(path, shifted)
    p = read_progress(path, total_epochs=30)
    assert p.eta_s is not None, p.summary()
    return p.eta_s + (time.time() - now)  # what the snapshot's own clock took off


def _first_batch_only(events: list[dict], tmp_path: Path) -> Path:
    path = tmp_path / "first.jsonl"
    _write_events(path, events[:3])
    return path


def test_a_job_terminated_from_outside_says_so(settings):
    """A job's trainer stopped by a SIGTERM that Cancel did not send (`kill`, a shutdown)
    ends with the command line's "terminated: nothing was registered": the job's error says
    that, not the run's bare last event ("interrupted")."""
    from mcalc.jobs.folders import Job, save_job

    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    folder = jobs.jobs_root(settings) / "cut"
    folder.mkdir(parents=True)
    run_dir = _run_folder(settings, "cut", {"event": "start"}, {"event": "interrupted"})
    (folder / "stderr.log").write_text("stage train: ...\nterminated: nothing was registered\n")
    job = Job(id="cut", folder=folder, config=tiny(Path("d")), state="running", model_id="cut",
              models_dir=str(settings.models_dir), run_dir=str(run_dir), pid=ended.pid,
              pid_ticks=1)  # fmt: skip
    (folder / "config.json").write_text(json.dumps(job.config.to_json()))
    save_job(job)
    (out,) = jobs.reconcile(settings)
    assert out.state == "failed"
    assert out.error == "the training process was terminated: nothing was registered"


def test_a_job_killed_by_sigkill_names_the_likely_cause(settings, tmp_path):
    """A job's trainer killed by SIGKILL (the kernel's out-of-memory killer, a ``kill -9``)
    said "killed by signal 9 SIGKILL": now what that usually means, as a likely cause."""
    from mcalc.jobs.folders import Job, save_job

    folder = jobs.jobs_root(settings) / "oom"
    folder.mkdir(parents=True)
    pid, ticks = procs.launch(
        [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"],
        cwd=tmp_path, env=dict(os.environ), stdout=folder / "stdout.log",
        stderr=folder / "stderr.log",
    )  # fmt: skip
    run_dir = _run_folder(settings, "oom", {"event": "start"}, {"event": "batch"})
    job = Job(id="oom", folder=folder, config=tiny(Path("d")), state="running", model_id="oom",
              models_dir=str(settings.models_dir), run_dir=str(run_dir), pid=pid,
              pid_ticks=ticks)  # fmt: skip
    (folder / "config.json").write_text(json.dumps(job.config.to_json()))
    save_job(job)
    deadline = time.monotonic() + 60
    while procs.owned_exit_code(pid) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    (out,) = jobs.reconcile(settings)
    assert (out.state, out.exit_code) == ("failed", -9)
    assert out.error.startswith("the training process was killed by SIGKILL: likely out of memory")


def _workers_folder(settings: Settings, run_id: str, *pids: int) -> Path:
    """``<runs_dir>/<run_id>.workers`` as `train-workers` leaves it; ``pids``: the processes
    its ``processes.json`` names (none: no such file, as before 7 December 2026)."""
    folder = Path(settings.runs_dir) / f"{run_id}.workers"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "worker0.log").write_text("error: something\n")
    if pids:
        named = [{"pid": pid, "pid_ticks": procs.start_ticks(pid) or 1} for pid in pids]
        (folder / "processes.json").write_text(json.dumps({"processes": named}))
    return folder


def test_a_multi_worker_runs_workers_folder_is_deleted_with_the_run(settings):
    """A `train-workers` run's ``<runs>/<id>.workers/`` (its config and worker logs) was
    neither listed nor deleted when its run was (README: "remove it by hand")."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead = {"pid": ended.pid, "pid_ticks": 1}
    run = _run_folder(settings, "mw", {"event": "start", **dead}, {"event": "failed"})
    workers = _workers_folder(settings, "mw", ended.pid)
    (found,) = jobs.orphan_run_folders(settings)
    assert (found.id, found.refusal) == ("mw", "")
    jobs.delete_job("mw", settings, role="admin", user="boss")
    assert not run.exists() and not workers.exists()

    # Alone (the chief never wrote its run folder): listed and deleted as a run.
    lone = _workers_folder(settings, "lone", ended.pid)
    (found,) = jobs.orphan_run_folders(settings)
    assert (found.id, found.folder, found.refusal) == ("lone", lone, "")
    jobs.delete_job("lone", settings, role="admin", user="boss")
    assert not lone.exists()

    # Never while a process it names runs (its launcher, this process here): not listed,
    # and refused as a running job is.
    busy_run = _run_folder(settings, "busy", {"event": "start", **dead}, {"event": "failed"})
    busy = _workers_folder(settings, "busy", ended.pid, os.getpid())
    assert jobs.orphan_run_folders(settings) == []
    with pytest.raises(JobError, match=rf"still running \(process {os.getpid()}, of its workers"):
        jobs.delete_job("busy", settings, role="admin", user="boss")
    assert busy_run.is_dir() and busy.is_dir()

    # One written before 7 December 2026 names no process: it goes with its ended run;
    # alone, the refusal says how to remove it.
    old_run = _run_folder(settings, "old", {"event": "start", **dead}, {"event": "failed"})
    old = _workers_folder(settings, "old")
    jobs.delete_job("old", settings, role="admin", user="boss")
    assert not old_run.exists() and not old.exists()
    old_lone = _workers_folder(settings, "old-lone")
    (found,) = jobs.orphan_run_folders(settings)
    assert found.id == "old-lone" and f"remove it with `rm -r {old_lone}`" in found.refusal
    with pytest.raises(JobError, match="does not say which processes write it"):
        jobs.delete_job("old-lone", settings, role="admin", user="boss")
    assert old_lone.is_dir()


def test_train_workers_names_its_processes_in_its_folder(monkeypatch, tmp_path):
    """What `delete job` reads to leave a running multi-worker run's folder alone: the
    launcher and every worker (here two processes that end at once, not trainers)."""
    import mcalc.jobs.workers as workers_module

    monkeypatch.setattr(workers_module, "train_command", lambda config: [sys.executable, "-c", ""])
    out = workers_module.run_local_workers(tiny(Path("d"), model_id="mw"), 2, log_dir=tmp_path)
    assert out.exit_codes == [0, 0]
    named = json.loads((tmp_path / "processes.json").read_text())["processes"]
    assert len(named) == 3 and named[0]["pid"] == os.getpid()
    assert all(p["pid_ticks"] for p in named)


def test_a_registered_model_reads_as_a_job_ending_not_as_done() -> None:
    """Between the "done" event and the process's end the job is still running: its line
    read "running · done" (Evaluate's cross-validation folds, a user walk)."""
    from mcalc.jobs.progress import Progress

    assert Progress(phase="done").summary() == "model registered: the job is ending"
    assert Progress(phase="failed").summary() == "failed"


def test_a_birads_job_without_a_suspicious_case_is_refused(tiny_demo, settings, tmp_path):
    """Normal (BI-RADS 1) and benign (2) cases only: the job trained a three-class model
    whose every score, the probability of 'suspicious', it had never seen a case of (the
    card's 'suspicious' AUC: null)."""
    from mcalc.dataset import open_dataset

    lines = ["case_id,view,timepoint,image,birads"]
    for i, case in enumerate(open_dataset(tiny_demo).cases):
        for rec in case.images:  # BI-RADS 1 and 2, case by case
            lines.append(f"{rec.case_id},{rec.view},{rec.timepoint},{rec.image_path},{1 + i % 2}")
    manifest = tmp_path / "no-suspicious.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DatasetError) as refused:
        jobs.submit(tiny(manifest, task="birads"), settings)
    assert str(refused.value) == (
        f"{manifest}: the birads task scores the probability of 'suspicious', and no case here "
        "is suspicious (found ['benign', 'normal']): the model could never learn it; add "
        "suspicious cases, or train the calcification task"
    )
    assert job_folders(settings) == []


def test_the_decision_thresholds_choice_is_a_phase_of_its_own(tmp_path):
    """A job whose config names an operating point scores its validation images after the
    test metrics, before ``done``: the page says so with a count, not "evaluating"."""
    path = tmp_path / "progress.jsonl"
    now = time.time()
    _write_events(
        path,
        [
            {"event": "start", "time": now - 10, "model_id": "m"},
            {"event": "stage", "time": now - 9, "stage": "train", "epochs": 1},
            {"event": "batch", "time": now - 8, "epoch": 1, "epochs": 1, "batch": 1, "steps": 1},
            {"event": "epoch", "time": now - 7, "epoch": 1, "loss": 0.5},
            {"event": "threshold", "time": now - 2, "done": 3, "total": 12, "message": "k"},
        ],
    )
    p = read_progress(path, total_epochs=1)
    assert (p.phase, p.choosing, p.fraction) == ("threshold", (3, 12), 0.99)
    assert p.summary() == "choosing the decision threshold: validation image 3/12"
    _write_events(path, [{"event": "done", "time": now, "model_id": "m"}])
    assert read_progress(path, total_epochs=1).phase == "done"


def test_the_operating_point_is_a_setting_of_the_run(tmp_path):
    """``operating_point`` is one of TrainConfig's settings: a job's config.json carries it to
    its child (``train --config``), the flag sets it, a bad rule is refused by validate."""
    import argparse

    assert TrainConfig(data="d").operating_point == "none"
    with pytest.raises(ModelError, match=r"unknown rule 'sens:0\.9'"):
        TrainConfig(data="d", operating_point="sens:0.9").validate()
    TrainConfig(data="d", operating_point="sensitivity:0.9").validate()
    cfg = TrainConfig(data="d", operating_point="youden")
    file = tmp_path / "config.json"
    file.write_text(json.dumps(cfg.to_json()))
    assert TrainConfig.from_file(file, strict=True) == cfg
    ns = argparse.Namespace(config=str(file), epochs=2)
    assert TrainConfig.from_args(ns).operating_point == "youden"  # kept from the file
    ns = argparse.Namespace(config=None, data="d", operating_point="sensitivity:0.8")
    assert TrainConfig.from_args(ns).operating_point == "sensitivity:0.8"
