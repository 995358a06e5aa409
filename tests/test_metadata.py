"""Reading Description.xlsx (mcalc.dataset.metadata)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from mcalc.dataset.metadata import (
    normalize_birads,
    normalize_laterality,
    parse_description,
    parse_number,
    read_description,
)
from mcalc.errors import DatasetError

HEADER = [
    "Folder #",
    "Breast (Right/Left)",
    "Age (at the time of the recent mammogram)",
    "BI-RADS categories for breast density",
    "BI-RADS categories for classification ",  # trailing space, as in the real file
    "Available mammograms",
    "Years between screenings",
    "Biopsy results",
]


def write_description(
    path: Path,
    sheets: dict[str, list[list[object]]],
    header: list[str] | None = None,
    title_rows: int = 2,
) -> Path:
    """A tiny workbook shaped like the real one: title rows, then the header, then rows."""
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for i in range(title_rows):
            sheet.append([f"Title line {i + 1}"] if i == 0 else [])
        sheet.append(header or HEADER)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


NORMAL_ROWS = [
    [1.0, "Right", 54, "B", 1, "2014-2017", 3, "NOT AVAILABLE"],
    [2, "Left ", "61", "c", 2.0, "2015-2017", "2", " not available "],
]
SUSPICIOUS_ROWS = [
    [1, "Left", 47, "a", "4A", "2016-2018", 2, "Benign"],
    [3, "RIGHT", "NOT AVAILABLE", "NOT AVAILABLE", "5", "2013-2018", 5.0, "Malignant"],
]


@pytest.fixture
def description(tmp_path: Path) -> Path:
    return write_description(
        tmp_path / "Description.xlsx",
        {"Normal_cases": NORMAL_ROWS, "Suspicious_cases": SUSPICIOUS_ROWS},
    )


def test_reads_both_sheets(description: Path) -> None:
    rows = read_description(description)
    assert set(rows) == {("normal", 1), ("normal", 2), ("suspicious", 1), ("suspicious", 3)}
    assert rows[("normal", 1)] == {
        "laterality": "R",
        "birads": "1",
        "density": "b",
        "biopsy": None,
        "age": 54.0,
        "years_between": 3.0,
        "available": "2014-2017",
    }
    assert rows[("normal", 2)]["laterality"] == "L"
    assert rows[("normal", 2)]["birads"] == "2"
    assert rows[("normal", 2)]["age"] == 61.0
    assert rows[("normal", 2)]["biopsy"] is None
    assert rows[("suspicious", 1)]["birads"] == "4a"
    assert rows[("suspicious", 1)]["biopsy"] == "Benign"
    s3 = rows[("suspicious", 3)]
    assert s3["age"] is None and s3["density"] is None
    assert s3["laterality"] == "R" and s3["birads"] == "5" and s3["years_between"] == 5.0


def test_header_row_is_detected_not_assumed(tmp_path: Path) -> None:
    path = write_description(
        tmp_path / "d.xlsx",
        {"Normal_cases": NORMAL_ROWS, "Suspicious_cases": SUSPICIOUS_ROWS},
        title_rows=4,
    )
    assert len(read_description(path)) == 4


def test_sheet_and_column_names_matched_tolerantly(tmp_path: Path) -> None:
    header = [f"  {h.upper()}  " for h in HEADER]
    header[0] = "folder  #"
    path = write_description(
        tmp_path / "d.xlsx",
        {"normal cases": NORMAL_ROWS, "SUSPICIOUS_CASES": SUSPICIOUS_ROWS},
        header=header,
    )
    rows = read_description(path)
    assert rows[("suspicious", 1)]["birads"] == "4a"
    assert rows[("normal", 1)]["density"] == "b"


def test_blank_and_odd_rows(tmp_path: Path) -> None:
    rows = [*NORMAL_ROWS, [None] * 8, ["Total", None], [1, "Left", 50, "a", 1, "", 1, ""]]
    path = write_description(
        tmp_path / "d.xlsx", {"Normal_cases": rows, "Suspicious_cases": SUSPICIOUS_ROWS}
    )
    table = parse_description(path)
    assert set(table.rows) == {("normal", 1), ("normal", 2), ("suspicious", 1), ("suspicious", 3)}
    messages = " | ".join(p.message for p in table.problems)
    assert "'Total' is not a folder number" in messages
    assert "Folder # 1 appears again" in messages
    assert table.rows[("normal", 1)]["laterality"] == "R"  # the first row wins


def test_unreadable_cell_is_reported(tmp_path: Path) -> None:
    path = write_description(
        tmp_path / "d.xlsx",
        {"Normal_cases": [[1, "Both", "old", "a", 1, "", "", ""]], "Suspicious_cases": []},
    )
    table = parse_description(path)
    assert table.rows[("normal", 1)]["laterality"] is None
    assert table.rows[("normal", 1)]["age"] is None
    messages = " | ".join(p.message for p in table.problems)
    assert "laterality" in messages and "'Both'" in messages and "'old'" in messages


@pytest.mark.parametrize("dropped", ["Breast (Right/Left)", "BI-RADS categories for class"])
def test_a_missing_column_leaves_that_value_empty_and_reads_the_others(
    tmp_path: Path, dropped: str
) -> None:
    # Until 6 December 2026 a sheet without its laterality or BI-RADS column raised, and
    # every case lost its age, density, BI-RADS and biopsy too.
    keep = [i for i, h in enumerate(HEADER) if not h.startswith(dropped)]
    path = write_description(
        tmp_path / "d.xlsx",
        {"Normal_cases": [[r[i] for i in keep] for r in NORMAL_ROWS], "Suspicious_cases": []},
        header=[HEADER[i] for i in keep],
    )
    table = parse_description(path)
    row = table.rows[("normal", 1)]
    assert (row["age"], row["density"], row["available"]) == (54.0, "b", "2014-2017")
    field = "laterality" if dropped.startswith("Breast") else "birads"
    assert row[field] is None  # type: ignore[literal-required]
    assert row["birads" if field == "laterality" else "laterality"] in {"1", "R"}  # type: ignore[literal-required]
    text = " | ".join(p.message for p in table.problems)
    assert f"sheet 'Normal_cases' has no '{dropped}" in text
    assert f"every case's {field} is left empty, the other columns are read" in text
    assert "found ['Folder #'" in text


@pytest.mark.parametrize("value", ["7", "12", "4d", "abc", 9])
def test_a_value_that_is_not_a_birads_category_is_unknown_and_reported(
    tmp_path: Path, value: object
) -> None:
    path = write_description(
        tmp_path / "d.xlsx",
        {"Normal_cases": [[1, "Right", 54, "b", value, "2014-2017", 3, "NOT AVAILABLE"]]},
    )
    table = parse_description(path)
    assert table.rows[("normal", 1)]["birads"] is None
    assert any(
        f"row 4 (Folder # 1): BI-RADS '{value}' is not a category (0-6, 4a/4b/4c); read as unknown"
        in p.message
        and p.severity == "warning"
        for p in table.problems
    )


def test_missing_optional_column_is_a_problem(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "Biopsy results"]
    path = write_description(
        tmp_path / "d.xlsx",
        {"Normal_cases": [r[:7] for r in NORMAL_ROWS], "Suspicious_cases": []},
        header=header,
    )
    table = parse_description(path)
    assert table.rows[("normal", 1)]["biopsy"] is None
    assert any("'Biopsy results'" in p.message for p in table.problems)


def test_no_header_row(tmp_path: Path) -> None:
    path = write_description(
        tmp_path / "d.xlsx", {"Normal_cases": [], "Suspicious_cases": []}, header=["a", "b"]
    )
    with pytest.raises(DatasetError, match="no header row with 'Folder #'"):
        read_description(path)


def test_missing_sheet(tmp_path: Path) -> None:
    path = write_description(tmp_path / "d.xlsx", {"Normal_cases": NORMAL_ROWS})
    table = parse_description(path)
    assert set(table.rows) == {("normal", 1), ("normal", 2)}
    assert any("Suspicious_cases" in p.message for p in table.problems)
    other = write_description(tmp_path / "e.xlsx", {"Sheet1": NORMAL_ROWS})
    with pytest.raises(DatasetError, match=r"found sheets \['Sheet1'\]"):
        read_description(other)


def test_unreadable_or_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "Description.xlsx"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"expected an Excel workbook \(.xlsx\); found text"):
        read_description(bad)
    with pytest.raises(DatasetError, match="no such spreadsheet"):
        read_description(tmp_path / "absent.xlsx")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4A", "4a"),
        (" 4b ", "4b"),
        (1.0, "1"),
        (2, "2"),
        ("5", "5"),
        ("BI-RADS 4c", "4c"),
        ("3.0", "3"),
        ("0", "0"),
        ("6", "6"),
        ("7", None),  # not a category: unknown (the reader reports it), not passed on
        ("12", None),
        ("4d", None),
        ("abc", None),
        ("NOT AVAILABLE", None),
        ("Not Available ", None),
        (None, None),
        ("", None),
    ],
)
def test_normalize_birads(value: object, expected: str | None) -> None:
    assert normalize_birads(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Right", "R"), ("left ", "L"), ("R", "R"), ("l", "L"), ("NOT AVAILABLE", None), ("x", None)],
)
def test_normalize_laterality(value: object, expected: str | None) -> None:
    assert normalize_laterality(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (54, 54.0),
        ("61", 61.0),
        ("3 years", 3.0),
        ("2,5", 2.5),
        ("NOT AVAILABLE", None),
        ("x", None),
    ],
)
def test_parse_number(value: object, expected: float | None) -> None:
    assert parse_number(value) == expected
