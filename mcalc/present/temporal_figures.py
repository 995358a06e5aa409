"""Plotly figures of the temporal views: recent beside subtraction, flicker or swipe.

Both panels are on the recent image's grid (the prior is registered onto it), placed in
full-resolution recent pixels like :mod:`mcalc.present.viewer_figures`, and share their
axes, so zoom and pan move them together and a marker sits at the same place in each.
Flicker and swipe run in the browser (plotly frames): zoom and pan survive them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from mcalc.dataset.records import CaseRecord
from mcalc.present.reading import panel_label, round_label
from mcalc.present.viewer_figures import data_uri, image_panels
from mcalc.temporal.change import (
    MOVED_COLUMN,
    PRIOR_COLUMN,
    RECENT_COLUMN,
    Tracked,
    position_text,
)
from mcalc.temporal.display import TemporalView
from mcalc.temporal.register import NOT_REGISTERED

__all__ = [
    "COLUMN_HELP",
    "DIAMETER_COLUMN",
    "HULL_COLUMN",
    "MEMBERS_COLUMN",
    "MODES",
    "READING",
    "STATUS_COLORS",
    "STATUS_GLYPHS",
    "STATUS_NAMES",
    "TABLE_READING",
    "status_legend",
    "temporal_figure",
    "tracked_rows",
]

MODES = ("subtraction", "change", "flicker", "swipe", "prior")
#: The change table's size columns (:func:`tracked_rows`), each "prior → recent".
DIAMETER_COLUMN = "diameter (mm)"
MEMBERS_COLUMN = "members"
HULL_COLUMN = "hull (mm²)"
#: Said under a change table, with :func:`mcalc.temporal.change.status_meaning`.
TABLE_READING = (
    "Positions are (row, col) in full-resolution pixels of each exam's file; sizes read "
    "prior → recent, the prior carried onto the recent image through the registration where "
    "found in both exams (hover a header for more)."
)
#: A tooltip for each change-table column (Browse's and Predict's), what its short header
#: leaves out.
COLUMN_HELP = {
    RECENT_COLUMN: "Centre (row, col) in full-resolution pixels of the recent file (not the "
    "preview's).",
    PRIOR_COLUMN: "Centre (row, col) in full-resolution pixels of the prior file (not the "
    "preview's).",
    MOVED_COLUMN: "Apart after registration: the prior centre mapped into the recent image "
    "against the recent one (the matching's distance), not how far it moved in the files.",
    DIAMETER_COLUMN: "A calcification's diameter (the disc of its area), prior → recent; the "
    "prior's carried onto the recent image through the registration where found in both "
    "exams, what grown compares.",
    MEMBERS_COLUMN: "A cluster's calcifications, prior → recent.",
    HULL_COLUMN: "A cluster's convex hull, prior → recent; the prior's carried onto the "
    "recent image through the registration where found in both exams, what grown compares "
    "(the prior's own hull: prior_area_mm2 in the CLI's JSON).",
}
STATUS_COLORS = {
    "new": "#ff3b3b",
    # Not the dataset's cyan (DATASET_COLOR): a view without temporal data draws the
    # radiologists' marks in cyan, read as "stable" beside the legend.
    "stable": "#8c9eff",
    "grown": "#ffa500",
    # A model's finding of both rounds whose score rose markedly (Predict): an increase,
    # as grown (its own sign); the two never share a figure (annotations or findings).
    "score rose": "#ffa500",
    "resolved": "#b0b0b0",
    "finding": "#ffe600",  # a model's finding of the recent image (prior not read alone)
}
#: Each status colour in a word, for the legends in text (Predict's said "cyan: stable"
#: beside periwinkle marks, the colour the dataset's own marks are not: a user check).
STATUS_NAMES = {
    "new": "red",
    "stable": "periwinkle",
    "grown": "orange",
    "score rose": "orange",
    "resolved": "grey",
    "finding": "yellow",
}
#: A sign beside each tracked item, so that its status does not rest on colour alone (red
#: new beside orange grown is one colour to a protanope or deuteranope, about one man in
#: twelve): the reading viewer draws the same (components/viewer/src/temporal_geometry.ts).
STATUS_GLYPHS = {
    "new": "+",
    "grown": "↑",
    "score rose": "↗",
    "stable": "=",
    "resolved": "−",
    "finding": "",
}
#: What each status means in a legend.
_STATUS_WORDS = {"finding": "a recent finding"}


def status_legend(statuses: tuple[str, ...] = ("finding", "new", "stable", "resolved")) -> str:
    """The colours of ``statuses`` in words, as :data:`STATUS_COLORS` draws them.

    >>> status_legend()
    'yellow: a recent finding, red (+): new, periwinkle (=): stable, grey (−): resolved'
    """

    def drawn(s: str) -> str:
        return f"{STATUS_NAMES[s]} ({STATUS_GLYPHS[s]})" if STATUS_GLYPHS[s] else STATUS_NAMES[s]

    return ", ".join(f"{drawn(s)}: {_STATUS_WORDS.get(s, s)}" for s in statuses)


#: How to read each second panel, for the caption beside it (a clinician shown the
#: subtraction was told how its findings were marked, not what gray, bright and dark mean).
READING = {
    "subtraction": "Subtraction: mid-gray = unchanged; bright = brighter now (a new or grown "
    "calcification, new density); dark = faded (something in the prior that is gone or "
    "smaller). A thin bright/dark pair along an edge is residual misregistration, not change.",
    "change": "Change map: the recent image with, in red, where the subtraction exceeds 4 "
    "times its usual spread inside the breast.",
    "flicker": "Flicker: the second panel alternates the registered prior and the recent "
    "image; a real change blinks, registered tissue stays still.",
    "swipe": "Swipe: the registered prior left of the curtain, the recent image right of it; "
    "the slider moves the curtain.",
    "prior": "The prior as filed (not warped): each mark is at its place in that exam, "
    "through the registration.",
}
#: Curtain positions of the swipe slider (fractions of the width).
CURTAIN_STEPS = 11
#: Alternations one press of "Flicker" plays (then it stops by itself).
FLICKER_CYCLES = 40


def _rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def _image(tv: TemporalView, gray: np.ndarray, name: str, scale: float | None = None) -> go.Image:
    return go.Image(
        source=data_uri(gray if gray.ndim == 3 else _rgb(gray)),
        x0=0,
        y0=0,
        dx=scale or tv.scale,
        dy=scale or tv.scale,
        hoverinfo="skip",
        name=name,
    )


def _swiped(tv: TemporalView, fraction: float) -> np.ndarray:
    """Registered prior left of the curtain, recent right of it, with a bright curtain line."""
    cut = round(fraction * tv.recent.shape[1])
    out = tv.recent.copy()
    out[:, :cut] = tv.prior[:, :cut]
    if 0 < cut < out.shape[1]:
        out[:, cut - 1 : cut + 1] = 255
    return out


def _marks(
    fig: go.Figure, tv: TemporalView, cols: Sequence[int], prior_col: int | None = None
) -> None:
    """Tracked items by status on the panels ``cols`` at their recent position, and on
    ``prior_col`` (the prior as filed) at their position in the prior."""
    panels = [(col, tv.points()) for col in cols]
    if prior_col is not None:
        panels.append((prior_col, tv.prior_points()))
    for status in STATUS_COLORS:
        for col, points in panels:
            pts = [(r, c, t) for r, c, t in points if t.status == status]
            if not pts:
                continue
            glyph = STATUS_GLYPHS[status]
            fig.add_trace(
                go.Scatter(
                    x=[c for _, c, _ in pts],
                    y=[r for r, _, _ in pts],
                    mode="markers+text" if glyph else "markers",
                    text=[glyph] * len(pts) if glyph else None,
                    textposition="top right",
                    textfont={"color": STATUS_COLORS[status], "size": 14},
                    marker={
                        "symbol": [
                            "square-open" if t.kind == "cluster" else "circle-open" for *_, t in pts
                        ],
                        "size": [22 if t.kind == "cluster" else 11 for *_, t in pts],
                        "color": STATUS_COLORS[status],
                        "line": {"width": 1.8},
                    },
                    customdata=[f"{t.kind} {status}" for *_, t in pts],
                    hovertemplate="%{customdata}<br>row %{y:.0f}, col %{x:.0f}<extra></extra>",
                    name=status,
                ),
                row=1,
                col=col,
            )


def temporal_figure(
    tv: TemporalView,
    mode: str = "subtraction",
    *,
    case: CaseRecord,
    rate_hz: float = 2.0,
    show_marks: bool = True,
    focus: tuple[float, float] | None = None,
    focus_mm: float = 12.0,
    height: int = 620,
) -> go.Figure:
    """Recent beside the ``mode`` panel, zoom and pan shared.

    Args:
        tv: a registered view (:func:`mcalc.temporal.display.temporal_view`).
        mode: ``subtraction`` (recent - registered prior; mid-gray = no change), ``change``
            (the recent image with the change map over 4 in red), ``flicker``
            (registered prior and recent alternate when "Flicker" is pressed) or ``swipe``
            (a curtain: registered prior left of it, recent right; a slider moves it) or
            ``prior`` (the prior as filed: each mark at its place in the prior, a recent
            one mapped there through the registration).
        case: the case of ``tv``: the titles name each exam as the panels of Browse and
            Predict do (:func:`~mcalc.present.reading.panel_label`: side, view, round and
            exam year).
        rate_hz: flicker alternations per second.
        show_marks: tracked calcifications (circles) and clusters (squares), by status.
        focus: (row, col) as displayed (:meth:`TemporalView.points`) to zoom onto, ``focus_mm``
            either side; a new focus replaces the reader's zoom.
        height: figure height in pixels.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 0.2 <= rate_hz <= 20.0:
        raise ValueError(f"rate_hz must be 0.2..20 alternations per second, got {rate_hz}")
    # A pair compared as filed (registration worse than none) says so in the titles.
    as_filed = tv.registration.get("method") == NOT_REGISTERED
    # The left panel and the prior as filed are images of one exam (panel_label); the
    # others are made of both, on the recent grid: their titles name the rounds only, short
    # enough for a half-width panel (the side and view are the left panel's).
    recent, filed = panel_label(case, tv.view, "recent"), panel_label(case, tv.view, "prior")
    rec, pri = round_label(case, "recent"), round_label(case, "prior")
    prior = f"{pri} as filed (not registered)" if as_filed else f"registered {pri}"
    titles = {
        "subtraction": f"subtraction: {rec} − {prior}",
        "change": "change map (red: over 4x the usual difference)",
        "flicker": f"flicker: {prior} ↔ {rec}",
        "swipe": f"swipe: {prior} | {rec}",
        # Short: the mode bar (top right, on hover) covered the end of a longer title.
        "prior": f"{filed} as filed (not warped)",
    }
    fig = image_panels([recent, titles[mode]], height, bottom=50)
    fig.add_trace(_image(tv, tv.recent, "recent"), row=1, col=1)
    if mode == "subtraction":
        fig.add_trace(_image(tv, tv.subtraction, "subtraction"), row=1, col=2)
    elif mode == "change":
        fig.add_trace(_image(tv, tv.change, "change map"), row=1, col=2)
    elif mode == "prior":
        if tv.prior_file is None:
            raise ValueError("this temporal view has no picture of the prior as filed")
        fig.add_trace(_image(tv, tv.prior_file, "prior", tv.prior_scale), row=1, col=2)
    elif mode == "flicker":
        fig.add_trace(_image(tv, tv.prior, prior), row=1, col=2)
        fig.frames = [
            go.Frame(name=name, data=[_image(tv, img, name)], traces=[1])
            for name, img in (("prior", tv.prior), ("recent", tv.recent))
        ]
        step = {"duration": 1000.0 / rate_hz, "redraw": True}
        fig.update_layout(
            updatemenus=[
                {
                    "type": "buttons",
                    "direction": "left",
                    # No button marked as pressed (plotly marks the first, Flicker, while
                    # nothing runs), so each is drawn on the theme's own button colour
                    # (chart_style): the mark's pale blue held the dark theme's text at 1.1:1.
                    "showactive": False,
                    # Under the panels: the mode bar owns the top-right corner.
                    "x": 0.51,
                    "xanchor": "left",
                    "y": 0.0,
                    "yanchor": "top",
                    "pad": {"t": 6},
                    "buttons": [
                        {
                            "label": "▶ Flicker",
                            "method": "animate",
                            "args": [
                                ["recent", "prior"] * FLICKER_CYCLES,
                                {"frame": step, "transition": {"duration": 0}, "mode": "immediate"},
                            ],
                        },
                        {
                            "label": "■ Stop",
                            "method": "animate",
                            "args": [
                                [None],
                                {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"},
                            ],
                        },
                    ],
                }
            ]
        )
    else:
        fractions = np.linspace(0.0, 1.0, CURTAIN_STEPS)
        fig.add_trace(_image(tv, _swiped(tv, 0.5), "swipe"), row=1, col=2)
        fig.frames = [
            go.Frame(
                name=f"curtain-{k}", data=[_image(tv, _swiped(tv, float(f)), "swipe")], traces=[1]
            )
            for k, f in enumerate(fractions)
        ]
        fig.update_layout(
            sliders=[
                {
                    "active": CURTAIN_STEPS // 2,
                    "currentvalue": {"prefix": "curtain "},
                    "pad": {"t": 10},
                    "steps": [
                        {
                            "label": f"{f:.0%}",
                            "method": "animate",
                            "args": [
                                [f"curtain-{k}"],
                                {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"},
                            ],
                        }
                        for k, f in enumerate(fractions)
                    ],
                }
            ]
        )
    if show_marks:
        if mode == "prior":
            _marks(fig, tv, (1,), prior_col=2)
        else:
            _marks(fig, tv, (1, 2))
    if focus is not None:
        half = focus_mm / tv.spacing_mm
        # An explicit range (rows reversed: top of the image at the top) replaces autorange.
        fig.update_xaxes(range=[focus[1] - half, focus[1] + half], autorange=False, row=1, col=1)
        fig.update_yaxes(range=[focus[0] + half, focus[0] - half], autorange=False, row=1, col=1)
        fig.update_layout(uirevision=f"focus-{focus[0]:.0f}-{focus[1]:.0f}")
    return fig


def _then_now(prior: float | None, recent: float | None, digits: int) -> str | None:
    """A size in both rounds, "prior → recent" ("—" where a round lacks it)."""
    if prior is None and recent is None:
        return None
    return " → ".join("—" if v is None else f"{v:.{digits}f}" for v in (prior, recent))


def tracked_rows(tv: TemporalView | Sequence[Tracked]) -> list[dict[str, object]]:
    """One row per tracked calcification or cluster (of a view, or given), for a table.

    Every column names its unit (:data:`COLUMN_HELP` says the rest in a tooltip):
    positions in full-resolution pixels of each round's file (the registration's frame, not
    the preview's), distances and sizes in mm. A calcification's size is its diameter, a
    cluster's its member count and hull area, in columns of their own (empty for the other
    kind), each "prior → recent", the prior carried onto the recent image through the
    registration where found in both rounds: what ``grown`` was decided on (a resolved one's
    as filed). Eight columns, so that the table fits Browse at 1280 px wide; twelve, one per
    round and size, needed a horizontal scroll at 1600 px."""
    items = tv.tracked if isinstance(tv, TemporalView) else tv

    def prior_size(t: Tracked) -> float | None:
        return t.prior_size if t.prior_size_at_recent is None else t.prior_size_at_recent

    def prior_hull(t: Tracked) -> float | None:
        at = t.prior_area_at_recent_mm2
        return t.prior_area_mm2 if at is None else at

    def calc(t: Tracked) -> bool:
        return t.kind != "cluster"

    return [
        {
            "kind": t.kind,
            "status": t.status,
            RECENT_COLUMN: position_text(t.recent),
            PRIOR_COLUMN: position_text(t.prior),
            MOVED_COLUMN: None if t.distance_mm is None else round(t.distance_mm, 2),
            DIAMETER_COLUMN: _then_now(prior_size(t), t.recent_size, 2) if calc(t) else None,
            MEMBERS_COLUMN: None if calc(t) else _then_now(t.prior_size, t.recent_size, 0),
            HULL_COLUMN: None if calc(t) else _then_now(prior_hull(t), t.recent_area_mm2, 1),
        }
        for t in items
    ]
