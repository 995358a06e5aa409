"""Writing grayscale mammograms as DICOM (for the synthetic demo set and for tests).

Files carry the tags the loader reads from real mammograms: 16 bits allocated, 12 stored,
window centre/width, pixel spacing, laterality and view. No real patient data is written.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import numpy as np

__all__ = ["write_dicom"]


def write_dicom(
    path: str | Path,
    pixels: np.ndarray,
    *,
    laterality: str | None = "L",
    view: str | None = "CC",
    spacing_mm: float | None = 0.07,
    window: tuple[float, float] | None = (2047.0, 4096.0),
    bits_stored: int = 12,
    monochrome1: bool = False,
    patient_id: str = "SYNTH",
    study_date: str | None = None,
    rescale: tuple[float, float] | None = (1.0, 0.0),
    institution: str = "mcalc synthetic",
    voi_lut: tuple[int, np.ndarray] | None = None,
    study_key: str | None = None,
    instance_key: str | None = None,
) -> Path:
    """Write ``pixels`` (2-D unsigned integers below ``2**bits_stored``) as a DICOM file.

    Any tag argument set to ``None`` is left out, so tests can make files that lack it.
    ``voi_lut`` = (first mapped value, uint16 table) writes a VOI LUT Sequence.
    ``study_key`` / ``instance_key`` make the UIDs deterministic (derived from these
    strings), so regenerated files are byte-identical and images of one exam share a study.

    Example:
        >>> import tempfile, numpy as np
        >>> p = write_dicom(tempfile.mkdtemp() + "/x.dcm", np.zeros((4, 4), np.uint16))
        >>> p.suffix
        '.dcm'
    """
    from mcalc.imageio import pydicom_module

    pydicom_module()  # pydicom whole first: another thread may be reading a DICOM
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D image, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0:
        raise ValueError(f"expected unsigned integer pixels, got {arr.dtype} (min {arr.min()})")
    if int(arr.max()) >= 2**bits_stored:
        raise ValueError(f"pixel value {int(arr.max())} does not fit in {bits_stored} bits")
    arr = arr.astype(np.uint16)

    sop_class = "1.2.840.10008.5.1.4.1.1.1.2"  # Digital Mammography X-Ray Image - For Presentation
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)

    def uid(*parts: str | None) -> UID:
        if any(p is None for p in parts):
            return generate_uid()
        return generate_uid(entropy_srcs=[str(p) for p in parts])

    meta.MediaStorageSOPInstanceUID = uid(instance_key, "sop")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid(study_key, "study")
    ds.SeriesInstanceUID = uid(instance_key, "series")
    ds.Modality = "MG"
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Demo"
    ds.InstitutionName = institution
    ds.StudyDate = study_date or _dt.date.today().strftime("%Y%m%d")
    ds.Rows, ds.Columns = int(arr.shape[0]), int(arr.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if monochrome1 else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if rescale is not None:
        ds.RescaleSlope = f"{rescale[0]:g}"
        ds.RescaleIntercept = f"{rescale[1]:g}"
    if window is not None:
        ds.WindowCenter = f"{window[0]:g}"
        ds.WindowWidth = f"{window[1]:g}"
    if voi_lut is not None:
        first, table = voi_lut
        item = Dataset()
        item.LUTDescriptor = [len(table), int(first), 16]
        item.LUTData = np.asarray(table, dtype="<u2").tobytes()  # OW
        ds.VOILUTSequence = [item]
    if spacing_mm is not None:
        ds.PixelSpacing = [f"{spacing_mm:g}", f"{spacing_mm:g}"]
        ds.ImagerPixelSpacing = [f"{spacing_mm:g}", f"{spacing_mm:g}"]
    if laterality is not None:
        ds.ImageLaterality = laterality
    if view is not None:
        ds.ViewPosition = view
    ds.PixelData = arr.tobytes()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
