"""Full-resolution pixels for the reading viewer (``components/viewer``), sent once per image.

The viewer first gets each image at preview scale (:func:`mcalc.present.reading.reading_panel`,
``Settings.preview_max_side``). When the reader zooms past that scale (or picks the
magnifier), the browser asks once for the full-resolution values of the case's images and
keeps them (a byte-bounded LRU in the browser); these functions make that answer.

Encoding (``zlib-delta16``): the image as displayed (mirrored like the preview), its uint16
values differenced along each row (modulo 2**16, the first column kept), little-endian,
compressed by zlib at level 1. The browser inflates it with its own ``DecompressionStream``
and sums each row back; nothing is lost. A 4096x3328 12-bit synthetic mammogram (27 MB of
uint16) becomes about 14 MB in about 0.5 s (measured 2 December 2026, README "Reading"); it travels as
a binary component argument over the session's websocket, so no image ever has a URL that
bypasses sign-in.

Example:
    >>> import numpy as np
    >>> img = np.array([[0, 4095, 7], [65535, 0, 1]], dtype=np.uint16)
    >>> bool((decode_fullres(encode_fullres(img), 2, 3) == img).all())
    True
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from mcalc.cache import ImageCache
from mcalc.dataset.records import ImageRecord
from mcalc.viewer import ImageView

__all__ = [
    "CODEC",
    "encode_fullres",
    "decode_fullres",
    "fullres_values",
    "fullres_payload",
]

CODEC = "zlib-delta16"


def encode_fullres(values: np.ndarray, level: int = 1) -> bytes:
    """A 2-D image -> its ``zlib-delta16`` bytes (values clipped to 0..65535).

    Raises:
        ValueError: ``values`` is not 2-D or ``level`` is not 0..9.
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    if not 0 <= level <= 9:
        raise ValueError(f"zlib level must be 0..9, got {level}")
    if arr.dtype != np.uint16:
        arr = np.clip(np.rint(arr), 0, 65535).astype(np.uint16)
    delta = np.empty(arr.shape, dtype="<u2")
    delta[:, 0] = arr[:, 0]
    # uint16 arithmetic wraps modulo 2**16: the browser's running sum undoes it exactly.
    np.subtract(arr[:, 1:], arr[:, :-1], out=delta[:, 1:])
    return zlib.compress(delta.tobytes(), level)


def decode_fullres(data: bytes, rows: int, cols: int) -> np.ndarray:
    """The inverse of :func:`encode_fullres` (what the browser does, for tests and tools).

    Raises:
        ValueError: the data do not inflate to ``rows`` x ``cols`` uint16 values.
    """
    raw = zlib.decompress(data)
    if len(raw) != 2 * rows * cols:
        raise ValueError(
            f"expected {rows}x{cols} uint16 values ({2 * rows * cols} bytes), got {len(raw)}"
        )
    delta = np.frombuffer(raw, dtype="<u2").reshape(rows, cols)
    return np.cumsum(delta, axis=1, dtype=np.uint16)


def fullres_values(cache: ImageCache, rec: ImageRecord, view: ImageView) -> np.ndarray:
    """The image's modality values at full resolution, oriented as the view hangs (the
    preview's orientation, so panel coordinates divided by ``view.scale`` land here)."""
    return view.mirror(np.asarray(cache.load(rec.image_path).pixels))


def _entry(cache: ImageCache, rec: ImageRecord, view: ImageView) -> tuple[dict[str, Any], bytes]:
    values = fullres_values(cache, rec, view)
    rows, cols = values.shape[:2]
    data = encode_fullres(values)
    meta = {
        "key": rec.key,
        "rows": int(rows),
        "cols": int(cols),
        "spacing": [float(view.spacing_mm[0]), float(view.spacing_mm[1])],
        "codec": CODEC,
        "length": len(data),
    }
    return meta, data


def fullres_payload(
    cache: ImageCache, items: Sequence[tuple[ImageRecord, ImageView]]
) -> tuple[list[dict[str, Any]], bytes]:
    """The viewer's answer to a full-resolution request: an index (key, rows, cols, mm per
    pixel, codec, offset and length in the blob) and one blob of the encoded images.

    The images are encoded in parallel (zlib and the cache's decode release the GIL).

    Raises:
        ImageReadError: an image cannot be read.
    """
    if not items:
        return [], b""
    with ThreadPoolExecutor(max_workers=min(4, len(items))) as pool:
        parts = list(pool.map(lambda it: _entry(cache, it[0], it[1]), items))
    index, offset = [], 0
    for meta, data in parts:
        index.append({**meta, "offset": offset})
        offset += len(data)
    return index, b"".join(data for _, data in parts)
