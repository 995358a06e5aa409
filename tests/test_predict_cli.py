"""``python -m mcalc predict``: files, JSON on stdout, agreement, cache, and clear errors."""

from __future__ import annotations

import json
import re

import cv2
import keras  # noqa: F401  (a broken install fails here, not skips)
import numpy as np
import pytest

from mcalc.cli import main
from mcalc.explain.scoring import MAP_SCORE_RULE
from mcalc.plural import counted
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401
from tests.test_explain_display import bar_rows


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["predict", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_case_prediction_writes_maps_overlays_and_json(
    spot_registry, tiny_demo, env, capsys
) -> None:
    out = env / "out"
    code, stdout, _ = _run(
        capsys,
        "--model", "spot", "--models", str(spot_registry), "--data", str(tiny_demo),
        "--case", "suspicious-1", "--view", "CC", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(stdout)  # stdout holds only JSON
    assert report["model"]["id"] == "spot" and report["model"]["synthetic_data"] is True
    # The keys every command gives these (`evaluate`, `audit`, `predict --all`'s table).
    assert report["model_id"] == "spot" and report["case"]["case_id"] == "suspicious-1"
    images = {img["image_key"]: img for img in report["images"]}
    assert set(images) == {"suspicious-1/CC_prior", "suspicious-1/CC_recent"}
    recent = images["suspicious-1/CC_recent"]
    assert recent["positive_class"] == "calcification" and recent["score"] > 0.9
    # The score is the map score, said so; the decision uses the model's threshold.
    assert recent["score_name"] == "map score"
    assert recent["rule"] == MAP_SCORE_RULE
    assert report["decision_threshold"]["value"] == 0.5
    assert "default" in report["decision_threshold"]["source"]
    assert recent["predicted"] == "calcification"
    assert recent["regions"] and recent["annotated"] is True
    # The detections at or above the decision threshold, the top one's score the map score:
    # an image is positive exactly when it lists one.
    assert report["detection_settings"]["threshold"] == 0.5
    for img in images.values():
        scores = [d["score"] for d in img["detections"]]
        assert scores == sorted(scores, reverse=True) and all(v >= 0.5 for v in scores)
        assert (img["predicted"] == "calcification") == bool(scores)
        assert not scores or scores[0] == pytest.approx(img["score"], abs=1e-6)
        rows, cols = img["native_shape"]  # full-resolution pixels of the file
        assert all(0 <= d["row"] < rows and 0 <= d["col"] < cols for d in img["detections"])
    assert recent["detections"]
    expl = recent["explanation"]
    assert expl["method"] == "gradcam" and expl["layer"] == "conv2" and expl["scope"] == "breast"
    assert expl["agreement"]["pointing_hit"] is True
    assert expl["agreement"]["energy_inside"] > 5 * expl["agreement"]["area_fraction"]
    assert report["case"]["by_timepoint"].keys() == {"prior", "recent"}
    assert report["case"]["score"] == max(img["score"] for img in images.values())
    for stem in ("suspicious-1_CC_prior", "suspicious-1_CC_recent"):
        proba = np.load(out / f"{stem}_proba.npy")
        assert proba.shape == (256, 208) and proba.min() >= 0 and proba.max() <= 1
        assert np.load(out / f"{stem}_proba_grid.npy").shape[-1] == 2
        heat = np.load(out / f"{stem}_gradcam.npy")
        assert heat.shape == (256, 208) and np.isfinite(heat).all()
        for name in ("proba", "gradcam"):
            png = cv2.imread(str(out / f"{stem}_{name}.png"))
            # The model-input image on top, pixel for pixel; the colour bar under it.
            assert png is not None and png.shape[1:] == (208, 3) and png.shape[0] > 256
            assert bar_rows(cv2.cvtColor(png[256:], cv2.COLOR_BGR2RGB), "jet")
    assert json.loads((out / "scores.json").read_text())["images"] == report["images"]
    assert list((env / "cache" / "predict").rglob("*.npz"))  # results cached


def test_single_image_birads_model_and_text_output(spot_registry, tiny_demo, env, capsys) -> None:
    image = next((tiny_demo / "Dataset").rglob("*.dcm"))
    code, stdout, _ = _run(
        capsys,
        "--model", str(spot_registry / "rand-birads"), "--image", str(image),
        "--cam", "gradcam++", "--out", str(env / "one"), "--no-cache",
    )  # fmt: skip
    assert code == 0
    assert "suspicious" in stdout and "SYNTHETIC" in stdout and "wrote" in stdout
    assert "suspicious map score" in stdout and "decision threshold 0.50" in stdout
    assert re.search(r"\d+ detections? at or above 0\.50, \d+ regions?\n", stdout), stdout
    assert "(s)" not in stdout  # counted in words ("1 detection", "3 regions")
    report = json.loads((env / "one" / "scores.json").read_text())
    (img,) = report["images"]
    assert set(img["classes"]) == {"normal", "benign", "suspicious"}
    assert img["annotated"] is False and img["explanation"]["agreement"]["energy_inside"] is None
    assert "case" not in report
    assert (env / "one" / f"{image.stem}_gradcampp.png").is_file()


def test_a_file_without_pixel_spacing_says_what_was_assumed(spot_registry, tiny_demo, env, capsys):
    """A PGM or PNG (mini-MIAS's images: 0.2 mm a pixel) was read at the default 0.07 mm
    without a word, while the model resamples it to its own spacing from that."""
    from mcalc.imageio import read_image

    dicom = next((tiny_demo / "Dataset").rglob("*.dcm"))
    png = env / "scan.png"
    cv2.imwrite(str(png), read_image(dicom).pixels.astype(np.uint16))
    notes = {}
    for name, image in (("dicom", dicom), ("png", png)):
        code, stdout, _ = _run(
            capsys, "--model", "spot", "--models", str(spot_registry), "--image", str(image),
            "--cam", "none", "--out", str(env / name), "--no-cache",
        )  # fmt: skip
        assert code == 0
        (img,) = json.loads((env / name / "scores.json").read_text())["images"]
        notes[name] = img["notes"]
        if name == "png":
            assert "note: the file carries no pixel spacing: 0.07 mm assumed" in stdout
    assert not any("pixel spacing" in n for n in notes["dicom"]), notes  # the file's own
    assert any(n.startswith("the file carries no pixel spacing: 0.07 mm") for n in notes["png"])


def test_no_explanation_and_scorecam_scope(spot_registry, tiny_demo, env, capsys) -> None:
    common = ["--model", "spot", "--models", str(spot_registry), "--data", str(tiny_demo)]
    code, stdout, _ = _run(
        capsys, *common, "--case", "normal-3", "--view", "MLO", "--timepoint", "recent",
        "--cam", "none", "--out", str(env / "n"), "--json",
    )  # fmt: skip
    assert code == 0
    (img,) = json.loads(stdout)["images"]
    assert "explanation" not in img and not list((env / "n").glob("*gradcam*"))
    code, stdout, _ = _run(
        capsys, *common, "--case", "suspicious-2", "--view", "CC", "--timepoint", "recent",
        "--cam", "scorecam", "--out", str(env / "s"), "--json",
    )  # fmt: skip
    assert code == 0
    expl = json.loads(stdout)["images"][0]["explanation"]
    assert expl["scope"] == "listed" and 0 < expl["patches"] <= 8  # suspicious: regions listed


def test_a_map_zero_everywhere_is_said_not_scored(tiny_demo, env, capsys) -> None:
    """A user check: a Grad-CAM of 0.0 everywhere (a class whose evidence at the layer is
    negative) and a Score-CAM that explained no region printed "energy inside marks 0.000
    ... peak on a mark: None" as figures, and scores.json's notes were empty (the page
    alone said why, for Score-CAM only). Now the library's note is printed and saved, and
    the agreement line says there is none."""
    from tests.explain_fixtures import register, spot_model

    negative = spot_model()
    dense, bias = negative.get_layer("head_output").get_weights()
    negative.get_layer("head_output").set_weights([-dense, bias])
    models = env / "models"
    register(models, "spot-neg", negative)
    common = ["--models", str(models), "--data", str(tiny_demo), "--case", "suspicious-1"]
    common += ["--view", "CC", "--timepoint", "recent", "--no-cache"]
    for model, args, note in (
        ("spot-neg", ["--cam", "gradcam"], "Grad-CAM: the map is zero everywhere for class "),
        ("spot-neg", ["--cam", "scorecam"], "Score-CAM: no region scores 0.50 or more"),
    ):
        out = env / args[1]
        code, stdout, stderr = _run(capsys, "--model", model, *common, *args, "--out", str(out))
        assert code == 0, stderr
        assert "energy inside marks" not in stdout and "peak on a mark" not in stdout
        assert "no agreement with the marks: the map is zero (note below)" in stdout
        assert f"note: {note}" in stdout
        (img,) = json.loads((out / "scores.json").read_text())["images"]
        assert [n for n in img["notes"] if n.startswith(note)], img["notes"]
        assert img["annotated"] is True and img["explanation"]["zero_map"] is True
        assert img["explanation"]["agreement"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "known ids"),
        (["--model", "spot", "--case", "nobody"], "no case 'nobody'"),
        (["--model", "spot", "--layer", "head_pool"], "(height, width, channels)"),
        (["--model", "spot", "--target", "benign"], "unknown class 'benign'"),
        # Gone (the map score is the top detection's): said, for the single image and --all.
        (["--model", "spot", "--top-k", "3"], "--top-k 3: the option is gone"),
        (["--model", "spot", "--top-k", "1", "--all"], "leave --top-k out"),
    ],
)
def test_bad_input_is_one_clear_line(spot_registry, tiny_demo, env, capsys, args, message) -> None:
    base = ["--models", str(spot_registry), "--data", str(tiny_demo), "--case", "suspicious-1"]
    base += ["--view", "CC", "--timepoint", "recent", "--out", str(env / "x"), "--json"]
    # later flags win: the parametrised ones override the base's
    code, stdout, stderr = _run(capsys, *base, *args)
    assert code == 2 and json.loads(stdout) == {"error": stderr.strip()[7:], "status": 2}
    assert stderr.startswith("error:") and message in stderr


def test_blank_image_and_missing_source_are_clear_errors(spot_registry, env, capsys) -> None:
    blank = env / "blank.png"
    cv2.imwrite(str(blank), np.zeros((120, 100), np.uint8))
    code, _, stderr = _run(
        capsys, "--model", "spot", "--models", str(spot_registry), "--image", str(blank),
        "--out", str(env / "b"),
    )  # fmt: skip
    assert code == 2 and "no breast region" in stderr
    code, _, stderr = _run(capsys, "--model", "spot", "--out", str(env / "b"))
    assert code == 2 and stderr == (
        "error: pass --image PATH, --data DATA with --case CASE, or --data DATA with --all "
        "(every image)\n"
    )


def test_a_reason_shared_by_every_image_of_a_case_is_said_once(
    spot_registry, tiny_demo, env, capsys
) -> None:
    """`--layer nolayer` over a case said "model ... has no layer 'nolayer'; layers ..." once
    per image, four times on one line."""
    code, _, stderr = _run(
        capsys, "--model", "spot", "--models", str(spot_registry), "--data", str(tiny_demo),
        "--case", "suspicious-1", "--layer", "nolayer", "--out", str(env / "x"),
    )  # fmt: skip
    assert code == 2 and stderr.count("no layer 'nolayer'") == 1, stderr
    assert stderr.startswith("error: no image of case suspicious-1 could be analysed: ")
    assert "suspicious-1/CC_prior, suspicious-1/CC_recent" in stderr  # each one named


def test_a_truncated_image_of_the_case_is_left_out(spot_registry, tiny_demo, env, capsys) -> None:
    import shutil

    copy = env / "copy"
    shutil.copytree(tiny_demo, copy)
    victim = next((copy / "Dataset").rglob("Suspicious*/1/CC_prior.dcm"))
    victim.write_bytes(victim.read_bytes()[:2000])
    code, stdout, _ = _run(
        capsys,
        "--model", "spot", "--models", str(spot_registry), "--data", str(copy),
        "--case", "suspicious-1", "--view", "CC", "--out", str(env / "out"), "--json",
    )  # fmt: skip
    assert code == 0
    report = json.loads(stdout)
    assert [img["image_key"] for img in report["images"]] == ["suspicious-1/CC_recent"]
    assert list(report["skipped_images"]) == ["suspicious-1/CC_prior"]
    assert "unreadable" in report["skipped_images"]["suspicious-1/CC_prior"]


def test_without_model_the_default_model_runs_and_is_named(
    spot_registry, tiny_demo, env, capsys
) -> None:
    """No --model: the registry's default model, named on stderr (stdout stays JSON). With
    no default set: exit 2 naming the models and the command that sets one; nothing runs."""
    import shutil

    from mcalc.models.registry import set_default_model

    models = env / "models"
    shutil.copytree(spot_registry, models)  # the session's registry stays without a default
    common = ["--models", str(models), "--data", str(tiny_demo), "--case", "suspicious-1",
              "--view", "CC", "--timepoint", "recent", "--cam", "none", "--json"]  # fmt: skip
    code, stdout, stderr = _run(capsys, *common, "--out", str(env / "none"))
    assert code == 2 and json.loads(stdout)["status"] == 2 and not (env / "none").exists()
    assert stderr.startswith(f"error: no default model is set in {models}: pass --model ID")
    assert f"`python -m mcalc models --models {models} default ID`" in stderr
    assert "(registered: " in stderr and "spot" in stderr and "rand-birads" in stderr

    set_default_model(models, "spot", role="researcher", user="rob")
    code, stdout, stderr = _run(capsys, *common, "--out", str(env / "d"))
    assert code == 0 and json.loads(stdout)["model"]["id"] == "spot"
    assert "using the default model spot (set by rob on 20" in stderr
    assert "pass --model ID to run another" in stderr
    code, stdout, stderr = _run(capsys, *common, "--model", "rand-birads", "--out", str(env / "m"))
    assert code == 0 and json.loads(stdout)["model"]["id"] == "rand-birads"
    assert "default model" not in stderr  # --model given: no note


def test_a_mini_mias_image_is_read_at_its_manifests_spacing(env, capsys) -> None:
    """mini-MIAS (0.2 mm a pixel, PGM files without spacing) was read at the assumed 0.07 mm:
    a model at 0.4 mm saw each image at 0.175 of its size, not half. Its manifest now gives 0.2."""
    from mcalc.models.registry import register_model
    from tests.convert_fixtures import MIAS_SHAPE, make_mias
    from tests.explain_fixtures import card_for, spot_model

    model = spot_model()
    card = card_for(model)
    card["patch"]["spacing_mm"] = 0.4

    def write(folder):
        model.save(folder / "model.keras")
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")

    register_model(env / "models", "spot-04", write)
    manifest = env / "mias" / "manifest.csv"
    assert main(["manifest", "mias", str(make_mias(env / "mias")), "--out", str(manifest)]) == 0
    capsys.readouterr()
    code, stdout, _ = _run(
        capsys, "--model", "spot-04", "--models", str(env / "models"), "--data", str(manifest),
        "--case", "mias-001-R", "--cam", "none", "--out", str(env / "out"), "--json",
    )  # fmt: skip
    assert code == 0
    (img,) = json.loads(stdout)["images"]
    assert not any("pixel spacing" in n for n in img["notes"]), img["notes"]
    assert img["native_shape"] == list(MIAS_SHAPE)
    assert img["model_input_shape"] == [MIAS_SHAPE[0] // 2, MIAS_SHAPE[1] // 2]  # was 18 x 14


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        ("--opacity", "2", "expected a number from 0 to 1, got 2"),
        ("--threshold", "nan", "expected a number from 0 to 1, got nan"),
        ("--stride", "0", "expected a whole number >= 1, got 0"),
        ("--batch", "-4", "expected a whole number >= 1, got -4"),
        ("--workers", "0", "expected a whole number >= 1, got 0"),  # "workers must be >= 1"
    ],
)
def test_predict_refuses_bad_numbers_by_their_flag(flag, value, expected, capsys):
    """`predict --opacity 2` was refused only after the model loaded, as "alpha must be in
    [0, 1]" (`--stride 0`: "stride must be >= 1 pixel or None"): names the command line
    does not have. The parser now refuses them, naming the flag."""
    from mcalc.cli import main

    with pytest.raises(SystemExit) as done:
        main(["predict", "--image", "x.png", "--out", "o", flag, value])
    assert done.value.code == 2
    assert f"argument {flag}: {expected}" in capsys.readouterr().err


def test_a_lowered_threshold_says_of_each_region_and_detection_whether_it_is_called(
    spot_registry, tiny_demo, env, capsys
) -> None:
    """``--threshold`` under the model's decision threshold lists regions the model does not
    call: the printed table and scores.json listed them like the called ones (the pages say
    "at operating threshold: no", the pictures box them dashed). Each region and detection
    now says whether it is called at the decision threshold in force (``called``), and the
    text says which are not."""
    common = ["--model", "spot", "--models", str(spot_registry), "--data", str(tiny_demo)]
    args = [*common, "--case", "normal-3", "--view", "MLO", "--cam", "none"]
    code, stdout, _ = _run(
        capsys, *args, "--threshold", "0.001", "--out", str(env / "low"), "--json"
    )
    assert code == 0
    report = json.loads(stdout)
    operating = report["decision_threshold"]["value"]
    regions = [r for img in report["images"] for r in img["regions"]]
    assert all(r["called"] == (r["score"] >= operating) for r in regions), regions
    assert any(not r["called"] for r in regions), regions  # the case this checks
    for img in report["images"]:
        assert all(d["called"] is True for d in img["detections"])  # listed at the decision
    code, text, _ = _run(capsys, *args, "--threshold", "0.001", "--out", str(env / "low"))
    assert code == 0
    lines = [line for line in text.splitlines() if line.startswith("  #")]
    n_below = sum(not r["called"] for r in regions)
    assert len(lines) == len(regions)
    assert all(line.endswith(("; called", "; below 0.50, not called")) for line in lines), lines
    assert sum(line.endswith("not called") for line in lines) == n_below
    for img in report["images"]:
        k = sum(not r["called"] for r in img["regions"])
        if k:
            assert f"{counted(len(img['regions']), 'region')} ({k} below 0.50, not called)" in text


@pytest.mark.slow  # a process of its own: 3-7 s on the loaded 2-core machine
def test_a_missing_image_is_refused_before_tensorflow_and_leaves_no_folder(
    tmp_path, capsys
) -> None:
    """`predict --image typo.dcm --out DIR` started TensorFlow (seconds) before saying "no
    such file", and left DIR behind, empty: README says a refused command writes nothing."""
    from tests.cli_fixtures import run_as_a_user

    out = tmp_path / "out"
    missing = tmp_path / "scan.dcm"
    proc = run_as_a_user(["predict", "--model", "demo-custom", "--image", str(missing),
                          "--out", str(out)])  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"error: {missing}: no such file", proc.stderr
    assert proc.stdout.rstrip().endswith("tensorflow imported: False"), proc.stdout
    assert not out.exists()
    folder = tmp_path / "folder.dcm"
    folder.mkdir()
    code, _, stderr = _run(capsys, "--image", str(folder), "--out", str(out))
    assert code == 2 and "is a folder, not an image file" in stderr, stderr
    assert not out.exists()
    blocker = tmp_path / "afile"
    blocker.write_text("keep me")
    (tmp_path / "x.png").write_bytes(b"png")
    code, _, stderr = _run(capsys, "--image", str(tmp_path / "x.png"), "--out",
                           str(blocker / "sub"))  # fmt: skip
    assert stderr.strip() == (
        f"error: {blocker} is a file where a folder is expected; move it or choose another path"
    ), stderr


def test_a_case_of_which_no_image_reads_leaves_no_output_folder(
    spot_registry, tiny_demo, env, capsys
) -> None:
    import shutil

    copy = env / "copy"
    shutil.copytree(tiny_demo, copy)
    for victim in (copy / "Dataset").rglob("Suspicious*/1/CC_*.dcm"):
        victim.write_bytes(victim.read_bytes()[:2000])
    out = env / "out"
    code, _, stderr = _run(
        capsys,
        "--model", "spot", "--models", str(spot_registry), "--data", str(copy),
        "--case", "suspicious-1", "--view", "CC", "--out", str(out),
    )  # fmt: skip
    assert code == 2 and "no image of case suspicious-1 could be analysed" in stderr, stderr
    assert not out.exists()
