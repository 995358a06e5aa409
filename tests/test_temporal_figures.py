"""Temporal figures: modes, frames, markers by status, focus on a tracked item."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mcalc.dataset.records import CaseRecord
from mcalc.present.temporal_figures import (
    COLUMN_HELP,
    STATUS_COLORS,
    temporal_figure,
    tracked_rows,
)
from mcalc.temporal.change import Tracked
from mcalc.temporal.display import TemporalView

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The case the pictures are of: a left breast, exams of 2016 and 2018.
CASE = CaseRecord("suspicious-1", "p", (), laterality="L", available="2016-2018")


def _view(mirrored: bool = False) -> TemporalView:
    recent = np.full((40, 30), 100, np.uint8)
    prior = np.full((40, 30), 60, np.uint8)
    return TemporalView(
        view="CC",
        recent=recent,
        prior=prior,
        subtraction=np.full((40, 30), 128, np.uint8),
        change=np.zeros((40, 30, 3), np.uint8),
        shape=(400, 300),
        spacing_mm=0.1,
        mirrored=mirrored,
        tracked=(
            Tracked("calcification", "new", (100.0, 50.0), None),
            Tracked("calcification", "resolved", None, (210.0, 95.0), recent_at=(200.0, 90.0)),
            Tracked(
                "cluster", "grown", (300.0, 120.0), (305.0, 118.0), recent_size=6, prior_size=3
            ),
        ),
        registration={},
        notes=(),
    )


def test_markers_by_status_on_both_panels_and_mirroring():
    fig = temporal_figure(_view(), "subtraction", case=CASE)
    marks = [t for t in fig.data if t.type == "scatter"]
    assert {t.name for t in marks} == {"new", "resolved", "grown"}
    assert len(marks) == 6  # each status on both panels
    new = next(t for t in marks if t.name == "new")
    assert new.marker.color == STATUS_COLORS["new"] and list(new.x) == [50.0]
    resolved = next(t for t in marks if t.name == "resolved")
    assert list(resolved.y) == [200.0]  # the prior spot mapped onto the recent grid
    mirrored = next(t for t in temporal_figure(_view(True), case=CASE).data if t.name == "new")
    assert list(mirrored.x) == [300 - 1 - 50.0]


def test_flicker_and_swipe_carry_their_frames_and_controls():
    flicker = temporal_figure(_view(), "flicker", case=CASE, rate_hz=4.0)
    assert [f.name for f in flicker.frames] == ["prior", "recent"]
    play = flicker.layout.updatemenus[0].buttons[0]
    assert play.args[1]["frame"]["duration"] == 250.0
    swipe = temporal_figure(_view(), "swipe", case=CASE)
    assert len(swipe.frames) == len(swipe.layout.sliders[0].steps) == 11
    change = temporal_figure(_view(), "change", case=CASE)
    assert "change map" in change.layout.annotations[1].text
    with pytest.raises(ValueError, match="mode must be"):
        temporal_figure(_view(), "blink", case=CASE)
    with pytest.raises(ValueError, match="rate_hz"):
        temporal_figure(_view(), "flicker", case=CASE, rate_hz=100)


def test_focus_zooms_onto_a_tracked_item():
    tv = _view()
    at = tv.shown_at(tv.tracked[2])
    assert at == (300.0, 120.0)
    fig = temporal_figure(tv, case=CASE, focus=at, focus_mm=5.0)
    assert list(fig.layout.xaxis.range) == [70.0, 170.0]
    assert list(fig.layout.yaxis.range) == [350.0, 250.0]
    rows = tracked_rows(tv)
    assert [r["status"] for r in rows] == ["new", "resolved", "grown"]
    # Positions in full-resolution pixels of the file (the pictures are 10x smaller).
    recent, prior = "recent (px)", "prior (px)"
    assert rows[1][recent] == "" and rows[1][prior] == "210, 95"
    assert rows[2][recent] == "300, 120"
    # A cluster's size is a member count, in its own column (not mixed with mm).
    assert rows[2]["members"] == "3 → 6"
    assert rows[2]["diameter (mm)"] is None and rows[0]["members"] is None


def test_every_change_column_with_a_quantity_names_its_unit():
    stable = Tracked("calcification", "stable", (10.0, 10.0), (11.0, 9.0), 1, 2, 0.14, 0.31, 0.29)
    tv = replace(_view(), tracked=(*_view().tracked, stable))
    rows = tracked_rows(tv)
    unitless = {"kind", "status", "members"}
    for column in rows[0]:
        assert column in unitless or column.endswith(("(px)", "(mm)", "(mm²)")), column
        # What the short header leaves out is in its tooltip.
        assert column in unitless or column in COLUMN_HELP, column
        # Headers as short as "diameter (mm)": with "recent (row, col) px" the table needed
        # 755 px in Browse's 690 at 1024 px of page (a projector at 125 %) and scrolled.
        assert len(column) <= len("diameter (mm)"), column
    # The distance is the one left after registration (the recent centre mapped into the
    # prior against the prior's centre), not how far the finding moved in the files: a
    # stable finding at the same pixel of both files read "moved 0.55 mm" on Predict.
    assert rows[3]["apart (mm)"] == 0.14
    assert rows[3]["diameter (mm)"] == "0.29 → 0.31"  # prior → recent


def test_a_pair_compared_as_filed_is_not_titled_registered():
    """A pair whose registration was worse than none (method ``none``) is compared as filed:
    the subtraction, flicker and swipe titles say so; they said "registered prior"."""
    as_filed = replace(_view(), registration={"method": "none", "fallback": "worse than none"})
    for mode in ("subtraction", "flicker", "swipe"):
        title = temporal_figure(as_filed, mode, case=CASE).layout.annotations[1].text
        assert "prior 2016 as filed (not registered)" in title and "registered prior" not in title
        registered = temporal_figure(_view(), mode, case=CASE).layout.annotations[1].text
        assert "registered prior 2016" in registered and "as filed" not in registered


def test_titles_name_each_exam_by_side_view_round_and_year():
    """As Browse's and Predict's panels (panel_label): they read "CC recent" and "CC
    subtraction (recent − registered prior)", no side, no exam year. The panels made of
    both rounds name the rounds with their years (round_label), short enough for a
    half-width panel."""
    titles = {
        mode: [a.text for a in temporal_figure(_view(), mode, case=CASE).layout.annotations[:2]]
        for mode in ("subtraction", "change", "flicker", "swipe")
    }
    assert {t[0] for t in titles.values()} == {"L CC recent 2018"}
    assert titles["subtraction"][1] == "subtraction: recent 2018 − registered prior 2016"
    assert titles["change"][1] == "change map (red: over 4x the usual difference)"
    assert titles["flicker"][1] == "flicker: registered prior 2016 ↔ recent 2018"
    assert titles["swipe"][1] == "swipe: registered prior 2016 | recent 2018"
    prior = temporal_figure(replace(_view(), prior_file=_view().prior), "prior", case=CASE)
    assert [a.text for a in prior.layout.annotations[:2]] == [
        "L CC recent 2018",
        "L CC prior 2016 as filed (not warped)",
    ]
    # No longer than the longest title before (the change map's, 49 characters).
    assert max(len(t[1]) for t in titles.values()) <= 49


def test_status_colours_are_not_the_datasets_marks_and_match_the_viewers():
    """Stable was the dataset's cyan: a view without temporal data draws the radiologists'
    marks in cyan, read as "stable" beside the legend. The viewer's map is the same."""
    import re
    from pathlib import Path

    from mcalc.present.marking import DATASET_COLOR
    from mcalc.present.temporal_figures import STATUS_COLORS

    assert DATASET_COLOR.lower() not in {c.lower() for c in STATUS_COLORS.values()}
    ts = (Path(__file__).parent.parent / "components/viewer/src/temporal_geometry.ts").read_text()
    block = ts[ts.index("export const STATUS_COLOURS") :].split("};")[0]
    viewer = dict(re.findall(r'(\w+): "(#[0-9a-fA-F]{6})"', block))
    assert viewer == {k: v for k, v in STATUS_COLORS.items() if k in viewer} and len(viewer) == 4


def test_the_legend_in_words_names_the_colours_drawn():
    """Predict's caption under its across-rounds figure said "cyan: stable" beside
    periwinkle marks (#8c9eff, the colour Browse's viewer draws stable in, chosen not to be
    the dataset's cyan): a user check, 6 December. The words come with the colours now."""
    from mcalc.present.temporal_figures import STATUS_NAMES, status_legend

    assert set(STATUS_NAMES) == set(STATUS_COLORS)
    legend = status_legend()
    assert "periwinkle (=): stable" in legend and "cyan" not in legend
    assert legend == (
        "yellow: a recent finding, red (+): new, periwinkle (=): stable, grey (−): resolved"
    )


def test_a_tracked_items_status_does_not_rest_on_colour_alone():
    """New (red) beside grown (orange) is one colour to a protanope or deuteranope: each
    status is drawn with its sign beside the marker (+ new, ↑ grown, = stable, − resolved),
    the same signs as the reading viewer's."""
    from mcalc.present.temporal_figures import STATUS_GLYPHS

    viewer = (REPO_ROOT / "components/viewer/src/temporal_geometry.ts").read_text()
    fig = temporal_figure(_view(), "subtraction", case=CASE)
    drawn = {t.name: t for t in fig.data if t.name in STATUS_GLYPHS and t.x is not None}
    assert drawn, "the test view tracks no item"
    for status, trace in drawn.items():
        assert "text" in trace.mode and set(trace.text) == {STATUS_GLYPHS[status]}, status
        assert all(c.endswith(status) for c in trace.customdata)  # the hover keeps the word
    signs = {s: g for s, g in STATUS_GLYPHS.items() if g}
    assert len(set(signs.values())) == len(signs) == 5
    for status, glyph in signs.items():
        # "score rose" is a model's finding (Predict's figure), never the viewer's.
        assert status == "score rose" or f'{status}: "{glyph}"' in viewer, status


def test_a_cluster_row_shows_the_prior_hull_that_grown_was_decided_on():
    """``grown`` compares the recent hull with the prior's carried onto the recent image
    (README); the table showed only the prior's own hull, so a cluster of the same members
    read "hull 5.0 mm² now, 4.0 before" beside "stable" (5.0 < 1.2 x 4.5 registered)."""
    cluster = Tracked(
        "cluster",
        "stable",
        (300.0, 120.0),
        (305.0, 118.0),
        recent_size=6,
        prior_size=6,
        recent_area_mm2=5.0,
        prior_area_mm2=4.0,
        prior_area_at_recent_mm2=4.5,
    )
    (row,) = tracked_rows([cluster])
    assert row["hull (mm²)"] == "4.5 → 5.0"  # the prior's registered hull, not its 4.0


def test_the_change_table_fits_without_a_horizontal_scroll():
    """Browse's change tables had twelve columns, one per round and size, and needed a
    horizontal scroll at 1600 px wide (the walk of 7 December 2026); eight now, each size
    "prior → recent" (the prior's registered where found in both rounds, as grown compares),
    which fit at 1280 px (Chromium, docs/measurements.md). A grown calcification shows its
    registered prior diameter; a new or resolved one the round it has."""
    grown = Tracked("calcification", "grown", (10.0, 10.0), (11.0, 9.0), 1, 2, 0.1, 0.77, 0.64,
                    prior_size_at_recent=0.66)  # fmt: skip
    new = Tracked("calcification", "new", (20.0, 20.0), None, 3, recent_size=0.58)
    gone = Tracked("cluster", "resolved", None, (40.0, 40.0), None, 1, prior_size=5,
                   prior_area_mm2=7.3)  # fmt: skip
    rows = tracked_rows([grown, new, gone])
    assert all(len(r) <= 8 for r in rows), list(rows[0])
    assert [r["diameter (mm)"] for r in rows] == ["0.66 → 0.77", "— → 0.58", None]
    assert rows[2]["members"] == "5 → —" and rows[2]["hull (mm²)"] == "7.3 → —"
