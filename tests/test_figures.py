"""Plotly figures: previews in full-resolution coordinates, shared axes, markers."""

from __future__ import annotations

import numpy as np
import pytest

from mcalc.present.viewer_figures import crop_figure, data_uri, pair_figure
from mcalc.viewer import ImageView


def _view(scale=0.5, n=3):
    return ImageView(
        key="c/CC_recent",
        preview=np.zeros((50, 40, 3), np.uint8),
        full_shape=(100, 80),
        scale=scale,
        flipped=False,
        window=(2047.0, 4096.0),
        invert=False,
        spacing_mm=(0.1, 0.1),
        laterality="L",
        has_annotation=True,
        calc_points=np.array([[10.0, 20.0]] * n).reshape(-1, 2),
        calc_diameters_mm=(0.3,) * n,
        cluster_hulls=(np.array([[5.0, 5.0], [5.0, 30.0], [30.0, 30.0]]),),
        cluster_sizes=(n,),
    )


def test_pair_figure_places_previews_in_full_resolution_coordinates():
    fig = pair_figure([_view(), _view()], ["prior", "recent"])
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 2
    assert all(
        t.dx == pytest.approx(2.0) and t.source.startswith("data:image/jpeg") for t in images
    )
    assert fig.layout.xaxis2.matches == "x" and fig.layout.yaxis2.matches == "y"
    assert [a.text for a in fig.layout.annotations] == ["prior", "recent"]


def test_marks_are_optional_and_carry_hover_data():
    with_marks = pair_figure([_view()], ["recent"])
    names = [t.name for t in with_marks.data]
    assert "calcifications" in names and "cluster 1" in names
    markers = next(t for t in with_marks.data if t.name == "calcifications")
    assert len(markers.x) == 3 and markers.customdata.shape == (3, 2)
    without = pair_figure([_view()], ["recent"], show_marks=False)
    assert [t.type for t in without.data] == ["image"]


def test_titles_must_match_views():
    with pytest.raises(ValueError, match="titles"):
        pair_figure([_view()], ["a", "b"])


def test_crop_figure_uses_box_origin():
    fig = crop_figure([np.zeros((20, 30, 3), np.uint8)], [(100, 140, 200, 260)], ["crop"])
    img = fig.data[0]
    assert (img.x0, img.y0) == (200, 100)
    assert img.dx == pytest.approx(2.0) and img.dy == pytest.approx(2.0)


@pytest.mark.parametrize("n", [1, 2])
def test_predict_zoom_figure_is_crop_figure_made_fast(n):
    """Predict's zoom figure (layout validated once, plain image traces) is the very figure
    of ``crop_figure``."""
    from mcalc.present.predict_figures import crop_figure_fast

    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (20, 30, 3), dtype=np.uint8) for _ in range(n)]
    boxes = [(100, 140, 200, 260), (10, 30, 5, 50)][:n]
    titles = ["CC prior · full resolution", "CC recent · full resolution"][:n]
    want = crop_figure(crops, boxes, titles).to_dict()
    for _ in range(2):  # the second from the cached layout
        assert crop_figure_fast(crops, boxes, titles).to_dict() == want
    with pytest.raises(ValueError, match="titles"):
        crop_figure_fast(crops, boxes, titles[:0])


def test_data_uri_is_a_jpeg():
    import base64

    uri = data_uri(np.full((8, 8, 3), 128, np.uint8))
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw[:2] == b"\xff\xd8"


def test_crop_figure_draws_marks_and_keeps_the_box():
    crop = np.zeros((20, 30, 3), np.uint8)
    fig = crop_figure([crop, crop], [(0, 40, 0, 60)] * 2, ["a", "b"], views=[_view(), _view()])
    names = [t.name for t in fig.data]
    assert names.count("calcifications") == 2 and names.count("cluster 1") == 2
    assert list(fig.layout.xaxis.range) == [0, 60] and list(fig.layout.yaxis.range) == [40, 0]
    with pytest.raises(ValueError, match="views"):
        crop_figure([crop], [(0, 40, 0, 60)], ["a"], views=[_view(), _view()])


def test_selected_box_reads_the_last_box_of_a_selection_event():
    from types import SimpleNamespace

    from mcalc.present.viewer_figures import selected_box

    event = SimpleNamespace(
        selection={"box": [{"x": [5, 1], "y": [2, 9]}, {"x": [40.7, 10.2], "y": [30.9, 3.1]}]}
    )
    assert selected_box(event) == (3, 30, 10, 40)
    assert selected_box(SimpleNamespace(selection={"box": []})) is None
    assert selected_box(SimpleNamespace(selection={"box": [{"x": [1], "y": [2]}]})) is None
    assert selected_box(SimpleNamespace(selection={})) is None
    assert selected_box(None) is None
