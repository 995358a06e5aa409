"""Readers' own marks on an image: points, cluster outlines and regions of interest.

Coordinates are ``(row, column)`` in full-resolution pixels of the image **as stored in the
file** (not mirrored for display), the same grid as the dataset's annotation masks and
:mod:`mcalc.annotations`. Marks are immutable values; editing returns a new
:class:`ImageMarks`; :func:`merge_marks` and :func:`undo_one_edit` are the rules for
joining two edits and stepping one edit back. :class:`mcalc.store.mark_store.MarkStore`
keeps them on disk.

Example:
    >>> m = ImageMarks("case-1/CC_recent", "ann").add_point(10, 12, "suspicious")
    >>> len(m.points), m.points[0].label, m.points[0].reader
    (1, 'suspicious', 'ann')
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from mcalc.store.record import utc_now

__all__ = [
    "LABELS",
    "REGION_KINDS",
    "MAX_REGION_VERTICES",
    "too_many_vertices",
    "PointMark",
    "RegionMark",
    "ImageMarks",
    "check_reader",
    "merge_marks",
    "new_mark_id",
    "same_marks",
    "undo_one_edit",
]

#: Labels a reader can give a mark.
LABELS: tuple[str, ...] = ("benign", "suspicious", "uncertain")
#: Kinds of drawn regions: a cluster outline or any region of interest.
REGION_KINDS: tuple[str, ...] = ("cluster", "roi")

#: Most vertices of one drawn region. The viewer's lasso sends at most 80 and the app shows
#: an annotation's outline with at most 256; an imported outline traced at one vertex per
#: border pixel around a region as large as a whole 4096 x 3328 mammogram has 14 848. A
#: crafted file or event of millions (each checked, kept and rewritten at every save: about
#: 20 bytes a vertex in the marks file) is refused before any is read.
MAX_REGION_VERTICES = 50_000

_MAX_READER = 80
_MAX_COMMENT = 2000


def too_many_vertices(count: int) -> str | None:
    """What is wrong with a region of ``count`` vertices (``None``: nothing).

    >>> too_many_vertices(80) is None
    True
    >>> too_many_vertices(2_000_000)
    'a region may have at most 50,000 vertices, got 2,000,000: simplify its outline'
    """
    if count <= MAX_REGION_VERTICES:
        return None
    return (
        f"a region may have at most {MAX_REGION_VERTICES:,} vertices, got {count:,}: "
        "simplify its outline"
    )


def new_mark_id() -> str:
    """A short random id for a new mark (unique enough to merge two readers' edits)."""
    return uuid.uuid4().hex[:12]


def check_reader(name: str) -> str:
    """The reader name, stripped; raises ``ValueError`` when empty, too long or odd.

    Example:
        >>> check_reader("  Dr. Ana Lima ")
        'Dr. Ana Lima'
    """
    if not isinstance(name, str):
        raise ValueError(f"reader name must be text, got {type(name).__name__}")
    value = " ".join(name.split())
    if not value:
        raise ValueError("reader name is empty: type your name (it is saved with every mark)")
    if len(value) > _MAX_READER:
        raise ValueError(f"reader name must be at most {_MAX_READER} characters, got {len(value)}")
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise ValueError("reader name must not contain control characters")
    return value


def _check_label(label: str) -> str:
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(LABELS)}; got {label!r}")
    return label


def _finite(value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return out


def _comment(text: Any) -> str:
    value = "" if text is None else str(text)
    if len(value) > _MAX_COMMENT:
        raise ValueError(f"comment must be at most {_MAX_COMMENT} characters, got {len(value)}")
    return value


def _common_dict(mark: PointMark | RegionMark) -> dict[str, Any]:
    """The fields every mark shares, as saved (label, comment, reader, times)."""
    return {
        "label": mark.label,
        "comment": mark.comment,
        "reader": mark.reader,
        "created_at": mark.created_at,
        "updated_at": mark.updated_at,
    }


def _common_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The shared fields read back from a saved mark, with the defaults of old records."""
    return {
        "label": str(raw.get("label", "uncertain")),
        "comment": raw.get("comment", ""),
        "reader": str(raw.get("reader", "")),
        "created_at": str(raw.get("created_at", "")),
        "updated_at": str(raw.get("updated_at", "")),
    }


@dataclass(frozen=True)
class PointMark:
    """One calcification marked by a reader.

    Attributes:
        id: stable id (kept across versions, used to merge and to move/delete).
        row, col: centre in full-resolution file pixels.
        label: ``benign``, ``suspicious`` or ``uncertain``.
        comment: free text.
        reader: who placed it; created_at / updated_at: UTC, ISO 8601.
    """

    id: str
    row: float
    col: float
    label: str = "uncertain"
    comment: str = ""
    reader: str = ""
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "row", _finite(self.row, "row"))
        object.__setattr__(self, "col", _finite(self.col, "col"))
        _check_label(self.label)
        object.__setattr__(self, "comment", _comment(self.comment))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "row": round(self.row, 2),
            "col": round(self.col, 2),
            **_common_dict(self),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PointMark:
        return cls(
            id=str(raw["id"]),
            row=raw["row"],
            col=raw["col"],
            **_common_fields(raw),
        )


@dataclass(frozen=True)
class RegionMark:
    """A cluster outline or region of interest drawn by a reader.

    Attributes:
        id: stable id.
        kind: ``cluster`` or ``roi``.
        polygon: vertices ``((row, col), ...)`` in full-resolution file pixels (>= 3;
            a box is stored as its four corners).
        label, comment, reader, created_at, updated_at: as for :class:`PointMark`.
    """

    id: str
    kind: str
    polygon: tuple[tuple[float, float], ...]
    label: str = "uncertain"
    comment: str = ""
    reader: str = ""
    created_at: str = ""
    updated_at: str = ""

    def __post_init__(self) -> None:
        if self.kind not in REGION_KINDS:
            raise ValueError(f"region kind must be one of {REGION_KINDS}, got {self.kind!r}")
        if problem := too_many_vertices(len(self.polygon)):
            raise ValueError(problem)
        poly = tuple(
            (_finite(p[0], "polygon row"), _finite(p[1], "polygon col")) for p in self.polygon
        )
        if len(poly) < 3:
            raise ValueError(f"a region needs at least 3 vertices, got {len(poly)}")
        object.__setattr__(self, "polygon", poly)
        _check_label(self.label)
        object.__setattr__(self, "comment", _comment(self.comment))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(r0, c0, r1, c1)`` around the polygon."""
        rows = [p[0] for p in self.polygon]
        cols = [p[1] for p in self.polygon]
        return min(rows), min(cols), max(rows), max(cols)

    @property
    def area_px(self) -> float:
        """Polygon area in square pixels (shoelace formula)."""
        pts = self.polygon
        s = 0.0
        for (r0, c0), (r1, c1) in zip(pts, pts[1:] + pts[:1], strict=True):
            s += c0 * r1 - c1 * r0
        return abs(s) / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "polygon": [[round(r, 2), round(c, 2)] for r, c in self.polygon],
            **_common_dict(self),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RegionMark:
        return cls(
            id=str(raw["id"]),
            kind=str(raw["kind"]),
            polygon=tuple((p[0], p[1]) for p in raw["polygon"]),
            **_common_fields(raw),
        )


@dataclass(frozen=True)
class ImageMarks:
    """Everything one reader marked on one image (an immutable value).

    Attributes:
        image_key: :attr:`mcalc.dataset.records.ImageRecord.key`.
        reader: the reader's name.
        points, regions: the marks.
        comment: a comment on the whole image.
        image_shape: ``(rows, cols)`` of the full-resolution image, when known (used by
            exports and to refuse out-of-range marks).
    """

    image_key: str
    reader: str
    points: tuple[PointMark, ...] = ()
    regions: tuple[RegionMark, ...] = ()
    comment: str = ""
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image_key, str) or not self.image_key.strip():
            raise ValueError(f"image_key must be a non-empty string, got {self.image_key!r}")
        object.__setattr__(self, "reader", check_reader(self.reader))
        object.__setattr__(self, "points", tuple(self.points))
        object.__setattr__(self, "regions", tuple(self.regions))
        if self.image_shape is not None:
            object.__setattr__(
                self, "image_shape", (int(self.image_shape[0]), int(self.image_shape[1]))
            )
        ids = [m.id for m in self.all_marks]
        if len(ids) != len(set(ids)):
            raise ValueError(f"mark ids must be unique, got duplicates in {ids}")

    @property
    def all_marks(self) -> tuple[PointMark | RegionMark, ...]:
        """Points then regions, in order."""
        marks: tuple[PointMark | RegionMark, ...] = (*self.points, *self.regions)
        return marks

    @property
    def is_empty(self) -> bool:
        return not self.points and not self.regions and not self.comment

    # -- checks -----------------------------------------------------------------------
    def _check_inside(self, row: float, col: float) -> None:
        if self.image_shape is None:
            return
        rows, cols = self.image_shape
        if not (-0.5 <= row <= rows - 0.5 and -0.5 <= col <= cols - 0.5):
            raise ValueError(
                f"({row:.1f}, {col:.1f}) is outside the image: expected rows 0..{rows - 1} and "
                f"columns 0..{cols - 1}"
            )

    def find(self, mark_id: str) -> PointMark | RegionMark:
        for m in self.all_marks:
            if m.id == mark_id:
                return m
        raise KeyError(f"no mark {mark_id!r} on {self.image_key} for {self.reader}")

    # -- edits (each returns a new value) ---------------------------------------------
    def add_point(
        self,
        row: float,
        col: float,
        label: str = "uncertain",
        comment: str = "",
        *,
        mark_id: str | None = None,
    ) -> ImageMarks:
        """A copy with a new calcification at ``(row, col)``."""
        self._check_inside(_finite(row, "row"), _finite(col, "col"))
        now = utc_now()
        point = PointMark(mark_id or new_mark_id(), row, col, label, comment, self.reader, now, now)
        return replace(self, points=(*self.points, point))

    def add_region(
        self,
        kind: str,
        polygon: Sequence[tuple[float, float]],
        label: str = "uncertain",
        comment: str = "",
        *,
        mark_id: str | None = None,
    ) -> ImageMarks:
        """A copy with a new cluster outline or region of interest."""
        for r, c in polygon:
            self._check_inside(_finite(r, "row"), _finite(c, "col"))
        now = utc_now()
        region = RegionMark(
            mark_id or new_mark_id(), kind, tuple(polygon), label, comment, self.reader, now, now
        )
        return replace(self, regions=(*self.regions, region))

    def remove(self, mark_id: str) -> ImageMarks:
        """A copy without mark ``mark_id``."""
        self.find(mark_id)
        return replace(
            self,
            points=tuple(p for p in self.points if p.id != mark_id),
            regions=tuple(r for r in self.regions if r.id != mark_id),
        )

    def move_point(self, mark_id: str, row: float, col: float) -> ImageMarks:
        """A copy with point ``mark_id`` moved to ``(row, col)``."""
        mark = self.find(mark_id)
        if not isinstance(mark, PointMark):
            raise ValueError(f"mark {mark_id!r} is a {mark.kind}, only points can be moved")
        self._check_inside(_finite(row, "row"), _finite(col, "col"))
        moved = replace(mark, row=row, col=col, updated_at=utc_now())
        return replace(self, points=tuple(moved if p.id == mark_id else p for p in self.points))

    def edit(
        self, mark_id: str, *, label: str | None = None, comment: str | None = None
    ) -> ImageMarks:
        """A copy with the label and/or comment of mark ``mark_id`` changed."""
        mark = self.find(mark_id)
        changes: dict[str, Any] = {"updated_at": utc_now()}
        if label is not None:
            changes["label"] = _check_label(label)
        if comment is not None:
            changes["comment"] = _comment(comment)
        new = replace(mark, **changes)
        if isinstance(new, PointMark):
            return replace(self, points=tuple(new if p.id == mark_id else p for p in self.points))
        return replace(self, regions=tuple(new if r.id == mark_id else r for r in self.regions))

    def with_comment(self, comment: str) -> ImageMarks:
        return replace(self, comment=_comment(comment))

    # -- serialisation ----------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """Plain JSON dict (what is stored in a version)."""
        return {
            "image_key": self.image_key,
            "reader": self.reader,
            "image_shape": list(self.image_shape) if self.image_shape else None,
            "comment": self.comment,
            "points": [p.to_dict() for p in self.points],
            "regions": [r.to_dict() for r in self.regions],
        }

    @classmethod
    def from_payload(
        cls, raw: dict[str, Any], *, image_key: str | None = None, reader: str | None = None
    ) -> ImageMarks:
        """Parse :meth:`to_payload`'s dict; an empty dict is no marks (needs key and reader).

        Raises:
            ValueError: malformed payload (names the field).
        """
        try:
            shape = raw.get("image_shape")
            return cls(
                image_key=str(raw.get("image_key", image_key)),
                reader=str(raw.get("reader", reader)),
                points=tuple(PointMark.from_dict(p) for p in raw.get("points", [])),
                regions=tuple(RegionMark.from_dict(r) for r in raw.get("regions", [])),
                comment=str(raw.get("comment", "")),
                image_shape=(shape[0], shape[1]) if shape else None,
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed marks: missing or wrong field ({exc!r})") from exc


def merge_marks(mine: ImageMarks, theirs: ImageMarks) -> ImageMarks:
    """Both sets of marks: all of ``theirs`` plus those of ``mine`` they lack.

    A mark present in both (same id) takes ``mine``'s content, since that is the edit the
    user is saving. Marks deleted on one side come back (nothing is lost); delete them again.
    """
    by_id_p = {p.id: p for p in theirs.points}
    by_id_p.update({p.id: p for p in mine.points})
    by_id_r = {r.id: r for r in theirs.regions}
    by_id_r.update({r.id: r for r in mine.regions})
    comment = (
        mine.comment
        if mine.comment == theirs.comment or not theirs.comment
        else (f"{theirs.comment}\n{mine.comment}" if mine.comment else theirs.comment)
    )
    return replace(
        mine,
        points=tuple(by_id_p.values()),
        regions=tuple(by_id_r.values()),
        comment=comment,
        image_shape=mine.image_shape or theirs.image_shape,
    )


def same_marks(a: ImageMarks, b: ImageMarks) -> bool:
    """Whether ``a`` and ``b`` hold the same marks and comment (image shape ignored)."""
    return a.points == b.points and a.regions == b.regions and a.comment == b.comment


def undo_one_edit(current: ImageMarks, previous: ImageMarks) -> ImageMarks:
    """``current`` with its newest difference from ``previous`` undone (one edit back).

    The rule, so that repeated calls walk back one edit at a time until ``previous``:
    edits that leave no time stamp (a mark deleted, the image comment changed) are undone
    first; then the mark added or changed last (by its ``updated_at``, ties broken by its
    position) is removed or put back as it was in ``previous``. Marks keep
    ``previous``'s order, so the last step gives exactly ``previous``'s marks. With no
    difference, ``current`` is returned unchanged.

    Example:
        >>> a = ImageMarks("c/CC_recent", "ann", image_shape=(50, 50)).add_point(5, 5)
        >>> b = a.add_point(9, 9).add_point(20, 20)
        >>> [len(undo_one_edit(b, a).points), len(undo_one_edit(undo_one_edit(b, a), a).points)]
        [2, 1]
    """
    if current.comment != previous.comment:
        return replace(current, comment=previous.comment)
    mine = current.all_marks
    now = {m.id: m for m in mine}
    before = {m.id: m for m in previous.all_marks}
    removed = [m for m in previous.all_marks if m.id not in now]
    if removed:
        target: PointMark | RegionMark | None = removed[-1]
    else:
        timed = [(m.updated_at, i, m) for i, m in enumerate(mine) if before.get(m.id) != m]
        target = max(timed, key=lambda t: t[:2])[2] if timed else None
    if target is None:
        return current
    after = dict(now)
    if target.id in before:
        after[target.id] = before[target.id]
    else:
        del after[target.id]
    order = [m.id for m in previous.all_marks if m.id in after]
    order += [m.id for m in mine if m.id not in before and m.id in after]
    kept = [after[i] for i in order]
    return replace(
        current,
        points=tuple(m for m in kept if isinstance(m, PointMark)),
        regions=tuple(m for m in kept if isinstance(m, RegionMark)),
    )
