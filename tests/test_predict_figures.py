"""mcalc.present.predict_figures: the words of Predict's classic figure (colour bar,
caption), its scores' labels and its tables."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mcalc.dataset.records import CaseRecord
from mcalc.explain.grid import make_grid
from mcalc.explain.scoring import flat_map_note
from mcalc.explain.service import OverlayMaps
from mcalc.explain.sliding import ProbabilityMap
from mcalc.models.detection import Detection
from mcalc.present.predict_figures import (
    agreement_table,
    colorbar_title,
    detections_table,
    notes_of,
    overlay_caption,
    panel_score_label,
    regions_table,
    score_change,
)
from mcalc.present.reading import panel_label


def _maps(vmax: float, relative: bool) -> OverlayMaps:
    title = "gradcam · calcification · conv" if relative else "P(calcification)"
    return OverlayMaps([np.zeros((4, 4), np.float32)], vmax, title, relative)


def test_an_explanations_caption_says_what_its_scale_is_relative_to():
    """The caption read "(1.0 = 0.0017)" and the colour bar "relative": it now says in words
    that the colours are relative to the map's largest value, and gives it plainly."""
    caption = overlay_caption(_maps(0.0017123, True))
    assert "colours relative to the map's largest value over these images" in caption
    assert "0.0017 in the method's own units" in caption and "1.0 =" not in caption
    assert colorbar_title(_maps(0.0017, True)) == "share of the max"


def test_a_probability_caption_and_colour_bar_name_the_map():
    caption = overlay_caption(_maps(1.0, False))
    assert caption.startswith("Overlay: **P(calcification)**; one colour scale")
    assert colorbar_title(_maps(1.0, False)) == "P(calcification)"


def test_the_detections_table_puts_the_unit_in_its_headers():
    """Its headers read "row" and "col", the unit only in a caption under the table: a
    table copied or exported lost it. Positions are in full-resolution pixels of the file
    (model-input pixels divided by the analysis' factor)."""
    result = SimpleNamespace(key="case/CC_recent", pmap=SimpleNamespace(factor=0.25))
    panel = SimpleNamespace(label="L CC recent 2018", view=None, result=result)
    rows = detections_table([panel], [[Detection(row=10, col=20, score=0.91234, size_mm=0.456)]])
    assert rows == [
        {
            "image": "L CC recent 2018",  # the panel's label (was the key, no side or year)
            "detection": 1,
            "score": 0.9123,
            "row (full-res px)": 40,
            "col (full-res px)": 80,
            "size (mm)": 0.46,
        }
    ]
    # In the regions table's order: position, then size.
    assert list(rows[0])[3:] == ["row (full-res px)", "col (full-res px)", "size (mm)"]


def test_the_change_of_two_scores_is_the_difference_of_the_scores_shown() -> None:
    """Predict showed 0.489 beside 0.489 and a change of "-0.000" (demo suspicious-2 CC,
    a cross-validation fold's model)."""
    assert score_change(0.48912, 0.48907) == "0.000"
    assert score_change(0.48907, 0.48912) == "0.000"
    assert score_change(0.985, 0.992) == "+0.007"
    # 0.4894 and 0.4886 are shown 0.489 both: no change of 0.001 under equal numbers.
    assert score_change(0.4886, 0.4894) == "0.000"
    assert score_change(0.99, 0.1) == "-0.890"


def _shown(label: str, key: str) -> SimpleNamespace:
    """A panel of ``label`` whose analysis has one region and an agreement."""
    region = SimpleNamespace(rank=1, score=0.91234, center=(12.4, 20.6), box=(0, 8, 0, 8))
    agreement = SimpleNamespace(
        energy_inside=0.5, area_fraction=0.1, pointing_hit=True, hit_rule="peak", marks=9
    )
    result = SimpleNamespace(
        key=key,
        regions=[region],
        spacing_mm=(0.1, 0.1),
        pmap=SimpleNamespace(factor=0.5),
        agreement=agreement,
        map_agreement=None,
        scores=SimpleNamespace(positive_class="calcification"),
    )
    return SimpleNamespace(label=label, view=None, result=result)


def test_predict_names_each_image_by_side_view_round_and_year():
    """A score, a region and an agreement name their image as Browse's panels do
    (:func:`panel_label`: side, view, round, exam year). They read "CC prior · calcification
    map score" and "suspicious-1/CC_prior": a left breast's prior of 2016 could be read as
    the recent one, of either side."""
    case = CaseRecord("suspicious-1", "p", (), laterality="L", available="2016-2018")
    prior = _shown(panel_label(case, "CC", "prior"), "suspicious-1/CC_prior")
    recent = _shown(panel_label(case, "CC", "recent"), "suspicious-1/CC_recent")
    assert panel_score_label(prior) == "L CC prior 2016 · calcification map score"
    assert panel_score_label(recent) == "L CC recent 2018 · calcification map score"
    regions = regions_table([prior, recent])
    assert [(r["image"], r["key"]) for r in regions] == [
        ("L CC prior 2016", "suspicious-1/CC_prior"),
        ("L CC recent 2018", "suspicious-1/CC_recent"),
    ]
    # The key last: the page hides it, a picked row names its region by it.
    # A region's size is its patch's side, the same for every region, headed so (it read
    # "size (mm)", as the detections table's finding size: 6.4 for every region, a user check).
    assert list(regions[0]) == [
        "image", "region", "score", "row", "col", "patch side (mm)", "key"
    ]  # fmt: skip
    assert regions[0]["patch side (mm)"] == 0.4  # 8 model-input px at 0.5 of 0.1 mm
    assert [r["image"] for r in agreement_table([prior, recent])] == [
        "L CC prior 2016",
        "L CC recent 2018",
    ]


def test_a_flat_maps_note_is_a_warning_apart_from_the_other_notes() -> None:
    """The walk of 7 December 2026: a model scoring every patch 0.500 was said so in a grey
    caption under the viewer and its tables, past the scores a reader judges; the other
    notes stay captions."""
    grid = make_grid((160, 160), 32, 16)

    def pmap(pos: np.ndarray) -> ProbabilityMap:
        proba = np.stack([1.0 - pos, pos], axis=-1).astype(np.float32)
        classes = ("no-calcification", "calcification")
        return ProbabilityMap(
            proba, np.ones(pos.shape, bool), grid, classes, native_shape=(160, 160)
        )

    flat_map = pmap(np.full((9, 9), 0.500473))
    note = flat_map_note(flat_map)  # ImageAnalysis.flat_note's
    flat = SimpleNamespace(pmap=flat_map, flat_note=note, all_notes=[note, "no annotation"])
    varying_map = pmap(np.geomspace(1e-6, 0.99, 81).reshape(9, 9))
    varying = SimpleNamespace(
        pmap=varying_map, flat_note=flat_map_note(varying_map), all_notes=["other"]
    )
    panels = [
        SimpleNamespace(label="R CC prior 2017", view=None, result=flat),
        SimpleNamespace(label="R CC recent 2018", view=None, result=varying),
    ]
    warnings, rest = notes_of(panels)  # type: ignore[arg-type]
    assert len(warnings) == 1 and warnings[0].startswith("R CC prior 2017: the model gives every")
    assert rest == ["R CC prior 2017: no annotation", "R CC recent 2018: other"]


def test_regions_under_a_lowered_threshold_say_they_are_below_the_operating_one():
    """A reader who lowers the region threshold under the model's (0.95 here) sees which
    regions the model calls: region 1 scores 0.912, under it."""
    case = CaseRecord("suspicious-1", "p", (), laterality="L", available="2016-2018")
    panel = _shown(panel_label(case, "CC", "prior"), "suspicious-1/CC_prior")
    assert "at operating threshold" not in regions_table([panel])[0]  # not lowered: no column
    (row,) = regions_table([panel], 0.95)
    assert row["at operating threshold"] == "no: below it"
    assert regions_table([panel], 0.9)[0]["at operating threshold"] == "yes"


def test_the_classic_figure_draws_what_the_model_does_not_call_dashed_and_grey():
    """Regions and detections listed under a lowered threshold were boxed and marked like
    those the model calls: now dashed grey boxes (a trace of their own) and grey diamonds
    whose hover says so; none without a threshold."""
    from mcalc.present.predict_figures import DETECTION_COLOR, Panel, overlay_figure
    from mcalc.present.viewer_figures import BELOW_COLOR
    from tests.viewer_fixtures import tiny_view

    result = SimpleNamespace(
        key="k/CC_recent",
        score=0.95,
        regions=(
            SimpleNamespace(rank=1, score=0.95, box=(4, 8, 4, 8)),
            SimpleNamespace(rank=2, score=0.6, box=(10, 14, 4, 8)),
        ),
        scores=SimpleNamespace(positive_class="calcification"),
        pmap=SimpleNamespace(factor=1.0),
    )
    panels = [Panel("R CC recent 2018", tiny_view(False), result)]  # type: ignore[arg-type]
    dets = [[Detection(row=6, col=6, score=0.95, size_mm=0.3), Detection(12, 6, 0.6, 0.3)]]
    fig = overlay_figure(
        panels,
        _maps(1.0, False),
        opacity=0.5,
        cmap="jet",
        show_marks=False,
        detections=dets,
        operating=0.921513,
    )
    traces = {t.name: t for t in fig.data}
    below = traces["regions-1-outline-below"]
    assert below.line.dash == "dash" and below.line.color == BELOW_COLOR
    assert len([x for x in below.x if x is None]) == 1  # region 2 only
    marker = traces["detections-1"]
    assert list(marker.marker.color) == [DETECTION_COLOR, BELOW_COLOR]
    assert "below the operating threshold (0.9215)" in marker.customdata[1][3]
    assert marker.customdata[0][3] == ""
    plain = overlay_figure(
        panels, _maps(1.0, False), opacity=0.5, cmap="jet", show_marks=False, detections=dets
    )
    assert "regions-1-outline-below" not in {t.name for t in plain.data}
