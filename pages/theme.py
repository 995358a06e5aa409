"""The app's own colours in Streamlit's light and dark themes, and which theme is shown.

Streamlit colours its widgets from the theme. The app colours a few things itself (the
frame's style in :data:`pages.common.STALE_CSS`, Train's block statuses); a colour chosen
for the dark theme (``base = "dark"`` in ``.streamlit/config.toml``) read at 2-3.5:1 on
the light theme's white (a server run with ``--theme.base light``; docs/measurements.md,
h/a11y, 7 December), so each is picked here per theme, at least 4.5:1 on that theme's
backgrounds for text and 3:1 for a focus ring (``tests/test_theme.py`` measures them).
Charts take their text colours from here too (:func:`styled`).
"""

from __future__ import annotations

from typing import Literal

import plotly.graph_objects as go
import streamlit as st

from mcalc.present.chart_style import ChartColours, style_figure

__all__ = [
    "BACKGROUNDS",
    "STATUS_COLOURS",
    "TEXT",
    "Theme",
    "chart_colours",
    "contrast",
    "status_colours",
    "styled",
    "theme_css",
    "theme_type",
]

Theme = Literal["light", "dark"]

#: The backgrounds per theme: the page's, the sidebar's, then a widget's (Streamlit 1.67's
#: defaults; the config sets none of its own). Text outside a widget is on the first two.
BACKGROUNDS: dict[Theme, tuple[str, ...]] = {
    "light": ("#ffffff", "#f8f8f7", "#f1f0ee"),
    "dark": ("#171614", "#21201d", "#2d2b27"),
}
#: The text colour (Streamlit 1.67's defaults).
TEXT: dict[Theme, str] = {"light": "#2f2d2b", "dark": "#edebe8"}
#: Train's block statuses (text in a table drawn on the page's background).
STATUS_COLOURS: dict[Theme, dict[str, str]] = {
    "light": {"trains": "#1f7a44", "frozen": "#2f5aa0", "partly": "#7d5c12", "fixed": "#5f5f5f"},
    "dark": {"trains": "#2e9d57", "frozen": "#7a9fdb", "partly": "#c9962a", "fixed": "#9a9a9a"},
}
#: A slider's value: Streamlit writes it in the primary colour, dark enough for white text
#: on it (buttons, tags) and so 4:1 on the dark background and 4.3:1 on the light sidebar.
SLIDER_VALUE: dict[Theme, str] = {"light": "#c0223f", "dark": "#f0607f"}
#: The ring round a focused link (Streamlit gives a focused page link only the faint
#: background the current page also has).
FOCUS_RING: dict[Theme, str] = {"light": "#0277bd", "dark": "#4fc3f7"}
#: How opaque a caption is: Streamlit fades it to 0.6, 3.8:1 on the light sidebar.
CAPTION_OPACITY: dict[Theme, float | None] = {"light": 0.72, "dark": None}


def theme_type() -> Theme:
    """The theme the browser shows. The configured base when there is one: the app has no
    settings menu to change it (``client.toolbarMode = "minimal"``), and Streamlit's own
    report (``st.context.theme``) may be wrong on a session's first run; that report where
    no base is set (the browser's preference then decides), else light."""
    base = st.get_option("theme.base")
    if base in ("light", "dark"):
        return base
    reported = st.context.theme.type
    return "dark" if reported == "dark" else "light"


def status_colours(theme: Theme) -> dict[str, str]:
    """Train's block status -> its text colour in ``theme``."""
    return STATUS_COLOURS[theme]


def chart_colours(theme: Theme) -> ChartColours:
    """A chart's text colours in ``theme``: the page's text on the page's background."""
    page, _, widget = BACKGROUNDS[theme]
    return ChartColours(text=TEXT[theme], background=page, surface=widget)


def styled(fig: go.Figure) -> go.Figure:
    """``fig`` (a figure builder's; a styled copy is returned) with its text in the shown theme's
    colours, for ``st.plotly_chart`` (Streamlit's plotly theme left axis titles, tick labels
    and panel titles at 3.7:1 on the light theme's white)."""
    return style_figure(fig, chart_colours(theme_type()))


def theme_css(theme: Theme) -> str:
    """The frame's style rules that depend on the theme (a ``<style>`` element)."""
    rules = [
        # Where the keyboard is, on the sidebar's page links and the page's links.
        "[data-testid='stSidebar'] a:focus-visible, [data-testid='stMain'] a:focus-visible"
        f" {{ outline: 2px solid {FOCUS_RING[theme]} !important; outline-offset: 1px; }}",
        f"[data-testid='stSliderThumbValue'] {{ color: {SLIDER_VALUE[theme]} !important; }}",
    ]
    opacity = CAPTION_OPACITY[theme]
    if opacity is not None:
        rules.append(f"[data-testid='stCaptionContainer'] {{ opacity: {opacity} !important; }}")
    return "<style>" + " ".join(rules) + "</style>"


def contrast(a: str, b: str, alpha: float = 1.0) -> float:
    """The WCAG 2 contrast ratio of colour ``a`` drawn at opacity ``alpha`` over ``b``
    (both ``#rrggbb``).

    >>> round(contrast("#767676", "#ffffff"), 2)  # WCAG's own example
    4.54
    """

    def channels(c: str) -> list[float]:
        return [int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)]

    def luminance(v: list[float]) -> float:
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]

    back = channels(b)
    front = [alpha * f + (1 - alpha) * g for f, g in zip(channels(a), back, strict=True)]
    hi, lo = sorted((luminance(front), luminance(back)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
