"""DICOM exports of marks: de-identification (PS3.15 Annex E basic profile) and DICOM SEG."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from mcalc.dicomwrite import write_dicom
from mcalc.store import ImageMarks
from mcalc.store.exchange import ExportError, deidentify, marks_mask, marks_seg
from mcalc.store.exchange.deid import BASIC_PROFILE, identifying_keywords

PHI = {
    "PatientName": "Pereira^Josefina",
    "PatientID": "PID-4711-0815",
    "PatientBirthDate": "19580317",
    "AccessionNumber": "ACC-99887766",
    "InstitutionName": "Hospital Sao Exemplo",
    "InstitutionAddress": "Rua Exemplo 12",
    "ReferringPhysicianName": "Drummond^Carlos",
    "OperatorsName": "Tecnica^Ana",
    "StationName": "MAMMO-SALA-3",
    "OtherPatientIDs": "OTHER-5550123",
    "StudyDate": "20190423",
    "SeriesDate": "20190424",
    "AcquisitionDate": "20190425",
    "ContentDate": "20190426",
    "StudyID": "STUDY-777",
    "DeviceSerialNumber": "SN-31415926",
    "ImageComments": "seen by Dr Drummond",
}
# Fragments of identifiers too ("PID-4711": part of the ID, never bare digits, which a
# random UID, a time or packed pixels can hold by chance: "4711" failed a CI run once).
NEEDLES = [*PHI.values(), "Pereira", "Josefina", "Drummond", "PID-4711", "private secret"]


def _source(tmp_path) -> tuple[pydicom.Dataset, str]:
    pixels = np.random.default_rng(0).integers(0, 4000, (96, 80)).astype(np.uint16)
    path = write_dicom(tmp_path / "src.dcm", pixels, study_key="s", instance_key="i")
    ds = pydicom.dcmread(path)
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    ds.add_new(0x00291010, "LO", "private secret")  # a private tag
    ds.add_new(0x60003000, "OW", b"\x00\x01" * 8)  # overlay data (may hold burnt-in text)
    item = Dataset()
    item.PatientName, item.RequestedProcedureID = PHI["PatientName"], "RP-2020"
    ds.RequestAttributesSequence = [item]
    ds.save_as(path)
    return ds, str(path)


def _marks() -> ImageMarks:
    m = ImageMarks("c-1/CC_recent", "rita", image_shape=(96, 80)).add_point(20, 30, "benign")
    m = m.add_point(50, 40, "suspicious")
    return m.add_region("cluster", [(60, 10), (60, 30), (80, 30), (80, 10)])


def _values(ds: Dataset) -> list[str]:
    """Every value in ``ds`` as text, sequences included."""
    out = []
    for elem in ds.iterall():
        if elem.VR not in ("SQ", "OB", "OW"):
            out.append(str(elem.value))
    return out


def test_basic_profile_removes_or_empties_every_identifier(tmp_path):
    ds, _ = _source(tmp_path)
    uid_map: dict[str, str] = {}
    out = deidentify(ds, uid_map=uid_map)
    for keyword in identifying_keywords():
        assert keyword not in out or not str(out[keyword].value), keyword
    assert not [e for e in out.iterall() if e.tag.is_private]
    assert 0x60003000 not in out
    text = " ".join(_values(out))
    assert not [n for n in NEEDLES if n in text]
    assert out.PatientIdentityRemoved == "YES"
    assert [c.CodeValue for c in out.DeidentificationMethodCodeSequence] == ["113100"]
    # UIDs replaced, consistently, and the file meta follows; the source is untouched.
    assert out.StudyInstanceUID != ds.StudyInstanceUID
    assert uid_map[ds.SOPInstanceUID] == out.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert deidentify(ds, uid_map=uid_map).StudyInstanceUID == out.StudyInstanceUID
    assert ds.PatientName == PHI["PatientName"]
    kept = deidentify(ds, retain_uids=True)
    assert kept.SOPInstanceUID == ds.SOPInstanceUID
    assert [c.CodeValue for c in kept.DeidentificationMethodCodeSequence] == ["113100", "113108"]


def test_profile_actions_are_known_codes():
    assert set(BASIC_PROFILE.values()) <= {"X", "Z", "U"}
    assert BASIC_PROFILE["PatientName"] == "Z" and BASIC_PROFILE["InstitutionName"] == "X"


def test_marks_as_dicom_seg_reference_the_source_and_carry_no_identifier(tmp_path):
    ds, path = _source(tmp_path)
    data = marks_seg(_marks(), path, point_radius_px=2)
    assert not [n for n in NEEDLES if n.encode() in data]
    seg = pydicom.dcmread(io.BytesIO(data))
    assert seg.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"  # Segmentation Storage
    assert seg.PatientIdentityRemoved == "YES" and not str(seg.PatientName)
    assert seg.StudyInstanceUID == ds.StudyInstanceUID
    ref = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPInstanceUID == ds.SOPInstanceUID
    assert [s.SegmentLabel for s in seg.SegmentSequence] == ["calcification", "cluster"]
    assert str(seg.ContentCreatorName) == "rita^"
    frames = {  # one frame per segment: its number -> its pixels (BINARY: 1 bit a pixel)
        f.SegmentIdentificationSequence[0].ReferencedSegmentNumber: seg.pixel_array[i]
        for i, f in enumerate(seg.PerFrameFunctionalGroupsSequence)
    }
    points = marks_mask(_marks(), (96, 80), point_radius_px=2, regions=False)
    regions = marks_mask(_marks(), (96, 80), points=False)
    assert np.array_equal(frames[1] > 0, points) and np.array_equal(frames[2] > 0, regions)


def test_seg_refuses_what_it_cannot_export(tmp_path):
    _, path = _source(tmp_path)
    with pytest.raises(ExportError, match="no marks"):
        marks_seg(ImageMarks("c-1/CC_recent", "rita"), path)
    wrong = ImageMarks("k", "rita", image_shape=(10, 10)).add_point(2, 2)
    with pytest.raises(ExportError, match=r"10x10 image, but src\.dcm is 96x80"):
        marks_seg(wrong, path)
    png = tmp_path / "x.png"
    png.write_bytes(b"\x89PNG not dicom")
    with pytest.raises(ExportError, match="needs the DICOM source image"):
        marks_seg(_marks(), png)


def test_seg_of_a_source_without_patient_or_study_attributes(tmp_path):
    path = write_dicom(tmp_path / "bare.dcm", np.zeros((96, 80), np.uint16))
    ds = pydicom.dcmread(path)
    for keyword in ("PatientName", "PatientID", "StudyDate"):
        delattr(ds, keyword)
    ds.save_as(path)
    seg = pydicom.dcmread(io.BytesIO(marks_seg(_marks(), path)))
    assert seg.StudyInstanceUID == ds.StudyInstanceUID and seg.StudyID == ""
