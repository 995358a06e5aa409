"""Reading the real dataset's ``Description.xlsx``: one row of metadata per case folder.

The workbook has a sheet per group (``Normal_cases``, ``Suspicious_cases``), two title rows
and the header on the third row. Columns are found by what their header says, not by
position or exact spelling (the classification column has a trailing space in the real
file). ``NOT AVAILABLE`` in any letter case becomes ``None``.

Each row becomes a dict whose keys are :class:`~mcalc.dataset.records.CaseRecord` field
names, with values already normalised: ``laterality`` ``"R"``/``"L"``, ``birads`` a
lower-case string (``"1"``, ``"4a"``), ``density`` ``"a"``-``"d"``, ``age`` and
``years_between`` floats, ``available`` and ``biopsy`` strings.

Example:
    >>> normalize_birads("4A"), normalize_birads(1.0), normalize_laterality("Right")
    ('4a', '1', 'R')
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

from mcalc.dataset.filekind import content_kind, found_words, missing_columns, read_head
from mcalc.dataset.records import Problem
from mcalc.dataset.zenodo import DESCRIPTION_COLUMNS, GROUP_SHEETS, NOT_AVAILABLE
from mcalc.errors import DatasetError

__all__ = [
    "CaseMetadata",
    "DescriptionTable",
    "parse_description",
    "read_description",
    "normalize_birads",
    "birads_refused",
    "BIRADS_CATEGORIES",
    "normalize_laterality",
    "parse_number",
    "is_not_available",
    "HEADER_SEARCH_ROWS",
]

log = logging.getLogger(__name__)

#: How many rows from the top are searched for the header (the one with ``Folder #``).
HEADER_SEARCH_ROWS = 10


class CaseMetadata(TypedDict, total=False):
    """What one row of the description gives a case: :class:`CaseRecord` metadata fields,
    ``None`` where the sheet has no value (an absent row gives an empty dict)."""

    laterality: str | None
    birads: str | None
    density: str | None
    biopsy: str | None
    age: float | None
    years_between: float | None
    available: str | None


def _norm_header(value: object) -> str:
    return " ".join(str(value).split()).lower() if value is not None else ""


@dataclass(frozen=True)
class _Column:
    field: str
    header: str  # as written in the real file (trailing spaces dropped), for messages
    required: bool
    matches: Callable[[str], bool]


def _column(field: str, required: bool, matches: Callable[[str], bool]) -> _Column:
    return _Column(field, DESCRIPTION_COLUMNS[field].strip(), required, matches)


_COLUMNS: tuple[_Column, ...] = (
    _column("folder", True, lambda h: h.startswith("folder")),
    # Only the folder number is required: a sheet without one column (laterality, BI-RADS)
    # still gives every case its age, density, biopsy and exam years.
    _column("laterality", False, lambda h: h.startswith("breast") or "laterality" in h),
    _column("birads", False, lambda h: "classification" in h or h in {"bi-rads", "birads"}),
    _column("age", False, lambda h: h.startswith("age")),
    _column("density", False, lambda h: "density" in h),
    _column("available", False, lambda h: h.startswith("available")),
    _column("years_between", False, lambda h: h.startswith("years")),
    _column("biopsy", False, lambda h: "biopsy" in h),
)

_NUMBER = re.compile(r"^\s*([-+]?\d+(?:[.,]\d+)?)")


def is_not_available(value: object) -> bool:
    """``True`` for empty cells and ``NOT AVAILABLE`` (any case, surrounding spaces, ``N/A``)."""
    if value is None:
        return True
    if isinstance(value, str):
        text = " ".join(value.split()).lower()
        return text in {"", NOT_AVAILABLE.lower(), "n/a", "na", "-"}
    return False


def parse_number(value: object) -> float | None:
    """A number from a cell: ints, floats, ``"45"``, ``"3 years"``, ``"2,5"``.

    Returns ``None`` for missing values and text that does not start with a number.
    """
    if is_not_available(value) or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    found = _NUMBER.match(str(value))
    return float(found.group(1).replace(",", ".")) if found else None


#: The BI-RADS assessment categories (ACR BI-RADS Atlas, 5th edition): 0 (incomplete),
#: 1-6, and the subdivisions 4a/4b/4c of 4.
BIRADS_CATEGORIES: tuple[str, ...] = ("0", "1", "2", "3", "4", "4a", "4b", "4c", "5", "6")


def _birads_text(value: object) -> str | None:
    """The value as a BI-RADS-like string, before checking it is a category."""
    if is_not_available(value) or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    text = "".join(str(value).split()).lower()
    text = re.sub(r"^(bi-?rads|category|cat)[:\-]?", "", text)
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


def normalize_birads(value: object) -> str | None:
    """Normalise a BI-RADS classification: ``1.0`` -> ``"1"``, ``"4A"`` -> ``"4a"``,
    ``"BI-RADS 5"`` -> ``"5"``. ``None`` for missing values and for anything that is not
    one of :data:`BIRADS_CATEGORIES` (``"7"``, ``"4d"``: :func:`birads_refused` says so).

    Example:
        >>> normalize_birads(" BI-RADS 4 B "), normalize_birads("7")
        ('4b', None)
    """
    text = _birads_text(value)
    return text if text in BIRADS_CATEGORIES else None


def birads_refused(value: object) -> str | None:
    """Why a given BI-RADS value was read as unknown (``None`` when it is missing or a
    category): for the problem a reader reports.

    Example:
        >>> birads_refused("12")
        "BI-RADS '12' is not a category (0-6, 4a/4b/4c)"
    """
    text = _birads_text(value)
    if text is None or text in BIRADS_CATEGORIES:
        return None
    shown = str(value).strip() if isinstance(value, str) else text
    return f"BI-RADS {shown!r} is not a category (0-6, 4a/4b/4c)"


def normalize_laterality(value: object) -> str | None:
    """``"Right"``/``"R"`` -> ``"R"``, ``"Left"``/``"L"`` -> ``"L"``, anything else ``None``."""
    if is_not_available(value):
        return None
    text = str(value).strip().lower()
    if text in {"r", "right", "rt"}:
        return "R"
    if text in {"l", "left", "lt"}:
        return "L"
    return None


def _text(value: object) -> str | None:
    if is_not_available(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return " ".join(str(value).split())


def _folder_number(value: object) -> int | None:
    number = parse_number(value)
    if number is None or not float(number).is_integer() or number < 0:
        return None
    return int(number)


@dataclass(frozen=True)
class DescriptionTable:
    """The rows of a description workbook and what was odd about them.

    Attributes:
        path: the workbook read.
        rows: ``(group, folder number) -> {CaseRecord field: value}``.
        problems: odd cells, duplicate folders, a missing sheet or optional column.
    """

    path: Path
    rows: dict[tuple[str, int], CaseMetadata]
    problems: tuple[Problem, ...] = field(default_factory=tuple)


def _find_sheet(names: Sequence[str], group: str) -> str | None:
    wanted = GROUP_SHEETS[group].lower()
    normalised = {n: re.sub(r"[\s\-]+", "_", n.strip().lower()) for n in names}
    for name, norm in normalised.items():
        if norm == wanted:
            return name
    for name, norm in normalised.items():
        if norm.startswith(group):
            return name
    return None


def _columns(
    path: Path, sheet: str, iterator: Iterator[tuple[object, ...]]
) -> tuple[int, dict[str, int], list[Problem]]:
    """The header row's number and ``field -> column index``, read from the sheet's first
    rows (``iterator`` is left just past the header); a missing optional column is a
    problem, a missing required one an error."""
    problems: list[Problem] = []
    top: list[tuple[object, ...]] = []
    header_at: int | None = None
    for number, row in enumerate(iterator, start=1):
        top.append(row)
        if any(_COLUMNS[0].matches(_norm_header(v)) for v in row):
            header_at = number
            break
        if number >= HEADER_SEARCH_ROWS:
            break
    if header_at is None:
        raise DatasetError(
            f"{path}, sheet {sheet!r}: no header row with 'Folder #' in the first "
            f"{HEADER_SEARCH_ROWS} rows (found rows starting {[r[:3] for r in top[:3]]}); "
            "expected two title rows and the column headers on row 3"
        )
    headers = [_norm_header(v) for v in top[-1]]
    where: dict[str, int] = {}
    for col in _COLUMNS:
        for i, h in enumerate(headers):
            if h and col.matches(h) and i not in where.values():
                where[col.field] = i
                break
    missing = [c for c in _COLUMNS if c.field not in where]
    missing_required = [c.header for c in missing if c.required]
    found = [str(v).strip() for v in top[-1] if v is not None]
    if missing_required:
        expected = [c.header for c in _COLUMNS]
        raise DatasetError(
            f"{path}, sheet {sheet!r}: "
            + missing_columns(missing_required, expected, found, also=f" on row {header_at}")
        )
    for col in missing:
        problems.append(
            Problem(
                str(path),
                f"sheet {sheet!r} has no {col.header!r} column: every case's "
                f"{col.field.replace('_', ' ')} is left empty, the other columns are read "
                f"(found {found})",
                "warning",
            )
        )
    return header_at, where, problems


def _parse_sheet(
    path: Path, sheet: str, rows: Iterable[tuple[object, ...]]
) -> tuple[dict[int, CaseMetadata], list[Problem]]:
    """``folder number -> metadata`` of one sheet, and what was odd about it."""
    iterator = iter(rows)
    header_at, where, problems = _columns(path, sheet, iterator)
    out: dict[int, CaseMetadata] = {}
    for line, row in enumerate(iterator, start=header_at + 1):

        def cell(name: str, row: tuple[object, ...] = row) -> object:
            i = where.get(name)
            return row[i] if i is not None and i < len(row) else None

        raw_folder = cell("folder")
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in row):
            continue
        folder = _folder_number(raw_folder)
        if folder is None:
            problems.append(
                Problem(
                    str(path),
                    f"sheet {sheet!r} row {line}: Folder # {raw_folder!r} is not a folder "
                    "number; row left out",
                    "warning",
                )
            )
            continue
        if folder in out:
            problems.append(
                Problem(
                    str(path),
                    f"sheet {sheet!r} row {line}: Folder # {folder} appears again; "
                    "the first row is kept",
                    "warning",
                )
            )
            continue
        record = _row_values(cell)
        refused = birads_refused(cell("birads"))
        if refused is not None:
            problems.append(
                Problem(
                    str(path),
                    f"sheet {sheet!r} row {line} (Folder # {folder}): {refused}; read as unknown",
                )
            )
        for name, value, raw in (
            ("laterality", record["laterality"], cell("laterality")),
            ("age", record["age"], cell("age")),
            ("years_between", record["years_between"], cell("years_between")),
        ):
            if value is None and not is_not_available(raw):
                problems.append(
                    Problem(
                        str(path),
                        f"sheet {sheet!r} row {line} (Folder # {folder}): cannot read "
                        f"{name.replace('_', ' ')} from {raw!r}; left empty",
                        "warning",
                    )
                )
        out[folder] = record
    log.debug("%s: %d rows in sheet %s", path, len(out), sheet)
    return out, problems


def _row_values(cell: Callable[[str], object]) -> CaseMetadata:
    density = _text(cell("density"))
    if density is not None and len(density) == 1:
        density = density.lower()
    return CaseMetadata(
        laterality=normalize_laterality(cell("laterality")),
        birads=normalize_birads(cell("birads")),
        density=density,
        biopsy=_text(cell("biopsy")),
        age=parse_number(cell("age")),
        years_between=parse_number(cell("years_between")),
        available=_text(cell("available")),
    )


def parse_description(path: str | Path) -> DescriptionTable:
    """Read a description workbook, keeping what was odd as :class:`Problem` entries.

    Args:
        path: the ``Description.xlsx`` file.

    Returns:
        The rows keyed by ``(group, folder number)`` plus the problems found.

    Raises:
        DatasetError: the file is missing or not a readable workbook, has neither group
            sheet, or a sheet lacks its header row (the one with ``Folder #``). A
            missing other column is a problem; the columns there are read.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such spreadsheet (expected Description.xlsx)")
    remedy = "open it in a spreadsheet program and save it as .xlsx, or remove it to load the cases without metadata"
    try:
        kind = content_kind(read_head(path))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); {remedy}") from exc
    if kind != "zip":  # "File is not a zip file" said nothing of what it was instead
        download = "download it again, " if kind in ("empty", "html", "binary") else ""
        raise DatasetError(
            f"{path}: expected an Excel workbook (.xlsx); found {found_words(kind)}; "
            f"{download}{remedy}"
        )
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise DatasetError(
            f"{path}: a damaged .xlsx workbook ({exc}); download it again, or {remedy}"
        ) from exc
    try:
        rows: dict[tuple[str, int], CaseMetadata] = {}
        problems: list[Problem] = []
        sheets = {g: _find_sheet(book.sheetnames, g) for g in GROUP_SHEETS}
        if not any(sheets.values()):
            raise DatasetError(
                f"{path}: no sheet {list(GROUP_SHEETS.values())}; found sheets "
                f"{book.sheetnames}: the dataset's own Description.xlsx has both; rename the "
                "sheets so, or remove the file to load the cases without metadata"
            )
        for group, sheet in sheets.items():
            if sheet is None:
                problems.append(
                    Problem(
                        str(path),
                        f"no {GROUP_SHEETS[group]!r} sheet (found {book.sheetnames}); "
                        f"{group} cases have no metadata",
                        "warning",
                    )
                )
                continue
            values = book[sheet].iter_rows(values_only=True)
            parsed, sheet_problems = _parse_sheet(path, sheet, values)
            problems.extend(sheet_problems)
            rows.update({(group, n): rec for n, rec in parsed.items()})
    finally:
        book.close()
    return DescriptionTable(path=path, rows=rows, problems=tuple(problems))


def read_description(path: str | Path) -> dict[tuple[str, int], CaseMetadata]:
    """Read ``Description.xlsx`` into ``(group, folder number) -> metadata``.

    ``group`` is ``normal`` or ``suspicious``; the metadata dict has the keys
    ``laterality``, ``birads``, ``density``, ``biopsy``, ``age``, ``years_between`` and
    ``available`` (``None`` where the sheet says ``NOT AVAILABLE``). Odd cells are
    logged; use :func:`parse_description` to get them as problems.

    Raises:
        DatasetError: see :func:`parse_description`.

    Example:
        >>> rows = read_description("Description.xlsx")  # doctest: +SKIP
        >>> rows[("suspicious", 3)]["birads"]  # doctest: +SKIP
        '4a'
    """
    table = parse_description(path)
    for problem in table.problems:
        log.warning("%s", problem.message)
    return table.rows
