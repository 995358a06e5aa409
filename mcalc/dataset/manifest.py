"""Indexing a generic collection (INbreast, CBIS-DDSM, a hospital export) from a CSV manifest.

One row per image::

    case_id,patient_id,laterality,view,timepoint,image,annotation,birads,density,biopsy,age
    p01-L,p01,L,CC,prior,p01/L_CC_2019.dcm,,2,b,,54
    p01-L,p01,L,CC,recent,p01/L_CC_2021.dcm,p01/L_CC_2021_mask.png,4a,b,benign,56

Columns (header names compared case-insensitively, surrounding spaces ignored):

* required: ``case_id``, ``view`` (``CC``/``MLO``, any case), ``image``;
* ``timepoint`` (``prior``/``recent``, any case): when the column is absent every image is
  ``recent`` (single-round collections such as INbreast or CBIS-DDSM);
* optional: ``patient_id`` (defaults to ``case_id``), ``laterality``, ``annotation``,
  ``annotation_kind``, ``birads``, ``density``, ``biopsy``, ``age``, ``group``,
  ``spacing_mm``.

``spacing_mm`` is the image's pixel spacing in millimetres (``0.2`` for mini-MIAS's
200 micron pixels), for files that carry none (PNG, PGM, TIFF). A DICOM's own
``PixelSpacing`` / ``ImagerPixelSpacing`` wins; a manifest value that differs from it is
noted in the image's flags, never an error (:func:`mcalc.imageio.with_collection_spacing`).
Empty or absent (manifests written before the column): the file's own spacing, else the
configured default, as before. A value that is not a number between
:data:`SPACING_RANGE_MM` (a micron figure such as ``200`` typed for ``0.2``) is reported
and left empty.

Paths are relative to the CSV's folder (absolute paths are kept; ``\\`` reads as ``/``).
Case-level values: ``patient_id`` and ``laterality`` come from a case's first row (later
rows that disagree are reported); ``birads``, ``density``, ``biopsy`` and ``age`` describe
an examination, so a ``recent`` row's value wins (as in the real spreadsheet, where age is
at the recent mammogram), else the first row that gives one. Rows of the same round that
disagree (a breast's CC says BI-RADS 2, its MLO 4a) are reported, and the breast takes the
most severe BI-RADS (0 above 1-3) and the denser density, the breast-level convention;
another biopsy or age keeps the first. A ``birads`` that is not a category (0-6, 4a/4b/4c)
is reported and left empty.

``annotation_kind`` rule: the ``annotation_kind`` column when present and filled (``red``,
``mask``, ``region`` or ``none``); otherwise ``red`` when the file name contains ``_GT``
(any case) or the file is a JPEG (``.jpg``/``.jpeg``: lossy colour renderings, like the
real dataset's GT files), else ``mask`` (non-zero pixels are calcifications). A ``region``
file is a mask whose non-zero pixels outline an area holding calcifications (a cluster
outline, an ROI mask, a circle) rather than the calcifications themselves; it is never
guessed from the file name, only declared (the converters of
:mod:`mcalc.dataset.convert` declare it).

``group`` comes from a ``group`` column when present, else from BI-RADS as in the real
dataset's folders: 1 and 2 -> ``normal``, 4-6 -> ``suspicious``, anything else ``None``.

Bad rows (missing image file, bad view or timepoint, duplicate case/view/timepoint, empty
case id) are skipped with an ``error`` :class:`~mcalc.dataset.records.Problem` naming the
row and the path; the rest loads.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.collections import recognise_header
from mcalc.dataset.filekind import HEAD_BYTES, missing_columns, table_refusal
from mcalc.dataset.metadata import (
    birads_refused,
    normalize_birads,
    normalize_laterality,
    parse_number,
)
from mcalc.dataset.records import (
    ANNOTATION_KIND_NAMES,
    SUSPICIOUS_BIRADS,
    CaseRecord,
    DatasetIndex,
    ImageRecord,
    Problem,
)
from mcalc.errors import ManifestError
from mcalc.paths import tidy_path
from mcalc.plural import counted

__all__ = [
    "index_manifest",
    "find_manifest",
    "annotation_kind_for",
    "MANIFEST_NAME",
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "SPACING_RANGE_MM",
]

log = logging.getLogger(__name__)

#: The file name looked for when a folder is given.
MANIFEST_NAME = "manifest.csv"
#: Every column a manifest may have, in the order of the example above.
COLUMNS: tuple[str, ...] = (
    "case_id",
    "patient_id",
    "laterality",
    "view",
    "timepoint",
    "image",
    "annotation",
    "annotation_kind",
    "birads",
    "density",
    "biopsy",
    "age",
    "group",
    "spacing_mm",
)
#: Columns a manifest must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("case_id", "view", "image")
#: Columns read when present.
OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in REQUIRED_COLUMNS)
#: Values of the breast itself: later rows that disagree are reported.
_IDENTITY_FIELDS: tuple[str, ...] = ("patient_id", "laterality")
#: Values of an examination: a ``recent`` row's value wins, as in the real spreadsheet.
_EXAM_FIELDS: tuple[str, ...] = ("birads", "density", "biopsy", "age")
#: Pixel spacings a ``spacing_mm`` cell may give, in mm (mammography: 0.05-0.2 mm a pixel;
#: a value outside is a mistake, such as microns typed for millimetres).
SPACING_RANGE_MM: tuple[float, float] = (0.01, 1.0)
_JPEG_SUFFIXES = frozenset({".jpg", ".jpeg"})


def annotation_kind_for(path: Path, declared: str | None = None) -> str:
    """The ``annotation_kind`` of an annotation file (see the module docstring for the rule).

    Example:
        >>> annotation_kind_for(Path("a/CC_recent_GT.png")), annotation_kind_for(Path("m.png"))
        ('red', 'mask')
    """
    if declared:
        return declared
    if "_gt" in path.stem.lower() or path.suffix.lower() in _JPEG_SUFFIXES:
        return "red"
    return "mask"


def find_manifest(folder: Path) -> Path | None:
    """``manifest.csv`` (any letter case) in ``folder``, or ``None``."""
    try:
        for entry in sorted(folder.iterdir()):
            if entry.name.lower() == MANIFEST_NAME and entry.is_file():
                return entry
    except OSError:
        return None
    return None


def _natural_key(text: str) -> list[Any]:
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", text)]


def _group_from_birads(birads: str | None) -> str | None:
    if birads in {"1", "2"}:
        return "normal"
    if birads in SUSPICIOUS_BIRADS:
        return "suspicious"
    return None


def _read_rows(csv_path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header (normalised) and ``(line number, row)`` pairs of a CSV file."""
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{csv_path}: cannot read ({exc})") from exc
    refusal = table_refusal(csv_path, raw[:HEAD_BYTES], "a manifest CSV (text)", ("text", "empty"))
    if refusal is not None:
        raise ManifestError(refusal)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        raise ManifestError(
            f"{csv_path} is empty; expected a header row with the columns "
            f"{list(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)} and one row per image"
        )
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [re.sub(r"\s+", "_", c.strip().lower()) for c in cells]
                continue
            padded = cells + [""] * (len(header) - len(cells))
            rows.append((reader.line_num, dict(zip(header, padded, strict=False))))
    except csv.Error as exc:
        raise ManifestError(f"{csv_path} line {reader.line_num}: not valid CSV ({exc})") from exc
    assert header is not None  # a non-blank first line exists
    return header, rows


#: BI-RADS categories from the least to the most severe: a breast's category is its most
#: severe view's (0, "needs more imaging", ranks above the benign 1-3).
_BIRADS_RANK: dict[str, int] = {
    b: i for i, b in enumerate(("1", "2", "3", "0", "4", "4a", "4b", "4c", "5", "6"))
}
#: Breast density from the least to the most dense (letters a-d, or 1-4 as CBIS-DDSM).
_DENSITY_RANK: dict[str, int] = {d: i for i, d in enumerate("abcd")} | {
    d: i for i, d in enumerate("1234")
}
#: Exam values whose views can disagree, and how the breast's value is chosen.
_BREAST_LEVEL: dict[str, tuple[dict[str, int], str]] = {
    "birads": (_BIRADS_RANK, "the most severe"),
    "density": (_DENSITY_RANK, "the denser"),
}


def _breast_level(key_name: str, old: Any, new: Any) -> Any:
    """The breast's value of two views' ``old`` and ``new`` (``old`` where they cannot be
    ranked).

    Example:
        >>> _breast_level("birads", "2", "4a"), _breast_level("density", "b", "a")
        ('4a', 'b')
    """
    rank = _BREAST_LEVEL[key_name][0]
    if old in rank and new in rank and rank[new] > rank[old]:
        return new
    return old


@dataclass
class _CaseBuilder:
    """One case as its rows come: values merged, images collected."""

    case_id: str
    first_row: int
    values: dict[str, Any]
    group: str | None
    from_recent: set[str] = field(default_factory=set)
    images: list[ImageRecord] = field(default_factory=list)
    rows_of: dict[str, int] = field(default_factory=dict)

    def merge(self, values: dict[str, Any], timepoint: str, row: int) -> list[str]:
        """Take a later row's values and return what disagrees, to be reported.

        A ``recent`` row's exam values win over a ``prior`` row's; identity values are kept
        from the first row. Two rows of the same round (a breast's CC and MLO) that give
        another BI-RADS or density: the breast's is the most severe BI-RADS and the denser
        density (the breast-level convention); another biopsy or age: the first is kept.
        """
        conflicts: list[str] = []
        for key_name in _EXAM_FIELDS:
            new, old = values[key_name], self.values[key_name]
            if new is None:
                continue
            same_round = (key_name in self.from_recent) == (timepoint == "recent")
            if old is None or (timepoint == "recent" and key_name not in self.from_recent):
                self.values[key_name] = new
                self.rows_of[key_name] = row
                if timepoint == "recent":
                    self.from_recent.add(key_name)
            elif same_round and new != old:
                kept = _breast_level(key_name, old, new) if key_name in _BREAST_LEVEL else old
                how = _BREAST_LEVEL[key_name][1] if key_name in _BREAST_LEVEL else "the first"
                # The outcome before the case id: a table cuts a long line (INbreast ids).
                conflicts.append(
                    f"{key_name} {new!r} differs from {old!r} on row "
                    f"{self.rows_of.get(key_name, self.first_row)} (the same {timepoint} "
                    f"exam): {how}, {kept!r}, is kept for case {self.case_id!r}"
                )
                if kept != old:
                    self.values[key_name] = kept
                    self.rows_of[key_name] = row
        for key_name in _IDENTITY_FIELDS:
            new, old = values[key_name], self.values[key_name]
            if new is not None and old is not None and new != old:
                conflicts.append(
                    f"{key_name} {new!r} differs from {old!r} on row {self.first_row} for "
                    f"case {self.case_id!r}; the first is kept"
                )
            elif old is None and new is not None:
                self.values[key_name] = new
        return conflicts

    def case(self) -> CaseRecord:
        values = dict(self.values)
        patient_id = values.pop("patient_id") or self.case_id
        return CaseRecord(
            case_id=self.case_id,
            patient_id=patient_id,
            images=tuple(sorted(self.images, key=lambda r: _SLOT_ORDER[(r.view, r.timepoint)])),
            group=self.group or _group_from_birads(values["birads"]),
            **values,
        )


_SLOT_ORDER = {(v, t): i for i, (v, t) in enumerate((v, t) for v in VIEWS for t in TIMEPOINTS)}


@dataclass
class _RowReader:
    """Reads the image of each row of one manifest, collecting problems."""

    csv_path: Path
    has_timepoint: bool
    problems: list[Problem] = field(default_factory=list)
    seen: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: The manifest's line of the row being read (its problems' ``line``).
    line: int | None = None

    def _skip(self, where: str, message: str, target: Path | None = None) -> None:
        self.problems.append(
            Problem(
                str(target or self.csv_path),
                f"{where}: {message}; row skipped",
                "error",
                None if target else self.line,
            )
        )

    def image(self, number: int, where: str, row: dict[str, str]) -> ImageRecord | None:
        """The row's image record, or ``None`` (the reason added to ``problems``)."""
        case_id = row.get("case_id", "").strip()
        if not case_id:
            self._skip(where, "empty case_id")
            return None
        view = row.get("view", "").strip().upper()
        if view not in VIEWS:
            self._skip(where, f"view {row.get('view', '')!r} is not one of {list(VIEWS)}")
            return None
        timepoint = row.get("timepoint", "").strip().lower() if self.has_timepoint else "recent"
        if timepoint not in TIMEPOINTS:
            self._skip(
                where,
                f"timepoint {row.get('timepoint', '')!r} is not one of {list(TIMEPOINTS)}",
            )
            return None
        image_text = row.get("image", "").strip()
        if not image_text:
            self._skip(where, "empty image path")
            return None
        image_path = _resolve(self.csv_path.parent, image_text)
        if not image_path.is_file():
            self._skip(where, f"image file {image_path} not found", image_path)
            return None
        key = (case_id, view, timepoint)
        if key in self.seen:
            self._skip(
                where,
                f"second {view} {timepoint} image for case {case_id!r} "
                f"(first on row {self.seen[key]})",
                image_path,
            )
            return None
        self.seen[key] = number
        annotation_path, kind, missing = self._annotation(where, row)
        return ImageRecord(
            case_id=case_id,
            view=view,
            timepoint=timepoint,
            image_path=image_path,
            annotation_path=annotation_path,
            annotation_kind=kind,
            pixel_spacing_mm=self._spacing(where, row),
            annotation_missing=missing,
        )

    def _spacing(self, where: str, row: dict[str, str]) -> float | None:
        """The row's ``spacing_mm`` (``None``: empty, absent or unusable, reported)."""
        text = row.get("spacing_mm", "").strip()
        if not text:
            return None
        value = parse_number(text)
        low, high = SPACING_RANGE_MM
        if value is None or not low <= value <= high:
            self.problems.append(
                Problem(
                    str(self.csv_path),
                    f"{where}: spacing_mm {text!r} is not a pixel spacing in millimetres "
                    f"between {low:g} and {high:g} (mini-MIAS: 0.2); left empty, so the "
                    "file's own spacing or the configured default is used",
                    line=self.line,
                )
            )
            return None
        return value

    def _annotation(self, where: str, row: dict[str, str]) -> tuple[Path | None, str, str | None]:
        """The row's annotation file and kind (``None``, ``none`` without a usable one),
        and the file named but not found (its calcifications are then unknown)."""
        annotation_text = row.get("annotation", "").strip()
        declared = row.get("annotation_kind", "").strip().lower() or None
        if declared is not None and declared not in ANNOTATION_KIND_NAMES:
            self.problems.append(
                Problem(
                    str(self.csv_path),
                    f"{where}: annotation_kind {declared!r} is not red/mask/region/none; "
                    "decided from the file name instead",
                    line=self.line,
                )
            )
            declared = None
        if not annotation_text or declared == "none":
            return None, "none", None
        candidate = _resolve(self.csv_path.parent, annotation_text)
        if candidate.is_file():
            return candidate, annotation_kind_for(candidate, declared), None
        self.problems.append(
            Problem(
                str(candidate),
                f"{where}: annotation file {candidate} not found; image kept without "
                "annotation, its calcifications unknown (training, evaluation and changes "
                "between exams leave it out)",
            )
        )
        return None, "none", annotation_text


def _case_values(row: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Case-level values of a row and what could not be read."""
    odd: list[str] = []
    laterality_raw = row.get("laterality", "").strip()
    laterality = normalize_laterality(laterality_raw)
    if laterality_raw and laterality is None:
        odd.append(f"laterality {laterality_raw!r} is not L/R/Left/Right")
    age_raw = row.get("age", "").strip()
    age = parse_number(age_raw)
    if age_raw and age is None:
        odd.append(f"age {age_raw!r} is not a number")
    refused = birads_refused(row.get("birads", ""))
    if refused is not None:
        odd.append(refused)
    density = row.get("density", "").strip() or None
    if density is not None and len(density) == 1:
        density = density.lower()
    values = {
        "patient_id": row.get("patient_id", "").strip() or None,
        "laterality": laterality,
        "birads": normalize_birads(row.get("birads", "")),
        "density": density,
        "biopsy": row.get("biopsy", "").strip() or None,
        "age": age,
    }
    return values, odd


def _resolve(base: Path, text: str) -> Path:
    """The file a manifest cell names; ``../../inb3/x.dcm`` (as ``manifest --out`` writes
    one in another folder) without its ``..`` (``/d/out/sub/../../inb3`` in every message)."""
    candidate = Path(text.strip().replace("\\", "/")).expanduser()
    return tidy_path(candidate if candidate.is_absolute() else base / candidate)


def _manifest_file(opened: Path) -> Path:
    """The CSV a path names: the file itself, or a folder's ``manifest.csv``."""
    if opened.is_dir():
        csv_path = find_manifest(opened)
        if csv_path is None:
            raise ManifestError(f"{opened} holds no {MANIFEST_NAME}; point at the CSV itself")
        return csv_path
    if opened.is_file():
        return opened
    raise ManifestError(f"{opened} does not exist; point at a manifest CSV")


def index_manifest(path: str | Path) -> DatasetIndex:
    """Index a collection described by a manifest CSV, without decoding any image.

    Args:
        path: the CSV file, or a folder holding ``manifest.csv``.

    Returns:
        The cases sorted by id (numbers compared as numbers) and every problem found.

    Raises:
        ManifestError: no manifest, an empty one, missing required columns, or no usable
            row at all.

    Example:
        >>> index = index_manifest("/data/inbreast/manifest.csv")  # doctest: +SKIP
        >>> index.source  # doctest: +SKIP
        'manifest'
    """
    opened = Path(path).expanduser().resolve()
    csv_path = _manifest_file(opened)
    name = csv_path.name
    header, rows = _read_rows(csv_path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    collection = recognise_header(header, csv_path) if missing else None
    if collection is not None:  # what to do first, not the columns a manifest lacks
        raise ManifestError(
            f"{csv_path} has no {', '.join(missing)} {'column' if len(missing) == 1 else 'columns'}. {collection.hint()}"
        )
    if missing:
        raise ManifestError(
            f"{csv_path}: "
            + missing_columns(
                missing, REQUIRED_COLUMNS, header, also=f" (optional {list(OPTIONAL_COLUMNS)})"
            )
        )
    if not rows:
        raise ManifestError(f"{csv_path} has a header but no rows; add one row per image")

    reader = _RowReader(csv_path, has_timepoint="timepoint" in header)
    problems = reader.problems
    if not reader.has_timepoint:
        problems.append(
            Problem(
                str(csv_path),
                f"{name} has no timepoint column; every image is read as 'recent'",
                "info",
            )
        )
    unread = [c for c in header if c and c not in COLUMNS]
    if unread:  # a typo (`side` for `laterality`) read as nothing, without a word before
        problems.append(
            Problem(
                str(csv_path),
                f"{name}: {counted(len(unread), 'column')} {unread} not read (mcalc reads {list(COLUMNS)}); "
                "rename one that means a column read",
                "info",
            )
        )
    builders: dict[str, _CaseBuilder] = {}
    for number, (line, row) in enumerate(rows, start=1):
        where = f"{name} row {number} (line {line})"
        reader.line = line
        image = reader.image(number, where, row)
        if image is None:
            continue
        values, odd = _case_values(row)
        for message in odd:
            problems.append(Problem(str(csv_path), f"{where}: {message}; left empty", line=line))
        builder = builders.get(image.case_id)
        if builder is None:
            group = row.get("group", "").strip().lower() or None
            builder = _CaseBuilder(image.case_id, number, values, group)
            builders[image.case_id] = builder
            if image.timepoint == "recent":
                builder.from_recent.update(k for k in _EXAM_FIELDS if values[k] is not None)
        else:
            for conflict in builder.merge(values, image.timepoint, number):
                problems.append(Problem(str(csv_path), f"{where}: {conflict}", line=line))
        builder.images.append(image)

    if not builders:
        first = "; ".join(p.message for p in problems if p.severity == "error")[:600]
        raise ManifestError(f"{csv_path}: no usable row ({first})")
    cases = [builders[case_id].case() for case_id in sorted(builders, key=_natural_key)]
    log.info("indexed %s: %d cases, %d problems", csv_path, len(cases), len(problems))
    return DatasetIndex(
        root=opened,
        source="manifest",
        synthetic=False,
        cases=tuple(cases),
        problems=tuple(problems),
    )
