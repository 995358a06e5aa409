"""Image panels side by side (Browse's pairs, Predict's *Across exams*) as high as the
width they are given asks for, for the images to show whole and as wide as their panels.

A figure's height is fixed in pixels when it is made, before the browser knows the width:
620 px was too tall for a 1280x720 projector (the pair ran off the screen) and left the
images narrow at 1920 px. Streamlit's chart takes its container's height (``height=
"stretch"``); a style rule of the container sets that height from its own width (CSS
container units: ``cqw``), by :func:`mcalc.present.viewer_figures.height_for_width`, and at
most the window's height less :data:`ABOVE_PX`, for the pair to fit on one screen.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from mcalc.present.viewer_figures import height_for_width
from pages import theme

__all__ = ["ABOVE_PX", "MIN_PX", "image_pair_chart", "pair_height_css"]

#: The window's height kept for what is above the pair on a screen (the app's header, the
#: panel choice): at 720 px high a pair is at most 560 px.
ABOVE_PX = 160
#: The least height of a pair: a window too small otherwise still shows images.
MIN_PX = 320


def pair_height_css(key: str, fig: go.Figure, aspect: float) -> str:
    """The style rules that size the chart of container ``key`` (an ``st.container``'s key)
    with its width.

    >>> from mcalc.present.viewer_figures import image_panels
    >>> css = pair_height_css("k", image_panels(["a", "b"], 620), 1.25)
    >>> css[css.index("{ height"):]
    '{ height: max(320px, min(calc(61.2500cqw + 37.75px), calc(100vh - 160px))); }</style>'
    """
    per_px, fixed = height_for_width(fig, aspect)
    box = f".st-key-{key}"
    return (
        f"<style>{box} {{ container-type: inline-size; }} "
        f"{box} [data-testid='stElementContainer']:has([data-testid='stPlotlyChart']) "
        f"{{ height: max({MIN_PX}px, min(calc({per_px * 100:.4f}cqw + {fixed:.2f}px), "
        f"calc(100vh - {ABOVE_PX}px))); }}</style>"
    )


def image_pair_chart(fig: go.Figure, aspect: float, *, key: str, **kwargs: Any) -> Any:
    """``st.plotly_chart`` of ``fig`` (styled for the theme, as wide as the page) as high as
    its width asks for images of ``aspect`` (height over width); ``kwargs`` go to
    ``st.plotly_chart``. Returns what it returns (a selection, with ``on_select``)."""
    box = st.container(key=f"{key}_box")
    # The height from the figure as drawn (styling lowers its titles under the mode bar).
    box.html(pair_height_css(f"{key}_box", theme.styled(fig), aspect))
    return box.plotly_chart(theme.styled(fig), width="stretch", height="stretch", key=key, **kwargs)
