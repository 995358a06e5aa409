"""``analyse_case``: the one call of the CLI and the Predict page (skips, strict mode,
decision threshold from the card, the same numbers through the app's image cache)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from mcalc.dataset import open_dataset
from mcalc.explain.cams import CamSettings
from mcalc.explain.errors import NoBreastRegionError
from mcalc.explain.service import AnalysisSettings, ImageInput, analyse_case
from mcalc.explain.sliding import SlidingSettings
from mcalc.models.card import ModelCard
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def spot(spot_registry):
    from mcalc.models.inference import load_model

    return load_model("spot", spot_registry)


@pytest.fixture(scope="module")
def case_inputs(tiny_demo) -> list[ImageInput]:
    case = open_dataset(tiny_demo).case("suspicious-1")
    return [ImageInput.from_record(r) for r in case.images if r.view == "CC"]


def test_a_case_is_analysed_with_scores_regions_and_a_default_decision(spot, case_inputs) -> None:
    seen: list[str] = []
    case = analyse_case(
        spot,
        case_inputs,
        AnalysisSettings(cam=CamSettings("gradcam")),
        lambda done, total, message: seen.append(message),
    )
    assert [r.key for r in case.images] == [i.key for i in case_inputs] and not case.skipped
    recent = next(r for r in case.images if r.key.endswith("_recent"))
    assert recent.score > 0.9 and recent.regions and recent.marks is not None
    assert case.threshold.value == 0.5 and case.threshold.is_default
    assert case.predicted(recent) == "calcification"
    summary = case.summary()
    assert summary is not None and summary.score == max(r.score for r in case.images)
    assert set(summary.by_timepoint) == {"prior", "recent"}
    # Progress names the image and the phase.
    assert any(m.startswith(f"{recent.key}: probability map:") for m in seen)
    assert any(m.startswith(f"{recent.key}: gradcam:") for m in seen)
    # Explanations share one scale whose maximum is the largest explanation.
    overlay = case.overlay_maps("explanation")
    assert overlay.relative and overlay.vmax == pytest.approx(case.cam_scale())
    assert overlay.title.startswith("Grad-CAM · calcification · ")  # its name, not "gradcam"
    assert max(float(m.max()) for m in overlay.maps) == pytest.approx(1.0, abs=1e-3)
    proba = case.overlay_maps("probability")
    assert not proba.relative and proba.title == "P(calcification)"
    dicts = case.image_dicts()
    assert all(d["score_name"] == "map score" and "predicted" in d for d in dicts)
    # Each image's regions are top_regions' (the one rule), region 1 the map score, made
    # from the detections Predict draws by default (found once, kept on the result).
    from mcalc.explain.opening import default_detections
    from mcalc.explain.scoring import top_regions

    for r in case.images:
        assert r.regions == top_regions(r.pmap, r.spacing_mm, r.breast)
        assert r.regions[0].score == r.score
        assert list(vars(r)["_found"]) == [default_detections(spot)]


def test_cancelled_work_stops_between_the_map_and_the_explanation(
    spot, case_inputs, monkeypatch
) -> None:
    """Work cancelled during an image's probability map stops before its explanation
    (a report between the two), not after the explanation's first batch."""
    from mcalc.explain.explainer import Explainer
    from mcalc.progress import Cancelled

    explained: list[int] = []
    real = Explainer.explain_patches

    def spy(self, patches, *args, **kwargs):
        explained.append(len(patches))
        return real(self, patches, *args, **kwargs)

    monkeypatch.setattr(Explainer, "explain_patches", spy)
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(message)
        if any(": probability map: band" in m for m in seen[:-1]):
            raise Cancelled("cancelled during the map")  # as BackgroundWork's report does

    with pytest.raises(Cancelled):
        analyse_case(spot, case_inputs, AnalysisSettings(cam=CamSettings("gradcam")), progress)
    assert explained == []
    assert seen[-1].endswith("regions: starting")


def test_cancelled_work_stops_after_the_map_before_its_regions(
    spot, case_inputs, monkeypatch
) -> None:
    """Work cancelled during an image's probability map (an analysis ahead stopped by a
    reader's choice) stops once the map is made, before the scores, regions and map
    agreement, which the reader's run would wait for."""
    from mcalc.explain import image_analysis
    from mcalc.progress import Cancelled

    regions: list[int] = []
    real = image_analysis.top_regions

    def spy(*args, **kwargs):
        regions.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_analysis, "top_regions", spy)
    seen: list[str] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(message)
        if any(": probability map: band" in m for m in seen[:-1]):
            raise Cancelled("cancelled during the map")

    with pytest.raises(Cancelled):
        analyse_case(spot, case_inputs, AnalysisSettings(cam=CamSettings("gradcam")), progress)
    assert regions == []
    assert seen[-1].endswith("regions: starting")


def test_the_card_threshold_decides(spot, case_inputs) -> None:
    strict = dataclasses.replace(
        spot, card=ModelCard.from_json({**spot.card.to_json(), "decision_threshold": 0.9999})
    )
    case = analyse_case(strict, case_inputs[-1:])
    (result,) = case.images
    assert case.threshold.value == 0.9999 and not case.threshold.is_default
    # Below the threshold in the class's words, as above it ("negative" until 7 December 2026).
    assert case.predicted(result) == "not calcification"


def test_images_without_breast_or_unreadable_are_skipped_unless_strict(
    spot, case_inputs, tmp_path
) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.zeros((120, 100), np.uint8))
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not a dicom file")
    inputs = [ImageInput.from_file(blank), ImageInput.from_file(broken), case_inputs[-1]]
    case = analyse_case(spot, inputs)
    assert [r.key for r in case.images] == [case_inputs[-1].key]
    assert [(s.key, s.kind) for s in case.skipped] == [
        ("blank", "no-breast"),
        ("broken", "unreadable"),
    ]
    assert "no breast region" in case.skipped[0].message
    with pytest.raises(NoBreastRegionError):
        analyse_case(spot, inputs, strict=True)


def test_the_app_image_cache_gives_the_same_numbers_as_reading_files(
    spot, case_inputs, tmp_path
) -> None:
    from mcalc.cache import ImageCache

    direct = analyse_case(spot, case_inputs)
    cached = analyse_case(spot, case_inputs, image_cache=ImageCache(tmp_path / "images"))
    for a, b in zip(direct.images, cached.images, strict=True):
        assert a.score == b.score and [r.box for r in a.regions] == [r.box for r in b.regions]
        assert a.marks is not None and b.marks is not None
        np.testing.assert_array_equal(a.marks, b.marks)


def test_a_lookup_that_misses_makes_no_model_input_and_a_hit_is_the_same_result(
    spot, case_inputs, tmp_path, monkeypatch
) -> None:
    """A cached-only lookup (Predict's, in the script run that then starts the analysis)
    of an image whose map is not cached says so before the model-input image and the
    breast region are made; once computed, the lookup finds the very numbers."""
    import mcalc.breast
    import mcalc.models.inference
    from mcalc.explain.results import NotCached, ResultsCache

    made: list[str] = []
    for module, name in (
        (mcalc.breast, "breast_region"),
        (mcalc.models.inference, "image_to_unit"),
    ):
        real = getattr(module, name)
        monkeypatch.setattr(
            module, name, lambda *a, _r=real, _n=name, **k: (made.append(_n), _r(*a, **k))[1]
        )
    settings = AnalysisSettings(cam=CamSettings("gradcam"))
    cache = ResultsCache(tmp_path / "results")
    with pytest.raises(NotCached):
        analyse_case(spot, case_inputs, settings, results=cache.cached_only())
    assert made == []
    computed = analyse_case(spot, case_inputs, settings, results=cache)
    assert made  # the computation made them
    for fresh in (cache, ResultsCache(tmp_path / "results")):  # memory, then the files
        hit = analyse_case(spot, case_inputs, settings, results=fresh.cached_only())
        for a, b in zip(computed.images, hit.images, strict=True):
            assert a.score == b.score and [r.box for r in a.regions] == [r.box for r in b.regions]
            assert b.cam is not None and a.cam is not None
            np.testing.assert_array_equal(a.cam.heat, b.cam.heat)


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (AnalysisSettings(), AnalysisSettings(), []),
        (
            AnalysisSettings(cam=CamSettings()),
            AnalysisSettings(cam=CamSettings(method="scorecam", scope="regions")),
            ["explanation Grad-CAM (now Score-CAM)", "explained auto (now regions)"],
        ),
        (
            AnalysisSettings(),
            AnalysisSettings(cam=CamSettings()),
            ["explanation none (now Grad-CAM)"],
        ),
        (
            AnalysisSettings(sliding=SlidingSettings(stride=None), tolerance_mm=0.5),
            AnalysisSettings(sliding=SlidingSettings(stride=16), tolerance_mm=1.0),
            ["stride default (now 16)", "agreement tolerance (mm) 0.5 (now 1)"],
        ),
    ],
)
def test_settings_say_what_changed(old, new, said):
    """What Predict's "Not computed yet" says the result kept on screen was made with."""
    assert new.changes_from(old) == said


def test_a_skipped_images_message_names_it_once() -> None:
    """Every reader of a skipped image says "<key>: <message>"; a temporal model's refusal
    of a prior image named the image in its message too: "LEFT OUT c/CC_prior: no-prior:
    c/CC_prior: model 't' is temporal ..." (predict), the same on Predict."""
    from mcalc.explain.service import SkippedImage
    from mcalc.temporal import TemporalError

    why = TemporalError("c/CC_prior: model 't' is temporal and reads recent images")
    assert SkippedImage("c/CC_prior", "no-prior", why).message == (
        "model 't' is temporal and reads recent images"
    )
    other = SkippedImage("c/CC_recent", "layer", ValueError("c/CC_prior: not this one"))
    assert other.message == "c/CC_prior: not this one"
