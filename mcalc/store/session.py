"""One reader editing the marks of one image: the working copy, its undo, save and conflicts.

The Annotate page keeps one :class:`EditSession` per image and reader and only draws it.
The working copy lives here until it is saved, so a refused save (conflict, read-only or
full store) loses nothing: the edit stays in the session and can be exported.

Undo follows one rule: with unsaved edits, the newest is undone in the session; with none,
the last saved edit is undone in the store as a new version (:meth:`MarkStore.undo`, one
edit at a time even when a save held several, see :func:`mcalc.store.marks.undo_one_edit`).

Example:
    >>> import tempfile
    >>> s = EditSession.open(MarkStore(tempfile.mkdtemp()), "case-1/CC_recent", "ann", (50, 50))
    >>> _ = s.add_point(10, 12, "benign")
    >>> s.dirty, s.save().message, s.dirty
    (True, 'Saved as version 1.', False)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np

from mcalc.store.mark_store import MarkStore
from mcalc.store.marks import ImageMarks, merge_marks
from mcalc.store.placement import check_click, nearest_mark
from mcalc.store.record import StoreConflictError, StoreError
from mcalc.viewer import ImageView

__all__ = ["Feedback", "SaveResult", "EditSession", "Snap", "UNDO_DEPTH"]

log = logging.getLogger(__name__)

#: Unsaved edits kept for undo (the oldest are dropped first).
UNDO_DEPTH = 100

#: How a message is shown: Streamlit's ``st.info``, ``st.success``, ``st.warning``, ``st.error``.
Kind = Literal["info", "success", "warning", "error"]
#: Maps a click in file coordinates to where the mark goes (e.g. the calcification nearby).
Snap = Callable[[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Feedback:
    """What to tell the reader after an edit: ``kind`` and ``text``."""

    kind: Kind
    text: str


@dataclass(frozen=True)
class SaveResult:
    """What a write to the store did.

    Attributes:
        status: ``saved`` (a new version), ``local`` (undone in the session, nothing
            written), ``conflict`` (someone saved meanwhile: the edit is kept as a conflict
            copy and the session shows :attr:`EditSession.conflict`) or ``error`` (nothing
            written, the edit stays in the session).
        message: what to tell the reader.
        version: the new version (``saved``).
        conflict_path: where the conflict copy was kept (``conflict``).
    """

    status: Literal["saved", "local", "conflict", "error"]
    message: str = ""
    version: int | None = None
    conflict_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("saved", "local")

    @property
    def kind(self) -> Kind:
        if self.status == "saved":
            return "success"
        return "info" if self.status == "local" else "error"


class EditSession:
    """The working copy of one reader's marks on one image.

    Attributes:
        store: where the marks are saved.
        marks: the working copy (file coordinates), including unsaved edits.
        saved: the marks of version :attr:`base` as loaded or last saved.
        base: the stored version the working copy started from (0: none).
        conflict: the message of an unresolved conflict (``None``: none).
        conflict_path: where the store kept the conflicting edit.
        selected: id of the selected mark (``None``: none).

    Use :meth:`open`; every edit method raises ``ValueError`` (bad coordinates, label) or
    ``KeyError`` (no such mark) and changes nothing then.
    """

    def __init__(self, store: MarkStore, marks: ImageMarks, base: int) -> None:
        self.store = store
        self.marks = marks
        self.saved = marks
        self.base = base
        self.conflict: str | None = None
        self.conflict_path: Path | None = None
        self.selected: str | None = None
        self._undo: list[ImageMarks] = []

    @classmethod
    def open(
        cls, store: MarkStore, image_key: str, reader: str, image_shape: tuple[int, int]
    ) -> EditSession:
        """The stored marks of the image (none yet: empty), sized ``image_shape`` if unsized.

        Raises:
            StoreReadError: the stored record cannot be read.
        """
        session = cls(store, ImageMarks(image_key, reader, image_shape=image_shape), 0)
        session._load(image_shape)
        return session

    # -- state ------------------------------------------------------------------------
    @property
    def image_key(self) -> str:
        return self.marks.image_key

    @property
    def reader(self) -> str:
        return self.marks.reader

    @property
    def dirty(self) -> bool:
        """Edits not saved yet."""
        return self.marks != self.saved

    @property
    def can_undo_locally(self) -> bool:
        """An unsaved edit to undo in the session (else :meth:`undo` works on the store)."""
        return bool(self._undo)

    def undo_target(self) -> int | None:
        """The saved version a store undo steps back towards (``None``: nothing to undo)."""
        try:
            return self.store.undo_target(self.image_key, self.reader)
        except StoreError:
            return None

    def _load(self, shape: tuple[int, int] | None = None) -> None:
        state = self.store.load(self.image_key, self.reader)
        marks = state.marks
        shape = shape or self.marks.image_shape
        if not marks.image_shape and shape:
            marks = replace(marks, image_shape=shape)
        self.marks = self.saved = marks
        self.base = state.version
        self._undo = []
        self.conflict = None
        self.conflict_path = None

    def reload(self) -> None:
        """Drop the working copy and load the stored version (a conflict copy stays on disk)."""
        self._load()

    def follow_store(self) -> bool:
        """Load the stored version when it moved on and nothing here is unsaved.

        Returns whether it was reloaded (another session or an import saved meanwhile).

        Raises:
            StoreReadError: the stored record cannot be read.
        """
        if self.dirty or self.conflict:
            return False
        if self.store.load(self.image_key, self.reader).version == self.base:
            return False
        self._load()
        return True

    # -- edits ------------------------------------------------------------------------
    def edit(self, new: ImageMarks) -> None:
        """Make ``new`` the working copy; :meth:`undo` brings the previous one back."""
        if new.image_key != self.image_key or new.reader != self.reader:
            raise ValueError(
                f"an edit of {self.image_key} / {self.reader} got marks of "
                f"{new.image_key} / {new.reader}"
            )
        if new == self.marks:
            return
        self._undo = [*self._undo, self.marks][-UNDO_DEPTH:]
        self.marks = new

    def select(self, mark_id: str | None) -> None:
        """Select a mark (``None``: clear); an unknown id clears the selection."""
        known = {m.id for m in self.marks.all_marks}
        self.selected = mark_id if mark_id in known else None

    def add_point(self, row: float, col: float, label: str) -> str:
        """Add a calcification at file ``(row, col)``, select it; returns its id."""
        new = self.marks.add_point(row, col, label)
        self.edit(new)
        self.selected = new.points[-1].id
        return self.selected

    def move_point(self, mark_id: str, row: float, col: float) -> None:
        """Move point ``mark_id`` to file ``(row, col)``."""
        self.edit(self.marks.move_point(mark_id, row, col))

    def delete(self, mark_id: str) -> None:
        """Delete a mark (undo brings it back)."""
        self.edit(self.marks.remove(mark_id))
        if self.selected == mark_id:
            self.selected = None

    def relabel(
        self, mark_id: str, *, label: str | None = None, comment: str | None = None
    ) -> None:
        """Change the label and/or comment of a mark."""
        self.edit(self.marks.edit(mark_id, label=label, comment=comment))

    def set_points(
        self,
        points: Sequence[tuple[str | None, float, float, str]],
        tolerance: float = 0.5,
        *,
        outlines: Sequence[tuple[str | None, str, Sequence[tuple[float, float]], str]]
        | None = None,
    ) -> int:
        """Make the point marks those of ``points`` (``(id or None for a new one, row, col,
        label)`` in file coordinates), as a browser viewer sends them on save: known ids are
        moved (by more than ``tolerance`` pixels) or relabelled, new ones added, missing ones
        deleted. With ``outlines`` (``(id or None, kind, polygon, label)``, file coordinates)
        the cluster outlines and regions of interest likewise (known ones relabelled, new
        ones added, missing ones deleted; a drawn outline is not reshaped); without, regions
        stay. One edit (one undo step); returns how many marks changed.

        Raises:
            ValueError: a point or vertex outside the image, a bad label or kind (nothing
                changes then).
            KeyError: an id that is not one of this image's marks (nothing changes then).
        """
        marks = self.marks
        known = {p.id: p for p in marks.points}
        kept: set[str] = set()
        changed = 0
        for mid, row, col, label in points:
            if mid is None:
                marks = marks.add_point(row, col, label)
                changed += 1
                continue
            if mid not in known:
                raise KeyError(f"no point mark {mid!r} on {self.image_key}; reload the image")
            kept.add(mid)
            old = known[mid]
            if abs(old.row - row) > tolerance or abs(old.col - col) > tolerance:
                marks = marks.move_point(mid, row, col)
                changed += 1
            if old.label != label:
                marks = marks.edit(mid, label=label)
                changed += 1
        for mid in known:
            if mid not in kept:
                marks = marks.remove(mid)
                changed += 1
        if outlines is not None:
            marks, n = _with_outlines(marks, outlines, self.image_key)
            changed += n
        self.edit(marks)
        if self.selected is not None:
            self.select(self.selected)
        return changed

    def save_copy(
        self,
        points: Sequence[tuple[str | None, float, float, str]],
        *,
        outlines: Sequence[tuple[str | None, str, Sequence[tuple[float, float]], str]]
        | None = None,
        base: int | None = None,
    ) -> SaveResult:
        """Save a copy of the marks edited elsewhere (the reading viewer's, in the browser):
        ``points`` and ``outlines`` as :meth:`set_points` takes them, edited from stored
        version ``base`` (``None``: this session's :attr:`base`).

        The session follows saves made elsewhere (:meth:`follow_store`) while the copy stays
        as it was loaded: a copy of an older version is read against that version's marks
        and saved on it, so the store keeps it as a conflict copy and :attr:`conflict` offers
        the choice. Read against the newer version and saved on top, it deleted every mark
        that version added (a second tab's save took the first tab's marks away unseen).

        Returns:
            ``saved``; ``local`` when the copy changes nothing (nothing written);
            ``conflict``; or ``error`` (a bad mark or an unknown version: nothing changes).

        Example:
            >>> import tempfile
            >>> store = MarkStore(tempfile.mkdtemp())
            >>> a = EditSession.open(store, "case-1/CC_recent", "ann", (50, 50))
            >>> b = EditSession.open(store, "case-1/CC_recent", "ann", (50, 50))
            >>> _ = a.add_point(10, 12, "benign"); a.save().version
            1
            >>> b.follow_store(), b.save_copy([(None, 30, 30, "benign")], base=0).status
            (True, 'conflict')
            >>> b.resolve("merge").message, len(b.marks.points)
            ('Saved as version 2.', 2)
        """
        if base is None or base == self.base:
            try:
                changed = self.set_points(points, outlines=outlines)
            except (KeyError, ValueError) as exc:
                return SaveResult("error", f"Not saved: {exc}")
            if not changed and not self.dirty:
                return SaveResult("local", "Nothing to save: the marks are as stored.")
            return self.save()
        try:
            start = self.store.version(self.image_key, self.reader, int(base))
            copy = EditSession(
                self.store,
                replace(start, image_shape=start.image_shape or self.marks.image_shape),
                int(base),
            )
            if self.marks.comment != self.saved.comment:  # an unsaved comment of this page
                copy.set_comment(self.marks.comment)
            copy.set_points(points, outlines=outlines)
        except (StoreError, KeyError, ValueError) as exc:
            return SaveResult("error", f"Not saved: {exc}")
        if not copy.dirty:  # the viewer's copy is the old version as it was: nothing to keep
            return SaveResult(
                "local",
                f"Nothing to save: the marks are as version {base}, which the viewer had "
                f"loaded; version {self.base} was saved since and is shown now.",
            )
        self.marks, self.saved, self.base, self._undo = copy.marks, copy.saved, copy.base, []
        return self.save()

    def add_region(self, kind: str, polygon: Sequence[tuple[float, float]], label: str) -> str:
        """Add a cluster outline or region of interest (file coordinates); returns its id."""
        new = self.marks.add_region(kind, polygon, label)
        self.edit(new)
        return new.regions[-1].id

    def set_comment(self, text: str) -> None:
        """Set the comment on the whole image."""
        self.edit(self.marks.with_comment(text))

    def discard(self) -> None:
        """Back to the saved version (an edit itself: :meth:`undo` brings the edits back)."""
        self.edit(self.saved)

    # -- clicks (display coordinates) -----------------------------------------------------
    def click(
        self,
        view: ImageView,
        region: np.ndarray | None,
        row: float,
        col: float,
        *,
        tool: Literal["add", "edit"],
        label: str,
        hit_radius: float,
        snap: Snap | None = None,
    ) -> Feedback:
        """Apply one click at display ``(row, col)`` with the Add or Select/move tool.

        A click on one of the reader's marks selects it. Otherwise ``add`` places a new
        calcification there and ``edit`` moves the selected one there, when the click is
        inside the image and the breast (:func:`~mcalc.store.placement.check_click`).

        Args:
            view: the image shown; region: its breast mask (``None``: no breast check).
            tool: ``add`` or ``edit``; label: label of a new mark.
            hit_radius: how near (display pixels) a click must be to select a mark.
            snap: maps the file position to the calcification nearby (``None``: as clicked).
        """
        hit = nearest_mark(self.marks, view, row, col, hit_radius)
        if hit is not None:
            self.selected = hit
            if tool == "edit":
                return Feedback(
                    "info", "Mark selected: edit it below, or click elsewhere to move it there."
                )
            return Feedback(
                "info", "That is one of your marks: selected it instead of adding another."
            )
        if tool == "edit" and self.selected not in {p.id for p in self.marks.points}:
            return Feedback("info", "Click on one of your marks to select it.")
        target = check_click(view, region, row, col)
        if not target.ok:
            return Feedback("warning", target.message)
        frow, fcol = view.to_file(target.row, target.col)
        if snap is not None:
            frow, fcol = snap(frow, fcol)
        if tool == "edit":
            assert self.selected is not None  # checked above
            self.move_point(self.selected, frow, fcol)
            return Feedback("success", "Mark moved (not saved yet).")
        self.add_point(frow, fcol, label)
        return Feedback("success", f"Added a {label} calcification (not saved yet).")

    def draw_region(
        self, view: ImageView, kind: str, polygon: Sequence[tuple[float, float]], label: str
    ) -> Feedback:
        """Add a region drawn in display coordinates (a lasso, or a box's corners)."""
        try:
            self.add_region(kind, [view.to_file(r, c) for r, c in polygon], label)
        except ValueError as exc:
            return Feedback("warning", f"Cannot add that region: {exc}")
        return Feedback("success", f"Added a {label} {kind} outline (not saved yet).")

    # -- the store ------------------------------------------------------------------------
    def _written(
        self, write: Callable[[], int], ok: Callable[[int], str], failed: str
    ) -> SaveResult:
        """Run one store write; a conflict is kept in :attr:`conflict`, errors reported."""
        try:
            version = write()
        except StoreConflictError as exc:
            log.info("%s / %s: conflict kept in %s", self.image_key, self.reader, exc.conflict_path)
            self.conflict, self.conflict_path = str(exc), exc.conflict_path
            return SaveResult("conflict", str(exc), conflict_path=exc.conflict_path)
        except (StoreError, ValueError, KeyError) as exc:
            log.warning("%s / %s: %s: %s", self.image_key, self.reader, failed, exc)
            return SaveResult("error", f"{failed}: {exc}")
        return SaveResult("saved", ok(version), version)

    def save(self) -> SaveResult:
        """Save the working copy as a new version of the record."""
        marks = self.marks
        result = self._written(
            lambda: self.store.save(marks, base_version=self.base),
            lambda v: f"Saved as version {v}.",
            "Not saved",
        )
        if result.version is not None:
            self._saved_as(marks, result.version)
        return result

    def _saved_as(self, marks: ImageMarks, version: int) -> None:
        self.marks = self.saved = marks
        self.base = version
        self._undo = []
        self.conflict = None
        self.conflict_path = None

    def undo(self) -> SaveResult:
        """Undo one edit: the newest unsaved one, else the last saved one (a new version)."""
        if self._undo:
            self.marks = self._undo.pop()
            return SaveResult("local", "Edit undone (not saved yet).")
        result = self._written(
            lambda: self.store.undo(self.image_key, self.reader, base_version=self.base),
            lambda v: f"Last saved edit undone (saved as version {v}).",
            "Cannot undo",
        )
        if result.version is not None:
            self._load()
        return result

    def restore(self, number: int) -> SaveResult:
        """Make version ``number`` current again, as a new version (no unsaved edits); one
        equal to the current version is not written again (``local``, said)."""
        if self.dirty:
            return SaveResult("error", "Cannot restore: save or discard your edits first.")
        base = self.base
        result = self._written(
            lambda: self.store.restore(
                self.image_key, self.reader, int(number), base_version=self.base
            ),
            lambda v: f"Version {number} restored as version {v}.",
            "Cannot restore",
        )
        if result.version == base:  # the store wrote nothing: no version to tell of
            return SaveResult(
                "local",
                f"Version {number} is the same as the current version {base}: nothing to restore.",
            )
        if result.version is not None:
            self._load()
        return result

    def resolve(self, how: Literal["load", "merge", "mine"]) -> SaveResult:
        """End a conflict: ``load`` the stored version (the edit stays in the conflict
        copy), ``merge`` both and save, or save ``mine`` on top of the stored version.

        A failed save keeps the conflict open with the new message.
        """
        if how == "load":
            self._load()
            return SaveResult(
                "local", "Loaded the stored version; your edit stays in the conflict copy."
            )
        if how not in ("merge", "mine"):
            raise ValueError(f"resolve with 'load', 'merge' or 'mine', got {how!r}")
        try:
            stored = self.store.load(self.image_key, self.reader)
            marks = merge_marks(self.marks, stored.marks) if how == "merge" else self.marks
            action = "merge" if how == "merge" else "save"
            version = self.store.save(
                marks, base_version=stored.version, action=action, note="conflict resolved"
            )
        except StoreError as exc:
            self.conflict = str(exc)
            return SaveResult("conflict", str(exc))
        self._saved_as(marks, version)
        return SaveResult("saved", f"Saved as version {version}.", version)


def _with_outlines(
    marks: ImageMarks,
    outlines: Sequence[tuple[str | None, str, Sequence[tuple[float, float]], str]],
    image_key: str,
) -> tuple[ImageMarks, int]:
    """``marks`` with its regions made those of ``outlines`` (see
    :meth:`EditSession.set_points`), and how many changed."""
    known = {r.id: r for r in marks.regions}
    kept: set[str] = set()
    changed = 0
    for mid, kind, polygon, label in outlines:
        if mid is None:
            marks = marks.add_region(kind, list(polygon), label)
            changed += 1
            continue
        if mid not in known:
            raise KeyError(f"no outline {mid!r} on {image_key}; reload the image")
        kept.add(mid)
        if known[mid].label != label:
            marks = marks.edit(mid, label=label)
            changed += 1
    for mid in known:
        if mid not in kept:
            marks = marks.remove(mid)
            changed += 1
    return marks, changed
