"""Versioned JSON records on disk: safe paths, atomic writes, history, optimistic locking.

One record is one JSON file holding every version ever saved (newest last); what a record,
a version and a conflict copy are, the store's errors and its safe names live in
:mod:`mcalc.store.record`. The layer is
generic: :mod:`mcalc.store.marks` keeps readers' marks in it and :mod:`mcalc.store.audit` keeps
audit verdicts, each under its own folder of the store.

Guarantees:

* **Atomic writes.** A new file is written to a temporary file in the same folder, flushed,
  ``fsync``-ed and moved over the old one with ``os.replace``; a crash at any point leaves
  either the previous file or the new one, never a mix.
* **No lost update.** :meth:`VersionedStore.save` takes the version the editor started
  from. If the stored record moved on meanwhile, nothing is overwritten: the incoming
  payload is kept as a *conflict copy* beside the record and :class:`StoreConflictError`
  is raised. The check and the write happen under an exclusive ``flock`` on a lock file, so
  two threads or processes cannot both pass the check.
* **Safe paths.** File names are derived from the record's identity (e.g. image key and
  reader): unsafe characters are replaced and a hash of the exact text is appended, so
  ``../x`` or ``a/b`` can never leave the store folder and different names never collide.
* **Nothing read is trusted.** A record whose content does not match its identity, or is
  not valid JSON, raises :class:`StoreReadError` and is never overwritten.

Example:
    >>> import tempfile
    >>> store = VersionedStore(tempfile.mkdtemp(), "demo")
    >>> store.save(("case-1/CC_recent", "ann"), {"n": 1}, base_version=0, saved_by="ann").number
    1
    >>> store.load(("case-1/CC_recent", "ann")).current.payload
    {'n': 1}
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from mcalc import fileio
from mcalc.store.record import (
    FORMAT,
    SCHEMA,
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

__all__ = ["VersionedStore", "note_skipped"]

log = logging.getLogger(__name__)

_SUFFIX = ".json"
_CONFLICT_TAG = ".conflict-"
#: A damaged record file kept aside by :meth:`VersionedStore.recover` (never read again).
_DAMAGED_TAG = ".damaged-"


# --------------------------------------------------------------------------- helpers


def note_skipped(skipped: list[str] | None, why: str) -> None:
    """A record left out because it cannot be read: appended to ``skipped`` where the
    caller collects them (it says them itself, as Audit's warning and ``mcalc audit`` do,
    so the log has it at DEBUG only), else logged as a warning (nobody else would say it)."""
    if skipped is None:
        log.warning("skipping %s", why)
    else:
        log.debug("skipping %s", why)
        skipped.append(why)


def _write_error(path: Path, exc: OSError) -> StoreWriteError:
    if exc.errno == errno.ENOSPC or exc.errno == getattr(errno, "EDQUOT", -1):
        why = "the disk is full"
        todo = "free some space"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "the folder is read-only or not writable by this user"
        todo = "make it writable"
    else:
        why = f"the system refused ({exc.strerror or exc})"
        todo = "check the folder"
    return StoreWriteError(
        f"cannot save to {path.parent}: {why}. Nothing was changed on disk and your edit is "
        f"kept in this session: export it, then {todo} or point MCALC_STORE at a writable "
        "folder."
    )


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`mcalc.fileio.atomic_write_bytes`).

    Raises:
        StoreWriteError: the folder cannot be written; ``path`` is unchanged.
    """
    fileio.atomic_write_bytes(path, data, error=_write_error)


def _exclusive(path: Path) -> contextlib.AbstractContextManager[None]:
    """Hold an exclusive lock tied to ``path`` (a hidden ``.lock`` file beside it)."""
    return fileio.file_lock(path, error=_write_error)


def _dumps(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1, allow_nan=False) + "\n").encode("utf-8")


def _whole_versions(
    text: str, where: str, check: Callable[[dict[str, Any]], object] | None
) -> tuple[Version, ...]:
    """The whole versions at the start of a damaged record's ``versions`` list, numbered
    1, 2, ... up to the first one cut short or damaged."""
    start = text.find('"versions"')
    i = text.find("[", start) + 1 if start >= 0 else 0
    if not i:
        return ()
    decoder = json.JSONDecoder()
    out: list[Version] = []
    while True:
        while i < len(text) and text[i] in " \t\r\n,":
            i += 1
        try:
            raw, i = decoder.raw_decode(text, i)
            version = Version.from_dict(raw, f"{where} version {len(out) + 1}")
            if check is not None:
                check(version.payload)
        except (ValueError, StoreReadError):  # JSONDecodeError is a ValueError
            return tuple(out)
        if version.number != len(out) + 1:
            return tuple(out)
        out.append(version)


class VersionedStore:
    """Versioned JSON records under ``root/kind``, addressed by a tuple of names.

    The last name of ``parts`` is the file, the ones before it are folders, all passed
    through :func:`safe_name`. For readers' marks the parts are ``(image_key, reader)``.

    Args:
        root: the store folder (``Settings.store_dir``). Created on the first save.
        kind: sub-folder and record type, e.g. ``"marks"`` or ``"audits"``.
    """

    def __init__(self, root: str | Path, kind: str) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", kind):
            raise ValueError(f"kind must be a lower-case word, got {kind!r}")
        self.root = Path(root)
        self.kind = kind
        self.folder = self.root / kind

    # -- paths ------------------------------------------------------------------------
    def _check_parts(self, parts: Sequence[str]) -> tuple[str, ...]:
        parts = tuple(parts)
        if not parts or not all(isinstance(p, str) and p.strip() for p in parts):
            raise ValueError(f"record identity must be non-empty strings, got {parts!r}")
        return parts

    def path_for(self, parts: Sequence[str]) -> Path:
        """The record's file; always inside ``root/kind``."""
        parts = self._check_parts(parts)
        path = self.folder.joinpath(
            *(safe_name(p) for p in parts[:-1]), safe_name(parts[-1]) + _SUFFIX
        )
        base = os.path.abspath(self.folder)
        if os.path.commonpath([base, os.path.abspath(path)]) != base:  # defence in depth
            raise ValueError(f"record path {path} would leave the store folder {self.folder}")
        return path

    # -- reading ----------------------------------------------------------------------
    def _read(self, path: Path, parts: tuple[str, ...] | None) -> Record:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if parts is None:
                raise
            return Record(self.kind, parts, path)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreReadError(
                f"{path}: stored record is not readable JSON ({exc}); it was left untouched. "
                "Restore it from a backup or move it aside."
            ) from exc
        if not isinstance(raw, dict) or raw.get("format") != FORMAT or raw.get("kind") != self.kind:
            raise StoreReadError(
                f"{path}: expected an {FORMAT} record of kind {self.kind!r}, got "
                f"format {raw.get('format') if isinstance(raw, dict) else type(raw).__name__!r}"
            )
        if int(raw.get("schema", 0)) > SCHEMA:
            raise StoreReadError(
                f"{path}: record schema {raw.get('schema')} is newer than this mcalc reads "
                f"({SCHEMA}); update mcalc"
            )
        stored = tuple(raw.get("parts") or ())
        if parts is not None and stored != parts:
            raise StoreReadError(f"{path}: record belongs to {stored!r}, expected {parts!r}")
        versions = tuple(
            Version.from_dict(v, f"{path} version {i + 1}")
            for i, v in enumerate(raw.get("versions") or [])
        )
        if [v.number for v in versions] != list(range(1, len(versions) + 1)):
            raise StoreReadError(f"{path}: versions are not numbered 1..{len(versions)}")
        return Record(self.kind, stored, path, versions)

    def load(self, parts: Sequence[str]) -> Record:
        """The record (empty if never saved).

        Raises:
            StoreReadError: the file exists but cannot be read as such a record.
        """
        parts = self._check_parts(parts)
        return self._read(self.path_for(parts), parts)

    def records(
        self,
        *,
        prefix: Sequence[str] = (),
        last: str | None = None,
        skipped: list[str] | None = None,
    ) -> Iterator[Record]:
        """Every record of this kind (unreadable ones are logged and skipped).

        Args:
            prefix: only records whose identity starts with these names (one folder is read).
            last: only records whose last name is this (one file name is matched).
            skipped: where given, why each unreadable record was skipped is appended (for
                a page to say what its table leaves out).
        """
        folder = self.folder.joinpath(*(safe_name(p) for p in prefix))
        if not folder.is_dir():
            return
        pattern = "*" + _SUFFIX if last is None else safe_name(last) + _SUFFIX
        for path in sorted(folder.rglob(pattern)):
            if path.name.startswith(".") or _CONFLICT_TAG in path.name:
                continue
            try:
                record = self._read(path, None)
            except StoreReadError as exc:
                note_skipped(skipped, str(exc))
                continue
            if record.parts[: len(prefix)] == tuple(prefix) and last in (None, record.parts[-1]):
                yield record

    # -- writing ----------------------------------------------------------------------
    def _document(self, parts: tuple[str, ...], versions: Sequence[Version]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema": SCHEMA,
            "kind": self.kind,
            "parts": list(parts),
            "versions": [v.to_dict() for v in versions],
        }

    def save(
        self,
        parts: Sequence[str],
        payload: dict[str, Any],
        *,
        base_version: int | None,
        saved_by: str,
        action: str = "save",
        note: str = "",
        restored_from: int | None = None,
        origin: int | None = None,
    ) -> Version:
        """Append a new version.

        Args:
            parts: identity of the record.
            payload: JSON-ready dict (checked: no NaN, only JSON types).
            base_version: the version the editor started from (0: a new record). ``None``
                appends on top of whatever is stored (for append-only data such as audit
                verdicts, where every version is kept anyway).
            saved_by: who saves.
            action, note: what happened, kept in the history.
            restored_from, origin: set by :meth:`restore`.

        Returns:
            The new version.

        Raises:
            StoreConflictError: ``base_version`` is not the stored version; the payload was
                written to a conflict copy and the record is unchanged.
            StoreWriteError: the folder cannot be written; nothing changed.
            StoreReadError: the stored record is unreadable; nothing changed.
        """
        parts = self._check_parts(parts)
        if not isinstance(payload, dict):
            raise TypeError(f"payload must be a dict, got {type(payload).__name__}")
        try:
            _dumps(payload)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"payload is not plain JSON (no NaN, only JSON types): {exc}") from exc
        path = self.path_for(parts)
        with _exclusive(path):
            record = self._read(path, parts)
            if base_version is not None and base_version != record.version:
                conflict = self._write_conflict(
                    path, parts, payload, saved_by, base_version, record.version
                )
                log.info("conflict on %s: base %d, stored %d", path, base_version, record.version)
                raise StoreConflictError(parts, base_version, record.version, conflict)
            number = record.version + 1
            version = Version(
                number=number,
                saved_at=utc_now(),
                saved_by=saved_by,
                action=action,
                payload=payload,
                base=record.version if base_version is None else base_version,
                restored_from=restored_from,
                origin=number if origin is None else origin,
                note=note,
            )
            _atomic_write(path, _dumps(self._document(parts, [*record.versions, version])))
        log.debug("saved %s version %d (%s)", path, number, action)
        return version

    def restore(
        self, parts: Sequence[str], number: int, *, saved_by: str, base_version: int | None
    ) -> Version:
        """Append a new version equal to version ``number`` (0: the empty record).

        When the current version already holds what version ``number`` does (and is the
        ``base_version`` given), nothing is written and the current version is returned:
        the caller tells a no-op by the number it gets back.

        Raises:
            KeyError: no such version.
            StoreConflictError, StoreWriteError: as :meth:`save`.
        """
        record = self.load(parts)
        cur = record.current
        if (
            cur is not None
            and base_version in (None, cur.number)
            and cur.payload == (record.get(number).payload if number else {})
        ):
            return cur
        return self._restore(record, number, saved_by, base_version, "restore")

    def _restore(
        self, record: Record, number: int, saved_by: str, base_version: int | None, action: str
    ) -> Version:
        if number == 0:
            payload: dict[str, Any] = {}
            origin = 0
        else:
            old = record.get(number)
            payload, origin = old.payload, old.origin
        return self.save(
            record.parts,
            payload,
            base_version=base_version,
            saved_by=saved_by,
            action=action,
            note=f"{action} of version {number}",
            restored_from=number,
            origin=origin,
        )

    def undo_target(self, record: Record) -> int | None:
        """The version :meth:`undo` would restore (``None``: nothing to undo).

        That is the version the current payload was first saved on top of: the state
        before its last save. Undo steps back through the saves: after undoing to version
        2 (a copy of version 2), the next undo restores what version 2 was saved on, and
        so on down to the empty record (0).
        """
        if record.current is None:
            return None
        origin = record.current.origin
        if origin <= 0:
            return None
        try:
            return record.get(origin).base
        except KeyError:
            return None

    def undo(self, parts: Sequence[str], *, saved_by: str, base_version: int | None) -> Version:
        """Restore the state before the current one, as a new version.

        Raises:
            ValueError: nothing to undo.
            StoreConflictError, StoreWriteError: as :meth:`save`.
        """
        record = self.load(parts)
        target = self.undo_target(record)
        if target is None:
            raise ValueError(f"{' / '.join(record.parts)}: nothing to undo")
        return self._restore(record, target, saved_by, base_version, "undo")

    # -- conflicts --------------------------------------------------------------------
    def _write_conflict(
        self,
        path: Path,
        parts: tuple[str, ...],
        payload: dict[str, Any],
        saved_by: str,
        base_version: int,
        stored_version: int,
    ) -> Path:
        stamp = utc_now().replace(":", "").replace("-", "").replace(".", "")
        name = f"{path.stem}{_CONFLICT_TAG}{stamp}-{uuid.uuid4().hex[:6]}{_SUFFIX}"
        target = path.with_name(name)
        doc = {
            "format": FORMAT + "-conflict",
            "schema": SCHEMA,
            "kind": self.kind,
            "parts": list(parts),
            "saved_at": utc_now(),
            "saved_by": saved_by,
            "base_version": base_version,
            "stored_version": stored_version,
            "payload": payload,
        }
        _atomic_write(target, _dumps(doc))
        return target

    def conflicts(self, parts: Sequence[str]) -> list[ConflictCopy]:
        """Conflict copies kept for this record, oldest first."""
        path = self.path_for(parts)
        out = []
        for p in sorted(path.parent.glob(f"{path.stem}{_CONFLICT_TAG}*{_SUFFIX}")):
            try:
                raw = json.loads(p.read_text(encoding="utf-8"))
                out.append(
                    ConflictCopy(
                        path=p,
                        parts=tuple(raw["parts"]),
                        saved_at=str(raw["saved_at"]),
                        saved_by=str(raw["saved_by"]),
                        base_version=int(raw["base_version"]),
                        stored_version=int(raw["stored_version"]),
                        payload=dict(raw["payload"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable conflict copy %s: %s", p, exc)
        return out

    def dismiss_conflict(self, copy: ConflictCopy) -> Path:
        """Mark a conflict copy as dealt with (renamed ``*.resolved``, never deleted)."""
        target = copy.path.with_name(copy.path.name + ".resolved")
        try:
            os.replace(copy.path, target)
        except OSError as exc:
            raise _write_error(copy.path, exc) from exc
        return target

    # -- a damaged record -------------------------------------------------------------
    def recover(
        self, parts: Sequence[str], check: Callable[[dict[str, Any]], object] | None = None
    ) -> tuple[tuple[Version, ...], Path]:
        """Take back what a record file that is not readable JSON (cut short, bytes
        damaged) still holds: its whole versions before the damage, in order, become the
        record, and the damaged file is kept beside it, byte for byte, as
        ``<name>.damaged-<UTC time>-<id>`` (no listing reads it). ``check`` raises
        :class:`StoreReadError` for a payload that cannot be read: the versions end there.

        Returns:
            The versions kept (none: the record starts empty) and the damaged file's place.

        Raises:
            StoreError: the record can be read, or it is JSON but not a record this mcalc
                reads (a newer schema, another kind): not a damaged file; nothing changed.
            StoreWriteError: the folder cannot be written; the record is as it was.
        """
        parts = self._check_parts(parts)
        path = self.path_for(parts)
        with _exclusive(path):
            try:
                self._read(path, parts)
            except StoreReadError:
                pass
            else:
                raise StoreError(f"{path} can be read: nothing to recover")
            try:
                raw = path.read_bytes()
            except OSError as exc:
                raise StoreReadError(f"{path}: cannot read ({exc})") from exc
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:  # a damaged byte: what comes before it
                text = raw[: exc.start].decode("utf-8")
            try:
                json.loads(text)
            except json.JSONDecodeError:
                pass
            else:
                raise StoreError(
                    f"{path} is JSON but not a record this mcalc reads, not cut short or "
                    "damaged: left untouched (a newer mcalc may read it; else an admin moves "
                    "it aside)"
                )
            versions = _whole_versions(text, str(path), check)
            stamp = utc_now().replace(":", "").replace("-", "")
            aside = path.with_name(f"{path.name}{_DAMAGED_TAG}{stamp}-{uuid.uuid4().hex[:6]}")
            _atomic_write(aside, raw)  # kept first: a failure below leaves the record as it was
            _atomic_write(path, _dumps(self._document(parts, versions)))
        log.warning(
            "%s was damaged: %d version(s) recovered, kept aside as %s", path, len(versions), aside
        )
        return versions, aside

    # -- transactions (import) --------------------------------------------------------
    def snapshot(self, parts: Sequence[str]) -> bytes | None:
        """The record file's exact bytes (``None`` if absent), for :meth:`put_back`."""
        try:
            return self.path_for(parts).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreReadError(f"{self.path_for(parts)}: cannot read ({exc})") from exc

    def put_back(
        self, parts: Sequence[str], data: bytes | None, *, if_version: int | None = None
    ) -> bool:
        """Return a record file to a :meth:`snapshot` (rolls back a failed import).

        ``if_version``: only while the record's latest version is that one (the import's
        own), checked under the record's lock: a version saved on top of it meanwhile (the
        reader's other tab) is never taken away. Returns whether the file was put back.
        """
        path = self.path_for(parts)
        with _exclusive(path):
            if if_version is not None:
                latest = self._read(path, tuple(parts)).versions
                if not latest or latest[-1].number != if_version:
                    return False
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            else:
                _atomic_write(path, data)
        return True
