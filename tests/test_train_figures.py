"""The Train page's curves: an accuracy panel with no finished epoch says why it is empty."""

from __future__ import annotations

import pytest

from mcalc.jobs.progress import Progress
from mcalc.present.train_figures import curves_figure
from pages.theme import BACKGROUNDS, contrast


def _notes(fig) -> list[str]:
    """The notes placed over the accuracy panel (the subplot titles are annotations too)."""
    (x0, x1) = fig.layout.xaxis2.domain
    return [
        a.text
        for a in fig.layout.annotations
        if a.xref == "paper" and x0 < a.x < x1 and a.text not in ("Loss", "Accuracy")
    ]


@pytest.mark.parametrize(
    ("ended", "why"),
    [
        (None, "No epoch has finished yet"),
        ("cancelled", "No epoch finished before it was cancelled"),
        ("failed", "No epoch finished before it failed"),
    ],
)
def test_accuracy_panel_without_an_epoch_says_why(ended, why):
    fig = curves_figure(Progress(steps=4, batch_loss=((1, 0.7), (2, 0.69))), ended=ended)
    assert [n.split(":")[0] for n in _notes(fig)] == [why]
    assert not [t for t in fig.data if t.xaxis == "x2"]


def test_accuracy_panel_with_an_epoch_has_no_note():
    history = ({"stage": "train", "epoch": 1, "global_epoch": 1, "loss": 0.6, "accuracy": 0.7},)
    fig = curves_figure(
        Progress(steps=4, batch_loss=((1, 0.7),), history=history), ended="cancelled"
    )
    assert _notes(fig) == []
    assert [list(t.y) for t in fig.data if t.xaxis == "x2"] == [[0.7]]


def test_every_curve_reads_on_both_themes_backgrounds():
    """Each curve is 3:1 or more on the light and dark themes' page (WCAG 2's minimum for a
    graphic): the batch loss, drawn in a blue faded to 0.45, read 1.8:1 on both."""
    history = (
        {"global_epoch": 1, "loss": 0.6, "val_loss": 0.7, "accuracy": 0.7, "val_accuracy": 0.6},
    )
    fig = curves_figure(Progress(steps=4, batch_loss=((1, 0.7), (2, 0.6)), history=history))
    assert len(fig.data) == 5
    for trace in fig.data:
        colour, alpha = _opacity(trace.line.color)
        for kind in ("light", "dark"):
            back = BACKGROUNDS[kind][0]
            assert contrast(colour, back, alpha) >= 3.0, (trace.name, trace.line.color, kind)


def _opacity(colour: str) -> tuple[str, float]:
    """``#rrggbb`` and opacity of a ``#rrggbb`` or ``rgba(r,g,b,a)`` colour."""
    if not colour.startswith("rgba("):
        return colour, 1.0
    *rgb, alpha = colour[5:-1].split(",")
    return "#" + "".join(f"{int(c):02x}" for c in rgb), float(alpha)
