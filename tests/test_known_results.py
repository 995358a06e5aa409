"""A model's already computed score for an image: batch tables and Predict's kept analyses."""

from __future__ import annotations

import json
import types
from dataclasses import replace

import numpy as np

from mcalc.batch.table import to_table, write_results
from mcalc.explain.grid import make_grid
from mcalc.explain.known_results import (
    KnownResult,
    batch_scores,
    known_scores,
    predict_score,
    predict_scores,
)
from mcalc.explain.runs import SharedAnalyses
from mcalc.explain.scoring import DecisionThreshold, Region, flat_map_note
from mcalc.explain.service import AnalysisSettings, CamSettings, CaseAnalysis
from mcalc.explain.sliding import ProbabilityMap, SlidingSettings

SETTINGS = json.dumps({"sliding": {"stride": 16, "dense": True, "min_region_score": 0.5},
                       "cam": None})  # fmt: skip


def _row(image, score, when, *, key="m@1", error="", predicted="calcification"):
    return {"image_key": image, "score": score, "finished_at": when, "model_key": key,
            "error": error, "predicted": predicted, "settings": SETTINGS}  # fmt: skip


def test_batch_scores_keep_each_images_latest_row_of_this_model_version(tmp_path):
    a, b = tmp_path / "run-a", tmp_path / "run-b"
    write_results(a, to_table([
        _row("c1/CC_recent", 0.2, "2026-12-05T10:00:00+00:00"),
        _row("c2/CC_recent", 0.9, "2026-12-05T10:00:00+00:00", key="m@0"),  # older model
        _row("c3/CC_recent", None, "2026-12-05T10:00:00+00:00", error="unreadable"),
    ]))  # fmt: skip
    write_results(b, to_table([_row("c1/CC_recent", 0.7, "2026-12-05T11:00:00+00:00")]))
    found = batch_scores([("run-a", a), ("run-b", b), ("empty", tmp_path / "none")], "m@1")
    assert set(found) == {"c1/CC_recent"}
    r = found["c1/CC_recent"]
    assert (r.score, r.predicted, r.source) == (0.7, "calcification", "batch run `run-b`")
    assert r.text() == (
        "score 0.700 (calcification), from batch run `run-b` at 2026-12-05T11:00:00+00:00; "
        "settings: stride 16 px · dense inference · region threshold 0.5 · explanation none"
    )


def test_a_score_of_the_old_map_score_rule_says_so(tmp_path):
    """A batch row made before 5 December 2026 (its sliding settings name ``top_k``) holds
    the mean of the top 3 grid patches, not today's map score: its words say so."""
    old = json.dumps({"sliding": {"stride": 16, "dense": True, "top_k": 3}, "cam": None})
    write_results(
        tmp_path, to_table([{**_row("c1/CC_recent", 0.4, "2026-12-04"), "settings": old}])
    )
    (r,) = batch_scores([("run", tmp_path)], "m@1").values()
    assert r.settings.endswith("map score by the top-3 grid rule (before 5 December 2026)")


def _pmap(pos: np.ndarray) -> ProbabilityMap:
    grid = make_grid((160, 160), 32, 16)
    proba = np.stack([1.0 - pos, pos], axis=-1).astype(np.float32)
    classes = ("no-calcification", "calcification")
    return ProbabilityMap(proba, np.ones(pos.shape, bool), grid, classes, native_shape=(160, 160))


VARYING = _pmap(np.geomspace(1e-6, 0.99, 81).reshape(9, 9))


def _case(
    image_key: str,
    score: float,
    cam: CamSettings | None,
    regions: tuple = (),
    pmap: ProbabilityMap = VARYING,
) -> CaseAnalysis:
    """A kept analysis of one image (its result reduced to what a score needs)."""
    result = types.SimpleNamespace(
        key=image_key,
        score=score,
        scores=types.SimpleNamespace(positive_class="calcification"),
        regions=list(regions),
        pmap=pmap,
        flat_note=flat_map_note(pmap),  # ImageAnalysis.flat_note's
    )
    return CaseAnalysis(
        images=[result],  # type: ignore[list-item]
        skipped=[],
        threshold=DecisionThreshold(0.5, "card"),
        settings=AnalysisSettings(sliding=SlidingSettings(), cam=cam),
    )


def test_predict_score_reads_this_models_newest_kept_analysis_only():
    shared = SharedAnalyses(max_bytes=1 << 20)
    assert predict_score(shared, "m@1", "c1/CC_recent") is None
    shared.put("m@1|c1/CC_recent|old", _case("c1/CC_recent", 0.3, None))
    shared.put("m@2|c1/CC_recent|other model", _case("c1/CC_recent", 0.99, None))
    shared.put("m@1|c1/CC_recent|new", _case("c1/CC_recent", 0.8, CamSettings()))
    found = predict_score(shared, "m@1", "c1/CC_recent")
    assert found is not None and (found.score, found.predicted) == (0.8, "calcification")
    assert found.settings.endswith("explanation Grad-CAM")  # its name, as the sidebar says
    assert found.source.startswith("Predict")
    assert predict_score(shared, "m@1", "c9/CC_recent") is None
    assert predict_score(None, "m@1", "c1/CC_recent") is None
    # Looking does not make an analysis more recent (the LRU's order is the pages').
    assert next(k for k, _ in shared.items()) == "m@1|c1/CC_recent|old"


def test_predict_scores_give_this_models_newest_score_of_each_image():
    """Audit's "Scored by the model" filter and its order: the images of Predict's kept
    analyses too, each with the score :func:`predict_score` finds."""
    shared = SharedAnalyses(max_bytes=1 << 20)
    assert predict_scores(shared, "m@1") == {} == predict_scores(None, "m@1")
    shared.put("m@1|c1/CC_recent|a", _case("c1/CC_recent", 0.3, None))
    shared.put("m@2|c2/CC_recent|b", _case("c2/CC_recent", 0.9, None))
    shared.put("m@10|c3/CC_recent|c", _case("c3/CC_recent", 0.9, None))
    shared.put("m@1|c1/CC_recent|newer", _case("c1/CC_recent", 0.7, None))
    assert predict_scores(shared, "m@1") == {"c1/CC_recent": 0.7}
    found = predict_score(shared, "m@1", "c1/CC_recent")
    assert found is not None and found.score == 0.7


def test_known_scores_prefer_predicts_score_to_a_batch_runs():
    """As a single image's known result: Predict's analysis on this server, else the batch."""
    batch = {
        "c1/CC_recent": KnownResult(0.2, "", "", "batch run `b`"),
        "c2/CC_recent": KnownResult(0.6, "", "", "batch run `b`"),
    }
    shared = SharedAnalyses(max_bytes=1 << 20)
    shared.put("m@1|c1/CC_recent|a", _case("c1/CC_recent", 0.9, None))
    shared.put("m@1|c3/CC_recent|a", _case("c3/CC_recent", 0.1, None))
    assert known_scores(batch, shared, "m@1") == {
        "c1/CC_recent": 0.9,
        "c2/CC_recent": 0.6,
        "c3/CC_recent": 0.1,
    }
    assert known_scores(batch, None, "m@1") == {"c1/CC_recent": 0.2, "c2/CC_recent": 0.6}


REGION = Region(1, 0.9, (30.0, 40.0), (0, 60, 10, 70), (0, 10), {"calcification": 0.9})


def test_a_known_result_lists_the_regions_its_analysis_or_batch_row_listed(tmp_path):
    """What Audit's form lets a reader call: the regions of Predict's kept analysis, or a
    batch row's ``top_regions`` (none where the row's cannot be read)."""
    shared = SharedAnalyses(max_bytes=1 << 20)
    shared.put("m@1|c1/CC_recent|a", _case("c1/CC_recent", 0.9, None, (REGION,)))
    found = predict_score(shared, "m@1", "c1/CC_recent")
    assert found is not None and found.regions == (REGION,)
    two = replace(REGION, rank=2, score=0.7, center=(90.0, 40.0), box=(60, 120, 10, 70))
    rows = [
        {**_row("c1/CC_recent", 0.9, "t"), "top_regions": json.dumps([two.as_dict(), REGION.as_dict()])},
        {**_row("c2/CC_recent", 0.9, "t"), "top_regions": '[{"rank": 1}]'},
        _row("c3/CC_recent", 0.2, "t"),
    ]  # fmt: skip
    write_results(tmp_path, to_table(rows))
    found_b = batch_scores([("run", tmp_path)], "m@1")
    assert found_b["c1/CC_recent"].regions == (REGION, two)
    assert found_b["c2/CC_recent"].regions == () == found_b["c3/CC_recent"].regions


def test_a_kept_analysis_of_a_model_that_scores_every_patch_the_same_says_so():
    """Audit's form offered a flat model's score (0.500, every patch the same: the walk of
    7 December 2026) and its regions to judge without the note Predict gives."""
    shared = SharedAnalyses(max_bytes=1 << 20)
    shared.put(
        "m@1|c1/CC_recent|a",
        _case("c1/CC_recent", 0.5, None, pmap=_pmap(np.full((9, 9), 0.500473))),
    )
    shared.put("m@1|c2/CC_recent|a", _case("c2/CC_recent", 0.9, None))
    flat = predict_score(shared, "m@1", "c1/CC_recent")
    assert flat is not None and "same probability" in flat.warning
    varying = predict_score(shared, "m@1", "c2/CC_recent")
    assert varying is not None and varying.warning == ""


def test_a_batch_rows_warning_comes_with_its_score(tmp_path):
    """A flat model's batch row (every patch the same probability) was offered on Audit
    with its regions and no word: the row now keeps the warning, and its known result too."""
    rows = [{**_row("c1/CC_recent", 0.5, "t"), "warning": "the model gives every one ..."},
            _row("c2/CC_recent", 0.9, "t")]  # fmt: skip
    write_results(tmp_path, to_table(rows))
    found = batch_scores([("run", tmp_path)], "m@1")
    assert found["c1/CC_recent"].warning == "the model gives every one ..."
    assert found["c2/CC_recent"].warning == ""


def test_a_result_decided_at_an_older_threshold_says_so(tmp_path):
    """A batch row made at 0.5 before the card's threshold became 0.9215: Audit showed its
    "(calcification)" as the model's decision without a word."""
    rows = [{**_row("c1/CC_recent", 0.7, "t"), "threshold": 0.5,
             "positive_class": "calcification"},
            {**_row("c2/CC_recent", 0.95, "t"), "threshold": 0.9215}]  # fmt: skip
    write_results(tmp_path, to_table(rows))
    found = batch_scores([("run", tmp_path)], "m@1")
    now = DecisionThreshold(0.9215, "Youden's J on 12 validation images")
    assert found["c1/CC_recent"].threshold_note(now) == (
        "This result was decided at 0.50; the model now decides at 0.9215 (Youden's J on 12 "
        "validation images): its score 0.700 is below the model's operating threshold "
        "(0.9215): not read as calcification."
    )
    assert found["c2/CC_recent"].threshold_note(now) is None
