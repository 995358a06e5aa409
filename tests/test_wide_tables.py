"""pages/wide_tables.py: a table's id column wraps a long id whole (h/trainids)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from pages.wide_tables import ID_COLUMN_PX, WRAP_ROW_PX, id_rows

FOLD = "my-own-resnet50-retrain-with-hard-negatives-lr1e-4-seed7-20261208-221530-fold3of5"


def _history(model: str) -> None:
    import pandas as pd

    from pages.wide_tables import split_table

    rows = [{"job": "20261208-012559-resnet50-00faaf", "state": "done", "model": model, "by": ""}]
    split_table(pd.DataFrame(rows), ("job", "state", "model"), key="t", more="More columns")


def _columns(at: AppTest) -> list[dict]:
    return [json.loads(d.proto.columns) for d in at.dataframe]


def test_a_model_id_in_the_job_history_wraps_beside_the_job_not_before_it() -> None:
    """Train's job history (model third) with an 81-character --id: the column sized to the
    id, the table scrolled sideways in a projector's 690 px. It wraps, not pinned (a pinned
    column is drawn first, before the job it belongs to)."""
    at = AppTest.from_function(_history, args=(FOLD,)).run()
    assert not at.exception
    (view, _more) = _columns(at)
    assert view["model"]["width"] == ID_COLUMN_PX and not view["model"].get("pinned"), view
    rows = id_rows([FOLD])
    assert rows is not None and rows >= WRAP_ROW_PX  # the grid wraps only above 64 px
    assert [d.proto.row_height for d in at.dataframe] == [rows, rows]
    short = AppTest.from_function(_history, args=("demo-custom",)).run()
    assert "model" not in _columns(short)[0]  # sized to its ids, rows as they were
    assert {d.proto.row_height for d in short.dataframe} == {0}
