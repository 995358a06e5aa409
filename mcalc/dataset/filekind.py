"""What a table file holds, by its first bytes rather than its name, and what to do about it.

A collection's description comes as a CSV (CBIS-DDSM, VinDr-Mammo, a manifest), an Excel
97-2003 workbook (INbreast's ``INbreast.xls``) or an ``.xlsx`` (the Zenodo set's
``Description.xlsx``). Downloads go wrong in a few ways: a web page saved in the file's
place, a transfer cut short, a workbook saved under a ``.csv`` name. Read as text, each gave
a header of gibberish ("missing 2 columns ...; found ['pk\\x03\\x04...']"); read as a
workbook, the library's reason ("Expected BOF record"). :func:`content_kind` says which it is
and :func:`table_refusal` words it: the file, what was expected, what was found, what to do.

Example:
    >>> content_kind(b"PK\\x03\\x04rest"), content_kind(b"case_id,view\\n"), content_kind(b"")
    ('zip', 'text', 'empty')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mcalc.plural import counted

__all__ = [
    "content_kind",
    "found_words",
    "table_refusal",
    "read_head",
    "missing_columns",
    "HEAD_BYTES",
]

#: How much of a file is looked at.
HEAD_BYTES = 4096

_OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")  # Compound File Binary: Excel 97-2003 (.xls)

#: What each kind is, in words, for "found ...".
_FOUND: dict[str, str] = {
    "empty": "an empty file (0 bytes)",
    "zip": "a ZIP archive (an Excel .xlsx workbook is one)",
    "xls": "an Excel 97-2003 workbook (.xls)",
    "html": "a web page (HTML): a sign-in or error page saved in the file's place",
    "pdf": "a PDF document",
    "binary": "binary data, not text: a damaged or incomplete download",
    "utf16": "text in UTF-16 (Excel's 'Unicode Text')",
    "text": "text (a CSV or other text saved under this name?)",
}

#: What to do about a table of each kind that is not the kind expected.
_REMEDY: dict[str, str] = {
    "empty": "download it again",
    "zip": "open it in a spreadsheet program and save it as CSV under this name "
    "(or unzip it, if it is a download still packed)",
    "xls": "open it in a spreadsheet program and save it as CSV under this name",
    "html": "download it again (signed in, if the site asks)",
    "pdf": "download the table itself, not its description",
    "binary": "download it again",
    "utf16": "save it as CSV UTF-8 (comma-separated)",
    "text": "save it in the format named",
}


def read_head(path: Path) -> bytes:
    """The first :data:`HEAD_BYTES` of ``path``.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def content_kind(head: bytes) -> str:
    """What the first bytes of a file say it is: ``empty``, ``zip`` (an ``.xlsx`` among
    others), ``xls`` (Excel 97-2003), ``html``, ``pdf``, ``utf16``, ``binary`` or ``text``."""
    if not head:
        return "empty"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(_OLE2):
        return "xls"
    if head.startswith(b"%PDF"):
        return "pdf"
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head")) or b"<html" in start[:512]:
        return "html"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf16"
    if b"\0" in head:
        return "binary"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not only a character cut at the end of the head
            text = head.decode("latin-1")
        else:
            text = head[: exc.start].decode("utf-8")
    # Control characters: random bytes give about 1 in 4; a CP-1252 CSV read as Latin-1
    # gives its curly quotes (0x91-0x94) here too, far fewer than 1 in 10.
    odd = sum(1 for c in text if (ord(c) < 32 and c not in "\t\r\n") or 0x7F <= ord(c) < 0xA0)
    return "binary" if odd > max(2, len(text) // 10) else "text"


def found_words(kind: str) -> str:
    """``kind`` (of :func:`content_kind`) in words.

    Example:
        >>> found_words("xls")
        'an Excel 97-2003 workbook (.xls)'
    """
    return _FOUND[kind]


def table_refusal(path: Path, head: bytes, expected: str, accepted: tuple[str, ...]) -> str | None:
    """Why ``path`` cannot be read as a table (``expected``, e.g. "a CSV table"), or
    ``None`` when its first bytes ``head`` are of a kind in ``accepted``.

    Example:
        >>> table_refusal(Path("d/a.csv"), b"<html><body>", "a CSV table", ("text",))
        "d/a.csv: expected a CSV table; found a web page (HTML): a sign-in or error page saved in the file's place; download it again (signed in, if the site asks)"
    """
    kind = content_kind(head)
    if kind in accepted:
        return None
    return f"{path}: expected {expected}; found {_FOUND[kind]}; {_REMEDY[kind]}"


def missing_columns(
    missing: Sequence[str], expected: Sequence[str], found: Sequence[str], *, also: str = ""
) -> str:
    """A table's header lacks columns, in words: what is missing, what was expected (and
    ``also``, said after it), what was found.

    >>> missing_columns(["view"], ["case_id", "view"], ["case_id", "side"])
    "missing 1 column ['view']; expected ['case_id', 'view'], found ['case_id', 'side']"
    """
    seen = f"found {list(found)}" if any(found) else "found no header"
    return (
        f"missing {counted(len(missing), 'column')} {list(missing)}; expected "
        f"{list(expected)}{also}, {seen}"
    )
