"""How figures that compare models tell them apart: a colour, a line dash and a marker
per model, in order (:func:`model_style`). Evaluate's ROC, precision-recall and FROC
charts and the evaluation report draw every model with it.

The colours are Paul Tol's *bright* scheme, chosen to stay apart for colour-blind readers
(https://personal.sron.nl/~pault/#sec:qualitative), each made darker or lighter (same hue
and saturation) until its relative luminance lies between 0.15 and 0.23. A line then reads
at least 3:1 (WCAG 2's minimum for a graphic) on every background a chart is drawn on: the
app's light theme (white), its dark one (#171614, #21201d) and the HTML report's plot area
(plotly's #e5ecf6). Plotly's default sequence (#636efa, #ef553b, #00cc96, ...) read 1.2-2.1:1
on white from its third colour on. ``tests/test_palette.py`` measures them.

A colour-blind reader sees some pairs of such mid-tone colours alike (few hues keep apart
in so narrow a band of lightness), so each model's curve also has its own dash and its
operating point its own marker. The PDF report (:mod:`mcalc.present.report_pdf`) prints
them as the screen draws them: each dash's pattern (:data:`DASH_PATTERNS`) and each marker's
outline (:data:`MARKER_OUTLINES`) are plotly.js's own, so that a grey-scale print keeps them.

Example:
    >>> model_style(0)
    ModelStyle(color='#4172a4', dash='solid', symbol='circle')
    >>> model_style(7).color == MODEL_COLORS[1] and model_style(7).dash == MODEL_DASHES[2]
    True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MODEL_COLORS",
    "MODEL_DASHES",
    "MODEL_SYMBOLS",
    "DASH_PATTERNS",
    "MARKER_OUTLINES",
    "ModelStyle",
    "model_style",
]

#: One colour per model, in order (Tol's bright blue, red, green, yellow, cyan, purple at
#: luminance 0.16, 0.22, 0.19, 0.22, 0.22, 0.15).
MODEL_COLORS: tuple[str, ...] = (
    "#4172a4",
    "#ea3e53",
    "#238a34",
    "#918327",
    "#148bb2",
    "#bc3884",
)
#: One plotly line dash per model; five against six colours, so 30 models differ in both.
MODEL_DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash")
#: One plotly marker symbol per model (an operating point), in step with the dashes.
MODEL_SYMBOLS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up", "cross")

#: Each plotly line dash as plotly.js draws it (``Drawing.dashStyle``): on and off lengths
#: in units of the line's width (3 px at least); "solid" none.
DASH_PATTERNS: dict[str, tuple[float, ...]] = {
    "solid": (),
    "dot": (1, 1),
    "dash": (3, 3),
    "longdash": (5, 5),
    "dashdot": (3, 1, 1, 1),
    "longdashdot": (5, 2, 1, 2),
}


def _star(r: float) -> tuple[tuple[float, float], ...]:
    x1, x2, x3, x4 = 0.225 * r, 0.951 * r, 0.363 * r, 0.588 * r
    y0, y1, y3, y4, y5 = -r, -0.309 * r, 0.118 * r, 0.809 * r, 0.382 * r
    right = [(x1, y1), (x2, y1), (x3, y3), (x4, y4)]
    return (*right, (0.0, y5), *[(-x, y) for x, y in reversed(right)], (0.0, y0))


_T = 2 / 3**0.5
#: Each plotly marker symbol's outline as plotly.js draws it (``symbol_defs.js``) for a
#: marker of radius 1 (half its ``size``), y downwards as on screen and in a PDF; "circle"
#: is the circle of radius 1 and has none.
MARKER_OUTLINES: dict[str, tuple[tuple[float, float], ...]] = {
    "square": ((1, 1), (-1, 1), (-1, -1), (1, -1)),
    "diamond": ((1.3, 0), (0, 1.3), (-1.3, 0), (0, -1.3)),
    "triangle-up": ((-_T, 0.5), (_T, 0.5), (0, -1)),
    "cross": (
        (1.2, 0.4),
        (0.4, 0.4),
        (0.4, 1.2),
        (-0.4, 1.2),
        (-0.4, 0.4),
        (-1.2, 0.4),
        (-1.2, -0.4),
        (-0.4, -0.4),
        (-0.4, -1.2),
        (0.4, -1.2),
        (0.4, -0.4),
        (1.2, -0.4),
    ),
    "star": _star(1.4),
}


@dataclass(frozen=True)
class ModelStyle:
    """How one model is drawn: its line and marker colour, line dash and marker symbol."""

    color: str
    dash: str
    symbol: str


def model_style(i: int) -> ModelStyle:
    """The style of the ``i``-th model of a figure (0-based; each sequence repeats)."""
    if i < 0:
        raise ValueError(f"a model's place is 0 or more, got {i}")
    return ModelStyle(
        MODEL_COLORS[i % len(MODEL_COLORS)],
        MODEL_DASHES[i % len(MODEL_DASHES)],
        MODEL_SYMBOLS[i % len(MODEL_SYMBOLS)],
    )
