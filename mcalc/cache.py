"""Disk and memory cache of decoded mammograms, previews and annotation masks.

A second look at an image must be instant, and the first look must not pay twice:

* the decoded full-resolution pixels are written once as ``.npy`` and re-opened memory
  mapped, so a zoomed crop reads only the rows it shows; unless the image file holds them
  as they are (an uncompressed DICOM without rescale, checked byte for byte on the writer
  thread: :func:`mcalc.imageio.pixels_in_file`): then they are read from there, as cheap
  as a copy's first read, and no copy is written;
* the downsampled preview and the annotation mask (bit-packed) are small and kept for good;
* a small in-memory LRU holds the most recent entries;
* files are written by one background thread (:func:`flush_writes` waits for it), so the
  first view does not wait for the disk: a 27 MB pixel file with its ``fsync`` took
  0.1-0.4 s here (and 5-110 ms of CPU, on the cores the view works on: the reason an
  uncompressed DICOM is not copied). Until its file is written an entry is
  served from memory, and a lookup on disk in this process waits for a write still under way.

Entries are keyed by the file's resolved path, size and modification time, so an edited
file is decoded again. The full-resolution part of the disk cache is bounded
(``max_bytes``); oldest entries are evicted first.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import zipfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from mcalc.errors import WriteError
from mcalc.fileio import atomic_write_with
from mcalc.imageio import Mammogram, pixels_in_file, read_image, with_collection_spacing
from mcalc.lru import LRU

if TYPE_CHECKING:
    from mcalc.dataset.records import ImageRecord

__all__ = ["ImageCache", "file_key", "flush_writes", "shared_image_cache"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: What a cache file cut short or garbled raises when read back (then it is a miss).
_BROKEN = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)

# One writer thread for every cache of the process: disk writes leave the caller's path.
# Its worker is joined when the interpreter exits, so a process ends with its files written.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcalc-cache-write")
_PENDING: dict[Path, Future[None]] = {}
_PENDING_LOCK = threading.Lock()


def _run(target: Path, job: Callable[[], None]) -> None:
    try:
        job()
    except WriteError as exc:  # a full or read-only disk only costs speed
        log.warning("could not write cache entry %s (%s)", target, exc)
    except Exception:  # a bug must not pass silently in a thread nobody joins
        log.exception("writing cache entry %s failed", target)


def _run_later(targets: tuple[Path, ...], job: Callable[[], None]) -> None:
    """Run ``job`` (it writes ``targets``) on the writer thread; a lookup of any of
    ``targets`` waits for it (:func:`_wait_for`)."""
    try:
        with _PENDING_LOCK:
            future = _WRITER.submit(_run, targets[0], job)
            for target in targets:
                _PENDING[target] = future
    except RuntimeError:  # the interpreter is shutting down: write here and now
        _run(targets[0], job)
        return

    def done(f: Future[None]) -> None:
        with _PENDING_LOCK:
            for target in targets:
                if _PENDING.get(target) is f:
                    del _PENDING[target]

    future.add_done_callback(done)


def _write_later(
    target: Path, write: Callable[[IO[bytes]], None], then: Callable[[], None] = lambda: None
) -> None:
    """Write ``target`` atomically (durably) on the writer thread, then call ``then``."""

    def job() -> None:
        atomic_write_with(target, write)
        then()

    _run_later((target,), job)


def _bytes(data: bytes) -> Callable[[IO[bytes]], None]:
    """A writer of ``data`` for :func:`_write_later`."""

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    return write


def _wait_for(*targets: Path) -> None:
    """Wait until the writes of ``targets`` still under way (if any) are done."""
    with _PENDING_LOCK:
        futures = [_PENDING[t] for t in targets if t in _PENDING]
    for f in futures:
        f.result()


def flush_writes() -> None:
    """Wait until every cache file asked for so far is on disk (tests, benches, shutdown)."""
    with _PENDING_LOCK:
        futures = list(_PENDING.values())
    for f in futures:
        f.result()


#: ``file_key``'s resolved paths, by the path as given: resolving walks every folder of
#: the path (an ``lstat`` each), 65 keys a Browse rerun made 520 of them (10 ms of its 88 ms
#: under a profiler, 6 December 2026). Bounded: cleared when full.
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 65536


def _resolved(path: str | Path) -> str:
    text = os.fspath(path)
    if not os.path.isabs(text):  # depends on the working folder: resolved every time
        return str(Path(text).resolve())
    hit = _RESOLVED.get(text)
    if hit is None:
        hit = str(Path(text).resolve())
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.clear()
        _RESOLVED[text] = hit
    return hit


def file_key(path: str | Path) -> str:
    """A key that changes when the file at ``path`` changes (path, size, mtime).

    The path in the key is the resolved one (the same file under two names, one key),
    resolved once per path given (:func:`_resolved`); size and mtime are read on every call,
    through the path as given, so a file replaced, or a link pointed at another file, gives
    a new key.

    Raises:
        OSError: no file at ``path`` (``FileNotFoundError``), or it cannot be read.
    """
    st = os.stat(path)
    raw = f"{_resolved(path)}|{st.st_size}|{st.st_mtime_ns}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:20]


def _meta_to_json(mammo: Mammogram, pixels_at: int | None = None) -> str:
    """Everything of a Mammogram but its pixels, as JSON; with ``pixels_at``, where in the
    image file its pixels lie (:func:`mcalc.imageio.pixels_in_file`), their dtype and shape."""
    meta: dict[str, Any] = {
        f.name: getattr(mammo, f.name) for f in fields(Mammogram) if f.name != "pixels"
    }
    if mammo.voi_lut is not None:
        meta["voi_lut"] = [mammo.voi_lut[0], mammo.voi_lut[1].tolist()]
    if pixels_at is not None:
        meta[_IN_FILE] = {
            "offset": pixels_at,
            "dtype": mammo.pixels.dtype.str,
            "shape": list(mammo.pixels.shape),
        }
    return json.dumps(meta)


#: meta.json's key of an entry whose pixels are read from the image file itself.
_IN_FILE = "pixels_in_image_file"


def _meta_from_json(text: str) -> dict[str, Any]:
    """The Mammogram's fields but its pixels (and :data:`_IN_FILE`, when there) from JSON."""
    meta = json.loads(text)
    meta["pixel_spacing_mm"] = tuple(meta["pixel_spacing_mm"])
    meta["flags"] = tuple(meta["flags"])
    if meta.get("voi_lut") is not None:
        meta["voi_lut"] = (int(meta["voi_lut"][0]), np.asarray(meta["voi_lut"][1], np.float32))
    return meta


def _read_in_file(path: Path, where: dict[str, Any]) -> np.ndarray:
    """The pixels an entry's meta.json places in the image file itself, read (not mapped: a
    dataset's file may be overwritten in place, and a mapped page past its new end would
    kill the process), read-only as a mapped copy is. Raises ``ValueError`` when the file
    no longer holds them (a miss, decoded again)."""
    dtype = np.dtype(where["dtype"])
    shape = tuple(int(n) for n in where["shape"])
    count = int(np.prod(shape))
    pixels = np.fromfile(path, dtype=dtype, count=count, offset=int(where["offset"]))
    if pixels.size != count:
        raise ValueError(f"{path} holds {pixels.size} of the entry's {count} pixels")
    pixels = pixels.reshape(shape)
    pixels.flags.writeable = False
    return pixels


class ImageCache:
    """Cache of decoded images; safe to share between threads of one process.

    Args:
        cache_dir: folder for the disk cache, or ``None`` for memory only.
        memory_items: how many decoded images to keep in memory (small derived values,
            such as previews, masks and summaries, have a separate, larger LRU).
        max_bytes: bound of the full-resolution pixel files on disk.
        default_spacing_mm: spacing assumed for files that carry none.
    """

    def __init__(
        self,
        cache_dir: str | Path | None,
        *,
        memory_items: int = 6,
        max_bytes: int = 4 * 1024**3,
        default_spacing_mm: float = 0.07,
    ) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.memory_items = memory_items
        self.max_bytes = max_bytes
        self.default_spacing_mm = default_spacing_mm
        self.small_items = 512
        self._images: LRU[str, Mammogram] = LRU(memory_items)
        self._small: LRU[str, object] = LRU(self.small_items)
        # file key -> [its lock, how many loads hold or wait for it]: one read per file at
        # a time (:meth:`load`); an entry lives while used.
        self._reading: dict[str, list[Any]] = {}
        self._reading_lock = threading.Lock()
        if self.cache_dir is not None:
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning("image cache disabled: cannot create %s (%s)", self.cache_dir, exc)
                self.cache_dir = None

    # -- memory LRU -------------------------------------------------------------------
    def _remember(self, key: str, value: T) -> T:
        self._small.put(key, value)
        return value

    def _recall(self, key: str) -> object | None:
        return self._small.get(key)

    def _entry_dir(self, key: str) -> Path | None:
        if self.cache_dir is None:
            return None
        d = self.cache_dir / key[:2] / key
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return d

    # -- full images ------------------------------------------------------------------
    def load(self, path: str | Path, *, spacing_mm: float | None = None) -> Mammogram:
        """The decoded mammogram; from memory, else the disk cache (memory-mapped), else decoded.

        ``spacing_mm``: the pixel spacing the collection's manifest gives for this image
        (:attr:`~mcalc.dataset.records.ImageRecord.pixel_spacing_mm`), applied on each load
        by :func:`~mcalc.imageio.with_collection_spacing` (the cache holds the file's own
        reading, so one file is stored once whatever a manifest says of it).

        Raises whatever :func:`mcalc.imageio.read_image` raises for a bad file.
        """
        return with_collection_spacing(self._load(path), spacing_mm)

    def load_record(self, rec: ImageRecord) -> Mammogram:
        """:meth:`load` of a collection's image, at the pixel spacing its manifest gives."""
        return self.load(rec.image_path, spacing_mm=rec.pixel_spacing_mm)

    def _load(self, path: str | Path) -> Mammogram:
        key = file_key(path)
        hit = self._images.get(key)
        if hit is not None:
            return hit
        # One read of a file at a time: Predict's analysis (its thread) and the viewer's
        # images of the same case (the page's script) ask for a new case's files at once;
        # each decoded a file neither found in memory (a full-size DICOM: tenths of a
        # second of CPU, twice, beside the analysis).
        with self._reading_lock:
            gate = self._reading.setdefault(key, [threading.Lock(), 0])
            gate[1] += 1
        try:
            with gate[0]:
                hit = self._images.get(key)  # read by the load this one waited for
                return hit if hit is not None else self._read(path, key)
        finally:
            with self._reading_lock:
                gate[1] -= 1
                if gate[1] == 0:
                    del self._reading[key]

    def _read(self, path: str | Path, key: str) -> Mammogram:
        """:meth:`load` of a file not in memory: the disk cache, else decoded (and the
        disk cache written behind)."""
        entry = self._entry_dir(key)
        if entry is not None:
            _wait_for(entry / "pixels.npy", entry / "meta.json")
        if entry is not None and (entry / "meta.json").is_file():
            try:
                meta = _meta_from_json((entry / "meta.json").read_text(encoding="utf-8"))
                in_file = meta.pop(_IN_FILE, None)
                pixels: np.ndarray | None = None
                if in_file is not None:  # the image file holds the pixels as they are
                    pixels = _read_in_file(Path(path), in_file)
                elif (entry / "pixels.npy").is_file():  # else evicted: decoded again below
                    pixels = np.load(entry / "pixels.npy", mmap_mode="r", allow_pickle=False)
                    os.utime(entry / "pixels.npy")  # LRU order for eviction
                if pixels is not None:
                    return self._images.put(key, Mammogram(pixels=pixels, **meta))
            except _BROKEN as exc:
                log.warning("ignoring broken cache entry %s (%s)", entry, exc)
        mammo = read_image(path, default_spacing_mm=self.default_spacing_mm)
        if entry is not None:
            self._persist_later(entry, Path(path), mammo)
        return self._images.put(key, mammo)

    def _persist_later(self, entry: Path, path: Path, mammo: Mammogram) -> None:
        """The disk entry of a decoded image, written on the writer thread: ``meta.json``,
        and the pixels in ``pixels.npy`` unless the image file holds them as they are (an
        uncompressed DICOM: then they are read from there, and the view's first look does
        not share the two cores with a 27 MB write and its ``fsync``)."""
        pixels = np.ascontiguousarray(mammo.pixels)

        def job() -> None:
            at = pixels_in_file(path, pixels)
            if at is None:
                atomic_write_with(
                    entry / "pixels.npy", lambda fh: np.save(fh, pixels, allow_pickle=False)
                )
            # Pixels first: an entry counts once its meta.json is there too.
            atomic_write_with(entry / "meta.json", _bytes(_meta_to_json(mammo, at).encode()))
            self._evict()

        _run_later((entry / "pixels.npy", entry / "meta.json"), job)

    def memo(self, path: str | Path, name: str, compute: Callable[[], T]) -> T:
        """Memory-memoise ``compute()`` for this file under ``name`` (not persisted)."""
        key = f"memo:{name}:{file_key(path)}"
        hit = self._recall(key)
        if hit is not None:
            return cast(T, hit)
        return self._remember(key, compute())

    def json(self, path: str | Path, name: str, compute: Callable[[], object]) -> object:
        """Disk-and-memory memoise a JSON-serialisable value derived from the file."""
        base = file_key(path)
        key = f"json:{name}:{base}"
        hit = self._recall(key)
        if hit is not None:
            return hit
        entry = self._entry_dir(base)
        target = entry / f"{name}.json" if entry is not None else None
        if target is not None:
            _wait_for(target)
        if target is not None and target.is_file():
            try:
                return self._remember(key, json.loads(target.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                log.warning("ignoring broken cache entry %s (%s)", target, exc)
        value = compute()
        if target is not None:
            try:
                text = json.dumps(value).encode("utf-8")
            except TypeError as exc:
                log.warning("could not write cache entry %s (%s)", target, exc)
            else:
                _write_later(target, _bytes(text))
        return self._remember(key, value)

    def array(self, path: str | Path, name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """Disk-and-memory memoise an array derived from the file at ``path``.

        Boolean arrays are stored bit-packed (eight times smaller on disk).
        """
        base = file_key(path)
        key = f"arr:{name}:{base}"
        hit = self._recall(key)
        if isinstance(hit, np.ndarray):
            return hit
        entry = self._entry_dir(base)
        target = entry / f"{name}.npz" if entry is not None else None
        if target is not None:
            _wait_for(target)
        if target is not None and target.is_file():
            try:
                with np.load(target, allow_pickle=False) as z:
                    if "packed" in z:
                        shape = tuple(int(v) for v in z["shape"])
                        count = int(np.prod(shape))
                        bits = np.unpackbits(z["packed"], count=count)  # 0s and 1s
                        arr = bits.reshape(shape).view(bool)
                    else:
                        arr = z["array"]
                return self._remember(key, arr)
            except _BROKEN as exc:
                log.warning("ignoring broken cache entry %s (%s)", target, exc)
        arr = compute()
        if target is not None:
            if arr.dtype == bool:
                _write_later(
                    target,
                    lambda fh: np.savez(fh, packed=np.packbits(arr.ravel()), shape=arr.shape),
                )
            else:
                _write_later(target, lambda fh: np.savez(fh, array=arr))
        return self._remember(key, arr)

    def _evict(self) -> None:
        """Drop the least recently used full-resolution pixel files beyond ``max_bytes``."""
        if self.cache_dir is None:
            return
        files = []
        for f in self.cache_dir.glob("*/*/pixels.npy"):
            try:
                st = f.stat()
            except OSError:
                continue
            files.append((st.st_mtime, st.st_size, f))
        total = sum(size for _, size, _ in files)
        for _, size, f in sorted(files):
            if total <= self.max_bytes:
                break
            try:
                f.unlink()
                (f.parent / "meta.json").unlink(missing_ok=True)
                total -= size
            except OSError:
                continue

    def clear_memory(self) -> None:
        self._images.clear()
        self._small.clear()


_SHARED: dict[tuple[str, float], ImageCache] = {}
_SHARED_LOCK = threading.Lock()


def shared_image_cache(cache_dir: str | Path, default_spacing_mm: float) -> ImageCache:
    """The process' image cache of ``cache_dir`` (one per folder and spacing): the app's
    sessions and its work in the background (Predict's analyses ahead) share its memory."""
    scope = (str(cache_dir), float(default_spacing_mm))
    with _SHARED_LOCK:
        cache = _SHARED.get(scope)
        if cache is None:
            cache = _SHARED[scope] = ImageCache(cache_dir, default_spacing_mm=default_spacing_mm)
        return cache
