"""One case folder of the real layout: its files read as the eight slots, oddities reported.

A case folder should hold ``CC``/``MLO`` x ``prior``/``recent`` DICOMs and their ``*_GT.jpg``
annotations (:func:`mcalc.dataset.zenodo.canonical_name`). Every file ends up either in an
:class:`~mcalc.dataset.records.ImageRecord` or in a
:class:`~mcalc.dataset.records.Problem`: loosely matched names (warning), duplicates for one
slot (warning, the exact name is kept), unrecognised files and sub-folders (warning),
missing images and annotations (warning: a missing annotation makes the image's
calcifications unknown). Images are never opened.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcalc.dataset.naming import NameMatch, match_name
from mcalc.dataset.records import ImageRecord, Problem
from mcalc.dataset.zenodo import TIMEPOINTS, VIEWS, canonical_name

__all__ = ["index_case_folder", "is_system_file", "leftover_problem", "rel_path"]

_SYSTEM_FILES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})

#: ``(view, timepoint, is_annotation)`` -> a file and how its name was read.
_Slots = dict[tuple[str, str, bool], tuple[Path, NameMatch]]


def rel_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` for messages (the full path when outside it)."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


def is_system_file(name: str) -> bool:
    """Files an operating system leaves in folders (``.DS_Store``, ``._x``, ``Thumbs.db``)."""
    return name.lower() in _SYSTEM_FILES or name.startswith("._")


def leftover_problem(path: Path, base: Path) -> Problem:
    """A file that is not one of the slots: a system file (info) or unrecognised (warning)."""
    if is_system_file(path.name):
        return Problem(str(path), f"{rel_path(path, base)}: system file, ignored", "info")
    return Problem(
        str(path),
        f"unrecognised file {rel_path(path, base)} left out (expected names like "
        "CC_prior.dcm or MLO_recent_GT.jpg)",
        "warning",
    )


def _rank(candidate: tuple[Path, NameMatch]) -> tuple[bool, bool, str]:
    path, match = candidate
    return (not match.exact, "misspelling" in match.note, path.name)


def _read_slots(
    folder: Path, base: Path, problems: list[Problem]
) -> dict[tuple[str, str, bool], list[tuple[Path, NameMatch]]] | None:
    """Every file of the folder under the slot its name reads as; ``None`` if unreadable."""
    slots: dict[tuple[str, str, bool], list[tuple[Path, NameMatch]]] = {}
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        problems.append(
            Problem(str(folder), f"cannot list {rel_path(folder, base)}: {exc}", "error")
        )
        return None
    for entry in entries:
        path = Path(entry.path)
        if entry.is_dir():
            problems.append(
                Problem(
                    str(path),
                    f"folder {rel_path(path, base)} inside a case folder left out "
                    "(its files are not read)",
                    "warning",
                )
            )
            continue
        match = match_name(entry.name)
        if match is None:
            problems.append(leftover_problem(path, base))
            continue
        slots.setdefault(match.slot, []).append((path, match))
    return slots


def _choose(
    slots: dict[tuple[str, str, bool], list[tuple[Path, NameMatch]]],
    base: Path,
    problems: list[Problem],
) -> _Slots:
    """One file per slot: the exact name first, then a loose one that is not a misspelling."""
    chosen: _Slots = {}
    for slot, candidates in slots.items():
        candidates.sort(key=_rank)
        kept = candidates[0]
        chosen[slot] = kept
        if not kept[1].exact:
            problems.append(Problem(str(kept[0]), f"{rel_path(kept[0], base)}: {kept[1].note}"))
        for path, match in candidates[1:]:
            problems.append(
                Problem(
                    str(path),
                    f"{rel_path(path, base)}: a second file for {match.canonical} "
                    f"(kept {kept[0].name}); left out",
                )
            )
    return chosen


def _records(
    chosen: _Slots, folder: Path, case_id: str, base: Path, problems: list[Problem]
) -> tuple[ImageRecord, ...]:
    """An image record per view and timepoint that has an image, with its annotation."""
    images: list[ImageRecord] = []
    for view in VIEWS:
        for timepoint in TIMEPOINTS:
            image = chosen.get((view, timepoint, False))
            annotation = chosen.get((view, timepoint, True))
            slot_name = f"{view}_{timepoint}"
            if image is None:
                problems.append(
                    Problem(str(folder), f"{rel_path(folder, base)}: missing {slot_name} image")
                )
                if annotation is not None:
                    problems.append(
                        Problem(
                            str(annotation[0]),
                            f"{rel_path(annotation[0], base)}: annotation without its "
                            f"{slot_name} image; left out",
                        )
                    )
                continue
            expected = canonical_name(view, timepoint, annotation=True)
            if annotation is None:
                # Every case folder holds the eight files: a missing GT is no clean image.
                problems.append(
                    Problem(
                        str(folder),
                        f"{rel_path(folder, base)}: no {expected} annotation (every case "
                        "folder holds one): the image's calcifications are unknown; "
                        "training, evaluation and changes between exams leave it out",
                        "warning",
                    )
                )
            loose = tuple(
                found[0].name for found in (image, annotation) if found and not found[1].exact
            )
            images.append(
                ImageRecord(
                    case_id=case_id,
                    view=view,
                    timepoint=timepoint,
                    image_path=image[0],
                    annotation_path=annotation[0] if annotation else None,
                    annotation_kind="red" if annotation else "none",
                    loose_names=loose,
                    annotation_missing=None if annotation else expected,
                )
            )
    return tuple(images)


def index_case_folder(
    folder: Path, case_id: str, base: Path
) -> tuple[tuple[ImageRecord, ...], list[Problem]]:
    """The images of one case folder and everything odd about its files.

    Args:
        folder: the case folder.
        case_id: the id its image records carry.
        base: the folder paths in messages are relative to.
    """
    problems: list[Problem] = []
    slots = _read_slots(folder, base, problems)
    if slots is None:
        return (), problems
    return _records(_choose(slots, base, problems), folder, case_id, base, problems), problems
