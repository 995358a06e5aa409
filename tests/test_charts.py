"""Image pairs as high as their width asks for (pages/charts.py,
mcalc.present.viewer_figures.height_for_width): Predict's *Across rounds* pair was 620 px
high whatever its width (h/presenter's tour: too tall at 1280x720, about 300 px of empty
page under the images at 125 %)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from mcalc.present.temporal_figures import temporal_figure
from mcalc.present.viewer_figures import height_for_width, pair_figure
from pages import charts, theme
from tests.test_temporal_figures import CASE, _view
from tests.viewer_fixtures import tiny_view

FIGURES = {
    "pair": lambda: pair_figure([tiny_view(False)] * 2, ["prior", "recent"]),
    "temporal": lambda: temporal_figure(_view(), "subtraction", case=CASE),
}


@pytest.mark.parametrize("name", list(FIGURES))
@pytest.mark.parametrize("width", [564, 820, 1500])
def test_the_height_shows_the_images_whole_and_as_wide_as_their_panels(name, width):
    """The oracle: each panel's width from the domain plotly gave its x axis, times the
    images' aspect, plus the top and bottom margins of the figure as the page draws it."""
    fig = theme.styled(FIGURES[name]())
    aspect = 1.3
    per_px, fixed = height_for_width(fig, aspect)
    m = fig.layout.margin
    plot = width - m.l - m.r
    for axis in ("xaxis", "xaxis2"):
        lo, hi = fig.layout[axis].domain
        assert per_px * width + fixed == pytest.approx((hi - lo) * plot * aspect + m.t + m.b)


def test_the_rule_sizes_the_chart_with_its_container_and_the_window():
    """The container's own width (cqw) gives the height, at most the window's height less
    what is above the pair, at least :data:`charts.MIN_PX`."""
    fig = theme.styled(FIGURES["temporal"]())
    per_px, fixed = height_for_width(fig, 1.25)
    css = charts.pair_height_css("predict_temporal_CC_box", fig, 1.25)
    assert ".st-key-predict_temporal_CC_box { container-type: inline-size; }" in css
    found = re.search(r"max\((\d+)px, min\(calc\(([\d.]+)cqw \+ ([\d.-]+)px\), "
                      r"calc\(100vh - (\d+)px\)\)\)", css)  # fmt: skip
    assert found is not None, css
    assert int(found[1]) == charts.MIN_PX and int(found[4]) == charts.ABOVE_PX
    assert float(found[2]) == pytest.approx(per_px * 100, abs=1e-4)
    assert float(found[3]) == pytest.approx(fixed, abs=0.01)
    with pytest.raises(ValueError, match="height over its width"):
        height_for_width(fig, float(np.nan))
