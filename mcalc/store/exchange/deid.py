"""De-identification of DICOM datasets: the Basic Application Level Confidentiality Profile.

DICOM PS3.15 Annex E, Table E.1-1, basic profile: every attribute that can identify the
patient, the staff, the institution or the time of the examination is removed (``X``),
emptied (``Z``, for attributes the IOD requires to be present) or its UID replaced
(``U``); every private attribute is removed, and so are curves and overlay data/comments
(which may hold burnt-in text). The result says so: Patient Identity Removed ``YES``, a
De-identification Method and its code sequence (CID 7050: ``113100`` basic profile,
``113108`` Retain UIDs option). Nested sequences are treated the same way, item by item.

Two choices of the profile's options are exposed:

* ``retain_uids``: PS3.15 E.3.9 "Retain UIDs Option". An export of marks (a DICOM
  Segmentation) must reference the source image's UIDs so that a PACS can show it beside
  that image; the study, series and instance UIDs are then kept. Without it every UID is
  replaced by a new one, consistently across the datasets given the same ``uid_map``.
* dates are never kept (not even the year): the "Retain Longitudinal Temporal Information"
  options are not offered.

Only the attributes a mammography archive carries are listed (Table E.1-1 has ~400 rows;
the rest do not occur in MG/DX images); anything private is removed regardless.

Example:
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset(); ds.PatientName = "Doe^Jane"; ds.PatientID = "123"
    >>> ds.InstitutionName = "General"; ds.add_new(0x00091001, "LO", "private")
    >>> out = deidentify(ds)
    >>> str(out.PatientName), "InstitutionName" in out, 0x00091001 in out, out.PatientIdentityRemoved
    ('', False, False, 'YES')
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pydicom is imported where the work is done
    from pydicom.dataset import Dataset

__all__ = ["BASIC_PROFILE", "DEID_METHOD", "deidentify", "identifying_keywords"]

#: Wording of De-identification Method (0012,0063).
DEID_METHOD = "PS3.15 Annex E Basic Profile (mcalc)"

_Z = (  # zero length: Type 2 attributes of the patient, study and series modules
    "PatientName PatientID PatientBirthDate PatientSex AccessionNumber ReferringPhysicianName "
    "StudyDate StudyTime StudyID ContentDate ContentTime ContentCreatorName"
)
_X = (  # removed
    "InstitutionName InstitutionAddress InstitutionalDepartmentName StationName "
    "OperatorsName PerformingPhysicianName PhysiciansOfRecord NameOfPhysiciansReadingStudy "
    "RequestingPhysician ReferringPhysicianAddress ReferringPhysicianTelephoneNumbers "
    "OtherPatientIDs OtherPatientNames OtherPatientIDsSequence IssuerOfPatientID "
    "PatientBirthTime PatientBirthName PatientMotherBirthName PatientAddress PatientAge "
    "PatientSize PatientWeight PatientTelephoneNumbers MilitaryRank EthnicGroup Occupation "
    "AdditionalPatientHistory PatientComments MedicalRecordLocator RegionOfResidence "
    "CountryOfResidence PatientInsurancePlanCodeSequence PatientReligiousPreference "
    "PregnancyStatus ResponsiblePerson ResponsibleOrganization MedicalAlerts Allergies "
    "SmokingStatus LastMenstrualDate "
    "SeriesDate SeriesTime AcquisitionDate AcquisitionTime AcquisitionDateTime "
    "InstanceCreationDate InstanceCreationTime OverlayDate OverlayTime CurveDate CurveTime "
    "StudyDescription SeriesDescription ProtocolName DerivationDescription ImageComments "
    "FrameComments AcquisitionComments StudyComments TextComments "
    "DeviceSerialNumber DetectorID GantryID PlateID CassetteID "
    "PerformedProcedureStepStartDate PerformedProcedureStepStartTime "
    "PerformedProcedureStepEndDate PerformedProcedureStepEndTime PerformedProcedureStepID "
    "PerformedProcedureStepDescription PerformedLocation PerformedStationName "
    "RequestAttributesSequence RequestedProcedureID RequestedProcedureDescription "
    "ScheduledProcedureStepID ScheduledPerformingPhysicianName "
    "PlacerOrderNumberImagingServiceRequest FillerOrderNumberImagingServiceRequest "
    "AdmissionID AdmittingDiagnosesDescription ReasonForStudy "
    "ReferencedPatientSequence ReferencedStudySequence "
    "ReferencedPerformedProcedureStepSequence ReferencedPatientPhotoSequence "
    "PersonName VerifyingObserverName VerifyingObserverSequence "
    "DateOfLastCalibration TimeOfLastCalibration DateOfLastDetectorCalibration "
    "TimeOfLastDetectorCalibration"
)
_U = (  # UIDs: replaced unless the Retain UIDs option is chosen
    "StudyInstanceUID SeriesInstanceUID SOPInstanceUID MediaStorageSOPInstanceUID "
    "ReferencedSOPInstanceUID FrameOfReferenceUID SynchronizationFrameOfReferenceUID "
    "IrradiationEventUID InstanceCreatorUID ConcatenationUID DimensionOrganizationUID "
    "ReferencedFrameOfReferenceUID StorageMediaFileSetUID"
)

#: keyword -> action of Table E.1-1 (``X`` remove, ``Z`` empty, ``U`` new UID).
BASIC_PROFILE: dict[str, str] = {
    **dict.fromkeys(_Z.split(), "Z"),
    **dict.fromkeys(_X.split(), "X"),
    **dict.fromkeys(_U.split(), "U"),
}


def identifying_keywords() -> tuple[str, ...]:
    """Keywords whose value must not survive de-identification (``Z`` and ``X`` rows)."""
    return tuple(k for k, a in BASIC_PROFILE.items() if a in "ZX")


def _curve_or_overlay(tag: int) -> bool:
    """Curve data (50xx,xxxx) and overlay data/comments (60xx,3000 / 60xx,4000)."""
    group, element = tag >> 16, tag & 0xFFFF
    if 0x5000 <= group <= 0x50FF:
        return True
    return 0x6000 <= group <= 0x60FF and element in (0x3000, 0x4000)


def _new_uid(old: str, uid_map: MutableMapping[str, str]) -> str:
    from pydicom.uid import generate_uid

    if old not in uid_map:
        uid_map[old] = str(generate_uid())
    return uid_map[old]


def _clean(ds: Dataset, retain_uids: bool, uid_map: MutableMapping[str, str]) -> None:
    """Apply the profile to ``ds`` in place, sequences included."""
    for elem in list(ds):
        tag = int(elem.tag)
        if elem.tag.is_private or _curve_or_overlay(tag):
            del ds[tag]
            continue
        action = BASIC_PROFILE.get(elem.keyword)
        if action == "X":
            del ds[tag]
        elif action == "Z":
            elem.value = None if elem.VR == "SQ" else ""
        elif action == "U" and not retain_uids and elem.value:
            if elem.VM > 1:
                elem.value = [_new_uid(str(v), uid_map) for v in elem.value]
            else:
                elem.value = _new_uid(str(elem.value), uid_map)
        elif elem.VR == "SQ" and elem.value:
            for item in elem.value:
                _clean(item, retain_uids, uid_map)


def deidentify(
    ds: Dataset, *, retain_uids: bool = False, uid_map: MutableMapping[str, str] | None = None
) -> Dataset:
    """A de-identified copy of ``ds`` (PS3.15 Annex E basic profile, see the module).

    Args:
        ds: a pydicom dataset (with or without file meta); it is not changed.
        retain_uids: keep study/series/instance UIDs (Retain UIDs Option), so that
            derived objects still reference the source images.
        uid_map: old UID -> new UID, shared by the datasets of one export so that their
            references stay consistent (filled as UIDs are replaced).

    Returns:
        The copy, with Patient Identity Removed ``YES`` and the method recorded.
    """
    import copy

    from pydicom.dataset import Dataset as _Dataset

    out = copy.deepcopy(ds)
    mapping: MutableMapping[str, str] = {} if uid_map is None else uid_map
    _clean(out, retain_uids, mapping)
    meta = getattr(out, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in out:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEID_METHOD
    codes = [("113100", "Basic Application Confidentiality Profile")]
    if retain_uids:
        codes.append(("113108", "Retain UIDs Option"))
    items = []
    for value, meaning in codes:
        item = _Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    out.DeidentificationMethodCodeSequence = items
    out.LongitudinalTemporalInformationModified = "REMOVED"
    return out
