"""A table too wide for a presenter's screen, as the columns in view and an expander with
the rest: at a projector's 1280 px at 125 % (1024 px of page, 690 px beside the sidebar)
Train's job history and model comparison and Evaluate's registry scrolled sideways, the
columns a demo talks about out of sight (docs/measurements.md, h/projector)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import streamlit as st

from pages import common

__all__ = ["split_table"]


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
    go to the first one (``height``...)."""
    config = column_config or {}
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
        )
