"""The app's own colours read in Streamlit's light theme as in its dark one (pages/theme.py)."""

from __future__ import annotations

import re

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from pages import theme

APP = "../app.py"


def _streamlit_defaults(option: str) -> dict[str, set[str]]:
    """The colours Streamlit's own description of ``theme.<option>`` names per theme."""
    config.get_option("theme.base")  # loads the options
    text = config._config_options[f"theme.{option}"].description or ""
    found: dict[str, set[str]] = {"light": set(), "dark": set()}
    for colour, kind in re.findall(r"(#[0-9a-f]{6})\s*(?:for the |\()(light|dark)", text):
        found[kind].add(colour)
    return found


def test_the_backgrounds_and_text_are_streamlits_defaults():
    """The colours below are measured against Streamlit's own: its page, sidebar and widget
    backgrounds and its text colour, per theme (the config sets none of them)."""
    back = _streamlit_defaults("backgroundColor")
    widgets = _streamlit_defaults("secondaryBackgroundColor")
    text = _streamlit_defaults("textColor")
    for kind in ("light", "dark"):
        assert set(theme.BACKGROUNDS[kind]) == back[kind] | widgets[kind], (kind, back, widgets)
        # the page's and the sidebar's first (Streamlit's backgroundColor names both)
        assert (
            set(theme.BACKGROUNDS[kind][:2]) == back[kind]
            and theme.BACKGROUNDS[kind][0] in back[kind]
        )
        assert {theme.TEXT[kind]} == text[kind], text
    for option in ("backgroundColor", "secondaryBackgroundColor", "textColor"):
        assert config.get_option(f"theme.{option}") is None, option


@pytest.mark.parametrize("kind", ["light", "dark"])
def test_the_frames_colours_are_legible_on_the_themes_backgrounds(kind):
    """A slider's value, a caption (Streamlit's faded text) and a link's focus ring, as the
    frame's style draws them in ``kind``; and Train's block statuses. With the dark theme's
    colours the light theme read 3.0-3.1:1 (slider value), 3.8-3.9:1 (captions), 1.9-2:1
    (focus ring) and 2.7-3.5:1 (statuses; axe-core and docs/measurements.md, h/a11y)."""
    css = theme.theme_css(kind)
    [slider] = re.findall(r"stSliderThumbValue'\] \{ color: (#[0-9a-f]{6})", css)
    [ring] = re.findall(r"outline: 2px solid (#[0-9a-f]{6})", css)
    opacity = re.findall(r"stCaptionContainer'\] \{ opacity: ([0-9.]+)", css)
    caption = float(opacity[0]) if opacity else 0.6  # Streamlit's own fade
    for back in theme.BACKGROUNDS[kind][:2]:  # the page's and the sidebar's (not a widget's)
        assert theme.contrast(slider, back) >= 4.5, (slider, back)
        assert theme.contrast(theme.TEXT[kind], back, caption) >= 4.5, (caption, back)
        assert theme.contrast(ring, back) >= 3.0, (ring, back)
    page = theme.BACKGROUNDS[kind][0]  # tables draw on the page's background
    for status, colour in theme.status_colours(kind).items():
        assert theme.contrast(colour, page) >= 4.5, (status, colour, page)


@pytest.mark.parametrize("kind", ["light", "dark"])
def test_the_frame_draws_the_configured_themes_colours(app_env, kind):
    """The app runs with the config's base (dark) or ``--theme.base light``: its style is
    that theme's (it was the dark theme's whatever the base)."""
    option = config._config_options["theme.base"]
    before = (option.value, option.where_defined)
    config.set_option("theme.base", kind, where_defined="tests/test_theme.py")
    try:
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
    finally:
        config.set_option("theme.base", *before)
    assert not at.exception, [e.value for e in at.exception]
    [style] = [h.proto.body for h in at.get("html") if "stSliderThumbValue" in h.proto.body]
    assert theme.SLIDER_VALUE[kind] in style and theme.FOCUS_RING[kind] in style, style
    other = "dark" if kind == "light" else "light"
    assert theme.SLIDER_VALUE[other] not in style, style


def test_the_roc_charts_chance_line_shows_on_both_themes_and_in_the_report():
    """The dashed chance diagonal is drawn on the theme's background (the HTML report's is
    white): #bbbbbb read 1.9:1 on white (a graphic needs 3:1)."""
    from mcalc.present.eval_figures import roc_figure

    [chance] = [t for t in roc_figure([]).data if t.name == "chance"]
    for back in (*theme.BACKGROUNDS["light"][:2], *theme.BACKGROUNDS["dark"][:2]):
        assert theme.contrast(chance.line.color, back) >= 3.0, (chance.line.color, back)
