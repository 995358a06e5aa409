"""A table too wide for a presenter's screen, as the columns in view and an expander with
the rest: at a projector's 1280 px at 125 % (1024 px of page, 690 px beside the sidebar)
Train's job history and model comparison and Evaluate's registry scrolled sideways, the
columns a demo talks about out of sight (docs/measurements.md, h/projector). A model id over
40 characters (a user's ``--id``, a cross-validation fold's) is wrapped in a column of its own
width rather than cut or scrolled: ids differ at their end (a time, a fold), h/trainids."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from mcalc.models.compare import LONG_ID_CHARS
from pages import common

__all__ = ["ID_COLUMN_PX", "WRAP_ROW_PX", "id_rows", "split_table"]

#: A table's first column that holds an id (a model's, a cross-validation run's), wrapped;
#: else its ``model`` column (Train's job history).
ID_COLUMNS = ("model", "run")
#: The width of a table's model column when an id is longer than ``LONG_ID_CHARS``: sized to
#: an 81-character id it made Train's table 788 px in a projector's 690 (1280 px at 125 %),
#: the grid cutting the id before its fold; at 200 px every column of Train's and Evaluate's
#: tables fits 690 px with an efficientnetb0 beside (250 px: 692 with a resnet50; h/trainids).
ID_COLUMN_PX = 200
#: Characters of an id on one line of :data:`ID_COLUMN_PX`, rounded down (14 px text: 41
#: fitted 260 px; 6 px a character and 16 px of padding).
ID_LINE_CHARS = 28
#: Streamlit's grid wraps a cell's text only in rows taller than 4rem (64 px).
WRAP_ROW_PX = 65
#: A wrapped line's height and a cell's top and bottom padding, in px.
_LINE_PX, _PADDING_PX = 18, 16


def id_rows(ids: Iterable[object]) -> int | None:
    """The row height that shows each of ``ids`` whole, wrapped in :data:`ID_COLUMN_PX`;
    ``None`` when none is longer than ``LONG_ID_CHARS`` (the column then fits its ids).

    >>> id_rows(["demo-custom"]) is None
    True
    >>> id_rows(["cv-efficientnet-calcification-20261207-221530-fold1of3"])  # 2 lines
    65
    >>> id_rows(["x" * 81])  # 3 lines
    70
    """
    longest = max((len(str(i)) for i in ids), default=0)
    if longest <= LONG_ID_CHARS:
        return None
    return max(WRAP_ROW_PX, _LINE_PX * math.ceil(longest / ID_LINE_CHARS) + _PADDING_PX)


def split_table(
    frame: pd.DataFrame,
    in_view: Sequence[str],
    *,
    key: str,
    more: str,
    column_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """``frame``'s ``in_view`` columns (those it has), then an expander titled ``more`` with
    its first column and every other one; none when nothing is left over.

    ``column_config`` applies to both tables (each uses the columns it shows); ``kwargs``
    go to the first one (``height``...). The id column (:data:`ID_COLUMNS`) with an id over
    ``LONG_ID_CHARS`` gets :data:`ID_COLUMN_PX` and both tables rows of :func:`id_rows`:
    the id wraps whole, on any screen, and the columns beside it stay in view."""
    config = dict(column_config or {})
    first = frame.columns[0] if len(frame.columns) else None
    ids = first if first in ID_COLUMNS else "model" if "model" in frame.columns else None
    rows = None if ids is None else id_rows(frame[ids])
    if ids is not None and rows is not None:
        # Pinned where it leads the table (a pinned column is drawn first).
        column = config.get(ids) or st.column_config.TextColumn(pinned=ids == first)
        config[ids] = {**column, "width": ID_COLUMN_PX}
        kwargs["row_height"] = rows
    shown = [c for c in in_view if c in frame.columns]
    rest = [c for c in frame.columns if c not in shown]
    common.dataframe(
        frame[shown],
        hide_index=True,
        width="stretch",
        column_config={k: v for k, v in config.items() if k in shown},
        key=key,
        **kwargs,
    )
    if not rest:
        return
    first = frame.columns[0]
    with st.expander(f"{more} ({', '.join(map(str, rest))})"):
        others = [first, *(c for c in rest if c != first)]
        common.dataframe(
            frame[others],
            hide_index=True,
            width="stretch",
            column_config={k: v for k, v in config.items() if k in others},
            key=f"{key}_more",
            row_height=rows,
        )
