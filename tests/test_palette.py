"""The figures that compare models tell them apart legibly (mcalc/present/palette.py)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from mcalc.models.analysis import analyse
from mcalc.models.curves import OperatingPoint
from mcalc.models.scores import EvalScores
from mcalc.present import palette
from mcalc.present.eval_figures import CurveEntry, pr_figure, roc_figure
from mcalc.present.froc_figures import froc_figure
from pages.theme import BACKGROUNDS, contrast

#: More models than colours, so the sequences' repeat is drawn too.
MODELS = [f"m{i}" for i in range(len(palette.MODEL_COLORS) + 2)]


def _backgrounds() -> set[str]:
    """Where a figure's lines are drawn: the page and sidebar of the app's light and dark
    themes (Streamlit's plotly theme draws on the page's background) and the HTML report's
    paper and plot area: white where the app made it (Streamlit's template leaves them to
    plotly.js: white), plotly's own template's (#e5ecf6 plot area) where the CLI did."""
    plotly = pio.templates["plotly"].layout
    return {
        *BACKGROUNDS["light"][:2],
        *BACKGROUNDS["dark"][:2],
        "#ffffff",
        plotly.plot_bgcolor.lower(),
        "#ffffff" if plotly.paper_bgcolor == "white" else plotly.paper_bgcolor.lower(),
    }


def four_scores(labels: tuple[int, ...] = (0, 1, 0, 1)) -> EvalScores:
    """Four patches of four patients scored 0.1, 0.8, 0.4, 0.7 (also tests/test_chart_style)."""
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    return EvalScores(("no", "yes"), ("yes",), np.array(labels), probabilities, *[list("abcd")] * 3)


def _entries() -> list[CurveEntry]:
    analysis = analyse(four_scores(), "patch", n_boot=0)
    point = OperatingPoint(0.5, 1.0, 1.0, 0.0)
    return [CurveEntry(m, analysis, 0.5, point) for m in MODELS]


def _froc() -> go.Figure:
    ev = {
        "froc": [
            {"fp_per_image": 0.0, "sensitivity": 0.5},
            {"fp_per_image": 1.0, "sensitivity": 0.8},
        ],
        "band": None,
    }
    return froc_figure(dict.fromkeys(MODELS, ev))


def _curves(fig: go.Figure, named: str) -> list[go.Scatter]:
    """Each model's curve, in the models' order (``named``: its name after the model's)."""
    return [next(t for t in fig.data if t.name == m + named or t.name.startswith(m + named))
            for m in MODELS]  # fmt: skip


@pytest.mark.parametrize(
    ("figure", "named"),
    [
        (lambda: roc_figure(_entries(), anchors=()), " · AUC"),
        (lambda: pr_figure(_entries()), " · AP"),
        (_froc, ""),
    ],
    ids=["roc", "pr", "froc"],
)
def test_the_figures_draw_each_model_legibly_and_apart_without_colour(figure, named):
    """Every model's curve is 3:1 on every background it is drawn on (WCAG 2's minimum for
    a graphic), in the palette's colour, and has a dash of its own among the first five.
    With plotly's default colours the second model's line (#ef553b) read 2.9:1 on the
    report's plot area, the third's (#00cc96) 2.1:1 on white, and every curve was solid."""
    fig = figure()
    curves = _curves(fig, named)
    for i, curve in enumerate(curves):
        for back in sorted(_backgrounds()):
            assert contrast(curve.line.color, back) >= 3.0, (i, curve.line.color, back)
    for i, curve in enumerate(curves):
        style = palette.model_style(i)
        assert (curve.line.color, curve.line.dash) == (style.color, style.dash), (i, curve.line)
    first = curves[: len(palette.MODEL_DASHES)]
    assert len({c.line.dash for c in first}) == len(first)
    assert len({(c.line.color, c.line.dash) for c in curves}) == len(curves)


def test_the_roc_operating_points_have_a_marker_per_model():
    """The operating point of each model is drawn in its colour with its own symbol."""
    fig = roc_figure(_entries(), anchors=())
    points = [next(t for t in fig.data if t.name.startswith(f"{m} at threshold")) for m in MODELS]
    for i, p in enumerate(points):
        style = palette.model_style(i)
        assert (p.marker.color, p.marker.symbol) == (style.color, style.symbol)
    first = points[: len(palette.MODEL_SYMBOLS)]
    assert len({p.marker.symbol for p in first}) == len(first)


@pytest.mark.parametrize("color", palette.MODEL_COLORS)
def test_each_models_colour_reads_on_both_themes_and_in_the_report(color):
    for back in _backgrounds():
        assert contrast(color, back) >= 3.0, (color, back)


def test_a_models_place_is_not_negative():
    with pytest.raises(ValueError, match="0 or more, got -1"):
        palette.model_style(-1)


def test_every_dash_and_symbol_of_the_palette_has_its_printed_form() -> None:
    """The PDF report draws a dash or a marker from these tables (a name missing from them
    would print as a plain dash or a circle, not as the screen draws it)."""
    assert set(palette.MODEL_DASHES) <= set(palette.DASH_PATTERNS)
    assert set(palette.MODEL_SYMBOLS) - {"circle"} <= set(palette.MARKER_OUTLINES)
    assert "star" in palette.MARKER_OUTLINES  # the published points (eval_figures)
    for symbol, outline in palette.MARKER_OUTLINES.items():
        xs = [x for x, _ in outline]
        assert min(xs) == -max(xs) and 1 <= max(xs) <= 1.4, symbol  # centred, plotly's size


def test_the_pr_chance_line_is_one_named_line_when_shared_else_one_per_model():
    """Each model's prevalence was a dotted 1 px line in its colour, none in the legend:
    with several models on the same cases they lay on one another, and in print they read
    as the third model's dotted curve. Shared: one grey line, named with its value; apart
    (models on their own test patients): one per model, each named."""
    fig = pr_figure(_entries())
    chance = [t for t in fig.data if "prevalence" in (t.name or "")]
    assert [(t.name, t.line.color, t.showlegend) for t in chance] == [
        ("chance: prevalence 0.50", "#808080", None)
    ]
    other = CurveEntry("rare", analyse(four_scores((0, 1, 0, 0)), "patch", n_boot=0), 0.5, None)
    fig = pr_figure([_entries()[0], other])
    chance = [t for t in fig.data if "prevalence" in (t.name or "")]
    assert [(t.name, t.line.color, t.showlegend) for t in chance] == [
        ("m0 · chance: prevalence 0.50", palette.model_style(0).color, None),
        ("rare · chance: prevalence 0.25", palette.model_style(1).color, None),
    ]
