"""Readers' marks on disk: one versioned record per image and reader.

:class:`MarkStore` keeps :class:`~mcalc.store.marks.ImageMarks` in a
:class:`~mcalc.store.versioned.VersionedStore` under ``store_dir/marks`` (atomic writes,
history, conflict copies); the dataset's own annotation files are never written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcalc.store.marks import ImageMarks, check_reader, same_marks, undo_one_edit
from mcalc.store.record import ConflictCopy, StoreReadError, Version
from mcalc.store.versioned import VersionedStore

__all__ = ["MarksState", "VersionInfo", "MarkStore"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MarksState:
    """The stored marks of one image and reader, and the version they come from (0: none)."""

    marks: ImageMarks
    version: int
    saved_at: str = ""


@dataclass(frozen=True)
class VersionInfo:
    """One line of an image's history."""

    number: int
    saved_at: str
    saved_by: str
    action: str
    n_points: int
    n_regions: int
    note: str = ""


@dataclass
class MarkStore:
    """Readers' marks under ``root/marks``, one versioned JSON record per image and reader.

    Args:
        root: the store folder (``Settings.store_dir``).

    Example:
        >>> import tempfile
        >>> store = MarkStore(tempfile.mkdtemp())
        >>> state = store.load("case-1/CC_recent", "ann")
        >>> v = store.save(state.marks.add_point(5, 5), base_version=state.version)
        >>> store.load("case-1/CC_recent", "ann").version, len(store.history("case-1/CC_recent", "ann"))
        (1, 1)
    """

    root: Path
    records: VersionedStore = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.records = VersionedStore(self.root, "marks")

    @staticmethod
    def _parts(image_key: str, reader: str) -> tuple[str, str]:
        return image_key, check_reader(reader)

    def _marks(
        self, payload: dict[str, Any], image_key: str, reader: str, where: str
    ) -> ImageMarks:
        try:
            return ImageMarks.from_payload(payload, image_key=image_key, reader=reader)
        except ValueError as exc:
            raise StoreReadError(f"{where}: {exc}") from exc

    def load(self, image_key: str, reader: str) -> MarksState:
        """The reader's current marks on the image (empty, version 0, if none)."""
        parts = self._parts(image_key, reader)
        record = self.records.load(parts)
        if record.current is None:
            return MarksState(ImageMarks(image_key, parts[1]), 0)
        marks = self._marks(record.current.payload, *parts, str(record.path))
        return MarksState(marks, record.version, record.current.saved_at)

    def save(
        self,
        marks: ImageMarks,
        *,
        base_version: int,
        note: str = "",
        action: str = "save",
        saved_by: str | None = None,
    ) -> int:
        """Save ``marks`` as a new version; returns its number.

        Args:
            marks: the edited marks.
            base_version: the version the editor loaded (``MarksState.version``).
            saved_by: who saves, when not the marks' reader (an import by another reader).

        Raises:
            StoreConflictError: someone saved meanwhile; ``marks`` kept as a conflict copy.
            StoreWriteError: the store cannot be written; keep ``marks`` and export them.
        """
        v = self.records.save(
            self._parts(marks.image_key, marks.reader),
            marks.to_payload(),
            base_version=base_version,
            saved_by=saved_by or marks.reader,
            action=action,
            note=note,
        )
        return v.number

    def recover(self, image_key: str, reader: str) -> tuple[int, Path]:
        """The reader's record on the image that cannot be read as JSON (cut short,
        damaged): its whole versions (up to the first one whose marks cannot be read)
        become the record again and the damaged file is kept aside
        (:meth:`VersionedStore.recover`); returns how many versions were kept and where
        the damaged file now is.

        Raises:
            StoreError: the record can be read, or is not a damaged file; nothing changed.
            StoreWriteError: the store cannot be written; the record is as it was.
        """
        parts = self._parts(image_key, reader)
        versions, aside = self.records.recover(
            parts, lambda payload: self._marks(payload, *parts, "recovered")
        )
        return len(versions), aside

    def history(self, image_key: str, reader: str) -> list[VersionInfo]:
        """Every version, oldest first."""
        record = self.records.load(self._parts(image_key, reader))
        return [_info(v) for v in record.versions]

    def version(self, image_key: str, reader: str, number: int) -> ImageMarks:
        """The marks as they were in version ``number`` (0: empty)."""
        parts = self._parts(image_key, reader)
        if number == 0:
            return ImageMarks(image_key, parts[1])
        record = self.records.load(parts)
        return self._marks(record.get(number).payload, *parts, f"{record.path} v{number}")

    def restore(self, image_key: str, reader: str, number: int, *, base_version: int) -> int:
        """Make version ``number`` current again (as a new version); returns its number,
        the current one's when it already equals version ``number`` (nothing written)."""
        parts = self._parts(image_key, reader)
        return self.records.restore(
            parts, number, saved_by=parts[1], base_version=base_version
        ).number

    def undo_target(self, image_key: str, reader: str) -> int | None:
        """The saved version :meth:`undo` steps back towards (``None``: nothing to undo)."""
        return self.records.undo_target(self.records.load(self._parts(image_key, reader)))

    def undo(self, image_key: str, reader: str, *, base_version: int) -> int:
        """Undo the last saved edit (as a new version); returns the new version's number.

        The state before the current one is the :meth:`undo_target` version. When the
        current marks differ from it by one edit, that version is restored. When the save
        bundled several edits, only the newest is undone (see :func:`undo_one_edit`): the
        new version keeps the current one's origin, so the next undo steps back towards
        the same earlier version, one edit at a time.

        Raises:
            ValueError: nothing to undo.
            StoreConflictError, StoreWriteError: as :meth:`save`.
        """
        parts = self._parts(image_key, reader)
        record = self.records.load(parts)
        target = self.records.undo_target(record)
        if target is None or record.current is None:
            raise ValueError(f"{image_key} / {parts[1]}: nothing to undo")
        current = self._marks(record.current.payload, *parts, str(record.path))
        previous = self.version(image_key, reader, target)
        stepped = undo_one_edit(current, previous)
        if same_marks(stepped, previous):
            return self.records.undo(parts, saved_by=parts[1], base_version=base_version).number
        return self.records.save(
            parts,
            stepped.to_payload(),
            base_version=base_version,
            saved_by=parts[1],
            action="undo",
            note=f"undo of one edit of version {record.version}",
            origin=record.current.origin,
        ).number

    def conflicts(self, image_key: str, reader: str) -> list[ConflictCopy]:
        """Edits kept aside because they were saved on an outdated version."""
        return self.records.conflicts(self._parts(image_key, reader))

    def conflict_marks(self, copy: ConflictCopy) -> ImageMarks:
        return self._marks(copy.payload, copy.parts[0], copy.parts[1], str(copy.path))

    def dismiss_conflict(self, copy: ConflictCopy) -> None:
        self.records.dismiss_conflict(copy)

    def all_current(
        self, *, image_key: str | None = None, reader: str | None = None
    ) -> Iterator[MarksState]:
        """The current marks of every image and reader in the store, or of one image or
        one reader (then only that image's folder, or that reader's files, are read)."""
        prefix = () if image_key is None else (image_key,)
        last = None if reader is None else check_reader(reader)
        for record in self.records.records(prefix=prefix, last=last):
            if record.current is None or len(record.parts) != 2:
                continue
            try:
                marks = self._marks(record.current.payload, *record.parts, str(record.path))
            except StoreReadError as exc:
                log.warning("skipping %s", exc)
                continue
            yield MarksState(marks, record.version, record.current.saved_at)

    def readers(self, image_key: str) -> list[str]:
        """Readers with saved marks on this image, sorted."""
        return sorted({s.marks.reader for s in self.all_current(image_key=image_key)})


def _info(v: Version) -> VersionInfo:
    return VersionInfo(
        number=v.number,
        saved_at=v.saved_at,
        saved_by=v.saved_by,
        action=v.action,
        n_points=len(v.payload.get("points", [])),
        n_regions=len(v.payload.get("regions", [])),
        note=v.note,
    )
