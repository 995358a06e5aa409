"""Paths as a person reads them: no ``..`` left in, and relative to where they are.

A manifest written to ``out/sub/m.csv`` names its images ``../../inb3/...``; joined to the
manifest's folder that gave ``/data/out/sub/../../inb3/...`` in every message and table.
:func:`tidy_path` collapses the ``..`` the way the file system does (through links, not by
cancelling names); :func:`shown_path` is what a command prints: relative to the working
folder when the file lies under it, else absolute.

Example:
    >>> shown_path("/data/x/../y/a.dcm", start="/data")
    'y/a.dcm'
    >>> shown_path("/elsewhere/a.dcm", start="/data")
    '/elsewhere/a.dcm'
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["tidy_path", "shown_path"]


def tidy_path(path: str | Path) -> Path:
    """``path`` absolute, without ``.`` or ``..`` parts, naming the same file.

    The part up to the last ``..`` is resolved (``a/../b`` where ``a`` is a link goes where
    the file system goes, not to ``b``); what follows it is kept as written, so a file that is
    itself a link keeps its own name.

    Example:
        >>> tidy_path("/data/out/sub/../../inb3/x.dcm").as_posix()
        '/data/inb3/x.dcm'
    """
    absolute = Path(path).expanduser().absolute()  # pathlib drops "." parts itself
    parts = absolute.parts
    if ".." not in parts:
        return absolute
    last = max(i for i, part in enumerate(parts) if part == "..")
    return Path(*parts[: last + 1]).resolve().joinpath(*parts[last + 1 :])


def shown_path(path: str | Path, start: str | Path | None = None) -> str:
    """``path`` as a command prints it: :func:`tidy_path`'s, relative to ``start`` (the
    working folder by default) when it lies under it, else absolute; ``/`` between names.

    Example:
        >>> shown_path("/data/a/../b.csv", start="/data")
        'b.csv'
    """
    full = tidy_path(path)
    base = Path.cwd() if start is None else tidy_path(start)
    try:  # the folders resolved (a working folder reached through a link), the name kept
        relative = full.parent.resolve().relative_to(base.resolve()) / full.name
    except ValueError:
        return full.as_posix()
    return relative.as_posix()
