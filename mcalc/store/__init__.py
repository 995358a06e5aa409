"""The readers' store: marks and audits, versioned, written atomically, never lost.

See :mod:`mcalc.store.versioned` for the on-disk guarantees, :mod:`mcalc.store.marks` for
readers' marks and :mod:`mcalc.store.mark_store` for where they are kept,
:mod:`mcalc.store.session` for one reader editing one image, :mod:`mcalc.store.placement`
for where a click may place a mark, :mod:`mcalc.store.exchange` for export and import,
:mod:`mcalc.store.audit` for verdicts on model predictions and
:mod:`mcalc.store.reader_agreement` for comparing readers. Everything lives under
``Settings.store_dir`` (env ``MCALC_STORE``); the dataset's own annotation files are never
written.
"""

from __future__ import annotations

from mcalc.store.mark_store import MarksState, MarkStore, VersionInfo
from mcalc.store.marks import (
    LABELS,
    REGION_KINDS,
    ImageMarks,
    PointMark,
    RegionMark,
    check_reader,
    merge_marks,
    new_mark_id,
    same_marks,
    undo_one_edit,
)
from mcalc.store.record import (
    ConflictCopy,
    Record,
    StoreConflictError,
    StoreError,
    StoreReadError,
    StoreWriteError,
    Version,
    safe_name,
    utc_now,
)
from mcalc.store.versioned import VersionedStore

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
    "check_reader",
    "merge_marks",
    "new_mark_id",
    "safe_name",
    "same_marks",
    "undo_one_edit",
    "utc_now",
]
