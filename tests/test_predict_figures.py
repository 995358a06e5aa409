"""mcalc.present.predict_figures: the words of Predict's classic figure (colour bar,
caption) and its detections table."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mcalc.explain.service import OverlayMaps
from mcalc.models.detection import Detection
from mcalc.present.predict_figures import (
    colorbar_title,
    detections_table,
    overlay_caption,
    score_change,
)


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
    panel = SimpleNamespace(label="CC recent", view=None, result=result)
    rows = detections_table([panel], [[Detection(row=10, col=20, score=0.91234, size_mm=0.456)]])
    assert rows == [
        {
            "image": "case/CC_recent",
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
