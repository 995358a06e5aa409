"""Tolerant matching of the real dataset's file names.

A case folder of the real dataset should hold eight files: ``CC_prior.dcm``,
``CC_recent.dcm``, ``MLO_prior.dcm``, ``MLO_recent.dcm`` and the four ``*_GT.jpg``
annotations. The published archive does not quite: upper-case ``.DCM``, ``CC_recemt.dcm``,
``CC_reent_GT.jpg``, ``CC_recent_GT.Jpg``. :func:`match_name` reads such names as the slot
they were meant for and says what was loose, so the loader can report it instead of
silently dropping the file.

Rules:
    * the name is ``<view><sep><round>[<sep>GT].<ext>``, compared case-insensitively;
      ``<sep>`` is any run of ``_``, ``-``, ``.`` or spaces (or nothing);
    * ``<view>`` is ``CC`` or ``MLO`` exactly (no fuzzy views: ``ML`` is another view);
    * ``<round>`` is ``prior`` or ``recent`` with up to two typos (edit distance, a swap
      of neighbours counting as one); words of fewer than four letters are never read as
      a round, and since the two words are six edits apart a word within two of one is
      never within two of the other;
    * images need a DICOM extension (``.dcm``, ``.dicom``), annotations a raster one
      (``.jpg``, ``.jpeg``, ``.png``); a name without an extension is not an image.

Example:
    >>> m = match_name("CC_recemt.dcm")
    >>> (m.view, m.timepoint, m.is_annotation, m.exact)
    ('CC', 'recent', False, False)
    >>> match_name("notes.txt") is None
    True
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from mcalc.dataset.zenodo import canonical_name

__all__ = [
    "NameMatch",
    "match_name",
    "canonical_name",
    "edit_distance",
    "IMAGE_SUFFIXES",
    "ANNOTATION_SUFFIXES",
    "MAX_ROUND_TYPOS",
]

log = logging.getLogger(__name__)

#: Extensions accepted for mammograms (compared lower-cased); ``.dcm`` is the exact one.
IMAGE_SUFFIXES: frozenset[str] = frozenset({".dcm", ".dicom"})
#: Extensions accepted for annotations (compared lower-cased); ``.jpg`` is the exact one.
ANNOTATION_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".png"})
#: Most typos tolerated in the round word (``prior`` / ``recent``).
MAX_ROUND_TYPOS = 2

_ROUNDS: tuple[str, ...] = ("prior", "recent")
_MIN_ROUND_LEN = 4
_STEM = re.compile(
    r"^(?P<view>cc|mlo)(?P<sep1>[\s_.\-]*)(?P<round>[a-z]+?)(?:(?P<sep2>[\s_.\-]*)(?P<gt>gt))?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NameMatch:
    """What a file name was read as.

    Attributes:
        view: ``CC`` or ``MLO``.
        timepoint: ``prior`` or ``recent``.
        is_annotation: ``True`` for a ``*_GT`` annotation image.
        exact: ``True`` when the name is exactly one of the eight canonical names.
        note: empty when exact, else what was loose, e.g.
            ``"'CC_recemt.dcm' read as CC_recent.dcm (misspelling 'recemt')"``.
    """

    view: str
    timepoint: str
    is_annotation: bool
    exact: bool
    note: str = ""

    @property
    def canonical(self) -> str:
        """The canonical file name of this slot, e.g. ``CC_recent_GT.jpg``."""
        return canonical_name(self.view, self.timepoint, annotation=self.is_annotation)

    @property
    def slot(self) -> tuple[str, str, bool]:
        """``(view, timepoint, is_annotation)``: the place the file fills in its case."""
        return (self.view, self.timepoint, self.is_annotation)


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps
    of two neighbouring letters each cost one.

    Example:
        >>> edit_distance("recemt", "recent"), edit_distance("rceent", "recent")
        (1, 1)
    """
    rows, cols = len(a) + 1, len(b) + 1
    d = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        d[i][0] = i
    for j in range(cols):
        d[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[-1][-1]


def _read_round(word: str) -> str | None:
    """``prior`` / ``recent`` for a word within :data:`MAX_ROUND_TYPOS` of exactly one."""
    low = word.lower()
    if low in _ROUNDS:
        return low
    if len(low) < _MIN_ROUND_LEN:
        return None
    dists = {r: edit_distance(low, r) for r in _ROUNDS}
    best = min(dists, key=dists.__getitem__)
    others = [d for r, d in dists.items() if r != best]
    if dists[best] <= MAX_ROUND_TYPOS and all(d > MAX_ROUND_TYPOS for d in others):
        return best
    return None


def match_name(filename: str) -> NameMatch | None:
    """Read a file name as one of the eight slots of a case folder.

    Args:
        filename: a bare file name (a path is reduced to its last part).

    Returns:
        The match, or ``None`` when the name is not one of the dataset's files (unrelated
        names, no extension, a view without a round, a GT name with a DICOM extension).

    Example:
        >>> match_name("MLO_reent_GT.jpg").note
        "'MLO_reent_GT.jpg' read as MLO_recent_GT.jpg (misspelling 'reent')"
        >>> match_name("CC.dcm") is None
        True
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return None
    stem, suffix = name[:dot], name[dot:]
    found = _STEM.match(stem)
    if found is None:
        return None
    timepoint = _read_round(found["round"])
    if timepoint is None:
        return None
    is_annotation = found["gt"] is not None
    allowed = ANNOTATION_SUFFIXES if is_annotation else IMAGE_SUFFIXES
    if suffix.lower() not in allowed:
        return None
    view = found["view"].upper()
    canonical = canonical_name(view, timepoint, annotation=is_annotation)
    if name == canonical:
        return NameMatch(view, timepoint, is_annotation, exact=True)

    reasons: list[str] = []
    if found["round"].lower() != timepoint:
        reasons.append(f"misspelling {found['round']!r}")
    case_differs = found["view"] != view or found["round"] != found["round"].lower()
    if is_annotation and found["gt"] != "GT":
        case_differs = True
    if case_differs:
        reasons.append("letter case")
    seps = {found["sep1"]} | ({found["sep2"]} if is_annotation else set())
    for sep in sorted(seps - {"_"}):
        reasons.append(f"separator {sep!r}" if sep else "no separator")
    expected_suffix = canonical[canonical.rindex(".") :]
    if suffix != expected_suffix:
        if suffix.lower() == expected_suffix and suffix == suffix.upper():
            reasons.append(f"upper-case extension {suffix}")
        else:
            reasons.append(f"extension {suffix}")
    note = f"{name!r} read as {canonical} ({'; '.join(reasons)})"
    log.debug("loose name: %s", note)
    return NameMatch(view, timepoint, is_annotation, exact=False, note=note)
