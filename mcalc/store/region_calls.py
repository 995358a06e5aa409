"""A reader's call on each of the top regions a model showed for an image: a calcification
there or not (Predict's and Audit's verdict forms), kept with the image's verdict.

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

import numpy as np
import pandas as pd

from mcalc.annotations.matching import assign

__all__ = [
    "REGION_CALLS",
    "NOT_JUDGED",
    "PAIR_IOU",
    "RegionCall",
    "RegionTally",
    "CALL_COLUMNS",
    "box_iou",
    "calls_from_answers",
    "calls_table",
    "call_words",
    "calls_text",
    "pair_calls",
    "region_calls",
    "tally",
]

#: What a reader can say of one region: "unsure" is a call too (counted as judged, in
#: neither side of the confirmed rate); a region left without a call is not kept.
REGION_CALLS: tuple[str, ...] = ("calcification", "not calcification", "unsure")
#: A region's answer on a form while the reader leaves it (no call: not kept).
NOT_JUDGED = "not judged"
#: Least intersection over union of two readers' region boxes for their calls to be about
#: one region (:func:`pair_calls`). For two equal squares of side ``p`` it is met while
#: the centres are at most ``p / 3`` apart along one axis (IoU ``(p - d) / (p + d)``); the
#: regions of one analysis overlap by at most ``nms_overlap`` (0.1 by default), so one
#: region rarely meets it with two.
PAIR_IOU = 0.5
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
        box: (r0, r1, c0, c1) of the region's patch in native pixels, as shown (the regions
            table's); ``None`` for a call saved before boxes were kept (7 December 2026).
    """

    rank: int
    center: tuple[float, float]
    score: float
    call: str
    box: tuple[int, int, int, int] | None = None

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
        if self.box is not None:
            object.__setattr__(self, "box", _box(self.box, self.rank))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rank": self.rank,
            "center": list(self.center),
            "score": self.score,
            "call": self.call,
        }
        if self.box is not None:
            out["box"] = list(self.box)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RegionCall:
        try:
            center = raw["center"]
            return cls(
                rank=raw["rank"],
                center=(center[0], center[1]),
                score=raw["score"],
                call=raw["call"],
                box=raw.get("box"),
            )
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"malformed region call {raw!r}: {exc!r}") from exc


def _box(box: Any, rank: int) -> tuple[int, int, int, int]:
    """``box`` as four whole pixels (r0, r1, c0, c1) enclosing some area."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"region {rank}: expected a box (r0, r1, c0, c1) in pixels, got {box!r}"
        ) from exc
    if len(values) != 4 or not all(math.isfinite(v) and v == int(v) for v in values):
        raise ValueError(f"region {rank}: expected a box of 4 whole pixels, got {box!r}")
    r0, r1, c0, c1 = (int(v) for v in values)
    if not (0 <= r0 < r1 and 0 <= c0 < c1):
        raise ValueError(f"region {rank}: a box needs 0 <= r0 < r1 and 0 <= c0 < c1, got {box!r}")
    return r0, r1, c0, c1


class _Shown(Protocol):
    """What :func:`calls_from_answers` reads of a region shown
    (:class:`mcalc.explain.scoring.Region`)."""

    @property
    def rank(self) -> int: ...
    @property
    def center(self) -> tuple[float, float]: ...
    @property
    def score(self) -> float: ...
    @property
    def box(self) -> tuple[int, int, int, int]: ...


def calls_from_answers(
    regions: Iterable[_Shown], answers: Mapping[int, str]
) -> tuple[RegionCall, ...]:
    """The calls a reader made on a form: each region shown (its rank, centre, score and box
    kept) with their answer (by rank), those left :data:`NOT_JUDGED` (or unanswered) left
    out.

    >>> from types import SimpleNamespace as R
    >>> shown = [R(rank=1, center=(5.0, 6.0), score=0.9, box=(0, 10, 1, 11)),
    ...          R(rank=2, center=(50.0, 60.0), score=0.7, box=(45, 55, 55, 65))]
    >>> calls_from_answers(shown, {1: "not judged", 2: "unsure"})[0].to_dict()["box"]
    [45, 55, 55, 65]

    Raises:
        ValueError: an answer that is neither a call nor :data:`NOT_JUDGED`.
    """
    calls = []
    for r in regions:
        said = answers.get(r.rank, NOT_JUDGED)
        if said != NOT_JUDGED:
            calls.append(RegionCall(r.rank, r.center, r.score, said, r.box))
    return region_calls(calls)


def box_iou(a: RegionCall, b: RegionCall) -> float:
    """How much two calls' regions overlap: the intersection over union of their boxes;
    where either call has no box (saved before boxes were kept), 1.0 at the same centre to
    the pixel (the rule before boxes: the same analysis shows the same regions), else 0.0.

    >>> box = (0, 60, 0, 60)
    >>> box_iou(RegionCall(1, (30, 30), 0.9, "unsure", box),
    ...         RegionCall(1, (30, 50), 0.9, "unsure", (0, 60, 20, 80)))
    0.5
    """
    if a.box is None or b.box is None:
        same = [round(v) for v in a.center] == [round(v) for v in b.center]
        return 1.0 if same else 0.0
    (ar0, ar1, ac0, ac1), (br0, br1, bc0, bc1) = a.box, b.box
    rows = max(0, min(ar1, br1) - max(ar0, br0))
    cols = max(0, min(ac1, bc1) - max(ac0, bc0))
    inter = rows * cols
    union = (ar1 - ar0) * (ac1 - ac0) + (br1 - br0) * (bc1 - bc0) - inter
    return inter / union


def _ious(a: Sequence[RegionCall], b: Sequence[RegionCall]) -> np.ndarray:
    """``(len(a), len(b))`` :func:`box_iou` of every two calls, at once where all have boxes."""
    if any(c.box is None for c in (*a, *b)):
        return np.array([[box_iou(x, y) for y in b] for x in a], dtype=float).reshape(
            len(a), len(b)
        )
    p = np.array([c.box for c in a], dtype=float)[:, None, :]
    q = np.array([c.box for c in b], dtype=float)[None, :, :]
    rows = np.clip(np.minimum(p[..., 1], q[..., 1]) - np.maximum(p[..., 0], q[..., 0]), 0, None)
    cols = np.clip(np.minimum(p[..., 3], q[..., 3]) - np.maximum(p[..., 2], q[..., 2]), 0, None)
    inter = rows * cols
    areas = [(z[..., 1] - z[..., 0]) * (z[..., 3] - z[..., 2]) for z in (p, q)]
    return inter / (areas[0] + areas[1] - inter)


def pair_calls(
    per_reader: Mapping[str, Sequence[RegionCall]], min_iou: float = PAIR_IOU
) -> list[dict[str, RegionCall]]:
    """Several readers' calls on one image, grouped by the region they are about: each
    group holds at most one call per reader, and every two of its calls overlap by at least
    ``min_iou`` (:func:`box_iou`). A call that overlaps no other reader's is a group alone.

    Readers are taken in name order; each one's calls are matched one-to-one to the groups
    so far (the most pairs, then the largest overlap: :func:`mcalc.annotations.matching.assign`,
    not nearest first, which can pair the wrong two and lose a pair). With two readers this is
    the optimal one-to-one matching of their calls.

    >>> box = (0, 60, 0, 60)
    >>> ann = [RegionCall(1, (30, 30), 0.9, "calcification", box)]
    >>> bob = [RegionCall(1, (30, 50), 0.8, "unsure", (0, 60, 20, 80)),
    ...        RegionCall(2, (30, 51), 0.7, "unsure", (0, 60, 21, 81))]
    >>> [sorted((r, c.rank) for r, c in g.items()) for g in pair_calls({"ann": ann, "bob": bob})]
    [[('ann', 1), ('bob', 1)], [('bob', 2)]]
    """
    if not (math.isfinite(min_iou) and 0 < min_iou <= 1):
        raise ValueError(f"min_iou must be in (0, 1], got {min_iou!r}")
    groups: list[dict[str, RegionCall]] = []
    for reader in sorted(per_reader):
        calls = list(per_reader[reader])
        if not groups or not calls:
            groups.extend({reader: c} for c in calls)
            continue
        members = [c for group in groups for c in group.values()]
        starts = np.cumsum([0, *(len(group) for group in groups[:-1])])
        # Each call against each group: its least overlap with the group's calls.
        iou = np.minimum.reduceat(_ious(calls, members), starts, axis=1)
        matched = assign(1.0 - iou, iou >= min_iou)
        for i, j in matched:
            groups[j][reader] = calls[i]
        taken = {i for i, _ in matched}
        groups.extend({reader: c} for i, c in enumerate(calls) if i not in taken)
    return groups


def region_calls(raw: Iterable[RegionCall | Mapping[str, Any]] | None) -> tuple[RegionCall, ...]:
    """Calls from their stored form (or as they are), in rank order.

    Raises:
        ValueError: a malformed call, or two calls on the same region.
    """
    calls = [c if isinstance(c, RegionCall) else RegionCall.from_dict(c) for c in raw or ()]
    ranks = [c.rank for c in calls]
    doubled = sorted({r for r in ranks if ranks.count(r) > 1})
    if doubled:
        raise ValueError(
            f"one call per region: {'region' if len(doubled) == 1 else 'regions'} {doubled} "
            f"{'was' if len(doubled) == 1 else 'were'} called more than once"
        )
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
    "box_r0",
    "box_r1",
    "box_c0",
    "box_c1",
    "score",
    "call",
    "recorded_at",
    "version",
)


def calls_table(verdicts: Iterable[_Judged]) -> pd.DataFrame:
    """One row per region call of ``verdicts`` (columns :data:`CALL_COLUMNS`): what a
    researcher computes a reader-confirmed precision from, per region or per reader. A
    call saved without its box (before 7 December 2026) has the box's cells empty.

    >>> from types import SimpleNamespace as V
    >>> v = V(model_id="m", image_key="c/CC_recent", reader="ann", recorded_at="t",
    ...       version=2, regions=(RegionCall(1, (5.0, 6.0), 0.9, "unsure"),))
    >>> calls_table([v]).iloc[0].to_dict()["call"], len(calls_table([]).columns)
    ('unsure', 14)
    """
    none = (None, None, None, None)
    rows = [
        {
            "model_id": v.model_id,
            "image_key": v.image_key,
            "reader": v.reader,
            "region": c.rank,
            "row": c.center[0],
            "col": c.center[1],
            **dict(zip(CALL_COLUMNS[6:10], none if c.box is None else c.box, strict=True)),
            "score": c.score,
            "call": c.call,
            "recorded_at": v.recorded_at,
            "version": v.version,
        }
        for v in verdicts
        for c in v.regions
    ]
    table = pd.DataFrame(rows, columns=list(CALL_COLUMNS))
    return table.astype({k: "Int64" for k in CALL_COLUMNS[6:10]})
