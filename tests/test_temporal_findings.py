"""Predict's findings across rounds: a finding found in both rounds whose model score rose
markedly is said so, not read as "stable"."""

from __future__ import annotations

import pytest

from mcalc.explain.temporal_findings import SCORE_RISE, finding_rows, label_score_rises
from mcalc.temporal.change import Tracked

BOTH = Tracked("finding", "stable", (10.0, 10.0), (12.0, 9.0), 0, 0, 0.3)
NEW = Tracked("finding", "new", (50.0, 50.0), None, 1)


def test_a_finding_whose_score_jumped_is_not_stable():
    """A region found in both rounds read "stable" with its score gone from 0.2 in the prior
    to 1.0 now (the walk of 7 December 2026): a reader auditing the model must see that."""
    items = label_score_rises([BOTH, NEW], [1.0, 0.9], [0.2])
    assert [t.status for t in items] == ["score rose", "new"]
    rows, summary = finding_rows(items, [1.0, 0.9], [0.2])
    assert rows[0]["score prior"] == 0.2 and rows[0]["score recent"] == 1.0
    assert rows[0]["score change"] == pytest.approx(0.8)  # a number: it sorts as one
    assert rows[1]["score change"] is None  # new: no prior score to compare
    assert summary == "2 findings: 1 score rose (0.20 → 1.00), 1 new"


def test_a_score_within_the_rounds_noise_stays_stable():
    """Unchanged findings of the demo's BI-RADS 1/2 cases moved by -0.15 to +0.21 between
    rounds (docs/measurements.md): those read stable, their scores beside."""
    steady = 0.5 + SCORE_RISE - 0.01
    items = label_score_rises([BOTH], [steady], [0.5])
    assert [t.status for t in items] == ["stable"]
    rows, summary = finding_rows(items, [steady], [0.5])
    assert rows[0]["score change"] == pytest.approx(steady - 0.5, abs=1e-3)
    assert summary == "1 finding: 1 stable"
    # Falling scores are not "rose" either.
    assert label_score_rises([BOTH], [0.1], [0.9])[0].status == "stable"
