"""Indexing the real dataset's folder layout as it is on disk, quirks included.

Accepted (folder names compared case-insensitively)::

    <root>/Dataset*/Normal_cases/<n>/...   <root>/Description.xlsx   (the archive as unpacked)
    <root>/Normal_cases/<n>/...                                      (pointing at Dataset/)

The folder holding ``Normal_cases/`` and ``Suspicious_cases/`` is looked for in the given
folder and up to two levels below it. Every file of a case folder ends up either in the
index or in a :class:`~mcalc.dataset.records.Problem`: loosely matched names (warning),
duplicates for one slot (warning, the exact name is kept), unrecognised files (warning),
missing images and annotations (warning). Images are never opened: indexing the
full set (800 files) takes milliseconds.

Example:
    >>> index = index_real_layout("/data/microcalc")  # doctest: +SKIP
    >>> index.case("suspicious-3").image("CC", "recent").image_path.name  # doctest: +SKIP
    'CC_recemt.dcm'
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mcalc.dataset.case_folder import (
    index_case_folder,
    is_system_file,
    leftover_problem,
    rel_path,
)
from mcalc.dataset.metadata import CaseMetadata, parse_description
from mcalc.dataset.records import (
    SUSPICIOUS_BIRADS,
    CaseRecord,
    DatasetIndex,
    Problem,
)
from mcalc.dataset.zenodo import (
    DEMO_MARKER,
    DESCRIPTION_NAME,
    GROUP_FOLDERS,
    GROUP_SHEETS,
)
from mcalc.errors import DatasetError

__all__ = [
    "index_real_layout",
    "find_data_dir",
    "EXPECTED_LAYOUT",
]

log = logging.getLogger(__name__)

#: What the layout should look like, for error messages.
EXPECTED_LAYOUT = (
    "expected the micro-calcification dataset layout <root>/Dataset/Normal_cases/<n>/ and "
    "<root>/Dataset/Suspicious_cases/<n>/, each case folder holding CC_prior.dcm, "
    "CC_recent.dcm, MLO_prior.dcm, MLO_recent.dcm and their *_GT.jpg annotations"
)
_WHAT_TO_DO = (
    "point at the folder that holds Dataset/ (or at Dataset/ itself), or at a manifest CSV"
)

_SKIPPED_DIRS = frozenset({"__macosx"})
_CASE_FOLDER = re.compile(r"^\s*(?:case[\s_\-]*)?0*(\d+)\s*$", re.IGNORECASE)
_SEARCH_DEPTH = 2
_MAX_DIRS_PER_LEVEL = 500


def _norm(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _subdirs(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                Path(e.path)
                for e in it
                if e.is_dir() and not e.name.startswith(".") and e.name.lower() not in _SKIPPED_DIRS
            )
    except OSError:
        return []


def _group_dirs(folder: Path) -> dict[str, Path]:
    """``group -> folder`` for the ``Normal_cases`` / ``Suspicious_cases`` folders in ``folder``."""
    found: dict[str, Path] = {}
    for sub in _subdirs(folder):
        norm = _norm(sub.name)
        for group, name in GROUP_FOLDERS.items():
            if norm in {name.lower(), group} and group not in found:
                found[group] = sub
    return found


def find_data_dir(root: Path) -> Path:
    """The folder holding ``Normal_cases/`` and/or ``Suspicious_cases/``.

    Looks in ``root`` itself, then up to two levels below it; where several are found at
    the same level, a single one named ``Dataset*`` wins.

    Raises:
        DatasetError: none found, or several with no way to choose.
    """
    if _group_dirs(root):
        return root
    level = [root]
    for _ in range(_SEARCH_DEPTH):
        below = [sub for folder in level for sub in _subdirs(folder)][:_MAX_DIRS_PER_LEVEL]
        hits = [sub for sub in below if _group_dirs(sub)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            named = [h for h in hits if h.name.lower().startswith("dataset")]
            if len(named) == 1:
                return named[0]
            listed = ", ".join(str(h) for h in hits)
            raise DatasetError(
                f"{root} holds several dataset folders ({listed}); point at the one to use"
            )
        level = below
    try:
        with os.scandir(root) as it:
            present = sorted(e.name for e in it)
    except OSError as exc:
        raise DatasetError(f"{root}: cannot list the folder ({exc})") from exc
    if not present:
        raise DatasetError(f"{root} is empty; {EXPECTED_LAYOUT}; {_WHAT_TO_DO}")
    shown = ", ".join(present[:8]) + (" ..." if len(present) > 8 else "")
    raise DatasetError(
        f"{root} holds no Normal_cases/ or Suspicious_cases/ folder (looked in it and "
        f"{_SEARCH_DEPTH} levels below; it holds {shown}); {EXPECTED_LAYOUT}; {_WHAT_TO_DO}"
    )


def _case_folders(group_dir: Path, group: str, base: Path) -> tuple[dict[int, Path], list[Problem]]:
    """Numbered case folders of one group folder; anything else there is reported."""
    folders: dict[int, Path] = {}
    problems: list[Problem] = []
    with os.scandir(group_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        if not entry.is_dir():
            if is_system_file(entry.name):
                problems.append(leftover_problem(path, base))
            else:
                problems.append(
                    Problem(
                        str(path),
                        f"file {rel_path(path, base)} lies outside the case folders; left out",
                    )
                )
            continue
        found = _CASE_FOLDER.match(entry.name)
        if found is None:
            level = "info" if entry.name.startswith(".") else "warning"
            problems.append(
                Problem(
                    str(path),
                    f"folder {rel_path(path, base)} is not a numbered case folder; left out",
                    level,
                )
            )
            continue
        number = int(found.group(1))
        if number in folders:
            problems.append(
                Problem(
                    str(path),
                    f"folder {rel_path(path, base)} is case {group}-{number} again "
                    f"(kept {folders[number].name}); left out",
                    "error",
                )
            )
            continue
        folders[number] = path
    return folders, problems


def _stray_entries(data_dir: Path, groups: dict[str, Path], base: Path) -> list[Problem]:
    """Files and folders beside the group folders that are not part of the layout."""
    problems: list[Problem] = []
    known = {p.name for p in groups.values()}
    with os.scandir(data_dir) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        path = Path(entry.path)
        name = entry.name.lower()
        if entry.name in known or name.startswith("~$") or name == DEMO_MARKER:
            continue
        if entry.is_dir():
            if name.startswith(".") or name in _SKIPPED_DIRS:
                continue
            problems.append(
                Problem(
                    str(path),
                    f"folder {rel_path(path, base)} is not {' or '.join(GROUP_FOLDERS.values())}; "
                    "left out",
                )
            )
        elif not (name.startswith("readme") or name.endswith(".xlsx")):
            problems.append(
                Problem(
                    str(path), f"{rel_path(path, base)}: not part of the layout, ignored", "info"
                )
            )
    return problems


def _meta_dirs(root: Path, data_dir: Path) -> list[Path]:
    """Where ``Description.xlsx`` and the demo marker may be: ``data_dir`` up to ``root``,
    and the parent of a ``Dataset*`` folder that was opened directly."""
    dirs = [data_dir]
    here = data_dir
    while here != root and root in here.parents:
        here = here.parent
        dirs.append(here)
    if data_dir == root and root.name.lower().startswith("dataset"):
        dirs.append(root.parent)
    return dirs


def _find_description(dirs: Iterable[Path]) -> Path | None:
    for folder in dirs:
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        lowered = {n.lower(): n for n in names if not n.startswith("~$")}
        if DESCRIPTION_NAME.lower() in lowered:
            return folder / lowered[DESCRIPTION_NAME.lower()]
        others = [n for low, n in lowered.items() if "description" in low and low.endswith(".xlsx")]
        if len(others) == 1:
            return folder / others[0]
    return None


def _read_metadata(
    dirs: list[Path],
) -> tuple[Path | None, dict[tuple[str, int], CaseMetadata], list[Problem]]:
    description = _find_description(dirs)
    if description is None:
        where = dirs[-1] if len(dirs) > 1 else dirs[0]
        return (
            None,
            {},
            [
                Problem(
                    str(where / DESCRIPTION_NAME),
                    f"no {DESCRIPTION_NAME} found in {where}; cases have no metadata "
                    "(laterality, BI-RADS, density, biopsy, age)",
                )
            ],
        )
    try:
        table = parse_description(description)
    except DatasetError as exc:
        return (
            description,
            {},
            [Problem(str(description), f"{exc}; cases have no metadata", "warning")],
        )
    return description, table.rows, list(table.problems)


def _metadata_problems(
    case: CaseRecord, group: str, row: CaseMetadata, description: Path
) -> list[Problem]:
    birads = row.get("birads")
    if birads is None:
        return []
    odd = (group == "normal" and birads in SUSPICIOUS_BIRADS) or (
        group == "suspicious" and birads in {"1", "2"}
    )
    if not odd:
        return []
    return [
        Problem(
            str(description),
            f"{description.name} gives {case.case_id} BI-RADS {birads}, unusual for a case "
            f"under {GROUP_FOLDERS[group]}",
        )
    ]


@dataclass(frozen=True)
class _Metadata:
    """The description found (or ``None``), its rows, and the groups that have rows."""

    description: Path | None
    rows: dict[tuple[str, int], CaseMetadata]
    groups_with_rows: set[str]


def _case(
    group: str, number: int, folder: Path, root: Path, meta: _Metadata, problems: list[Problem]
) -> CaseRecord | None:
    """One case folder with its row of the description; ``None`` when no image is usable.

    What is odd about it is appended to ``problems``.
    """
    case_id = f"{group}-{number}"
    images, case_problems = index_case_folder(folder, case_id, root)
    problems.extend(case_problems)
    if not images:
        problems.append(
            Problem(
                str(folder),
                f"{rel_path(folder, root)}: no usable image; case {case_id} left out",
                "error",
            )
        )
        return None
    description = meta.description
    row = meta.rows.get((group, number), CaseMetadata())
    if not row and description is not None and group in meta.groups_with_rows:
        problems.append(
            Problem(
                str(description),
                f"{description.name} has no row for Folder # {number} in sheet "
                f"{GROUP_SHEETS[group]}; case {case_id} has no metadata",
            )
        )
    case = CaseRecord(
        case_id=case_id, patient_id=case_id, images=images, group=group, folder=folder, **row
    )
    if description is not None:
        problems.extend(_metadata_problems(case, group, row, description))
    return case


def _rows_without_folder(meta: _Metadata, numbered: set[tuple[str, int]]) -> list[Problem]:
    """Rows of the description whose case folder does not exist."""
    if meta.description is None:
        return []
    name = meta.description.name
    return [
        Problem(
            str(meta.description),
            f"{name} sheet {GROUP_SHEETS[group]} has a row for Folder # "
            f"{number} but there is no folder {GROUP_FOLDERS[group]}/{number}",
        )
        for group, number in sorted(set(meta.rows) - numbered)
    ]


def index_real_layout(path: str | Path) -> DatasetIndex:
    """Index the real dataset's folders (and its spreadsheet) without decoding any image.

    Args:
        path: the folder holding ``Dataset/`` (or ``Dataset_v3/``, any single
            ``Dataset*``), the ``Dataset/`` folder itself, or any folder directly holding
            ``Normal_cases/`` and ``Suspicious_cases/``.

    Returns:
        Cases ``normal-<n>`` / ``suspicious-<n>`` sorted by group then number, with
        ``patient_id`` equal to the case id (one breast per folder; the real patient ids
        are not published), and every problem found.

    Raises:
        DatasetError: the path does not exist, is not a folder, is empty, holds no such
            layout, or holds it without a single usable case.
    """
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise DatasetError(f"{root} does not exist; {_WHAT_TO_DO}")
    if not root.is_dir():
        raise DatasetError(f"{root} is a file, not a folder; {EXPECTED_LAYOUT}; {_WHAT_TO_DO}")
    data_dir = find_data_dir(root)
    groups = _group_dirs(data_dir)
    problems: list[Problem] = _stray_entries(data_dir, groups, root)
    for group, name in GROUP_FOLDERS.items():
        if group not in groups:
            problems.append(
                Problem(str(data_dir / name), f"no {name}/ folder in {data_dir}", "warning")
            )

    meta_dirs = _meta_dirs(root, data_dir)
    description, rows, meta_problems = _read_metadata(meta_dirs)
    problems.extend(meta_problems)
    meta = _Metadata(description, rows, {g for g, _ in rows})

    cases: list[CaseRecord] = []
    numbered: set[tuple[str, int]] = set()
    for group in GROUP_FOLDERS:
        if group not in groups:
            continue
        folders, folder_problems = _case_folders(groups[group], group, root)
        problems.extend(folder_problems)
        for number in sorted(folders):
            numbered.add((group, number))
            case = _case(group, number, folders[number], root, meta, problems)
            if case is not None:
                cases.append(case)
    problems.extend(_rows_without_folder(meta, numbered))

    if not cases:
        errors = "; ".join(p.message for p in problems if p.severity == "error")[:500]
        raise DatasetError(
            f"{data_dir} holds no usable case ({errors or 'the case folders are empty'}); "
            f"{EXPECTED_LAYOUT}"
        )
    synthetic = any((d / DEMO_MARKER).is_file() for d in [root, *meta_dirs])
    log.info(
        "indexed %s: %d cases, %d images, %d problems",
        data_dir,
        len(cases),
        sum(len(c.images) for c in cases),
        len(problems),
    )
    return DatasetIndex(
        root=root,
        source="real-layout",
        synthetic=synthetic,
        cases=tuple(cases),
        problems=tuple(problems),
    )
