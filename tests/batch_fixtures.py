"""Shared fixtures of the batch tests: a four-image manifest with one corrupt DICOM.

Import them into a test module (``from tests.batch_fixtures import batch_data_fixture``)
so that pytest sees them as ``batch_data``. The three good images come from the shared
tiny demo (``tiny_demo``); the fourth is a ``.dcm`` file holding no DICOM at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The images of the manifest: (case, view, timepoint); ``broken`` is the corrupt one.
IMAGES = [
    ("suspicious-1", "CC", "prior"),
    ("suspicious-1", "CC", "recent"),
    ("normal-1", "CC", "recent"),
    ("broken", "CC", "recent"),
]


@pytest.fixture(scope="session", name="batch_data")
def batch_data_fixture(tiny_demo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest CSV of :data:`IMAGES` (annotations kept for the good ones)."""
    from mcalc.dataset import open_dataset

    index = open_dataset(tiny_demo)
    folder = tmp_path_factory.mktemp("batch-data")
    bad = folder / "broken_CC.dcm"
    bad.write_bytes(b"DICM? no: a file cut short by a failed copy" * 10)
    lines = ["case_id,view,timepoint,image,annotation"]
    for case_id, view, tp in IMAGES:
        if case_id == "broken":
            lines.append(f"{case_id},{view},{tp},{bad},")
            continue
        rec = index.case(case_id).image(view, tp)
        assert rec is not None
        lines.append(f"{case_id},{view},{tp},{rec.image_path},{rec.annotation_path or ''}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
