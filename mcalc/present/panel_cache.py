"""A case's reading-viewer panels, cached on what changes their pixels.

:func:`mcalc.present.reading.reading_panel` sends 16-bit values the browser windows itself,
so of a panel only ``window`` and ``invert`` follow the display options of a toggle
(preset, manual window, invert); CLAHE, overlay colour and the like are not in a panel at
all. The rest (encoded pixels, preset windows from the breast region, marks, spacing)
depends on the image, the preview size and its orientation only. :func:`case_panels` keeps
that part in a small bounded LRU per image and composes the cheap fields on top, so a
display toggle or a return to a recent case does no pixel work; new images are prepared
with :func:`mcalc.viewer.prepare_views` (threads).

Example:
    >>> from mcalc.viewer import DisplayOptions
    >>> display_key(DisplayOptions(invert=True)) == display_key(DisplayOptions())
    True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mcalc.cache import ImageCache, file_key
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.lru import LRU
from mcalc.present.reading import panel_label, reading_panel
from mcalc.viewer import (
    DisplayOptions,
    ImageView,
    prepare_view,
    prepare_views,
    preview_breast,
    preview_values,
    resolve_window,
)

__all__ = ["PANEL_CACHE_ITEMS", "case_panels", "display_key", "clear"]

log = logging.getLogger(__name__)

#: Panels kept (four per case): a 1024-px preview is about 2.3 MB of base64 text.
PANEL_CACHE_ITEMS = 24


@dataclass
class _Entry:
    """The option-independent part of one image's panel."""

    base: dict[str, Any]
    monochrome1: bool
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)


_ENTRIES: LRU[tuple[object, ...], _Entry] = LRU(PANEL_CACHE_ITEMS)


def clear() -> None:
    """Forget every cached panel (tests; a changed dataset is noticed by file keys)."""
    _ENTRIES.clear()


def display_key(opts: DisplayOptions) -> tuple[object, ...]:
    """The options that change a panel's pixels: only the orientation (mirroring)."""
    return (bool(opts.orient),)


def _entry_key(
    cache: ImageCache, rec: ImageRecord, max_side: int, laterality: str | None, opts: DisplayOptions
) -> tuple[object, ...]:
    ann = file_key(rec.annotation_path) if rec.annotation_path is not None else None
    return (
        str(cache.cache_dir),
        id(cache),
        file_key(rec.image_path),
        ann,
        rec.annotation_kind,
        int(max_side),
        laterality,
        *display_key(opts),
    )


def _build(cache: ImageCache, rec: ImageRecord, view: ImageView, max_side: int) -> _Entry:
    base = reading_panel(cache, rec, view, label="", view_name="", time="", max_side=max_side)
    mammo = cache.load(rec.image_path)
    # prepare_view ran with the file's own window: remember it under that preset.
    return _Entry(base=base, monochrome1=bool(mammo.monochrome1), windows={"file": view.window})


def _window(
    cache: ImageCache, rec: ImageRecord, entry: _Entry, opts: DisplayOptions, max_side: int
) -> tuple[float, float]:
    if opts.preset == "manual":  # nothing to compute; resolve_window checks the values
        return resolve_window(
            cache.load(rec.image_path), preview_values(cache, rec, max_side), None, opts
        )
    hit = entry.windows.get(opts.preset)
    if hit is None:
        hit = resolve_window(
            cache.load(rec.image_path),
            preview_values(cache, rec, max_side),
            preview_breast(cache, rec, max_side),
            opts,
        )
        entry.windows[opts.preset] = hit
    return hit


def _views(
    cache: ImageCache,
    recs: list[ImageRecord],
    opts: DisplayOptions,
    max_side: int,
    laterality: str | None,
) -> list[ImageView | ImageReadError]:
    """Views of ``recs`` in threads; on a read error, one by one to say which failed."""
    try:
        return list(
            prepare_views(
                cache, recs, opts, max_side=max_side, lateralities=[laterality] * len(recs)
            )
        )
    except ImageReadError:
        out: list[ImageView | ImageReadError] = []
        for rec in recs:
            try:
                out.append(prepare_view(cache, rec, opts, max_side=max_side, laterality=laterality))
            except ImageReadError as exc:
                out.append(exc)
        return out


def case_panels(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The viewer's panels for a case (prior and recent, CC and MLO) and problems found.

    Each panel is :func:`mcalc.present.reading.reading_panel`'s, with the window and
    presentation of ``opts``; the pixel part is cached per image, preview size and
    orientation (at most :data:`PANEL_CACHE_ITEMS`). Each panel is a new dict, but its
    lists (points, outlines, presets) are the cache's own: read them, never change them.

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots: list[tuple[str, str, ImageRecord | None]] = [
        (view, tp, case.image(view, tp)) for view in VIEWS for tp in TIMEPOINTS
    ]
    # prepare_view's own work only needs the orientation: the file window, no overlay.
    plain = DisplayOptions(orient=opts.orient, show_annotations=False)
    keys: dict[str, tuple[object, ...]] = {}
    errors: dict[str, ImageReadError] = {}
    missing: list[ImageRecord] = []
    for _, _, rec in slots:
        if rec is None:
            continue
        try:
            keys[rec.key] = _entry_key(cache, rec, max_side, case.laterality, opts)
        except OSError as exc:  # the file is gone: prepare_view says so in its own words
            log.debug("no file key for %s (%s)", rec.key, exc)
            missing.append(rec)
            continue
        if _ENTRIES.get(keys[rec.key]) is None:
            missing.append(rec)
    if missing:
        for rec, got in zip(
            missing, _views(cache, missing, plain, max_side, case.laterality), strict=True
        ):
            if isinstance(got, ImageReadError):
                errors[rec.key] = got
            elif rec.key in keys:
                _ENTRIES.put(keys[rec.key], _build(cache, rec, got, max_side))

    panels: list[dict[str, Any]] = []
    problems: list[str] = []
    for view_name, tp, rec in slots:
        if rec is None:
            problems.append(f"{view_name} {tp}: this case has no such image.")
            continue
        if rec.key in errors:
            problems.append(f"{view_name} {tp}: {errors[rec.key]}")
            continue
        entry = _ENTRIES.get(keys[rec.key]) if rec.key in keys else None
        if entry is None:  # evicted by another session meanwhile: build it again
            v = prepare_view(cache, rec, plain, max_side=max_side, laterality=case.laterality)
            entry = _build(cache, rec, v, max_side)
        win = _window(cache, rec, entry, opts, max_side)
        panels.append(
            {
                **entry.base,
                "label": panel_label(case, view_name, tp),
                "view": view_name,
                "time": tp,
                "window": [float(win[0]), float(win[1])],
                "invert": bool(entry.monochrome1 != opts.invert),
            }
        )
    return panels, problems
