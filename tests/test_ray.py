"""Ray engines give the local result: batch inference (row for row) and cross-validation
folds (the whole result).

The one Ray module of the suite: a local Ray instance (``ray.init(num_cpus=2)``) is
started once for the module and shared by both tests (a start costs several seconds). Batch:
both engines run two workers (two processes, two actors), each with one TensorFlow thread,
over the same four images (one of them corrupt). Cross-validation: the ``crossval`` command's
own test (two folds here, one after the other) is the local result that two folds as
parallel Ray tasks must give.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import types
import warnings

import numpy as np
import pytest

from mcalc.batch import BatchSettings, read_results, run_batch
from mcalc.cluster import init_ray
from mcalc.config import REPO_ROOT
from tests.batch_fixtures import batch_data_fixture  # noqa: F401
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.models_fixtures import tiny_data_fixture  # noqa: F401

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.slow

#: What must agree exactly between engines (besides the score, compared below).
SAME = ["image_key", "case_id", "view", "timepoint", "predicted", "class_scores",
        "top_regions", "detections", "n_clusters", "patches", "model_key", "settings_key",
        "error_kind", "error"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_session():
    """A local instance started as mcalc's engines start one (:func:`mcalc.cluster.init_ray`);
    yields the warnings its start gave."""
    with warnings.catch_warnings(record=True) as started:
        warnings.simplefilter("always")
        # Workers import mcalc from this checkout (what crossval's own local start does).
        init_ray(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}},
            # No idle workers started ahead: none was ever used here (the actors and the
            # crossval tasks each got new processes), two processes importing Ray for nothing.
            _system_config={"prestart_worker_first_driver": False},
        )
    yield [str(w.message) for w in started]
    ray.shutdown()


def test_ray_starts_without_the_accelerator_warning_and_no_gpu_workers_see_none(
    ray_session,
) -> None:
    """Every start warned "FutureWarning: Tip: In future versions of Ray, Ray will no longer
    override accelerator visible devices env var if num_gpus=0 ... set
    RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO=0". Set so; the workers that ask for no GPU (a
    crossval fold, a batch actor on a cluster without GPUs) still see no CUDA device, as
    Ray's override gave them, and keep the job's own variables."""
    from mcalc.batch.engines import plan_actors
    from mcalc.cluster import ACCEL_OVERRIDE_ENV
    from mcalc.models.crossval_ray import run_on_ray

    assert not [w for w in ray_session if ACCEL_OVERRIDE_ENV in w], ray_session
    fold_env = run_on_ray(os.getenv, [("CUDA_VISIBLE_DEVICES",), ("PYTHONPATH",)])
    assert fold_env == ["", str(REPO_ROOT)]

    class Env:
        def get(self, name: str) -> str | None:
            return os.getenv(name)

    args = plan_actors(2.0, 0.0, 1, 4).remote_args
    actor = ray.remote(Env).options(**args).remote()
    assert ray.get(actor.get.remote("CUDA_VISIBLE_DEVICES")) == ""
    ray.kill(actor)


def test_a_ray_run_interrupted_saves_its_rows_and_says_stopped(
    spot_registry, tiny_demo, tmp_path
) -> None:
    """Ctrl-C (here a KeyboardInterrupt from the progress callback, after the first rows)
    in a run on a local Ray instance: Ray was shut down while Ray Data's threads still ran,
    one called into the shut-down worker and Ray ended the process at once (exit 1, "The
    core worker has already been shutdown"): no "interrupted" line, the rows since the last
    save lost, progress.json left "running", Ray's agents left behind. In a child process
    (that exit would end pytest), with a Ray instance of its own. One actor (a
    TensorFlow process) is enough: Ray Data's threads run with one as with two, and that
    exit came back with one when the shutdown was put back where it was."""
    import subprocess

    out = tmp_path / "out"
    script = f"""
import json, sys
from mcalc.batch import BatchSettings, run_batch
def progress(done, total, text=""):
    if done >= 1:
        raise KeyboardInterrupt("interrupted")
try:
    run_batch("spot", {str(tiny_demo)!r}, {str(out)!r}, BatchSettings(), engine="ray",
              workers=1, models_dir={str(spot_registry)!r}, progress=progress)
except KeyboardInterrupt:
    sys.exit(130)
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, timeout=240
    )
    assert done.returncode == 130, done.stderr.decode(errors="replace")[-2000:]
    progress = json.loads((out / "progress.json").read_text(encoding="utf-8"))
    assert progress["state"] == "stopped" and progress["done"] >= 1
    assert len(read_results(out)) == progress["done"]


def test_ray_and_local_pool_give_the_same_table(
    ray_session, spot_registry, batch_data, tmp_path
) -> None:
    settings = BatchSettings()
    # As in a process where Streamlit ran a page (AppTest too): `__main__` is the page
    # script. spawn ran it again in every pool process, and the app's page started
    # TensorFlow's warm-up thread there, racing the worker's own import; no longer run.
    page, ran = tmp_path / "page.py", tmp_path / "page-ran"
    page.write_text(f"open({str(ran)!r}, 'a').write('ran')\n", encoding="utf-8")
    main = types.ModuleType("__main__")
    main.__file__ = str(page)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "__main__", main)
        local = run_batch(
            "spot", batch_data, tmp_path / "local", settings, models_dir=spot_registry, workers=2
        )
        assert sys.modules["__main__"] is main  # put back
    assert not ran.exists(), "a pool process ran the caller's __main__ script"
    # Two actors of one CPU fit the 2-CPU instance: Ray Data's "Cluster resources are not
    # enough ... may hang forever", which its first reservation gives before it has read
    # the cluster's size, is not shown; nor (below) its object-store advice.
    ray_log, seen = logging.getLogger("ray.data._internal.execution.resource_manager"), []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    ray_log.addHandler(handler)
    try:
        on_ray = run_batch(
            "spot",
            batch_data,
            tmp_path / "ray",
            settings,
            models_dir=spot_registry,
            engine="ray",
            workers=2,
        )
    finally:
        ray_log.removeHandler(handler)
    assert not [m for m in seen if "resources are not enough" in m], seen
    # Nor its advice to give the object store half the memory (a run's blocks are rows).
    assert not [m for m in seen if "object store is configured" in m], seen
    assert ray.is_initialized()  # the caller's session is used and left running
    assert (local.analysed, local.failed) == (on_ray.analysed, on_ray.failed) == (4, 1)
    a, b = read_results(tmp_path / "local"), read_results(tmp_path / "ray")
    assert set(a["engine"]) == {"local"} and set(b["engine"]) == {"ray"}
    assert a[SAME].equals(b[SAME])
    # Same arithmetic (same patches, batches and thread count): the scores are expected to
    # be bit for bit equal; the tolerance only covers a different float summation order.
    np.testing.assert_allclose(a["score"], b["score"], rtol=0, atol=1e-9, equal_nan=True)
    assert json.loads(b.loc[0, "settings"]) == settings.as_dict()


def test_crossval_command_and_folds_on_ray_give_the_local_result(
    ray_session, tiny_data, tmp_path, capsys
) -> None:
    """``python -m mcalc crossval`` on the tiny demo (2 folds, one after the other here):
    folds never share a patient, every patient is tested once; then the same two folds as
    parallel Ray tasks (the session's local instance of 2 CPUs) give the same result.
    One local run serves both checks (it was run once per check before)."""
    from mcalc.cli import main
    from mcalc.dataset import open_dataset
    from mcalc.models.crossval import crossval
    from mcalc.models.registry import load_card
    from mcalc.models.train_config import TrainConfig

    models = tmp_path / "local"
    args = ["crossval", "--data", str(tiny_data), "--arch", "custom", "--task", "calcification",
            "--freeze", "full", "--folds", "2", "--epochs", "1", "--batch", "8",
            "--patch-size", "32", "--max-steps", "2", "--patches-per-image", "4",
            "--bootstrap", "20", "--models", str(models), "--id", "cv", "--json"]  # fmt: skip
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    assert local["k"] == 2 and len(local["folds"]) == 2 and local["seed"] == 0
    assert local["engine"] == "local"
    patient_of = {c.case_id: c.patient_id for c in open_dataset(tiny_data).cases}
    seen: set[str] = set()
    for fold in local["folds"]:
        card = load_card(models / fold["model_id"])
        test = {patient_of[c] for c in card.split.test}
        train = {patient_of[c] for c in card.split.train + card.split.val}
        assert not test & train  # a fold's model never saw its test patients
        assert not test & seen  # folds never share a patient
        assert test == set(fold["patients"])
        seen |= test
    assert seen == set(patient_of.values())  # every patient is tested once
    assert local["pooled"]["case"]["n"] == len(set(patient_of))  # pooled out-of-fold cases
    assert set(local["mean_sd"]) == {"patch", "image", "case"}
    assert main([*args[:9], "--folds", "1", "--models", str(models)]) == 2
    assert "--folds must be >= 2" in capsys.readouterr().err

    # The same folds (the command's own config, another registry) as parallel Ray tasks.
    config = TrainConfig.from_json({**local["config"], "models_dir": str(tmp_path / "ray")})
    done: list[int] = []
    on_ray = crossval(config, 2, n_boot=20, engine="ray", progress=lambda d, t, m: done.append(d))
    assert done == [1, 2]
    assert ray.is_initialized()  # the caller's session is used and left running
    on_ray = json.loads(json.dumps(on_ray))  # as the command prints it
    for out, engine in ((local, "local"), (on_ray, "ray")):
        assert out.pop("engine") == engine
        out.pop("seconds")
        out["config"].pop("models_dir")
    assert on_ray == local
    assert [f["model_id"] for f in on_ray["folds"]] == ["cv-fold1of2", "cv-fold2of2"]
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["cv-fold1of2", "cv-fold2of2"]


def test_a_sigterm_of_the_driver_cancels_the_folds_ray_tasks(tmp_path) -> None:
    """A SIGTERM of ``crossval --engine ray`` (the command line's handler in place) raised
    in the driver and left the folds' tasks running on a Ray instance that outlived it (on
    a local one, Ray's own handler aborted the driver: exit 134, no word). Now the stop
    (:func:`mcalc.progress.push_stop_hook`) cancels them before the interrupt goes on.

    In a child process, as the command runs (no Ray session before: ``run_on_ray`` starts
    one, whose start puts Ray's native handler in place): a real SIGTERM that met Ray's
    handler aborts the process it is sent to, and here that was a pytest worker (the CI of
    7 December: a worker crashed, and pytest-xdist's replacement of it hung the run). The
    child's Ray shutdown is wrapped to see the CPUs free again before it (the tasks ended,
    not merely dropped with the instance).

    The child ignores SIGINT, as a command started in the background does (`cmd &`,
    nohup, a job of an app server started so) and its Ray workers inherit: Ray's polite
    cancel (a KeyboardInterrupt through ``_thread.interrupt_main``) then did nothing, and
    every fold trained on until the forced kill 5 s later. Now each task is interruptible:
    both tasks end at the polite cancel, none killed."""
    import subprocess

    script = f"""
import json, logging, os, signal, sys, threading, time
from pathlib import Path
signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job's
import ray
from mcalc.cli import _sigterm_as_interrupt
from mcalc.models.crossval_ray import run_on_ray

logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
marks = Path({str(tmp_path)!r})

def hold(name):  # a fold's fit: Python between short steps in native code
    (marks / name).touch()
    for _ in range(2400):
        time.sleep(0.05)

def sigterm_once_running():
    deadline = time.monotonic() + 120
    while len(list(marks.glob("fold*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(os.getpid(), signal.SIGTERM)

free = []
shutdown = ray.shutdown
def shutdown_seen(*args, **kwargs):
    deadline = time.monotonic() + 30  # the tasks gone: their CPUs free again
    cpus = ray.cluster_resources()["CPU"]
    while ray.available_resources().get("CPU", 0.0) < cpus and time.monotonic() < deadline:
        time.sleep(0.1)
    free.append(ray.available_resources().get("CPU", 0.0) == cpus)
    shutdown(*args, **kwargs)
ray.shutdown = shutdown_seen

threading.Thread(target=sigterm_once_running, daemon=True).start()
began = time.monotonic()
try:
    with _sigterm_as_interrupt() as terminated:
        run_on_ray(hold, [("fold1",), ("fold2",)])
except KeyboardInterrupt:
    print(json.dumps({{"terminated": terminated[0], "free": free,
                      "seconds": time.monotonic() - began}}))
    sys.exit(0)
sys.exit("run_on_ray ended without an interrupt")
"""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=REPO_ROOT, capture_output=True, timeout=240
    )
    err = done.stderr.decode(errors="replace")
    assert done.returncode == 0, f"exit {done.returncode}: {err[-3000:]}"
    out = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert out["terminated"], out
    assert out["free"] == [True], f"the folds' Ray tasks still ran after the SIGTERM: {out}"
    assert out["seconds"] < 100, out  # stopped, not waited out (the tasks sleep 120 s)
    assert "cancelled 2 Ray task(s), 0 of them killed" in err, err[-3000:]
