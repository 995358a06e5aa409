"""The reading viewer's panel pixels, one name and one encoding per image for every page.

Browse, Annotate (:mod:`mcalc.present.panel_cache`) and Predict
(:mod:`mcalc.present.reading_overlays`) send a panel's 16-bit preview values apart from the
panel: the panel names them (:func:`pixel_id`) and the browser gets them once, as
``zlib-delta16`` bytes (:func:`mcalc.present.fullres.encode_fullres`), in a render's binary
argument (:func:`pixel_payload`). The id says what makes the values and nothing else: the
image file (its :func:`mcalc.cache.file_key`), the preview size and whether the view is
mirrored; not the page, the annotation or the laterality that decided the mirroring. So an
image Browse sent is the image Predict shows, under the same id: the browser tab keeps it
(the viewer's ``pixels.ts``), and one :class:`SentPixels` per session records what it holds
for every page. The bytes are made once per id (:func:`encoded`, a small LRU shared by the
pages), whichever page asks first.

Example:
    >>> a = pixel_id("case/CC_recent", ("a.dcm", 10, 1), 1024, flipped=True, rows=8, cols=6)
    >>> a == pixel_id("case/CC_recent", ("a.dcm", 10, 1), 1024, flipped=True, rows=8, cols=6)
    True
    >>> a == pixel_id("case/CC_recent", ("a.dcm", 10, 1), 1024, flipped=False, rows=8, cols=6)
    False
    >>> a.startswith("case/CC_recent:8x6:")
    True
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from mcalc.lru import LRU
from mcalc.present.fullres import CODEC, encode_fullres

__all__ = [
    "ENCODED_ITEMS",
    "SENT_LIMIT",
    "Pixels",
    "SentPixels",
    "clear",
    "encoded",
    "is_encoded",
    "pixel_id",
    "pixel_payload",
]

#: Encoded images kept (``pixel_id -> bytes``, about 1 MB each at the default 1024-px
#: preview), one process-wide LRU for every session and page: twelve cases of four (the
#: demo set; more than one tab keeps, ``KEEP_MAX`` = 32 of the viewer's pixels.ts, since
#: readers in several sessions browse different cases; before it replaced Browse's 24
#: entries' bytes and Predict's 16, the server kept up to 40). The only copy the server
#: keeps: Browse's panel entries (:mod:`mcalc.present.panel_cache`) hold their uint16
#: values, not these.
ENCODED_ITEMS = 48

#: Pixel ids a :class:`SentPixels` remembers by default.
SENT_LIMIT = 96

#: One image's pixels as a page sends them: ``(pixel id, zlib-delta16 bytes, rows, cols)``.
Pixels = tuple[str, bytes, int, int]

_ENCODED: LRU[str, bytes] = LRU(ENCODED_ITEMS)


def clear() -> None:
    """Forget every encoded image (tests; a changed file gets a new id anyway)."""
    _ENCODED.clear()


def pixel_id(
    image_key: str, file: object, max_side: int, *, flipped: bool, rows: int, cols: int
) -> str:
    """The browser's name for one image's preview values: ``image_key`` (the record's key,
    for a reader of logs, and so that two panels never share one browser image), the size,
    and a digest of what makes the values: ``file`` (the image file's
    :func:`mcalc.cache.file_key`: path, size, modification time), the preview size
    ``max_side`` and the mirroring ``flipped``. New values get a new id; the same values
    get the same id on every page."""
    made = (file, int(max_side), bool(flipped))
    digest = hashlib.blake2s(repr(made).encode(), digest_size=6).hexdigest()
    return f"{image_key}:{int(rows)}x{int(cols)}:{digest}"


def encoded(pid: str, values: Callable[[], np.ndarray]) -> bytes:
    """The ``zlib-delta16`` bytes of the image ``pid`` names, made from ``values()`` (the
    preview values as shown, any numeric dtype: rounded and clipped to uint16 by
    :func:`mcalc.present.fullres.encode_fullres`) only when no page made them lately."""
    return _ENCODED.get_or_put(pid, lambda: encode_fullres(values()))


def is_encoded(pid: str) -> bool:
    """Whether the bytes of ``pid`` are made and kept (:func:`encoded` then does no work)."""
    return pid in _ENCODED


def pixel_payload(items: Sequence[Pixels]) -> tuple[list[dict[str, Any]], bytes]:
    """Images (:data:`Pixels`) -> the viewer's ``pixels`` index (``id, rows, cols, codec,
    offset, length`` per image) and the blob of their bytes one after the other
    (:func:`pages.viewer_component.reading_viewer`'s ``pixels`` argument)."""
    index: list[dict[str, Any]] = []
    offset = 0
    for pid, data, rows, cols in items:
        index.append(
            {
                "id": pid,
                "rows": int(rows),
                "cols": int(cols),
                "codec": CODEC,
                "offset": offset,
                "length": len(data),
            }
        )
        offset += len(data)
    return index, b"".join(d for _, d, _, _ in items)


class SentPixels:
    """The pixel ids one browser tab was sent (most recent last, at most ``limit``): what
    a payload leaves out. Keep one per session for every page (the tab keeps the images
    across page switches); when the browser says it lacks an id (the page was reloaded,
    the tab let the image go), :meth:`forget` it and the next payload carries it again."""

    def __init__(self, limit: int = SENT_LIMIT) -> None:
        self.limit = int(limit)
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, pixel_id: object) -> bool:
        return pixel_id in self._ids

    def add(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._ids[i] = None
            self._ids.move_to_end(i)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def forget(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._ids.pop(i, None)

    def __len__(self) -> int:
        return len(self._ids)
