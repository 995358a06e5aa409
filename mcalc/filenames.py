"""File names for image keys that no two keys share, even on a disk that ignores case.

``predict --out`` and a batch run's ``maps/`` name each image's files from its key. The key
``case/CC_recent`` gives ``case_CC_recent`` (every character other than a letter, a digit
or ``-_.`` replaced by ``_``): then cases ``P 1`` and ``P_1`` wrote the same files, and ``A1``
and ``a1`` did on a disk that ignores case (macOS, Windows), the second image's maps over the
first's. :func:`key_stems` keeps that name for a key it names faithfully (nothing replaced
but the ``/`` before the view) and that no other key of the run shares in any case; any other
key's name gets ``~`` and 8 hex digits of its SHA-256 (``~`` is never in a plain name).

Example:
    >>> key_stem("case/CC_recent")
    'case_CC_recent'
    >>> key_stem("P 1/CC_recent")
    'P_1_CC_recent~c5245771'
    >>> sorted(key_stems(["A1/CC_recent", "a1/CC_recent", "b/CC_recent"]).values())
    ['A1_CC_recent~c3759db9', 'a1_CC_recent~27913130', 'b_CC_recent']
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable

__all__ = ["key_stem", "key_stems"]

_KEPT = "-_."


def _plain(key: str) -> str:
    """The name made before 7 December 2026 (``case/CC_recent`` -> ``case_CC_recent``)."""
    return "".join(ch if ch.isalnum() or ch in _KEPT else "_" for ch in key)


def _faithful(key: str) -> bool:
    """Whether :func:`_plain` loses nothing of ``key`` but its one ``/`` (case / image)."""
    return key.count("/") <= 1 and all(ch.isalnum() or ch in _KEPT + "/" for ch in key)


def _hashed(key: str) -> str:
    return f"{_plain(key)}~{hashlib.sha256(key.encode('utf-8')).hexdigest()[:8]}"


def key_stem(key: str) -> str:
    """The file-name stem of one image key on its own (no other key to clash with)."""
    return _plain(key) if _faithful(key) else _hashed(key)


def key_stems(keys: Iterable[str]) -> dict[str, str]:
    """File-name stems for every key of a run, no two equal when case is ignored.

    A key keeps its plain name (:func:`key_stem`) unless that name loses part of the key
    or another key's name differs from it only in case; such keys get the hashed name.
    """
    keys = list(dict.fromkeys(keys))
    folded = Counter(_plain(k).casefold() for k in keys if _faithful(k))
    return {
        k: _plain(k) if _faithful(k) and folded[_plain(k).casefold()] == 1 else _hashed(k)
        for k in keys
    }
