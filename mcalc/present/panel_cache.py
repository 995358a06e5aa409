"""A case's reading-viewer panels, cached on what changes their pixels.

:func:`mcalc.present.reading.reading_panel` sends 16-bit values the browser windows itself,
so of a panel only ``window`` and ``invert`` follow the display options of a toggle
(preset, manual window, invert); CLAHE, overlay colour and the like are not in a panel at
all. The rest (encoded pixels, preset windows from the breast region, marks, spacing)
depends on the image, the preview size and its orientation only. :func:`case_panels` keeps
that part in a small bounded LRU per image and composes the cheap fields on top, so a
display toggle or a return to a recent case does no pixel work; new images are prepared
with :func:`mcalc.viewer.prepare_views` (threads).

Browse sends the pixels apart from the panels (:func:`case_payload`): each panel names its
``pixel_id`` and the values travel once per browser as one binary argument
(``zlib-delta16``: about 40 % of the base64 text), only for the ids the session's
:class:`mcalc.present.pixels.SentPixels` has not recorded as sent; a display toggle or
a return to a case sends none. The id and the bytes are those of every page
(:mod:`mcalc.present.pixels`): an image Predict sent is not sent again by Browse.
:func:`mcalc.present.panel_prefetch.prefetch_cases` builds the next cases' entries
(:func:`encode_case`) in a background thread so that *Next* finds them ready, and
:func:`case_payload` adds the pixels of such a case when they are ready, for the browser to
hold before it is asked.
Annotate's two panels (the image marked and its other round) come from the same entries
with :func:`image_payload`, so a rerun there (a name, a Save) sends no pixels either.

Example:
    >>> from mcalc.viewer import DisplayOptions
    >>> display_key(DisplayOptions(invert=True)) == display_key(DisplayOptions())
    True
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from mcalc.cache import ImageCache, file_key
from mcalc.config import TIMEPOINTS, VIEWS
from mcalc.dataset.records import CaseRecord, ImageRecord
from mcalc.errors import ImageReadError
from mcalc.lru import LRU
from mcalc.present.pixels import SentPixels, encoded, is_encoded, pixel_id, pixel_payload
from mcalc.present.reading import (
    encode_pixels,
    missing_image,
    panel_label,
    reading_panel,
    unknown_annotation,
    unreadable_image,
)
from mcalc.viewer import (
    DisplayOptions,
    ImageView,
    prepare_view,
    prepare_views,
    preview_breast,
    preview_values,
    resolve_window,
)

__all__ = [
    "PANEL_CACHE_ITEMS",
    "CasePayload",
    "case_panels",
    "case_payload",
    "EntryKeys",
    "case_keys",
    "case_ready",
    "case_views",
    "image_payload",
    "image_views",
    "encode_case",
    "held_panels",
    "keys_ready",
    "display_key",
    "clear",
]

log = logging.getLogger(__name__)

#: Panels kept (four per case): a 1024-px preview is about 2.3 MB of base64 text.
PANEL_CACHE_ITEMS = 24


@dataclass
class _Entry:
    """The option-independent part of one image's panel: the panel without its pixels,
    the values as shown (uint16) and their encodings, made when first asked for (the
    binary one in :mod:`mcalc.present.pixels`' cache, shared with Predict)."""

    base: dict[str, Any]
    monochrome1: bool
    shown: np.ndarray
    view: ImageView  # what the panel was made from, its RGB preview dropped (1x1)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    _b64: str | None = None

    def pixels_b64(self) -> str:
        if self._b64 is None:
            self._b64 = encode_pixels(self.shown)
        return self._b64

    def packed(self) -> bytes:
        """The ``zlib-delta16`` bytes, kept with every page's (one cache: Predict's too)."""
        return encoded(self.base["pixel_id"], lambda: self.shown)

    def is_packed(self) -> bool:
        return is_encoded(self.base["pixel_id"])


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


def _build(
    cache: ImageCache, rec: ImageRecord, view: ImageView, max_side: int, key: tuple[object, ...]
) -> _Entry:
    base = reading_panel(
        cache, rec, view, label="", view_name="", time="", max_side=max_side, with_pixels=False
    )
    shown = view.mirror(preview_values(cache, rec, max_side))
    shown = np.clip(np.rint(shown), 0, 65535).astype(np.uint16)
    # Named by what makes the values (file, size, mirroring), as Predict names them.
    base["pixel_id"] = pixel_id(
        rec.key,
        key[2],  # the image's file_key (_entry_key)
        max_side,
        flipped=view.flipped,
        rows=int(shown.shape[0]),
        cols=int(shown.shape[1]),
    )
    mammo = cache.load_record(rec)
    # prepare_view ran with the file's own window: remember it under that preset.
    return _Entry(
        base=base,
        monochrome1=bool(mammo.monochrome1),
        shown=shown,
        view=replace(view, preview=view.preview[:1, :1].copy()),
        windows={"file": view.window},
    )


def _window(
    cache: ImageCache, rec: ImageRecord, entry: _Entry, opts: DisplayOptions, max_side: int
) -> tuple[float, float]:
    if opts.preset == "manual":  # nothing to compute; resolve_window checks the values
        return resolve_window(
            cache.load_record(rec), preview_values(cache, rec, max_side), None, opts
        )
    hit = entry.windows.get(opts.preset)
    if hit is None:
        hit = resolve_window(
            cache.load_record(rec),
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


_Slot = tuple[str, str, ImageRecord, _Entry]


def _case_entries(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> tuple[list[_Slot], list[str]]:
    """The cached entries of a case's images in hanging order (built when missing), and
    the problems of those that cannot be read. A place of the hanging the case has no
    image for is no problem of its images: the page says once what the case lacks
    (:func:`~mcalc.present.reading.hanging_note`; a warning per empty panel was drawn for
    every prior of a one-round collection and every CC of mini-MIAS's MLO films)."""
    slots = [
        (view, tp, rec)
        for view in VIEWS
        for tp in TIMEPOINTS
        if (rec := case.image(view, tp)) is not None
    ]
    return _entries(cache, slots, opts, max_side, case.laterality, case=case)


def _entries(
    cache: ImageCache,
    slots: Sequence[tuple[str, str, ImageRecord | None]],
    opts: DisplayOptions,
    max_side: int,
    laterality: str | None,
    *,
    case: CaseRecord | None = None,
) -> tuple[list[_Slot], list[str]]:
    """The cached entries of ``slots``' images (built when missing, in threads), and the
    problems of the images that have none (a slot without an image named with ``case``'s
    side and exam years, :func:`~mcalc.present.reading.missing_image`)."""
    # prepare_view's own work only needs the orientation: the file window, no overlay.
    plain = DisplayOptions(orient=opts.orient, show_annotations=False)
    keys: dict[str, tuple[object, ...]] = {}
    errors: dict[str, ImageReadError] = {}
    missing: list[ImageRecord] = []
    for _, _, rec in slots:
        if rec is None:
            continue
        try:
            keys[rec.key] = _entry_key(cache, rec, max_side, laterality, opts)
        except OSError as exc:  # the file is gone: prepare_view says so in its own words
            log.debug("no file key for %s (%s)", rec.key, exc)
            missing.append(rec)
            continue
        if _ENTRIES.get(keys[rec.key]) is None:
            missing.append(rec)
    if missing:
        for rec, got in zip(
            missing, _views(cache, missing, plain, max_side, laterality), strict=True
        ):
            if isinstance(got, ImageReadError):
                errors[rec.key] = got
            elif rec.key in keys:
                _ENTRIES.put(keys[rec.key], _build(cache, rec, got, max_side, keys[rec.key]))

    out: list[_Slot] = []
    problems: list[str] = []
    named = case or CaseRecord("", "", (), laterality=laterality)  # side and exam years
    for view_name, tp, rec in slots:
        if rec is None:
            problems.append(missing_image(named, view_name, tp))
            continue
        if rec.key in errors:
            problems.append(unreadable_image(named, view_name, tp, errors[rec.key]))
            continue
        entry = _ENTRIES.get(keys[rec.key]) if rec.key in keys else None
        if entry is None:  # evicted by another session meanwhile: build it again
            v = prepare_view(cache, rec, plain, max_side=max_side, laterality=laterality)
            key = keys.get(rec.key) or _entry_key(cache, rec, max_side, laterality, opts)
            entry = _build(cache, rec, v, max_side, key)
            _ENTRIES.put(key, entry)
        out.append((view_name, tp, rec, entry))
        if rec.annotation_missing is not None:
            problems.append(unknown_annotation(named, view_name, tp, rec.annotation_missing))
    return out, problems


def _compose(
    cache: ImageCache,
    case: CaseRecord,
    slot: _Slot,
    opts: DisplayOptions,
    max_side: int,
) -> dict[str, Any]:
    view_name, tp, rec, entry = slot
    win = _window(cache, rec, entry, opts, max_side)
    return {
        **entry.base,
        "label": panel_label(case, view_name, tp),
        "view": view_name,
        "time": tp,
        "window": [float(win[0]), float(win[1])],
        "invert": bool(entry.monochrome1 != opts.invert),
    }


def case_panels(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """The viewer's panels for a case (prior and recent, CC and MLO) and problems found.

    Each panel is :func:`mcalc.present.reading.reading_panel`'s, with the window and
    presentation of ``opts`` (and a ``pixel_id``, see :func:`case_payload`); the pixel part
    is cached per image, preview size and orientation (at most :data:`PANEL_CACHE_ITEMS`).
    Each panel is a new dict, but its lists (points, outlines, presets) are the cache's
    own: read them, never change them.

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots, problems = _case_entries(cache, case, opts, max_side)
    panels = [
        {**_compose(cache, case, slot, opts, max_side), "pixels": slot[3].pixels_b64()}
        for slot in slots
    ]
    return panels, problems


def case_views(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> dict[str, ImageView]:
    """Per image key, the view each panel of the case was made from: orientation, scale,
    spacing and marks as :func:`mcalc.viewer.prepare_view` gives them for ``opts``'
    orientation, without the RGB preview (what full resolution needs). From the cached
    entries (built when missing), so a display toggle costs no view at all."""
    slots, _ = _case_entries(cache, case, opts, max_side)
    return {rec.key: entry.view for _, _, rec, entry in slots}


@dataclass(frozen=True)
class CasePayload:
    """What the viewer needs for a case: ``panels`` (no pixels; each names its
    ``pixel_id``), ``index`` (``id, rows, cols, codec, offset, length`` into ``data`` per
    image sent) and ``data`` (the images' ``zlib-delta16`` bytes, one after the other)."""

    panels: list[dict[str, Any]]
    index: list[dict[str, Any]]
    data: bytes
    problems: list[str]
    #: With ``ahead_apart``: the pixels of the cases ahead, indexed into ``ahead_data``.
    ahead_index: list[dict[str, Any]] = field(default_factory=list)
    ahead_data: bytes = b""

    @property
    def sent_ids(self) -> list[str]:
        return [str(e["id"]) for e in self.index + self.ahead_index]

    def with_ahead(self) -> tuple[list[dict[str, Any]], bytes]:
        """``index`` and ``data`` with the pixels ahead appended (their offsets moved): for
        a render that must carry them itself (no media store to send them apart)."""
        shift = len(self.data)
        moved = [{**e, "offset": e["offset"] + shift} for e in self.ahead_index]
        return self.index + moved, self.data + self.ahead_data


def _packed(entries: Sequence[_Entry]) -> tuple[list[dict[str, Any]], bytes]:
    return pixel_payload(
        [
            (e.base["pixel_id"], e.packed(), int(e.base["rows"]), int(e.base["cols"]))
            for e in entries
        ]
    )


def _is_ready(entry: _Entry | None) -> bool:
    return entry is not None and entry.is_packed()


def _ready_entries(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> list[_Entry]:
    """Entries of ``case`` already built (no work, no waiting; possibly none)."""
    out = []
    for rec in case.images:
        try:
            entry = _ENTRIES.get(_entry_key(cache, rec, max_side, case.laterality, opts))
        except OSError:
            continue
        if entry is not None and _is_ready(entry):
            out.append(entry)
    return out


EntryKeys = tuple[tuple[object, ...], ...]


def case_keys(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> EntryKeys | None:
    """The cache keys of ``case``'s images (one ``stat`` per file), for :func:`keys_ready`
    and :func:`mcalc.present.panel_prefetch.keys_prefetching` to ask again and again
    without reading the files each time; ``None`` when a file is gone (nothing of the case
    can be made)."""
    try:
        return tuple(_entry_key(cache, r, max_side, case.laterality, opts) for r in case.images)
    except OSError:
        return None


def keys_ready(keys: EntryKeys) -> bool:
    """Whether every entry of ``keys`` (:func:`case_keys`) is made and encoded."""
    return all(_is_ready(_ENTRIES.get(k)) for k in keys)


def encode_case(cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int) -> None:
    """Make (when missing) and encode the entries of ``case``'s images: what
    :func:`case_payload` then sends at once (the prefetch threads' work).

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots, _ = _case_entries(cache, case, opts, max_side)
    for slot in slots:
        slot[3].packed()


def case_ready(cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int) -> bool:
    """Whether every image of ``case`` has its entry made and encoded (what
    :func:`case_payload` sends ahead), asking nothing to be made."""
    keys = case_keys(cache, case, opts, max_side)
    return keys is not None and keys_ready(keys)


def case_payload(
    cache: ImageCache,
    case: CaseRecord,
    opts: DisplayOptions,
    max_side: int,
    sent: SentPixels,
    *,
    ahead: Sequence[CaseRecord] = (),
    ahead_apart: bool = False,
) -> CasePayload:
    """The case's panels, and the pixels of those images ``sent`` does not hold (recorded
    in ``sent`` as sent), plus those of the cases ``ahead`` (the next one) whose entries
    :func:`encode_case` has already made: the browser then holds them before it is asked.
    With ``ahead_apart`` the latter are in ``ahead_index``/``ahead_data`` instead of
    ``index``/``data`` (Browse hands them over apart from the render: a case switch's
    message then carries only what the switch needs).

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots, problems = _case_entries(cache, case, opts, max_side)
    panels = [_compose(cache, case, slot, opts, max_side) for slot in slots]
    todo = [slot[3] for slot in slots if slot[3].base["pixel_id"] not in sent]
    later: list[_Entry] = []
    for other in ahead:
        later += [
            e
            for e in _ready_entries(cache, other, opts, max_side)
            if e not in todo and e not in later and e.base["pixel_id"] not in sent
        ]
    if not ahead_apart:
        todo, later = todo + later, []
    index, data = _packed(todo)
    ahead_index, ahead_data = _packed(later)
    sent.add(e["id"] for e in index + ahead_index)
    return CasePayload(
        panels=panels,
        index=index,
        data=data,
        problems=problems,
        ahead_index=ahead_index,
        ahead_data=ahead_data,
    )


def held_panels(
    cache: ImageCache,
    case: CaseRecord,
    opts: DisplayOptions,
    max_side: int,
    sent: SentPixels,
) -> list[dict[str, Any]] | None:
    """``case``'s panels (as :func:`case_payload` gives them, no pixels) when every image of
    it is cached here and its pixels were sent to the browser (``sent``); else ``None``.
    Nothing is decoded (at most a window preset not computed for an image yet): Browse
    offers them with the case shown, so that the viewer can show the case *Next* or
    *Previous* leads to at the click, the run that follows confirming it.

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots = [(view, tp, case.image(view, tp)) for view in VIEWS for tp in TIMEPOINTS]
    panels = []
    for view, tp, rec in slots:
        if rec is None:  # no image there: case_payload has no panel for it either
            continue
        try:
            entry = _ENTRIES.get(_entry_key(cache, rec, max_side, case.laterality, opts))
        except OSError:
            return None
        if entry is None or entry.base["pixel_id"] not in sent:
            return None
        panels.append(_compose(cache, case, (view, tp, rec, entry), opts, max_side))
    return panels or None


def image_payload(
    cache: ImageCache,
    case: CaseRecord,
    recs: Sequence[ImageRecord],
    opts: DisplayOptions,
    max_side: int,
    sent: SentPixels,
    *,
    laterality: str | None = None,
) -> CasePayload:
    """:func:`case_payload` for some of a case's images (Annotate: the image marked and its
    other round), in the order of ``recs``, from the same cached entries: the panels, and
    the pixels of those ``sent`` does not hold (recorded in ``sent`` as sent).
    ``laterality`` orients them as :func:`mcalc.viewer.prepare_view` does with it (``None``:
    the file's tag), so that a page's own view of an image matches its panel.

    Raises:
        ValueError: ``opts`` names an unknown preset or a manual window without a width.
    """
    slots, problems = _entries(
        cache, [(r.view, r.timepoint, r) for r in recs], opts, max_side, laterality, case=case
    )
    panels = [_compose(cache, case, slot, opts, max_side) for slot in slots]
    index, data = _packed([s[3] for s in slots if s[3].base["pixel_id"] not in sent])
    sent.add(e["id"] for e in index)
    return CasePayload(panels=panels, index=index, data=data, problems=problems)


def image_views(
    cache: ImageCache,
    recs: Sequence[ImageRecord],
    opts: DisplayOptions,
    max_side: int,
    *,
    laterality: str | None = None,
) -> dict[str, ImageView]:
    """:func:`case_views` for some images (Annotate's two rounds, oriented as
    :func:`image_payload` orients them): per image key, the view its panel was made from,
    without the RGB preview, from the cached entries (no preview made or unpickled on a
    rerun). Images that cannot be read are left out (the payload says why)."""
    slots, _ = _entries(cache, [(r.view, r.timepoint, r) for r in recs], opts, max_side, laterality)
    return {rec.key: entry.view for _, _, rec, entry in slots}
