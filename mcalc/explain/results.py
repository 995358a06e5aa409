"""The results cache: probability maps and explanations per (model, image file, settings).

A second look at an image with the same model and settings must be instant, in the app and
from the command line. Entries are keyed by

- the model: its registry id and the size and modification time of its model file
  (a retrained model under the same id is a new model),
- the image file: :func:`mcalc.cache.file_key` (path, size, modification time),
- the settings that change the result (a hash of their JSON text), with
  :data:`RESULTS_VERSION` (how results are computed: results cached by an earlier way are
  computed again, never shown),

and kept in a small in-memory LRU and, when a folder is given, on disk as ``.npz`` files
(``<root>/<model>/<image>/<kind>-<settings>.npz``, written atomically). A broken entry is
logged and recomputed, never fatal; a full or read-only disk only costs speed.

Example:
    >>> import tempfile, numpy as np
    >>> cache = ResultsCache(tempfile.mkdtemp())
    >>> calls = []
    >>> def compute():
    ...     calls.append(1)
    ...     return {"x": np.arange(3)}
    >>> a = cache.get_or_compute("map", "m@1", "img", "{}", compute, dict, dict)
    >>> b = cache.get_or_compute("map", "m@1", "img", "{}", compute, dict, dict)
    >>> len(calls), b["x"].tolist()
    (1, [0, 1, 2])
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np

from mcalc.cache import file_key
from mcalc.errors import McalcError
from mcalc.fileio import atomic_write_with
from mcalc.lru import LRU
from mcalc.models.card import ModelCard

__all__ = ["ResultsCache", "NotCached", "model_key", "image_key", "RESULTS_VERSION"]

#: The way results are computed; part of every key, so that a change of method makes the
#: results cached before it (memory, ``.npz`` files, a batch table's finished rows) be
#: computed again instead of shown. 2: past the image's edge the sliding window, the dense
#: pass and the Grad-CAM read the edge repeated, not zeros (4 December 2026).
RESULTS_VERSION = 2

log = logging.getLogger(__name__)

T = TypeVar("T")

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_MISSING = object()
#: The thread that writes the files of caches made with ``write_behind`` (one: the writes
#: queue in order, and wait for the disk rather than for the processor). Python joins it
#: at exit, so a write handed to it is not lost when the process ends normally.
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mcalc-results-write")


class NotCached(LookupError):
    """A result asked of a :meth:`ResultsCache.cached_only` view is not in the cache."""


def model_key(card: ModelCard) -> str:
    """``<id>@<fingerprint>`` of a registered model (changes when its model file does)."""
    return f"{card.id or 'model'}@{card.fingerprint()}"


def image_key(path: str | Path, spacing_mm: float | None = None) -> str:
    """The cache key of an image file (changes when the file does), and of the pixel
    spacing its manifest gives when it gives one (a mini-MIAS image read at the assumed
    0.07 mm before its manifest said 0.2 mm is analysed again)."""
    key = file_key(path)
    return key if spacing_mm is None else f"{key}-{spacing_mm:g}mm"


def _digest(text: str) -> str:
    """The settings' part of a key: a hash of their text and :data:`RESULTS_VERSION`."""
    return hashlib.sha1(f"v{RESULTS_VERSION}|{text}".encode()).hexdigest()[:16]


class ResultsCache:
    """Memory and disk cache of prediction results; safe to share between threads.

    Args:
        root: folder of the disk cache, or ``None`` for memory only.
        memory_items: how many results to keep in memory.
        write_behind: write a computed result's file on a writer thread of its own, after
            returning it (from memory meanwhile), instead of before: an app whose reader
            waits for the result does not wait for the disk (two explanation files of a
            demo pair, 3.4 MB each with their ``fsync``, took 15-40 ms on the 2-core
            machine). :meth:`flush` waits for the writes handed over.
    """

    def __init__(
        self, root: str | Path | None, *, memory_items: int = 48, write_behind: bool = False
    ) -> None:
        self.root = Path(root) if root is not None else None
        self.memory_items = int(memory_items)
        self.write_behind = bool(write_behind)
        self._memory: LRU[str, Any] = LRU(self.memory_items)
        self._compute = True
        self._writes: list[Future[None]] = []  # shared with cached_only() views
        self._writes_lock = threading.Lock()

    def cached_only(self) -> ResultsCache:
        """A view of the same memory and disk that raises :class:`NotCached` instead of
        computing: what a page uses to show a result at once when it exists, and to know
        that a run is needed when it does not."""
        view = copy.copy(self)  # shares the memory LRU and the root
        view._compute = False
        return view

    @property
    def computes(self) -> bool:
        """Whether a miss computes the result (``False`` for a :meth:`cached_only` view)."""
        return self._compute

    def holds(self, kind: str, model: str, image: str, settings: str) -> bool:
        """Whether the result of ``kind`` for (model, image, settings) is in memory or on
        disk (a file found may still prove broken when read): a cheap look before the work
        that only a computation needs."""
        key = f"{kind}|{model}|{image}|{_digest(settings)}"
        if self._memory.get(key, _MISSING) is not _MISSING:
            return True
        path = self._path(kind, model, image, settings)
        return path is not None and path.is_file()

    def _path(self, kind: str, model: str, image: str, settings: str) -> Path | None:
        if self.root is None:
            return None
        folder = self.root / _SAFE.sub("_", model) / _SAFE.sub("_", image)
        return folder / f"{_SAFE.sub('_', kind)}-{_digest(settings)}.npz"

    def get_or_compute(
        self,
        kind: str,
        model: str,
        image: str,
        settings: str,
        compute: Callable[[], T],
        to_arrays: Callable[[T], dict[str, np.ndarray]],
        from_arrays: Callable[[dict[str, np.ndarray]], T],
    ) -> T:
        """The cached result of ``kind`` for (model, image, settings), else ``compute()``.

        Args:
            kind: what is stored (``map``, ``cam``...).
            model: :func:`model_key` of the model.
            image: :func:`image_key` of the image file.
            settings: text of the settings that change the result.
            compute: makes the result when it is not cached.
            to_arrays, from_arrays: convert the result to and from named arrays.
        """
        key = f"{kind}|{model}|{image}|{_digest(settings)}"
        hit = self._memory.get(key, _MISSING)
        if hit is not _MISSING:
            return cast(T, hit)
        path = self._path(kind, model, image, settings)
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    value = from_arrays({name: z[name] for name in z.files})
                return self._memory.put(key, value)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("ignoring broken results cache entry %s (%s)", path, exc)
        if not self._compute:
            raise NotCached(f"{kind} of {image} by {model} is not cached")
        value = compute()
        if path is not None and self.write_behind:
            kept = self._memory.put(key, value)  # found in memory until its file exists
            arrays = to_arrays(value)
            with self._writes_lock:
                self._writes[:] = [w for w in self._writes if not w.done()]
                self._writes.append(_WRITER.submit(self._write, path, arrays))
            return kept
        if path is not None:
            self._write(path, to_arrays(value))
        return self._memory.put(key, value)

    def flush(self) -> None:
        """Wait for the files of results computed so far (``write_behind``) to be written."""
        with self._writes_lock:
            pending = list(self._writes)
        for w in pending:
            w.result()

    def _write(self, path: Path, arrays: dict[str, np.ndarray]) -> None:
        payload: dict[str, Any] = dict(arrays)  # names, not np.savez's keywords
        try:
            atomic_write_with(path, lambda fh: np.savez(fh, **payload))
        except McalcError as exc:  # a full or read-only disk only costs speed
            log.warning("could not write results cache entry %s (%s)", path, exc)

    def clear_memory(self) -> None:
        self._memory.clear()
