"""What a script reading the command line's ``--json`` relies on: one shape for problems in
every command, an error as a JSON document on stdout, flags named as flags in the errors
of a training configuration."""

from __future__ import annotations

import json

import pytest

from mcalc.cli import main
from mcalc.models.train_config import TrainConfig
from tests.convert_fixtures import make_mias

#: The keys of every problem record of every command (README's "Command line").
PROBLEM_KEYS = {"path", "line", "message", "severity"}


def test_manifest_and_scan_report_problems_in_one_shape(tmp_path, capsys):
    """`manifest` said `{file, line, reason}` and `scan` `{path, message, severity}`: a
    script reading both had to know two shapes."""
    out = tmp_path / "out" / "manifest.csv"
    assert (
        main(["manifest", "mias", str(make_mias(tmp_path / "mias")), "--out", str(out), "--json"])
        == 0
    )
    converted = json.loads(capsys.readouterr().out)["problems"]
    bad_row = out.read_text().splitlines()
    bad_row.append(bad_row[-1].replace(",MLO,", ",XX,", 1))  # a bad view
    out.write_text("\n".join(bad_row) + "\n")
    assert main(["scan", str(out), "--json"]) == 0
    scanned = json.loads(capsys.readouterr().out)["problems"]
    assert converted and scanned
    assert all(set(p) == PROBLEM_KEYS for p in converted + scanned)
    # The line number where there is one, kept from the collection's file and the manifest.
    assert any(isinstance(p["line"], int) for p in converted)
    assert any(p["line"] == len(bad_row) for p in scanned)


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--epochs", "0"], "--epochs must be a whole number from 1 to 1000, got 0"),
        (["--batch", "0"], "--batch must be a whole number from 1 to 1024, got 0"),
        (["--patch-size", "8"], "--patch-size must be a whole number from 32"),
        (["--lr", "2"], "--lr must be in (0, 1), got 2.0"),
        (["--seed", "-1"], "--seed must be a whole number from 0"),
        (["--spacing", "0"], "--spacing must be a positive number of mm, got 0.0"),
        (["--patches-per-image", "0"], "--patches-per-image must be a whole number from 1"),
        (["--neg-per-image", "0"], "--neg-per-image must be a whole number from 1"),
        (["--freeze", "some"], "--freeze: unknown freeze strategy 'some'"),
        (["--id", "a/b"], "--id: bad model id 'a/b'"),
        (["--hard-negatives", "-1"], "--hard-negatives must be a whole number from 0"),
    ],
)
def test_a_training_configurations_error_names_the_flag(tmp_path, capsys, flags, said):
    """`train --epochs 0` said "epochs must be ...": the library's parameter, not the flag."""
    assert main(["train", "--data", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}"), err


def test_crossval_and_a_config_file_name_theirs(tmp_path, capsys):
    assert main(["crossval", "--data", str(tmp_path), "--epochs", "0"]) == 2
    assert "error: --epochs must be a whole number" in capsys.readouterr().err
    config = tmp_path / "cfg.json"
    config.write_text(json.dumps({"data": str(tmp_path), "batch": 0}))
    assert main(["train", "--config", str(config)]) == 2
    assert f"error: batch in {config} must be a whole number" in capsys.readouterr().err


def test_the_library_names_the_parameter():
    from mcalc.errors import FieldError

    with pytest.raises(FieldError, match=r"^batch must be a whole number") as caught:
        TrainConfig(data="d", batch=0).validate()
    assert caught.value.field == "batch"
    assert (
        caught.value.named("Batch size")
        == "Batch size must be a whole number from 1 to 1024, got 0"
    )


def test_an_error_with_json_is_a_json_document_on_stdout(tmp_path, capsys):
    """A script reading `--json` got an empty stdout on a refusal, the reason on stderr."""
    missing = tmp_path / "none"
    assert main(["scan", str(missing), "--json"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc == {"error": err.strip().removeprefix("error: "), "status": 2}
    assert str(missing) in doc["error"]
    assert main(["train", "--data", str(tmp_path), "--epochs", "0", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"].startswith("--epochs must be")
    assert main(["scan", str(missing)]) == 2  # without --json, stdout stays empty
    assert capsys.readouterr().out == ""


def test_a_bad_flag_with_json_is_a_json_document_too(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["models", "--json", "--bogus"])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {"error": err.strip().removeprefix("error: "), "status": 2}
    assert "--bogus" in json.loads(out)["error"]


def test_an_images_key_is_image_key_as_in_batch_and_audit(tiny_demo, capsys):
    """`scan --json` said `key` for what `predict --all`'s table and `audit` call
    `image_key` (`predict` said `image`): one name for one thing."""
    assert main(["scan", str(tiny_demo), "--json"]) == 0
    per_image = json.loads(capsys.readouterr().out)["per_image"]
    assert per_image and all("key" not in s for s in per_image)
    assert "suspicious-1/CC_recent" in {s["image_key"] for s in per_image}


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["demo", "--cases", "0"], "--cases must be at least 3"),
        (["demo", "--seed", "-1"], "--seed must be"),
        (["predict", "--model", "m", "--data", "d", "--case", "c", "--tolerance", "-1"],
         "--tolerance must be >= 0 mm, got -1.0"),
        (["crossval", "--data", "d", "--bootstrap", "-1"],
         "--bootstrap must be 0 (none) or a number of resamples, got -1"),
    ],
)  # fmt: skip
def test_other_library_checks_name_the_flag_before_any_work(tmp_path, capsys, argv, said):
    """`demo --cases 0` said "cases must be ...", `predict --tolerance -1` "tolerance must
    be ..." after loading the model; `crossval --bootstrap -1` trained its folds first."""
    where = ["--id", "cv-refused"] if argv[0] == "crossval" else ["--out", str(tmp_path / "o")]
    assert main([*argv, *where]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}"), err
    assert not (tmp_path / "o").exists()


def test_every_json_commands_help_says_its_error_document():
    from tests.test_readme_cli import COMMANDS

    for path, parser in COMMANDS:
        has_json = any("--json" in a.option_strings for a in parser._actions)
        said = '{"error": MESSAGE, "status": N} on stdout' in " ".join(parser.format_help().split())
        assert said == has_json, path
