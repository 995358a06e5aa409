"""mcalc.present.marking: the Annotate figure, its click grid and reading chart events."""

from __future__ import annotations

import pytest

from mcalc.present.marking import (
    CLICK_TRACE,
    READER_TRACE,
    ChartPoint,
    annotate_figure,
    chart_point,
    chart_polygon,
    grid_step,
)
from mcalc.store import ImageMarks
from mcalc.viewer import ImageView
from tests.viewer_fixtures import tiny_view


def _view(flipped: bool) -> ImageView:
    return tiny_view(flipped)


def test_figure_traces_and_click_grid():
    v = _view(False)
    m = ImageMarks("k/CC_recent", "ann").add_point(5, 5).add_region("roi", [(1, 1), (1, 9), (9, 9)])
    fig = annotate_figure(v, m)
    names = [t.name for t in fig.data]
    assert names[1] == CLICK_TRACE and names[-1] == READER_TRACE and "dataset" in names
    grid = fig.data[1]
    assert (
        grid.marker.opacity == 0 and len(grid.x) > 100 * 80 / grid_step((0, 100, 0, 80)) ** 2 * 0.9
    )
    # The grid reaches past the image so that a click just outside is reported.
    assert min(grid.x) < 0 and max(grid.y) > 100
    assert "dataset" not in [t.name for t in annotate_figure(v, m, show_dataset=False).data]


def test_the_classic_figure_outlines_the_datasets_regions():
    """Annotate's classic figure drew a region annotation's dataset marks as nothing (its
    red overlay, off by default, was all): its regions are dashed orange outlines, as the
    simple and the reading viewers draw them, hidden with the dataset's marks."""
    import numpy as np

    from mcalc.present.marking import REGION_COLOR

    v = tiny_view(False, with_calcification=False)
    box = np.array([[10.0, 10.0], [10.0, 30.0], [30.0, 30.0], [30.0, 10.0]])
    v = ImageView(**{**v.__dict__, "region_outlines": (box,), "has_annotation": True})
    fig = annotate_figure(v, ImageMarks("k/CC_recent", "ann"))
    (region,) = [t for t in fig.data if t.name == "dataset region 1"]
    assert region.line.color == REGION_COLOR and region.line.dash == "dash"
    assert list(region.x) == [10, 30, 30, 10, 10] and list(region.y) == [10, 10, 30, 30, 10]
    hidden = annotate_figure(v, ImageMarks("k/CC_recent", "ann"), show_dataset=False)
    assert "dataset region 1" not in [t.name for t in hidden.data]
    # The reading viewer draws them in the same colour.
    from pathlib import Path

    ts = (Path(__file__).parent.parent / "components/viewer/src/regions.ts").read_text()
    assert f'REGION_COLOUR = "{REGION_COLOR}"' in ts


NAMES = ["image", CLICK_TRACE, READER_TRACE]
POINTS = [
    ("grid click", {"points": [{"curve_number": 1, "x": 5, "y": 7}]}, ChartPoint(7.0, 5.0)),
    ("own mark", {"points": [{"curve_number": 2, "point_index": 3}]}, ChartPoint(None, None, 3)),
    ("last of several", {"points": [{"x": 1, "y": 2}, {"x": 3, "y": 4}]}, ChartPoint(4.0, 3.0)),
    ("no coordinates", {"points": [{"curve_number": 1}]}, None),
    ("empty", {}, None),
    ("none", None, None),
]


@pytest.mark.parametrize("name, selection, expected", POINTS, ids=[p[0] for p in POINTS])
def test_chart_point(name, selection, expected):
    assert chart_point(selection, NAMES) == expected


POLYGONS = [
    ("lasso", {"lasso": [{"x": [1, 5, 5], "y": [2, 2, 6]}]}, [(2, 1), (2, 5), (6, 5)]),
    ("box", {"box": [{"x": [5, 1], "y": [6, 2]}]}, [(2, 1), (2, 5), (6, 5), (6, 1)]),
    (
        "short lasso falls back to box",
        {"lasso": [{"x": [1], "y": [1]}], "box": [{"x": [0, 2], "y": [0, 2]}]},
        [(0, 0), (0, 2), (2, 2), (2, 0)],
    ),
    (
        "clamped to the image",
        {"box": [{"x": [-5, 500], "y": [-5, 500]}]},
        [(0, 0), (0, 79), (99, 79), (99, 0)],
    ),
    ("nothing", {"points": []}, None),
]


@pytest.mark.parametrize("name, selection, expected", POLYGONS, ids=[p[0] for p in POLYGONS])
def test_chart_polygon(name, selection, expected):
    assert chart_polygon(selection, (100, 80)) == expected


def test_a_marks_label_does_not_rest_on_colour_alone():
    """Benign's green beside uncertain's amber is one colour to a protanope or deuteranope:
    each of the reader's marks carries its label's letter, in the figure and in the reading
    viewer (the same letters)."""
    import re
    from pathlib import Path

    from mcalc.present.marking import LABEL_COLORS, LABEL_LETTERS

    m = ImageMarks("k/CC_recent", "ann").add_point(5, 5, label="benign")
    m = m.add_point(20, 20, label="suspicious").add_point(30, 30, label="uncertain")
    (reader,) = [t for t in annotate_figure(_view(False), m).data if t.name == READER_TRACE]
    assert "text" in reader.mode and list(reader.text) == ["B", "S", "U"]
    assert set(LABEL_LETTERS) == set(LABEL_COLORS) and len(set(LABEL_LETTERS.values())) == 3
    ts = (Path(__file__).parent.parent / "components/viewer/src/index.ts").read_text()
    block = ts[ts.index("const LABEL_LETTERS") :].split("};")[0]
    assert dict(re.findall(r'(\w+): "(\w)"', block)) == LABEL_LETTERS
