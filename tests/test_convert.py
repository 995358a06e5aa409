"""Converters of public collections (mcalc.dataset.convert) on tiny fixtures in each format."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcalc.annotations import load_annotation_mask
from mcalc.cli import main
from mcalc.dataset import open_dataset
from mcalc.dataset.convert import convert_collection, normalize_format
from mcalc.dataset.convert.cbis_ddsm import is_binary, series_folder
from mcalc.dataset.convert.common import read_table
from mcalc.dataset.convert.inbreast import parse_point, read_rois
from mcalc.dataset.convert.mias import mias_laterality
from mcalc.dataset.convert.vindr import parse_categories
from mcalc.dataset.manifest import index_manifest
from mcalc.errors import DatasetError
from tests.convert_fixtures import (
    CBIS_SHAPE,
    INBREAST_SHAPE,
    MIAS_SHAPE,
    VINDR_SHAPE,
    make_cbis,
    make_inbreast,
    make_mias,
    make_vindr,
)


def _mask(path: Path | None) -> np.ndarray:
    assert path is not None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image is not None and image.dtype == np.uint8
    assert set(np.unique(image)) <= {0, 255}
    return image > 0


def _by_image(conv) -> dict[str, object]:
    return {row.image.name: row for row in conv.rows}


def _reasons(conv, severity: str = "error") -> list[str]:
    return [
        f"{Path(p.file).name}:{p.line}: {p.reason}" for p in conv.problems if p.severity == severity
    ]


# --------------------------------------------------------------------------- mini-MIAS


def test_mias_rows_sides_and_view(tmp_path: Path) -> None:
    conv = convert_collection(
        "mias", make_mias(tmp_path / "mias"), tmp_path / "out" / "manifest.csv"
    )
    rows = _by_image(conv)
    assert sorted(rows) == ["mdb001.pgm", "mdb002.pgm", "mdb003.pgm"]
    r1, r2, r3 = rows["mdb001.pgm"], rows["mdb002.pgm"], rows["mdb003.pgm"]
    # odd reference numbers are right breasts, even ones left; a pair is one patient
    assert (r1.laterality, r2.laterality, r3.laterality) == ("R", "L", "R")
    assert r1.patient_id == r2.patient_id == "mias-001" and r3.patient_id == "mias-002"
    assert (r1.case_id, r2.case_id) == ("mias-001-R", "mias-001-L")
    assert {r.view for r in conv.rows} == {"MLO"}
    assert {r.timepoint for r in conv.rows} == {"recent"}
    assert (r1.annotation_kind, r2.annotation_kind, r3.annotation_kind) == (
        "none",
        "region",
        "none",
    )
    assert (r2.density, r2.biopsy, r3.biopsy) == ("dense-glandular", "malignant", None)


def test_mias_origin_is_bottom_left(tmp_path: Path) -> None:
    conv = convert_collection(
        "mias", make_mias(tmp_path / "mias"), tmp_path / "out" / "manifest.csv"
    )
    mask = _mask(_by_image(conv)["mdb002.pgm"].annotation)
    height = MIAS_SHAPE[0]
    assert mask.shape == MIAS_SHAPE
    # Info.txt: x=20, y=10 from the bottom-left -> row 89, column 20
    assert mask[height - 1 - 10, 20]
    assert not mask[10, 20]
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (86, 92, 17, 23)  # radius 3


def test_mias_reports_rows_it_cannot_convert(tmp_path: Path) -> None:
    conv = convert_collection(
        "mias", make_mias(tmp_path / "mias"), tmp_path / "out" / "manifest.csv"
    )
    errors = _reasons(conv)
    assert len(errors) == 4
    assert any(e.startswith("Info.txt:6:") and "without a centre" in e for e in errors)
    assert any(e.startswith("Info.txt:7:") and "outside" in e for e in errors)
    assert any(e.startswith("Info.txt:8:") and "mdb006.pgm not found" in e for e in errors)
    # The wrong field named alone: it read "background tissue 'X' or class 'CALC' unknown".
    line9 = next(e for e in errors if e.startswith("Info.txt:9:"))
    assert "background tissue 'X' unknown (expected one of ['D', 'F', 'G'])" in line9
    assert "CALC" not in line9


def test_mias_images_are_read_at_200_microns(tmp_path: Path) -> None:
    """mini-MIAS is 0.2 mm a pixel; its manifest had no spacing, so every image was read at
    the 0.07 mm default and resampled to the model's spacing from that (3x too small)."""
    from mcalc.cache import ImageCache
    from mcalc.explain.service import ImageInput, read_input
    from mcalc.models.patches import load_training_image, model_input_image
    from mcalc.scan import scan_dataset
    from mcalc.viewer import DisplayOptions, prepare_view

    out = tmp_path / "out" / "manifest.csv"
    assert main(["manifest", "mias", str(make_mias(tmp_path / "mias")), "--out", str(out)]) == 0
    header, rows = read_table(out)
    assert "spacing mm" in header and {r["spacing mm"] for _, r in rows} == {"0.2"}
    records = [rec for case in index_manifest(out).cases for rec in case.images]
    assert len(records) == 3 and {r.pixel_spacing_mm for r in records} == {0.2}
    rec = records[0]
    cache = ImageCache(tmp_path / "cache")
    for mammo in (
        cache.load_record(rec),
        cache.load_record(rec),
        read_input(ImageInput.from_record(rec))[0],
    ):
        assert mammo.pixel_spacing_mm == (0.2, 0.2) and mammo.spacing_source == "manifest"
        assert not any("no pixel spacing" in f for f in mammo.flags), mammo.flags
        # the model's 0.4 mm: half the file's 0.2 mm pixels a side (0.07 mm gave 0.175)
        unit, factor = model_input_image(mammo, 0.4)
        assert factor == pytest.approx(0.5) and unit.shape == (
            MIAS_SHAPE[0] // 2,
            MIAS_SHAPE[1] // 2,
        )
    assert cache.load(rec.image_path).pixel_spacing_mm == (0.07, 0.07)  # the file alone: as before
    _, _, notes = read_input(ImageInput.from_record(rec))
    assert not any("pixel spacing" in n for n in notes), notes  # predict's note is gone
    unit, _, _ = load_training_image(rec, 0.4)  # training's and evaluate's patches
    assert unit.shape == (MIAS_SHAPE[0] // 2, MIAS_SHAPE[1] // 2)
    # Browse's view (its ruler, the calcification sizes) and scan read it so too
    view = prepare_view(cache, rec, DisplayOptions())
    assert view.spacing_mm == (0.2, 0.2)
    assert "pixel spacing 0.2 mm from the manifest (the file has none)" in view.notes
    scans = scan_dataset(out).per_image
    assert len(scans) == 3 and {s.spacing_mm for s in scans} == {(0.2, 0.2)}


def test_mias_given_an_image_for_its_info_file_says_so(tmp_path: Path) -> None:
    """`manifest mias mias/mdb001.pgm` read the picture as Info.txt and said "no line
    starting with a reference number (mdb001 ...)", true but not what was wrong."""
    root = make_mias(tmp_path / "mias")
    with pytest.raises(DatasetError) as refused:
        convert_collection("mias", root / "mdb001.pgm", tmp_path / "manifest.csv")
    assert str(refused.value) == (
        f"{root / 'mdb001.pgm'} is an image, not the collection's Info.txt; point at Info.txt "
        "or the folder that holds it"
    )


def test_mias_laterality_rule() -> None:
    assert [mias_laterality(n) for n in (1, 2, 321, 322)] == ["R", "L", "R", "L"]


# --------------------------------------------------------------------------- VinDr-Mammo


def test_vindr_rows_and_metadata(tmp_path: Path) -> None:
    conv = convert_collection("vindr", make_vindr(tmp_path / "vindr"), tmp_path / "manifest.csv")
    rows = _by_image(conv)
    assert sorted(rows) == ["a.dicom", "b.dicom", "c.dicom", "f.dicom"]
    a, b, c, f = (rows[k] for k in ("a.dicom", "b.dicom", "c.dicom", "f.dicom"))
    assert (a.case_id, a.patient_id, a.laterality, a.view) == ("s1-L", "s1", "L", "CC")
    assert (c.case_id, c.laterality, c.view, c.birads, c.density) == ("s1-R", "R", "CC", "4", "c")
    assert (f.case_id, f.birads, f.density) == ("s2-L", "2", "a")
    assert (a.annotation_kind, b.annotation_kind, c.annotation_kind) == ("none", "region", "region")


def test_vindr_calcification_boxes_become_regions(tmp_path: Path) -> None:
    conv = convert_collection("vindr", make_vindr(tmp_path / "vindr"), tmp_path / "manifest.csv")
    rows = _by_image(conv)
    b = _mask(rows["b.dicom"].annotation)
    assert b.shape == VINDR_SHAPE
    expected = np.zeros(VINDR_SHAPE, bool)
    expected[20:40, 10:30] = True  # the mass box at (1, 1)-(8, 8) is not drawn
    assert np.array_equal(b, expected)
    c = _mask(rows["c.dicom"].annotation)
    assert c[5:25, 5:15].all() and c.sum() == 20 * 10


def test_vindr_reports_bad_boxes_and_missing_images(tmp_path: Path) -> None:
    conv = convert_collection("vindr", make_vindr(tmp_path / "vindr"), tmp_path / "manifest.csv")
    errors = _reasons(conv)
    assert len(errors) == 2
    assert any(e.startswith("finding_annotations.csv:6:") and "image d" in e for e in errors)
    assert any(
        e.startswith("breast-level_annotations.csv:6:") and "s2/e.dicom not found" in e
        for e in errors
    )


def test_vindr_finds_images_outside_an_images_folder(tmp_path: Path) -> None:
    """Unpacked as ``Images/`` (or one level deeper), every image was "not found under
    .../images", one line each, and nothing was converted."""
    root = make_vindr(tmp_path / "vindr")
    (root / "images").rename(root / "Images")
    conv = convert_collection("vindr", root, tmp_path / "manifest.csv")
    assert sorted(_by_image(conv)) == ["a.dicom", "b.dicom", "c.dicom", "f.dicom"]
    assert any("s2/e.dicom not found under" in e for e in _reasons(conv))


def test_vindr_converts_from_either_csv_or_the_folder_alike(tmp_path: Path) -> None:
    """The sidebar suggested `manifest vindr .../breast-level_annotations.csv`, which read
    that file as the findings file and again as itself: every image "is not in
    breast-level_annotations.csv; row skipped", twice, and nothing converted."""
    root = make_vindr(tmp_path / "vindr")
    results = {}
    for name, src in (
        ("folder", root),
        ("breast", root / "breast-level_annotations.csv"),
        ("findings", root / "finding_annotations.csv"),
    ):
        conv = convert_collection("vindr", src, tmp_path / name / "manifest.csv")
        results[name] = (sorted(_by_image(conv)), sorted(_reasons(conv)))
    assert results["breast"] == results["findings"] == results["folder"], results
    assert results["folder"][0] == ["a.dicom", "b.dicom", "c.dicom", "f.dicom"]
    # The breast-level file alone: every image, none annotated, and said so.
    (root / "finding_annotations.csv").unlink()
    conv = convert_collection("vindr", root / "breast-level_annotations.csv", tmp_path / "m.csv")
    assert sorted(_by_image(conv)) == ["a.dicom", "b.dicom", "c.dicom", "d.dicom", "f.dicom"]
    assert {r.annotation_kind for r in conv.rows} == {"none"}
    assert any("no finding_annotations.csv" in r for r in _reasons(conv, "warning"))


def test_vindr_categories() -> None:
    assert parse_categories("['Mass', 'Suspicious Calcification']") == [
        "Mass",
        "Suspicious Calcification",
    ]
    assert parse_categories("not a list [") is None


# --------------------------------------------------------------------------- INbreast


def test_inbreast_rows(tmp_path: Path) -> None:
    conv = convert_collection(
        "inbreast", make_inbreast(tmp_path / "inb"), tmp_path / "manifest.csv"
    )
    rows = {row.image.name.split("_")[0]: row for row in conv.rows}
    assert sorted(rows) == ["1001", "1002", "1003"]
    r1, r2, r3 = rows["1001"], rows["1002"], rows["1003"]
    assert (r1.case_id, r1.patient_id, r1.laterality, r1.view) == ("aa11-R", "aa11", "R", "CC")
    assert (r3.case_id, r3.laterality, r3.view) == ("aa11-L", "L", "CC")
    assert (r1.birads, r1.density, r3.birads) == ("4a", "c", "2")
    assert (r1.annotation_kind, r2.annotation_kind, r3.annotation_kind) == (
        "mask",
        "region",
        "none",
    )


def test_inbreast_points_and_contours(tmp_path: Path) -> None:
    conv = convert_collection(
        "inbreast", make_inbreast(tmp_path / "inb"), tmp_path / "manifest.csv"
    )
    rows = {row.image.name.split("_")[0]: row for row in conv.rows}
    marks = _mask(rows["1001"].annotation)
    assert marks.shape == INBREAST_SHAPE
    # "(x, y)": x is the column; a point is a small disk, a contour a filled polygon
    assert marks[12, 10] and marks[40, 30] and not marks[10, 12]
    assert marks[20:25, 20:25].all()
    n_labels, _ = cv2.connectedComponents(marks.astype(np.uint8))
    assert n_labels - 1 == 3  # two points, one contour; the mass is not drawn
    region = _mask(rows["1002"].annotation)
    assert region[5:56, 5:46].all() and region.sum() == 51 * 41
    # the cluster of 1001 is kept beside its marks and the conversion says where
    assert (tmp_path / "masks" / "inbreast" / "1001_cluster.png").is_file()
    assert any("cluster outline" in p.reason for p in conv.problems if p.severity == "info")


def test_inbreast_reports_bad_rows(tmp_path: Path) -> None:
    conv = convert_collection(
        "inbreast", make_inbreast(tmp_path / "inb"), tmp_path / "manifest.csv"
    )
    errors = _reasons(conv)
    assert len(errors) == 3
    assert any(e.startswith("INbreast.csv:5:") and "not a readable OsiriX XML" in e for e in errors)
    assert any(e.startswith("INbreast.csv:6:") and "no 1005_*.dcm" in e for e in errors)
    assert any(e.startswith("INbreast.csv:7:") and "'XX'" in e for e in errors)


def test_a_birads_that_is_not_a_category_is_reported_by_the_converter(tmp_path: Path) -> None:
    # normalize_birads leaves '7' empty since 6 December 2026 (it passed it on): a converter
    # writing the empty value must say so, or the manifest's reader never sees it.
    root = make_inbreast(tmp_path / "inb")
    csv = root / "INbreast.csv"
    csv.write_text(csv.read_text().replace(";1003;3;2", ";1003;3;7"))
    conv = convert_collection("inbreast", root, tmp_path / "manifest.csv")
    assert "INbreast.csv:4: 1003: BI-RADS '7' is not a category (0-6, 4a/4b/4c); left empty" in (
        _reasons(conv, "warning")
    )
    row = next(r for r in conv.rows if r.image.name.startswith("1003_"))
    assert row.birads is None


def test_inbreast_point_parsing(tmp_path: Path) -> None:
    assert parse_point("(1049.820068, 2207.099854)") == (1049.820068, 2207.099854)
    assert parse_point("(3,4)") == (3.0, 4.0)
    assert parse_point("3, 4") is None
    rois, notes = read_rois(make_inbreast(tmp_path / "inb") / "AllXML" / "1001.xml")
    assert [r.kind for r in rois] == ["calcification"] * 3 + ["cluster", "other"]
    assert rois[1].points == ((30.4, 40.2),) and notes == []


def test_inbreast_patient_seen_on_two_dates_gets_one_case_per_date(tmp_path: Path) -> None:
    root = make_inbreast(tmp_path / "inb")
    table = root / "INbreast.csv"
    lines = table.read_text().splitlines()
    lines.append("removed;removed;L;CC;200801;1007;3;2")
    lines.append("removed;removed;L;MLO;201001;1008;3;2")
    table.write_text("\n".join(lines) + "\n")
    source = root / "AllDICOMs" / "1003_aa11_MG_L_CC_ANON.dcm"
    (root / "AllDICOMs" / "1007_aa11_MG_L_CC_ANON.dcm").write_bytes(source.read_bytes())
    (root / "AllDICOMs" / "1008_aa11_MG_L_MLO_ANON.dcm").write_bytes(source.read_bytes())
    conv = convert_collection("inbreast", root, tmp_path / "manifest.csv")
    cases = {row.image.name.split("_")[0]: row.case_id for row in conv.rows}
    assert cases["1003"] == "aa11-L-201001" and cases["1007"] == "aa11-L-200801"
    assert cases["1008"] == "aa11-L-201001"  # the MLO of that day joins its CC
    assert cases["1001"] == "aa11-R"


# --------------------------------------------------------------------------- CBIS-DDSM


def test_cbis_resolves_the_downloaded_tree(tmp_path: Path) -> None:
    conv = convert_collection("cbis-ddsm", make_cbis(tmp_path / "cbis"), tmp_path / "manifest.csv")
    assert len(conv.rows) == 1
    row = conv.rows[0]
    assert row.image.parts[-4:] == (
        "Calc-Training_P_00001_LEFT_CC",
        "08-07-2016-DDSM-NA-1",
        "1.000000-full mammogram images-1",
        "1-1.dcm",
    )
    assert (row.case_id, row.patient_id, row.laterality, row.view) == (
        "P_00001-L",
        "P_00001",
        "L",
        "CC",
    )
    assert (row.birads, row.density, row.biopsy, row.annotation_kind) == (
        "4",
        "c",
        "malignant",
        "region",
    )
    mask = _mask(row.annotation)
    expected = np.zeros(CBIS_SHAPE, bool)
    expected[10:20, 5:15] = True  # ROI 1: found by size although the names are swapped
    expected[40:50, 30:40] = True  # ROI 2: its own series
    assert np.array_equal(mask, expected)


def test_cbis_reports_rows_it_cannot_convert(tmp_path: Path) -> None:
    conv = convert_collection("cbis-ddsm", make_cbis(tmp_path / "cbis"), tmp_path / "manifest.csv")
    errors = _reasons(conv)
    assert len(errors) == 3
    name = "calc_case_description_train_set.csv"
    # rows span two lines each (the path cells end in a newline): rows start at 2, 5, 8 ...
    assert any(
        e.startswith(f"{name}:8:") and "'Calc-Training_P_00002_RIGHT_MLO' not found" in e
        for e in errors
    )
    assert any(e.startswith(f"{name}:11:") and "no usable ROI mask" in e for e in errors)
    assert any(e.startswith(f"{name}:14:") and "'mass' is not a calcification" in e for e in errors)
    warnings = _reasons(conv, "warning")
    assert any(e.startswith(f"{name}:11:") and "32" in e for e in warnings)


def test_cbis_helpers() -> None:
    assert (
        series_folder("Calc-Test_P_00038_LEFT_CC_1\\1.3\\1.4\\000001.dcm\n")
        == "Calc-Test_P_00038_LEFT_CC_1"
    )
    assert is_binary(np.array([[0, 255], [255, 0]])) and not is_binary(np.array([[0, 3, 255]]))


def test_read_table_keeps_the_line_where_a_row_starts(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('A_b,c\n1,"x\n"\n\n2,y\n')
    header, rows = read_table(path)
    assert header == ["a b", "c"]
    assert rows == [(2, {"a b": "1", "c": "x"}), (5, {"a b": "2", "c": "y"})]


# --------------------------------------------------------------------------- manifest, CLI


def test_round_trip_manifest_open_dataset_counts(tmp_path: Path) -> None:
    out = tmp_path / "out" / "manifest.csv"
    conv = convert_collection("vindr", make_vindr(tmp_path / "vindr"), out)
    index = open_dataset(out)
    assert index.source == "manifest" and not [p for p in index.problems if p.severity == "error"]
    assert [c.case_id for c in index.cases] == ["s1-L", "s1-R", "s2-L"]
    images = index.images()
    assert len(images) == len(conv.rows) == 4
    assert sum(r.annotation_kind == "region" for r in images) == 2
    assert {r.timepoint for r in images} == {"recent"}
    assert index.case("s1-R").birads == "4" and index.case("s1-R").group == "suspicious"
    region = index.case("s1-R").image("CC", "recent")
    assert region is not None and region.annotation_path is not None
    mask, notes = load_annotation_mask(region.annotation_path, "region", VINDR_SHAPE)
    assert mask.dtype == bool and mask.sum() == 200 and notes == ()


@pytest.mark.parametrize(
    ("fmt", "make", "images", "annotated"),
    [
        ("mias", make_mias, 3, 1),
        ("vindr", make_vindr, 4, 2),
        ("inbreast", make_inbreast, 3, 2),
        ("cbis-ddsm", make_cbis, 1, 1),
    ],
)
def test_every_manifest_opens_without_errors(tmp_path: Path, fmt, make, images, annotated) -> None:
    out = tmp_path / "out" / "manifest.csv"
    conv = convert_collection(fmt, make(tmp_path / "src"), out)
    index = open_dataset(out)
    assert [p.message for p in index.problems if p.severity != "info"] == []
    assert len(index.images()) == len(conv.rows) == images
    assert sum(r.annotation_path is not None for r in index.images()) == annotated
    kinds = {row.image.resolve(): row.annotation_kind for row in conv.rows}
    assert all(r.annotation_kind == kinds[r.image_path.resolve()] for r in index.images())


def test_inbreast_warns_about_points_outside_the_image(tmp_path: Path) -> None:
    root = make_inbreast(tmp_path / "inb")
    xml = root / "AllXML" / "1003.xml"
    xml.write_bytes((root / "AllXML" / "1002.xml").read_bytes().replace(b"(45, 55)", b"(45, 75)"))
    conv = convert_collection("inbreast", root, tmp_path / "manifest.csv")
    assert any("1 point outside the 50x60 image" in p for p in _reasons(conv, "warning"))


def test_manifest_reads_region_kind_only_when_declared(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(
        cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes()
    )
    cv2.imwrite(str(tmp_path / "area.png"), np.full((8, 8), 255, np.uint8))
    (tmp_path / "manifest.csv").write_text(
        "case_id,view,image,annotation,annotation_kind\n"
        "a,CC,img.png,area.png,region\n"
        "a,MLO,img.png,area.png,\n"
    )
    index = index_manifest(tmp_path / "manifest.csv")
    kinds = {r.view: r.annotation_kind for r in index.images()}
    assert kinds == {"CC": "region", "MLO": "mask"}


def test_cli_manifest_json_then_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_mias(tmp_path / "mias")
    out = tmp_path / "out" / "manifest.csv"
    assert main(["manifest", "MIAS", str(src), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["rows"], result["masks"], result["annotated"]) == (3, 1, 1)
    assert len(result["problems"]) == 4
    assert {"path", "line", "message", "severity"} == set(result["problems"][0])
    assert (out.parent / "masks" / "mias" / "mdb002_region.png").is_file()

    assert main(["scan", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["cases"], report["images"], report["readable_images"]) == (3, 3, 3)
    assert report["annotated_images"] == 1


def test_cli_manifest_text_and_images_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_mias(tmp_path / "mias")
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for pgm in src.glob("*.pgm"):
        pgm.rename(pictures / pgm.name)
    out = tmp_path / "manifest.csv"
    code = main(
        ["manifest", "mias", str(src / "Info.txt"), "--images", str(pictures), "--out", str(out)]
    )
    text = capsys.readouterr().out
    assert code == 0 and "3 images (1 annotated)" in text and "[error]" in text
    assert "pictures/mdb001.pgm" in out.read_text()


def test_cli_manifest_fails_only_when_nothing_converts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "mias"
    src.mkdir()
    (src / "Info.txt").write_text("mdb001 G NORM\n")
    out = tmp_path / "manifest.csv"
    assert main(["manifest", "mias", str(src), "--out", str(out), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"] == 0 and "nothing could be converted" in captured.err
    assert not out.exists()
    assert main(["manifest", "ddsm", str(src), "--out", str(out)]) == 2
    assert "unknown collection format 'ddsm'" in capsys.readouterr().err


def _suggested(message: str) -> list[str]:
    """The ``python -m mcalc ...`` command a message suggests, as a shell would split it."""
    import shlex

    (command,) = [part for part in message.split("`") if part.startswith("python -m mcalc")]
    return shlex.split(command)


@pytest.mark.parametrize(
    ("make", "given"),
    [
        (make_vindr, ""),
        (make_vindr, "breast-level_annotations.csv"),
        (make_vindr, "finding_annotations.csv"),
        (make_cbis, ""),
        (make_cbis, "calc_case_description_train_set.csv"),
        (make_inbreast, ""),
        (make_inbreast, "INbreast.csv"),
        (make_mias, ""),
        (make_mias, "Info.txt"),
    ],
)
def test_a_collections_own_files_get_a_manifest_command_that_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, given: str
) -> None:
    """Opened as a dataset (the sidebar, `scan`), a collection's folder or description file
    is refused with the `manifest` command that converts it; pasted into a shell (a path
    with a space: "INbreast Release 1.0"), the command works and the folder then opens.
    An INbreast or MIAS folder and MIAS's Info.txt got no command; the CSVs' commands split
    a path with a space in two, and VinDr's breast-level file's failed."""
    root = make(tmp_path / "Release 1.0")
    with pytest.raises(DatasetError) as refused:
        open_dataset(root / given)
    argv = _suggested(str(refused.value))
    assert argv[:3] == ["python", "-m", "mcalc"] and argv[3] == "manifest", argv
    assert argv[5] == str(root / given).rstrip("/")
    assert main(argv[3:]) == 0, capsys.readouterr()
    index = open_dataset(root)
    assert index.source == "manifest" and index.cases


def test_format_names() -> None:
    assert normalize_format("CBIS_DDSM") == normalize_format("cbis-ddsm") == "cbis-ddsm"
    assert normalize_format("VinDr-Mammo") == "vindr"
    with pytest.raises(DatasetError):
        normalize_format("nope")


@pytest.mark.parametrize("suffix", [".xls", ".xlsx"])
def test_inbreast_metadata_spreadsheets_read_as_the_csv(tmp_path: Path, suffix: str) -> None:
    """The release's INbreast.xls (and an .xlsx copy): numbers stored as numbers, as Excel
    does, give the same manifest rows as the CSV."""
    src = make_inbreast(tmp_path / "inb")
    expected = convert_collection("inbreast", src, tmp_path / "from_csv.csv")
    table = src / "INbreast.csv"
    cells = [line.split(";") for line in table.read_text().splitlines()]
    typed = [cells[0]] + [[float(v) if v.isdigit() else v for v in row] for row in cells[1:]]
    sheet_path = src / f"INbreast{suffix}"
    if suffix == ".xls":
        import xlwt  # test-only writer of Excel 97-2003 files

        book = xlwt.Workbook()
        sheet = book.add_sheet("INbreast")
        for r, row in enumerate(typed):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        book.save(str(sheet_path))
    else:
        from openpyxl import Workbook

        wb = Workbook()
        for row in typed:
            wb.active.append(row)
        wb.save(sheet_path)
    table.unlink()
    got = convert_collection("inbreast", src, tmp_path / "from_sheet.csv")
    assert [(r.image.name, r.case_id, r.birads, r.density) for r in got.rows] == [
        (r.image.name, r.case_id, r.birads, r.density) for r in expected.rows
    ]
    assert len(got.problems) == len(expected.problems)


def test_out_never_overwrites_a_file_that_is_not_a_manifest(tmp_path: Path) -> None:
    src = make_mias(tmp_path / "mias")
    info = src / "Info.txt"
    before = info.read_bytes()
    # --out pointed at the collection's own description: it was overwritten by the manifest.
    with pytest.raises(DatasetError, match="exists and is not a manifest"):
        convert_collection("mias", src, info)
    assert info.read_bytes() == before
    with pytest.raises(DatasetError, match="is a folder"):
        convert_collection("mias", src, src)
    # An earlier manifest at --out is replaced, as before.
    out = tmp_path / "out" / "manifest.csv"
    first = convert_collection("mias", src, out)
    assert convert_collection("mias", src, out).rows == first.rows and out.exists()


def test_cli_paths_are_tidy_and_relative_to_where_it_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manifest written into another folder names its images ``../../mias/...``; scan
    printed ``/tmp/.../out/sub/../../mias/mdb001.pgm`` for each of them."""
    src = make_mias(tmp_path / "mias")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out" / "sub" / "m.csv"
    assert main(["manifest", "mias", str(src), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("wrote out/sub/m.csv: 3 images"), text
    assert "  [error] mias/Info.txt line 8: image mdb006.pgm not found" in text, text
    assert "../" in out.read_text()  # the manifest itself stays movable with the collection
    assert all(".." not in r.image_path.parts for r in index_manifest(out).images())
    assert main(["scan", str(out), "-v"]) == 0
    text = capsys.readouterr().out
    assert "/.." not in text and str(tmp_path) not in text, text
    assert text.startswith("out/sub/m.csv (manifest)"), text
    shown = [line.split("] ")[1].split(": ")[0] for line in text.splitlines() if "] " in line]
    assert shown and all(p.startswith(("mias/", "out/sub/")) for p in shown), shown
    # Outside the working folder: absolute, still without "..".
    monkeypatch.chdir(src)
    assert main(["scan", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{tmp_path.resolve().as_posix()}/out/sub/m.csv (manifest)"), text
    assert "/.." not in text and "  [warning] mdb00" in text, text


def _drop_column(table: Path, column: str) -> None:
    """Rewrite ``table`` (a CSV) without ``column``."""
    import csv

    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [c for c in rows[0] if c != column]
    with table.open("w", newline="") as f:
        writer = csv.DictWriter(f, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


@pytest.mark.parametrize(
    ("collection", "make", "table", "column"),
    [
        ("cbis-ddsm", make_cbis, "calc_case_description_train_set.csv", "image view"),
        ("vindr", make_vindr, "breast-level_annotations.csv", "view_position"),
    ],
)
def test_a_table_missing_a_column_is_refused_naming_expected_and_found(
    tmp_path: Path, capsys, collection, make, table, column
) -> None:
    src = make(tmp_path / "src")
    _drop_column(next(src.rglob(table)), column)
    column = column.replace("_", " ")  # headers are read lower case, "_" as " "
    out = tmp_path / "out" / "manifest.csv"
    rc = main(["manifest", collection, str(src), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert f"missing 1 column [{column!r}]; expected [" in err, err
    assert "found [" in err and f"{column!r}]" not in err.split("found [")[1]


def test_out_must_be_a_csv_as_every_command_that_reads_a_manifest_asks(
    tmp_path: Path, capsys
) -> None:
    """`manifest ... --out m.txt` wrote a manifest that `scan` then refused ("is a .txt
    file; point at ... a manifest CSV")."""
    out = tmp_path / "m.txt"
    rc = main(["manifest", "mias", str(make_mias(tmp_path / "mias")), "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists() and not (tmp_path / "masks").exists()
    assert err == f"error: --out {out} must end in .csv (a manifest is a CSV), got 'm.txt'\n"
