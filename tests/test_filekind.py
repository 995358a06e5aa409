"""A collection's table that is damaged or of another format: every loader names the file,
what it expected, what it found and what to do (mcalc/dataset/filekind.py)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from mcalc.dataset import open_dataset
from mcalc.dataset.convert import convert_collection
from mcalc.dataset.filekind import content_kind
from mcalc.dataset.manifest import index_manifest
from mcalc.dataset.metadata import parse_description
from mcalc.errors import DatasetError, ManifestError
from tests.convert_fixtures import make_cbis, make_inbreast, make_vindr


def _xlsx(rows: list[list[object]], sheet: str = "Sheet") -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = sheet
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _xls(rows: list[list[str]]) -> bytes:
    import xlwt  # test-only writer of Excel 97-2003 files

    book = xlwt.Workbook()
    sheet = book.add_sheet("INbreast")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


#: Bytes that are no table, a seeded stand-in for a damaged download.
_GARBAGE = bytes((i * 7919 + 13) % 256 for i in range(3000))
_HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body></body></html>\n"


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"", "empty"),
        (b"PK\x03\x04\x14\x00", "zip"),
        (bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 8, "xls"),
        (_HTML, "html"),
        (b"\xef\xbb\xbf  <html><body>", "html"),
        (b"%PDF-1.7\n", "pdf"),
        ("case_id\n".encode("utf-16"), "utf16"),
        (_GARBAGE, "binary"),
        (b"patient_id,breast density\nP_1,3\n", "text"),
        ("a;b\n\u201cquoted\u201d;é\n".encode("cp1252"), "text"),  # a CP-1252 CSV
        ("a,b\nnaïve,ü\n".encode()[:-2], "text"),  # a UTF-8 character cut at the end
    ],
    ids=[
        "empty",
        "zip",
        "xls",
        "html",
        "html-bom",
        "pdf",
        "utf16",
        "binary",
        "csv",
        "cp1252",
        "cut",
    ],
)
def test_content_kind(head: bytes, kind: str) -> None:
    assert content_kind(head) == kind


@pytest.mark.parametrize(
    ("content", "found", "todo"),
    [
        (_GARBAGE, "found binary data", "download it again"),
        (_HTML, "found a web page (HTML)", "download it again"),
        (_xlsx([["patient_id"]]), "found a ZIP archive", "save it as CSV under this name"),
        ("a,b\n".encode("utf-16"), "found text in UTF-16", "save it as CSV UTF-8"),
    ],
    ids=["garbage", "html", "xlsx", "utf16"],
)
@pytest.mark.parametrize(
    ("make", "fmt", "table"),
    [
        (make_cbis, "cbis-ddsm", "calc_case_description_train_set.csv"),
        (make_vindr, "vindr", "finding_annotations.csv"),
        (make_vindr, "vindr", "breast-level_annotations.csv"),
    ],
    ids=["cbis", "vindr-findings", "vindr-breasts"],
)
def test_a_csv_that_is_not_text_is_refused_with_what_to_do(
    tmp_path: Path, make, fmt: str, table: str, content: bytes, found: str, todo: str
) -> None:
    """Read as text, such a file gave "missing column(s) ...; found ['pk\\x03\\x04...']"."""
    src = make(tmp_path / "src")
    (src / table).write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        convert_collection(fmt, src, tmp_path / "m.csv")
    message = str(caught.value)
    assert message.startswith(f"{src / table}: expected a CSV table"), message
    assert found in message and todo in message and "\\x" not in message, message


def test_a_manifest_that_is_not_text_is_refused_with_what_to_do(tmp_path: Path) -> None:
    target = tmp_path / "manifest.csv"
    target.write_bytes(_xlsx([["case_id", "view", "image"]]))
    with pytest.raises(
        ManifestError, match=r"expected a manifest CSV .*found a ZIP archive .*save it as CSV"
    ):
        index_manifest(target)


def _inbreast_rows(src: Path) -> list[list[str]]:
    return [line.split(";") for line in (src / "INbreast.csv").read_text().splitlines()]


@pytest.mark.parametrize(
    ("what", "message"),
    [
        ("damaged xls", "a damaged Excel 97-2003 workbook (xlrd: "),
        ("damaged xlsx", "a damaged .xlsx workbook ("),
        (
            "html",
            "expected the INbreast table (the release's Excel 97-2003 INbreast.xls, an "
            ".xlsx or a CSV); found a web page (HTML)",
        ),
        ("empty", "found an empty file (0 bytes)"),
    ],
)
def test_a_damaged_inbreast_xls_says_to_save_it_as_csv(
    tmp_path: Path, what: str, message: str
) -> None:
    """xlrd's "Expected BOF record; found b'<html><b'" was all it said; a cut .xlsx stopped
    with "unexpected BadZipFile ... (a bug in mcalc ...)"."""
    src = make_inbreast(tmp_path / "inb")
    rows = _inbreast_rows(src)
    content = {
        "damaged xls": _xls(rows)[:1000],
        "damaged xlsx": _xlsx(rows)[:400],
        "html": _HTML,
        "empty": b"",
    }[what]
    (src / "INbreast.csv").unlink()
    (src / "INbreast.xls").write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        convert_collection("inbreast", src, tmp_path / "m.csv")
    text = str(caught.value)
    assert text.startswith(f"{src / 'INbreast.xls'}: ") and message in text, text
    assert text.endswith(
        "save its first sheet as INbreast.csv in the same folder (read before the workbook)"
    )
    # Done as it says: the CSV beside the damaged workbook is the one read.
    (src / "INbreast.csv").write_text("\n".join(";".join(r) for r in rows) + "\n")
    assert len(convert_collection("inbreast", src, tmp_path / "m.csv").rows) == 3


@pytest.mark.parametrize("content", ["xlsx", "csv"])
def test_an_inbreast_table_under_the_xls_name_is_read_as_what_it_is(
    tmp_path: Path, content: str
) -> None:
    src = make_inbreast(tmp_path / "inb")
    rows = _inbreast_rows(src)
    expected = convert_collection("inbreast", src, tmp_path / "from_csv.csv").rows
    data = _xlsx(rows) if content == "xlsx" else (src / "INbreast.csv").read_bytes()
    (src / "INbreast.csv").unlink()
    (src / "INbreast.xls").write_bytes(data)
    got = convert_collection("inbreast", src, tmp_path / "from_xls.csv").rows
    assert [(r.image.name, r.birads) for r in got] == [(r.image.name, r.birads) for r in expected]


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"", "found an empty file (0 bytes); download it again, open it"),
        (_HTML, "found a web page (HTML)"),
        (
            bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 600,
            "found an Excel 97-2003 workbook (.xls); open it",
        ),
        (b"Folder #;Laterality\n1;R\n", "found text (a CSV or other text saved under this name?)"),
    ],
    ids=["empty", "html", "xls", "csv"],
)
def test_a_description_that_is_no_xlsx_says_what_it_is(
    tmp_path: Path, content: bytes, found: str
) -> None:
    """Every one said "cannot read as an Excel workbook (File is not a zip file)"."""
    path = tmp_path / "Description.xlsx"
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        parse_description(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: expected an Excel workbook (.xlsx); {found}"), text
    assert text.endswith("or remove it to load the cases without metadata"), text


def test_a_description_without_the_group_sheets_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "Description.xlsx"
    path.write_bytes(_xlsx([["Folder #"]], sheet="Sheet1"))
    with pytest.raises(DatasetError, match=r"found sheets \['Sheet1'\]: .*rename the sheets so"):
        parse_description(path)


def test_a_damaged_description_leaves_the_cases_readable(tiny_demo: Path, tmp_path: Path) -> None:
    copy = tmp_path / "demo"
    shutil.copytree(tiny_demo, copy)
    (copy / "Description.xlsx").write_bytes(_HTML)
    index = open_dataset(copy)
    assert index.cases
    said = [p.message for p in index.problems if p.path.endswith("Description.xlsx")]
    assert said and "found a web page (HTML)" in said[0], said
