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

from dataclasses import dataclass

import plotly.graph_objects as go

__all__ = ["ChartColours", "style_figure"]


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
    """Draw every text of ``fig`` that lies on its background in ``colours.text``.

    Sets the layout's font (which annotations, colour bars and a trace's text inherit), the
    title, legend, every axis's title and tick labels, every annotation (each is taken to be
    on the background: the panel titles of :func:`~mcalc.present.viewer_figures.image_panels`,
    notes), hover labels and an animation's buttons. A trace's own text colour (labels drawn
    on an image) and the data's colours are left as they are.

    Args:
        fig: the figure, changed in place (a figure builder's fresh one).
        colours: the shown theme's colours.

    Returns:
        ``fig``, for ``st.plotly_chart(style_figure(build(...), colours))``.
    """
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
    return fig
