"""`scan` agrees with what the generator put in, and reports problems with their files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mcalc.errors import DatasetError
from mcalc.scan import scan_dataset


def test_scan_matches_generator_truth(tiny_demo):
    truth = json.loads((tiny_demo / "mcalc_demo.json").read_text())
    report = scan_dataset(tiny_demo)
    assert report.synthetic
    assert report.cases == truth["cases"] == 6
    assert report.images == 24 and report.readable_images == 24
    painted = sum(img["calcifications"] for img in truth["images"].values())
    assert abs(report.calcifications - painted) <= max(2, 0.05 * painted)
    # Per image: the count a person would make, and every painted cluster found. The
    # generator calls a cluster >= 5 calcifications; mcalc's definition (>= 3 within
    # 1 cm²) can find more, never fewer.
    by_path = {s.path: s for s in report.per_image}
    for key, img in truth["images"].items():
        found = by_path[str(tiny_demo / img["dicom"])]
        assert abs(found.calcifications - img["calcifications"]) <= 1, key
        if img["clusters"]:
            assert found.clusters >= img["clusters"], key
        if img["calcifications"] == 0:
            assert found.clusters == 0, key
    # The mask's quality figure: an MLO view's pectoral muscle is measured, a CC view has none.
    for image in report.per_image:
        if Path(image.path).name.upper().startswith("MLO"):
            assert 0.01 < image.breast["pectoral"] < 0.25, image.path
        else:
            assert "pectoral" not in image.breast, image.path


def test_scan_reports_loose_names_from_the_quirks(tiny_demo):
    report = scan_dataset(tiny_demo)
    paths = [p.path for p in report.problems]
    for quirk in ("CC_recemt.dcm", "CC_reent_GT.jpg", ".DCM", "_GT.Jpg"):
        assert any(quirk in p for p in paths), quirk


def test_corrupt_dicom_is_reported_and_the_rest_counted(tiny_demo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    victim = next(copy.rglob("MLO_recent.dcm"))
    victim.write_bytes(victim.read_bytes()[:2000])
    report = scan_dataset(copy)
    assert report.images == 24 and report.readable_images == 23
    errors = [p for p in report.problems if p.severity == "error"]
    assert any(p.path == str(victim) for p in errors)
    assert report.usable


def test_an_empty_dicom_is_reported_as_empty(tiny_demo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    victim = next(copy.rglob("CC_prior.dcm"))
    victim.write_bytes(b"")
    report = scan_dataset(copy)
    (problem,) = [p for p in report.problems if p.path == str(victim)]
    assert problem.severity == "error" and "empty file (0 bytes)" in problem.message


def test_annotation_of_another_size_is_mapped(tiny_demo, tmp_path):
    import cv2

    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    gt = next(p for p in copy.rglob("CC_prior_GT.jpg") if "Suspicious" in str(p))
    img = cv2.imread(str(gt))
    cv2.imwrite(str(gt), cv2.resize(img, (img.shape[1] * 2, img.shape[0] * 2)))
    report = scan_dataset(copy)
    key = next(
        s for s in report.per_image if s.path.endswith("CC_prior.dcm") and "Suspicious" in s.path
    )
    assert key.readable
    # A warning, naming both sizes (an info note before 6 December 2026, listed under -v).
    assert any(
        p.message.startswith("annotation is 512x416, image is 256x208") and "rescaled" in p.message
        for p in report.problems
        if p.path == str(gt) and p.severity == "warning"
    ), [p.as_dict() for p in report.problems if p.path == str(gt)]


def test_a_half_size_annotation_is_a_warning_and_keeps_its_calcifications(tiny_demo, tmp_path):
    import cv2

    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    before = scan_dataset(copy)
    gt = next(p for p in copy.rglob("CC_prior_GT.jpg") if "Suspicious" in str(p))
    img = cv2.imread(str(gt))
    cv2.imwrite(str(gt), cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), cv2.INTER_AREA))
    report = scan_dataset(copy)
    [warning] = [p for p in report.problems if p.path == str(gt)]
    assert warning.severity == "warning"
    assert warning.message.startswith(
        "annotation is 128x104, image is 256x208 (rows x columns): rescaled to the image's size"
    )
    image = next(s for s in report.per_image if s.path == str(gt.parent / "CC_prior.dcm"))
    was = next(s for s in before.per_image if s.path == image.path)
    assert was.calcifications > 0 and image.calcifications >= was.calcifications - 1


def test_a_missing_annotation_is_a_warning_not_a_note(tiny_demo, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_demo, copy)
    gt = next(p for p in copy.rglob("MLO_prior_GT.jpg") if "Suspicious" in str(p))
    gt.unlink()
    report = scan_dataset(copy)
    [missing] = [p for p in report.problems if "no MLO_prior_GT.jpg annotation" in p.message]
    assert missing.severity == "warning" and "calcifications are unknown" in missing.message
    assert report.annotated_images == report.images - 1


def test_nonexistent_and_empty(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        scan_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError):
        scan_dataset(tmp_path / "empty")


def test_region_annotations_are_counted_as_regions(tmp_path):
    from tests.convert_fixtures import make_region_manifest

    report = scan_dataset(make_region_manifest(tmp_path / "regions"))
    assert (report.regions, report.calcifications, report.clusters) == (2, 0, 0)
    out = report.to_dict()
    assert out["regions"] == 2 and [s["regions"] for s in out["per_image"]] == [1, 1]


def test_a_manifests_side_against_the_files_tag_names_the_manifest(tiny_demo, tmp_path):
    """`scan` of a manifest said "laterality tag says R, the spreadsheet says L": a manifest
    has no spreadsheet; the home page's list and Browse's note said the same."""
    from mcalc.dataset import open_dataset
    from mcalc.dicom_decode import read_laterality
    from mcalc.scan import laterality_disagreements

    image = next((tiny_demo / "Dataset").rglob("Normal_cases/1/CC_recent.dcm"))
    tag = read_laterality(image)
    other = {"L": "R", "R": "L"}[str(tag)]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        f"case_id,patient_id,laterality,view,timepoint,image\nc1,p1,{other},CC,recent,{image}\n"
    )
    said = f"laterality tag says {tag}, the manifest says {other}"
    assert [p.message for p in laterality_disagreements(open_dataset(manifest))] == [said]
    assert said in [p.message for p in scan_dataset(manifest).problems]
    real = [p.message for p in laterality_disagreements(open_dataset(tiny_demo))]
    assert all("the spreadsheet says" in m for m in real)  # the real layout's, as it was
