"""The Train page's curves: an accuracy panel with no finished epoch says why it is empty."""

from __future__ import annotations

import pytest

from mcalc.jobs.progress import Progress
from mcalc.present.train_figures import curves_figure


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
