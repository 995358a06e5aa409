"""What the versioned store keeps: records, their versions, conflict copies, and its errors.

The data side of :mod:`mcalc.store.versioned` (which reads and writes them): plain frozen
dataclasses and the store's error kinds, plus the two names every record is built from
(:func:`safe_name` for file names, :func:`utc_now` for times). Import them from either.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcalc.errors import McalcError, WriteError

__all__ = [
    "FORMAT",
    "SCHEMA",
    "StoreError",
    "StoreReadError",
    "StoreWriteError",
    "StoreConflictError",
    "Version",
    "Record",
    "ConflictCopy",
    "safe_name",
    "utc_now",
]

FORMAT = "mcalc-record"
SCHEMA = 1
_MAX_NAME = 60


# --------------------------------------------------------------------------- errors


class StoreError(McalcError):
    """Base class of the store's errors."""


class StoreReadError(StoreError):
    """A stored record cannot be read (not JSON, wrong layout, wrong identity)."""


class StoreWriteError(StoreError, WriteError):
    """The store folder cannot be written (read-only, full, missing permissions).

    Nothing was changed on disk; the caller still holds the unsaved data and should keep it
    (e.g. in the session) so the user can export it.
    """


class StoreConflictError(StoreError):
    """The record moved on since the editor loaded it; the incoming data was kept aside.

    Attributes:
        parts: identity of the record.
        base_version: the version the editor started from.
        stored_version: the version now on disk.
        conflict_path: where the incoming payload was written (a conflict copy).
    """

    def __init__(
        self, parts: tuple[str, ...], base_version: int, stored_version: int, conflict_path: Path
    ) -> None:
        self.parts = parts
        self.base_version = base_version
        self.stored_version = stored_version
        self.conflict_path = conflict_path
        super().__init__(
            f"{' / '.join(parts)}: you started from version {base_version}, but version "
            f"{stored_version} was saved meanwhile (another session or reader). Your edit was "
            f"NOT lost: it is kept as a conflict copy ({conflict_path.name}). Load the stored "
            "version, merge both, or save yours on top of it."
        )


# --------------------------------------------------------------------------- helpers


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def safe_name(text: str) -> str:
    """A file-name-safe, collision-free rendering of ``text``.

    Characters other than ASCII letters, digits and ``-`` become ``_`` (so no ``/``,
    ``..``, drive letters or control characters survive), the result is shortened to 60
    characters and the first 10 hex digits of the SHA-1 of the exact text are appended.

    Example:
        >>> safe_name("suspicious-3/CC_recent")
        'suspicious-3_CC_recent-714c1323f2'
        >>> safe_name("../../etc/passwd").startswith("etc_passwd-")
        True
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a non-empty name, got {text!r}")
    norm = unicodedata.normalize("NFKC", text)
    slug = re.sub(r"[^A-Za-z0-9-]+", "_", norm).strip("_-")[:_MAX_NAME] or "x"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}"


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Version:
    """One saved state of a record.

    Attributes:
        number: 1, 2, ... in order of saving.
        saved_at: UTC time, ISO 8601.
        saved_by: who saved it (reader name).
        action: ``save``, ``restore``, ``undo``, ``import``, ``merge`` ...
        payload: the saved data (plain JSON).
        base: the version the editor started from.
        restored_from: for ``restore``/``undo``, the version whose payload was copied.
        origin: the ``save``-like version this payload first appeared in (for undo).
        note: free text (what happened).
    """

    number: int
    saved_at: str
    saved_by: str
    action: str
    payload: dict[str, Any]
    base: int = 0
    restored_from: int | None = None
    origin: int = 0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "saved_at": self.saved_at,
            "saved_by": self.saved_by,
            "action": self.action,
            "base": self.base,
            "restored_from": self.restored_from,
            "origin": self.origin,
            "note": self.note,
            "payload": self.payload,
        }

    @classmethod
    def from_dict(cls, raw: Any, where: str) -> Version:
        if not isinstance(raw, dict) or not isinstance(raw.get("payload"), dict):
            raise StoreReadError(
                f"{where}: expected a version object with a payload, got {raw!r:.80}"
            )
        try:
            return cls(
                number=int(raw["number"]),
                saved_at=str(raw["saved_at"]),
                saved_by=str(raw.get("saved_by", "")),
                action=str(raw.get("action", "save")),
                payload=raw["payload"],
                base=int(raw.get("base", 0)),
                restored_from=None
                if raw.get("restored_from") is None
                else int(raw["restored_from"]),
                origin=int(raw["origin"] if "origin" in raw else raw["number"]),
                note=str(raw.get("note", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreReadError(f"{where}: malformed version ({exc!r})") from exc


@dataclass(frozen=True)
class Record:
    """A record's identity and all its versions (oldest first); empty when never saved."""

    kind: str
    parts: tuple[str, ...]
    path: Path
    versions: tuple[Version, ...] = ()

    @property
    def current(self) -> Version | None:
        return self.versions[-1] if self.versions else None

    @property
    def version(self) -> int:
        """Number of the current version; 0 for a record never saved."""
        return self.versions[-1].number if self.versions else 0

    def get(self, number: int) -> Version:
        for v in self.versions:
            if v.number == number:
                return v
        raise KeyError(
            f"{' / '.join(self.parts)} has no version {number}; it has 1..{self.version}"
        )


@dataclass(frozen=True)
class ConflictCopy:
    """An incoming save that was kept aside because the record had moved on."""

    path: Path
    parts: tuple[str, ...]
    saved_at: str
    saved_by: str
    base_version: int
    stored_version: int
    payload: dict[str, Any] = field(default_factory=dict)
