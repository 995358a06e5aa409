"""Plotly figures of a training run's progress: loss per batch and metrics per epoch."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mcalc.jobs.progress import Progress

__all__ = ["curves_figure", "ENDED_HOW", "MAX_POINTS"]

#: Most batch-loss points drawn (longer runs are thinned evenly).
MAX_POINTS = 1500
#: The loss of each batch, behind the epochs' curves.
BATCH_LOSS_COLOR = "#808080"


def curves_figure(progress: Progress, height: int = 320, *, ended: str | None = None) -> go.Figure:
    """Loss (per batch and per epoch, training and validation) and accuracy per epoch.

    While no epoch has finished, the accuracy panel says so instead of staying empty.

    Args:
        progress: a snapshot from :func:`mcalc.jobs.read_progress`.
        height: figure height in pixels.
        ended: the job's state when it has ended (``done``, ``failed``, ``cancelled``);
            ``None`` while it runs. Names why an empty accuracy panel is empty.
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss", "Accuracy"))
    batches = list(progress.batch_loss)
    if len(batches) > MAX_POINTS:
        step = len(batches) / MAX_POINTS
        batches = [batches[int(i * step)] for i in range(MAX_POINTS)] + [batches[-1]]
    steps = max(progress.steps, 1)
    if batches:
        fig.add_trace(
            go.Scatter(
                x=[b / steps for b, _ in batches],
                y=[loss for _, loss in batches],
                mode="lines",
                name="batch loss",
                # Grey, so the epochs' blue train loss stands out; at full opacity, 4:1 on
                # white and 4.6:1 on the dark theme (the faded blue read 1.8:1 on both).
                line={"width": 1, "color": BATCH_LOSS_COLOR},
            ),
            row=1,
            col=1,
        )
    epochs = [h for h in progress.history if "global_epoch" in h]
    x = [h["global_epoch"] for h in epochs]
    for key, name, color, col in (
        ("loss", "train loss", "#636efa", 1),
        ("val_loss", "validation loss", "#ef553b", 1),
        ("accuracy", "train accuracy", "#636efa", 2),
        ("val_accuracy", "validation accuracy", "#ef553b", 2),
    ):
        points = [(xi, h.get(key)) for xi, h in zip(x, epochs, strict=True)]
        points = [(xi, y) for xi, y in points if isinstance(y, int | float)]
        if points:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    mode="lines+markers",
                    name=name,
                    line={"color": color, "dash": "solid" if "val" not in key else "dot"},
                ),
                row=1,
                col=col,
            )
    if not any(t.xaxis == "x2" for t in fig.data):
        # In paper coordinates over the panel: an axis with no trace is not drawn, and the
        # browser placed a note on "x2 domain" over the loss panel (Chromium, 5 Dec 2026).
        (x0, x1), (y0, y1) = fig.layout.xaxis2.domain, fig.layout.yaxis2.domain
        fig.add_annotation(
            text=_no_epoch_note(ended),
            xref="paper",
            yref="paper",
            x=(x0 + x1) / 2,
            y=(y0 + y1) / 2,
            xanchor="center",
            yanchor="middle",
            showarrow=False,
        )
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        height=height,
        margin={"l": 40, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.25},
        uirevision="train-curves",
    )
    return fig


#: How a job that ended early is said to have ended ("... before it was cancelled").
ENDED_HOW = {"cancelled": "was cancelled", "failed": "failed", "interrupted": "was interrupted"}


def _no_epoch_note(ended: str | None) -> str:
    """Why the accuracy panel (drawn once per finished epoch) has no point."""
    how = ENDED_HOW.get(ended or "")
    why = f"No epoch finished before it {how}" if how else "No epoch has finished yet"
    return f"{why}:<br>accuracy is drawn once per epoch."
