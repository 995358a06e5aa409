"""The readers' store: marks and audits, versioned, written atomically, never lost.

See :mod:`mcalc.store.versioned` for the on-disk guarantees and :mod:`mcalc.store.marks`
for readers' marks. Everything lives under ``Settings.store_dir`` (env ``MCALC_STORE``);
the dataset's own annotation files are never written.
"""

from __future__ import annotations

from mcalc.store.marks import (
    LABELS,
    REGION_KINDS,
    ImageMarks,
    MarksState,
    MarkStore,
    PointMark,
    RegionMark,
    VersionInfo,
    check_reader,
    merge_marks,
    new_mark_id,
    same_marks,
    undo_one_edit,
)
from mcalc.store.versioned import (
    ConflictCopy,
    Record,
    StoreConflictError,
    StoreError,
    StoreReadError,
    StoreWriteError,
    Version,
    VersionedStore,
    atomic_write_bytes,
    safe_name,
    utc_now,
)

__all__ = [
    "LABELS",
    "REGION_KINDS",
    "ConflictCopy",
    "ImageMarks",
    "MarkStore",
    "MarksState",
    "PointMark",
    "Record",
    "RegionMark",
    "StoreConflictError",
    "StoreError",
    "StoreReadError",
    "StoreWriteError",
    "Version",
    "VersionInfo",
    "VersionedStore",
    "atomic_write_bytes",
    "check_reader",
    "merge_marks",
    "new_mark_id",
    "safe_name",
    "same_marks",
    "undo_one_edit",
    "utc_now",
]
