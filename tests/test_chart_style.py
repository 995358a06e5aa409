"""Every chart's text reads on the shown theme's background (mcalc/present/chart_style.py).

Streamlit's plotly theme fills in what a figure leaves unset, from a template: in the light
theme axis titles, tick labels, panel titles, colour bars and hover text came out in its
#808495, 3.7:1 on white (Chromium, docs/measurements.md, h/lighttheme). So a text colour
left unset counts as failing here; one a plotly text inherits from the layout's font
(annotations, a trace's text, colour bars: Streamlit's template sets none of their own) is
taken from there.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.utils import PlotlyJSONEncoder

from mcalc.explain.service import OverlayMaps
from mcalc.jobs.progress import Progress
from mcalc.models.analysis import analyse
from mcalc.models.curves import OperatingPoint
from mcalc.present.chart_style import (
    MODEBAR_PX,
    TEXT_PX,
    TITLE_PAD_PX,
    TITLE_PX,
    ChartColours,
    style_figure,
)
from mcalc.present.eval_figures import CurveEntry, confusion_figure, pr_figure, roc_figure
from mcalc.present.froc_figures import froc_figure
from mcalc.present.marking import annotate_figure
from mcalc.present.predict_figures import Panel, crop_figure_fast, overlay_figure
from mcalc.present.temporal_figures import temporal_figure
from mcalc.present.train_figures import curves_figure
from mcalc.present.viewer_figures import crop_figure, pair_figure
from mcalc.store import ImageMarks
from pages import theme
from tests.test_palette import four_scores
from tests.test_temporal_figures import CASE, _view
from tests.viewer_fixtures import tiny_view

PAGES = Path(__file__).resolve().parent.parent / "pages"


def _entries() -> list[CurveEntry]:
    s = four_scores()
    return [CurveEntry("m", analyse(s, "patch", n_boot=0), 0.5, OperatingPoint(0.5, 1, 1, 0))]


def _froc() -> go.Figure:
    points = [{"fp_per_image": 0.0, "sensitivity": 0.5}, {"fp_per_image": 1.0, "sensitivity": 0.8}]
    band = {"fp_per_image": [0.0, 1.0], "low": [0.4, 0.7], "high": [0.6, 0.9]}
    return froc_figure({"m": {"froc": points, "band": band}})


def _overlay() -> go.Figure:
    result = SimpleNamespace(
        key="k/CC_recent",
        score=0.5,
        regions=(SimpleNamespace(rank=1, box=(4, 8, 4, 8)),),
        scores=SimpleNamespace(positive_class="calcification"),
    )
    view = tiny_view(False)
    panels = [Panel("R CC recent 2018", view, result)]  # type: ignore[arg-type]
    maps = OverlayMaps([np.zeros((4, 4), np.float32)], 1.0, "P(calcification)", False)
    return overlay_figure(panels, maps, opacity=0.5, cmap="jet", show_marks=True)


def _crops() -> tuple[list[np.ndarray], list[tuple[int, int, int, int]], list[str]]:
    return [np.zeros((8, 8, 3), np.uint8)] * 2, [(0, 8, 0, 8)] * 2, ["prior", "recent"]


ONE_EPOCH = ({"stage": "train", "global_epoch": 1, "loss": 0.6, "accuracy": 0.7},)

#: One figure of each builder a page draws (a case of each that adds text of its own).
FIGURES: dict[str, Callable[[], go.Figure]] = {
    "roc": lambda: roc_figure(_entries()),
    "pr": lambda: pr_figure(_entries()),
    "confusion": lambda: confusion_figure([[3, 1], [0, 4]], ["no", "yes"], "m · 0.50"),
    "confusion, long id": lambda: confusion_figure(
        [[3, 1], [0, 4]], ["no", "yes"], "custom-calcification-20261207-190452 · threshold 0.50"
    ),
    "froc": _froc,
    "train, no epoch yet": lambda: curves_figure(Progress(steps=2, batch_loss=((1, 0.7),))),
    "train": lambda: curves_figure(
        Progress(steps=2, batch_loss=((1, 0.7),), history=ONE_EPOCH), ended="done"
    ),
    "pair": lambda: pair_figure([tiny_view(False)] * 2, ["prior", "recent"]),
    "crop": lambda: crop_figure(*_crops(), views=[tiny_view(False)] * 2),
    "crop, fast": lambda: crop_figure_fast(*_crops()),
    "overlay": _overlay,
    "temporal, flicker": lambda: temporal_figure(_view(), "flicker", case=CASE),
    "temporal, subtraction": lambda: temporal_figure(_view(), "subtraction", case=CASE),
    "annotate": lambda: annotate_figure(tiny_view(False), ImageMarks("k/CC_recent", "ann")),
}


def _texts(fig: go.Figure) -> Iterator[tuple[str, str | None, str]]:
    """``(where, colour, drawn on)`` of every text of ``fig`` that lies on the page (not on an
    image or a heatmap's cell); colour ``None`` where Streamlit's template would choose it."""
    layout = fig.to_plotly_json()["layout"]
    page = "page"

    def colour(part: dict, *keys: str) -> str | None:
        for k in keys:
            part = part.get(k) or {}
        return part if isinstance(part, str) else None

    base = colour(layout, "font", "color")
    yield "layout font", base, page
    if colour(layout, "title", "text"):
        yield "title", colour(layout, "title", "font", "color"), page
    if layout.get("showlegend", True):
        yield "legend", colour(layout, "legend", "font", "color"), page
        yield "legend title", colour(layout, "legend", "title", "font", "color"), page
    yield "hover label", colour(layout, "hoverlabel", "font", "color"), "hover"
    for name, axis in layout.items():
        if name.startswith(("xaxis", "yaxis")):
            yield f"{name} title", colour(axis, "title", "font", "color"), page
            yield f"{name} ticks", colour(axis, "tickfont", "color"), page
    for i, note in enumerate(layout.get("annotations", ())):
        yield f"annotation {i} {note.get('text')!r}", colour(note, "font", "color") or base, page
    for i, menu in enumerate(layout.get("updatemenus", ())):
        yield f"buttons {i}", colour(menu, "font", "color"), colour(menu, "bgcolor") or "?"
    on_image = any(t.type in ("image", "heatmap") for t in fig.data)
    for trace in fig.data:
        bar = trace.marker.colorbar if trace.type == "scatter" else None
        if bar is not None and trace.marker.showscale:
            yield "colour bar title", bar.title.font.color or base, page
            yield "colour bar ticks", bar.tickfont.color or base, page
        if trace.type == "scatter" and "text" in (trace.mode or "") and not on_image:
            yield f"text of {trace.name!r}", trace.textfont.color or base, page


def _too_faint(fig: go.Figure, kind: theme.Theme) -> list[str]:
    """What of ``fig``'s text reads under 4.5:1 (WCAG 2 AA) on the ``kind`` theme."""
    colours = theme.chart_colours(kind)
    backs = {"page": colours.background, "hover": fig.layout.hoverlabel.bgcolor}
    faint = []
    for where, text, on in _texts(fig):
        back = backs.get(on, on)
        if text is None or back is None or back == "?":
            faint.append(f"{where}: left to Streamlit's template")
        elif theme.contrast(text, back) < 4.5:
            faint.append(f"{where}: {text} on {back} {theme.contrast(text, back):.2f}:1")
    return faint


def _styled(fig: go.Figure, kind: theme.Theme) -> go.Figure:
    """``fig`` as a page draws it when the browser shows theme ``kind`` (``theme.styled``)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(theme, "theme_type", lambda: kind)
        return theme.styled(fig)


@pytest.mark.parametrize("kind", ["light", "dark"])
@pytest.mark.parametrize("name", list(FIGURES))
def test_every_charts_text_reads_on_the_themes_background(name, kind):
    """Each builder's figure as a page draws it: every text at 4.5:1 or more on the theme's
    page (or the hover label's) background; none left for Streamlit's template to colour."""
    fig = _styled(FIGURES[name](), kind)
    assert not _too_faint(fig, kind)
    assert fig.layout.font.color == theme.TEXT[kind]


def test_an_unstyled_chart_is_found_too_faint():
    """The measure above finds what Streamlit drew: a figure as its builder makes it leaves
    its axis titles, ticks and panel titles to the template."""
    faint = _too_faint(FIGURES["roc"](), "light")
    assert "xaxis title: left to Streamlit's template" in faint, faint
    assert "xaxis ticks: left to Streamlit's template" in faint, faint


def test_every_chart_a_page_draws_is_styled_for_the_theme():
    """Each ``plotly_chart`` call of a page draws ``theme.styled(...)`` of its figure."""
    calls = []
    for path in sorted(PAGES.rglob("*.py")):
        source = path.read_text()
        if "plotly_chart" not in source:
            continue
        for node in ast.walk(ast.parse(source, str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "plotly_chart":
                first = node.args[0] if node.args else None
                styled = (
                    isinstance(first, ast.Call)
                    and isinstance(first.func, ast.Attribute)
                    and first.func.attr == "styled"
                    and getattr(first.func.value, "id", "") == "theme"
                )
                calls.append((f"{path.relative_to(PAGES)}:{node.lineno}", styled))
    assert len(calls) >= 15, calls  # the pages draw charts in about 17 places
    assert [where for where, styled in calls if not styled] == []


def test_the_flicker_buttons_read_on_both_themes():
    """An animation's buttons: the theme's text on the theme's widget background, none
    marked as pressed (plotly draws a marked one pale blue, #f4faff: the dark theme's text
    read 1.13:1 on Flicker in Chromium)."""
    for kind in ("light", "dark"):
        fig = _styled(FIGURES["temporal, flicker"](), kind)
        [menu] = fig.layout.updatemenus
        assert menu.showactive is False
        assert menu.bgcolor == theme.BACKGROUNDS[kind][2]
        assert theme.contrast(menu.font.color, menu.bgcolor) >= 4.5


def _styled_by_plotlys_api(fig: go.Figure, colours: ChartColours) -> go.Figure:
    """The oracle: the same styling through plotly's validating update methods."""
    text = colours.text
    fig.update_layout(
        font_color=text,
        title_font_color=text,
        legend_font_color=text,
        legend_title_font_color=text,
        hoverlabel={"bgcolor": colours.background, "font": {"color": text}},
    )
    fig.update_xaxes(title_font_color=text, tickfont_color=text)
    fig.update_yaxes(title_font_color=text, tickfont_color=text)
    fig.update_annotations(font_color=text)
    for menu in fig.layout.updatemenus:
        menu.update(font_color=text, bgcolor=colours.surface, bordercolor=text)
    fig.update_layout(font_size=max(fig.layout.font.size or 12, TEXT_PX))
    fig.update_layout(title_font_size=max(fig.layout.title.font.size or 0, TITLE_PX))
    fig.update_layout(legend_font_size=max(fig.layout.legend.font.size or 0, TEXT_PX))
    fig.update_layout(hoverlabel_font_size=max(fig.layout.hoverlabel.font.size or 0, TEXT_PX))
    fig.for_each_xaxis(lambda a: a.update(title_font_size=max(a.title.font.size or 0, TEXT_PX)))
    fig.for_each_yaxis(lambda a: a.update(title_font_size=max(a.title.font.size or 0, TEXT_PX)))
    fig.for_each_xaxis(lambda a: a.update(tickfont_size=max(a.tickfont.size or 0, TEXT_PX)))
    fig.for_each_yaxis(lambda a: a.update(tickfont_size=max(a.tickfont.size or 0, TEXT_PX)))
    fig.for_each_annotation(lambda n: n.update(font_size=max(n.font.size or 0, TEXT_PX)))
    if not any(t.type in ("image", "heatmap") for t in fig.data):
        fig.for_each_trace(
            lambda t: t.update(textfont_size=max(t.textfont.size or 0, TEXT_PX)),
            selector=lambda t: t.type == "scatter" and "text" in (t.mode or ""),
        )
    # The mode bar's strip kept clear (test_titles_are_under_the_mode_bar says where).
    base, above = fig.layout.font.size or 12, []
    if fig.layout.title.text:
        size = fig.layout.title.font.size or round(base * 1.4)
        pad = 6 + fig.layout.title.text.count("<br>") * size * 1.3  # lines under the first
        fig.update_layout(title={"yref": "paper", "y": 1, "yanchor": "bottom", "pad_b": pad})
        above.append(pad + size * 1.3)
    for note in fig.layout.annotations:
        if note.yref == "paper" and (note.y or 0) >= 1 and note.yanchor in (None, "bottom"):
            above.append((note.yshift or 0) + (note.font.size or base) * 1.3)
    top = fig.layout.margin.t
    if above and (top is None or top < MODEBAR_PX + math.ceil(max(above))):
        fig.update_layout(margin_t=MODEBAR_PX + math.ceil(max(above)))
        if top is not None and fig.layout.height is not None:
            fig.update_layout(height=fig.layout.height + fig.layout.margin.t - top)
    return fig


@pytest.mark.parametrize("name", list(FIGURES))
def test_styling_on_the_plain_dict_is_what_plotlys_api_makes(name):
    """``style_figure`` edits the figure's dictionary and skips plotly's validation (7-25 ms
    a figure, 17x Predict's region crop itself): the same figure as plotly's own update
    methods make, and the figure it was given is left as it was."""
    colours = theme.chart_colours("light")
    fig = FIGURES[name]()
    before = fig.to_plotly_json()
    ours = style_figure(fig, colours).to_plotly_json()
    assert fig.to_plotly_json() == before
    theirs = _styled_by_plotlys_api(FIGURES[name](), colours).to_plotly_json()
    assert json.dumps(ours, sort_keys=True, cls=PlotlyJSONEncoder) == json.dumps(
        theirs, sort_keys=True, cls=PlotlyJSONEncoder
    )


def _top_of(text: str, size: float, offset: float, margin_top: float) -> float:
    """Where a text drawn just above a plot area begins, in px from the figure's top."""
    return margin_top - offset - (1 + text.count("<br>")) * size * 1.3


@pytest.mark.parametrize("name", list(FIGURES))
def test_titles_are_under_the_mode_bar(name):
    """Plotly's mode bar (top right, while the pointer is over a chart) covered chart
    titles: ROC's and FROC's in the middle of a 50 px top margin, the image panels' in a
    40 px one (h/presenter's tour). Styled, every title and panel title begins under the
    mode bar's strip, and the plot area keeps its height."""
    built = FIGURES[name]()
    fig = _styled(FIGURES[name](), "light")
    layout = fig.layout
    top = layout.margin.t
    if layout.title.text:
        assert (layout.title.yref, layout.title.y, layout.title.yanchor) == ("paper", 1, "bottom")
        size = layout.title.font.size or round((layout.font.size or 12) * 1.4)
        # Plotly draws a title's first line at its anchor, the others under it: the title's
        # lines lie between its pad and the plot, none over the plot.
        under = layout.title.text.count("<br>") * size * 1.3
        assert layout.title.pad.b - under >= TITLE_PAD_PX, layout.title.pad.b
        assert top - layout.title.pad.b - size * 1.3 >= MODEBAR_PX, top
    for note in layout.annotations:
        if note.yref == "paper" and (note.y or 0) >= 1:
            size = note.font.size or layout.font.size or 12
            assert _top_of(note.text, size, note.yshift or 0, top) >= MODEBAR_PX, note.text
    if built.layout.height is not None and built.layout.margin.t is not None:
        plot = layout.height - top - (layout.margin.b or 0)
        assert plot == built.layout.height - built.layout.margin.t - (built.layout.margin.b or 0)


def test_a_title_sits_just_above_its_plot():
    """The title's gap to the plot is :data:`TITLE_PAD_PX` (plotly centred it in the top
    margin: in the mode bar's strip)."""
    fig = _styled(roc_figure(_entries(), title="ROC · Patch level"), "dark")
    assert fig.layout.title.pad.b == TITLE_PAD_PX
    assert fig.layout.margin.t >= MODEBAR_PX + TITLE_PAD_PX + 17


def _sizes(fig: go.Figure) -> Iterator[tuple[str, float]]:
    """``(where, px)`` of every text of ``fig`` drawn on the page's background, at the size the
    browser draws it (a size left unset is plotly's: the layout font's, 12 px unset; a title
    1.4 times it)."""
    layout = fig.layout
    base = layout.font.size or 12
    yield "layout font", base
    if layout.title.text:
        yield "title", layout.title.font.size or round(base * 1.4)
    if layout.showlegend is not False:
        yield "legend", layout.legend.font.size or base
    yield "hover label", layout.hoverlabel.font.size or 13
    for name in layout:
        if name.startswith(("xaxis", "yaxis")):
            axis = layout[name]
            yield f"{name} title", axis.title.font.size or base
            yield f"{name} ticks", axis.tickfont.size or base
    for i, note in enumerate(layout.annotations):
        yield f"annotation {i} {note.text!r}", note.font.size or base
    on_image = any(t.type in ("image", "heatmap") for t in fig.data)
    for trace in fig.data:
        if trace.type == "scatter" and "text" in (trace.mode or "") and not on_image:
            yield f"text of {trace.name!r}", trace.textfont.size or base


@pytest.mark.parametrize("name", list(FIGURES))
def test_every_charts_text_reads_from_the_back_of_a_room(name):
    """A presenter's projector (1280 px at 125 %): plotly's 12 px ticks and the legends' 11 px
    could not be read from the back (h/projector). Styled, every text on a chart's background
    is at least :data:`TEXT_PX`, and a figure's title at least :data:`TITLE_PX`."""
    fig = _styled(FIGURES[name](), "dark")
    small = [
        f"{where}: {px} px"
        for where, px in _sizes(fig)
        if px < (TITLE_PX if where == "title" else TEXT_PX)
    ]
    assert small == []
    assert TEXT_PX >= 14 and TITLE_PX >= 16
