"""``python -m mcalc temporal``: register a case's prior to its recent exam, show what changed."""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from mcalc.cache import ImageCache
from mcalc.cli.common import add_data_arguments, data_of, document_out
from mcalc.config import get_settings
from mcalc.dataset.records import CaseRecord
from mcalc.dataset.zenodo import VIEWS
from mcalc.errors import DatasetError, McalcError
from mcalc.filenames import key_stem
from mcalc.imaging import to_uint8
from mcalc.paths import shown_path
from mcalc.plural import counted
from mcalc.temporal.change import Tracked
from mcalc.temporal.register import NOT_REGISTERED, Registration

__all__ = ["register_commands", "read_points"]


def read_points(path: str | Path) -> np.ndarray:
    """``(N, 2)`` (row, col) points from a CSV with a ``row,col`` header.

    Raises:
        DatasetError: missing file, missing columns or a value that is not a number.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [f.strip().lower() for f in reader.fieldnames or []]
            if "row" not in fields or "col" not in fields:
                raise DatasetError(
                    f"{path}: expected a CSV with columns row,col (full-resolution pixels of "
                    f"the recent image), got columns {fields or 'none'}"
                )
            pts = []
            for n, line in enumerate(reader, start=2):
                low = {k.strip().lower(): v for k, v in line.items() if k}
                try:
                    pts.append((float(low["row"]), float(low["col"])))
                except (TypeError, ValueError) as exc:
                    raise DatasetError(
                        f"{path} line {n}: row and col must be numbers, got "
                        f"{low.get('row')!r}, {low.get('col')!r}"
                    ) from exc
    except OSError as exc:
        raise DatasetError(f"cannot read points file {path}: {exc.strerror or exc}") from exc
    arr = np.asarray(pts, dtype=float).reshape(-1, 2)
    if not np.all(np.isfinite(arr)):
        raise DatasetError(f"{path}: points must be finite numbers")
    return arr


def _write_png(path: Path, image: np.ndarray) -> None:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"cannot write {path}")


def _reader_marks(case: CaseRecord, view: str, reader: str, reg: Registration) -> dict[str, Any]:
    """A reader's point marks of both rounds (from the store), tracked through ``reg``."""
    from mcalc.store.mark_store import MarkStore
    from mcalc.store.reader_agreement import reader_points
    from mcalc.temporal import count_statuses, track_points

    store = MarkStore(get_settings().store_dir)
    pts = {}
    for tp in ("recent", "prior"):
        rec = case.image(view, tp)
        pts[tp] = reader_points(store.load(rec.key, reader).marks) if rec else np.zeros((0, 2))
    items = track_points(pts["recent"], pts["prior"], reg, tolerance_mm=1.5, kind="reader mark")
    out: dict[str, Any] = {
        "reader": reader,
        "marks": [t.as_dict() for t in items],
        "counts": count_statuses(items),
    }
    if not any(len(p) for p in pts.values()):  # a misspelt name read as "new 0, stable 0"
        out["note"] = (
            f"{reader} has no saved point marks on this view's images in {store.root} "
            "(check the name as saved on Annotate, and MCALC_STORE)"
        )
    return out


def _check_reader(case: CaseRecord, reader: str) -> None:
    """Before any work: where accounts exist, ``--reader`` must name an account or a reader
    with saved marks on the case (marks saved before the accounts, or under
    ``MCALC_AUTH=off``, name readers that are not accounts). In demo mode (no accounts) or
    with ``MCALC_AUTH=off`` the name is looked up in the store only, after the
    registration (a note then says when it has no marks there).

    Raises:
        AccessError: the name is neither; the message names both.
    """
    from mcalc.access import UsersFile
    from mcalc.access.users import AccessError, known_names
    from mcalc.store.mark_store import MarkStore

    settings = get_settings()
    users = UsersFile(settings.users_file)
    if settings.auth == "off" or not users.exists() or users.get(reader) is not None:
        return
    store = MarkStore(settings.store_dir)
    marked = sorted({name for rec in case.images for name in store.readers(rec.key)})
    if reader in marked:
        return
    by = (
        f"marks on {case.case_id} by {', '.join(marked)}"
        if marked
        else f"no marks on {case.case_id}"
    )
    raise AccessError(
        f"--reader {reader!r} is not an account of {users.path} and has no saved marks on "
        f"{case.case_id} ({known_names(users.users())}; {by}); nothing done"
    )


def _one_view(
    cache: ImageCache,
    case: CaseRecord,
    view: str,
    points: np.ndarray | None,
    out: Path | None,
    reader: str | None = None,
) -> tuple[dict[str, Any], list[Tracked]]:
    """Register one view; its JSON result and tracked calcifications."""
    from mcalc.temporal import (
        change_overlay,
        count_statuses,
        pair_change,
        register_pair,
        subtraction_unit,
    )

    start = time.perf_counter()
    pair = register_pair(cache, case, view)
    change, tracked = pair_change(pair)
    reg = pair.registration
    result: dict[str, Any] = {
        "view": view,
        "registration": {**reg.summary(), "total_seconds": round(time.perf_counter() - start, 3)},
        # Positions (*_px) are full-resolution pixels of each round's file; these say which.
        "recent_shape_px": list(reg.recent_shape),
        "prior_shape_px": list(reg.prior_shape),
        "pixel_spacing_mm": pair.spacing_mm,
        "spacing_source": pair.spacing_source,
        "spacing_known": pair.spacing_known,
        "notes": list(pair.notes),
        "points": [],
        "calcifications": [t.as_dict() for t in tracked],
        # None, not zeros, where a round's annotation is unknown (``uncounted`` says why)
        "counts": None if pair.uncounted else count_statuses(tracked),
        "counts_by_kind": None
        if pair.uncounted
        else {k: count_statuses(tracked, k) for k in ("calcification", "cluster")},
        "uncounted": pair.uncounted,
        "files": [],
    }
    if reader:
        result["reader_marks"] = _reader_marks(case, view, reader, reg)
    if points is not None:
        rows, cols = reg.recent_shape
        mapped = reg.recent_to_prior(points) if len(points) else np.zeros((0, 2))
        for p, q in zip(points, mapped, strict=True):
            item: dict[str, Any] = {
                "recent_px": [float(p[0]), float(p[1])],
                "prior_px": [round(float(q[0]), 2), round(float(q[1]), 2)],
            }
            if not (0 <= p[0] < rows and 0 <= p[1] < cols):
                item["warning"] = f"outside the recent image ({rows}x{cols} px)"
            result["points"].append(item)
    if out is not None:
        stem = key_stem(f"{case.case_id}/{view}")  # <case>_<view>; P 1's not P_1's
        arrays = {
            "subtraction": change.subtraction,
            "registered_prior": change.warped_prior,
            "change": change.change,
        }
        pictures = {
            "subtraction": to_uint8(subtraction_unit(change)),
            "registered_prior": to_uint8(np.clip(change.warped_prior, 0, 1)),
            "change": change_overlay(pair.recent, change),
        }
        for name, arr in arrays.items():
            np.save(out / f"{stem}_{name}.npy", arr)
            _write_png(out / f"{stem}_{name}.png", pictures[name])
            result["files"] += [f"{stem}_{name}.npy", f"{stem}_{name}.png"]
    return result, tracked


def _cmd_temporal(args: argparse.Namespace) -> int:
    from mcalc.dataset import open_dataset
    from mcalc.temporal import case_summary
    from mcalc.temporal.pair import not_compared_reason

    index = open_dataset(data_of(args))
    try:
        case = index.case(args.case)
    except KeyError as exc:
        raise DatasetError(str(exc).strip("'\"")) from exc
    if args.reader:
        _check_reader(case, args.reader)
    points = read_points(args.points) if args.points else None
    out = Path(args.out) if args.out else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    cache = ImageCache(settings.cache_dir, default_spacing_mm=settings.default_pixel_spacing_mm)
    views = [args.view] if args.view else list(VIEWS)
    results: dict[str, Any] = {}
    tracked: dict[str, list[Tracked]] = {}
    uncounted: dict[str, str | None] = {}
    for view in views:
        try:
            results[view], items = _one_view(cache, case, view, points, out, args.reader)
        except McalcError as exc:  # no prior, other view or side, no breast, unreadable file
            results[view] = {"view": view, "error": str(exc)}
            continue
        tracked[view] = items
        uncounted[view] = results[view]["uncounted"]
    done = [v for v in views if "error" not in results[v]]
    if not done:
        errors = "; ".join(f"{v}: {results[v]['error']}" for v in views)
        raise McalcError(f"case {case.case_id}: nothing could be registered ({errors})")
    missing = {v: not_compared_reason(case, v) for v in views if "error" in results[v]}
    summary = case_summary(tracked, case.years_between, uncounted, missing)
    if args.json:
        print(
            json.dumps({"case_id": case.case_id, "summary": summary, "views": results}),
            file=document_out(),
        )
        return 0
    print(f"case {case.case_id}: {summary}")
    for view in views:
        r = results[view]
        if "error" in r:
            print(f"  {view}: not registered: {r['error']}")
            continue
        g = r["registration"]
        flag = ""
        if g["fallback"]:  # a pair compared as filed was not registered at all
            flag = " NOT REGISTERED" if g["method"] == NOT_REGISTERED else " FALLBACK"
            flag += f": {g['fallback']}"
        print(
            f"  {view}: {g['method']} in {g['seconds']:.1f} s, similarity "
            f"{g['ncc_before']:.3f} -> {g['ncc_after']:.3f}, overlap {g['overlap']:.2f}, "
            f"max displacement {g['max_mm']:.1f} mm{flag}; "
            # Per kind, as the summary above: the counts of both kinds together read "new
            # 8" under "7 new calcifications, 1 new cluster".
            + (
                "changes not counted"
                if r["counts_by_kind"] is None
                else "; ".join(
                    f"{kind}s " + ", ".join(f"{k} {n}" for k, n in counts.items())
                    for kind, counts in r["counts_by_kind"].items()
                )
            )
        )
        for note in r["notes"]:
            print(f"    note: {note}")
        if "reader_marks" in r:
            m = r["reader_marks"]
            print(
                f"    {m['reader']}'s marks: "
                + (
                    m["note"]
                    if "note" in m
                    else ", ".join(f"{k} {n}" for k, n in m["counts"].items())
                )
            )
        for p in r["points"]:
            print(
                f"    recent {p['recent_px']} -> prior {p['prior_px']} (row, col; full-res px)"
                + (f": WARNING {p['warning']}" if p.get("warning") else "")
            )
        if r["files"] and out is not None:
            print(f"    wrote {counted(len(r['files']), 'file')} under {shown_path(out)}")
    return 0


def register_commands(sub: Any) -> None:
    """Add the ``temporal`` command to the CLI's sub-parsers."""
    parser = sub.add_parser(
        "temporal",
        help="register a case's prior exam to the recent one; subtraction and changes",
    )
    # Positional before --data existed (every other command takes --data): old scripts.
    add_data_arguments(parser, "as --data; kept for old scripts")
    parser.add_argument("--case", required=True, help="case id (see python -m mcalc scan)")
    parser.add_argument(
        "--view", choices=list(VIEWS), type=str.upper, help="one view only (default: both)"
    )
    parser.add_argument(
        "--points",
        help="CSV with columns row,col: full-resolution points of the recent image to map "
        "to the prior",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="folder for the subtraction, registered prior and change overlay (PNG + .npy); "
        "nothing is written without it",
    )
    parser.add_argument(
        "--reader",
        help="also track this reader's point marks (from the store) across the exams; where "
        "accounts exist, an account or a reader with saved marks on the case",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=_cmd_temporal)
