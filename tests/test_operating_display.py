"""What a reader sees follows the model's operating point: Predict's and the CLI's regions
and detections, a batch run's settings (README, *The operating point*)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from mcalc.cli import main
from mcalc.models.operating_point import manual_threshold, set_threshold
from tests.conftest import REPO
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytest.importorskip("keras")


def _spot_at(spot_registry: Path, tmp_path: Path, value: float | None) -> Path:
    """A copy of the spot registry whose model decides at ``value`` (its card's)."""
    root = tmp_path / "models"
    shutil.copytree(spot_registry / "spot", root / "spot")
    if value is not None:
        set_threshold(root / "spot", manual_threshold(value, "a test"), role="admin")
    return root


def _predict(capsys, models: Path, data: Path, out: Path, *extra: str) -> dict:
    code = main(
        ["predict", "--model", "spot", "--models", str(models), "--data", str(data),
         "--case", "suspicious-1", "--cam", "none", "--out", str(out), "--json", *extra]
    )  # fmt: skip
    assert code == 0
    return json.loads(capsys.readouterr().out)


def test_the_cli_lists_regions_at_the_models_operating_threshold(
    spot_registry, tiny_demo, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MCALC_CACHE", str(tmp_path / "cache"))
    plain = _spot_at(spot_registry, tmp_path / "a", None)
    before = _predict(capsys, plain, tiny_demo, tmp_path / "o1")
    # A threshold between the images' map scores: one image reads positive, one not.
    scores = sorted(img["score"] for img in before["images"])
    assert scores[0] < scores[-1]
    t = round((scores[0] + scores[-1]) / 2, 6)
    lows = [r["score"] for img in before["images"] for r in img["regions"] if r["score"] < t]
    assert lows, "at 0.5 the spot detector lists regions under the midpoint"
    models = _spot_at(spot_registry, tmp_path / "b", t)
    report = _predict(capsys, models, tiny_demo, tmp_path / "o2")
    assert report["decision_threshold"]["value"] == t
    for img in report["images"]:
        positive = img["predicted"] == "calcification"
        # Listed exactly when the model calls the image, every one at or above its threshold.
        assert bool(img["regions"]) == positive == bool(img["detections"])
        assert all(r["score"] >= t for r in img["regions"])
    # --threshold still lists weaker ones, for a researcher looking under the decision.
    low = _predict(capsys, models, tiny_demo, tmp_path / "o3", "--threshold", "0.5")
    assert any(r["score"] < t for img in low["images"] for r in img["regions"])


def test_predict_opens_and_batch_runs_at_the_operating_threshold(spot_registry, tmp_path) -> None:
    from mcalc.cli.batch import batch_settings
    from mcalc.explain.explainer import Explainer
    from mcalc.explain.opening import default_detections, default_settings
    from mcalc.models.inference import load_model

    models = _spot_at(spot_registry, tmp_path, 0.8125)
    loaded = load_model("spot", models)
    settings = default_settings(loaded, Explainer.for_model(loaded))
    assert settings.sliding.min_region_score == 0.8125
    assert default_detections(loaded).threshold == 0.8125
    args = argparse.Namespace(
        stride=None, batch=64, threshold=None, cam=None, tolerance=0.5, maps=False
    )
    made = batch_settings(args, 0.8125)
    assert made.sliding.min_region_score == 0.8125 and made.detection.threshold == 0.8125
    args.threshold = 0.5  # given: the regions' only; the rows' detections stay the model's
    made = batch_settings(args, 0.8125)
    assert made.sliding.min_region_score == 0.5 and made.detection.threshold == 0.8125


def test_evaluate_says_its_threshold_and_the_cards_are_in_other_units() -> None:
    from mcalc.explain.metrics_threshold import evaluation_threshold_note
    from mcalc.explain.scoring import DecisionThreshold

    cards = {"demo-custom": DecisionThreshold(0.921513, "Youden's J on 12 validation images")}
    note = evaluation_threshold_note("0.50", "patch", cards)
    assert note.startswith("Metrics at 0.50, read against patch scores (patch probabilities).")
    assert "demo-custom 0.9215 (Youden's J on 12 validation images)" in note
    assert "map score threshold" in note and "different units" in note
    assert "the slider starts at 0.50, as `python -m mcalc evaluate` does" in note


def test_evaluate_reads_the_patches_at_the_pages_threshold_not_the_cards(tmp_path) -> None:
    """`evaluate` read the patch metrics at the card's decision threshold (demo-custom:
    0.921513, a map-score threshold) while Evaluate's slider starts at 0.5: one evaluation,
    two sets of numbers. Both read patch probabilities at 0.5 unless told otherwise; the
    command says why and how to read them at the card's value."""
    import argparse
    import shutil

    from mcalc.cli.evaluate import _threshold
    from mcalc.explain.metrics_threshold import METRICS_THRESHOLD
    from pages.evaluate_tabs.classification import SLIDER_START

    shutil.copytree(REPO / "models" / "demo-custom", tmp_path / "demo-custom")
    args = argparse.Namespace(model="demo-custom", models=str(tmp_path), threshold=None)
    source = _threshold(args)
    assert args.threshold == METRICS_THRESHOLD == SLIDER_START == 0.5
    assert source.startswith("Evaluate's default on patch probabilities, the app's too; ")
    assert "decision threshold, 0.921513 (Youden's J" in source
    assert "--threshold 0.921513 reads the patches at it" in source
    args.threshold = 0.9
    assert _threshold(args) == "given with --threshold" and args.threshold == 0.9


def test_the_case_report_boxes_the_regions_the_model_calls(
    spot_registry, tiny_demo, tmp_path, monkeypatch
) -> None:
    import mcalc.explain.service as service
    from mcalc.cache import ImageCache
    from mcalc.dataset import open_dataset
    from mcalc.report.case import _model_section

    made = []
    real = service.analyse_case
    monkeypatch.setattr(
        service, "analyse_case", lambda *a, **k: made.append(real(*a, **k)) or made[-1]
    )
    models = _spot_at(spot_registry, tmp_path, 0.8125)
    case = open_dataset(tiny_demo).case("suspicious-1")
    _model_section("spot", models, case, ImageCache(tmp_path / "cache"), "inferno")
    (analysis,) = made
    assert analysis.settings.sliding.min_region_score == 0.8125
    for r in analysis.images:
        assert all(reg.score >= 0.8125 for reg in r.regions)
        assert bool(r.regions) == (r.score >= 0.8125)
