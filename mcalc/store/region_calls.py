"""A reader's call on each of the top regions a model showed for an image: a calcification
there or not (Predict's verdict form), kept with the image's verdict.

An image's verdict says whether the model's score is right; a reader auditing a detector
also says which of its regions are real: a model can score an image right for a wrong
region. The calls are kept per region (its rank, centre and score as shown, so that a later
analysis with other settings is not mistaken for the one judged), and summed per model as
the share of judged regions the readers confirmed (a reader-confirmed precision of the top
regions).

Example:
    >>> calls = (RegionCall(1, (120.0, 80.5), 0.91, "calcification"),
    ...          RegionCall(2, (40.0, 300.0), 0.62, "not calcification"))
    >>> calls_text(calls)
    '2 judged: 1 calcification, 1 not'
    >>> t = tally([calls, (RegionCall(1, (5.0, 5.0), 0.7, "unsure"),)])
    >>> t.judged, t.confirmed_rate
    (3, 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd

__all__ = [
    "REGION_CALLS",
    "RegionCall",
    "RegionTally",
    "CALL_COLUMNS",
    "calls_table",
    "call_words",
    "calls_text",
    "region_calls",
    "tally",
]

#: What a reader can say of one region: "unsure" is a call too (counted as judged, in
#: neither side of the confirmed rate); a region left without a call is not kept.
REGION_CALLS: tuple[str, ...] = ("calcification", "not calcification", "unsure")
#: Decimals kept of a region's score (as :data:`mcalc.store.audit.SCORE_DECIMALS`).
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class RegionCall:
    """One reader's call on one region of the result they judged.

    Attributes:
        rank: the region's rank in that result (1: the highest score), as numbered on
            screen.
        center: (row, col) of the region's detection in native (full-resolution) pixels,
            to a tenth of a pixel (as the regions table of the result gives it).
        score: the region's score as shown, rounded to :data:`SCORE_DECIMALS`.
        call: one of :data:`REGION_CALLS`.
    """

    rank: int
    center: tuple[float, float]
    score: float
    call: str

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ValueError(f"a region's rank must be an integer from 1, got {self.rank!r}")
        if self.call not in REGION_CALLS:
            raise ValueError(f"a region's call must be one of {REGION_CALLS}, got {self.call!r}")
        try:
            row, col = (float(v) for v in self.center)
            score = float(self.score)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"region {self.rank}: expected a (row, col) centre and a numeric score, "
                f"got {self.center!r} and {self.score!r}"
            ) from exc
        if not all(math.isfinite(v) for v in (row, col, score)):
            raise ValueError(
                f"region {self.rank}: centre and score must be finite, got "
                f"{self.center!r} and {self.score!r}"
            )
        object.__setattr__(self, "center", (round(row, 1), round(col, 1)))
        object.__setattr__(self, "score", round(score, SCORE_DECIMALS))

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "center": list(self.center),
            "score": self.score,
            "call": self.call,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RegionCall:
        try:
            center = raw["center"]
            return cls(
                rank=raw["rank"],
                center=(center[0], center[1]),
                score=raw["score"],
                call=raw["call"],
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed region call {raw!r}: {exc!r}") from exc


def region_calls(raw: Iterable[RegionCall | Mapping[str, Any]] | None) -> tuple[RegionCall, ...]:
    """Calls from their stored form (or as they are), in rank order.

    Raises:
        ValueError: a malformed call, or two calls on the same region.
    """
    calls = [c if isinstance(c, RegionCall) else RegionCall.from_dict(c) for c in raw or ()]
    ranks = [c.rank for c in calls]
    doubled = sorted({r for r in ranks if ranks.count(r) > 1})
    if doubled:
        raise ValueError(f"one call per region: region(s) {doubled} were called more than once")
    return tuple(sorted(calls, key=lambda c: c.rank))


def calls_text(calls: Sequence[RegionCall]) -> str:
    """The calls in words for a table cell (empty: no region judged)."""
    if not calls:
        return ""
    words = {"calcification": "calcification", "not calcification": "not", "unsure": "unsure"}
    counts = [(words[k], sum(c.call == k for c in calls)) for k in REGION_CALLS]
    return f"{len(calls)} judged: " + ", ".join(f"{n} {w}" for w, n in counts if n)


def call_words(call: RegionCall) -> str:
    """One call in words, the region named as on screen.

    >>> call_words(RegionCall(2, (120.04, 80.5), 0.61234, "not calcification"))
    'region 2 (score 0.612, at row 120, col 80): not calcification'
    """
    row, col = call.center
    return (
        f"region {call.rank} (score {call.score:.3f}, at row {row:.0f}, col {col:.0f}): {call.call}"
    )


@dataclass(frozen=True)
class RegionTally:
    """The region calls of several verdicts, summed.

    Attributes:
        judged: calls made (``unsure`` included).
        calcification, not_calcification, unsure: the calls of each kind.
    """

    judged: int
    calcification: int
    not_calcification: int
    unsure: int

    @property
    def confirmed_rate(self) -> float | None:
        """Share of the regions called either way that the readers called calcification
        (``None``: none was)."""
        decided = self.calcification + self.not_calcification
        return self.calcification / decided if decided else None


def tally(per_verdict: Iterable[Sequence[RegionCall]]) -> RegionTally:
    """The calls of every verdict (one sequence each), summed."""
    calls = [c for group in per_verdict for c in group]
    return RegionTally(
        judged=len(calls),
        calcification=sum(c.call == "calcification" for c in calls),
        not_calcification=sum(c.call == "not calcification" for c in calls),
        unsure=sum(c.call == "unsure" for c in calls),
    )


class _Judged(Protocol):
    """What :func:`calls_table` reads of a verdict (:class:`mcalc.store.audit.AuditVerdict`,
    frozen: read-only properties, which plain attributes of a protocol are not)."""

    @property
    def model_id(self) -> str: ...
    @property
    def image_key(self) -> str: ...
    @property
    def reader(self) -> str: ...
    @property
    def recorded_at(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def regions(self) -> tuple[RegionCall, ...]: ...


#: Columns of :func:`calls_table` (and of Audit's region-call CSV), in order.
CALL_COLUMNS: tuple[str, ...] = (
    "model_id",
    "image_key",
    "reader",
    "region",
    "row",
    "col",
    "score",
    "call",
    "recorded_at",
    "version",
)


def calls_table(verdicts: Iterable[_Judged]) -> pd.DataFrame:
    """One row per region call of ``verdicts`` (columns :data:`CALL_COLUMNS`): what a
    researcher computes a reader-confirmed precision from, per region or per reader.

    >>> from types import SimpleNamespace as V
    >>> v = V(model_id="m", image_key="c/CC_recent", reader="ann", recorded_at="t",
    ...       version=2, regions=(RegionCall(1, (5.0, 6.0), 0.9, "unsure"),))
    >>> calls_table([v]).iloc[0].to_dict()["call"], len(calls_table([]).columns)
    ('unsure', 10)
    """
    rows = [
        {
            "model_id": v.model_id,
            "image_key": v.image_key,
            "reader": v.reader,
            "region": c.rank,
            "row": c.center[0],
            "col": c.center[1],
            "score": c.score,
            "call": c.call,
            "recorded_at": v.recorded_at,
            "version": v.version,
        }
        for v in verdicts
        for c in v.regions
    ]
    return pd.DataFrame(rows, columns=list(CALL_COLUMNS))
