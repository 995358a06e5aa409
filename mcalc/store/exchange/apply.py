"""Writing a validated import into the store, completely or not at all."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from mcalc.store.exchange.validate import ImportPlan, ImportValidationError
from mcalc.store.mark_store import MarkStore
from mcalc.store.marks import ImageMarks, PointMark, RegionMark, same_marks
from mcalc.store.record import StoreError

__all__ = ["apply_import", "import_refusal"]

log = logging.getLogger(__name__)


def import_refusal(plan: ImportPlan, as_reader: str | None) -> str | None:
    """Why ``as_reader`` may not import ``plan``, or ``None`` when they may.

    ``as_reader``: the signed-in reader when accounts are on (``None``: accounts off, any
    reader's marks may be imported). A reader writes only their own marks, so a plan
    carrying another reader's is refused; a page asks this before offering the import.

    Example:
        >>> from mcalc.store.exchange.validate import ImportReport
        >>> import_refusal(ImportPlan(ImportReport("x.csv")), None) is None
        True
    """
    if as_reader is None:
        return None
    others = sorted({m.reader for m in plan.marks if m.reader != as_reader})
    if not others:
        return None
    return (
        f"the file holds marks of {', '.join(others)}; signed in as {as_reader}, you "
        "can import only your own marks (remove the reader column, or ask that reader)"
    )


def _joined(stored: str, imported: str) -> str:
    """The image comment after an import that adds: the stored one, and the imported one
    when it says something else (a file imported again does not repeat it)."""
    if not imported or imported in stored.split("\n"):
        return stored
    return f"{stored}\n{imported}" if stored else imported


#: How far an imported point may lie from the stored point of the same id and still be that
#: point unchanged: the points CSV writes coordinates to two decimals.
_SAME_PLACE = 0.006


def _as_stored(stored: PointMark | RegionMark, incoming: PointMark | RegionMark) -> bool:
    """Whether ``incoming`` is the stored mark of its id as a file gives it back: the same
    mark, label, comment, reader and creation time, a point's place within the CSV's
    rounding; its ``updated_at`` aside (a CSV does not carry it: the import stamps it)."""
    if isinstance(stored, PointMark) and isinstance(incoming, PointMark):
        return (
            abs(stored.row - incoming.row) <= _SAME_PLACE
            and abs(stored.col - incoming.col) <= _SAME_PLACE
            and replace(incoming, row=stored.row, col=stored.col, updated_at="")
            == replace(stored, updated_at="")
        )
    if isinstance(stored, RegionMark) and isinstance(incoming, RegionMark):
        return replace(incoming, updated_at="") == replace(stored, updated_at="")
    return False


#: How far a point the file gives without a stored id may lie from a stored point and be
#: that point: a mask's disc is centred on the mark's rounded pixel.
_MASK_PLACE = 0.5


def _stored_at_place(stored: Sequence[PointMark], incoming: PointMark) -> PointMark | None:
    """The stored point that ``incoming``, a point of a file that carries no ids (a mask:
    each mark a new id, label "uncertain", no comment), gives back: one within half a pixel
    of it. ``None`` when ``incoming`` says more (a label, a comment) or lies elsewhere."""
    if incoming.label != "uncertain" or incoming.comment:
        return None
    return next(
        (
            p
            for p in stored
            if abs(p.row - incoming.row) <= _MASK_PLACE and abs(p.col - incoming.col) <= _MASK_PLACE
        ),
        None,
    )


def _stored_where_unchanged(incoming: ImageMarks, stored: ImageMarks) -> ImageMarks:
    """``incoming`` with every mark that is a stored one given back unchanged
    (:func:`_as_stored`) replaced by the stored mark, so that importing an export again
    changes nothing (a CSV stamped every mark with the import's time, and rounded it); a
    point without a stored id at a stored point's place (:func:`_stored_at_place`) too (a
    mask imported back added every mark a second time)."""
    points = {p.id: p for p in stored.points}
    regions = {r.id: r for r in stored.regions}

    free = [p for p in stored.points if p.id not in {q.id for q in incoming.points}]

    def kept(p: PointMark) -> PointMark:
        if p.id in points:
            return points[p.id] if _as_stored(points[p.id], p) else p
        same = _stored_at_place(free, p)
        if same is None:
            return p
        free.remove(same)  # each stored point given back once
        return same

    return replace(
        incoming,
        points=tuple(kept(p) for p in incoming.points),
        regions=tuple(
            regions[r.id] if r.id in regions and _as_stored(regions[r.id], r) else r
            for r in incoming.regions
        ),
    )


def apply_import(
    store: MarkStore,
    plan: ImportPlan,
    *,
    mode: str = "add",
    as_reader: str | None = None,
    by: str | None = None,
) -> list[tuple[str, str, int]]:
    """Write a validated import into the store, completely or not at all.

    Args:
        store: the readers' store.
        plan: from one of the ``parse_*`` functions.
        mode: ``add`` (imported marks join the stored ones; a mark with the same id is
            replaced) or ``replace`` (the imported marks become the image's marks; the
            old ones stay in the history). An image comment in the file (a marks JSON)
            joins the stored one (``add``) or takes its place (``replace``).
        as_reader: the signed-in reader when accounts are on: a plan that carries another
            reader's marks is refused (a reader writes only their own marks).
        by: who imports, recorded as the versions' author (default: each record's reader;
            without accounts, a reader may import another reader's exported marks).

    A mark the store holds, given back unchanged by the file (the same id, place, label,
    comment and creation time; a CSV rounds places to 0.01 px and has no edit time), is
    kept as stored: importing an export again writes nothing.

    Returns:
        ``(image_key, reader, new version)`` per record written; a record that already
        holds exactly what the import would write (the same file imported again) is left
        as it is and not listed.

    Raises:
        ImportValidationError: the plan's report has problems (nothing written).
        StoreError: a record could not be read or written; every record already written
            was put back as it was.
    """
    if mode not in ("add", "replace"):
        raise ValueError(f"mode must be 'add' or 'replace', got {mode!r}")
    if not plan.report.ok or not plan.marks:
        raise ImportValidationError(plan.report)
    refusal = import_refusal(plan, as_reader)
    if refusal is not None:
        raise StoreError(refusal)
    snapshots: list[tuple[tuple[str, str], bytes | None]] = []
    done: list[tuple[str, str, int]] = []
    try:
        for incoming in plan.marks:
            parts = (incoming.image_key, incoming.reader)
            snapshots.append((parts, store.records.snapshot(parts)))
            state = store.load(*parts)
            incoming = _stored_where_unchanged(incoming, state.marks)
            if mode == "replace":
                merged = replace(incoming, comment=incoming.comment or state.marks.comment)
            else:
                new_ids = {m.id for m in incoming.all_marks}
                merged = replace(
                    state.marks,
                    points=(
                        *(p for p in state.marks.points if p.id not in new_ids),
                        *incoming.points,
                    ),
                    regions=(
                        *(r for r in state.marks.regions if r.id not in new_ids),
                        *incoming.regions,
                    ),
                    comment=_joined(state.marks.comment, incoming.comment),
                    image_shape=incoming.image_shape,
                )
            if state.version and same_marks(merged, state.marks):
                continue  # already stored as imported (the same file again): no new version
            version = store.save(
                merged,
                base_version=state.version,
                action="import",
                note=plan.report.source,
                saved_by=by,
            )
            done.append((*parts, version))
    except (StoreError, OSError) as exc:
        # Only the records this import wrote, each while its version is still the top one:
        # a record whose save failed holds nothing of the import (the write is atomic), and
        # putting its snapshot back took away a version another tab had saved meanwhile.
        before = dict(snapshots)
        kept = []
        for key, reader, version in reversed(done):
            try:
                if not store.records.put_back(
                    (key, reader), before[(key, reader)], if_version=version
                ):
                    kept.append(
                        f"{key} / {reader} keeps the import's version {version}: version "
                        f"{store.load(key, reader).version} was saved on top of it"
                    )
            except StoreError as undo_exc:  # pragma: no cover - disk died during rollback
                log.error("could not roll back %s / %s: %s", key, reader, undo_exc)
        if kept:
            raise StoreError(
                f"import stopped ({exc}) and rolled back, except where a newer version was "
                f"saved since: {'; '.join(kept)}"
            ) from exc
        raise StoreError(f"import stopped and rolled back, nothing was imported: {exc}") from exc
    log.info("imported %s into %d record(s)", plan.report.source, len(done))
    return done
