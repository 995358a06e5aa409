"""The next cases' reading-viewer panels made ahead, in a background thread.

Browse shows a case and asks here for the next two (:func:`prefetch_cases`): one daemon
thread makes and encodes their entries in :mod:`mcalc.present.panel_cache`
(:func:`~mcalc.present.panel_cache.encode_case`), so that the next run finds the next case's
pixels ready to send ahead and *Next* finds its own panels made. :func:`keys_prefetching`
and :func:`prefetching` tell a run whether waiting for a case to be ready makes sense.

Example:
    >>> from mcalc.cache import ImageCache
    >>> from mcalc.viewer import DisplayOptions
    >>> prefetch_cases(ImageCache(None), [], DisplayOptions(), 128) is None  # nothing to do
    True
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from mcalc.cache import ImageCache
from mcalc.dataset.records import CaseRecord
from mcalc.present.panel_cache import EntryKeys, case_keys, encode_case, keys_ready
from mcalc.viewer import DisplayOptions

__all__ = ["keys_prefetching", "prefetch_case", "prefetch_cases", "prefetching"]

log = logging.getLogger(__name__)

_PREFETCH_LOCK = threading.Lock()
_PREFETCHING: set[tuple[object, ...]] = set()
#: Held by the prefetch thread that is building: one at a time, in the order asked.
_BUILDING = threading.Lock()


def keys_prefetching(keys: EntryKeys) -> bool:
    """Whether a :func:`prefetch_cases` thread is making some of the entries of ``keys``
    (:func:`~mcalc.present.panel_cache.case_keys`) now, so that waiting for
    :func:`~mcalc.present.panel_cache.keys_ready` makes sense."""
    wanted = set(keys)
    with _PREFETCH_LOCK:
        return any(wanted.intersection(todo) for todo in _PREFETCHING)


def prefetching(cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int) -> bool:
    """Whether a :func:`prefetch_cases` thread is making some of ``case``'s entries now (so
    that waiting for :func:`~mcalc.present.panel_cache.case_ready` makes sense)."""
    keys = case_keys(cache, case, opts, max_side)
    return keys is not None and keys_prefetching(keys)


def prefetch_case(
    cache: ImageCache, case: CaseRecord, opts: DisplayOptions, max_side: int
) -> threading.Thread | None:
    """Build (and encode) ``case``'s entries in a daemon thread, so that showing it next
    finds them ready; ``None`` when they are there or being made already."""
    return prefetch_cases(cache, [case], opts, max_side)


def prefetch_cases(
    cache: ImageCache,
    cases: Sequence[CaseRecord],
    opts: DisplayOptions,
    max_side: int,
    *,
    done: Callable[[str, float, float], None] | None = None,
) -> threading.Thread | None:
    """:func:`prefetch_case` for several cases, one after the other in one daemon thread
    (Browse: the next two, so that the next case's pixels are ready to go with the case
    shown, ahead of the click); ``None`` when all are there or being made already.

    One such thread builds at a time, the others waiting their turn: a *Next* made while
    the case after next was still being built asked for it again with the one after (its
    keys then differ), and a second thread built the same images beside the first, so
    that neither case was ready in time and both competed with the click's own run. Now
    the second waits, then finds the first one's images made and builds only the new case.

    ``done(label, end, wall)``: called by the thread when it ends (the case ids, the end
    in Unix seconds and the wall-clock seconds, its wait included), for a run log.
    """
    per_case = [case_keys(cache, c, opts, max_side) for c in cases]
    if any(k is None for k in per_case):  # a file is gone: nothing of that case can be made
        return None
    todo = tuple(k for keys in per_case for k in keys or () if not keys_ready((k,)))
    with _PREFETCH_LOCK:
        if not todo or todo in _PREFETCHING:
            return None
        _PREFETCHING.add(todo)

    def work() -> None:
        start = time.time()
        try:
            with _BUILDING:
                for case in cases:
                    try:
                        encode_case(cache, case, opts, max_side)
                    except Exception as exc:  # a guess: the page reports errors when shown
                        log.info("case %s not prefetched: %s", case.case_id, exc)
        finally:
            with _PREFETCH_LOCK:
                _PREFETCHING.discard(todo)
            if done is not None:
                end = time.time()
                done(",".join(c.case_id for c in cases), end, end - start)

    thread = threading.Thread(target=work, name="mcalc-panel-prefetch", daemon=True)
    thread.start()
    return thread
