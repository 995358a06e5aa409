"""End to end: a tiny run registers a model with real metrics that evaluate reproduces;
failures and interruptions leave nothing in the registry; the MirroredStrategy path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from mcalc.config import _nvidia_present
from mcalc.errors import DatasetError, ModelError
from mcalc.models.evaluate import evaluate_model
from mcalc.models.inference import load_model, predict_patches
from mcalc.models.registry import list_models
from mcalc.models.training import TrainConfig, train
from mcalc.progress import stop_hook
from tests.models_fixtures import TINY, tiny_data_fixture, tiny_model_fixture  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_card_holds_real_metrics_and_everything_it_promises(tiny_model) -> None:
    card = tiny_model.card.to_json()  # the card file's format
    assert tiny_model.path.name == "tiny-custom"
    for key in (
        "architecture", "task", "classes", "freeze", "trainable_params", "total_params",
        "weights", "pretrained", "patch", "data", "split", "hyperparameters", "seed",
        "metrics", "training_seconds", "versions", "created",
    ):  # fmt: skip
        assert key in card, key
    assert card["pretrained"] is False and card["weights"]["source"] == "random"
    assert card["data"]["synthetic"] is True and len(card["data"]["fingerprint"]) == 64
    test = card["metrics"]["test"]
    assert test["n"] > 0 and sum(map(sum, test["confusion_matrix"])) == test["n"]
    assert 0.0 <= test["auc"] <= 1.0 and test["accuracy"] is not None
    split = card["split"]
    assert not set(split["train"]) & set(split["test"]) and not set(split["val"]) & set(
        split["test"]
    )
    assert set(card["data"]["patches"]) == {"train", "val", "test"}
    files = {p.name for p in tiny_model.path.iterdir()}
    assert {"model.keras", "card.json", "training_log.jsonl"} <= files
    json.loads((tiny_model.path / "card.json").read_text())  # valid JSON, no NaN


@pytest.mark.slow
def test_card_keeps_its_format(tiny_model) -> None:
    # The card is read by every card written so far: its keys stay exactly these.
    card = json.loads((tiny_model.path / "card.json").read_text())
    assert set(card) - {"warnings"} == {
        "card_version", "id", "architecture", "task", "classes", "binary_views", "freeze",
        "trainable_params", "total_params", "weights", "pretrained", "patch", "data", "split",
        "hyperparameters", "seed", "metrics", "history", "training_seconds", "versions",
        "created", "tracking",
    }  # fmt: skip
    assert set(card["hyperparameters"]) == {
        "epochs", "epochs_run", "batch", "lr", "optimizer", "loss", "patience", "balance",
        "augment", "max_steps", "distribution", "replicas", "workers", "mixed_precision",
        "deterministic",
    }  # fmt: skip
    # Whether a rerun gives the same figures: TensorFlow's deterministic kernels, on a CPU
    # (mixed precision is a GPU's run).
    hyper = card["hyperparameters"]
    assert hyper["deterministic"] is not hyper["mixed_precision"]
    assert card["tracking"] == {"tensorboard": "tensorboard", "mlflow": {}}
    assert set(card["patch"]) == {
        "size",
        "spacing_mm",
        "window",
        "input",
        "pos_per_image",
        "neg_per_image",
        "input_mode",  # recent or temporal (issue 11); older cards lack it: recent
        "channels",
    }
    assert card["patch"]["input_mode"] == "recent" and card["patch"]["channels"] == ["recent"]
    assert set(card["data"]) == {"path", "fingerprint", "synthetic", "source", "cases", "patches"}
    assert card["freeze"]["strategy"] == "full" and card["freeze"]["two_stage"] is False


def test_stage_plan_takes_the_head_epochs_of_the_config() -> None:
    two = TrainConfig(data="d", freeze="partial", two_stage=True, epochs=5, head_epochs=3)
    assert two.stage_plan() == [("head", "head", 3), ("finetune", "partial", 2)]
    assert TrainConfig(data="d", epochs=4).stage_plan() == [("train", "full", 4)]


def test_training_events_become_log_lines() -> None:
    from mcalc.models.train_events import _log_line

    epoch = {"event": "epoch", "stage": "train", "epoch": 1, "epochs": 2, "loss": 0.5}
    assert _log_line(epoch) == "train epoch 1/2: loss 0.5000"
    assert _log_line({"event": "batch", "loss": 0.5}) is None  # too many to log


@pytest.mark.slow
def test_progress_log_has_batches_and_epochs(tiny_model) -> None:
    events = [json.loads(line) for line in (tiny_model.path / "training_log.jsonl").open()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds.count("batch") == TINY["max_steps"]
    assert kinds.count("epoch") == 1 and "patches" in kinds and "stage" in kinds


@pytest.mark.slow
def test_evaluate_reproduces_the_card(tiny_model, tiny_data) -> None:
    result = evaluate_model(tiny_model.path, tiny_data, tiny_model.path.parent)
    assert result.scope == "test-split"
    assert tuple(result.cases) == tiny_model.card.split.test
    assert result.metrics == tiny_model.card.test_metrics


@pytest.mark.slow
def test_evaluate_on_another_dataset_uses_all_patients(tiny_model, tmp_path) -> None:
    from mcalc.synthetic import generate_demo

    other = tmp_path / "other"
    generate_demo(other, cases=4, seed=5, shape=(256, 208))
    result = evaluate_model("tiny-custom", other, tiny_model.path.parent)
    assert result.scope == "all-patients" and len(result.cases) == 4


@pytest.mark.slow
def test_inference_helpers(tiny_model) -> None:
    import numpy as np

    loaded = load_model("tiny-custom", tiny_model.path.parent)
    assert loaded.patch_size == 32 and loaded.classes == ("no-calcification", "calcification")
    proba = predict_patches(loaded, np.zeros((3, 32, 32), np.float32))
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    with pytest.raises(ModelError, match=r"\(N, 32, 32\)"):
        predict_patches(loaded, np.zeros((3, 16, 16), np.float32))


def _config(tiny_data: Path, tmp_path: Path, **changes) -> TrainConfig:
    base = dict(TINY, data=tiny_data, models_dir=tmp_path / "models", runs_dir=tmp_path / "runs")
    base.update(changes)
    return TrainConfig(**base)


@pytest.mark.slow
def test_two_stages_ending_full_warn_of_no_frozen_layers_and_a_taken_id_says_what_to_do(
    tiny_data, tmp_path, caplog
) -> None:
    """``train --two-stage --freeze full`` on custom warned "'head' freezes 2 layers ...
    (use --freeze full, ...)"; training an id again said only "already exists"."""
    config = _config(tiny_data, tmp_path, two_stage=True, head_epochs=1, epochs=2, model_id="x15")
    import logging

    with caplog.at_level(logging.WARNING, logger="mcalc.models.freeze"):
        card = train(config).card
    stages = card.to_json()["freeze"]["stages"]
    assert [s["strategy"] for s in stages] == ["head", "full"]
    assert [s["warnings"] for s in stages] == [[], []]
    assert not caplog.records and not [w for w in card.warnings if "freezes" in w]
    with pytest.raises(ModelError) as taken:
        train(config)
    assert str(taken.value) == (
        f"model 'x15' already exists in {tmp_path / 'models'}: choose another --id, or delete "
        f"it with `python -m mcalc delete model x15 --models {tmp_path / 'models'} --as NAME` "
        "(an admin account)"
    )


@pytest.mark.slow
def test_interrupted_run_registers_nothing(tiny_data, tmp_path) -> None:

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(ModelError, match="interrupted"):
        train(_config(tiny_data, tmp_path), callbacks=[Interrupt()])
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
    # The fit raised (no on_train_end): its stop hook is withdrawn all the same, or a later
    # SIGTERM of the process would only set a request nothing reads any more.
    assert stop_hook() is None


@pytest.mark.slow
def test_a_stop_request_ends_the_fit_after_its_batch(tiny_data, tmp_path) -> None:
    """A cancelled job's SIGTERM sets a StopRequest: the fit ends after the current batch
    and the run ends as interrupted (raising inside TensorFlow's step gave a SystemError)."""
    from mcalc.models.train_events import StopRequest

    stop = StopRequest()
    batches = []

    def on_event(event):
        if event["event"] == "batch":
            batches.append(event["batch"])
            assert stop.fitting
            stop.set()  # what the signal handler does while a fit runs

    config = _config(tiny_data, tmp_path, epochs=3, max_steps=3)
    with pytest.raises(ModelError, match="interrupted"):
        train(config, progress=on_event, stop=stop)
    assert batches == [1] and not stop.fitting
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())


@pytest.mark.slow
def test_disk_full_while_saving_registers_nothing(tiny_data, tmp_path, monkeypatch) -> None:
    import errno

    def full_disk(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(keras.Model, "save", full_disk)
    with pytest.raises(ModelError, match="disk full"):
        train(_config(tiny_data, tmp_path))
    assert list((tmp_path / "models").iterdir()) == []
    assert list_models(tmp_path / "models").models == []


@pytest.mark.parametrize("error", [RuntimeError("boom"), DatasetError("no patches")])
def test_a_failed_command_line_run_leaves_a_failed_record_and_no_model(
    tiny_data, tmp_path, monkeypatch, capsys, error
) -> None:
    """Any failure, not only mcalc's own errors, ends the run's progress.jsonl with a
    ``failed`` event (it never reads as still training) and leaves nothing in the registry,
    a half-registered folder of a killed earlier run of the id included."""
    from mcalc.cli import main
    from mcalc.jobs.progress import read_progress
    from mcalc.models import training

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(training, "prepare_data", fail)
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    models = tmp_path / "models"
    (models / ".tmp-boom-0badc0de").mkdir(parents=True)  # what a killed run left
    args = ["train", "--data", str(tiny_data), "--models", str(models), "--id", "boom"]
    if isinstance(error, RuntimeError):  # a bug: one line naming it, exit 1 (h/cli)
        assert main(args) == 1
        assert "error: unexpected RuntimeError: boom" in capsys.readouterr().err
    else:
        assert main(args) == 2
    log = tmp_path / "runs" / "boom" / "progress.jsonl"
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert events[0]["event"] == "start" and events[-1]["event"] == "failed"
    assert events[0]["pid"] == os.getpid()  # for `delete job` (none before 6 December 2026)
    assert str(error) in events[-1]["message"]
    prog = read_progress(log)
    assert prog.phase == "failed" and str(error) in (prog.message or "")
    assert list(models.iterdir()) == [] and list_models(models).models == []
    # The folder says so itself, beside the record: a FAILED file naming the error, and no
    # card (nothing there reads as a model, whatever lists the folder).
    failed = (tmp_path / "runs" / "boom" / "FAILED").read_text(encoding="utf-8")
    first = failed.splitlines()[0]
    assert first.startswith("training of boom failed: ") and str(error) in first
    assert "not a model" in failed
    assert not (tmp_path / "runs" / "boom" / "card.json").exists()
    runs = list_models(tmp_path / "runs")  # a registry pointed at the runs by mistake
    assert runs.models == [] and [p["path"] for p in runs.problems] == [
        str(tmp_path / "runs" / "boom")
    ]
    assert "FAILED" in runs.problems[0]["message"]
    # The models command lists no such model either.
    assert main(["models", "--models", str(tmp_path / "runs"), "--json"]) == 0


def test_no_annotations_for_the_task(tiny_data, tmp_path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(tiny_data.parent, bare)
    for gt in bare.rglob("*"):
        if gt.is_file() and "_gt" in gt.name.lower():
            gt.unlink()
    with pytest.raises(DatasetError, match="annot"):
        train(_config(bare / tiny_data.name, tmp_path))


def test_bad_names_fail_before_any_work(tiny_data, tmp_path) -> None:
    for change, word in [
        ({"arch": "alexnet"}, "architecture"),
        ({"task": "density"}, "task"),
        ({"freeze": "most"}, "strategy"),
    ]:
        with pytest.raises(ModelError, match=word):
            train(_config(tiny_data, tmp_path, **change))
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tiny_data, tmp_path) -> None:
    """Two logical CPUs (a process of its own: they are set before TensorFlow starts) train
    with MirroredStrategy. The same fresh TensorFlow process checks what
    tests/test_config.py checked in a process of its own (4.5 CPU-s in the suite's profile of
    00:00 UTC, one import and one op):
    :func:`mcalc.config.prepare_tensorflow`, called before the import with neither
    ``CUDA_VISIBLE_DEVICES`` nor ``TF_CPP_MIN_LOG_LEVEL`` set, leaves no CUDA error and no
    CPU-feature notice on stderr of a CPU-only machine."""
    code = textwrap.dedent(
        f"""
        from mcalc.config import prepare_tensorflow; prepare_tensorflow()
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from mcalc.models.training import TrainConfig, train
        r = train(TrainConfig(data={str(tiny_data)!r}, models_dir={str(tmp_path / "m")!r},
                  runs_dir={str(tmp_path / "r")!r}, strategy="mirrored", **{TINY!r}))
        print("RESULT", json.dumps(r.card.to_json()["hyperparameters"]))
        """
    )
    drop = ("CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=240
    )
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    hyper = json.loads(line.split(" ", 1)[1])
    assert hyper["distribution"] == "MirroredStrategy" and hyper["replicas"] == 2
    # prepare_tensorflow's check (tests/test_config.py's test_no_cuda_errors_on_a_cpu_only_machine
    # before), on a machine without an NVIDIA GPU as there.
    if not _nvidia_present():
        noise = [x for x in ("cuInit", "cpu_feature_guard") if x in out.stderr]
        assert not noise, f"prepare_tensorflow left {noise} on stderr:\n{out.stderr}"


@pytest.mark.slow
def test_a_truncated_dicom_is_left_out_and_reported(tiny_model, tiny_data, tmp_path) -> None:
    from mcalc.models.registry import load_card

    copy = tmp_path / "broken"
    shutil.copytree(tiny_data, copy)
    victim = sorted(copy.rglob("CC_recent.dcm"))[0]
    victim.write_bytes(victim.read_bytes()[:2000])
    from mcalc.dataset import open_dataset

    key = next(r.key for r in open_dataset(copy).images() if r.image_path == victim)

    result = train(_config(copy, tmp_path, model_id="skips"))
    assert list(result.card.skipped_images) == [key]
    assert "truncated" in result.card.skipped_images[key]
    assert load_card(result.path).skipped_images == result.card.skipped_images  # on disk

    evaluation = evaluate_model("tiny-custom", copy, tiny_model.path.parent, cache=False)
    assert evaluation.scope == "all-patients"
    # The same data with one file changed: its training patients are scored again, as if
    # unseen, and the result says which (the CLI and the page warn of them).
    card = tiny_model.card
    assert evaluation.in_sample == sorted(set(card.split.train) | set(card.split.val))
    assert evaluation.as_dict()["in_sample"] == evaluation.in_sample
    assert list(evaluation.skipped_images) == [key]
    assert evaluation.as_dict()["skipped_images"] == evaluation.skipped_images
    assert evaluation.metrics["n"] > 0
