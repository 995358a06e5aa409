"""Plotly figures of evaluations: ROC and precision-recall curves of several models on one
chart, published reference points, and confusion matrices.

The figures take :class:`~mcalc.models.analysis.LevelAnalysis` results and plain values;
the Evaluate page only draws them. Curve coordinates are plain lists, so a figure's JSON
holds them as numbers.

Example:
    >>> import numpy as np
    >>> from mcalc.models.analysis import analyse
    >>> from mcalc.models.scores import EvalScores
    >>> s = EvalScores(("no", "yes"), ("yes",), np.array([0, 1, 0, 1]),
    ...     np.array([[.9, .1], [.2, .8], [.6, .4], [.3, .7]]), list("abcd"), list("abcd"),
    ...     list("abcd"))
    >>> fig = roc_figure([CurveEntry("m", analyse(s, "patch", n_boot=0), 0.5, None)])
    >>> fig.data[1].name
    'm · AUC 1.000'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from mcalc.explain.overlay import halo
from mcalc.models.analysis import LevelAnalysis
from mcalc.models.curves import OperatingPoint
from mcalc.models.published import PUBLISHED, PublishedResult, binormal_point
from mcalc.present.palette import ModelStyle, model_style

__all__ = [
    "CurveEntry",
    "auc_text",
    "curve_trace",
    "roc_figure",
    "pr_figure",
    "confusion_figure",
    "CONFUSION_SCALE",
    "LEGEND_CHARS",
    "TITLE_CHARS",
    "wrap_text",
]

#: The published points' stars: 3.4:1 on white, 5.4:1 on the dark theme (3:1 for a graphic).
#: Their labels are text, in the layout's font colour (#8c8c8c read 3.4:1 on white).
_ANCHOR_COLOR = "#8c8c8c"


@dataclass(frozen=True)
class CurveEntry:
    """One model's curves on a chart.

    Attributes:
        name: the legend's name (model id).
        analysis: the level's curves and AUC.
        threshold: the operating threshold marked on the curve.
        point: sensitivity and specificity at ``threshold`` (``None``: not marked).
    """

    name: str
    analysis: LevelAnalysis
    threshold: float
    point: OperatingPoint | None


#: The characters a line of a ROC or precision-recall legend entry holds: the charts are
#: half the page's width, about 330 px of legend at a projector's 1024 px of page, in the
#: page's 14 px (:data:`mcalc.present.chart_style.TEXT_PX`; "demo-custom · AUC 0.974,
#: 95% CI 0.952–0.992", 43 characters, fits).
LEGEND_CHARS = 44
#: ... and of a confusion matrix's 17 px title, in a third of that page (about 215 px).
TITLE_CHARS = 24


def wrap_text(text: str, width: int) -> str:
    """``text`` in lines (plotly's ``<br>``) of at most ``width`` characters where it can
    be broken: at a `` · `` (which goes) and after a hyphen (which stays); a longer part
    keeps its line.

    >>> wrap_text("custom-calcification-20261207-190452 · AP 0.185", 40)
    'custom-calcification-20261207-190452<br>AP 0.185'
    >>> wrap_text("demo-custom · AP 0.951", 40)
    'demo-custom · AP 0.951'
    """
    lines, line = [], ""
    for part in re.split(r"(?<= · )|(?<=-)", text):
        if line and len((line + part).rstrip(" ·")) > width:
            lines.append(line.removesuffix(" · "))
            line = part
        else:
            line += part
    return "<br>".join([*lines, line])


def auc_text(analysis: LevelAnalysis) -> str:
    """``AUC 0.912, 95% CI 0.871–0.948``, or ``AUC n/a`` when undefined; the interval is
    shown as the metrics table shows it (:func:`mcalc.models.analysis.ci_text`)."""
    if analysis.auc is None:
        return "AUC n/a"
    text = f"AUC {analysis.auc:.3f}"
    shown = analysis.ci_text
    if analysis.auc_ci is not None and shown is not None:
        text += f", {analysis.auc_ci.level:.0%} CI {shown}"
    return text


def curve_trace(
    x: Sequence[float],
    y: Sequence[float],
    name: str,
    color: str,
    *,
    hover: str,
    dash: str = "solid",
    customdata: Sequence[str] | None = None,
    group: str | None = None,
    shape: str = "hv",
    width: float = 2.5,
) -> go.Scatter:
    """One model's curve as a step line (ROC, precision-recall, FROC alike).

    Args:
        x, y: the curve's points (plain lists, so a figure's JSON holds numbers).
        name: the legend's text; color, dash: the model's colour and line dash
            (:func:`mcalc.present.palette.model_style`).
        hover: the hover text (plotly template; ``<extra></extra>`` is added).
        customdata: per-point text the hover may show (``%{customdata}``: thresholds).
        group: legend group, so a model's curve and marks toggle together.
        shape: ``hv`` (ROC, FROC) or ``vh`` (precision-recall) steps.
    """
    return go.Scatter(
        x=list(x),
        y=list(y),
        mode="lines",
        name=name,
        line={"color": color, "dash": dash, "width": width, "shape": shape},
        customdata=None if customdata is None else list(customdata),
        hovertemplate=hover + "<extra></extra>",
        legendgroup=group,
    )


def _drawn(
    entries: Sequence[CurveEntry], curve: str
) -> Iterator[tuple[CurveEntry, Any, ModelStyle]]:
    """``(entry, its roc or pr curve, its style)`` of the entries that have that curve; a
    model keeps its style (its place in ``entries``) whichever others are left out."""
    for i, entry in enumerate(entries):
        found = getattr(entry.analysis, curve)
        if found is not None:
            yield entry, found, model_style(i)


def _thresholds(values: Sequence[float]) -> list[str]:
    return ["none positive" if not math.isfinite(v) else f"{v:.4f}" for v in values]


def _layout(fig: go.Figure, title: str, x: str, y: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 40},
        # Below the x axis's title: at -0.14 of the plot's height its first entry touched
        # the title (Chromium, 1024 and 1280 px wide pages), at -0.18 too once the page
        # drew 14 px axis text (pages.theme.styled, h/projector).
        legend={"orientation": "h", "yanchor": "top", "y": -0.23, "x": 0.0, "font": {"size": 11}},
        hovermode="closest",
    )
    grid = {"showgrid": True, "zeroline": False, "range": [-0.02, 1.02]}
    fig.update_xaxes(title_text=x, constrain="domain", **grid)
    fig.update_yaxes(title_text=y, scaleanchor="x", scaleratio=1, **grid)
    return fig


def roc_figure(
    entries: Sequence[CurveEntry],
    *,
    anchors: Sequence[PublishedResult] = PUBLISHED,
    title: str = "ROC",
    height: int = 500,
) -> go.Figure:
    """ROC curves of several models, each with its operating point, and published points.

    A model whose level has no ROC curve (one class only) is left out of the chart.
    Published results appear as grey stars (see :func:`mcalc.models.published.binormal_point`).
    """
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="chance",
            # 3.7-4:1 on the light theme and the HTML report (#bbbbbb: 1.9:1), 4.1-4.6:1 dark
            line={"color": "#808080", "dash": "dash", "width": 1},
            hoverinfo="skip",
        )
    )
    for entry, curve, style in _drawn(entries, "roc"):
        fig.add_trace(
            curve_trace(
                curve.fpr,
                curve.tpr,
                wrap_text(f"{entry.name} · {auc_text(entry.analysis)}", LEGEND_CHARS),
                style.color,
                dash=style.dash,
                hover=f"<b>{entry.name}</b><br>threshold %{{customdata}}<br>"
                "sensitivity %{y:.3f}<br>1 − specificity %{x:.3f}",
                customdata=_thresholds(curve.thresholds),
                group=entry.name,
            )
        )
        if entry.point is not None:
            p = entry.point
            fig.add_trace(
                go.Scatter(
                    x=[1.0 - p.specificity],
                    y=[p.sensitivity],
                    mode="markers",
                    name=f"{entry.name} at threshold {entry.threshold:.2f}",
                    marker={
                        "color": style.color,
                        "symbol": style.symbol,
                        "size": 12,
                        "line": {"color": "white", "width": 2},
                    },
                    hovertemplate=(
                        f"<b>{entry.name}</b> at threshold {entry.threshold:.2f}<br>"
                        f"sensitivity {p.sensitivity:.3f}<br>specificity {p.specificity:.3f}"
                        "<extra></extra>"
                    ),
                    legendgroup=entry.name,
                    showlegend=False,
                )
            )
    for k, anchor in enumerate(anchors):
        if anchor.auc is None:
            continue
        fpr, tpr = binormal_point(anchor.auc)
        fig.add_trace(
            go.Scatter(
                x=[fpr],
                y=[tpr],
                mode="markers+text",
                # Two lines: on one (79 characters) it was cut in half a page's width at
                # 1024 px (a projector's 1280 at 125 %); the PDF prints it as one text.
                name=f"{anchor.label}:<br>AUC {anchor.auc:.2f} (published; other task and data)",
                marker={"symbol": "star", "size": 15, "color": _ANCHOR_COLOR},
                text=[f"AUC {anchor.auc:.2f}"],
                # Above, then below its star: the two published points lie close, and
                # their labels overlapped at a projector's 14 px (h/projector).
                textposition=("top right", "bottom right")[k % 2],
                textfont={"size": 11},
                hovertemplate=(
                    f"<b>{anchor.label}</b><br>{anchor.citation}<br>{anchor.task}<br>"
                    f"accuracy {anchor.accuracy:.1%}, AUC {anchor.auc:.2f}<br>"
                    "placed at sensitivity = specificity of a binormal curve with this AUC"
                    "<extra></extra>"
                ),
            )
        )
    return _layout(
        fig,
        title,
        "1 − specificity (false-positive rate)",
        "sensitivity (true-positive rate)",
        height,
    )


def pr_figure(
    entries: Sequence[CurveEntry], *, title: str = "Precision-recall", height: int = 500
) -> go.Figure:
    """Precision-recall curves with each model's average precision; a dotted line at the
    prevalence shows what guessing achieves: one grey line, named in the legend, where the
    models share it (the same cases), else one per model in its colour, each named."""
    fig = go.Figure()
    drawn = list(_drawn(entries, "pr"))
    shared = len({round(pr.prevalence, 9) for _, pr, _ in drawn}) == 1
    if shared:
        prevalence = drawn[0][1].prevalence
        fig.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[prevalence, prevalence],
                mode="lines",
                name=f"chance: prevalence {prevalence:.2f}",
                # as the ROC's chance line: 3.7-4:1 on the light theme, 4.1-4.6:1 dark
                line={"color": "#808080", "dash": "dot", "width": 1},
                hoverinfo="skip",
            )
        )
    for entry, pr, style in drawn:
        fig.add_trace(
            curve_trace(
                pr.recall,
                pr.precision,
                wrap_text(f"{entry.name} · AP {pr.average_precision:.3f}", LEGEND_CHARS),
                style.color,
                dash=style.dash,
                hover=f"<b>{entry.name}</b><br>threshold %{{customdata}}<br>"
                "precision %{y:.3f}<br>recall %{x:.3f}",
                customdata=[*_thresholds(pr.thresholds), "none positive"],
                group=entry.name,
                shape="vh",
            )
        )
        if not shared:
            fig.add_trace(
                go.Scatter(
                    x=[0, 1],
                    y=[pr.prevalence, pr.prevalence],
                    mode="lines",
                    name=wrap_text(
                        f"{entry.name} · chance: prevalence {pr.prevalence:.2f}", LEGEND_CHARS
                    ),
                    line={"color": style.color, "dash": "dot", "width": 1},
                    hoverinfo="skip",
                    legendgroup=entry.name,
                )
            )
    return _layout(fig, title, "recall (sensitivity)", "precision (PPV)", height)


#: The confusion matrix's colours, from no case to the largest count: plotly's Blues
#: (#2171b5) made lighter and darker until the lightest cell reads 3.16:1 on white (the
#: printed page, the light theme) and the darkest 3.09:1 on the dark theme's #171614,
#: WCAG 2's 3:1 for a graphic. "Blues" began at #f7fbff, 1.04:1 on white: a cell of few
#: cases was not there but for its number (docs/measurements.md, h/print).
CONFUSION_SCALE: tuple[tuple[float, str], ...] = ((0.0, "#5b96c8"), (1.0, "#1e68a7"))


def _cell_colour(fraction: float) -> tuple[int, int, int]:
    """The colour of a cell at ``fraction`` of the largest count (plotly's linear scale)."""
    (_, low), (_, high) = CONFUSION_SCALE
    start, end = ([int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in (low, high))
    red, green, blue = (round(x + fraction * (y - x)) for x, y in zip(start, end, strict=True))
    return red, green, blue


def confusion_figure(
    matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str, *, height: int = 300
) -> go.Figure:
    """A confusion matrix as an annotated heatmap (rows: truth, columns: prediction).

    Cells are coloured from none (:data:`CONFUSION_SCALE`'s first colour) to the largest
    count, parted by a gap of the page, and each count is written in black or white,
    whichever reads better on its cell (:func:`mcalc.explain.overlay.halo`, 4.58:1 at
    least), as a text trace over the heatmap (a heatmap's text has one colour).
    """
    z = [list(map(int, row)) for row in matrix]
    labels = list(labels)
    top = max(1, max((v for row in z for v in row), default=0))
    cells = [(labels[j], labels[i], v) for i, row in enumerate(z) for j, v in enumerate(row)]
    ink = ["#{:02x}{:02x}{:02x}".format(*halo(_cell_colour(v / top))) for *_, v in cells]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale=[list(stop) for stop in CONFUSION_SCALE],
            zmin=0,
            zmax=top,
            xgap=2,
            ygap=2,
            showscale=False,
            hovertemplate="truth %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[c[0] for c in cells],
            y=[c[1] for c in cells],
            mode="text",
            text=[str(c[2]) for c in cells],
            textfont={"size": 16, "color": ink},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    fig.update_xaxes(title_text="predicted", tickangle=0, side="bottom", type="category")
    fig.update_yaxes(title_text="truth", autorange="reversed", type="category")
    fig.update_layout(
        title={
            "text": wrap_text(title, TITLE_CHARS),
            "x": 0.0,
            "xanchor": "left",
            "font": {"size": 13},
        },
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig
