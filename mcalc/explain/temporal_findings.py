"""A model's findings across screening rounds: Predict's prior/recent comparison.

One call for the Predict page's temporal section (:func:`temporal_findings`): the case's
view is registered (:func:`mcalc.temporal.display.temporal_view`), the model's top regions
of the recent image are placed at their mapped place in the prior, and, when the model also
read the prior image (a recent-only model analysing both rounds), the findings of the two
rounds are matched through the registration and labelled new, stable or resolved. For a
temporal model the share of its evidence that came from the subtraction (what changed) is
given per region (:func:`mcalc.explain.channels.region_evidence`, through
:meth:`~mcalc.explain.image_analysis.ImageAnalysis.channel_evidence`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcalc.temporal.change import MOVED_COLUMN, PRIOR_COLUMN, RECENT_COLUMN, position_text
from mcalc.temporal.display import TemporalView, temporal_view, with_findings

if TYPE_CHECKING:
    from mcalc.cache import ImageCache
    from mcalc.dataset.records import CaseRecord
    from mcalc.explain.service import CaseAnalysis
    from mcalc.models.inference import LoadedModel

__all__ = ["TemporalFindings", "temporal_findings"]


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
        summary: one line ("3 findings: 1 new, 2 stable").
        notes: what was noticed (registration fallback, images not analysed).
    """

    view: TemporalView
    rows: list[dict[str, object]]
    prior_read: bool
    summary: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def temporal_findings(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    analysis: CaseAnalysis,
    loaded: LoadedModel,
    *,
    max_side: int = 1024,
    tolerance_mm: float = 5.0,
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
            f"the analysis has no {view} recent image: analyse the recent round of {view}"
        )
    prior = next((r for k, r in by_key.items() if k.endswith(f"/{view}_prior")), None)
    tv = temporal_view(cache, case, view, max_side=max_side)
    recent_pts = [r.center for r in recent.regions]
    prior_pts = [r.center for r in prior.regions] if prior is not None else None
    found = with_findings(tv, recent_pts, prior_pts, tolerance_mm=tolerance_mm)
    evidence = recent.evidence or recent.channel_evidence(loaded)
    scores_r = {i: r.score for i, r in enumerate(recent.regions)}
    scores_p = {i: r.score for i, r in enumerate(prior.regions)} if prior is not None else {}
    rows: list[dict[str, object]] = []
    for t in found.tracked:
        row: dict[str, object] = {
            "status": t.status,
            "score recent": None if t.recent_id is None else round(scores_r[t.recent_id], 3),
            "score prior": None if t.prior_id is None else round(scores_p[t.prior_id], 3),
            RECENT_COLUMN: position_text(t.recent),
            PRIOR_COLUMN: position_text(found.prior_position(t)),
            MOVED_COLUMN: None if t.distance_mm is None else round(t.distance_mm, 2),
        }
        if evidence and t.recent_id is not None:
            for name, share in evidence[t.recent_id].items():
                row[f"evidence {name}"] = f"{share:.0%}"
        rows.append(row)
    counts = Counter(t.status for t in found.tracked)
    n = len(found.tracked)
    detail = ", ".join(f"{v} {k}" for k, v in counts.items() if k != "finding")
    summary = f"{n} finding{'' if n == 1 else 's'}" + (f": {detail}" if detail else "")
    notes = list(tv.notes)
    if prior is None:
        notes.append(
            "the prior image was not read by the model"
            + (" (a temporal model reads it through the subtraction)" if loaded.temporal else "")
            + ": each finding is shown at its mapped place in the prior"
        )
    return TemporalFindings(found, rows, prior is not None, summary, tuple(notes))
