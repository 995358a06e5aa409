"""Picking one image among a collection's (Audit): narrow first, then pick among a few.

A real collection holds ~20,000 images (VinDr). A picker that lists them all sends every
option to the browser on each rerun; here the reader narrows by words of the image's
name (case, side, view, round, year) and by a set of images (those a model scored, those
not yet audited), and the picker offers at most ``limit`` of them, the image open kept.

Example:
    >>> from pathlib import Path
    >>> from mcalc.dataset.records import CaseRecord, ImageRecord
    >>> recs = tuple(ImageRecord(f"c{i}", "CC", "recent", Path("x.png")) for i in range(3))
    >>> index = DatasetIndex(Path("."), "manifest", False, tuple(
    ...     CaseRecord(r.case_id, "p", (r,), laterality="L") for r in recs))
    >>> shown = narrow(image_choices(index), "c2", limit=5)
    >>> shown.options, shown.note()
    (('c2/CC_recent',), 'Showing the 1 image of 3 matching the filter.')
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mcalc.dataset.memo import per_index
from mcalc.dataset.records import CaseRecord, DatasetIndex, ImageRecord
from mcalc.present.reading import image_names

__all__ = ["ImageChoices", "Narrowed", "image_choices", "narrow", "PICK_LIMIT"]

#: The most images a picker offers at once (the image open comes on top when not among them).
PICK_LIMIT = 200
#: How many searches' answers an :class:`ImageChoices` keeps (:meth:`ImageChoices.matching`).
SEARCHES_KEPT = 16


@dataclass(frozen=True, eq=False)
class ImageChoices:
    """Every image of an index, looked up by key: made once per index
    (:func:`image_choices`), shared, read only.

    Attributes:
        keys: every image's key, in the index's order (case by case).
        names: key -> the image in words (:func:`mcalc.present.reading.image_names`).
        records: key -> the image.
        cases: case id -> the case.
        position: key -> its place in ``keys``.
        words: the names as :func:`_words` reads them, in the order of ``keys``.
    """

    keys: tuple[str, ...]
    names: Mapping[str, str]
    records: Mapping[str, ImageRecord]
    cases: Mapping[str, CaseRecord]
    position: Mapping[str, int]
    words: tuple[str, ...]
    #: The last searches' answers (:meth:`matching`): a reader types once, then reruns.
    _searches: dict[tuple[str, ...], tuple[int, ...]] = field(
        default_factory=dict, init=False, repr=False
    )

    def matching(self, terms: tuple[str, ...]) -> tuple[int, ...]:
        """The places in :attr:`keys` of the images whose :attr:`words` hold every term
        (``" cc"``: a word's start), made once for the last :data:`SEARCHES_KEPT` searches
        (20,000 names read: ~10 ms)."""
        hit = self._searches.get(terms)
        if hit is None:
            hit = tuple(i for i, w in enumerate(self.words) if all(t in w for t in terms))
            if len(self._searches) >= SEARCHES_KEPT:
                self._searches.pop(next(iter(self._searches)), None)
            self._searches[terms] = hit
        return hit

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


@per_index
def image_choices(index: DatasetIndex) -> ImageChoices:
    """The lookups of :class:`ImageChoices` over ``index``, made once per index object."""
    records = {rec.key: rec for case in index.cases for rec in case.images}
    names = image_names(index)
    keys = tuple(records)
    return ImageChoices(
        keys=keys,
        names=names,
        records=MappingProxyType(records),
        cases=MappingProxyType({c.case_id: c for c in index.cases}),
        position=MappingProxyType({k: i for i, k in enumerate(keys)}),
        words=tuple(_words(names[k]) for k in keys),
    )


@dataclass(frozen=True)
class Narrowed:
    """What a picker offers: ``options`` (image keys, at most the limit, plus the image
    kept open when it is not among them), of ``matched`` images that match the filter, of
    ``total`` in the collection."""

    options: tuple[str, ...]
    matched: int
    total: int
    kept_outside: bool = False  # the first option is the image open, outside the filter

    @property
    def shown(self) -> int:
        """How many of the matching images are offered."""
        return len(self.options) - int(self.kept_outside)

    def note(self) -> str | None:
        """The picker's note when it does not offer every image, else ``None``.

        >>> Narrowed(("a",) * 200, 19834, 20000).note()
        'Showing 200 of 19,834 matching images: type to narrow.'
        """
        if self.matched == self.total and self.shown == self.total:
            return None
        if self.shown < self.matched:
            text = f"Showing {self.shown:,} of {self.matched:,} matching images: type to narrow."
        elif self.matched == 0:
            text = f"No image of {self.total:,} matches the filter."
        else:
            one = self.matched == 1
            text = (
                f"Showing {'the' if one else 'all'} {self.matched:,} image{'' if one else 's'} "
                f"of {self.total:,} matching the filter."
            )
        if self.kept_outside:
            text += " The image open stays on top, though it does not match."
        return text


def narrow(
    choices: ImageChoices,
    text: str = "",
    *,
    within: Collection[str] | None = None,
    without: Collection[str] = (),
    keep: str | None = None,
    limit: int = PICK_LIMIT,
) -> Narrowed:
    """The images to offer, in the index's order: those whose name has a word starting
    with each word of ``text`` (case-insensitive: ``"case-0012 L cc pri"``; a word of one
    letter is a whole word, the side: ``"r"`` is no ``recent``), among ``within``
    (``None``: all) and not in ``without``; the first ``limit``. ``keep`` (the image
    open) comes first when it is an image of the index left out, so that a picker keeps its value.

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
    pool: Sequence[int]
    if terms:
        hits = choices.matching(terms)
        pool = hits if inside is None else [i for i in hits if i in inside]
    else:
        pool = range(len(choices.keys)) if inside is None else sorted(inside)
    members: Collection[int] = pool if isinstance(pool, range) else set(pool)
    left_out = {choices.position[k] for k in without if k in choices.position}
    matched = len(pool) - sum(i in members for i in left_out)
    found: list[str] = []
    for i in pool:  # up to ``limit`` images read
        if len(found) == limit:
            break
        if i not in left_out:
            found.append(choices.keys[i])
    if keep is not None and keep in choices.records and keep not in found:
        return Narrowed((keep, *found), matched, len(choices.keys), kept_outside=True)
    return Narrowed(tuple(found), matched, len(choices.keys))
