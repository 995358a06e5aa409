"""Detections and FROC of a real (tiny) model over whole images, library and CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mcalc.cli import main
from tests.models_fixtures import tiny_data_fixture, tiny_model_fixture  # noqa: F401


@pytest.fixture(name="registry")
def registry_fixture(tiny_model, tmp_path) -> Path:
    root = tmp_path / "models"
    shutil.copytree(tiny_model.path, root / tiny_model.model_id)
    return root


@pytest.mark.slow
def test_evaluate_json_has_detection(registry, tiny_data, tiny_model, tmp_path, capsys):
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import DetectionEvalSettings, evaluate_detection
    from mcalc.models.inference import load_model

    base = ["evaluate", "--model", tiny_model.model_id, "--data", str(tiny_data)]
    base += ["--models", str(registry), "--json"]
    # An operating point on the card: the case level reads its map scores at it, as the
    # BI-RADS tab does (it read them at --threshold's default, the tab at 0.5).
    card_file = registry / tiny_model.model_id / "card.json"
    card = json.loads(card_file.read_text())
    card["decision_threshold"] = {"value": 0.42, "source": "chosen for this test"}
    card_file.write_text(json.dumps(card))
    report = tmp_path / "report.html"
    assert main([*base, "--bootstrap", "30", "--report", str(report)]) == 0
    out = json.loads(capsys.readouterr().out)
    text = report.read_text(encoding="utf-8")
    assert f"Evaluation of {tiny_model.model_id}" in text
    assert text.count("window.PlotlyConfig") == 1  # plotly.js inlined once
    assert "<script src=" not in text  # nothing fetched: self-contained
    # ROC + PR per level (3 levels) and the two FROC charts.
    assert text.count("Plotly.newPlot") == 8
    assert "Case-level BI-RADS" in text and "data fingerprint" in text
    said = "accuracy at 0.42, and the detections and clusters counted at it: the model"
    assert said in text and "a map score threshold: chosen for this test." in text
    assert {"metrics", "cases", "scope"} <= set(out)  # the existing keys stay
    det = out["detection"]
    for key in ("froc", "cluster_froc"):
        xs = [p["fp_per_image"] for p in det[key]]
        ys = [p["sensitivity"] for p in det[key]]
        assert xs == sorted(set(xs)), key  # strictly increasing in FP/image
        assert all(0.0 <= y <= 1.0 for y in ys) and ys == sorted(ys)
    s = det["summary"]
    assert set(s["sensitivity_at"]) == {"0.5", "1", "2", "4"}
    assert s["n_images"] == sum(
        len(c.images) for c in open_dataset(tiny_data).cases if c.case_id in set(out["cases"])
    )
    assert "step rule" in s["cpm_convention"]
    assert det["settings"]["tolerance_mm"] == 1.0 and det["settings"]["n_boot"] == 30
    birads = out["birads"]
    assert birads["rule"] == "max" and {"all", "biopsy_confirmed", "cases"} <= set(birads)
    assert [c["case_id"] for c in birads["cases"]] == sorted(out["cases"])
    assert birads["all"]["n"] == len(out["cases"])
    assert birads["threshold"] == 0.42 and "operating threshold" in birads["threshold_source"]
    assert birads["detection_threshold"]["value"] == 0.42

    # The library call on the same cases gives the same curve.
    cases = [c for c in open_dataset(tiny_data).cases if c.case_id in set(out["cases"])]
    said: list[str] = []
    ev = evaluate_detection(
        load_model(tiny_model.model_id, registry),
        cases,
        DetectionEvalSettings(),
        progress=lambda done, total, what: said.append(what),
    )
    assert ev.as_dict()["froc"] == det["froc"]
    # The Detection tab's progress line, in words ("4 image(s) analysed" before).
    assert said and all(w.endswith(("1 image analysed", "images analysed")) for w in said), said

    assert main([*base, "--birads-rule", "logistic"]) == 0
    logistic = json.loads(capsys.readouterr().out)["birads"]
    assert logistic["rule"] == "logistic" and logistic["n_train_cases"] > 0
    # Its case score is the regression's probability, not a map score: 0.5, said so.
    assert logistic["threshold"] == 0.5 and "probability" in logistic["threshold_source"]
    assert logistic["detection_threshold"]["value"] == 0.42  # the features: what it calls

    assert main([*base, "--no-detection"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "detection" not in plain and "birads" not in plain
    assert main([*base, "--tolerance-mm", "0"]) == 2
    assert "--tolerance-mm must be a positive number of mm" in capsys.readouterr().err


@pytest.mark.slow
def test_an_image_left_out_of_detection_is_named(tiny_data, tiny_model, tmp_path):
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import DetectionEvalSettings, evaluate_detection
    from mcalc.models.inference import load_model

    np = pytest.importorskip("numpy")
    pydicom = pytest.importorskip("pydicom")
    data = tmp_path / "demo"
    shutil.copytree(tiny_data, data)
    case = open_dataset(data).cases[0]
    broken = case.images[0]
    ds = pydicom.dcmread(broken.image_path)  # a readable image with no breast in it
    ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
    ds.save_as(broken.image_path)
    case = next(c for c in open_dataset(data).cases if c.case_id == case.case_id)

    ev = evaluate_detection(
        load_model(tiny_model.model_id, tiny_model.path.parent), [case], DetectionEvalSettings()
    )
    # "skipped: no 64 px patch holds 25% breast..." (CLI and the Detection tab) did not
    # say which image.
    assert "breast" in ev.skipped[0]
    assert len(ev.skipped) == 1 and ev.skipped[0].startswith(f"{broken.key}: ")
    assert ev.as_dict()["skipped"] == ev.skipped


def test_no_image_analysed_names_every_reason(tiny_data, tiny_model, tmp_path):
    """One unreadable file and three images without breast: the error named the unreadable
    file alone, so fixing it changed nothing."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import DetectionEvalSettings, evaluate_detection
    from mcalc.models.inference import load_model

    np = pytest.importorskip("numpy")
    pydicom = pytest.importorskip("pydicom")
    data = tmp_path / "demo"
    shutil.copytree(tiny_data, data)
    case = open_dataset(data).cases[0]
    empty, *blank = case.images
    empty.image_path.write_bytes(b"")
    for rec in blank:
        ds = pydicom.dcmread(rec.image_path)
        ds.PixelData = np.zeros_like(ds.pixel_array).tobytes()
        ds.save_as(rec.image_path)
    case = open_dataset(data).case(case.case_id)

    with pytest.raises(ValueError) as info:
        evaluate_detection(
            load_model(tiny_model.model_id, tiny_model.path.parent), [case], DetectionEvalSettings()
        )
    message = str(info.value)
    assert f"{empty.key}: " in message and "empty file (0 bytes)" in message, message
    assert all(rec.key in message for rec in blank) and "breast" in message, message


def test_evaluate_says_how_to_skip_a_failed_detection(monkeypatch):
    import argparse

    import mcalc.explain.detection_eval as detection_eval
    from mcalc.cli import evaluate
    from mcalc.errors import McalcError

    def fail(*args, **kwargs):
        raise ValueError("no image of the 1 case could be analysed")

    monkeypatch.setattr(detection_eval, "detection_for_model", fail)
    args = argparse.Namespace(
        min_distance_mm=0.5,
        detection_threshold=0.5,
        tolerance_mm=1.0,
        cluster_tolerance_mm=5.0,
        bootstrap=0,
        model="m",
        data="d",
        models=None,
        json=True,
    )
    with pytest.raises(McalcError, match="--no-detection"):
        evaluate._detection(args, None)


@pytest.mark.slow
def test_an_image_without_its_annotation_file_is_left_out_not_counted_clean(
    tiny_data, tiny_model, tmp_path
):
    """Until 6 December 2026 an image whose GT file was missing counted as an image
    without findings: every detection on its calcifications a false positive."""
    from mcalc.dataset import open_dataset
    from mcalc.explain.detection_eval import DetectionEvalSettings, evaluate_detection
    from mcalc.models.inference import load_model

    data = tmp_path / "demo"
    shutil.copytree(tiny_data, data)
    case = next(c for c in open_dataset(data).cases if c.group == "suspicious")
    gone = next(r for r in case.images if r.annotation_path is not None)
    assert gone.annotation_path is not None
    gone.annotation_path.unlink()
    case = open_dataset(data).case(case.case_id)

    ev = evaluate_detection(
        load_model(tiny_model.model_id, tiny_model.path.parent), [case], DetectionEvalSettings()
    )
    assert gone.key not in {im.key for im in ev.images}
    assert any(
        s.startswith(f"{gone.key}: no annotation") and "unknown, not none" in s for s in ev.skipped
    ), ev.skipped
    assert len(ev.images) == len(case.images) - 1
