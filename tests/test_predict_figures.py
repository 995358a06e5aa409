"""mcalc.present.predict_figures: the words of Predict's classic figure (colour bar,
caption) and its detections table."""

from __future__ import annotations

import numpy as np

from mcalc.explain.service import OverlayMaps
from mcalc.present.predict_figures import colorbar_title, overlay_caption


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
