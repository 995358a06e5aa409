"""Tables as the pages show them: a missing value is written "n/a", never a grey "None".

Streamlit's data grid draws a missing cell (``None``, ``NaN``) as a grey "None", which a
reader takes for a value ("no biopsy", a model with no sensitivity) rather than "not
available". :func:`missing_as_text` writes the columns that have a missing value as text,
the way Browse's case table writes a missing biopsy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["MISSING", "missing_as_text"]

#: What a table shows for a missing value.
MISSING = "n/a"


def _is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _number_text(value: Any, fmt: str | None, whole: bool) -> str:
    if fmt is not None:
        return fmt % value
    if whole:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def missing_as_text(
    frame: pd.DataFrame, formats: Mapping[str, str] | None = None, missing: str = MISSING
) -> tuple[pd.DataFrame, list[str]]:
    """A copy of ``frame`` where each column with a missing value is text.

    In such a column a missing value (``None``, ``NaN``, ``pd.NA``) is ``missing``, a number
    is written with ``formats[column]`` (printf style, e.g. ``"%.3f"``) when given, else a
    whole-number column (integers that a missing value made floats) as integers and other
    numbers with ``:g``; other values with ``str``. Columns without a missing value are
    left as they are (numbers stay numbers). ``frame`` is not modified.

    Returns:
        The copy, and the names of the numeric columns made text (a page right-aligns them).

    >>> shown, numeric = missing_as_text(
    ...     pd.DataFrame({"AUC": [0.91234, None], "members": [3, None], "n": [1, 2]}),
    ...     {"AUC": "%.3f"},
    ... )
    >>> shown.to_dict("list"), numeric
    ({'AUC': ['0.912', 'n/a'], 'members': ['3', 'n/a'], 'n': [1, 2]}, ['AUC', 'members'])
    """
    formats = formats or {}
    out = frame.copy()
    numeric = []
    for column in frame.columns:
        values = frame[column]
        gaps = [_is_missing(v) for v in values]
        if not any(gaps):
            continue
        present = [v for v, gap in zip(values, gaps, strict=True) if not gap]
        is_number = bool(present) and all(_is_number(v) for v in present)
        whole = is_number and all(float(v).is_integer() for v in present)
        fmt = formats.get(str(column))
        out[column] = [
            missing if gap else (_number_text(v, fmt, whole) if is_number else str(v))
            for v, gap in zip(values, gaps, strict=True)
        ]
        if is_number:
            numeric.append(str(column))
    return out, numeric
