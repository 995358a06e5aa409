"""Readers' marks as a DICOM Segmentation (SEG), written with highdicom.

A viewer or PACS shows a SEG beside the image it references: the SEG names the source
image's SOP Instance UID and its study. Each reader's marks on one image become one SEG
with up to three binary segments: ``calcification`` (points drawn as discs,
SCT 129770007 *Individual Calcification*), ``cluster`` (filled outlines, SCT 129769006
*Calcification Cluster*) and ``roi`` (other regions, SCT 49755003 *Morphologically
Abnormal Structure*). The masks are those of :func:`mcalc.store.exchange.marks_mask`.

The source dataset is de-identified first (:func:`mcalc.store.exchange.deid.deidentify`,
PS3.15 Annex E basic profile with the Retain UIDs option, so the references still point
at the source image), and the SEG is built from the de-identified copy: highdicom copies
the patient and study modules from its source, so nothing else of the patient can reach
the file. The reader's name is written as Content Creator's Name (who made the marks).

Reference: Bridge et al., "Highdicom: a Python library for standardized encoding of image
annotations and machine learning model outputs in pathology and radiology", J Digit Imaging
2022; DICOM PS3.3 A.51 (Segmentation IOD).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from mcalc import __version__
from mcalc.store.exchange.deid import deidentify
from mcalc.store.exchange.export import ExportError, marks_mask
from mcalc.store.marks import ImageMarks

__all__ = ["SEG_SEGMENTS", "marks_seg"]

#: Segment label -> (SNOMED CT code value, meaning), in segment-number order.
SEG_SEGMENTS: dict[str, tuple[str, str]] = {
    "calcification": ("129770007", "Individual Calcification"),
    "cluster": ("129769006", "Calcification Cluster"),
    "roi": ("49755003", "Morphologically Abnormal Structure"),
}


#: Patient and study attributes a SEG must carry (Type 2): highdicom copies them from the
#: source, which may lack them (then they are written empty).
_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def _masks(marks: ImageMarks, shape: tuple[int, int], radius: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if marks.points:
        out["calcification"] = marks_mask(marks, shape, point_radius_px=radius, regions=False)
    for kind in ("cluster", "roi"):
        regions = tuple(r for r in marks.regions if (r.kind == "cluster") == (kind == "cluster"))
        if regions:
            only = ImageMarks(marks.image_key, marks.reader, (), regions, image_shape=shape)
            out[kind] = marks_mask(only, shape, points=False)
    return {k: v for k, v in out.items() if v.any()}


def marks_seg(
    marks: ImageMarks, source: str | Path, *, point_radius_px: int = 3, series_number: int = 990
) -> bytes:
    """A DICOM Segmentation of one reader's marks on the DICOM image at ``source``.

    Args:
        marks: one reader's marks on that image (file orientation, full resolution).
        source: the image's DICOM file (its UIDs are referenced; its identifiers are not
            copied, see the module docstring).
        point_radius_px: radius of the disc drawn at each point.
        series_number: Series Number of the new SEG series.

    Returns:
        The SEG file's bytes (Explicit VR Little Endian).

    Raises:
        ExportError: no marks, the source is not a readable DICOM image, or its size
            differs from the marks' image.
    """
    from mcalc.imageio import pydicom_module

    pydicom = pydicom_module()  # whole first: another thread may be reading a DICOM
    import highdicom as hd
    from pydicom.errors import InvalidDicomError
    from pydicom.sr.coding import Code

    if marks.is_empty:
        raise ExportError("no marks to export as DICOM SEG: add marks first")
    try:
        src = pydicom.dcmread(str(source))
    except (OSError, InvalidDicomError) as exc:
        raise ExportError(
            f"DICOM SEG needs the DICOM source image; {source} cannot be read as DICOM ({exc})"
        ) from exc
    if "Rows" not in src or "SOPInstanceUID" not in src:
        raise ExportError(f"{source} is not a DICOM image (no Rows or SOP Instance UID)")
    shape = (int(src.Rows), int(src.Columns))
    if marks.image_shape is not None and tuple(marks.image_shape) != shape:
        raise ExportError(
            f"the marks are for a {marks.image_shape[0]}x{marks.image_shape[1]} image, "
            f"but {Path(source).name} is {shape[0]}x{shape[1]}: export from the same image"
        )
    masks = _masks(marks, shape, point_radius_px)
    if not masks:
        raise ExportError("the marks draw nothing on the image (all outside it?)")
    clean = deidentify(src, retain_uids=True)
    for keyword in _TYPE2:
        if keyword not in clean:  # Type 2 in the SEG: present, empty
            setattr(clean, keyword, "")
    category = Code("49755003", "SCT", "Morphologically Abnormal Structure")
    descriptions = []
    for number, label in enumerate(masks, start=1):
        value, meaning = SEG_SEGMENTS[label]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=label,
                segmented_property_category=category,
                segmented_property_type=Code(value, "SCT", meaning),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        )
    pixels = np.stack([masks[label] for label in masks], axis=-1)[None].astype(np.uint8)
    try:
        seg = _segmentation(hd, clean, pixels, descriptions, marks.reader, series_number)
    except (ValueError, AttributeError, TypeError) as exc:  # highdicom's checks of the source
        raise ExportError(f"cannot write a DICOM SEG for {Path(source).name}: {exc}") from exc
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod",
        "DeidentificationMethodCodeSequence",
        "LongitudinalTemporalInformationModified",
    ):
        setattr(seg, keyword, clean[keyword].value)
    buf = io.BytesIO()
    seg.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _segmentation(
    hd: Any,
    source: Any,
    pixels: np.ndarray,
    descriptions: list[Any],
    reader: str,
    series_number: int,
) -> Any:
    """highdicom's Segmentation of ``source`` (already de-identified)."""
    return hd.seg.Segmentation(
        source_images=[source],
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="mcalc",
        manufacturer_model_name="mcalc readers' marks",
        software_versions=__version__,
        device_serial_number="0",
        content_label="MARKS",
        content_description=f"mcalc marks of {reader}"[:64],
        content_creator_name=f"{reader}^",  # one-component person name
        series_description="mcalc readers' marks",
    )
