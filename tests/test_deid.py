"""No patient identifier leaves mcalc: a run of the CLI over DICOMs that carry them.

The tiny demo set is copied and every DICOM gets a patient's name, id, birth date,
accession number, institution, referring physician and full dates. ``scan``, ``predict``
(one case, and ``--all`` for the batch results table), ``evaluate`` and ``report`` then run over it (``--json`` and ``--out``), and every byte they print,
log, cache or write is searched for those values.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from mcalc.cache import flush_writes
from mcalc.cli import main
from tests.explain_fixtures import spot_registry_fixture  # noqa: F401

pytestmark = pytest.mark.slow

PHI = {
    "PatientName": "Pereira^Josefina",
    "PatientID": "PID-4711-0815",
    "PatientBirthDate": "19580317",
    "AccessionNumber": "ACC-99887766",
    "InstitutionName": "Hospital Sao Exemplo",
    "ReferringPhysicianName": "Drummond^Carlos",
    "OtherPatientIDs": "OTHER-5550123",
    "StudyDate": "20190423",
    "SeriesDate": "20190424",
    "AcquisitionDate": "20190425",
    "ContentDate": "20190426",
}
#: What must never show up: each value, and the name parts on their own.
NEEDLES = sorted(
    {v for v in PHI.values()} | {"Pereira", "Josefina", "Drummond", "Sao Exemplo", "4711-0815"}
)


def _with_identifiers(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    files = sorted(dst.rglob("*.dcm"))
    assert files, "the demo set should hold DICOM files"
    for path in files:
        ds = pydicom.dcmread(path)
        for keyword, value in PHI.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    return dst


def _leaks(text_or_bytes: str | bytes, where: str) -> list[str]:
    data = text_or_bytes.encode() if isinstance(text_or_bytes, str) else text_or_bytes
    return [f"{needle!r} in {where}" for needle in NEEDLES if needle.encode() in data]


def test_no_identifier_in_any_output(
    tiny_demo, spot_registry, tmp_path, monkeypatch, capsys, caplog
):
    data = _with_identifiers(tiny_demo, tmp_path / "data")
    cache, out = tmp_path / "cache", tmp_path / "out"
    monkeypatch.setenv("MCALC_CACHE", str(cache))
    caplog.set_level(logging.DEBUG)
    leaks: list[str] = []
    runs = {
        "scan": ["scan", str(data), "--json", "-v"],
        "scan text": ["scan", str(data), "-v"],
        "predict": [
            "predict", "--model", "spot", "--models", str(spot_registry), "--data", str(data),
            "--case", "suspicious-1", "--out", str(out), "--json",
        ],
        "evaluate": [
            "evaluate", "--model", "spot", "--models", str(spot_registry), "--data", str(data),
            "--json",
        ],
        "batch": [
            "predict", "--model", "spot", "--models", str(spot_registry), "--data", str(data),
            "--all", "--workers", "1", "--out", str(out / "batch"), "--json",
        ],
        "report": [
            "report", "--data", str(data), "--case", "suspicious-1", "--model", "spot",
            "--models", str(spot_registry), "--out", str(out / "report.pdf"),
        ],
    }  # fmt: skip
    for name, argv in runs.items():
        code = main(["--log-level", "DEBUG", *argv])
        printed = capsys.readouterr()
        assert code == 0, f"{name} failed: {printed.err[-500:]}"
        leaks += _leaks(printed.out, f"{name} stdout") + _leaks(printed.err, f"{name} stderr")
    leaks += _leaks(caplog.text, "the log")
    flush_writes()  # the image cache writes its files on a thread of its own
    written = [p for root in (out, cache) for p in root.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in written) and any(p.suffix == ".npy" for p in written)
    assert (out / "batch" / "results.csv").is_file()  # the batch table (CSV: its text searched)
    for path in written:
        leaks += _leaks(path.read_bytes(), str(path.relative_to(tmp_path)))
    report = subprocess.run(
        ["pdftotext", str(out / "report.pdf"), "-"], capture_output=True, text=True, check=True
    )  # the PDF's streams are compressed: search its text too
    leaks += _leaks(report.stdout, "the case report's text")
    assert not leaks, "patient identifiers leaked:\n" + "\n".join(leaks)
    # The year alone may be shown; the test data do carry the identifiers (no vacuous pass).
    assert pydicom.dcmread(next(data.rglob("*.dcm"))).PatientID == PHI["PatientID"]
