"""mcalc.present.tables: a missing value in a table is "n/a", numbers stay numbers elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcalc.present.tables import MISSING, missing_as_text


@pytest.mark.parametrize(
    ("values", "fmt", "shown", "numeric"),
    [
        ([0.91234, None], "%.3f", ["0.912", MISSING], True),  # a model card's sensitivity
        ([0.91234, np.nan], None, ["0.91234", MISSING], True),
        ([3, None], None, ["3", MISSING], True),  # a cluster's members, none for a calcification
        ([3.0, np.nan, 12.0], None, ["3", MISSING, "12"], True),  # ints a NaN made floats
        ([np.int64(4), None], None, ["4", MISSING], True),
        (["benign", None], None, ["benign", MISSING], False),
        ([True, None], None, ["True", MISSING], False),
        ([None, None], None, [MISSING, MISSING], False),
        ([pd.NA, 1.5], None, [MISSING, "1.5"], True),
    ],
)
def test_a_column_with_a_missing_value_is_text(values, fmt, shown, numeric) -> None:
    frame = pd.DataFrame({"c": values})  # pandas infers the column's type, as the pages' do
    out, made = missing_as_text(frame, {"c": fmt} if fmt else None)
    assert list(out["c"]) == shown
    assert made == (["c"] if numeric else [])


def test_columns_without_a_missing_value_and_the_input_are_left_alone() -> None:
    frame = pd.DataFrame({"AUC": [0.5, 0.75], "model": ["a", "b"], "sens.": [None, 0.2]})
    before = frame.copy()
    out, made = missing_as_text(frame, {"AUC": "%.3f", "sens.": "%.3f"})
    assert out["AUC"].dtype == float and list(out["AUC"]) == [0.5, 0.75]
    assert list(out["model"]) == ["a", "b"]
    assert list(out["sens."]) == [MISSING, "0.200"] and made == ["sens."]
    pd.testing.assert_frame_equal(frame, before)


def test_missing_can_be_written_otherwise() -> None:
    out, _ = missing_as_text(pd.DataFrame({"c": [None, "x"]}), missing="")
    assert list(out["c"]) == ["", "x"]


def test_the_pages_draw_their_tables_through_common_dataframe() -> None:
    """A table drawn with st.dataframe itself shows a missing value as a grey "None" again.
    Train's freeze plan is a pandas Styler (coloured statuses) with no missing value."""
    from pathlib import Path

    pages = Path(__file__).resolve().parent.parent / "pages"
    direct = {
        f"{path.relative_to(pages)}:{n}"
        for path in pages.rglob("*.py")
        if path.name != "common.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "st.dataframe(" in line and "st.dataframe(styled," not in line
    }
    assert not direct, f"draw these with pages.common.dataframe: {sorted(direct)}"
