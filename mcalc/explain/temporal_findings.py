"""A model's findings across screening rounds: Predict's prior/recent comparison.

One call for the Predict page's temporal section (:func:`temporal_findings`): the case's
view is registered (:func:`mcalc.temporal.display.temporal_view`), the model's top regions
of the recent image are placed at their mapped place in the prior, and, when the model also
read the prior image (a recent-only model analysing both rounds), the findings of the two
rounds are matched through the registration and labelled new, stable, score rose (found
in both rounds, its score at least :data:`SCORE_RISE` higher now: "stable" hid a jump from
0.2 to 1.0) or resolved. For a
temporal model the share of its evidence that came from the subtraction (what changed) is
given per region (:func:`mcalc.explain.channels.region_evidence`, through
:meth:`~mcalc.explain.image_analysis.ImageAnalysis.channel_evidence`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mcalc.temporal.change import (
    MOVED_COLUMN,
    PRIOR_COLUMN,
    RECENT_COLUMN,
    Tracked,
    position_text,
)
from mcalc.temporal.display import TemporalView, temporal_view, with_findings

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import CaseRecord
    from mcalc.explain.service import CaseAnalysis
    from mcalc.models.inference import LoadedModel

__all__ = [
    "FINDING_TOLERANCE_MM",
    "SCORE_RISE",
    "TemporalFindings",
    "finding_rows",
    "label_score_rises",
    "temporal_findings",
]

#: A finding of both rounds whose score rose by at least this much reads "score rose", not
#: "stable": the demo model's findings of the BI-RADS 1/2 cases (nothing changes between
#: their rounds) moved by -0.15 to +0.21 (docs/measurements.md, 7 December 2026).
SCORE_RISE = 0.25
#: Largest distance (mm, after registration) between a recent and a prior finding of the
#: same place.
FINDING_TOLERANCE_MM = 5.0


@dataclass(frozen=True)
class TemporalFindings:
    """A view's findings in both rounds.

    Attributes:
        view: the registered view whose tracked items are the findings (positions in both
            rounds: :meth:`TemporalView.points`, :meth:`TemporalView.prior_points`).
        rows: one row per finding for a table (status, score, recent and prior positions in
            full-resolution pixels of each round's file, the distance moved in mm, and for a
            temporal model the evidence shares).
        prior_read: the model read the prior image itself (findings matched across rounds).
        summary: one line ("3 findings: 1 new, 2 stable"; a finding whose score rose
            markedly with both scores: "1 score rose (0.20 → 1.00)").
        notes: what was noticed (registration fallback, images not analysed).
    """

    view: TemporalView
    rows: list[dict[str, object]]
    prior_read: bool
    summary: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def label_score_rises(
    tracked: Sequence[Tracked],
    recent: Sequence[float],
    prior: Sequence[float],
    *,
    rise: float = SCORE_RISE,
) -> list[Tracked]:
    """``tracked`` with each finding of both rounds (``stable``) whose score rose by at least
    ``rise`` relabelled ``score rose``. ``recent``, ``prior``: the scores of each round's
    findings, by the items' ``recent_id`` / ``prior_id``."""
    return [
        replace(t, status="score rose")
        if t.status == "stable"
        and t.recent_id is not None
        and t.prior_id is not None
        and recent[t.recent_id] - prior[t.prior_id] >= rise
        else t
        for t in tracked
    ]


def finding_rows(
    tracked: Sequence[Tracked],
    recent: Sequence[float],
    prior: Sequence[float],
    prior_positions: Sequence[tuple[float, float] | None] | None = None,
) -> tuple[list[dict[str, object]], str]:
    """A table row per finding (status, both rounds' scores and the change, positions in
    each round's file) and the one-line summary. ``prior_positions``: where each item is in
    the prior (default its own ``prior``)."""
    rows: list[dict[str, object]] = []
    for k, t in enumerate(tracked):
        s_r = None if t.recent_id is None else round(recent[t.recent_id], 3)
        s_p = None if t.prior_id is None else round(prior[t.prior_id], 3)
        rows.append(
            {
                "status": t.status,
                "score prior": s_p,
                "score recent": s_r,
                "score change": None if s_r is None or s_p is None else round(s_r - s_p, 3),
                RECENT_COLUMN: position_text(t.recent),
                PRIOR_COLUMN: position_text(
                    t.prior if prior_positions is None else prior_positions[k]
                ),
                MOVED_COLUMN: None if t.distance_mm is None else round(t.distance_mm, 2),
            }
        )
    counts = Counter(t.status for t in tracked)
    rose = [r for r in rows if r["status"] == "score rose"]

    def part(status: str, n: int) -> str:
        if status != "score rose":
            return f"{n} {status}"
        return (
            f"{n} score rose ("
            + ", ".join(f"{r['score prior']:.2f} → {r['score recent']:.2f}" for r in rose)
            + ")"
        )

    n = len(tracked)
    detail = ", ".join(part(k, v) for k, v in counts.items() if k != "finding")
    return rows, f"{n} finding{'' if n == 1 else 's'}" + (f": {detail}" if detail else "")


def temporal_findings(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    analysis: CaseAnalysis,
    loaded: LoadedModel,
    *,
    max_side: int = 1024,
    tolerance_mm: float = FINDING_TOLERANCE_MM,
) -> TemporalFindings:
    """Register ``case``'s ``view`` and place ``analysis``'s findings in both rounds.

    Raises:
        TemporalError: the case lacks a round of ``view`` (or the pair is of different
            views or breasts). RegistrationError: no breast to register.
        ValueError: the analysis holds no image of ``view``'s recent round.
    """
    by_key = {r.key: r for r in analysis.images}
    recent = next(
        (r for k, r in by_key.items() if k.endswith(f"/{view}_recent") or k == f"{view}_recent"),
        None,
    )
    if recent is None:
        raise ValueError(
            f"the analysis has no {view} recent image: analyse the recent exam of {view}"
        )
    prior = next((r for k, r in by_key.items() if k.endswith(f"/{view}_prior")), None)
    tv = temporal_view(cache, case, view, max_side=max_side)
    recent_pts = [r.center for r in recent.regions]
    prior_pts = [r.center for r in prior.regions] if prior is not None else None
    found = with_findings(tv, recent_pts, prior_pts, tolerance_mm=tolerance_mm)
    evidence = recent.evidence or recent.channel_evidence(loaded)
    scores_r = [r.score for r in recent.regions]
    scores_p = [r.score for r in prior.regions] if prior is not None else []
    found = replace(found, tracked=tuple(label_score_rises(found.tracked, scores_r, scores_p)))
    rows, summary = finding_rows(
        found.tracked, scores_r, scores_p, [found.prior_position(t) for t in found.tracked]
    )
    for row, t in zip(rows, found.tracked, strict=True):
        if evidence and t.recent_id is not None:
            for name, share in evidence[t.recent_id].items():
                row[f"evidence {name}"] = f"{share:.0%}"
    notes = list(tv.notes)
    if prior is None:
        notes.append(
            "the prior image was not read by the model"
            + (" (a temporal model reads it through the subtraction)" if loaded.temporal else "")
            + ": each finding is shown at its mapped place in the prior"
        )
    return TemporalFindings(found, rows, prior is not None, summary, tuple(notes))
