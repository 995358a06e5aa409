"""Counts in words: ``1 case``, ``2 cases``, never ``1 cases``.

Example:
    >>> counted(1, "case"), counted(2, "patch"), counted(0, "image")
    ('1 case', '2 patches', '0 images')
    >>> counted(1, "fold", "folds"), counted(3, "analysis", "analyses")
    ('1 fold', '3 analyses')
"""

from __future__ import annotations

__all__ = ["counted", "plural"]


def plural(noun: str) -> str:
    """The regular English plural of ``noun`` (``patch`` -> ``patches``, ``study`` ->
    ``studies``); pass any other to :func:`counted` yourself (``epoch``, ``epochs``)."""
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if len(noun) > 1 and noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def counted(n: object, noun: str, many: str | None = None) -> str:
    """``n`` followed by ``noun``, in the plural (``many``, default :func:`plural`) unless
    ``n`` is 1. A count not known (``None``) reads in the plural, as it did."""
    return f"{n} {noun if n == 1 else many or plural(noun)}"
