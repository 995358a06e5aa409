"""Indexing the real dataset's folder layout (mcalc.dataset.layout, open_dataset)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from mcalc.dataset import DatasetIndex, open_dataset
from mcalc.dataset.layout import index_real_layout
from mcalc.errors import DatasetError

CANONICAL = [
    "CC_prior.dcm",
    "CC_recent.dcm",
    "MLO_prior.dcm",
    "MLO_recent.dcm",
    "CC_prior_GT.jpg",
    "CC_recent_GT.jpg",
    "MLO_prior_GT.jpg",
    "MLO_recent_GT.jpg",
]
HEADER = [
    "Folder #",
    "Breast (Right/Left)",
    "Age (at the time of the recent mammogram)",
    "BI-RADS categories for breast density",
    "BI-RADS categories for classification ",
    "Available mammograms",
    "Years between screenings",
    "Biopsy results",
]


def make_case(folder: Path, names: list[str] = CANONICAL, content: bytes = b"") -> Path:
    """A case folder of placeholder files (indexing never opens them)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(content)
    return folder


def make_layout(
    data_dir: Path, normal: tuple[int, ...] = (1, 2), suspicious: tuple[int, ...] = (1, 2)
) -> Path:
    for n in normal:
        make_case(data_dir / "Normal_cases" / str(n))
    for n in suspicious:
        make_case(data_dir / "Suspicious_cases" / str(n))
    return data_dir


def write_description(
    path: Path, normal: list[list[object]], suspicious: list[list[object]]
) -> Path:
    book = Workbook()
    book.remove(book.active)
    for name, rows in (("Normal_cases", normal), ("Suspicious_cases", suspicious)):
        sheet = book.create_sheet(name)
        sheet.append(["Breast micro-calcifications dataset"])
        sheet.append([])
        sheet.append(HEADER)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def messages(index: DatasetIndex, severity: str | None = None) -> str:
    return " | ".join(
        p.message for p in index.problems if severity is None or p.severity == severity
    )


def assert_every_file_accounted_for(index: DatasetIndex, data_dir: Path) -> None:
    """Each file under the case folders is in the index or named by a problem."""
    indexed = {
        p for rec in index.images() for p in (rec.image_path, rec.annotation_path) if p is not None
    }
    named = [Path(p.path) for p in index.problems]
    for group in data_dir.iterdir():
        if not group.is_dir():
            continue
        for path in group.rglob("*"):
            if path.is_dir():
                continue
            ok = path in indexed or any(path == n or n in path.parents for n in named)
            assert ok, f"{path} silently dropped"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path.resolve()


def test_happy_path(root: Path) -> None:
    make_layout(root / "Dataset", normal=(1, 2, 10), suspicious=(1,))
    index = open_dataset(root)
    assert index.source == "real-layout" and not index.synthetic
    assert index.root == root
    assert [c.case_id for c in index.cases] == ["normal-1", "normal-2", "normal-10", "suspicious-1"]
    case = index.case("normal-10")
    assert case.patient_id == "normal-10" and case.group == "normal"
    assert case.folder == root / "Dataset" / "Normal_cases" / "10"
    assert len(case.images) == 4
    rec = case.image("MLO", "recent")
    assert rec is not None
    assert rec.image_path.name == "MLO_recent.dcm"
    assert rec.annotation_path is not None and rec.annotation_path.name == "MLO_recent_GT.jpg"
    assert rec.annotation_kind == "red" and rec.loose_names == ()
    # only the missing spreadsheet is worth mentioning
    assert [p.severity for p in index.problems] == ["warning"]
    assert "Description.xlsx" in index.problems[0].message


@pytest.mark.parametrize(
    ("data_rel", "open_rel"),
    [
        ("Dataset", "."),
        ("Dataset_v3", "."),
        ("dataset", "."),
        ("Dataset", "Dataset"),
        (".", "."),  # a folder directly holding Normal_cases/ and Suspicious_cases/
        ("wrapper/Dataset", "."),  # archive unpacked into an extra folder
    ],
)
def test_accepted_roots(root: Path, data_rel: str, open_rel: str) -> None:
    make_layout(root / data_rel)
    index = open_dataset(root / open_rel)
    assert [c.case_id for c in index.cases] == [
        "normal-1",
        "normal-2",
        "suspicious-1",
        "suspicious-2",
    ]


def test_group_folder_names_case_insensitive(root: Path) -> None:
    make_case(root / "Dataset" / "normal_cases" / "1")
    make_case(root / "Dataset" / "SUSPICIOUS_CASES" / "01")
    index = open_dataset(root)
    assert [c.case_id for c in index.cases] == ["normal-1", "suspicious-1"]


def test_real_quirks_read_loosely_and_reported(root: Path) -> None:
    data = make_layout(root / "Dataset", normal=(1,), suspicious=())
    make_case(
        data / "Suspicious_cases" / "3",
        [
            "CC_prior.DCM",
            "CC_recemt.dcm",
            "MLO_prior.dcm",
            "MLO_recent.DCM",
            "CC_prior_GT.jpg",
            "CC_reent_GT.jpg",
            "MLO_prior_GT.jpg",
            "MLO_reent_GT.jpg",
        ],
    )
    make_case(data / "Suspicious_cases" / "4", [*CANONICAL[:5], "CC_recent_GT.Jpg", *CANONICAL[6:]])
    index = open_dataset(root)
    case = index.case("suspicious-3")
    assert len(case.images) == 4 and all(r.annotation_path is not None for r in case.images)
    cc = case.image("CC", "recent")
    assert cc is not None
    assert cc.image_path.name == "CC_recemt.dcm"
    assert cc.annotation_path is not None and cc.annotation_path.name == "CC_reent_GT.jpg"
    assert cc.loose_names == ("CC_recemt.dcm", "CC_reent_GT.jpg")
    loose = [p for p in index.problems if "read as" in p.message]
    assert len(loose) == 6 and all(p.severity == "warning" for p in loose)
    assert any(p.path.endswith("CC_recemt.dcm") and "misspelling" in p.message for p in loose)
    assert any("upper-case extension .DCM" in p.message for p in loose)
    assert any("CC_recent_GT.Jpg" in p.message for p in loose)
    assert_every_file_accounted_for(index, data)


def test_leftovers_and_duplicates_never_dropped(root: Path) -> None:
    data = make_layout(root / "Dataset", normal=(1,), suspicious=())
    case = make_case(
        data / "Suspicious_cases" / "2",
        [*CANONICAL, "CC_recemt.dcm", "cc_recent.DCM", "notes.txt", "Thumbs.db", "CC.dcm"],
    )
    make_case(case / "old", ["CC_prior.dcm"])
    (data / "Normal_cases" / "stray.txt").write_text("x")
    (data / "Normal_cases" / ".DS_Store").write_text("x")
    make_case(data / "Normal_cases" / "extra", ["CC_prior.dcm"])
    index = open_dataset(root)
    rec = index.case("suspicious-2").image("CC", "recent")
    assert rec is not None and rec.image_path.name == "CC_recent.dcm"  # the exact one is kept
    text = messages(index)
    assert "CC_recemt.dcm: a second file for CC_recent.dcm (kept CC_recent.dcm)" in text
    assert "cc_recent.DCM: a second file for CC_recent.dcm" in text
    assert "unrecognised file Dataset/Suspicious_cases/2/notes.txt left out" in text
    assert "unrecognised file Dataset/Suspicious_cases/2/CC.dcm left out" in text
    assert "Thumbs.db: system file" in text
    assert "folder Dataset/Suspicious_cases/2/old inside a case folder left out" in text
    assert "Normal_cases/stray.txt lies outside the case folders" in text
    assert "Dataset/Normal_cases/.DS_Store: system file, ignored" in messages(index, "info")
    assert "folder Dataset/Normal_cases/extra is not a numbered case folder" in text
    assert_every_file_accounted_for(index, data)


def test_duplicate_without_exact_name_keeps_the_better_one(root: Path) -> None:
    make_case(root / "Normal_cases" / "1", ["CC_recemt.dcm", "CC_recent.DCM"])
    index = open_dataset(root)
    rec = index.case("normal-1").image("CC", "recent")
    assert rec is not None and rec.image_path.name == "CC_recent.DCM"
    assert "CC_recemt.dcm: a second file for CC_recent.dcm (kept CC_recent.DCM)" in messages(index)


def test_missing_images_and_orphan_annotations(root: Path) -> None:
    make_case(root / "Dataset" / "Normal_cases" / "1", ["CC_prior.dcm", "MLO_recent_GT.jpg"])
    index = open_dataset(root)
    case = index.case("normal-1")
    assert [(r.view, r.timepoint) for r in case.images] == [("CC", "prior")]
    assert case.images[0].annotation_path is None and case.images[0].annotation_kind == "none"
    warnings = messages(index, "warning")
    for slot in ("CC_recent", "MLO_prior", "MLO_recent"):
        assert f"missing {slot} image" in warnings
    assert "MLO_recent_GT.jpg: annotation without its MLO_recent image; left out" in warnings
    # A warning since 6 December 2026 (an info note before): every case folder holds its
    # eight files, so a missing GT leaves the image's calcifications unknown, not none.
    assert (
        "Dataset/Normal_cases/1: no CC_prior_GT.jpg annotation (every case folder holds one): "
        "the image's calcifications are unknown" in warnings
    )
    assert case.images[0].annotation_missing == "CC_prior_GT.jpg"
    assert case.images[0].unknown_annotation() == (
        "normal-1/CC_prior: no annotation (CC_prior_GT.jpg is missing): its calcifications "
        "are unknown, not none"
    )


def test_case_without_usable_image_is_left_out(root: Path) -> None:
    data = make_layout(root / "Dataset", normal=(1,), suspicious=())
    make_case(data / "Suspicious_cases" / "7", ["CC_prior_GT.jpg", "readme.md"])
    (data / "Suspicious_cases" / "8").mkdir()
    index = open_dataset(root)
    assert [c.case_id for c in index.cases] == ["normal-1"]
    errors = messages(index, "error")
    assert "no usable image; case suspicious-7 left out" in errors
    assert "no usable image; case suspicious-8 left out" in errors
    assert_every_file_accounted_for(index, data)


def test_same_case_number_twice(root: Path) -> None:
    make_case(root / "Normal_cases" / "1")
    make_case(root / "Normal_cases" / "01")
    index = open_dataset(root)
    assert [c.case_id for c in index.cases] == ["normal-1"]
    assert "is case normal-1 again" in messages(index, "error")


def test_indexing_never_decodes(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Garbage files index fine, and no decoder is called."""
    import cv2
    import pydicom

    import mcalc.imageio

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("indexing must not decode images")

    monkeypatch.setattr(pydicom, "dcmread", boom)
    monkeypatch.setattr(cv2, "imread", boom)
    monkeypatch.setattr(cv2, "imdecode", boom)
    monkeypatch.setattr(mcalc.imageio, "read_image", boom)
    make_case(root / "Dataset" / "Normal_cases" / "1", content=b"\x00garbage, not DICOM\xff" * 10)
    index = open_dataset(root)
    assert len(index.images()) == 4


def test_metadata_join(root: Path) -> None:
    make_layout(root / "Dataset", normal=(1, 2), suspicious=(1, 2))
    write_description(
        root / "Description.xlsx",
        normal=[
            [1.0, "Right", 54, "b", 1, "2014-2017", 3, "NOT AVAILABLE"],
            [9, "Left", 60, "a", 2, "2015-2017", 2, "NOT AVAILABLE"],
        ],
        suspicious=[
            [1, "Left", "NOT AVAILABLE", "c", "4A", "2016-2018", 2, "Benign"],
            [2, "Right", 70, "d", 1, "2013-2018", 5, "DCIS"],
        ],
    )
    index = open_dataset(root)
    n1 = index.case("normal-1")
    assert (n1.laterality, n1.birads, n1.density, n1.biopsy) == ("R", "1", "b", None)
    assert (n1.age, n1.years_between, n1.available) == (54.0, 3.0, "2014-2017")
    s1 = index.case("suspicious-1")
    assert (s1.laterality, s1.birads, s1.age, s1.biopsy) == ("L", "4a", None, "Benign")
    assert s1.birads_group == "suspicious"
    assert index.case("normal-2").birads is None
    text = messages(index)
    assert "no row for Folder # 2 in sheet Normal_cases" in text
    assert "row for Folder # 9 but there is no folder Normal_cases/9" in text
    assert "suspicious-2 BI-RADS 1, unusual for a case under Suspicious_cases" in text
    frame = index.to_frame()
    assert frame.set_index("case_id").loc["suspicious-1", "birads"] == "4a"


def test_metadata_found_when_pointing_at_dataset_folder(root: Path) -> None:
    make_layout(root / "Dataset", normal=(1,), suspicious=(1,))
    write_description(root / "Description.xlsx", [[1, "Left", 50, "a", 2, "", 1, ""]], [])
    index = open_dataset(root / "Dataset")
    assert index.case("normal-1").laterality == "L"


def test_unreadable_spreadsheet_is_a_warning(root: Path) -> None:
    make_layout(root / "Dataset", normal=(1,), suspicious=())
    (root / "Description.xlsx").write_bytes(b"garbage")
    index = open_dataset(root)
    assert index.case("normal-1").birads is None
    problem = next(p for p in index.problems if p.path.endswith("Description.xlsx"))
    assert problem.severity == "warning" and "cases have no metadata" in problem.message


@pytest.mark.parametrize(("marker_rel", "open_rel"), [(".", "."), (".", "Dataset")])
def test_synthetic_marker(root: Path, marker_rel: str, open_rel: str) -> None:
    make_layout(root / "Dataset", normal=(1,), suspicious=())
    (root / marker_rel / "mcalc_demo.json").write_text(json.dumps({"seed": 0}))
    assert open_dataset(root / open_rel).synthetic


def test_nonexistent_path(root: Path) -> None:
    with pytest.raises(
        DatasetError, match="does not exist; point at the folder that holds Dataset/"
    ) as info:
        open_dataset(root / "nope")
    assert "python -m mcalc demo --out DIR" in str(info.value)  # how to make the demo set
    with pytest.raises(DatasetError, match="does not exist"):
        index_real_layout(root / "nope")


def test_empty_folder(root: Path) -> None:
    with pytest.raises(DatasetError) as err:
        open_dataset(root)
    text = str(err.value)
    assert "is empty" in text and "Normal_cases" in text and "point at the folder" in text


def test_folder_without_layout(root: Path) -> None:
    (root / "photos").mkdir()
    (root / "notes.txt").write_text("x")
    with pytest.raises(DatasetError) as err:
        open_dataset(root)
    text = str(err.value)
    assert "holds no Normal_cases/ or Suspicious_cases/" in text and "notes.txt" in text


def test_layout_with_only_empty_case_folders(root: Path) -> None:
    (root / "Dataset" / "Normal_cases" / "1").mkdir(parents=True)
    with pytest.raises(DatasetError, match="holds no usable case"):
        open_dataset(root)


def test_several_dataset_folders_is_ambiguous(root: Path) -> None:
    make_layout(root / "Dataset_v2", normal=(1,), suspicious=())
    make_layout(root / "Dataset_v3", normal=(1,), suspicious=())
    with pytest.raises(DatasetError, match="several dataset folders"):
        open_dataset(root)


def test_single_group_and_non_csv_file(root: Path) -> None:
    make_case(root / "Normal_cases" / "1")
    index = open_dataset(root)
    assert "no Suspicious_cases/ folder" in messages(index)
    sheet = root / "Description.xlsx"
    sheet.write_bytes(b"")
    with pytest.raises(DatasetError, match="point at the folder that holds Dataset/"):
        open_dataset(sheet)
