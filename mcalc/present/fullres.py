"""Full-resolution pixels for the reading viewer (``components/viewer``), sent once per image.

The viewer first gets each image at preview scale (:func:`mcalc.present.reading.reading_panel`,
``Settings.preview_max_side``). When the reader zooms past that scale (or picks the
magnifier), the browser asks once for the full-resolution values of the case's images and
keeps them (a byte-bounded LRU in the browser). :class:`FullresStore` makes the answers:
it encodes each image once, in the background as soon as its case is shown
(:meth:`FullresStore.prefetch`), keeps the encoded bytes in a byte-bounded LRU shared by
every session of the process, and answers a request with every image ready once the first
is (:meth:`FullresStore.ready_answers`): a prefetched case goes whole at once.

Encodings (:data:`CODECS`, ``Settings.fullres_codec``), both lossless, of the image as
displayed (mirrored like the preview):

- ``zlib-delta16`` (the default): the values differenced along each row (modulo 2**16,
  the first column kept), little-endian, compressed by zlib at level 1 (about 55 % of
  ``raw16``); the browser inflates it in a worker with its own ``DecompressionStream`` and
  sums each row back.
- ``raw16``: its uint16 values, little-endian, as they are (27 MB for a 4096x3328 image):
  nothing to encode nor inflate. :func:`codec_for` picks it for a browser on this machine
  (``Settings.fullres_codec`` ``auto``, the default), where bytes cost next to nothing
  and encoding and inflating a second or so each (docs/measurements.md).

The page (``pages/viewer_component.py``) hands each image to the viewer as one of the
session's media files (a capability URL, as Streamlit's downloads and Browse's pixels
ahead: see docs/guide/reading.md), or as a binary component argument where there is no media store.

Example:
    >>> import numpy as np
    >>> img = np.array([[0, 4095, 7], [65535, 0, 1]], dtype=np.uint16)
    >>> bool((decode_fullres(encode_fullres(img), 2, 3) == img).all())
    True
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import zlib
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import numpy as np

from mcalc.cache import ImageCache, file_key
from mcalc.dataset.records import ImageRecord
from mcalc.lru import LRU
from mcalc.viewer import ImageView

__all__ = [
    "CODEC",
    "CODECS",
    "AUTO",
    "RAW16",
    "Encoded",
    "FullresStore",
    "codec_for",
    "encode_fullres",
    "decode_fullres",
    "decode_answer",
    "encode_answer",
    "fullres_values",
]

log = logging.getLogger(__name__)

#: An image of a case and how it hangs (its preview's view).
Item = tuple[ImageRecord, ImageView]

CODEC = "zlib-delta16"
RAW16 = "raw16"
#: The encodings a :class:`FullresStore` can answer with (``Settings.fullres_codec``).
CODECS: tuple[str, ...] = (RAW16, CODEC)
#: ``Settings.fullres_codec``'s choice per browser (:func:`codec_for`).
AUTO = "auto"


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


def encode_answer(values: np.ndarray, codec: str) -> bytes:
    """A 2-D image -> its bytes in ``codec`` (one of :data:`CODECS`; values clipped to
    0..65535).

    Raises:
        ValueError: ``values`` is not 2-D, or an unknown ``codec``.
    """
    if codec == CODEC:
        return encode_fullres(values)
    if codec != RAW16:
        raise ValueError(f"full-resolution codec must be one of {CODECS}, got {codec!r}")
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    if arr.dtype != np.uint16:
        arr = np.clip(np.rint(arr), 0, 65535).astype(np.uint16)
    return np.ascontiguousarray(arr, dtype="<u2").tobytes()


def decode_answer(data: bytes, codec: str, rows: int, cols: int) -> np.ndarray:
    """The inverse of :func:`encode_answer` (what the browser does, for tests and tools).

    Raises:
        ValueError: an unknown ``codec``, or the data are not ``rows`` x ``cols`` uint16.
    """
    if codec == CODEC:
        return decode_fullres(data, rows, cols)
    if codec != RAW16:
        raise ValueError(f"full-resolution codec must be one of {CODECS}, got {codec!r}")
    if len(data) != 2 * rows * cols:
        raise ValueError(
            f"expected {rows}x{cols} uint16 values ({2 * rows * cols} bytes), got {len(data)}"
        )
    return np.frombuffer(data, dtype="<u2").reshape(rows, cols).astype(np.uint16)


def codec_for(setting: str, client: str | None, forwarded: bool) -> str:
    """The codec of a browser's answers: ``setting`` (``Settings.fullres_codec``) unless it
    is ``auto``, then ``raw16`` for a browser on this machine (``client``, the address its
    connection comes from, is a loopback one and no proxy says it ``forwarded`` it: bytes
    cost next to nothing there, encoding and inflating a second each) and ``zlib-delta16``
    for any other (about half the bytes over a network).

    Example:
        >>> codec_for("auto", "127.0.0.1", False), codec_for("auto", "10.1.2.3", False)
        ('raw16', 'zlib-delta16')
    """
    if setting != AUTO:
        return setting
    import ipaddress

    try:
        local = client is not None and ipaddress.ip_address(client.strip("[]")).is_loopback
    except ValueError:
        local = False
    return RAW16 if local and not forwarded else CODEC


def fullres_values(cache: ImageCache, rec: ImageRecord, view: ImageView) -> np.ndarray:
    """The image's modality values at full resolution, oriented as the view hangs (the
    preview's orientation, so panel coordinates divided by ``view.scale`` land here)."""
    return view.mirror(np.asarray(cache.load_record(rec).pixels))


@dataclass(frozen=True)
class Encoded:
    """One image's full-resolution values, encoded (``codec``, one of :data:`CODECS`)."""

    rows: int
    cols: int
    data: bytes
    load_ms: int
    encode_ms: int
    codec: str = CODEC

    def entry(self, rec: ImageRecord, view: ImageView) -> dict[str, Any]:
        """The viewer's index entry for this image (its bytes start at offset 0)."""
        return {
            "key": rec.key,
            "rows": self.rows,
            "cols": self.cols,
            "spacing": [float(view.spacing_mm[0]), float(view.spacing_mm[1])],
            "codec": self.codec,
            "offset": 0,
            "length": len(self.data),
            "timing": {"load_ms": self.load_ms, "encode_ms": self.encode_ms},
        }


def _encode(cache: ImageCache, rec: ImageRecord, view: ImageView, codec: str) -> Encoded:
    t0 = time.perf_counter()
    values = fullres_values(cache, rec, view)
    t1 = time.perf_counter()
    # zlib releases the GIL: images encode in parallel.
    data = encode_fullres(values) if codec == CODEC else encode_answer(values, codec)
    t2 = time.perf_counter()
    rows, cols = values.shape[:2]
    ms = round(1000 * (t1 - t0)), round(1000 * (t2 - t1))
    return Encoded(int(rows), int(cols), data, *ms, codec=codec)


class FullresStore:
    """Encoded full-resolution images, made once per file and orientation and shared by
    every session of the process (safe between threads).

    Encoded bytes stay in an LRU bounded by ``max_bytes`` (a full-size 4096x3328 image is
    27 MB in ``raw16``, about 14 MB in ``zlib-delta16``). :meth:`prefetch` encodes a shown case's images on one
    background thread (at most one core), newest case first: a newer prefetch drops the
    older ones not started. A request (:meth:`ready_answers`) takes what is ready, waits for
    what is being encoded and encodes the rest at once on ``workers`` threads.

    Args:
        max_bytes: bound of the encoded bytes kept (0: nothing kept, every request encodes).
        workers: threads encoding for requests.
        codec: the encoding of the answers, one of :data:`CODECS`.
    """

    def __init__(self, max_bytes: int, *, workers: int = 2, codec: str = CODEC) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        if codec not in CODECS:
            raise ValueError(f"full-resolution codec must be one of {CODECS}, got {codec!r}")
        self.codec = codec
        self.max_bytes = int(max_bytes)
        self._done: LRU[tuple[str, bool, str], Encoded] = LRU(
            100_000, weigh=lambda e: len(e.data), max_weight=self.max_bytes
        )
        self._pending: dict[tuple[str, bool, str], Future[Encoded]] = {}
        self._queued: list[Future[Encoded]] = []  # prefetches, newest last
        self._lock = threading.RLock()  # a cancel under it runs _forget, which takes it
        self._background = ThreadPoolExecutor(1, thread_name_prefix="mcalc-fullres-prefetch")
        self._asked = ThreadPoolExecutor(max(1, workers), thread_name_prefix="mcalc-fullres")

    def key(
        self, rec: ImageRecord, view: ImageView, codec: str | None = None
    ) -> tuple[str, bool, str]:
        """What an encoding depends on: the file (path, size, time), the mirroring and the
        codec (the store's own unless given)."""
        return file_key(rec.image_path), bool(view.flipped), codec or self.codec

    @property
    def bytes_kept(self) -> int:
        return self._done.weight

    def cached(self, rec: ImageRecord, view: ImageView, codec: str | None = None) -> bool:
        """Whether the image's encoding is ready (without waiting)."""
        return self.key(rec, view, codec) in self._done

    def _future(
        self,
        cache: ImageCache,
        rec: ImageRecord,
        view: ImageView,
        urgent: bool,
        codec: str | None = None,
    ) -> Future[Encoded]:
        k = self.key(rec, view, codec)
        with self._lock:
            hit = self._done.get(k)
            if hit is not None:
                ready: Future[Encoded] = Future()
                ready.set_result(hit)
                return ready
            f = self._pending.get(k)
            if f is not None and not (urgent and f in self._queued and f.cancel()):
                return f  # running, or already asked for
            pool = self._asked if urgent else self._background
            f = pool.submit(self._make, cache, rec, view, k)
            self._pending[k] = f
            if not urgent:
                self._queued.append(f)
        f.add_done_callback(functools.partial(self._forget, k))
        return f

    def _make(
        self, cache: ImageCache, rec: ImageRecord, view: ImageView, k: tuple[str, bool, str]
    ) -> Encoded:
        with self._lock:
            self._queued = [q for q in self._queued if not q.running() and not q.done()]
        enc = _encode(cache, rec, view, k[2])
        if self.max_bytes:
            self._done.put(k, enc)
        return enc

    def _forget(self, k: tuple[str, bool, str], f: Future[Encoded]) -> None:
        with self._lock:
            if self._pending.get(k) is f:
                del self._pending[k]
            if f in self._queued:
                self._queued.remove(f)

    def prefetch(self, cache: ImageCache, items: Sequence[Item], codec: str | None = None) -> None:
        """Encode these images in the background (those not ready nor under way), in
        ``codec`` (the store's own unless given); older prefetches not started yet are
        dropped. Errors are logged, not raised (the request will raise them)."""
        if not self.max_bytes:
            return
        keep = {self.key(rec, view, codec) for rec, view in items}
        with self._lock:
            stale = [
                (k, f) for k, f in self._pending.items() if f in self._queued and k not in keep
            ]
        for _, f in stale:
            f.cancel()
        for rec, view in items:
            f = self._future(cache, rec, view, urgent=False, codec=codec)
            f.add_done_callback(_log_failure)

    def next_answer(
        self, cache: ImageCache, items: Sequence[Item]
    ) -> tuple[list[dict[str, Any]], bytes]:
        """The first of ``items`` ready (:meth:`ready_answers`' first), as an answer of one
        image: an index of one entry and its bytes; ``([], b"")`` if no items.

        Raises:
            ImageReadError: no item could be encoded (the first failure).
        """
        answers = self.ready_answers(cache, items)
        if not answers:
            return [], b""
        entry, data = answers[0]
        return [entry], data

    def ready_answers(
        self, cache: ImageCache, items: Sequence[Item], codec: str | None = None
    ) -> list[tuple[dict[str, Any], bytes]]:
        """Every one of ``items`` ready once the first is (waiting for the first if none
        is), each as its index entry (offset 0) and bytes, in the order asked; ``[]`` if
        no items, in ``codec`` (the store's own unless given). The rest are under way when
        this returns (the next request finds them sooner). A case prefetched is answered
        whole at once, not one image per request.

        Each entry's ``timing`` also says whether the image was ready when asked
        (``ready``) and how long the request waited for it (``wait_ms``).

        Raises:
            ImageReadError: no item could be encoded (the first failure).
        """
        t0 = time.perf_counter()
        futures = {
            self._future(cache, rec, view, urgent=True, codec=codec): (rec, view)
            for rec, view in items
        }
        ready = {f for f in futures if f.done()}
        first_error: BaseException | None = None
        waiting = set(futures)
        out: list[tuple[dict[str, Any], bytes]] = []
        while waiting and not out:
            done, waiting = wait(waiting, return_when=FIRST_COMPLETED)
            for f in (f for f in futures if f in done):  # in the order asked
                exc = f.exception()
                if exc is not None:
                    if first_error is None:
                        log.warning("full resolution of %s failed: %s", futures[f][0].key, exc)
                    first_error = first_error or exc
                    continue
                rec, view = futures[f]
                enc = f.result()
                entry = enc.entry(rec, view)
                entry["timing"].update(
                    ready=f in ready, wait_ms=round(1000 * (time.perf_counter() - t0))
                )
                out.append((entry, enc.data))
        if not out and first_error is not None:
            raise first_error
        return out

    def close(self) -> None:
        """Stop the threads (queued work is dropped)."""
        self._background.shutdown(wait=False, cancel_futures=True)
        self._asked.shutdown(wait=False, cancel_futures=True)


def _log_failure(f: Future[Encoded]) -> None:
    if not f.cancelled() and f.exception() is not None:
        log.info("full-resolution prefetch failed: %s", f.exception())
