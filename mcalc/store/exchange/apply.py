"""Writing a validated import into the store, completely or not at all."""

from __future__ import annotations

import logging
from dataclasses import replace

from mcalc.store.exchange.validate import ImportPlan, ImportValidationError
from mcalc.store.mark_store import MarkStore
from mcalc.store.marks import same_marks
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


def apply_import(
    store: MarkStore, plan: ImportPlan, *, mode: str = "add", as_reader: str | None = None
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
                merged, base_version=state.version, action="import", note=plan.report.source
            )
            done.append((*parts, version))
    except (StoreError, OSError) as exc:
        for parts, data in reversed(snapshots):
            try:
                store.records.put_back(parts, data)
            except StoreError as undo_exc:  # pragma: no cover - disk died during rollback
                log.error("could not roll back %s: %s", parts, undo_exc)
        raise StoreError(f"import stopped and rolled back, nothing was imported: {exc}") from exc
    log.info("imported %s into %d record(s)", plan.report.source, len(done))
    return done
