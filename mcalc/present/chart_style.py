"""A plotly figure's text in the colours of the theme it is shown in.

The figure builders of :mod:`mcalc.present` draw without knowing the theme; the page that
shows a figure passes it through :func:`style_figure` with the shown theme's
:class:`ChartColours` (``pages.theme.styled``). Streamlit's plotly theme fills whatever a
figure leaves unset, and in its light theme it wrote axis titles, tick labels, panel titles
and hover text in a gray (#808495) that reads 3.7:1 on white, under WCAG 2's 4.5:1 for text
(docs/measurements.md, h/lighttheme). A downloaded report keeps plotly's own dark text on
white and is not styled.

Example:
    >>> import plotly.graph_objects as go
    >>> fig = style_figure(go.Figure(), ChartColours("#2f2d2b", "#ffffff", "#f1f0ee"))
    >>> fig.layout.xaxis.tickfont.color, fig.layout.font.color
    ('#2f2d2b', '#2f2d2b')
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

__all__ = ["MODEBAR_PX", "TEXT_PX", "TITLE_PX", "ChartColours", "style_figure"]

#: The strip at a figure's top that plotly's mode bar covers while the pointer is over the
#: chart: its buttons are 22 px high from 2 px down (plotly.js's ``.modebar`` rules), and a
#: gap under them. A title or panel title drawn there was covered on hover (ROC's, FROC's,
#: *Across rounds*' second panel's, at every size: docs/measurements.md, h/presenter).
MODEBAR_PX = 28
#: The least size of a chart's text (tick labels, axis titles, legend, annotations, hover
#: labels, a trace's text on the chart's background), in CSS px: plotly's 12 px ticks and the
#: legends' 11 px could not be read from the back of a room on a projector (1280 px at 125 %,
#: docs/measurements.md, h/projector).
TEXT_PX = 14
#: The least size of a figure's title.
TITLE_PX = 17
#: Pixels between a figure's title and the top of its plot area.
TITLE_PAD_PX = 6
#: A text line's height per pixel of font size (Source Sans and plotly's default font).
_LINE = 1.3


@dataclass(frozen=True)
class ChartColours:
    """The colours a chart's text is drawn in, in one theme (``#rrggbb``).

    Attributes:
        text: every text on the chart's background: title, axis titles and tick labels,
            legend, annotations (panel titles, notes), colour bars, hover labels.
        background: the page's background, which a chart's paper shows (and hover labels').
        surface: a control's background (an animation's buttons), as the theme's widgets.
    """

    text: str
    background: str
    surface: str


def style_figure(fig: go.Figure, colours: ChartColours) -> go.Figure:
    """``fig`` with every text that lies on its background in ``colours.text``.

    Sets the layout's font (which colour bars and a trace's text inherit), the title,
    legend, every axis's title and tick labels (``xaxis`` and ``yaxis`` at least), every
    annotation (each is taken to be on the background: the panel titles of
    :func:`~mcalc.present.viewer_figures.image_panels`, notes), hover labels and an
    animation's buttons. A trace's own text colour (labels drawn on an image) and the data's
    colours are left as they are.

    Raises every such text to :data:`TEXT_PX` and the title to :data:`TITLE_PX` at least,
    for a projector (a larger size is kept).

    Keeps the mode bar's strip (:data:`MODEBAR_PX`) clear: the title sits just above the
    plot area, and the top margin grows until the title and any panel titles above the
    plot are under the strip, the figure's height with it (the plot keeps its size).

    Works on the figure's plain dictionary and builds the result without validating it again
    (the input was valid, and colours are valid by construction): plotly validates each
    property set through ``update_layout``/``update_xaxes``, 7-25 ms a figure on the 2-core
    machine, 17x the 1.4 ms of Predict's region crop itself (a region click's figure).

    Args:
        fig: the figure (left unchanged).
        colours: the shown theme's colours.

    Returns:
        A new figure, for ``st.plotly_chart(style_figure(build(...), colours))``.
    """
    text = colours.text
    spec = fig.to_dict()
    layout: dict[str, Any] = spec.setdefault("layout", {})
    _colour(layout, "font", text)
    _colour(layout.setdefault("title", {}), "font", text)
    legend = layout.setdefault("legend", {})
    _colour(legend, "font", text)
    _colour(legend.setdefault("title", {}), "font", text)
    hover = layout.setdefault("hoverlabel", {})
    hover["bgcolor"] = colours.background
    _colour(hover, "font", text)
    layout.setdefault("xaxis", {})
    layout.setdefault("yaxis", {})
    for name, axis in layout.items():
        if _AXIS.fullmatch(name):
            _colour(axis.setdefault("title", {}), "font", text)
            _colour(axis, "tickfont", text)
    for note in layout.get("annotations", ()):
        _colour(note, "font", text)
    for menu in layout.get("updatemenus", ()):
        _colour(menu, "font", text)
        menu["bgcolor"] = colours.surface
        menu["bordercolor"] = text
    _readable(spec)
    _clear_of_the_mode_bar(layout)
    return go.Figure(spec, _validate=False)


def _readable(spec: dict[str, Any]) -> None:
    """Raises every text of the figure ``spec`` that lies on its background to
    :data:`TEXT_PX` (its title to :data:`TITLE_PX`); a larger size is kept. A trace's text is
    raised only where no image or heatmap is drawn (labels on an image keep their size)."""
    layout = spec["layout"]
    _at_least(layout, "font", TEXT_PX, default=12)
    _at_least(layout["title"], "font", TITLE_PX)
    for owner in (layout["legend"], layout["hoverlabel"], *layout.get("annotations", ())):
        _at_least(owner, "font", TEXT_PX)
    for name, axis in layout.items():
        if _AXIS.fullmatch(name):
            _at_least(axis["title"], "font", TEXT_PX)
            _at_least(axis, "tickfont", TEXT_PX)
    traces = spec.get("data", ())
    if not any(t.get("type") in ("image", "heatmap") for t in traces):
        for trace in traces:
            if trace.get("type", "scatter") == "scatter" and "text" in trace.get("mode", ""):
                _at_least(trace, "textfont", TEXT_PX)


def _at_least(owner: dict[str, Any], font: str, px: float, default: float = 0) -> None:
    part = owner.setdefault(font, {})
    part["size"] = max(part.get("size") or default, px)


def _clear_of_the_mode_bar(layout: dict[str, Any]) -> None:
    """Moves what a figure draws above its plot area (``layout``'s title, annotations at
    the paper's top such as ``make_subplots``' panel titles) under the mode bar's strip."""
    base = float(layout.get("font", {}).get("size") or 12)
    above = []  # px each text needs above the plot area, its own offset included
    title = layout["title"]
    if title.get("text"):
        # Just above the plot area (plotly centres it in the top margin, in the strip).
        title |= {"yref": "paper", "y": 1, "yanchor": "bottom"}
        pad = title.setdefault("pad", {})
        size = float(title["font"].get("size") or round(base * 1.4))
        # Plotly draws a title's first line at its anchor and the others under it, over
        # the plot (a confusion matrix's title broken in three covered its first row):
        # lifted by those lines.
        below = (_lines(title["text"]) - 1) * size * _LINE
        pad["b"] = max(float(pad.get("b") or 0), TITLE_PAD_PX) + below
        above.append(pad["b"] + size * _LINE)
    for note in layout.get("annotations", ()):
        on_top = note.get("yref") == "paper" and float(note.get("y", 0.5)) >= 1.0
        if on_top and note.get("yanchor", "bottom") in ("bottom", "auto"):
            size = float(note["font"].get("size") or base)
            lift = max(float(note.get("yshift") or 0), 0.0)
            above.append(lift + _lines(str(note.get("text", ""))) * size * _LINE)
    if not above:
        return
    margin = layout.setdefault("margin", {})
    need = MODEBAR_PX + math.ceil(max(above))
    top = margin.get("t")
    if top is not None and top >= need:
        return
    margin["t"] = need
    if top is not None and layout.get("height") is not None:
        layout["height"] = layout["height"] + need - top


def _lines(text: str) -> int:
    """The lines of a plotly text (``<br>`` breaks them)."""
    return 1 + len(re.findall(r"<br\s*/?>", text, flags=re.IGNORECASE))


#: A cartesian axis of a figure's layout: ``xaxis``, ``yaxis2``...
_AXIS = re.compile(r"[xy]axis\d*")


def _colour(owner: dict[str, Any], font: str, colour: str) -> None:
    owner.setdefault(font, {})["color"] = colour
