"""Picking one image among a collection's (Audit): narrow first, then pick among a few.

A real collection holds ~20,000 images (VinDr). A picker that lists them all sends every
option to the browser on each rerun; here the reader narrows by words of the image's
name (case, side, view, round, year) and by a set of images (those a model scored, those
not yet audited), and the picker offers at most ``limit`` of them, the image open kept;
in the collection's order, or by a score (the model's, highest first). Other pickers of
many things (Audit's verdicts) narrow the same way over :func:`choices_of` their names.

Example:
    >>> from pathlib import Path
    >>> from mcalc.dataset.records import CaseRecord, ImageRecord
    >>> recs = tuple(ImageRecord(f"c{i}", "CC", "recent", Path("x.png")) for i in range(3))
    >>> index = DatasetIndex(Path("."), "manifest", False, tuple(
    ...     CaseRecord(r.case_id, "p", (r,), laterality="L") for r in recs))
    >>> shown = narrow(image_choices(index), "c2", limit=5)
    >>> shown.options, shown.note()
    (('c2/CC_recent',), '1 of 3 images matches the filter, all shown.')
"""

from __future__ import annotations

import heapq
import math
import re
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mcalc.dataset.memo import per_index
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.present.reading import image_names

__all__ = [
    "Choices",
    "ImageChoices",
    "Narrowed",
    "choices_of",
    "image_choices",
    "narrow",
    "PICK_LIMIT",
]

#: The most images a picker offers at once (the image open comes on top when not among them).
PICK_LIMIT = 200
#: How many searches' answers an :class:`ImageChoices` keeps (:meth:`ImageChoices.matching`).
SEARCHES_KEPT = 16


@dataclass(frozen=True, eq=False)
class Choices:
    """Things a picker offers (images, verdicts), each a key named in words, narrowed by
    the words of its name (:func:`narrow`): made once (:func:`choices_of`), read only.

    Attributes:
        keys: every key, in the order offered when nothing else orders them.
        names: key -> its name in words (what the picker shows).
        position: key -> its place in ``keys``.
        words: the names as :func:`_words` reads them, in the order of ``keys``.
    """

    keys: tuple[str, ...]
    names: Mapping[str, str]
    position: Mapping[str, int]
    words: tuple[str, ...]
    #: The last searches' answers (:meth:`matching`): a reader types once, then reruns.
    _searches: dict[tuple[str, ...], tuple[int, ...]] = field(
        default_factory=dict, init=False, repr=False
    )
    #: Held while :attr:`_searches` changes: the choices are shared by every session's
    #: script thread, and dropping the oldest search iterates the dict.
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def matching(self, terms: tuple[str, ...]) -> tuple[int, ...]:
        """The places in :attr:`keys` of the names whose :attr:`words` hold every term
        (``" cc"``: a word's start), made once for the last :data:`SEARCHES_KEPT` searches
        (20,000 names read: ~10 ms)."""
        hit = self._searches.get(terms)
        if hit is None:
            hit = tuple(i for i, w in enumerate(self.words) if all(t in w for t in terms))
            with self._lock:
                if len(self._searches) >= SEARCHES_KEPT:
                    self._searches.pop(next(iter(self._searches)), None)
                self._searches[terms] = hit
        return hit


@dataclass(frozen=True, eq=False)
class ImageChoices(Choices):
    """Every image of an index, looked up by key: made once per index
    (:func:`image_choices`), shared, read only. Its :attr:`keys` are in the index's order
    (case by case) and its :attr:`names` are :func:`mcalc.present.reading.image_names`.

    Attributes:
        records: key -> the image.
        cases: case id -> the case.
    """

    records: Mapping[str, ImageRecord]
    cases: Mapping[str, CaseRecord]

    def case_of(self, key: str) -> str:
        """The case id of image ``key``.

        Raises:
            KeyError: no image of the index has that key.
        """
        return self.records[key].case_id


def _words(text: str) -> str:
    """``text`` lower-case, its words (runs of letters and digits) each between spaces:
    a word is found by ``" word " in``, a word's start by ``" start" in``.

    >>> _words("case-00042 · R CC prior 2015")
    ' case 00042 r cc prior 2015 '
    """
    return f" {' '.join(_WORD.findall(text.lower()))} "


_WORD = re.compile(r"[0-9a-z]+")


def choices_of(names: Mapping[str, str]) -> Choices:
    """:class:`Choices` of the keys of ``names`` (in its order), each named by its value.

    >>> choices_of({"v1": "case-1 · L CC recent · Ann"}).words
    (' case 1 l cc recent ann ',)
    """
    keys = tuple(names)
    return Choices(
        keys=keys,
        names=MappingProxyType(dict(names)),
        position=MappingProxyType({k: i for i, k in enumerate(keys)}),
        words=tuple(_words(names[k]) for k in keys),
    )


@per_index
def image_choices(index: DatasetIndex) -> ImageChoices:
    """The lookups of :class:`ImageChoices` over ``index``, made once per index object."""
    records = {rec.key: rec for case in index.cases for rec in case.images}
    names = image_names(index)
    keys = tuple(records)
    return ImageChoices(
        keys=keys,
        names=names,
        position=MappingProxyType({k: i for i, k in enumerate(keys)}),
        words=tuple(_words(names[k]) for k in keys),
        records=MappingProxyType(records),
        cases=MappingProxyType({c.case_id: c for c in index.cases}),
    )


@dataclass(frozen=True)
class Narrowed:
    """What a picker offers: ``options`` (keys, at most the limit, plus the one kept open
    when it is not among them), of ``matched`` that match the filter, of ``total``; in
    the order of the keys, or ``by_score`` (highest first). ``noun`` names one of them
    (``"image"``, ``"verdict"``) in :meth:`note`."""

    options: tuple[str, ...]
    matched: int
    total: int
    kept_outside: bool = False  # the first option is the one open, outside the filter
    by_score: bool = False  # the matching options are in the order of a score, highest first
    noun: str = "image"

    @property
    def shown(self) -> int:
        """How many of the matching ones are offered."""
        return len(self.options) - int(self.kept_outside)

    def note(self) -> str | None:
        """The picker's note when it does not offer everything, or orders by score; else
        ``None``.

        >>> Narrowed(("a",) * 200, 19834, 20000).note()
        'Showing 200 of 19,834 matching images: type to narrow.'
        >>> Narrowed(("a", "b"), 2, 9, by_score=True, noun="verdict").note()
        '2 of 9 verdicts match the filter, all shown, highest score first.'
        """
        one, many = self.noun, f"{self.noun}s"
        order = ", highest score first" if self.by_score else ""
        if self.matched == self.total and self.shown == self.total:
            if not order:
                return None
            text = f"All {self.total:,} {one if self.total == 1 else many}{order}."
        elif self.shown < self.matched:
            text = f"Showing {self.shown:,} of {self.matched:,} matching {many}{order}: type to narrow."
        elif self.matched == 0:
            text = f"No {one} of {self.total:,} matches the filter."
        else:  # "Showing all 4 images of 48 matching the filter" read as 4 of 48 matching
            verb = "matches" if self.matched == 1 else "match"
            text = f"{self.matched:,} of {self.total:,} {many} {verb} the filter, all shown{order}."
        if self.kept_outside:
            text += f" The {one} open stays on top, though it does not match."
        return text


def _best(
    scores: Mapping[str, float], keys: Sequence[str], places: Iterable[int], n: int
) -> list[int]:
    """The ``n`` places of ``places`` (in ``keys``) of highest score: then those without
    one (a NaN is none), each in the order of ``keys`` (tuples compared in C: no key
    function called per place)."""
    none = math.inf  # -score sorts the highest first; the unscored after every score
    ranked = []
    for i in places:
        score = scores.get(keys[i])
        ranked.append((none if score is None or score != score else -score, i))
    return [i for _, i in heapq.nsmallest(n, ranked)]


def narrow(
    choices: Choices,
    text: str = "",
    *,
    within: Collection[str] | None = None,
    without: Collection[str] = (),
    keep: str | None = None,
    limit: int = PICK_LIMIT,
    scores: Mapping[str, float] | None = None,
    noun: str = "image",
) -> Narrowed:
    """The keys to offer: those whose name has a word starting with each word of ``text``
    (case-insensitive: ``"case-0012 L cc pri"``; a word of one letter is a whole word, the
    side: ``"r"`` is no ``recent``), among ``within`` (``None``: all) and not in
    ``without``; the first ``limit`` in the order of ``choices``, or, given ``scores``,
    the ``limit`` of highest score (those without one after them; equal scores in the
    order of ``choices``). ``keep`` (the one open) comes first when it is one of
    ``choices`` left out, so that a picker keeps its value. ``noun`` names one in the note.

    Raises:
        ValueError: ``limit`` is not positive.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    # One letter is a side (L, R): a whole word, not the r of "recent".
    terms = tuple(f" {t} " if len(t) == 1 else f" {t}" for t in _words(text).split())
    inside = (
        None if within is None else {choices.position[k] for k in within if k in choices.position}
    )
    pool: Collection[int]
    if terms:
        hits = choices.matching(terms)
        pool = hits if inside is None else [i for i in hits if i in inside]
    elif inside is None:
        pool = range(len(choices.keys))
    else:  # in the order of ``keys`` only when that is the order offered
        pool = inside if scores is not None else sorted(inside)
    members: Collection[int] = pool if isinstance(pool, (range, set)) else set(pool)
    left_out = {choices.position[k] for k in without if k in choices.position}
    matched = len(pool) - sum(i in members for i in left_out)
    found: list[str] = []
    if scores is not None:  # the ``limit`` best of all that match
        best = _best(scores, choices.keys, (i for i in pool if i not in left_out), limit)
        found = [choices.keys[i] for i in best]
    else:
        for i in pool:  # up to ``limit`` read
            if len(found) == limit:
                break
            if i not in left_out:
                found.append(choices.keys[i])
    total = len(choices.keys)
    ordered = scores is not None
    if keep is not None and keep in choices.position and keep not in found:
        return Narrowed((keep, *found), matched, total, True, ordered, noun)
    return Narrowed(tuple(found), matched, total, False, ordered, noun)
